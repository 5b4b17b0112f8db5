"""KPI targets per KAM and period from a CSV file (``TARGETS.csv``): the denominators of sales attainment and new
customer acquisition. The same RecordSet seam as every other source: read here, validated and written by the
shared steps, so a CRM that keeps targets only needs a reader filling ``RecordSet.targets``.

    employee_id,period,kpi_id,target,currency
    K01,2026-Q3,sales_attainment,2500000,CNY
    K01,2026-Q3,new_customer_acquisition,2,
"""

from __future__ import annotations

from pathlib import Path

from domain.errors import DomainError
from domain.kpis import TARGET_KPIS, parse_period
from domain.text import tr
from services.imports.cells import read_csv
from services.imports.issues import Issues
from services.imports.pipeline import plan_records, write_records
from services.imports.preview import ImportPreview, build_preview
from services.imports.records import KpiTargetRecord, RecordSet
from services.imports.writer import ImportSummary

COLUMNS = ("employee_id", "period", "kpi_id", "target", "currency")
REQUIRED = ("employee_id", "period", "kpi_id", "target")


def read_targets(path: Path, issues: Issues) -> RecordSet:
    """The targets file as a RecordSet (problems go to ``issues``)."""
    records = RecordSet(org_file=None, source="targets")
    for row in read_csv(path, COLUMNS, REQUIRED, issues) or []:
        employee_id = row.ident("employee_id", required=True)
        period = row.text("period", required=True)
        if period is not None:
            try:
                period = parse_period(period).label
            except DomainError as err:
                row.error("period", err.as_text())  # type: ignore[arg-type]
                period = None
        kpi_id = row.choice("kpi_id", TARGET_KPIS, lambda value, allowed: tr(
            "KPI '%(value)s' has no target (targets are for: %(allowed)s)", value=value, allowed=allowed))
        target = row.decimal("target", places=4, int_digits=16)
        if target is not None and target == 0:
            row.error("target", tr("a target must be above 0 (a KPI without a target gets no figure)"))
            target = None
        currency = row.currency("currency", default="") or None
        if kpi_id == "new_customer_acquisition":
            if currency is not None:
                row.error("currency", tr("new_customer_acquisition counts accounts; leave its currency empty"))
            if target is not None and target != target.to_integral_value():
                row.error("target", tr("new_customer_acquisition counts accounts: the target must be a whole number"))
        if employee_id is None or period is None or kpi_id is None:
            continue
        key = (employee_id, period, kpi_id)
        if key in records.targets:
            row.error("kpi_id", tr(
                "duplicate target for employee '%(employee)s', period '%(period)s', KPI '%(kpi)s' (also on line "
                "%(line)s)", employee=employee_id, period=period, kpi=kpi_id, line=str(records.targets[key].line)))
            continue
        records.targets[key] = KpiTargetRecord(path.name, row.line, employee_id, period, kpi_id, target, currency)
    return records


def preview_targets(database_url: str, path: Path) -> ImportPreview:
    """What importing the targets file would change; writes nothing (raises ImportFailed on any problem)."""
    issues = Issues([path.name])
    records = read_targets(path, issues)
    return build_preview("targets", [path.name], plan_records(database_url, records, issues), records)


def import_targets(database_url: str, path: Path, actor: str) -> ImportSummary:
    """Validate the targets file completely, then write it in one transaction, every change audited."""
    issues = Issues([path.name])
    return write_records(database_url, read_targets(path, issues), issues, actor)
