"""Deals from a CSV file (``DEALS.csv``) for the what-if preview: one row per closed deal, the KAM credited (or
the split between KAMs), and what happened to the deal after it closed.

    deal_id,employee_id,amount,currency,closed_on,status,cancelled_on
    D1,K01,50000,CNY,2025-01-15,churned,2025-04-20
    D2,K01:60;K02:40,100000,CNY,2025-04-10,won,

Read with the shared cell helpers, so every problem names file, line and column like every other import; the
rows become the pure domain's ``Deal`` (split credit) and ``DealEvent`` (a clawback's cause).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from domain.clawbacks import DealEvent
from domain.deals import Deal
from domain.inputs import id_problem
from domain.text import tr
from domain.validation import error_text
from services.imports.cells import NUMBER, Cells, read_csv
from services.imports.issues import Issues

COLUMNS = ("deal_id", "employee_id", "amount", "currency", "closed_on", "status", "cancelled_on")
REQUIRED = ("deal_id", "employee_id", "amount", "currency", "closed_on")
STATUSES = ("won", "cancelled", "refunded", "churned")


@dataclass(frozen=True)
class DealRow:
    """One deal as read, with the line it came from (later checks, e.g. an unknown KAM, name it)."""

    line: int
    deal: Deal
    event: DealEvent | None


def _credits(row: Cells) -> list[dict[str, object]] | None:
    """``K01`` (all of it) or ``K01:60;K02:40`` (percent per KAM)."""
    value = row.text("employee_id", required=True)
    if value is None:
        return None
    if ":" not in value and ";" not in value:
        ident = row.ident("employee_id", required=True)
        return None if ident is None else [{"employee_id": ident, "percent": 100}]
    out: list[dict[str, object]] = []
    for part in value.split(";"):
        who, sep, pct = part.partition(":")
        problem = id_problem(who)
        if not sep or problem is not None:
            row.error("employee_id", tr("'%(part)s' is not employee_id:percent (a split is written K01:60;K02:40)",
                                        part=part))
            return None
        if not NUMBER.fullmatch(pct):
            row.error("employee_id", tr("the share of %(employee)s, '%(value)s', is not a percent", employee=who,
                                        value=pct))
            return None
        out.append({"employee_id": who, "percent": pct})
    return out


def read_deals(path: Path, issues: Issues) -> list[DealRow]:
    """The deals file as domain deals and their events (problems go to ``issues``)."""
    out: list[DealRow] = []
    seen: dict[str, int] = {}
    for row in read_csv(path, COLUMNS, REQUIRED, issues) or []:
        deal_id = row.ident("deal_id", required=True)
        credits = _credits(row)
        amount = row.decimal("amount", places=6, int_digits=16)
        currency = row.currency("currency")
        closed_on = row.date("closed_on")
        if closed_on is None and row.ok and not row.has("closed_on"):
            row.error("closed_on", tr("required value is missing"))
        status = row.choice("status", STATUSES, lambda value, allowed: tr(
            "unknown status '%(value)s' (expected one of: %(allowed)s)", value=value, allowed=allowed)) \
            if row.has("status") else "won"
        cancelled_on = row.date("cancelled_on")
        if status == "won" and row.has("cancelled_on"):
            row.error("cancelled_on", tr("a won deal has no cancelled_on; set status to cancelled, refunded or churned"))
        if status not in (None, "won") and cancelled_on is None and not row.has("cancelled_on"):
            row.error("cancelled_on", tr("a %(status)s deal needs the date it happened in cancelled_on", status=status))
        if cancelled_on is not None and closed_on is not None and cancelled_on < closed_on:
            row.error("cancelled_on", tr("%(on)s is before the deal closed (%(closed)s)", on=cancelled_on.isoformat(),
                                         closed=closed_on.isoformat()))
        if deal_id is not None and deal_id in seen:
            row.error("deal_id", tr("deal %(deal)s appears twice (also on line %(line)s)", deal=deal_id,
                                    line=str(seen[deal_id])))
            continue
        if not row.ok or deal_id is None or credits is None or amount is None or closed_on is None:
            continue
        seen[deal_id] = row.line
        try:
            deal = Deal.model_validate({"id": deal_id, "closed_on": closed_on, "amount": amount, "currency": currency,
                                        "credits": credits})
        except ValidationError as err:
            first = err.errors()[0]
            loc = [str(p) for p in first["loc"]]
            column = {"amount": "amount", "currency": "currency"}.get(loc[0] if loc else "", "employee_id")
            row.error(column, error_text(first))
            continue
        event = None
        if status not in (None, "won") and cancelled_on is not None:
            event = DealEvent(deal_id=deal_id, kind=status, on=cancelled_on)  # type: ignore[arg-type]
        out.append(DealRow(row.line, deal, event))
    return out


def load_deals(path: Path) -> list[DealRow]:
    """Every deal of the file, or ImportFailed listing every problem (file:line:column)."""
    issues = Issues([path.name])
    rows = read_deals(path, issues)
    if not rows and not issues:
        issues.add(path.name, 1, "*", tr("no deal rows after the header"))
    if issues:
        raise issues.failure()
    return rows



@dataclass(frozen=True)
class DealFileSummary:
    """What ``apply_deals_file`` wrote (or, previewing, would write)."""

    deals: int  # rows in the file
    new_deals: int  # deals the CRM had not brought: added to crm_deal (source "csv")
    shared: int  # deals whose split credit the file sets (crm_deal_credit)
    new_events: int  # cancellations, refunds, churn not known before (crm_deal_event)


def apply_deals_file(database_url: str, path: Path, actor: str = "hr", preview: bool = False) -> DealFileSummary:
    """DEALS.csv into the cycle's deal tables, in one transaction (the preview's format, the same checks).

    A deal the CRM already brought keeps its CRM figures; the file adds what a CRM export does not say: a split
    between KAMs (``K01:60;K02:40``, replacing the deal's earlier split) and what happened after it was won
    (``status`` cancelled / refunded / churned on ``cancelled_on``), which a cycle's clawback rules read. A deal
    the CRM did not bring is added, won, as the first KAM's. Writing the same file again changes nothing.
    """
    import hashlib

    import psycopg

    from activities.base import AUDIT_ROW, audit_params
    from services.db import libpq_url

    rows = load_deals(path)
    issues = Issues([path.name])
    people = sorted({c.employee_id for r in rows for c in r.deal.credits})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    with psycopg.connect(libpq_url(database_url)) as conn, conn.transaction():
        known = {e for (e,) in conn.execute("SELECT id FROM employee WHERE id = ANY(%s)", (people,)).fetchall()}
        for r in rows:
            for c in r.deal.credits:
                if c.employee_id not in known:
                    issues.add(path.name, r.line, "employee_id", tr("employee %(employee)s does not exist",
                                                                    employee=c.employee_id))
        if issues:
            raise issues.failure()
        existing = {d for (d,) in conn.execute("SELECT id FROM crm_deal WHERE id = ANY(%s)",
                                               ([r.deal.id for r in rows],)).fetchall()}
        events = {(d, k, on) for d, k, on in conn.execute(
            'SELECT deal_id, kind, "on" FROM crm_deal_event WHERE deal_id = ANY(%s)', ([r.deal.id for r in rows],))}
        new_deals = [r for r in rows if r.deal.id not in existing]
        new_events = [r for r in rows if r.event is not None
                      and (r.deal.id, r.event.kind, r.event.on) not in events]
        shared = [r for r in rows if len(r.deal.credits) > 1]
        summary = DealFileSummary(len(rows), len(new_deals), len(shared), len(new_events))
        if preview:  # nothing written: the transaction commits no change
            return summary
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO crm_deal (id, kind, kam_id, won, amount, currency, closed_on, source)
                   VALUES (%s, 'deal', %s, true, %s, %s, %s, 'csv') ON CONFLICT (id) DO NOTHING""",
                [(r.deal.id, r.deal.credits[0].employee_id, r.deal.amount, r.deal.currency, r.deal.closed_on)
                 for r in new_deals])
            for r in rows:  # the file's split replaces the deal's earlier one; a single KAM needs no split
                cur.execute("DELETE FROM crm_deal_credit WHERE deal_id = %s", (r.deal.id,))
                if len(r.deal.credits) > 1 or r.deal.id in existing:
                    cur.executemany("INSERT INTO crm_deal_credit (deal_id, employee_id, percent) VALUES (%s, %s, %s)",
                                    [(r.deal.id, c.employee_id, c.percent) for c in r.deal.credits])
            cur.executemany(
                """INSERT INTO crm_deal_event (deal_id, kind, "on", refunded_pct, source) VALUES (%s, %s, %s, %s, 'csv')
                   ON CONFLICT DO NOTHING""",
                [(r.deal.id, r.event.kind, r.event.on, r.event.refunded_pct) for r in new_events if r.event])
            cur.execute(AUDIT_ROW, audit_params(
                f"deals.imported:{digest}", actor, "deals.imported", "crm_deal", path.name, None,
                {"deals": summary.deals, "new_deals": summary.new_deals, "shared": summary.shared,
                 "new_events": summary.new_events}))
    return summary
