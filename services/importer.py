"""Import the organisation, key accounts and KPI actuals from three CSV files (see docs/import-formats.md).

HR exports these files from other systems, so the importer is strict and explains itself: every file is
parsed and validated completely before anything is written, every problem is reported as
``file:line:column: message``, and a file with any problem writes nothing at all. A valid import is one
transaction of upserts that leave unchanged rows untouched, so re-importing the same files is a no-op,
and every inserted or updated row gets one audit_log entry with its before and after values.

The importer only adds and updates; it never deletes rows that are missing from the files (people who
left are marked with ``termination_date``, which the review cycle needs for proration).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import psycopg
from psycopg.types.json import Jsonb

from domain.inputs import id_problem, text_problem
from services.db import libpq_url
from services.errors import UserError

__all__ = [
    "ACCOUNT_COLUMNS",
    "KPI_COLUMNS",
    "KPI_IDS",
    "MAX_ISSUES",
    "ORG_COLUMNS",
    "ROLES",
    "ImportFailed",
    "ImportIssue",
    "ImportSummary",
    "TableCounts",
    "import_files",
]

ORG_COLUMNS = (
    "employee_id", "name", "email", "role", "manager_id", "grade", "currency", "timezone", "hire_date",
    "termination_date",
    # How a person is reached (all optional, so files without them keep working): their language, a mobile
    # number and chat user ids for group-bot @-mentions, and the channels to use (e.g. "email;wecom").
    "locale", "mobile", "channels", "wecom_id", "dingtalk_id", "feishu_id",
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
DEFAULT_CURRENCY = "CNY"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_LOCALE = "zh-CN"

MAX_ISSUES = 200
"""At most this many issues are kept; a file that is wrong everywhere is usually wrong in one way."""

# Serializes imports, so the validation reads and the writes see the same database.
_LOCK_KEY = 0x6B616D696D706F72  # "kamimpor"

# ASCII digits only: \d, int() and Decimal() also take full-width digits such as "３".
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


# --------------------------------------------------------------------------------------------- API


@dataclass(frozen=True)
class ImportIssue:
    """One problem in one cell (``column`` is ``*`` when it concerns the whole row or file)."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ImportFailed(UserError):
    """The files were rejected; nothing was written. ``issues`` lists every problem found (up to 200)."""

    def __init__(self, issues: Sequence[ImportIssue], omitted: int = 0) -> None:
        self.issues: list[ImportIssue] = list(issues)
        self.omitted = omitted
        lines = [str(issue) for issue in self.issues]
        if omitted:
            lines.append(f"... and {omitted} more issues not shown")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class TableCounts:
    """Rows of one table in the files, by what the import did with them."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


@dataclass(frozen=True)
class ImportSummary:
    """What an import did, per table; ``audit_events`` is the number of audit_log rows written."""

    employee: TableCounts
    key_account: TableCounts
    customer_contact: TableCounts
    kpi_actual: TableCounts
    audit_events: int

    @property
    def tables(self) -> dict[str, TableCounts]:
        return {
            "employee": self.employee,
            "key_account": self.key_account,
            "customer_contact": self.customer_contact,
            "kpi_actual": self.kpi_actual,
        }

    @property
    def changed(self) -> bool:
        return any(counts.changed for counts in self.tables.values())

    def __str__(self) -> str:
        return "\n".join(
            f"{table}: {c.inserted} inserted, {c.updated} updated, {c.unchanged} unchanged"
            for table, c in self.tables.items()
        )


def import_files(database_url: str, org: Path, accounts: Path, kpis: Path, actor: str = "hr") -> ImportSummary:
    """Validate the three files completely, then write them in one transaction (or raise ImportFailed).

    Checks that need the database (managers, KAMs and employees that already exist) run inside the
    same transaction as the writes, under an advisory lock, so two imports cannot interleave.
    """
    org, accounts, kpis = Path(org), Path(accounts), Path(kpis)
    issues = _Issues([org.name, accounts.name, kpis.name])
    org_file = _parse_org(org, issues)
    account_file = _parse_accounts(accounts, issues)
    kpi_file = _parse_kpis(kpis, issues)

    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        directory = {
            row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, role, manager_id FROM employee")
        }
        _check_org(conn, org_file, account_file, directory, issues)
        _check_accounts(account_file, org_file, directory, issues)
        _check_kpis(kpi_file, org_file, directory, issues)
        if issues:
            raise issues.failure()  # leaving the transaction block rolls back: nothing was written
        return _write(conn, org_file, account_file, kpi_file, actor)


# ----------------------------------------------------------------------------------------- issues


class _Issues:
    """Collects issues from all files and orders them by file, then line."""

    def __init__(self, files: Sequence[str]) -> None:
        self._rank = {name: i for i, name in reversed(list(enumerate(files)))}
        self._items: list[ImportIssue] = []

    def add(self, file: str, line: int, column: str, message: str) -> None:
        self._items.append(ImportIssue(file, line, column, message))

    def __bool__(self) -> bool:
        return bool(self._items)

    def failure(self) -> ImportFailed:
        ordered = sorted(self._items, key=lambda i: (self._rank.get(i.file, len(self._rank)), i.line))
        return ImportFailed(ordered[:MAX_ISSUES], max(0, len(ordered) - MAX_ISSUES))


# -------------------------------------------------------------------------------------- CSV layer


@dataclass
class _Cells:
    """One data row: trimmed cells by column name (and the cells as written), with the helpers that validate them."""

    issues: _Issues
    file: str
    line: int
    cells: dict[str, str]
    raw: dict[str, str] = field(default_factory=dict)
    ok: bool = True

    def error(self, column: str, message: str) -> None:
        self.issues.add(self.file, self.line, column, message)
        self.ok = False

    def text(self, column: str, required: bool = False) -> str | None:
        value = self.cells.get(column, "")
        if not value:
            if required:
                self.error(column, "required value is missing")
            return None
        problem = text_problem(value)  # PostgreSQL cannot store NUL in text
        if problem is not None:
            self.error(column, str(problem))  # the importer reports in English (CLI)
            return None
        return value

    def ident(self, column: str, required: bool = False) -> str | None:
        """Ids end up in URL paths and keys such as ``<cycle>:<employee>``: the one id grammar of domain.inputs.

        Spaces around an id are reported, not trimmed: ``E001 `` in one file and ``E001`` in another are a data
        problem to fix at the source. Ids are case-sensitive (``e001`` is not ``E001``).
        """
        written = self.raw.get(column, "")
        if written.strip() and written != written.strip():
            self.error(column, f"invalid id: {id_problem(written)}")
            return None
        value = self.text(column, required)
        problem = None if value is None else id_problem(value)
        if problem is not None:
            self.error(column, f"invalid id: {problem}")
            return None
        return value

    def choice(self, column: str, allowed: Sequence[str], what: str, hint: str = "") -> str | None:
        value = self.text(column, required=True)
        if value is None:
            return None
        if value.lower() not in allowed:
            self.error(column, f"unknown {what} '{value}' (expected one of: {', '.join(allowed)}){hint}")
            return None
        return value.lower()

    def decimal(self, column: str, places: int, int_digits: int, required: bool = True) -> Decimal | None:
        """A plain non-negative decimal: no exponent, NaN, infinity or thousands separators."""
        value = self.text(column, required)
        if value is None:
            return None
        if not _NUMBER.fullmatch(value):
            self.error(
                column,
                f"invalid number '{value}' (expected digits with an optional decimal point, e.g. 1234567.89;"
                " no thousands separators)",
            )
            return None
        number = Decimal(value)
        if number < 0:
            self.error(column, f"must not be negative (got '{value}')")
            return None
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # finite by the pattern above
        if -exponent > places:
            self.error(column, f"too many decimal places in '{value}' (at most {places})")
            return None
        if number.adjusted() >= int_digits:
            self.error(column, f"'{value}' is too large (at most {int_digits} digits before the decimal point)")
            return None
        return abs(number) if number.is_zero() else number

    def date(self, column: str) -> date | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.error(column, f"invalid date '{value}' (expected YYYY-MM-DD)")
            return None

    def currency(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            return DEFAULT_CURRENCY
        if not _CURRENCY.fullmatch(value):
            self.error(column, f"invalid currency '{value}' (expected 3 upper-case letters, e.g. CNY)")
        return value

    def timezone(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            return DEFAULT_TIMEZONE
        if not _is_time_zone(value):
            self.error(column, f"unknown time zone '{value}' (expected an IANA zone, e.g. Asia/Shanghai)")
        return value

    def email(self, column: str) -> str | None:
        value = self.text(column)
        if value is not None and not _EMAIL.fullmatch(value):
            self.error(column, f"invalid email address '{value}'")
        return value

    def locale(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            return DEFAULT_LOCALE
        if not _LOCALE.fullmatch(value):
            self.error(column, f"invalid locale '{value}' (expected a language tag, e.g. zh-CN or en-US)")
        return value.replace("_", "-")


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _is_time_zone(key: str) -> bool:
    """An IANA zone name from the catalogue (not any file under TZPATH); ZoneInfo when there is no catalogue."""
    zones = _time_zones()
    if zones:
        return key in zones
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _read_csv(path: Path, columns: Sequence[str], required: Sequence[str], issues: _Issues) -> list[_Cells] | None:
    """Rows of a CSV file, or None when the file as a whole is unusable (unreadable, bad header)."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as err:
        issues.add(name, 0, "*", f"cannot read file: {err.strerror or err}")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        issues.add(name, line, "*", f"not valid UTF-8 (byte 0x{data[err.start]:02x}); save the file as UTF-8")
        return None

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[_Cells] = []
    try:
        header = [cell.strip() for cell in next(reader, [])]
        if not any(header):
            issues.add(name, 1, "*", f"empty file: a header row is required ({','.join(columns)})")
            return None
        if not _check_header(name, header, columns, required, issues):
            return None
        keys = [cell.lower() for cell in header]
        start = reader.line_num + 1
        for raw in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in raw):
                continue  # blank line
            if len(raw) != len(keys):
                issues.add(name, line, "*", f"expected {len(keys)} fields (as in the header), found {len(raw)}")
                continue
            written = dict(zip(keys, raw, strict=True))
            rows.append(_Cells(issues, name, line, {k: v.strip() for k, v in written.items()}, written))
    except csv.Error as err:
        issues.add(name, reader.line_num, "*", f"malformed CSV: {err}")
        return None
    return rows


