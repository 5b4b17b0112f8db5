"""The one validation step: a RecordSet checked against itself and the database, in the transaction that will
write it. Resolves what a CRM names instead of identifying (owners -> KAMs, accounts by name), then checks
managers, reporting loops, KAM roles and the employees KPI actuals are for. Problems go to ``Issues``."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import psycopg

from domain.text import tr
from services.imports.issues import Issues
from services.imports.records import EmployeeRecord, RecordSet

OwnerMatch = Literal["table", "email", "name", "id"]


@dataclass(frozen=True)
class OwnerRule:
    """How a CRM's owner (a user's name or e-mail, as the export writes it) becomes one of our employee ids:
    each way in ``match`` is tried in order; ``owners`` is the explicit table (CRM owner -> employee id), whose
    keys may also be the CRM's user ids (Zoho's ``Account Owner.id``), which are checked first."""

    match: tuple[OwnerMatch, ...] = ("table", "email", "name")
    owners: dict[str, str] = field(default_factory=dict)
    source: str = "mapping"


@dataclass
class Directory:
    """The employees and key accounts already in the database, as the checks need them."""

    roles: dict[str, tuple[str, str | None]]
    people: list[tuple[str, str, str | None]] = field(default_factory=list)  # id, name, email
    account_names: dict[str, list[str]] = field(default_factory=dict)
    account_ids: set[str] = field(default_factory=set)
    account_revenue: dict[str, Decimal] = field(default_factory=dict)
    account_kam: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: psycopg.Connection, crm: bool) -> Directory:
        rows = conn.execute("SELECT id, role, manager_id, name, email FROM employee").fetchall()
        directory = cls({row[0]: (row[1], row[2]) for row in rows})
        if crm:
            directory.people = [(row[0], row[3], row[4]) for row in rows]
            for account_id, name, revenue, kam in conn.execute(
                    "SELECT id, name, annual_revenue, kam_id FROM key_account"):
                directory.account_names.setdefault(name, []).append(account_id)
                directory.account_ids.add(account_id)
                directory.account_revenue[account_id] = revenue
                directory.account_kam[account_id] = kam
        return directory


def validate(conn: psycopg.Connection, records: RecordSet, directory: Directory, issues: Issues,
             owner_rule: OwnerRule | None = None) -> None:
    """Every check of one import; afterwards ``issues`` is empty or says what to fix."""
    if owner_rule is not None:
        _resolve_owners(records, directory, owner_rule, issues)
        _resolve_accounts(records, directory, issues)
        _attribute_records(records, directory)
    if records.org_file is not None:
        _check_org(conn, records, directory.roles, issues)
    _check_accounts(records, directory.roles, issues)
    _check_kpis(records, directory.roles, issues)
    _check_targets(records, directory.roles, issues)


# ------------------------------------------------------------------------------------ CRM references


def _normal(name: str) -> str:
    return " ".join(name.split()).casefold()


def _resolve_owners(records: RecordSet, directory: Directory, rule: OwnerRule, issues: Issues) -> None:
    """Each account's CRM owner -> the employee id of its KAM (``kam_id``), or an issue on the owner's cell."""
    by_email: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for eid, name, email in directory.people:
        if email:
            by_email.setdefault(email.casefold(), []).append(eid)
        by_name.setdefault(_normal(name), []).append(eid)
    cache: dict[str, list[str] | str] = {}
    for account in records.accounts.values():
        if account.kam_id is not None or account.owner is None:
            continue
        owner = account.owner
        if account.owner_id and account.owner_id in rule.owners:  # the CRM user's id in the table: exact
            found: list[str] | str = rule.owners[account.owner_id]
        else:
            if owner not in cache:
                cache[owner] = _match_owner(owner, rule, directory, by_email, by_name)
            found = cache[owner]
        where = (account.file, account.line, account.owner_column)
        if isinstance(found, str):
            account.kam_id = found
        elif not found:
            issues.add(*where, tr(
                "no employee matches owner '%(owner)s' (tried: %(ways)s); add it under owner.owners in the mapping"
                " file, as the owner -> employee_id", owner=owner, ways=", ".join(rule.match)))
        else:
            issues.add(*where, tr(
                "owner '%(owner)s' matches several employees (%(ids)s); name the one meant under owner.owners in"
                " the mapping file", owner=owner, ids=", ".join(sorted(found))))


def _match_owner(owner: str, rule: OwnerRule, directory: Directory, by_email: dict[str, list[str]],
                 by_name: dict[str, list[str]]) -> list[str] | str:
    """The one employee id ``owner`` means, or the candidates when there is not exactly one."""
    for way in rule.match:
        if way == "table":
            hits = [rule.owners[owner]] if owner in rule.owners else []
        elif way == "id":
            hits = [owner] if owner in directory.roles else []
        elif way == "email":
            hits = by_email.get(owner.casefold(), []) if "@" in owner else []
        else:
            hits = by_name.get(_normal(owner), [])
        if len(hits) == 1:
            return hits[0]
        if hits:
            return hits
    return []


def _resolve_accounts(records: RecordSet, directory: Directory, issues: Issues) -> None:
    """Links a CRM gives by the account's name (Fxiaoke's 客户名称, Zoho files without ``Account Name.id``)."""
    in_files: dict[str, list[str]] = {}
    for account in records.accounts.values():
        if account.annual_revenue is None:  # the export does not say: keep what is stored (0 for a new account)
            account.annual_revenue = directory.account_revenue.get(account.id, Decimal(0))
        if account.name:
            in_files.setdefault(account.name, []).append(account.id)

    def lookup(name: str) -> list[str]:
        return in_files.get(name) or directory.account_names.get(name, [])

    linked = {}
    for contact in records.contacts.values():
        if contact.account_id and (contact.account_id in records.accounts or contact.account_id in directory.account_ids):
            linked[contact.id] = contact
            continue
        hits = lookup(contact.account_name) if contact.account_name else []
        if len(hits) > 1:
            issues.add(contact.file, contact.line, "*", tr(
                "account '%(name)s' is ambiguous: several accounts have that name (%(ids)s)",
                name=contact.account_name, ids=", ".join(sorted(hits))))
        elif hits:
            contact.account_id = hits[0]
            linked[contact.id] = contact
        else:
            records.contacts_unlinked.append(contact)
    records.contacts = linked
    for item in [*records.deals.values(), *records.cases.values()]:
        if item.account_id is None and item.account_name:
            hits = lookup(item.account_name)
            item.account_id = hits[0] if len(hits) == 1 else None


def _attribute_records(records: RecordSet, directory: Directory) -> None:
    """Each deal, order and case counts for the KAM of its account (from the files, else the database): the CRM's
    owner of a deal may be an assistant or a pre-sales engineer, the account's owner is the KAM measured."""
    for item in [*records.deals.values(), *records.cases.values()]:
        if item.account_id is None:
            continue
        account = records.accounts.get(item.account_id)
        item.kam_id = account.kam_id if account is not None else directory.account_kam.get(item.account_id)


