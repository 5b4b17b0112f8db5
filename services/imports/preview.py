"""What an import would change, before it changes anything: per table the new, changed and unchanged rows with
a few examples of each, and what was read but counts for nobody (records of accounts that are no key account;
contacts of other accounts).
Built from the writer's own plan, so the preview and the write cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.text import Text, tr
from services.imports.records import RecordSet
from services.imports.writer import RowChange, TableCounts, TablePlan, plan_digest
from services.org_changes import OrgDiff, diff_from_plans

EXAMPLES = 5
PROJECT_TABLES = ("employee", "key_account", "customer_contact", "kpi_actual")
"""What the project's own three CSV files hold: their preview lists these tables even when empty."""


@dataclass(frozen=True)
class TablePreview:
    counts: TableCounts
    new: list[RowChange]
    changed: list[RowChange]


@dataclass(frozen=True)
class ImportPreview:
    """``tables`` in write order; ``deals``/``won_deals``/``orders``/``cases``/``complaints`` count the records
    read for the KPI computation (stored in crm_deal / crm_case); ``notes`` say what was left out and why."""

    source: str
    files: list[str]
    tables: dict[str, TablePreview]
    deals: int = 0
    won_deals: int = 0
    orders: int = 0
    cases: int = 0
    complaints: int = 0
    notes: list[Text] = field(default_factory=list)
    org: OrgDiff | None = None  # the org changes (joiners, leavers, ...) for the running cycles (services.org_changes)
    digest: str = ""
    """``plan_digest`` of the whole plan: what a confirmation passes back as ``expect``."""

    @property
    def changed(self) -> bool:
        return any(t.counts.changed for t in self.tables.values())

    def lines(self) -> list[Text]:
        """The preview as lines to show (the CLI prints them; the web page can list them)."""
        out: list[Text] = []
        for table, preview in self.tables.items():
            c = preview.counts
            if not (c.changed or c.unchanged) and (self.source != "csv" or table not in PROJECT_TABLES):
                continue  # only what this source holds: a CRM export has no org, the project's files no deals
            out.append(tr("%(table)s: %(new)s new, %(changed)s changed, %(unchanged)s unchanged", table=table,
                          new=str(c.inserted), changed=str(c.updated), unchanged=str(c.unchanged)))
            for change in preview.new:
                out.append(tr("  + %(key)s %(values)s", key=change.key, values=_values(change.after)))
            for change in preview.changed:
                before = change.before or {}
                diff = {k: v for k, v in change.after.items() if before.get(k) != v}
                was = {k: before.get(k) for k in diff}
                out.append(tr("  ~ %(key)s %(values)s (was %(before)s)", key=change.key, values=_values(diff),
                              before=_values(was)))
        if self.deals or self.orders or self.cases:
            out.append(tr("records for the KPIs: %(deals)s deals (%(won)s won), %(orders)s orders, "
                          "%(cases)s cases (%(complaints)s complaints)", deals=str(self.deals),
                          won=str(self.won_deals), orders=str(self.orders), cases=str(self.cases),
                          complaints=str(self.complaints)))
        out.extend(self.notes)
        return out

    def __str__(self) -> str:
        return "\n".join(str(line) for line in self.lines())


def _values(values: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if v not in (None, "", []))


def build_preview(source: str, files: list[str], plans: dict[str, TablePlan], records: RecordSet,
                  examples: int = EXAMPLES) -> ImportPreview:
    tables = {}
    for table, plan in plans.items():
        new, changed = plan.examples(examples)
        tables[table] = TablePreview(plan.counts, new, changed)
    deals = [d for d in records.deals.values() if d.kind == "deal"]
    orders = [d for d in records.deals.values() if d.kind == "order" and d.won]
    notes: list[Text] = []
    if records.contacts_unlinked:
        shown = ", ".join(f"{c.name or c.id} ({c.account_name or '-'})" for c in records.contacts_unlinked[:examples])
        notes.append(tr("%(count)s contacts left out: their account is neither in these files nor in the database "
                        "(e.g. %(examples)s)", count=str(len(records.contacts_unlinked)), examples=shown))
    unattributed = [r.id for r in [*records.deals.values(), *records.cases.values()] if r.kam_id is None]
    if unattributed:
        notes.append(tr("%(count)s deals, orders or cases count for no KAM: their account is not a key account "
                        "(e.g. %(examples)s)", count=str(len(unattributed)),
                        examples=", ".join(unattributed[:examples])))
    org = diff_from_plans(plans, frozenset(records.employees) if records.org_file is not None else None)
    return ImportPreview(source, files, tables, len(deals), sum(1 for d in deals if d.won), len(orders),
                         len(records.cases), sum(1 for c in records.cases.values() if c.complaint), notes, org,
                         plan_digest(plans))