def _check_header(
    name: str, header: list[str], columns: Sequence[str], required: Sequence[str], issues: _Issues
) -> bool:
    keys = [cell.lower() for cell in header]
    if not set(keys) & set(columns):
        separator = next((sep for sep in ";\t|" if len(header) == 1 and sep in header[0]), None)
        if separator is not None:
            issues.add(name, 1, "*", f"columns must be separated by commas (the header uses {separator!r})")
        else:
            issues.add(name, 1, "*", f"no header row: the first line must name the columns ({','.join(columns)})")
        return False
    ok = True
    seen: set[str] = set()
    for position, (cell, key) in enumerate(zip(header, keys, strict=True), start=1):
        if not key:
            issues.add(name, 1, f"#{position}", f"column {position} has no name in the header")
            ok = False
        elif key in seen:
            issues.add(name, 1, cell, f"duplicate column '{cell}'")
            ok = False
        elif key not in columns:
            issues.add(name, 1, cell, f"unknown column '{cell}' (allowed: {', '.join(columns)})")
            ok = False
        seen.add(key)
    for column in required:
        if column not in seen:
            issues.add(name, 1, column, f"missing required column '{column}'")
            ok = False
    return ok


# -------------------------------------------------------------------------------------- ORG.csv


@dataclass
class _Employee:
    line: int
    id: str
    name: str | None
    email: str | None
    role: str | None
    manager_id: str | None
    grade: str | None
    currency: str
    timezone: str
    hire_date: date | None
    termination_date: date | None
    locale: str = DEFAULT_LOCALE
    mobile: str | None = None
    channels: list[str] = field(default_factory=lambda: ["email"])
    wecom_id: str | None = None
    dingtalk_id: str | None = None
    feishu_id: str | None = None

    def values(self) -> tuple[Any, ...]:
        return (
            self.id, self.name, self.email, self.role, self.manager_id, self.grade, self.currency,
            self.timezone, self.hire_date, self.termination_date, self.locale, self.mobile, self.channels,
            self.wecom_id, self.dingtalk_id, self.feishu_id,
        )