# ------------------------------------------------------------------------------------- the org


def _check_org(conn: psycopg.Connection, records: RecordSet, directory: dict[str, tuple[str, str | None]],
               issues: Issues) -> None:
    """Managers must exist, the reporting line must not loop, and KAMs keep their role while owning accounts."""
    org = records.org_file or ""
    employees = records.employees
    manager_column = records.org_labels.get("manager_id", "manager_id")
    for emp in employees.values():
        if emp.manager_id and emp.manager_id not in employees and emp.manager_id not in directory:
            issues.add(org, emp.line, manager_column, tr("unknown manager '%(manager)s' (not in %(file)s)",
                                                       manager=emp.manager_id, file=org))

    parent: dict[str, str | None] = {eid: manager for eid, (_, manager) in directory.items()}
    parent.update({emp.id: emp.manager_id for emp in employees.values()})
    for loop in _reporting_loops(employees, parent):
        members = [eid for eid in loop if eid in employees]
        first = min(members, key=lambda eid: employees[eid].line)
        at = loop.index(first)
        ordered = loop[at:] + loop[:at] + [first]
        issues.add(org, employees[first].line, manager_column, tr(
            "reporting loop: %(loop)s (each reports to the next)", loop=" -> ".join(ordered)))

    leaving = [
        emp.id for emp in employees.values()
        if emp.role and emp.role != "kam" and directory.get(emp.id, ("", None))[0] == "kam"
    ]
    if not leaving:
        return
    owned: dict[str, list[str]] = {}
    for account_id, kam_id in conn.execute(
        "SELECT id, kam_id FROM key_account WHERE kam_id = ANY(%s) ORDER BY id", (leaving,)
    ):
        in_file = records.accounts.get(account_id)
        if in_file is None or in_file.kam_id == kam_id:
            owned.setdefault(kam_id, []).append(account_id)
    for kam_id, account_ids in owned.items():
        emp = employees[kam_id]
        issues.add(org, emp.line, records.org_labels.get("role", "role"), tr(
            "'%(kam)s' still owns key accounts %(accounts)s; reassign them (kam_id in the accounts file) before "
            "changing the role from kam to %(role)s", kam=kam_id, accounts=", ".join(account_ids), role=str(emp.role)))


