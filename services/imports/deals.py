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