@dataclass
class _OrgFile:
    name: str
    usable: bool
    employees: dict[str, _Employee] = field(default_factory=dict)


def _parse_org(path: Path, issues: _Issues) -> _OrgFile:
    rows = _read_csv(path, ORG_COLUMNS, ORG_REQUIRED, issues)
    result = _OrgFile(path.name, rows is not None)
    for row in rows or []:
        employee_id = row.ident("employee_id", required=True)
        name = row.text("name", required=True)
        email = row.email("email")
        role = row.choice("role", ROLES, "role")
        manager_id = row.ident("manager_id")
        grade = row.text("grade")
        currency = row.currency("currency")
        timezone = row.timezone("timezone")
        hire_date = row.date("hire_date")
        termination_date = row.date("termination_date")
        reach = _reach(row)
        if hire_date and termination_date and termination_date < hire_date:
            row.error(
                "termination_date",
                f"termination_date {termination_date} is before hire_date {hire_date}",
            )
        if role == "kam" and not row.cells.get("manager_id"):
            row.error("manager_id", f"KAM '{employee_id or '?'}' has no manager (manager_id is required for KAMs)")
        if employee_id and manager_id == employee_id:
            row.error("manager_id", f"employee '{employee_id}' cannot be their own manager")
            manager_id = None
        if employee_id is None:
            continue
        if employee_id in result.employees:
            first = result.employees[employee_id].line
            row.error("employee_id", f"duplicate employee_id '{employee_id}' (also on line {first})")
            continue
        result.employees[employee_id] = _Employee(
            row.line, employee_id, name, email, role, manager_id, grade, currency, timezone, hire_date,
            termination_date, **reach,
        )
    return result


