"""The project's own three CSV files (docs/import-formats.md): ORG.csv, ACCOUNTS.csv, KPIS.csv."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from domain.text import Text, tr
from services.imports.cells import Cells, read_csv
from services.imports.issues import Issues
from services.imports.records import AccountRecord, ContactRecord, EmployeeRecord, KpiRecord, RecordSet

ORG_COLUMNS = (
    "employee_id", "name", "email", "role", "manager_id", "grade", "currency", "timezone", "hire_date",
    "termination_date",
    # How a person is reached (all optional, so files without them keep working): their language, a mobile
    # number and chat user ids for group-bot @-mentions, and the channels to use (e.g. "email;wecom").
    "locale", "mobile", "channels", "wecom_id", "dingtalk_id", "feishu_id",
    # Where a person sits, for choosing a cycle's participants (optional too).
    "region", "cost_centre",
)
CHANNELS = ("email", "wecom", "dingtalk", "feishu")
_MOBILE = re.compile(r"\+?[0-9][0-9 -]{5,19}")
ORG_REQUIRED = ("employee_id", "name", "role")
ACCOUNT_COLUMNS = (
    "account_id", "account_name", "kam_id", "annual_revenue", "currency", "contact_id", "contact_name",
    "contact_email", "contact_locale",
)
ACCOUNT_REQUIRED = ("account_id", "account_name", "kam_id", "annual_revenue")
CONTACT_COLUMNS = ("contact_id", "contact_name", "contact_email", "contact_locale")
KPI_COLUMNS = ("employee_id", "period", "kpi_id", "value")
KPI_REQUIRED = KPI_COLUMNS

ROLES = ("kam", "manager", "hr", "payroll", "other")
KPI_IDS = ("sales_attainment", "new_customer_acquisition", "customer_retention", "complaint_rate", "revenue")


def read(org: Path, accounts: Path, kpis: Path, issues: Issues) -> RecordSet:
    """The three files as one RecordSet (problems go to ``issues``)."""
    records = RecordSet(org_file=org.name, account_file=accounts.name, kpi_file=kpis.name)
    _read_org(org, records, issues)
    _read_accounts(accounts, records, issues)
    _read_kpis(kpis, records, issues)
    return records


def _read_org(path: Path, records: RecordSet, issues: Issues) -> None:
    rows = read_csv(path, ORG_COLUMNS, ORG_REQUIRED, issues)
    records.org_usable = rows is not None
    for row in rows or []:
        employee_id = row.ident("employee_id", required=True)
        name = row.text("name", required=True)
        email = row.email("email")
        role = row.choice("role", ROLES, lambda value, allowed: tr(
            "unknown role '%(value)s' (expected one of: %(allowed)s)", value=value, allowed=allowed))
        manager_id = row.ident("manager_id")
        grade = row.text("grade")
        currency = row.currency("currency")
        timezone = row.timezone("timezone")
        hire_date = row.date("hire_date")
        termination_date = row.date("termination_date")
        reach = _reach(row)
        region = _label(row, "region")
        cost_centre = _label(row, "cost_centre")
        if hire_date and termination_date and termination_date < hire_date:
            row.error("termination_date", tr("termination_date %(left)s is before hire_date %(hired)s",
                                             left=str(termination_date), hired=str(hire_date)))
        if role == "kam" and not row.cells.get("manager_id"):
            row.error("manager_id", tr("KAM '%(kam)s' has no manager (manager_id is required for KAMs)",
                                       kam=employee_id or "?"))
        if employee_id and manager_id == employee_id:
            row.error("manager_id", tr("employee '%(employee)s' cannot be their own manager", employee=employee_id))
            manager_id = None
        if employee_id is None:
            continue
        if employee_id in records.employees:
            first = records.employees[employee_id].line
            row.error("employee_id", tr("duplicate employee_id '%(employee)s' (also on line %(line)s)",
                                        employee=employee_id, line=str(first)))
            continue
        records.employees[employee_id] = EmployeeRecord(
            row.line, employee_id, name, email, role, manager_id, grade, currency, timezone, hire_date,
            termination_date, **reach, region=region, cost_centre=cost_centre,
        )


LABEL_MAX = 100


def _label(row: Cells, column: str) -> str | None:
    """A region or cost centre: free text that cycle configurations name exactly, so kept short and on one line."""
    value = row.text(column)
    if value is not None and (len(value) > LABEL_MAX or "\n" in value or "\r" in value):
        row.error(column, tr("%(column)s must be one line of at most %(max)s characters", column=column,
                             max=str(LABEL_MAX)))
        return None
    return value


def _reach(row: Cells) -> dict[str, Any]:
    """How a person wants to be reached; e-mail when the file does not say."""
    mobile = row.text("mobile")
    if mobile is not None and not _MOBILE.fullmatch(mobile):
        row.error("mobile", tr("invalid mobile number '%(value)s' (digits, optionally with + and spaces)",
                               value=mobile))
    channels = [c.strip().lower() for c in re.split(r"[;,/ ]+", row.text("channels") or "email") if c.strip()]
    if unknown := [c for c in channels if c not in CHANNELS]:
        row.error("channels", tr("unknown channel '%(value)s' (expected some of: %(allowed)s, separated by ';')",
                                 value=unknown[0], allowed=", ".join(CHANNELS)))
    return {"locale": row.locale("locale"), "mobile": mobile, "channels": list(dict.fromkeys(channels)) or ["email"],
            "wecom_id": row.text("wecom_id"), "dingtalk_id": row.text("dingtalk_id"),
            "feishu_id": row.text("feishu_id")}


def _read_accounts(path: Path, records: RecordSet, issues: Issues) -> None:
    rows = read_csv(path, ACCOUNT_COLUMNS, ACCOUNT_REQUIRED, issues)
    records.accounts_usable = rows is not None
    for row in rows or []:
        account_id = row.ident("account_id", required=True)
        account = AccountRecord(
            row.line,
            account_id or "",
            row.text("account_name", required=True),
            row.ident("kam_id", required=True),
            row.decimal("annual_revenue", places=2, int_digits=16),
            row.currency("currency"),
            file=path.name,
        )
        if account_id is not None:
            first = records.accounts.setdefault(account_id, account)
            if first is not account:
                _compare_account_rows(row, first, account)
        if not any(row.cells.get(column) for column in CONTACT_COLUMNS):
            continue  # an account without contacts
        contact_id = row.ident("contact_id", required=True)
        contact = ContactRecord(
            row.line,
            contact_id or "",
            account_id or "",
            row.text("contact_name", required=True),
            row.email("contact_email"),
            row.locale("contact_locale"),
            file=path.name,
        )
        if contact_id is None:
            continue
        if contact_id in records.contacts:
            line = records.contacts[contact_id].line
            row.error("contact_id", tr("duplicate contact_id '%(contact)s' (also on line %(line)s)",
                                       contact=contact_id, line=str(line)))
            continue
        records.contacts[contact_id] = contact


def _compare_account_rows(row: Cells, first: AccountRecord, again: AccountRecord) -> None:
    """An account spans one row per contact; its own columns must say the same thing on each."""
    pairs = (
        ("account_name", first.name, again.name),
        ("kam_id", first.kam_id, again.kam_id),
        ("annual_revenue", first.annual_revenue, again.annual_revenue),
        ("currency", first.currency, again.currency),
    )
    for column, before, now in pairs:
        if before is not None and now is not None and before != now:
            row.error(column, tr(
                "account '%(account)s' has %(column)s '%(now)s' here but '%(before)s' on line %(line)s (an "
                "account's columns must agree on all its rows)",
                account=first.id, column=column, now=str(now), before=str(before), line=str(first.line)))


def _unknown_kpi(value: str, allowed: str) -> Text:
    return tr("unknown KPI '%(value)s' (expected one of: %(allowed)s)", value=value, allowed=allowed)


def _unknown_survey_kpi(value: str, allowed: str) -> Text:
    return tr("unknown KPI '%(value)s' (expected one of: %(allowed)s); customer_satisfaction comes from the "
              "customer survey and is not imported", value=value, allowed=allowed)


def _read_kpis(path: Path, records: RecordSet, issues: Issues) -> None:
    rows = read_csv(path, KPI_COLUMNS, KPI_REQUIRED, issues)
    records.kpis_usable = rows is not None
    for row in rows or []:
        employee_id = row.ident("employee_id", required=True)
        period = row.text("period", required=True)
        survey = row.cells.get("kpi_id", "").lower() == "customer_satisfaction"
        kpi_id = row.choice("kpi_id", KPI_IDS, _unknown_survey_kpi if survey else _unknown_kpi)
        value = row.decimal("value", places=6, int_digits=14)
        if employee_id is None or period is None or kpi_id is None:
            continue
        key = (employee_id, period, kpi_id)
        if key in records.kpis:
            line = records.kpis[key].line
            row.error("kpi_id", tr(
                "duplicate KPI row for employee '%(employee)s', period '%(period)s', KPI '%(kpi)s' (also on line "
                "%(line)s)", employee=employee_id, period=period, kpi=kpi_id, line=str(line)))
            continue
        records.kpis[key] = KpiRecord(row.line, employee_id, period, kpi_id, value)