def _reporting_loops(employees: dict[str, EmployeeRecord], parent: dict[str, str | None]) -> list[list[str]]:
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


# ------------------------------------------------------------------------------- accounts and KPIs


def _check_accounts(records: RecordSet, directory: dict[str, tuple[str, str | None]], issues: Issues) -> None:
    """Every account belongs to an employee whose role is kam (in the org file, else in the database)."""
    for account in records.accounts.values():
        if account.kam_id is None:
            continue
        emp = records.employees.get(account.kam_id)
        column = account.owner_column
        if emp is not None:
            role = emp.role
        elif account.kam_id in directory:
            role = directory[account.kam_id][0]
        elif records.org_file is not None and records.org_usable:
            issues.add(account.file, account.line, column, tr("unknown KAM '%(kam)s' (not in %(file)s)",
                                                              kam=account.kam_id, file=records.org_file))
            continue
        elif records.org_file is None:
            issues.add(account.file, account.line, column, tr(
                "owner '%(owner)s' is mapped to employee '%(kam)s', who is not in the employee directory",
                owner=account.owner or account.kam_id, kam=account.kam_id))
            continue
        else:
            continue  # the org file is unreadable; its own issue says so
        if role is not None and role != "kam":
            issues.add(account.file, account.line, column, tr("'%(kam)s' is not a KAM (role %(role)s)",
                                                              kam=account.kam_id, role=role))


def _check_kpis(records: RecordSet, directory: dict[str, tuple[str, str | None]], issues: Issues) -> None:
    """KPI actuals can only be recorded for known employees."""
    if records.org_file is None or not records.org_usable:
        return
    reported: set[str] = set()
    for kpi in records.kpis.values():
        eid = kpi.employee_id
        if eid not in records.employees and eid not in directory and eid not in reported:
            reported.add(eid)
            issues.add(records.kpi_file, kpi.line, "employee_id", tr(
                "unknown employee '%(employee)s' (not in %(file)s)", employee=eid, file=records.org_file))


def _check_targets(records: RecordSet, directory: dict[str, tuple[str, str | None]], issues: Issues) -> None:
    """Targets are for KAMs already in the database (a targets file comes after the org)."""
    for target in records.targets.values():
        role = directory.get(target.employee_id, (None, None))[0]
        if role is None:
            issues.add(target.file, target.line, "employee_id", tr(
                "unknown employee '%(employee)s' (import the org first)", employee=target.employee_id))
        elif role != "kam":
            issues.add(target.file, target.line, "employee_id", tr(
                "'%(kam)s' is not a KAM (role %(role)s)", kam=target.employee_id, role=role))
