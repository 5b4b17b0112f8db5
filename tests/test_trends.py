"""services.trends over a world of four released quarterly cycles: every figure exact, and who may read what."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import psycopg
import pytest

from domain.trends import DriftRule
from services.errors import NotFound
from services.trends import drift_report, employee_trend, team_trend
from services.users import SessionUser
from tests.trends_world import trends_world


def viewer(username: str, *roles: str) -> SessionUser:
    return SessionUser(username, username, username, frozenset(roles), "x", datetime(2030, 1, 1, tzinfo=UTC))


HR, K01, K02 = viewer("HR1", "hr"), viewer("K01", "employee"), viewer("K02", "employee")
M1, M2, PAY = viewer("M1", "manager"), viewer("M2", "manager"), viewer("PAY1", "payroll")


def vals(figures):
    return [(f.value, f.change, f.direction) for f in figures]


async def test_a_kams_trend_is_exact(db_url):
    world = await trends_world(db_url)
    ids = world["ids"]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        t = await employee_trend(conn, "K01", HR)
        own = await employee_trend(conn, "K01", K01)
    # The KAM's own view: the final rating and the scores they see on their results page, not calibration's working
    assert not own.calibration_details and {p.normalized_score.value for p in own.cycles} == {None}
    assert [p.adjustments for p in own.cycles] == [0] * 5
    assert [p.final_level.value for p in own.cycles] == [p.final_level.value for p in t.cycles]
    assert (t.name, t.manager_id, t.manager_name) == ("KAM K01", "M1", "Manager M1")
    assert t.cadences() == ["quarterly", "half_yearly"]
    q = t.series("quarterly")
    assert [p.cycle_id for p in q] == [ids[c] for c in ("TQ1", "TQ2", "TQ3", "TQ4")]  # TQ5 is not released
    assert [p.period for p in q] == ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]
    assert vals(p.preliminary_score for p in q) == [(D("2.9"), None, None), (D("3.6"), D("0.7"), "up"),
                                                    (D("3.55"), D("-0.05"), "down"), (D("4.3"), D("0.75"), "up")]
    assert vals(p.normalized_score for p in q) == [(D("3.0"), None, None), (D("3.7"), D("0.7"), "up"),
                                                   (D("3.5"), D("-0.2"), "down"), (D("4.4"), D("0.9"), "up")]
    assert vals(p.final_level for p in q) == [(3, None, None), (4, 1, "up"), (4, 0, "same"), (5, 1, "up")]
    assert [p.final_label for p in q] == ["Meets", "Exceeds", "Exceeds", "Outstanding"]
    assert [p.adjustments for p in q] == [0, 0, 0, 1]
    assert q[0].levels[0] == (5, "Outstanding") and q[0].scale_max == 5
    sales = [next(k for k in p.kpis if k.kpi_id == "sales_attainment") for p in q]
    assert vals(sales) == [(D("0.9"), None, None), (D("1.05"), D("0.15"), "up"), (D("1.05"), 0, "same"),
                           (D("1.2"), D("0.15"), "up")]
    assert [k.better for k in sales] == [None, True, None, True]
    complaints = [next(k for k in p.kpis if k.kpi_id == "complaint_rate") for p in q]
    assert vals(complaints) == [(D("0.03"), None, None), (D("0.02"), D("-0.01"), "down"),
                                (D("0.025"), D("0.005"), "up"), (D("0.01"), D("-0.015"), "down")]
    assert [k.better for k in complaints] == [None, True, False, True]  # fewer complaints is better
    assert complaints[0].label_zh == "客户投诉率" and complaints[0].ratio
    # Locked lines only, the delta line of TQ3 included, the computed draft of TQ3 not; per currency.
    cny = [[(f.value, f.change) for f in p.payouts if f.currency == "CNY"] for p in q]
    assert cny == [[(D(1000), None)], [(D(1700), D(700))], [(D(1200), D(-500))], [(D(2500), D(1300))]]
    assert [(f.currency, f.value, f.change) for f in q[3].payouts] == [("CNY", D(2500), D(1300)), ("USD", D(100), None)]
    half = t.series("half_yearly")  # its own series: no change against a quarter
    assert vals(p.final_level for p in half) == [(4, None, None)]


async def test_a_teams_trend_is_exact(db_url):
    world = await trends_world(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        t = await team_trend(conn, "M1", M1)
    assert t.reports == [("K01", "KAM K01"), ("K03", "KAM K03"), ("K05", "KAM K05")]
    q = t.series("quarterly")
    assert [p.cycle_id for p in q] == [world["ids"][c] for c in ("TQ1", "TQ2", "TQ3", "TQ4")]
    assert [p.rated for p in q] == [3, 3, 3, 3]
    assert [[(c.level, c.count) for c in p.distribution] for p in q][3] == [(5, 2), (4, 1), (3, 0), (2, 0), (1, 0)]
    assert q[3].distribution[0].share == D("0.6667")
    assert vals(p.mean_level for p in q) == [(D(3), None, None), (D("3.3333"), D("0.3333"), "up"),
                                             (D("3.6667"), D("0.3333"), "up"), (D("4.6667"), D("1.0000"), "up")]
    # preliminary: K01's own, the others level − 0.5
    assert [p.mean_score.value for p in q] == [D("2.6333"), D("2.8667"), D("3.1833"), D("4.1")]
    k01 = [next(m for m in p.members if m.employee_id == "K01") for p in q]
    assert [(m.final_level.value, m.final_level.direction) for m in k01] == [(3, None), (4, "up"), (4, "same"),
                                                                              (5, "up")]
    assert t.members("quarterly") == [("K01", "KAM K01"), ("K03", "KAM K03"), ("K05", "KAM K05")]


async def test_the_drift_rule_flags_the_team_that_outruns_the_company(db_url):
    world = await trends_world(db_url)
    ids = world["ids"]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        report = await drift_report(conn)
        relaxed = await drift_report(conn, "quarterly", DriftRule(mean_threshold=D(1), share_threshold=D("0.4")))
        halves = await drift_report(conn, "half_yearly")
    assert report.cadence == "quarterly"
    assert [c for c, _, _ in report.cycles] == [ids["TQ2"], ids["TQ3"], ids["TQ4"]]  # the last 3
    by = {m.manager_id: m for m in report.managers}
    m1, m2 = by["M1"].drift, by["M2"].drift
    assert (m1.first_cycle, m1.last_cycle) == (ids["TQ2"], ids["TQ4"])
    assert (m1.team_mean_change, m1.company_mean_change, m1.mean_drift) == (D("1.3333"), D("0.6667"), D("0.6667"))
    assert (m1.top_drift, m1.bottom_drift) == (D("0.3333"), D(0))
    assert m1.flags == ("mean_up", "top_up") and m1.leaning == "generous"
    assert m2.flags == ("mean_down", "top_down") and m2.leaning == "strict" and m2.mean_drift == D("-0.6667")
    assert [c.team_mean for c in by["M1"].cycles] == [D("3.3333"), D("3.6667"), D("4.6667")]
    assert [c.company_mean for c in by["M1"].cycles] == [D(3), D("3.1667"), D("3.6667")]
    assert not relaxed.flagged and len(relaxed.managers) == 2
    assert halves.cadence == "half_yearly" and not halves.flagged  # one cycle: nothing to compare
    assert all(m.drift.first_cycle is None for m in halves.managers)


async def test_who_may_read_which_trend(db_url):
    await trends_world(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        assert (await employee_trend(conn, "K01", HR)).cycles
        assert (await employee_trend(conn, "K01", M1)).cycles  # a direct report
        assert (await team_trend(conn, "M1", HR)).cycles
        for who, emp in ((K02, "K01"), (M2, "K01"), (PAY, "K01"), (M1, "K02"), (HR, "NOBODY"), (M1, "M1")):
            with pytest.raises(NotFound):
                await employee_trend(conn, emp, who)
        for who, mgr in ((M2, "M1"), (K01, "M1"), (PAY, "M1"), (HR, "NOBODY")):
            with pytest.raises(NotFound):
                await team_trend(conn, mgr, who)


async def test_no_released_cycle_yet(db_url):
    from tests.helpers import seed_org

    seed_org(db_url, kams=2)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        assert (await employee_trend(conn, "K01", K01)).cycles == []
        assert (await team_trend(conn, "M1", M1)).cycles == []
        report = await drift_report(conn)
    assert report.cadence is None and report.managers == [] and report.cycles == []
