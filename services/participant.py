"""One participant of one cycle, everything in one place: for HR and for the calibration committee.

Who may read it (decided here, so the page and the API cannot differ):
- HR: every participant of every cycle.
- The calibration committee: a manager, for a participant in their own reporting line (the participant's
  manager, or that manager's manager, and so on up the org chart) or whose review they hold as reviewer, while
  the cycle is in calibration. That is when managers compare ratings across teams; before it the scores are
  still being written, after it the ratings are final and only HR needs the detail. Never their own page.
Everyone else gets the same NotFound as for a participant that does not exist, so existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from psycopg import AsyncConnection

from activities.reviews import answer_sets
from domain.calibration import NINE_BOX_NAMES
from domain.phases import PHASE_BY_KEY, PhaseDefinition
from domain.scoring import SurveyAnswer, csat
from domain.text import Text, tr
from services.errors import NotFound
from services.kpi_sources import SOURCES_SQL, source_views
from services.people import ManagerScore, cycle_config, manager_score, score_line_views
from services.survey_stats import NpsSummary, review_nps
from services.users import SessionUser

#: KPIs whose actual is already a ratio to its target (revenue / revenue target, new accounts / target accounts).
RATIO_KPIS = frozenset({"sales_attainment", "new_customer_acquisition"})
#: KPIs where less is better: attainment against a target does not apply.
LOWER_IS_BETTER = frozenset({"complaint_rate"})
#: How far up the org chart the reporting line is followed (a guard against a cycle in imported data).
MAX_DEPTH = 50


async def display_names(conn: AsyncConnection, ids: set[str] | list[str]) -> dict[str, str]:
    """The name people know for each id: an employee, a sign-in's display name, or a customer contact."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await (await conn.execute(
        """SELECT x.id, COALESCE(e.name, u.display_name, c.name)
           FROM unnest(%s::text[]) AS x(id) LEFT JOIN employee e ON e.id = x.id
           LEFT JOIN web_user u ON u.username = x.id LEFT JOIN customer_contact c ON c.id = x.id""",
        (wanted,))).fetchall()
    return {i: name for i, name in rows if name}


def not_found(cycle_id: str, employee_id: str) -> NotFound:
    return NotFound(tr("There is no participant %(employee)s in cycle %(cycle)s.", employee=employee_id,
                       cycle=cycle_id))


async def may_view(conn: AsyncConnection, cycle_id: str, employee_id: str, viewer: SessionUser) -> bool:
    """HR always; a manager as member of the calibration committee (see the module docstring)."""
    if "hr" in viewer.roles:
        return True
    me = viewer.employee_id
    if "manager" not in viewer.roles or not me or me == employee_id:
        return False
    row = await (await conn.execute(
        """WITH RECURSIVE chain(id, manager_id, depth) AS (
               SELECT id, manager_id, 0 FROM employee WHERE id = %(emp)s
               UNION ALL
               SELECT e.id, e.manager_id, c.depth + 1 FROM employee e JOIN chain c ON e.id = c.manager_id
               WHERE c.depth < %(depth)s)
           SELECT c.status = 'calibration'
                  AND (r.reviewer_id = %(me)s OR EXISTS (SELECT 1 FROM chain WHERE manager_id = %(me)s))
           FROM review r JOIN review_cycle c ON c.id = r.cycle_id
           WHERE r.cycle_id = %(cycle)s AND r.employee_id = %(emp)s""",
        {"emp": employee_id, "cycle": cycle_id, "me": me, "depth": MAX_DEPTH})).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class CommitteeEntry:
    cycle_id: str
    cycle_name: str
    employee_id: str
    name: str


async def committee_participants(conn: AsyncConnection, viewer: SessionUser) -> list[CommitteeEntry]:
    """Whose participant pages a manager may open now (what ``may_view`` allows): the people in their reporting
    line, and the reviews they score, in cycles that are in calibration."""
    me = viewer.employee_id
    if "manager" not in viewer.roles or not me:
        return []
    rows = await (await conn.execute(
        """WITH RECURSIVE line(id, depth) AS (
               SELECT id, 1 FROM employee WHERE manager_id = %(me)s
               UNION ALL
               SELECT e.id, l.depth + 1 FROM employee e JOIN line l ON e.manager_id = l.id WHERE l.depth < %(depth)s)
           SELECT DISTINCT c.id, c.name, r.employee_id, e.name
           FROM review r JOIN review_cycle c ON c.id = r.cycle_id JOIN employee e ON e.id = r.employee_id
           WHERE c.status = 'calibration' AND r.employee_id <> %(me)s
             AND (r.reviewer_id = %(me)s OR r.employee_id IN (SELECT id FROM line))
           ORDER BY c.id, e.name, r.employee_id""", {"me": me, "depth": MAX_DEPTH})).fetchall()
    return [CommitteeEntry(*r) for r in rows]


