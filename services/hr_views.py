"""HR's read side and small HR actions the engine did not have: calibration view, reminders now, release.

The calibration view recomputes the distribution and the 9-box from the current final levels, so
it reflects every adjustment the moment it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection

from activities.reopened import outstanding_reopens
from domain.text import Text, tr
from services.errors import Conflict, NotFound

if TYPE_CHECKING:
    from temporalio.client import Client

    from domain.calibration import CalibrationConfig, DistributionReport, GuidelineBias, LevelDeviation

# The Temporal client, the activities' helpers, the scoring domain and the people's read side are imported by the
# functions that use them: `kamreview cycle list` reads one table and must not pay ~0.3 s of imports for them.

PERFORMANCE = ("high", "moderate", "low")
POTENTIAL = ("low", "moderate", "high")


@dataclass
class RatingRow:
    employee_id: str
    name: str
    manager_id: str | None
    preliminary_score: Decimal | None
    normalized_score: Decimal | None
    suggested_level: int | None
    final_level: int | None
    potential: int | None
    nine_box: str | None
    note: str | None
    finalized: bool


@dataclass
class AdjustmentRow:
    employee_id: str
    from_level: int | None
    to_level: int
    reason: str
    actor: str
    adjusted_at: datetime


@dataclass
class NineBoxCell:
    key: str
    name: str
    employees: list[str]


@dataclass
class CalibrationView:
    cycle_id: str
    cycle_name: str
    status: str
    levels: list[tuple[int, str]]
    ratings: list[RatingRow]
    report: DistributionReport | None
    grid: list[list[NineBoxCell]]  # rows: performance high → low; columns: potential low → high
    adjustments: list[AdjustmentRow]
    finalized: bool
    unrated: list[str]
    tolerance_pct: Decimal | int | None = None  # how far a level may stray from the guideline, in points
    timezone: str = "Asia/Shanghai"  # the cycle's zone, for readers without one of their own
    names: dict[str, str] = field(default_factory=dict)  # id -> name: participants, managers, who adjusted
    outside: set[int] = field(default_factory=set)  # levels beyond the tolerance (the report's violations)
    min_team_size: int = 3
    enforce: bool = False  # finalizing is refused while the distribution is outside the guideline
    notes: dict[str, Text] = field(default_factory=dict)  # employee -> how normalization treated the score
    reopened: list[str] = field(default_factory=list)  # "name (id)" of reviews whose reopened submissions are awaited
    # Each team against the guideline distribution (domain.calibration.guideline_bias), the points beyond which a
    # level is flagged (declared in calibration.guideline_bias_pp, else GUIDELINE_BIAS_DEFAULT_PP), and per
    # manager the flagged levels as sentences HR reads.
    guideline_bias: list[GuidelineBias] = field(default_factory=list)
    guideline_bias_pp: Decimal | None = None
    guideline_bias_declared: bool = False
    bias_sentences: dict[str, list[Text]] = field(default_factory=dict)

    def name(self, person_id: str | None) -> str:
        return self.names.get(person_id or "", person_id or "")


async def calibration_view(conn: AsyncConnection, cycle_id: str) -> CalibrationView:
    """The calibration table of a cycle, with the names of everyone it mentions (pages show names, not ids)."""
    from domain.calibration import GUIDELINE_BIAS_DEFAULT_PP, NINE_BOX_NAMES, distribution_report, guideline_bias, nine_box
    from services.participant import display_names
    from services.people import cycle_config

    row = await (await conn.execute("SELECT name, status, timezone FROM review_cycle WHERE id = %s",
                                    (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    name, status, zone = row
    config = await cycle_config(conn, cycle_id)
    cal = config.calibration
    rows = await (await conn.execute(
        """SELECT cr.employee_id, e.name, cr.manager_id, cr.preliminary_score, cr.normalized_score, cr.suggested_level,
                  cr.final_level, cr.potential, cr.note, cr.finalized
           FROM calibrated_rating cr JOIN employee e ON e.id = cr.employee_id
           WHERE cr.cycle_id = %s ORDER BY cr.employee_id""",
        (cycle_id,),
    )).fetchall()
    ratings = [
        RatingRow(emp, ename, mgr, pre, norm, sug, final, pot,
                  nine_box(final, pot, cal) if final is not None else None, note, fin)
        for emp, ename, mgr, pre, norm, sug, final, pot, note, fin in rows
    ]
    rated = [(r.employee_id, r.manager_id or "-", r.final_level) for r in ratings if r.final_level is not None]
    report = distribution_report(rated, cal) if ratings else None
    cells = {f"{p}/{q}": NineBoxCell(f"{p}/{q}", NINE_BOX_NAMES[f"{p}/{q}"], []) for p in PERFORMANCE for q in POTENTIAL}
    for r in ratings:
        if r.nine_box in cells:
            cells[r.nine_box].employees.append(r.employee_id)
    grid = [[cells[f"{p}/{q}"] for q in POTENTIAL] for p in PERFORMANCE]
    adjustments = [AdjustmentRow(*a) for a in await (await conn.execute(
        """SELECT r.employee_id, a.from_level, a.to_level, a.reason, a.actor, a.adjusted_at
           FROM rating_adjustment a JOIN review r ON r.id = a.review_id
           WHERE r.cycle_id = %s ORDER BY a.adjusted_at, a.id""",
        (cycle_id,),
    )).fetchall()]
    names = {r.employee_id: r.name for r in ratings}
    names |= await display_names(conn, {r.manager_id for r in ratings if r.manager_id} | {a.actor for a in adjustments})
    n = report.total if report else 0
    # The same test as the report's violations: a head count off by more than the tolerance, in points.
    outside = {lv.level for lv in report.levels if n and abs(Decimal(lv.difference) * 100 / n) > cal.tolerance_pct} \
        if report else set()
    teams: dict[str | None, int] = {}
    for r in ratings:
        teams[r.manager_id] = teams.get(r.manager_id, 0) + 1
    notes = {r.employee_id: _normalization_note(r, teams[r.manager_id], cal) for r in ratings if r.note}
    async with conn.cursor() as cur:
        reopened = await outstanding_reopens(cur, cycle_id) if status == "calibration" else []
    bias_pp = cal.guideline_bias_pp or GUIDELINE_BIAS_DEFAULT_PP
    bias = guideline_bias(rated, cal, bias_pp) if rated else []
    labels = {lv.level: lv.label for lv in cal.levels}
    sentences = {b.manager_id: [_bias_sentence(b.manager_id, names.get(b.manager_id), d, labels[d.level], bias_pp)
                                for d in b.deviations if d.flagged] for b in bias}
    return CalibrationView(
        cycle_id, name, status, [(lv.level, lv.label) for lv in cal.levels], ratings, report, grid, adjustments,
        finalized=bool(ratings) and all(r.finalized for r in ratings),
        unrated=[r.employee_id for r in ratings if r.final_level is None], tolerance_pct=cal.tolerance_pct,
        timezone=zone, names=names, outside=outside, min_team_size=cal.min_team_size, enforce=cal.enforce,
        notes=notes, reopened=reopened, guideline_bias=bias, guideline_bias_pp=bias_pp,
        guideline_bias_declared=cal.guideline_bias_pp is not None, bias_sentences=sentences,
    )


#: How HR names the tendency a flagged level shows, by where the level sits (domain.calibration.BIAS_BY_BAND).
_TENDENCY = {"top": tr("leniency at the top"), "bottom": tr("severity at the bottom"),
             "middle": tr("central tendency in the middle")}


def _bias_sentence(manager_id: str, name: str | None, d: LevelDeviation, label: str, threshold: Decimal) -> Text:
    """M4's team: 45 % at level 5 (Outstanding) against a guideline of 20 %: 25 points above it, more than the 10
    points allowed — leniency at the top."""
    from domain.sentences import percent, rating_label_text

    return tr("%(manager)s's team: %(share)s at level %(level)s (%(label)s) against a guideline of %(guideline)s: "
              "%(deviation)s points above it, more than the %(threshold)s points allowed — %(tendency)s.",
              manager=tr("no manager") if manager_id == "-" else (name or manager_id),
              share=percent(d.team_pct / 100, 2), level=d.level, label=rating_label_text(label) or label,
              guideline=percent(d.guideline_pct / 100, 2), deviation=d.deviation_pp,
              threshold=threshold, tendency=_TENDENCY[d.band])


def _normalization_note(r: RatingRow, team: int, cal: CalibrationConfig) -> Text:
    """The stored note (the domain's English, with its formula) as a sentence in the reader's language."""
    if not cal.normalize:
        return tr("Normalization is off in this cycle.")
    if team < cal.min_team_size:
        return tr("Not normalized: a team of %(count)s is smaller than %(min)s people.", count=team,
                  min=cal.min_team_size)
    if (r.note or "").startswith("all "):
        return tr("Not normalized: every score in this team is the same.")
    return tr("Normalized against the team's mean and spread: %(before)s → %(after)s (%(formula)s)",
              before=r.preliminary_score, after=r.normalized_score, formula=(r.note or "").split(" → ")[0])


async def send_reminders_now(conn: AsyncConnection, cycle_id: str, actor: str, only_overdue: bool = False,
                             client: Client | None = None, task_queue: str | None = None) -> int:
    """Remind everyone with an open task of the cycle now (or only the late), through the outbox.

    The key carries the minute, so a double click (or a retried request) reminds each person once.
    With a client, their delivery starts at once.
    """
    from activities.base import AUDIT_ROW, audit_params
    from activities.outbox import Message, queue, start_delivery
    from activities.reviews import task_params

    row = await (await conn.execute("SELECT name FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%d%H%M")
    batch = f"reminders-now:{cycle_id}:{stamp}:{'late' if only_overdue else 'all'}"
    async with conn.transaction(), conn.cursor() as cur:
        tasks = await (await cur.execute(
            """SELECT t.id, t.kind, t.assignee_type, t.assignee_id, t.due_at, r.employee_id, e.name
               FROM task t JOIN review r ON r.id = t.review_id JOIN employee e ON e.id = r.employee_id
               WHERE t.cycle_id = %s AND t.status = 'open' AND (NOT %s OR t.due_at < %s) ORDER BY t.id""",
            (cycle_id, only_overdue, now))).fetchall()
        messages = [
            Message(f"reminder-now:{task_id}:{stamp}", "reminder", assignee_type, assignee,
                    {"cycle_name": row[0], "phase": kind, "due": due.isoformat()}
                    | task_params(cycle_id, kind, task_id, assignee_type, employee_id, name))
            for task_id, kind, assignee_type, assignee, due, employee_id, name in tasks]
        sent = await queue(cur, cycle_id, batch, messages)
        await cur.execute(AUDIT_ROW, audit_params(
            f"reminders.sent:{cycle_id}:{stamp}:{only_overdue}", actor, "reminders.sent", "review_cycle", cycle_id,
            after={"queued": sent, "only_overdue": only_overdue}))
    if client is not None and task_queue and sent:
        await start_delivery(client, task_queue, batch)
    return sent


async def release_results(conn: AsyncConnection, cycle_id: str, actor: str, client: Client | None = None,
                          task_queue: str | None = None) -> datetime:
    """Let employees see their results (and their manager's scores). Only after calibration is final."""
    from activities.base import AUDIT_ROW, audit_params
    from activities.outbox import Message, queue, start_delivery

    async with conn.transaction():
        row = await (await conn.execute(
            "SELECT status, results_released_at, results_released_by, timezone FROM review_cycle WHERE id = %s FOR UPDATE",
            (cycle_id,)
        )).fetchone()
        if row is None:
            raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        status, released, released_by, zone = row
        if released is not None:
            if released_by == actor:  # a retry after a lost answer: the first answer
                return released
            raise Conflict(tr("the results of cycle %(cycle)s were already released on %(at)s by %(who)s",
                              cycle=cycle_id, at=released.astimezone(ZoneInfo(zone)), who=released_by))
        if (blocked := await _release_blocked(conn, cycle_id, status)) is not None:
            raise Conflict(blocked)
        now = datetime.now(UTC)
        await conn.execute(
            "UPDATE review_cycle SET results_released_at = %s, results_released_by = %s WHERE id = %s",
            (now, actor, cycle_id),
        )
        await conn.execute(AUDIT_ROW, audit_params(f"results.released:{cycle_id}", actor, "results.released",
                                                   "review_cycle", cycle_id, after={"released_at": now}))
        async with conn.cursor() as cur:
            people = await (await cur.execute(
                "SELECT r.employee_id, c.name FROM review r JOIN review_cycle c ON c.id = r.cycle_id "
                "WHERE r.cycle_id = %s ORDER BY r.seq", (cycle_id,))).fetchall()
            await queue(cur, cycle_id, f"cycle:{cycle_id}:results-released", [
                Message(f"results-released:{cycle_id}", "results_released", "employee", emp,
                        {"cycle_name": name, "link_path": f"/me/results/{cycle_id}"}) for emp, name in people])
    if client is not None and task_queue:
        await start_delivery(client, task_queue, f"cycle:{cycle_id}:results-released")
    return now


async def _release_blocked(conn: AsyncConnection, cycle_id: str, status: str) -> Text | None:
    """Why the results cannot be released yet (calibration not final), or None."""
    from domain.phases import PhaseName

    pending, total = await (await conn.execute(
        "SELECT count(*) FILTER (WHERE NOT finalized), count(*) FROM calibrated_rating WHERE cycle_id = %s",
        (cycle_id,),
    )).fetchone()
    if total == 0 or pending > 0:
        return tr("cannot release the results of cycle %(cycle)s: calibration is not finalized "
                  "(the cycle is in phase '%(phase)s')", cycle=cycle_id, phase=PhaseName(status))
    return None


@dataclass
class ReleaseSummary:
    """What releasing the results will do, for the confirmation page."""

    cycle_id: str
    cycle_name: str
    timezone: str
    people: int  # employees who will see their results and get a message
    released_at: datetime | None
    released_by: str | None
    blocked: Text | None  # why it cannot be done now


async def release_summary(conn: AsyncConnection, cycle_id: str) -> ReleaseSummary:
    row = await (await conn.execute(
        """SELECT c.name, c.timezone, c.status, c.results_released_at, c.results_released_by,
                  (SELECT count(*) FROM review r WHERE r.cycle_id = c.id)
           FROM review_cycle c WHERE c.id = %s""", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    name, zone, status, released, by, people = row
    blocked = (tr("the results were already released on %(at)s by %(who)s", at=released, who=by)
               if released else await _release_blocked(conn, cycle_id, status))
    return ReleaseSummary(cycle_id, name, zone, people, released, by, blocked)


@dataclass
class CycleRow:
    cycle_id: str
    name: str
    status: str
    period: str
    participants: int
    created_at: datetime
    started_at: datetime | None
    results_released_at: datetime | None


async def cycles(conn: AsyncConnection) -> list[CycleRow]:
    return [CycleRow(*r) for r in await (await conn.execute(
        """SELECT id, name, status, period_label, participant_count, created_at, started_at, results_released_at
           FROM review_cycle ORDER BY created_at DESC, id LIMIT 500"""
    )).fetchall()]


async def reviewers(conn: AsyncConnection, cycle_id: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """(employee, name, reviewer, scoring task status, reviewer's name) of every participant, for the
    reassignment form."""
    return await (await conn.execute(
        """SELECT r.employee_id, e.name, r.reviewer_id, t.status, m.name
           FROM review r JOIN employee e ON e.id = r.employee_id
           LEFT JOIN employee m ON m.id = r.reviewer_id
           LEFT JOIN task t ON t.review_id = r.id AND t.kind = 'manager_scoring'
           WHERE r.cycle_id = %s ORDER BY r.seq""",
        (cycle_id,),
    )).fetchall()


# -- who is late, by name (the dashboard) -----------------------------------------------------------

LATE_STATES = ("missed", "overdue", "grace")


@dataclass
class LateTask:
    """One piece of work past its deadline: closed without it (missed), past due and still open (overdue),
    or past the first deadline inside the extension the cycle's policy grants (grace)."""

    task_id: str
    kind: str
    state: str  # missed | overdue | grace
    assignee_type: str  # employee | contact
    assignee_id: str
    assignee_name: str | None
    employee_id: str
    employee_name: str
    manager_id: str | None
    manager_name: str | None
    due_at: datetime  # the deadline now in force (an extension moves it)
    original_due_at: datetime  # the phase's first deadline for this task
    extensions: int
    overdue_by: timedelta  # since the first deadline


@dataclass
class ManagerLate:
    manager_id: str | None
    manager_name: str | None
    by_phase: dict[str, int]
    total: int


@dataclass
class LateWork:
    tasks: list[LateTask]
    by_phase: dict[str, dict[str, int]]  # phase -> state -> count
    by_manager: list[ManagerLate]
    phase_due: dict[str, datetime | None]  # phase -> its deadline (None before the cycle starts)
    total: int


async def late_work(conn: AsyncConnection, cycle_id: str, now: datetime | None = None, limit: int = 500) -> LateWork:
    """Everyone whose work is late in a cycle, by name, with counts per phase and per manager.

    Missed tasks count: a phase closed at its deadline leaves them ``missed``, not open, and they are
    the late work HR most needs to see. Counts cover every task; the list stops at ``limit`` rows.
    """
    from domain.phases import PHASES
    from services.people import cycle_config

    now = now or datetime.now(UTC)
    row = await (await conn.execute("SELECT started_at FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    started = row[0]
    config = await cycle_config(conn, cycle_id)
    rows = await (await conn.execute(
        """SELECT t.id, t.kind, t.status, t.assignee_type, t.assignee_id, COALESCE(ae.name, ac.name),
                  r.employee_id, se.name, r.reviewer_id, me.name, t.due_at, t.extensions
           FROM task t JOIN review r ON r.id = t.review_id JOIN employee se ON se.id = r.employee_id
           LEFT JOIN employee ae ON t.assignee_type = 'employee' AND ae.id = t.assignee_id
           LEFT JOIN customer_contact ac ON t.assignee_type = 'contact' AND ac.id = t.assignee_id
           LEFT JOIN employee me ON me.id = r.reviewer_id
           WHERE t.cycle_id = %s AND t.kind = ANY(%s)
             AND (t.status = 'missed' OR (t.status = 'open' AND (t.due_at < %s OR t.extensions > 0)))
           ORDER BY t.due_at, t.id""",
        # Every cycle's phases only: late peer feedback is never listed by name (it would say who answered).
        (cycle_id, list(PHASES), now),
    )).fetchall()
    tasks: list[LateTask] = []
    by_phase: dict[str, dict[str, int]] = {}
    managers: dict[str | None, ManagerLate] = {}
    for task_id, kind, status, a_type, a_id, a_name, emp, emp_name, mgr, mgr_name, due, extensions in rows:
        policy = getattr(config.phases, kind).on_deadline
        step = policy.extend_by if policy.action == "extend" and policy.extend_by else timedelta(0)
        original = due - step * extensions
        state = "missed" if status == "missed" else ("grace" if extensions and due >= now else "overdue")
        by_phase.setdefault(kind, dict.fromkeys(LATE_STATES, 0))[state] += 1
        entry = managers.setdefault(mgr, ManagerLate(mgr, mgr_name, {}, 0))
        entry.by_phase[kind] = entry.by_phase.get(kind, 0) + 1
        entry.total += 1
        if len(tasks) < limit:
            tasks.append(LateTask(task_id, kind, state, a_type, a_id, a_name, emp, emp_name, mgr, mgr_name, due,
                                  original, extensions, max(now - original, timedelta(0))))
    phase_due: dict[str, datetime | None] = {}
    for kind in PHASES:
        phase = getattr(config.phases, kind)
        phase_due[kind] = phase.due or (started + phase.due_after if started and phase.due_after else None)
    return LateWork(tasks, by_phase, sorted(managers.values(), key=lambda m: (-m.total, m.manager_name or "")),
                    phase_due, len(rows))