def _reach(row: _Cells) -> dict[str, Any]:
    """How a person wants to be reached; e-mail when the file does not say."""
    mobile = row.text("mobile")
    if mobile is not None and not _MOBILE.fullmatch(mobile):
        row.error("mobile", f"invalid mobile number '{mobile}' (digits, optionally with + and spaces)")
    channels = [c.strip().lower() for c in re.split(r"[;,/ ]+", row.text("channels") or "email") if c.strip()]
    if unknown := [c for c in channels if c not in CHANNELS]:
        row.error("channels", f"unknown channel '{unknown[0]}' (expected some of: {', '.join(CHANNELS)}, "
                              "separated by ';')")
    return {"locale": row.locale("locale"), "mobile": mobile, "channels": list(dict.fromkeys(channels)) or ["email"],
            "wecom_id": row.text("wecom_id"), "dingtalk_id": row.text("dingtalk_id"),
            "feishu_id": row.text("feishu_id")}


def _check_org(
    conn: psycopg.Connection,
    org: _OrgFile,
    accounts: _AccountFile,
    directory: dict[str, tuple[str, str | None]],
    issues: _Issues,
) -> None:
    """Managers must exist, the reporting line must not loop, and KAMs keep their role while owning accounts."""
    for emp in org.employees.values():
        if emp.manager_id and emp.manager_id not in org.employees and emp.manager_id not in directory:
            issues.add(org.name, emp.line, "manager_id", f"unknown manager '{emp.manager_id}' (not in {org.name})")

    parent: dict[str, str | None] = {eid: manager for eid, (_, manager) in directory.items()}
    parent.update({emp.id: emp.manager_id for emp in org.employees.values()})
    for loop in _reporting_loops(org.employees, parent):
        members = [eid for eid in loop if eid in org.employees]
        first = min(members, key=lambda eid: org.employees[eid].line)
        at = loop.index(first)
        ordered = loop[at:] + loop[:at] + [first]
        issues.add(
            org.name,
            org.employees[first].line,
            "manager_id",
            f"reporting loop: {' -> '.join(ordered)} (each reports to the next)",
        )

    leaving = [
        emp.id
        for emp in org.employees.values()
        if emp.role and emp.role != "kam" and directory.get(emp.id, ("", None))[0] == "kam"
    ]
    if not leaving:
        return
    owned: dict[str, list[str]] = {}
    for account_id, kam_id in conn.execute(
        "SELECT id, kam_id FROM key_account WHERE kam_id = ANY(%s) ORDER BY id", (leaving,)
    ):
        in_file = accounts.accounts.get(account_id)
        if in_file is None or in_file.kam_id == kam_id:
            owned.setdefault(kam_id, []).append(account_id)
    for kam_id, account_ids in owned.items():
        emp = org.employees[kam_id]
        issues.add(
            org.name,
            emp.line,
            "role",
            f"'{kam_id}' still owns key accounts {', '.join(account_ids)}; reassign them (kam_id in the"
            f" accounts file) before changing the role from kam to {emp.role}",
        )