@dataclass
class Person:
    id: str
    name: str


@dataclass
class CompetencyRow:
    id: str
    label: str
    weight: Decimal
    self_rating: int | None
    evidence: str | None
    manager_rating: int | None
    manager_comment: str | None


@dataclass
class KpiRecordRow:
    """A CRM record behind a KPI figure (services.kpis): a deal, order, case or account and what it did there."""

    id: str
    kind: str
    role: str  # counted | excluded | denominator | retained | lost | gained
    amount: Decimal | None = None
    currency: str | None = None
    on: str | None = None
    via: str | None = None
    reason: str | None = None


@dataclass
class KpiRow:
    id: str
    label: str
    value: Decimal | None  # the actual
    target: Decimal | None
    attainment: Decimal | None  # actual / target, a ratio (1 = 100 %)
    lower_is_better: bool
    weight: Decimal
    score: Decimal | None
    comment: str | None  # the KAM's own comment on the result
    manager_comment: str | None
    scored_value: Decimal | None = None  # what the score used when the review closed, when a correction changed it
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    computed: bool = False  # from the CRM records (False: entered by hand, or not there)
    records: list[KpiRecordRow] = field(default_factory=list)


@dataclass
class SurveyRow:
    contact: Person
    account: str
    status: str  # sent | answered | expired
    satisfaction: int | None
    nps: int | None
    comment: str | None
    answered_at: datetime | None


@dataclass
class AnswerRow:
    """One question of a phase defined in the registry, as answered: its name in both languages (the definition's)."""

    question: str
    labels: dict[str, str]  # language -> the question as its definition words it
    rating: int | None
    comment: str | None


@dataclass
class AnswerSet:
    """One submission's answers to a registry-only phase (one per person asked in a per-person phase)."""

    submitted_by: Person | None  # None where the phase's answers are anonymous (peers)
    submitted_at: datetime | None
    answers: list[AnswerRow]


@dataclass
class PhaseAnswers:
    """A phase the cycle adds through the registry (``added_phases``): its stored answers, read through its Storage."""

    phase: str
    labels: dict[str, str]  # language -> the phase's name
    status: str | None  # its task's status (the first one's, in a per-person phase); None: no task
    scale_min: int
    scale_max: int
    sets: list[AnswerSet]
    reopenable: bool = False  # HR may reopen it (its Storage says which rows a resubmission replaces)


@dataclass
class CsatSummary:
    responses: int
    satisfied: int
    csat_pct: Decimal | None
    ci_low: Decimal | None
    ci_high: Decimal | None
    nps: Decimal | None
    below_minimum: bool
    weighted: bool
    min_responses: int
    nps_interval: NpsSummary | None = None  # the NPS with its adjusted-Wald interval, against the company's


@dataclass
class ScoreLineRow:
    component: str
    item: str
    label: str
    actual: Decimal | None
    item_score: Decimal | None
    weight_pct: Decimal | None
    contribution: Decimal | None
    explanation: str


@dataclass
class AdjustmentEntry:
    employee_id: str
    from_level: int | None
    to_level: int
    reason: str
    actor: str
    actor_name: str
    adjusted_at: datetime


@dataclass
class ReassignmentEntry:
    from_reviewer: Person | None
    to_reviewer: Person
    reason: str | None
    actor: Person
    at: datetime


@dataclass
class AuditEntry:
    at: datetime
    actor: Person
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any]


