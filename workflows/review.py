"""One participant's review: self-review, manager scoring, the customer survey (and, when the cycle has it, peer
feedback) in parallel.

What each phase waits for and who is reminded comes from its definition (domain/phases.py): one task for the
KAM or the reviewer, one per invited contact, one per approved peer.

Human input arrives as Updates. Validators decide without I/O from the frozen rules, so a bad
submission is rejected before anything is written to history. Each phase has a durable deadline
with reminders before it; what happens at the deadline is the cycle's declared policy.

The writes the workflow makes on its own, keyed by their phase event or review alone (reminders, deadlines, the
close), run as local activities (``write_one_row``). Writes inside an Update (submissions, peer steps) stay ordinary
activities: a local one runs before the Update's acceptance is in history, so a workflow task that then fails would
leave a stored answer no receipt stands for. Those whose keys carry the time of the request (reassignment, the org
changes) stay ordinary too, as a local one is re-run with a new time when its workflow task is retried; so does
reopening, an HR action too rare to be worth it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.reviews import ReviewActivities
    from domain.phases import PHASE_BY_KEY
    from domain.text import tr
    from workflows.common import ONE_ROW, conflict, reject, user_text, write_one_row
    from workflows.payloads import (
        CUSTOMER_SURVEY,
        LEAN_FROM_START_PATCH,
        LEAN_REVIEW_PATCH,
        MANAGER_SCORING,
        ORG_CHANGES_PATCH,
        PEER_APPROVAL,
        PEER_FEEDBACK,
        PEER_FEEDBACK_PATCH,
        PEER_NOMINATION,
        REOPEN_PATCH,
        SELF_REVIEW,
        SUBMIT_TASK_PATCH,
        CloseReviewInput,
        ContactRef,
        EndReview,
        EndReviewRecord,
        ManagerScoreSubmission,
        PeerApproval,
        PeerFeedbackSubmission,
        PeerNomination,
        PeerStepRecord,
        PhaseEvent,
        ReassignRecord,
        ReassignReviewer,
        Receipt,
        Recipient,
        ReopenRecord,
        ReopenTask,
        ReviewInput,
        ReviewPhaseStatus,
        ReviewResult,
        ReviewStatus,
        SelfReviewSubmission,
        SubmissionRecord,
        SurveyMove,
        SurveyMoveRecord,
        SurveySubmission,
        TaskSubmission,
        phase_task_id,
        task_id_for,
        task_key,
    )
    from workflows.review_rules import (
        PHASE_TEXTS,
        PhaseState,
        already_submitted,
        binding,
        check_nomination,
        check_reopen_request,
        check_submission,
        check_submitter,
        no_task_to_reopen,
        phase_text,
        submitter_of,
    )
    from workflows.search_attributes import PATCH, PHASE, REVIEW_CLOSED, REVIEW_OPEN, REVIEWER_ID, Carried

@workflow.defn
class ReviewWorkflow:
    @workflow.init
    def __init__(self, inp: ReviewInput) -> None:
        self._inp = inp
        self._reviewer = inp.reviewer_id
        now = workflow.now()
        self._phases = {p.phase: PhaseState(plan=p, due_at=p.due_at, handled_until=now) for p in inp.phases}
        self._contacts = {c.contact_id for c in inp.contacts}
        self._nominated: list[str] = []  # peer feedback: the KAM's nomination, then the approved peers
        self._peers: list[str] = []
        self._closed = False
        self._ended = False  # a leaver's review, ended by an org change
        self._changes = 0  # how often an org change altered what the review waits for (wakes the phase loop)
        self._search = Carried()
        # Asked here, in the first task, before any handler can ask LEAN_REVIEW_PATCH: False in a history from before.
        self._from_start = workflow.patched(LEAN_FROM_START_PATCH)

    # -- the process ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ReviewInput) -> ReviewResult:
        await self._drive_phases()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._closed = True
        result = await write_one_row(
            ReviewActivities.close_review,
            CloseReviewInput(inp.cycle_id, inp.review_id, workflow.now(), self._missing()),
            local=self._lean(),
        )
        if self._from_start:  # in the task that completes the review: the server's close record carries it
            self._search.set(PHASE, REVIEW_CLOSED, patch=LEAN_FROM_START_PATCH)
        return result

    def _expected(self, phase: str) -> set[str]:
        """The keys of the submissions a phase waits for, by whom its definition says submits."""
        assignees = PHASE_BY_KEY[phase].assignees
        if assignees == "contacts":
            return set(self._contacts)
        if assignees == "peers":  # the nomination, its approval, then each approved peer's answers
            return {PEER_NOMINATION, PEER_APPROVAL} | set(self._peers)
        return {phase}

    def _done(self, phase: str) -> bool:
        return self._expected(phase) <= self._phases[phase].accepted - self._phases[phase].reopened

    def _state(self, phase: str) -> str:
        if self._phases[phase].closed:
            return "closed"
        return "done" if self._done(phase) else "open"

    def _pending(self) -> list[str]:
        return [name for name in self._phases if self._state(name) == "open"]

    def _lean(self) -> bool:
        """Whether this run is a lean review: from its first task, or from LEAN_REVIEW_PATCH's one marker (the SDK
        memoizes it per run)."""
        return self._from_start or workflow.patched(LEAN_REVIEW_PATCH)

    def _search_patch(self) -> str:
        """The marker this run's upserts are behind: the one it has (asking it again records nothing)."""
        if self._from_start:
            return LEAN_FROM_START_PATCH
        return LEAN_REVIEW_PATCH if self._lean() else PATCH

    def _show_phase(self) -> None:
        """The Phase search attribute: open while any phase waits, else closed (one upsert in a review's life).
        Which phase waits is in PostgreSQL, where HR's cycle page and ``kamreview tasks`` read it."""
        if not self._search.on or self._from_start:  # from the start: open until the task that completes it
            return
        pending = self._pending()
        if self._lean():
            self._search.set(PHASE, REVIEW_OPEN if pending else REVIEW_CLOSED, patch=LEAN_REVIEW_PATCH)
        else:  # histories from before it: the first phase (in their defined order) still waiting, at each change
            self._search.set(PHASE, pending[0] if pending else REVIEW_CLOSED)

    def _outstanding(self, phase: str) -> list[Recipient]:
        inp = self._inp
        ph = self._phases[phase]
        assignees = PHASE_BY_KEY[phase].assignees
        waiting = self._expected(phase) - (ph.accepted - ph.reopened)
        if assignees == "contacts":
            return [Recipient("contact", c, task_id_for(inp.review_id, phase, c)) for c in sorted(waiting)]
        if assignees == "peers":
            if PEER_NOMINATION in waiting:
                return [Recipient("employee", inp.employee_id, task_id_for(inp.review_id, PEER_NOMINATION))]
            if PEER_APPROVAL in waiting:
                return [Recipient("employee", self._reviewer or "", task_id_for(inp.review_id, PEER_APPROVAL))]
            return [Recipient("employee", p, task_id_for(inp.review_id, phase, p)) for p in sorted(waiting)]
        if not waiting:
            return []
        who = inp.employee_id if assignees == "subject" else (self._reviewer or "")
        return [Recipient("employee", who, task_id_for(inp.review_id, phase))]

    def _missing(self) -> list[str]:
        missing: list[str] = []
        for phase in self._phases:
            definition = PHASE_BY_KEY[phase]
            accepted = self._phases[phase].accepted
            if definition.assignees == "peers":
                continue  # an unanswered peer is simply not counted, and never named (it would name who answered)
            if definition.per_person:
                missing += [f"{phase}:{c}" for c in sorted(self._expected(phase) - accepted)]
            elif phase not in accepted:  # a reopened one not resubmitted: the earlier stands
                missing.append(phase)
        return missing

    @staticmethod
    def _next_moment(ph: PhaseState) -> datetime:
        """The phase's next reminder, or its deadline when no reminder is left before it."""
        for before in sorted(ph.plan.reminders_before_s, reverse=True):
            at = ph.due_at - timedelta(seconds=before)
            if at > ph.handled_until:
                return at
        return ph.due_at

    async def _drive_phases(self) -> None:
        """Wait for the phases to be done, dealing with reminders and deadlines on one durable alarm.

        One timer at a time serves all three phases. It is never cancelled: when every phase is
        done before it rings, the review simply closes and the timer dies with the workflow. A
        timer per phase, cancelled as each phase completed, cost six history events per review.
        """
        alarm: asyncio.Future[None] | None = None
        alarm_at = workflow.now()
        while pending := self._pending():
            moment = min(self._next_moment(self._phases[name]) for name in pending)
            if moment > workflow.now():
                # Moments only move later, so a pending alarm never rings after the next moment; only an org
                # change (a survey phase reopened by invitations moved in) can bring one earlier.
                if alarm is None or alarm.done() or (moment < alarm_at and workflow.patched(ORG_CHANGES_PATCH)):
                    alarm = asyncio.ensure_future(asyncio.sleep((moment - workflow.now()).total_seconds()))
                    alarm_at = moment
                seen = self._changes
                await workflow.wait_condition(
                    lambda alarm=alarm, seen=seen: alarm.done() or not self._pending() or self._changes != seen)
                continue
            await asyncio.gather(*(self._on_moment(name) for name in pending))

    async def _on_moment(self, phase: str) -> None:
        """Send the reminder or apply the deadline policy that is due now for an open phase."""
        ph = self._phases[phase]
        now = workflow.now()
        if self._next_moment(ph) > now:
            return
        if ph.due_at > now:  # a reminder (a late alarm sends the latest one once)
            ph.handled_until = now
            ph.reminders += 1
            await self._record(phase, "reminder", ph.reminders)
            return
        ph.handled_until = now  # a late alarm: reminders already past the extended deadline's start stay unsent
        if ph.plan.on_deadline == "extend" and ph.extensions < ph.plan.max_extensions:
            ph.extensions += 1
            ph.due_at = ph.due_at + timedelta(seconds=ph.plan.extend_by_s)
            await self._record(phase, "extended", ph.extensions)
            return
        ph.closed = True
        self._show_phase()
        await self._record(phase, "closed", 1)

    async def _record(self, phase: str, event: str, number: int) -> None:
        inp = self._inp
        await write_one_row(
            ReviewActivities.record_phase_event,
            PhaseEvent(
                inp.cycle_id, inp.review_id, phase, event, number,
                self._phases[phase].due_at, self._outstanding(phase),
            ),
            local=self._lean(),
        )

    async def _persist(self, record: SubmissionRecord) -> Receipt:
        # An ordinary activity, scheduled only once the Update's acceptance is in history: a local one would write
        # while the acceptance is still undecided, and a workflow task that then fails (under concurrent Updates the
        # server aborts them) would leave a stored answer that another, later accepted submission is told is its own.
        await workflow.execute_activity_method(ReviewActivities.record_submission, record, **ONE_ROW)
        return Receipt(record.task_id, record.submitted_at)

    def _require_open(self, phase: str, key: str | None = None) -> None:
        """State checks, after the content checks: the phase is open and this part not yet submitted."""
        ph = self._phases[phase]
        key = key or phase
        if key in ph.accepted and key not in ph.reopened:
            at, actor = ph.receipts.get(key, (None, None))
            raise already_submitted(key if key in PHASE_TEXTS else phase, at, actor)
        if self._closed or ph.closed:
            raise conflict(tr("the %(phase)s phase is closed (it was due %(due)s); nothing can be submitted",
                              phase=phase_text(phase), due=ph.due_at))

    def _accept(self, phase: str, key: str, actor: str) -> None:
        """Mark a submission accepted before the handler's first await, so a concurrent one is refused."""
        ph = self._phases[phase]
        ph.accepted.add(key)
        ph.reopened.discard(key)
        ph.receipts[key] = (workflow.now(), actor)
        self._show_phase()

    # -- human tasks (Updates) --------------------------------------------------------------------
    # Every submission goes through _check and _submit, which read the phase's definition (domain/phases.py) and its
    # binding (workflows/review_rules.py): who submits, the content check, the record stored. The four Updates of the
    # first phases keep their names and payload types; a phase defined later is submitted through ``submit_task``.

    def _key(self, phase: str, actor: str | None) -> str:
        """What a submission is accepted under: the phase for a one-task phase, the person for a per-person one."""
        return task_key(phase, actor)

    def _task_id(self, phase: str, key: str) -> str:
        """The task a submission accepted under ``key`` answers (the person's own in a per-person phase)."""
        return phase_task_id(self._inp.review_id, phase, key)

    def _check(self, phase: str, sub: object) -> None:
        """Who and what first (the wrong person or an impossible value is refused whatever the state), then the
        state: the phase open and this part not yet submitted."""
        actor = submitter_of(sub)
        check_submitter(phase, actor, employee=self._inp.employee_id, reviewer=self._reviewer,
                        contacts=self._contacts, peers=self._peers)
        check_submission(phase, sub, self._inp.rules)
        self._require_open(phase, self._key(phase, actor))

    async def _submit(self, phase: str, sub: object) -> Receipt:
        """Accept (before the first await) and store one submission, as its definition's record says."""
        actor = submitter_of(sub)
        key = self._key(phase, actor)
        self._accept(phase, key, actor)
        inp = self._inp
        base = SubmissionRecord(inp.cycle_id, inp.review_id, self._task_id(phase, key), phase, actor, workflow.now(),
                                {}, {}, version=self._version(phase, key))
        return await self._persist(binding(phase).record(sub, base))

    @workflow.update
    async def submit_self_review(self, sub: SelfReviewSubmission) -> Receipt:
        return await self._submit(SELF_REVIEW, sub)

    @submit_self_review.validator
    def _validate_self_review(self, sub: SelfReviewSubmission) -> None:
        self._check(SELF_REVIEW, sub)

    @workflow.update
    async def submit_manager_score(self, sub: ManagerScoreSubmission) -> Receipt:
        return await self._submit(MANAGER_SCORING, sub)

    @submit_manager_score.validator
    def _validate_manager_score(self, sub: ManagerScoreSubmission) -> None:
        self._check(MANAGER_SCORING, sub)

    @workflow.update
    async def submit_survey(self, sub: SurveySubmission) -> Receipt:
        return await self._submit(CUSTOMER_SURVEY, sub)

    @submit_survey.validator
    def _validate_survey(self, sub: SurveySubmission) -> None:
        self._check(CUSTOMER_SURVEY, sub)

    @workflow.update
    async def submit_task(self, sub: TaskSubmission) -> Receipt:
        """Any phase defined only in the registry (its submission is the generic TaskSubmission): no Update of its own."""
        workflow.patched(SUBMIT_TASK_PATCH)
        return await self._submit(sub.phase, sub)

    @submit_task.validator
    def _validate_task(self, sub: TaskSubmission) -> None:
        definition = PHASE_BY_KEY.get(sub.phase) if isinstance(sub.phase, str) else None
        if definition is None or sub.phase not in self._phases:
            raise reject(tr("this review has no %(phase)s", phase=phase_text(sub.phase) if definition else
                            repr(sub.phase)))
        if definition.update != "submit_task":
            raise reject(tr("the %(phase)s is submitted through %(update)s, not submit_task",
                            phase=phase_text(sub.phase), update=definition.update))
        self._check(sub.phase, sub)

    # -- peer feedback (docs/peer-feedback.md) ---------------------------------------------------------

    def _require_peer_phase(self) -> None:
        if PEER_FEEDBACK not in self._phases or self._inp.rules.peer_feedback is None:
            raise reject(tr("this cycle has no peer feedback"))

    @workflow.update
    async def nominate_peers(self, req: PeerNomination) -> Receipt:
        """The KAM names colleagues; the reviewing manager approves next (their task opens)."""
        workflow.patched(PEER_FEEDBACK_PATCH)
        self._accept(PEER_FEEDBACK, PEER_NOMINATION, req.actor_id)
        self._nominated = list(req.peer_ids)
        return await self._peer_step(PEER_NOMINATION, req.actor_id, req.peer_ids, [self._reviewer or ""])

    @nominate_peers.validator
    def _validate_nomination(self, req: PeerNomination) -> None:
        self._require_peer_phase()
        if req.actor_id != self._inp.employee_id:
            raise reject(tr("%(who)s may not nominate peers for %(employee)s; only the employee can",
                            who=req.actor_id, employee=self._inp.employee_id))
        check_nomination(req, self._inp.rules, self._inp.employee_id, self._reviewer)
        self._require_open(PEER_FEEDBACK, PEER_NOMINATION)

    @workflow.update
    async def approve_peers(self, req: PeerApproval) -> Receipt:
        """The reviewing manager approves the nomination (all of it or some): each approved peer's task opens."""
        workflow.patched(PEER_FEEDBACK_PATCH)
        self._accept(PEER_FEEDBACK, PEER_APPROVAL, req.actor_id)
        self._peers = sorted(req.peer_ids)
        return await self._peer_step(PEER_APPROVAL, req.actor_id, self._peers, self._peers)

    @approve_peers.validator
    def _validate_approval(self, req: PeerApproval) -> None:
        self._require_peer_phase()
        if req.actor_id != self._reviewer:
            raise reject(tr("%(who)s may not approve the peers of %(employee)s; the reviewer is %(reviewer)s",
                            who=req.actor_id, employee=self._inp.employee_id, reviewer=self._reviewer or "-"))
        if PEER_NOMINATION not in self._phases[PEER_FEEDBACK].accepted:
            raise conflict(tr("%(employee)s has not nominated any peers yet", employee=self._inp.employee_id))
        if unknown := sorted(set(req.peer_ids) - set(self._nominated)):
            raise reject(tr("%(who)s was not nominated; approve colleagues from the nomination only",
                            who=", ".join(unknown)))
        check_nomination(req, self._inp.rules, self._inp.employee_id, self._reviewer)
        self._require_open(PEER_FEEDBACK, PEER_APPROVAL)

    @workflow.update
    async def submit_peer_feedback(self, sub: PeerFeedbackSubmission) -> Receipt:
        workflow.patched(PEER_FEEDBACK_PATCH)
        return await self._submit(PEER_FEEDBACK, sub)

    @submit_peer_feedback.validator
    def _validate_peer_feedback(self, sub: PeerFeedbackSubmission) -> None:
        self._require_peer_phase()
        self._check(PEER_FEEDBACK, sub)

    async def _peer_step(self, step: str, actor: str, peer_ids: list[str], next_assignees: list[str]) -> Receipt:
        inp = self._inp
        now = workflow.now()
        await workflow.execute_activity_method(  # inside an Update: ordinary, as _persist says
            ReviewActivities.record_peer_step,
            PeerStepRecord(inp.cycle_id, inp.review_id, step, actor, list(peer_ids), now,
                           self._phases[PEER_FEEDBACK].due_at, next_assignees),
            **ONE_ROW,
        )
        return Receipt(task_id_for(inp.review_id, step), now)

    @workflow.update
    async def reassign_reviewer(self, req: ReassignReviewer) -> str:
        try:
            await workflow.execute_activity_method(
                ReviewActivities.reassign_reviewer,
                ReassignRecord(
                    self._inp.review_id, self._reviewer, req.new_reviewer_id, req.actor_id,
                    req.reason.strip(), workflow.now(),
                ),
                **ONE_ROW,
            )
        except ActivityError as err:
            raise reject(user_text(err)) from None
        self._reviewer = req.new_reviewer_id
        self._search.set(REVIEWER_ID, req.new_reviewer_id, patch=self._search_patch())
        return req.new_reviewer_id

    @reassign_reviewer.validator
    def _validate_reassign(self, req: ReassignReviewer) -> None:
        self._require_open(MANAGER_SCORING)
        if not req.reason or not req.reason.strip():
            raise reject(tr("a reassignment needs a reason"))
        if req.new_reviewer_id == self._inp.employee_id:
            raise reject(tr("an employee cannot be their own reviewer"))
        if req.new_reviewer_id == self._reviewer:
            raise conflict(tr("%(who)s is already the reviewer", who=req.new_reviewer_id))

    def _version(self, phase: str, key: str) -> int:
        return self._phases[phase].versions.get(key, 1)

    # -- reopen (docs/reopen-and-sign-off.md) ---------------------------------------------------------

    @workflow.update
    async def reopen_task(self, req: ReopenTask) -> int:
        """HR reopens a submitted task: it is awaited again by its own deadline, the person is told, and the
        resubmission becomes the next version (the earlier one is kept). Marked before the first await, so a
        submission racing it is judged against the reopened state. Returns the version now awaited."""
        workflow.patched(REOPEN_PATCH)
        key = self._key(req.phase, req.contact_id)  # the validator refuses a survey reopen without a contact
        ph = self._phases[req.phase]
        others_waiting = not self._done(req.phase)  # other contacts still asked in the same survey phase
        version = ph.versions.get(key, 1) + 1
        ph.versions[key] = version
        ph.reopened.add(key)
        # Its own deadline; when others still wait in the phase, the later deadline rules for all of them.
        ph.due_at = max(ph.due_at, req.due_at) if others_waiting else req.due_at
        ph.handled_until = workflow.now()
        self._changes += 1
        self._show_phase()
        inp = self._inp
        await workflow.execute_activity_method(
            ReviewActivities.reopen_task,
            ReopenRecord(inp.cycle_id, inp.review_id, self._task_id(req.phase, key),
                         req.phase, version, req.actor_id, req.reason.strip(), req.due_at, workflow.now()),
            **ONE_ROW,
        )
        return version

    @reopen_task.validator
    def _validate_reopen(self, req: ReopenTask) -> None:
        storage = PHASE_BY_KEY[req.phase].storage if req.phase in self._phases else None
        if storage is None or storage.replaced_by is None:  # peer feedback is never reopened (nor replaced)
            raise reject(no_task_to_reopen(req.phase))
        check_reopen_request(req, workflow.now())
        # With nothing left to wait for, the review is closing (its score is being computed): too late to reopen.
        if self._closed or self._ended or not self._pending():
            raise conflict(tr("the review of %(employee)s has already closed", employee=self._inp.employee_id))
        ph = self._phases[req.phase]
        key = self._key(req.phase, req.contact_id)
        name = phase_text(req.phase)
        if key in ph.reopened:
            raise conflict(tr("the %(phase)s is already reopened and awaits a new submission", phase=name))
        if key not in ph.accepted:
            raise conflict(tr("the %(phase)s has not been submitted yet, so there is nothing to reopen", phase=name))
        if ph.closed:
            raise conflict(tr("the %(phase)s phase is closed (it was due %(due)s); nothing can be submitted",
                              phase=name, due=ph.due_at))

    # -- org changes (Updates sent by the import's apply step; docs/org-changes.md) -------------------

    @workflow.update
    async def end_review(self, req: EndReview) -> list[str]:
        """A leaver: every open phase closes now (before the first await, so no submission slips in), the open
        tasks end, and the review closes with what was submitted."""
        workflow.patched(ORG_CHANGES_PATCH)
        self._ended = True
        for name, ph in self._phases.items():
            if not self._done(name):
                ph.closed = True
        self._show_phase()
        inp = self._inp
        await workflow.execute_activity_method(
            ReviewActivities.end_review,
            EndReviewRecord(inp.cycle_id, inp.review_id, req.actor_id, req.left_on, req.reason, workflow.now()),
            **ONE_ROW,
        )
        return self._missing()

    @end_review.validator
    def _validate_end(self, req: EndReview) -> None:
        if self._closed or self._ended:
            raise conflict(tr("the review of %(employee)s has already closed", employee=self._inp.employee_id))
        if not req.reason or not req.reason.strip():
            raise reject(tr("ending a review needs a reason"))

    @workflow.update
    async def withdraw_survey(self, req: SurveyMove) -> list[str]:
        """An account moved to another KAM: its contacts' unanswered invitations leave this review."""
        workflow.patched(ORG_CHANGES_PATCH)
        accepted = self._phases[CUSTOMER_SURVEY].accepted
        moved = sorted(c.contact_id for c in req.contacts if c.contact_id in self._contacts and c.contact_id not in accepted)
        self._contacts -= set(moved)
        self._changes += 1
        self._show_phase()
        if moved:
            inp = self._inp
            await workflow.execute_activity_method(
                ReviewActivities.withdraw_invitations,
                SurveyMoveRecord(inp.cycle_id, inp.review_id, req.account_id, moved, req.other_employee_id,
                                 req.actor_id, workflow.now()),
                **ONE_ROW,
            )
        return moved

    @withdraw_survey.validator
    def _validate_withdraw(self, req: SurveyMove) -> None:
        self._require_survey_open()

    @workflow.update
    async def invite_survey(self, req: SurveyMove) -> list[str]:
        """An account moved to this KAM: its contacts' open invitations join this review (the phase reopens)."""
        workflow.patched(ORG_CHANGES_PATCH)
        new = [c for c in req.contacts if c.contact_id not in self._contacts]
        self._contacts |= {c.contact_id for c in new}
        self._changes += 1
        self._show_phase()
        if new:
            inp = self._inp
            await workflow.execute_activity_method(
                ReviewActivities.add_invitations,
                SurveyMoveRecord(inp.cycle_id, inp.review_id, req.account_id, [c.contact_id for c in new],
                                 req.other_employee_id, req.actor_id, workflow.now(),
                                 self._phases[CUSTOMER_SURVEY].due_at),
                **ONE_ROW,
            )
        return sorted(c.contact_id for c in new)

    @invite_survey.validator
    def _validate_invite(self, req: SurveyMove) -> None:
        self._require_survey_open()
        for c in req.contacts:
            if not isinstance(c, ContactRef) or not c.contact_id:
                raise reject(tr("a survey invitation needs a contact"))

    def _require_survey_open(self) -> None:
        if self._closed or self._ended:
            raise conflict(tr("the review of %(employee)s has already closed", employee=self._inp.employee_id))
        ph = self._phases[CUSTOMER_SURVEY]
        if ph.closed:
            raise conflict(tr("the %(phase)s phase is closed (it was due %(due)s); nothing can be submitted",
                              phase=PHASE_TEXTS[CUSTOMER_SURVEY], due=ph.due_at))

    @workflow.query
    def status(self) -> ReviewStatus:
        return ReviewStatus(
            review_id=self._inp.review_id,
            employee_id=self._inp.employee_id,
            reviewer_id=self._reviewer,
            closed=self._closed,
            phases=[
                ReviewPhaseStatus(
                    phase=name, state=self._state(name), due_at=ph.due_at, extensions=ph.extensions,
                    outstanding=self._status_outstanding(name),
                )
                for name, ph in self._phases.items()
            ],
        )

    def _status_outstanding(self, phase: str) -> list[str]:
        """Who a phase still waits for; for peer feedback only the nomination's or the approval's owner, never which
        peers have (not) answered."""
        if self._state(phase) != "open":
            return []
        if PHASE_BY_KEY[phase].assignees == "peers" and PEER_APPROVAL in self._phases[phase].accepted:
            return []
        return [r.id for r in self._outstanding(phase)]
