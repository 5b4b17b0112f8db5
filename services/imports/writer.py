"""The one writer: a RecordSet upserted in foreign-key order inside the caller's transaction, every changed row
audited. Planning (what is new, changed, unchanged) is separate from applying it, so a preview shows exactly
what the write would do, from the same comparison, and writes nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from services.imports.records import EmployeeRecord, RecordSet

_EMPLOYEE_COLUMNS = (
    "id", "name", "email", "role", "manager_id", "grade", "currency", "timezone", "hire_date", "termination_date",
    "locale", "mobile", "channels", "wecom_id", "dingtalk_id", "feishu_id", "region", "cost_centre",
)
_ACCOUNT_COLUMNS = ("id", "name", "kam_id", "annual_revenue", "currency")
_CONTACT_COLUMNS = ("id", "account_id", "name", "email", "locale")
_KPI_COLUMNS = ("employee_id", "period", "kpi_id", "value")
_DEAL_COLUMNS = ("id", "kind", "name", "account_id", "kam_id", "owner", "stage", "won", "amount", "currency",
                 "closed_on", "source")
_TARGET_COLUMNS = ("employee_id", "period", "kpi_id", "target", "currency", "source")
_CASE_COLUMNS = ("id", "account_id", "kam_id", "owner", "type", "complaint", "status", "opened_on", "source")
# The CRM owner as the source wrote it: an export names the person, the API gives their e-mail. Both resolve to
# the same KAM (kam_id), so a different spelling alone is not a change of the record.
_OWNER_AS_WRITTEN = ("owner",)


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
    crm_deal: TableCounts = TableCounts()
    crm_case: TableCounts = TableCounts()
    kpi_target: TableCounts = TableCounts()
    kpi_dates: tuple[date, ...] = ()
    """The closing dates of deals/orders and opening dates of cases this import inserted or changed (and, for a
    change, the date it had before): the KPI figures of periods holding any of them may be out of date."""

    @property
    def tables(self) -> dict[str, TableCounts]:
        return {
            "employee": self.employee,
            "key_account": self.key_account,
            "customer_contact": self.customer_contact,
            "kpi_actual": self.kpi_actual,
            "crm_deal": self.crm_deal,
            "crm_case": self.crm_case,
            "kpi_target": self.kpi_target,
        }

    @property
    def changed(self) -> bool:
        return any(counts.changed for counts in self.tables.values())

    def __str__(self) -> str:
        return "\n".join(
            f"{table}: {c.inserted} inserted, {c.updated} updated, {c.unchanged} unchanged"
            for table, c in self.tables.items()
        )


@dataclass(frozen=True)
class RowChange:
    """One row the write would insert (``before`` is None) or update, as JSON-ready values."""

    key: str
    before: dict[str, Any] | None
    after: dict[str, Any]


@dataclass
class TablePlan:
    """One table's rows from the files against what the database holds (read ``FOR UPDATE``)."""

    table: str
    columns: Sequence[str]
    key: Sequence[str]
    rows: list[tuple[Any, ...]]
    existing: dict[tuple[Any, ...], tuple[Any, ...]]
    changed: list[tuple[Any, ...]]
    touch: str = ""

    @property
    def counts(self) -> TableCounts:
        inserted = sum(1 for row in self.changed if self._key(row) not in self.existing)
        return TableCounts(inserted, len(self.changed) - inserted, len(self.rows) - len(self.changed))

    def _key(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[: len(self.key)])

    def entity(self, row: tuple[Any, ...]) -> str:
        return ":".join(row[: len(self.key)])

    def change(self, row: tuple[Any, ...]) -> RowChange:
        before = self.existing.get(self._key(row))
        return RowChange(self.entity(row), _as_json(self.columns, before) if before is not None else None,
                         _as_json(self.columns, row))

    def examples(self, limit: int) -> tuple[list[RowChange], list[RowChange]]:
        """Up to ``limit`` new rows and up to ``limit`` changed rows, in file order."""
        new = [self.change(r) for r in self.changed if self._key(r) not in self.existing][:limit]
        updated = [self.change(r) for r in self.changed if self._key(r) in self.existing][:limit]
        return new, updated


def plan_digest(plans: dict[str, TablePlan]) -> str:
    """A fingerprint of every change a plan would make (not only the examples a preview shows): the web page's
    confirm button carries it, so the write applies what HR saw or refuses (see ``pipeline.write_records``)."""
    h = hashlib.sha256()
    for table, table_plan in plans.items():
        for row in table_plan.changed:
            change = table_plan.change(row)
            h.update(json.dumps([table, change.key, change.before, change.after], sort_keys=True, ensure_ascii=False,
                                default=str).encode())
            h.update(b"\n")
    return h.hexdigest()[:32]