@dataclass
class Participant:
    cycle_id: str
    cycle_name: str
    period: str
    cycle_status: str
    timezone: str
    employee_id: str
    name: str
    manager_id: str | None
    manager: Person | None
    reviewer: Person | None
    review_status: str
    preliminary_score: Decimal | None
    missing: list[str]
    normalized_score: Decimal | None
    suggested_level: int | None
    final_level: int | None
    final_label: str | None
    potential: int | None
    nine_box: str | None
    nine_box_name: str | None
    note: str | None  # how normalization treated the score
    finalized: bool
    self_review_status: str | None
    self_submitted_at: datetime | None
    scale_min: int
    scale_max: int
    competencies: list[CompetencyRow]
    kpis: list[KpiRow]
    manager_score: ManagerScore | None
    scored_by: Person | None
    survey: list[SurveyRow]
    csat: CsatSummary | None
    score_lines: list[ScoreLineRow]
    score_notes: list[str]
    adjustments: list[AdjustmentEntry] = field(default_factory=list)
    reassignments: list[ReassignmentEntry] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    score_sentences: list[Text] = field(default_factory=list)  # each score line as a KAM reads it (domain.sentences)
    phase_answers: list[PhaseAnswers] = field(default_factory=list)  # the phases the cycle adds through the registry


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


