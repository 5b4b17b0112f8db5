"""A closed review's submissions reopened by HR during calibration (docs/reopen-and-sign-off.md).

The review workflow has ended (it closed and scored the review), so a reopen in calibration starts this small
workflow, one run per closed review while something of it is reopened: HR's reopen and the person's resubmission are
its Updates, with the same checks as the review workflow's; each reopened task has its own durable deadline; when a
task settles (resubmitted, or its deadline passed and the earlier version stands) the review is rescored and its
calibration row updated. It ends once nothing is outstanding; a later reopen starts a new run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.reopened import ReopenedActivities
    from activities.reviews import ReviewActivities
    from domain.phases import PHASE_BY_KEY
    from domain.text import tr
    from workflows.common import CONFLICT, ONE_ROW, conflict, refusal_kind, refuse, reject, user_text
    from workflows.payloads import (
        CUSTOMER_SURVEY,
        MANAGER_SCORING,
        SELF_REVIEW,
        SUBMIT_TASK_PATCH,
        ManagerScoreSubmission,
        Receipt,
        ReopenedReviewInput,
        ReopenedTaskStatus,
        ReopenRecord,
        ReopenTask,
        RescoreInput,
        RescoreResult,
        SelfReviewSubmission,
        SettledTask,
        SubmissionRecord,
        SurveySubmission,
        TaskSubmission,
        phase_task_id,
        task_key,
    )
    from workflows.review_rules import (
        already_submitted,
        binding,
        check_reopen_request,
        check_submission,
        check_submitter,
        no_task_to_reopen,
        phase_text,
        submitter_of,
    )

# The service sends the first reopen right after it starts the run; a run whose first reopen never came ends.
FIRST_REOPEN_WAIT = timedelta(minutes=10)
OUTSTANDING = ("reopening", "open", "submitting")  # states that keep the run (and the finalize guard) waiting


@dataclass
class _Task:
    phase: str
    task_id: str
    version: int  # the version a resubmission becomes
    due_at: datetime
    state: str  # reopening | open | submitting | resubmitted | kept
    submitted_at: datetime | None = None
    submitted_by: str | None = None
    rescored: bool = False


@workflow.defn
class ReopenedReviewWorkflow:
    @workflow.init
    def __init__(self, inp: ReopenedReviewInput) -> None:
        self._inp = inp
        self._versions = dict(inp.versions)  # task key (phase, or a survey's contact) -> its version now
        self._tasks: dict[str, _Task] = {}
        self._to_rescore: list[SettledTask] = []
        self._seen = False  # a reopen arrived
        self._changes = 0  # wakes the loop: a task reopened, resubmitted or refused

    @workflow.run
    async def run(self, inp: ReopenedReviewInput) -> list[RescoreResult]:
        try:
            await workflow.wait_condition(lambda: self._seen, timeout=FIRST_REOPEN_WAIT)
        except TimeoutError:
            return []
        results: list[RescoreResult] = []
        while True:
            now = workflow.now()
            for t in self._tasks.values():
                if t.state == "open" and t.due_at <= now:  # no resubmission in time: the earlier version stands
                    t.state = "kept"
                    self._to_rescore.append(SettledTask(t.task_id, t.version, resubmitted=False))
            if self._to_rescore:
                settled, self._to_rescore = self._to_rescore, []
                results.append(await workflow.execute_activity_method(
                    ReopenedActivities.rescore_reopened,
                    RescoreInput(inp.cycle_id, inp.review_id, settled, workflow.now()), **ONE_ROW))
                for t in self._tasks.values():
                    t.rescored = t.rescored or any(s.task_id == t.task_id and s.version == t.version for s in settled)
                continue
            if not self._outstanding() and workflow.all_handlers_finished():
                return results
            seen = self._changes
            due = [t.due_at for t in self._tasks.values() if t.state == "open"]
            try:
                await workflow.wait_condition(
                    lambda seen=seen: self._changes != seen or (not self._outstanding() and workflow.all_handlers_finished()),
                    timeout=(min(due) - now) if due else None)
            except TimeoutError:
                pass

    def _outstanding(self) -> list[_Task]:
        return [t for t in self._tasks.values() if t.state in OUTSTANDING]

    def _changed(self) -> None:
        self._changes += 1

    # -- HR's reopen --------------------------------------------------------------------------------

    @workflow.update
    async def reopen_task(self, req: ReopenTask) -> int:
        """Reopen one submitted task of the closed review: marked before the first await (a second reopen or an early
        resubmission is judged against it); the activity checks calibration is not finalized under the cycle's lock.
        Returns the version now awaited."""
        self._seen = True
        key = self._key(req.phase, req.contact_id)
        version = self._versions.get(key, 1) + 1
        task = _Task(req.phase, phase_task_id(self._inp.review_id, req.phase, req.contact_id), version, req.due_at,
                     "reopening")
        self._tasks[key] = task
        self._changed()
        try:
            await workflow.execute_activity_method(
                ReopenedActivities.reopen_closed_task,
                ReopenRecord(self._inp.cycle_id, self._inp.review_id, task.task_id, req.phase, version, req.actor_id,
                             req.reason.strip(), req.due_at, workflow.now()),
                **ONE_ROW,
            )
        except ActivityError as err:
            del self._tasks[key]
            self._changed()
            raise refuse(user_text(err), conflict=refusal_kind(err) == CONFLICT) from None
        self._versions[key] = version
        task.state = "open"
        self._changed()
        return version

    @reopen_task.validator
    def _validate_reopen(self, req: ReopenTask) -> None:
        # Any phase whose answers a resubmission replaces (its Storage says which rows): not peer feedback.
        definition = PHASE_BY_KEY.get(req.phase) if isinstance(req.phase, str) else None
        if definition is None or definition.storage is None or definition.storage.replaced_by is None:
            raise reject(no_task_to_reopen(req.phase))
        check_reopen_request(req, workflow.now())
        task = self._tasks.get(self._key(req.phase, req.contact_id))
        if task is not None and task.state in OUTSTANDING:
            raise conflict(tr("the %(phase)s is already reopened and awaits a new submission",
                              phase=phase_text(req.phase)))

    # -- the resubmissions (the same Update names and checks as the review workflow's) -----------------

    def _check(self, phase: str, sub: object) -> None:
        actor = submitter_of(sub)
        self._check_submitter(phase, actor)
        check_submission(phase, sub, self._inp.rules)
        self._require_open(phase, self._key(phase, actor))

    async def _submit(self, phase: str, sub: object) -> Receipt:
        """The resubmission as the phase's definition records it (workflows/review_rules.py), at the task's version."""
        actor = submitter_of(sub)
        task = self._accept(phase, self._key(phase, actor), actor)
        inp = self._inp
        base = SubmissionRecord(inp.cycle_id, inp.review_id, task.task_id, phase, actor, workflow.now(), {}, {},
                                version=task.version)
        return await self._persist(task, binding(phase).record(sub, base))

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
        """A reopened task of a phase defined only in the registry (its submission is the generic TaskSubmission)."""
        workflow.patched(SUBMIT_TASK_PATCH)
        return await self._submit(sub.phase, sub)

    @submit_task.validator
    def _validate_task(self, sub: TaskSubmission) -> None:
        definition = PHASE_BY_KEY.get(sub.phase) if isinstance(sub.phase, str) else None
        if definition is None or definition.update != "submit_task":
            raise reject(tr("there is no phase %(phase)s to submit", phase=repr(sub.phase)))
        self._check(sub.phase, sub)

    def _check_submitter(self, phase: str, actor: str) -> None:
        inp = self._inp
        check_submitter(phase, actor, employee=inp.employee_id, reviewer=inp.reviewer_id, contacts=inp.contact_ids)

    @staticmethod
    def _key(phase: str, person: str | None) -> str:
        """A task's key among the review's: the person's id in a per-person phase (a survey's contact), else the phase."""
        return task_key(phase, person)

    def _require_open(self, phase: str, key: str) -> None:
        """Only a task reopened here and awaiting its resubmission takes one; the rest of the review is closed."""
        task = self._tasks.get(key)
        if task is not None and task.state in ("submitting", "resubmitted"):
            raise already_submitted(phase, task.submitted_at, task.submitted_by)
        if task is None or task.state != "open":
            raise conflict(tr("the %(phase)s of %(employee)s closed; nothing can be submitted any more",
                              phase=phase_text(phase), employee=self._inp.employee_id))

    def _accept(self, phase: str, key: str, actor: str) -> _Task:
        """Mark the resubmission taken before the handler's first await, so a concurrent one is refused."""
        task = self._tasks[key]
        task.state, task.submitted_at, task.submitted_by = "submitting", workflow.now(), actor
        self._changed()
        return task

    async def _persist(self, task: _Task, record: SubmissionRecord) -> Receipt:
        try:
            await workflow.execute_activity_method(ReviewActivities.record_submission, record, **ONE_ROW)
        except BaseException:
            task.state = "open"  # not stored: the task still awaits it
            self._changed()
            raise
        task.state = "resubmitted"
        self._to_rescore.append(SettledTask(task.task_id, task.version, resubmitted=True))
        self._changed()
        return Receipt(record.task_id, record.submitted_at)

    @workflow.query
    def status(self) -> list[ReopenedTaskStatus]:
        return [ReopenedTaskStatus(t.task_id, t.phase, t.version, t.due_at, t.state, t.rescored)
                for t in self._tasks.values()]