def _reporting_loops(employees: dict[str, _Employee], parent: dict[str, str | None]) -> list[list[str]]:
    """Cycles in the manager graph that go through at least one employee of the file."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    loops: list[list[str]] = []
    for start in employees:
        path: list[str] = []
        position: dict[str, int] = {}
        node: str | None = start
        while node is not None and node in parent and node not in state:
            state[node] = 1
            position[node] = len(path)
            path.append(node)
            following = parent[node]
            node = None if following == node else following
        if node is not None and node in position:
            loop = path[position[node]:]
            if any(eid in employees for eid in loop):
                loops.append(loop)
        for eid in path:
            state[eid] = 2
    return loops


# --------------------------------------------------------------------------------- ACCOUNTS.csv


@dataclass
class _Account:
    line: int
    id: str
    name: str | None
    kam_id: str | None
    annual_revenue: Decimal | None
    currency: str

    def values(self) -> tuple[Any, ...]:
        return (self.id, self.name, self.kam_id, self.annual_revenue, self.currency)


@dataclass
class _Contact:
    line: int
    id: str
    account_id: str
    name: str | None
    email: str | None
    locale: str

    def values(self) -> tuple[Any, ...]:
        return (self.id, self.account_id, self.name, self.email, self.locale)


@dataclass
class _AccountFile:
    name: str
    usable: bool
    accounts: dict[str, _Account] = field(default_factory=dict)
    contacts: dict[str, _Contact] = field(default_factory=dict)


def _parse_accounts(path: Path, issues: _Issues) -> _AccountFile:
    rows = _read_csv(path, ACCOUNT_COLUMNS, ACCOUNT_REQUIRED, issues)
    result = _AccountFile(path.name, rows is not None)
    for row in rows or []:
        account_id = row.ident("account_id", required=True)
        account = _Account(
            row.line,
            account_id or "",
            row.text("account_name", required=True),
            row.ident("kam_id", required=True),
            row.decimal("annual_revenue", places=2, int_digits=16),
            row.currency("currency"),
        )
        if account_id is not None:
            first = result.accounts.setdefault(account_id, account)
            if first is not account:
                _compare_account_rows(row, first, account)
        if not any(row.cells.get(column) for column in CONTACT_COLUMNS):
            continue  # an account without contacts
        contact_id = row.ident("contact_id", required=True)
        contact = _Contact(
            row.line,
            contact_id or "",
            account_id or "",
            row.text("contact_name", required=True),
            row.email("contact_email"),
            row.locale("contact_locale"),
        )
        if contact_id is None:
            continue
        if contact_id in result.contacts:
            line = result.contacts[contact_id].line
            row.error("contact_id", f"duplicate contact_id '{contact_id}' (also on line {line})")
            continue
        result.contacts[contact_id] = contact
    return result


def _compare_account_rows(row: _Cells, first: _Account, again: _Account) -> None:
    """An account spans one row per contact; its own columns must say the same thing on each."""
    pairs = (
        ("account_name", first.name, again.name),
        ("kam_id", first.kam_id, again.kam_id),
        ("annual_revenue", first.annual_revenue, again.annual_revenue),
        ("currency", first.currency, again.currency),
    )
    for column, before, now in pairs:
        if before is not None and now is not None and before != now:
            row.error(
                column,
                f"account '{first.id}' has {column} '{now}' here but '{before}' on line {first.line}"
                " (an account's columns must agree on all its rows)",
            )


def _check_accounts(
    accounts: _AccountFile, org: _OrgFile, directory: dict[str, tuple[str, str | None]], issues: _Issues
) -> None:
    """Every account belongs to an employee whose role is kam (in the org file, else in the database)."""
    for account in accounts.accounts.values():
        if account.kam_id is None:
            continue
        emp = org.employees.get(account.kam_id)
        if emp is not None:
            role = emp.role
        elif account.kam_id in directory:
            role = directory[account.kam_id][0]
        elif org.usable:
            issues.add(
                accounts.name, account.line, "kam_id", f"unknown KAM '{account.kam_id}' (not in {org.name})"
            )
            continue
        else:
            continue  # the org file is unreadable; its own issue says so
        if role is not None and role != "kam":
            issues.add(
                accounts.name, account.line, "kam_id", f"'{account.kam_id}' is not a KAM (role {role})"
            )


# ------------------------------------------------------------------------------------- KPIS.csv


@dataclass
class _Kpi:
    line: int
    employee_id: str
    period: str
    kpi_id: str
    value: Decimal | None

    def values(self) -> tuple[Any, ...]:
        return (self.employee_id, self.period, self.kpi_id, self.value)


@dataclass
class _KpiFile:
    name: str
    usable: bool
    kpis: dict[tuple[str, str, str], _Kpi] = field(default_factory=dict)


def _parse_kpis(path: Path, issues: _Issues) -> _KpiFile:
    rows = _read_csv(path, KPI_COLUMNS, KPI_REQUIRED, issues)
    result = _KpiFile(path.name, rows is not None)
    survey_hint = "; customer_satisfaction comes from the customer survey and is not imported"
    for row in rows or []:
        employee_id = row.ident("employee_id", required=True)
        period = row.text("period", required=True)
        raw_kpi = row.cells.get("kpi_id", "").lower()
        kpi_id = row.choice("kpi_id", KPI_IDS, "KPI", survey_hint if raw_kpi == "customer_satisfaction" else "")
        value = row.decimal("value", places=6, int_digits=14)
        if employee_id is None or period is None or kpi_id is None:
            continue
        key = (employee_id, period, kpi_id)
        if key in result.kpis:
            line = result.kpis[key].line
            row.error(
                "kpi_id",
                f"duplicate KPI row for employee '{employee_id}', period '{period}', KPI '{kpi_id}'"
                f" (also on line {line})",
            )
            continue
        result.kpis[key] = _Kpi(row.line, employee_id, period, kpi_id, value)
    return result


def _check_kpis(
    kpis: _KpiFile, org: _OrgFile, directory: dict[str, tuple[str, str | None]], issues: _Issues
) -> None:
    """KPI actuals can only be recorded for known employees."""
    if not org.usable:
        return
    reported: set[str] = set()
    for kpi in kpis.kpis.values():
        eid = kpi.employee_id
        if eid not in org.employees and eid not in directory and eid not in reported:
            reported.add(eid)
            issues.add(kpis.name, kpi.line, "employee_id", f"unknown employee '{eid}' (not in {org.name})")


# ---------------------------------------------------------------------------------------- write


_EMPLOYEE_COLUMNS = (
    "id", "name", "email", "role", "manager_id", "grade", "currency", "timezone", "hire_date", "termination_date",
    "locale", "mobile", "channels", "wecom_id", "dingtalk_id", "feishu_id",
)
_ACCOUNT_COLUMNS = ("id", "name", "kam_id", "annual_revenue", "currency")
_CONTACT_COLUMNS = ("id", "account_id", "name", "email", "locale")
_KPI_COLUMNS = ("employee_id", "period", "kpi_id", "value")


def _write(
    conn: psycopg.Connection, org: _OrgFile, accounts: _AccountFile, kpis: _KpiFile, actor: str
) -> ImportSummary:
    """Upsert the tables in foreign-key order and audit every row that changed."""
    audit: list[tuple[Any, ...]] = []
    employees = _upsert(
        conn, "employee", _EMPLOYEE_COLUMNS, ("id",), [e.values() for e in _managers_first(org.employees)], actor,
        audit,
    )
    key_accounts = _upsert(
        conn, "key_account", _ACCOUNT_COLUMNS, ("id",), [a.values() for a in accounts.accounts.values()], actor,
        audit,
    )
    contacts = _upsert(
        conn, "customer_contact", _CONTACT_COLUMNS, ("id",), [c.values() for c in accounts.contacts.values()],
        actor, audit,
    )
    actuals = _upsert(
        conn, "kpi_actual", _KPI_COLUMNS, ("employee_id", "period", "kpi_id"),
        [k.values() for k in kpis.kpis.values()], actor, audit, touch=", updated_at = now()",
    )
    if audit:  # plain inserts: COPY is several times faster than executemany here
        with conn.cursor() as cur, cur.copy(
            "COPY audit_log (event_key, actor, action, entity_type, entity_id, before, after) FROM STDIN"
        ) as copy:
            for entry in audit:
                copy.write_row(entry)
    return ImportSummary(employees, key_accounts, contacts, actuals, len(audit))


def _managers_first(employees: dict[str, _Employee]) -> list[_Employee]:
    """Insert order that satisfies the manager_id foreign key: a manager before their reports."""
    depth: dict[str, int] = {}
    for start in employees:
        chain: list[str] = []
        node: str | None = start
        while node is not None and node in employees and node not in depth:
            chain.append(node)
            node = employees[node].manager_id
        base = depth.get(node, -1) if node is not None else -1
        for eid in reversed(chain):
            base += 1
            depth[eid] = base
    return sorted(employees.values(), key=lambda e: (depth[e.id], e.line))


def _upsert(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: list[tuple[Any, ...]],
    actor: str,
    audit: list[tuple[Any, ...]],
    touch: str = "",
) -> TableCounts:
    """Write the rows that differ from the database; count and audit them, leave the rest untouched."""
    if not rows:
        return TableCounts()
    width = len(key)
    entity: Callable[[tuple[Any, ...]], str] = lambda row: ":".join(row[:width])  # noqa: E731
    keys = [tuple(row[:width]) for row in rows]
    arrays = [list(column) for column in zip(*keys, strict=True)]
    existing = {
        tuple(row[:width]): tuple(row)
        for row in conn.execute(
            f"""SELECT {', '.join(f't.{c}' for c in columns)} FROM {table} t
                JOIN unnest({', '.join(['%s::text[]'] * width)}) AS k({', '.join(key)})
                USING ({', '.join(key)})
                FOR UPDATE OF t""",
            arrays,
        )
    }
    changed = [row for row in rows if existing.get(tuple(row[:width])) != row]
    inserted = sum(1 for row in changed if tuple(row[:width]) not in existing)
    if changed:
        others = [c for c in columns if c not in key]
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)}{touch}"
            f" WHERE ({', '.join(f'{table}.{c}' for c in others)})"
            f" IS DISTINCT FROM ({', '.join(f'excluded.{c}' for c in others)})"
        )
        with conn.cursor() as cur:
            cur.executemany(sql, changed)
        seen = _audit_counts(conn, table, [entity(row) for row in changed])
        for row in changed:
            before_row = existing.get(tuple(row[:width]))
            after = _as_json(columns, row)
            before = _as_json(columns, before_row) if before_row is not None else None
            entity_id = entity(row)
            digest = hashlib.sha256(
                json.dumps(after, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
            ).hexdigest()[:16]
            audit.append((
                f"import:{table}:{entity_id}:{seen.get(entity_id, 0) + 1}:{digest}",
                actor,
                "import.insert" if before is None else "import.update",
                table,
                entity_id,
                Jsonb(before) if before is not None else None,
                Jsonb(after),
            ))
    return TableCounts(inserted, len(changed) - inserted, len(rows) - len(changed))


def _audit_counts(conn: psycopg.Connection, table: str, entity_ids: list[str]) -> dict[str, int]:
    """How many audit rows each entity has; numbering the next one keeps event keys unique when a value
    changes back to an earlier one (A -> B -> A), yet a retried import computes the same keys."""
    return dict(
        conn.execute(
            """SELECT entity_id, count(*) FROM audit_log
               WHERE entity_type = %s AND entity_id = ANY(%s) GROUP BY entity_id""",
            (table, entity_ids),
        ).fetchall()
    )


def _as_json(columns: Iterable[str], row: tuple[Any, ...]) -> dict[str, Any]:
    return {column: _json_value(value) for column, value in zip(columns, row, strict=True)}


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    return value