async def participant(conn: AsyncConnection, cycle_id: str, employee_id: str, viewer: SessionUser) -> Participant:
    """Everything about one participant; NotFound unless ``viewer`` may see it (HR, or the committee)."""
    if not await may_view(conn, cycle_id, employee_id, viewer):
        raise not_found(cycle_id, employee_id)
    row = await (await conn.execute(
        """SELECT r.id, c.name, c.period_label, c.status, c.timezone, e.name, e.manager_id, r.reviewer_id, r.status,
                  r.preliminary_score, r.score_breakdown, r.missing, cr.normalized_score, cr.suggested_level,
                  cr.final_level, cr.potential, cr.nine_box, cr.note, COALESCE(cr.finalized, false)
           FROM review r JOIN review_cycle c ON c.id = r.cycle_id JOIN employee e ON e.id = r.employee_id
           LEFT JOIN calibrated_rating cr ON cr.review_id = r.id
           WHERE r.cycle_id = %s AND r.employee_id = %s""", (cycle_id, employee_id))).fetchone()
    if row is None:
        raise not_found(cycle_id, employee_id)
    (review_id, cycle_name, period, cycle_status, zone, name, manager_id, reviewer_id, review_status, prelim,
     breakdown, missing, normalized, suggested, final, potential, box, note, finalized) = row
    config = await cycle_config(conn, cycle_id)
    card = config.scorecard
    breakdown = breakdown or {}

    self_ratings: dict[str, int] = {}
    evidence: dict[str, str] = {}
    kpi_comments: dict[str, str] = {}
    self_at: datetime | None = None
    for item, rating, comment, at in await (await conn.execute(
            "SELECT item_id, rating, comment, submitted_at FROM self_review_answer WHERE review_id = %s",
            (review_id,))).fetchall():
        self_at = at
        if item.startswith("kpi:"):
            if comment:
                kpi_comments[item[4:]] = comment
            continue
        if rating is not None:
            self_ratings[item] = rating
        if comment:
            evidence[item] = comment
    self_status = await (await conn.execute(
        "SELECT status FROM task WHERE review_id = %s AND kind = 'self_review'", (review_id,))).fetchone()
    score = await manager_score(conn, review_id)
    mgr_ratings = score.ratings if score else {}
    mgr_comments = score.comments if score else {}

    comp = card.competencies
    competencies = [CompetencyRow(c.id, c.label(), c.weight, self_ratings.get(c.id), evidence.get(c.id),
                                  mgr_ratings.get(c.id), mgr_comments.get(c.id))
                    for c in comp.items] if comp else []

    lines = [ScoreLineRow(ln.get("component", ""), ln.get("item", ""), ln.get("label", ln.get("item", "")),
                          _dec(ln.get("actual")), _dec(ln.get("item_score")), _dec(ln.get("weight_pct")),
                          _dec(ln.get("contribution")), ln.get("explanation", ""))
             for ln in breakdown.get("lines", [])]
    kpi_scores = {ln.item: ln.item_score for ln in lines if ln.component == "kpis"}
    source_rows = await (await conn.execute(SOURCES_SQL, (employee_id, period))).fetchall()
    actuals = {r[0]: r[1] for r in source_rows}
    sources = {v.kpi_id: v for v in source_views(source_rows, breakdown, [k.id for k in card.kpis])}
    bonus = config.incentive_plan.bonus
    # The plan's target for the measure when it names one (a piecewise curve does not): attainment = actual / target.
    plan_targets = {m.id: getattr(m.curve, "target", None) for m in (bonus.measures if bonus else ())}
    kpis = []
    for k in card.kpis:
        value = actuals.get(k.id)
        target = plan_targets.get(k.id) or (Decimal(1) if k.id in RATIO_KPIS else None)
        lower = k.id in LOWER_IS_BETTER
        attainment = value / target if value is not None and target and not lower else None
        src = sources.get(k.id)
        kpis.append(KpiRow(
            k.id, k.label(), value, None if lower else target, attainment, lower, k.weight, kpi_scores.get(k.id),
            kpi_comments.get(k.id), mgr_comments.get(k.id),
            src.scored_value if src is not None and src.corrected else None,
            src.numerator if src else None, src.denominator if src else None, bool(src and src.computed),
            [KpiRecordRow(r["id"], r["kind"], r["role"], _dec(r.get("amount")), r.get("currency"), r.get("on"),
                          r.get("via"), r.get("reason")) for r in (src.records if src else [])]))

    survey_rows = await (await conn.execute(
        """SELECT i.contact_id, c.name, a.name, i.status, s.satisfaction, s.nps, s.comment, s.answered_at,
                  a.annual_revenue, i.account_id
           FROM survey_invitation i JOIN customer_contact c ON c.id = i.contact_id
           JOIN key_account a ON a.id = i.account_id LEFT JOIN survey_response s ON s.invitation_id = i.id
           WHERE i.review_id = %s ORDER BY a.name, c.name, i.contact_id""", (review_id,))).fetchall()
    survey = [SurveyRow(Person(cid, cname), account, "answered" if sat is not None else status, sat, nps, comment,
                        answered) for cid, cname, account, status, sat, nps, comment, answered, _, _ in survey_rows]
    cs = card.csat
    stored = breakdown.get("csat")
    if stored:  # what the score used
        summary = CsatSummary(int(stored.get("responses") or 0), int(stored.get("satisfied") or 0),
                              _dec(stored.get("csat_pct")), _dec(stored.get("ci_low")), _dec(stored.get("ci_high")),
                              _dec(stored.get("nps")), bool(stored.get("below_minimum")), bool(stored.get("weighted")),
                              cs.min_responses if cs else 0)
    else:  # the review is still open: the answers so far
        answers = [SurveyAnswer(account_id=acc, satisfaction=sat, nps=nps, account_revenue=rev)
                   for _, _, _, _, sat, nps, _, _, rev, acc in survey_rows if sat is not None]
        result = csat(answers, cs.revenue_weighted if cs else False, cs.min_responses if cs else 0)
        summary = CsatSummary(result.responses, result.satisfied, result.csat_pct, result.ci_low, result.ci_high,
                              result.nps, result.below_minimum, result.weighted, cs.min_responses if cs else 0)
    summary.nps_interval = await review_nps(conn, cycle_id, review_id, cs.min_responses if cs else 0)
    csat_summary = summary if (survey or summary.responses) else None

    audit_rows = await (await conn.execute(
        """SELECT occurred_at, actor, action, entity_type, entity_id, before, after FROM audit_log
           WHERE entity_id = %s OR starts_with(entity_id, %s) ORDER BY occurred_at, id""",
        (review_id, review_id + ":"))).fetchall()
    adjustments_rows = await (await conn.execute(
        """SELECT from_level, to_level, reason, actor, adjusted_at FROM rating_adjustment
           WHERE review_id = %s ORDER BY adjusted_at, id""", (review_id,))).fetchall()
    added = [PHASE_BY_KEY[key] for key in (config.added_phases or {}) if key in PHASE_BY_KEY]
    stored = {d.key: await _answer_sets(conn, d, review_id) for d in added}
    statuses = dict(await (await conn.execute(
        "SELECT DISTINCT ON (kind) kind, status FROM task WHERE review_id = %s AND kind = ANY(%s) ORDER BY kind, id",
        (review_id, [d.key for d in added]))).fetchall()) if added else {}
    ids = {manager_id, reviewer_id, score.scored_by if score else None}
    ids |= {who for sets in stored.values() for who, _, _ in sets}
    ids |= {r[1] for r in audit_rows} | {a[3] for a in adjustments_rows}
    reassigned = [r for r in audit_rows if r[2] == "review.reviewer_reassigned"]
    for r in reassigned:
        ids |= {(r[5] or {}).get("reviewer_id"), (r[6] or {}).get("reviewer_id")}
    names = await display_names(conn, [i for i in ids if i])

    def person(pid: str | None) -> Person | None:
        return Person(pid, names.get(pid, pid)) if pid else None

    label = next((lv.label for lv in config.calibration.levels if lv.level == final), None)
    return Participant(
        cycle_id=cycle_id, cycle_name=cycle_name, period=period, cycle_status=cycle_status, timezone=zone,
        employee_id=employee_id, name=name, manager_id=manager_id, manager=person(manager_id), reviewer=person(reviewer_id),
        review_status=review_status, preliminary_score=prelim, missing=list(missing or []),
        normalized_score=normalized, suggested_level=suggested, final_level=final, final_label=label,
        potential=potential, nine_box=box, nine_box_name=NINE_BOX_NAMES.get(box) if box else None,
        note=note, finalized=bool(finalized),
        self_review_status=self_status[0] if self_status else ("done" if self_at else None), self_submitted_at=self_at,
        scale_min=comp.scale.min if comp else 1, scale_max=comp.scale.max if comp else 3,
        competencies=competencies, kpis=kpis, manager_score=score,
        scored_by=person(score.scored_by) if score else None, survey=survey, csat=csat_summary,
        score_lines=lines, score_notes=list(breakdown.get("notes", [])),
        score_sentences=[v.text for v in score_line_views(breakdown, card) if v.text is not None],
        adjustments=[AdjustmentEntry(employee_id, f, t, reason, actor, names.get(actor, actor), at)
                     for f, t, reason, actor, at in adjustments_rows],
        reassignments=[ReassignmentEntry(person((r[5] or {}).get("reviewer_id")),
                                         person((r[6] or {}).get("reviewer_id")) or Person("", ""),
                                         (r[6] or {}).get("reason"), person(r[1]) or Person("", ""), r[0])
                       for r in reassigned],
        audit=[AuditEntry(at, person(actor) or Person("", ""), action, etype, eid, _details(action, after or {}))
               for at, actor, action, etype, eid, _before, after in audit_rows],
        phase_answers=[PhaseAnswers(
            d.key, {lang: d.label(lang) for lang in LANGUAGES}, statuses.get(d.key), d.scale[0], d.scale[1],
            [AnswerSet(None if d.assignees == "peers" else person(who), at, answers)
             for who, at, answers in stored[d.key]],
            d.storage is not None and d.storage.replaced_by is not None) for d in added],
    )