def plan(conn: psycopg.Connection, records: RecordSet) -> dict[str, TablePlan]:
    """What writing ``records`` would change, per table (in foreign-key order)."""
    return {
        "employee": _plan(conn, "employee", _EMPLOYEE_COLUMNS, ("id",),
                          [e.values() for e in _managers_first(records.employees)]),
        "key_account": _plan(conn, "key_account", _ACCOUNT_COLUMNS, ("id",),
                             [a.values() for a in records.accounts.values()]),
        "customer_contact": _plan(conn, "customer_contact", _CONTACT_COLUMNS, ("id",),
                                  [c.values() for c in records.contacts.values()]),
        "kpi_actual": _plan(conn, "kpi_actual", _KPI_COLUMNS, ("employee_id", "period", "kpi_id"),
                            [k.values() for k in records.kpis.values()], touch=", updated_at = now()"),
        "crm_deal": _plan(conn, "crm_deal", _DEAL_COLUMNS, ("id",),
                          [d.values(records.source) for d in records.deals.values()], touch=", imported_at = now()",
                          ignore=_OWNER_AS_WRITTEN),
        "crm_case": _plan(conn, "crm_case", _CASE_COLUMNS, ("id",),
                          [c.values(records.source) for c in records.cases.values()], touch=", imported_at = now()",
                          ignore=_OWNER_AS_WRITTEN),
        "kpi_target": _plan(conn, "kpi_target", _TARGET_COLUMNS, ("employee_id", "period", "kpi_id"),
                            [t.values() for t in records.targets.values()], touch=", updated_at = now()"),
    }


def apply(conn: psycopg.Connection, plans: dict[str, TablePlan], actor: str) -> ImportSummary:
    """Write the planned changes and audit every changed row (inside the caller's transaction)."""
    audit: list[tuple[Any, ...]] = []
    for table_plan in plans.values():
        _apply(conn, table_plan, actor, audit)
    if audit:  # plain inserts: COPY is several times faster than executemany here
        with conn.cursor() as cur, cur.copy(
            "COPY audit_log (event_key, actor, action, entity_type, entity_id, before, after) FROM STDIN"
        ) as copy:
            for entry in audit:
                copy.write_row(entry)
    kpi_plan = plans["kpi_actual"]
    if kpi_plan.changed:  # a figure entered by hand replaces a computed one: its records no longer explain it
        conn.execute(
            """DELETE FROM kpi_source s USING unnest(%s::text[], %s::text[], %s::text[]) AS k(e, p, i)
               WHERE s.employee_id = k.e AND s.period = k.p AND s.kpi_id = k.i""",
            [list(column) for column in zip(*(row[:3] for row in kpi_plan.changed), strict=True)])
    counts = {table: table_plan.counts for table, table_plan in plans.items()}
    return ImportSummary(counts["employee"], counts["key_account"], counts["customer_contact"],
                         counts["kpi_actual"], len(audit), counts["crm_deal"], counts["crm_case"],
                         counts["kpi_target"], _kpi_dates(plans))


def _kpi_dates(plans: dict[str, TablePlan]) -> tuple[date, ...]:
    """Dates of the CRM records an import changed, before and after (see ``ImportSummary.kpi_dates``)."""
    found: set[date] = set()
    for table, column in (("crm_deal", "closed_on"), ("crm_case", "opened_on")):
        table_plan = plans[table]
        at = list(table_plan.columns).index(column)
        for row in table_plan.changed:
            before = table_plan.existing.get(tuple(row[:1]))
            found |= {d for d in (row[at], before[at] if before else None) if d is not None}
    return tuple(sorted(found))


def _managers_first(employees: dict[str, EmployeeRecord]) -> list[EmployeeRecord]:
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


def _plan(conn: psycopg.Connection, table: str, columns: Sequence[str], key: Sequence[str],
          rows: list[tuple[Any, ...]], touch: str = "", ignore: Sequence[str] = ()) -> TablePlan:
    """Rows that differ from the database; the rest will be left untouched. Columns in ``ignore`` do not make a
    row differ (they are written with the row's other changes)."""
    if not rows:
        return TablePlan(table, columns, key, [], {}, [], touch)
    width = len(key)
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
    kept = [i for i, c in enumerate(columns) if c not in ignore]

    def same(row: tuple[Any, ...]) -> bool:
        before = existing.get(tuple(row[:width]))
        return before is not None and all(before[i] == row[i] for i in kept)

    changed = [row for row in rows if not same(row)]
    return TablePlan(table, columns, key, rows, existing, changed, touch)


def _apply(conn: psycopg.Connection, table_plan: TablePlan, actor: str, audit: list[tuple[Any, ...]]) -> None:
    if not table_plan.changed:
        return
    table, columns, key = table_plan.table, table_plan.columns, table_plan.key
    others = [c for c in columns if c not in key]
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)}"
        f"{table_plan.touch}"
        f" WHERE ({', '.join(f'{table}.{c}' for c in others)})"
        f" IS DISTINCT FROM ({', '.join(f'excluded.{c}' for c in others)})"
    )
    with conn.cursor() as cur:
        cur.executemany(sql, table_plan.changed)
    seen = _audit_counts(conn, table, [table_plan.entity(row) for row in table_plan.changed])
    for row in table_plan.changed:
        change = table_plan.change(row)
        digest = hashlib.sha256(
            json.dumps(change.after, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        ).hexdigest()[:16]
        audit.append((
            f"import:{table}:{change.key}:{seen.get(change.key, 0) + 1}:{digest}",
            actor,
            "import.insert" if change.before is None else "import.update",
            table,
            change.key,
            Jsonb(change.before) if change.before is not None else None,
            Jsonb(change.after),
        ))


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
