"""A world for the trends: four released quarterly cycles, one half-yearly, one not yet released.

Written directly (as tests/web/test_permissions.py's ``released_cycle`` does): the cycles' workflows are not the
subject here, their results are. Six KAMs, two managers (K01, K03, K05 under M1; K02, K04, K06 under M2).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import yaml

from domain.cycle import CycleConfig
from services.cycles import create_cycle
from tests.helpers import ROOT, seed_org

QUARTERS = [("TQ1", "2025-Q3", date(2025, 7, 1), date(2025, 9, 30)),
            ("TQ2", "2025-Q4", date(2025, 10, 1), date(2025, 12, 31)),
            ("TQ3", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
            ("TQ4", "2026-Q2", date(2026, 4, 1), date(2026, 6, 30))]
HALF = ("TH1", "2025-H2", date(2025, 7, 1), date(2025, 12, 31))
UNRELEASED = ("TQ5", "2026-Q3", date(2026, 7, 1), date(2026, 9, 30))

#: Final levels per cycle: M1's team climbs faster than the company, M2's stays where it was.
LEVELS = {
    "TQ1": {"K01": 3, "K03": 3, "K05": 3, "K02": 3, "K04": 3, "K06": 3},
    "TQ2": {"K01": 4, "K03": 3, "K05": 3, "K02": 3, "K04": 3, "K06": 2},
    "TQ3": {"K01": 4, "K03": 4, "K05": 3, "K02": 3, "K04": 2, "K06": 3},
    "TQ4": {"K01": 5, "K03": 5, "K05": 4, "K02": 3, "K04": 3, "K06": 2},
    "TH1": {"K01": 4, "K03": 3, "K05": 3, "K02": 3, "K04": 3, "K06": 3},
    "TQ5": {"K01": 1, "K03": 1, "K05": 1, "K02": 1, "K04": 1, "K06": 1},
}
#: K01's own scores (preliminary, normalized); everyone else's are level − 0.5 and level − 0.4.
K01_SCORES = {"TQ1": ("2.9", "3.0"), "TQ2": ("3.6", "3.7"), "TQ3": ("3.55", "3.5"), "TQ4": ("4.3", "4.4"),
              "TH1": ("3.8", "3.9"), "TQ5": ("1", "1")}
K01_KPIS = {"2025-Q3": {"sales_attainment": "0.9", "complaint_rate": "0.03"},
            "2025-Q4": {"sales_attainment": "1.05", "complaint_rate": "0.02"},
            "2026-Q1": {"sales_attainment": "1.05", "complaint_rate": "0.025"},
            "2026-Q2": {"sales_attainment": "1.2", "complaint_rate": "0.01"}}
#: K01's payout lines: (cycle, key suffix, type, amount, currency, revision, locked)
K01_PAY = [("TQ1", "bonus", "bonus", "1000", "CNY", 0, True),
           ("TQ2", "bonus", "bonus", "1500", "CNY", 0, True),
           ("TQ2", "commission", "commission", "200", "CNY", 0, True),
           ("TQ3", "bonus", "bonus", "1500", "CNY", 0, True),
           ("TQ3", "delta", "adjustment", "-300", "CNY", 1, True),  # a correction after payment: a delta line
           ("TQ3", "draft", "adjustment", "999", "CNY", 2, False),  # computed, not approved: never counted
           ("TQ4", "bonus", "bonus", "2500", "CNY", 0, True),
           ("TQ4", "usd", "bonus", "100", "USD", 0, True)]


def _config(cycle_id: str, cadence: str, label: str, start: date, end: date) -> CycleConfig:
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    data.update(id=cycle_id, name=f"KAM review {label}", cadence=cadence,
                period={"label": label, "start": start, "end": end})
    return CycleConfig.model_validate(data)


def _scores(cycle_id: str, employee: str, level: int) -> tuple[Decimal, Decimal]:
    if employee == "K01":
        p, n = K01_SCORES[cycle_id]
        return Decimal(p), Decimal(n)
    return Decimal(level) - Decimal("0.5"), Decimal(level) - Decimal("0.4")


async def trends_world(db_url: str, prefix: str = "", seed: bool = True) -> dict[str, Any]:
    """Seed the org (unless ``seed`` is False) and the cycles; cycle ids get ``prefix`` (unique per test run)."""
    org = seed_org(db_url, kams=6, managers=2) if seed else {}
    cycles = [(c, "quarterly", label, s, e) for c, label, s, e in QUARTERS]
    cycles += [(HALF[0], "half_yearly", *HALF[1:]), (UNRELEASED[0], "quarterly", *UNRELEASED[1:])]
    ids = {c: prefix + c for c, *_ in cycles}
    for c, cadence, label, start, end in cycles:
        await create_cycle(db_url, _config(ids[c], cadence, label, start, end))
    with psycopg.connect(db_url) as conn:
        for c, _, label, _, _ in cycles:
            cid = ids[c]
            released = c != UNRELEASED[0]
            conn.execute("""UPDATE review_cycle SET status = 'locked', started_at = now(), locked_at = now(),
                                   results_released_at = CASE WHEN %s THEN now() END,
                                   results_released_by = CASE WHEN %s THEN 'HR1' END WHERE id = %s""",
                         (released, released, cid))
            rows = conn.execute("SELECT id, employee_id, reviewer_id FROM review WHERE cycle_id = %s", (cid,)).fetchall()
            for review_id, emp, mgr in rows:
                level = LEVELS[c][emp]
                prelim, normalized = _scores(c, emp, level)
                conn.execute("UPDATE review SET status = 'closed', preliminary_score = %s WHERE id = %s",
                             (prelim, review_id))
                conn.execute("""INSERT INTO calibrated_rating (review_id, cycle_id, employee_id, manager_id,
                                       preliminary_score, normalized_score, suggested_level, final_level, finalized)
                                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, true)""",
                             (review_id, cid, emp, mgr, prelim, normalized, level, level))
            for kpi, value in K01_KPIS.get(label, {}).items():
                conn.execute("""INSERT INTO kpi_actual (employee_id, period, kpi_id, value) VALUES ('K01', %s, %s, %s)
                                ON CONFLICT DO NOTHING""", (label, kpi, value))
        conn.execute("""INSERT INTO rating_adjustment (id, review_id, from_level, to_level, reason, actor)
                        VALUES (%s, %s, 4, 5, 'exceptional year', 'HR1')""",
                     (f"adj-{ids['TQ4']}", f"{ids['TQ4']}:K01"))
        for c, key, kind, amount, currency, revision, _ in K01_PAY:
            conn.execute("""INSERT INTO payout_line (idempotency_key, cycle_id, employee_id, line_type, amount,
                                   currency, period, plan_id, plan_version, revision, explanation, status)
                            VALUES (%s, %s, 'K01', %s, %s, %s, 'p', 'kam-incentive-2026', 1, %s, 'trend world',
                                    'computed')""",
                         (f"{ids[c]}:K01:{key}", ids[c], kind, amount, currency, revision))
        locked = [f"{ids[c]}:K01:{key}" for c, key, *_, lock in K01_PAY if lock]
        conn.execute("""UPDATE payout_line SET status = 'locked', approved_by = 'PAY1', locked_at = now()
                        WHERE idempotency_key = ANY(%s)""", (locked,))
    return {"org": org, "ids": ids}
