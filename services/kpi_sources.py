"""What a KPI figure came from, as `review show` and the participant page list it: today's figure (kpi_actual), the
one the score used when the review closed (the stored score breakdown), and the CRM records (kpi_source).

Kept apart from services.kpis (which writes figures and imports the audit helpers) so a read command stays light.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SOURCES_SQL = """SELECT a.kpi_id, a.value, s.numerator, s.denominator, s.records, s.employee_id IS NOT NULL
                 FROM kpi_actual a LEFT JOIN kpi_source s USING (employee_id, period, kpi_id)
                 WHERE a.employee_id = %s AND a.period = %s"""


@dataclass(frozen=True)
class KpiSourceView:
    """A KPI figure as the review pages show it: today's figure, what the score used, and its records."""

    kpi_id: str
    value: Decimal | None  # the figure now (kpi_actual)
    scored_value: Decimal | None  # what the preliminary score used when the review closed (None: not scored yet)
    numerator: Decimal | None
    denominator: Decimal | None
    records: list[dict[str, Any]]
    computed: bool  # False: entered by hand (KPIS.csv), no records

    @property
    def corrected(self) -> bool:
        """The figure changed after the score was made (a late correction; payouts recompute pays on it)."""
        return self.scored_value is not None and self.value is not None and self.scored_value != self.value


def source_views(rows: Iterable[tuple[Any, ...]], breakdown: dict[str, Any] | None,
                 kpi_order: Iterable[str]) -> list[KpiSourceView]:
    """SOURCES_SQL rows with the stored score breakdown's actuals, in the scorecard's order."""
    scored = {ln.get("item"): ln.get("actual") for ln in (breakdown or {}).get("lines", [])
              if ln.get("component") == "kpis"}
    found = {r[0]: r for r in rows}
    out = []
    for kpi in kpi_order:
        row = found.get(kpi)
        used = scored.get(kpi)
        if row is None and used is None:
            continue
        _, value, num, den, records, computed = row or (kpi, None, None, None, None, False)
        out.append(KpiSourceView(kpi, value, None if used is None else Decimal(str(used)), num, den,
                                 list(records or []), bool(computed)))
    return out


async def kpi_sources(conn: Any, employee_id: str, period: str) -> dict[str, KpiSourceView]:
    """The current figures of one person and period with their records (no score: ``scored_value`` None)."""
    rows = await (await conn.execute(SOURCES_SQL, (employee_id, period))).fetchall()
    return {v.kpi_id: v for v in source_views(rows, None, [r[0] for r in rows])}
