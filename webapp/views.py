"""Service results → API response models (kept in one place so pages and API show the same data)."""

from __future__ import annotations

from dataclasses import asdict

from i18n import Formatter
from services.hr_views import CalibrationView
from services.payout_approval import ApprovalView
from services.people import ManagerScore, Results, TaskRow
from webapp.schemas import (
    ApprovalLineOut,
    ApprovalOut,
    ApprovalPersonOut,
    ApprovalTotalOut,
    CalibrationOut,
    KpiRecordOut,
    KpiSourceOut,
    ManagerScoreOut,
    PayoutOut,
    PreviousCycleOut,
    ResultsOut,
    ScoreLineOut,
    TaskOut,
)


def task_out(t: TaskRow) -> TaskOut:
    return TaskOut(task_id=t.task_id, cycle_id=t.cycle_id, cycle_name=t.cycle_name, kind=t.kind,
                   employee_id=t.subject_employee_id, employee_name=t.subject_name, due_at=t.due_at,
                   status=t.status, overdue=t.overdue, completed_at=t.completed_at)


def manager_score_out(score: ManagerScore | None, with_potential: bool = True) -> ManagerScoreOut | None:
    if score is None:
        return None
    return ManagerScoreOut(ratings=score.ratings, comments=score.comments,
                           potential=score.potential if with_potential else None,
                           scored_by=score.scored_by, submitted_at=score.submitted_at)


def results_out(r: Results, fmt: Formatter | None = None) -> ResultsOut:
    """The results with each line's sentence in the reader's language (English without a reader)."""
    fmt = fmt or Formatter("en", r.timezone)
    return ResultsOut(
        cycle_id=r.cycle_id, cycle_name=r.cycle_name, period=r.period, released_at=r.released_at,
        final_level=r.final_level, final_label=r.final_label, preliminary_score=r.preliminary_score,
        lines=[ScoreLineOut(component=ln.component, item=ln.item, label=ln.label, actual=ln.actual, score=ln.score,
                            weight_pct=ln.weight_pct, contribution=ln.contribution,
                            sentence=fmt.text(ln.text) if ln.text else None, detail=ln.detail) for ln in r.lines],
        manager_score=manager_score_out(r.manager, with_potential=False),
        csat_pct=r.csat_pct, csat_responses=r.csat_responses,
        payouts=[PayoutOut(line_type=p.line_type, amount=p.amount, currency=p.currency, explanation=p.explanation,
                           sentence=fmt.text(p.text) if p.text else None, measures=[fmt.text(m) for m in p.measures])
                 for p in r.payouts],
        kpi_sources=[KpiSourceOut(kpi_id=k.kpi_id, value=k.value, scored_value=k.scored_value, corrected=k.corrected,
                                  numerator=k.numerator, denominator=k.denominator, computed=k.computed,
                                  records=[KpiRecordOut.model_validate(rec) for rec in k.records])
                     for k in r.kpi_sources if k.computed],
    )


def calibration_out(v: CalibrationView) -> CalibrationOut:
    report = v.report
    return CalibrationOut(
        cycle_id=v.cycle_id, status=v.status,
        levels=[lv.model_dump() for lv in report.levels] if report else [],
        managers=[m.model_dump() for m in report.managers] if report else [],
        guideline_bias=[{**b.model_dump(exclude={"notes"}), "notes": [str(n) for n in b.notes]}
                        for b in v.guideline_bias],
        guideline_bias_pp=v.guideline_bias_pp, guideline_bias_declared=v.guideline_bias_declared,
        within_guideline=report.within_guideline if report else True,
        violations=list(report.violations) if report else [],
        nine_box={cell.key: cell.employees for row in v.grid for cell in row},
        ratings=[{k: val for k, val in asdict(r).items() if k != "finalized"} for r in v.ratings],
        adjustments=[asdict(a) for a in v.adjustments], finalized=v.finalized, unrated=v.unrated, names=v.names,
        reopened=v.reopened,
    )


def approval_out(v: ApprovalView) -> ApprovalOut:
    return ApprovalOut(
        cycle_id=v.cycle_id, name=v.name, period=v.period, status=v.status, plan_id=v.plan_id, revision=v.revision,
        awaiting=v.awaiting, lines=[ApprovalLineOut(**asdict(ln)) for ln in v.lines],
        people=[ApprovalPersonOut(**asdict(p)) for p in v.people],
        totals=[ApprovalTotalOut(**asdict(t)) for t in v.totals],
        previous_cycle=PreviousCycleOut(**asdict(v.previous)) if v.previous else None,
        approved_by=v.approved_by, approved_at=v.approved_at,
    )