LANGUAGES = ("en", "zh-CN")


async def _answer_sets(conn: AsyncConnection, definition: PhaseDefinition,
                       review_id: str) -> list[tuple[str | None, datetime | None, list[AnswerRow]]]:
    """A registry-only phase's stored answers for one review, per submission (who, when, each question), through its
    Storage (activities.reviews.answer_sets); its questions in the definition's order, named in both languages."""
    if definition.storage is None or not definition.storage.per_item:
        return []
    sets: dict[Any, tuple[str | None, datetime | None, dict[str, AnswerRow]]] = {}
    for group, who, at, item, rating, comment in await (await conn.execute(
            answer_sets(definition), (review_id,))).fetchall():
        entry = sets.setdefault(group, (who, at, {}))
        entry[2][item] = AnswerRow(item, {lang: definition.question_label(item, lang) for lang in LANGUAGES},
                                   rating, comment)
    order = {q: i for i, q in enumerate(definition.questions)}
    return [(who, at, sorted(rows.values(), key=lambda r: (order.get(r.question, len(order)), r.question)))
            for who, at, rows in sets.values()]


def _details(action: str, after: dict[str, Any]) -> dict[str, Any]:
    """What an audit row adds that a person reads (a reason, a level, a score); not its internal digests."""
    keep = ("reason", "final_level", "reviewer_id", "preliminary_score", "potential", "due_at", "missing")
    return {k: after[k] for k in keep if k in after and after[k] not in (None, [], "")}
