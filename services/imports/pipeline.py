"""Read -> validate -> write (or preview), the same way for every source: one transaction under an advisory lock,
so the database the checks read is the database the write changes, and two imports cannot interleave."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import psycopg

from domain.text import tr
from services.db import libpq_url
from services.errors import Conflict
from services.imports.issues import Issues
from services.imports.records import RecordSet
from services.imports.validation import Directory, OwnerRule, validate
from services.imports.writer import ImportSummary, TablePlan, apply, plan, plan_digest

# Serializes imports, so the validation reads and the writes see the same database.
LOCK_KEY = 0x6B616D696D706F72  # "kamimpor"; services.kpis takes it too
_LOCK_KEY = LOCK_KEY

T = TypeVar("T")


def _session(database_url: str, records: RecordSet, issues: Issues, owner_rule: OwnerRule | None,
             then: Callable[[psycopg.Connection, dict[str, TablePlan]], T], rollback: bool) -> T:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn, \
            conn.transaction(force_rollback=rollback):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        directory = Directory.load(conn, crm=owner_rule is not None)
        validate(conn, records, directory, issues, owner_rule)
        if issues:
            raise issues.failure()  # leaving the transaction block rolls back: nothing was written
        return then(conn, plan(conn, records))


def write_records(database_url: str, records: RecordSet, issues: Issues, actor: str,
                  owner_rule: OwnerRule | None = None, expect: str | None = None) -> ImportSummary:
    """Validate ``records`` completely, then write them in one transaction (or raise ImportFailed).

    ``expect``: the ``plan_digest`` of the preview HR confirmed. When the database changed since (another import),
    so that this write would do something else, it raises Conflict and writes nothing; when there is nothing left to
    write (the same confirmation again: a double click, a retry), it writes nothing and says so in its counts.
    """
    def write(conn: psycopg.Connection, plans: dict[str, TablePlan]) -> ImportSummary:
        if expect is not None and any(p.changed for p in plans.values()) and plan_digest(plans) != expect:
            raise Conflict(tr("the database changed since this preview (another import, perhaps); nothing was "
                              "written: check the new preview and confirm again"))
        return apply(conn, plans, actor)

    return _session(database_url, records, issues, owner_rule, write, rollback=False)


def plan_records(database_url: str, records: RecordSet, issues: Issues,
                 owner_rule: OwnerRule | None = None) -> dict[str, TablePlan]:
    """Validate ``records`` and say what writing them would change; the transaction is rolled back."""
    return _session(database_url, records, issues, owner_rule, lambda conn, plans: plans, rollback=True)
