"""`kamreview trends`: one KAM, a team, the drift list; as tables and as JSON; mistakes as messages."""

from __future__ import annotations

import json

from tests.test_cli import cli  # noqa: F401 - the fixture
from tests.trends_world import trends_world


async def test_trends_of_a_kam_a_team_and_the_drift_list(cli, db_url):  # noqa: F811
    world = await trends_world(db_url)
    out = cli("trends", "K01")
    assert out.returncode == 0, out.stderr
    assert "K01 KAM K01 (manager M1 Manager M1)" in out.stdout
    q4 = next(line for line in out.stdout.splitlines() if line.strip().startswith("2026-Q2"))
    assert "5 ↑+1" in q4 and "Outstanding (adjusted)" in q4 and "4.3 ↑+0.75" in q4 and "2500.00 ↑+1300.00" in q4
    assert "120.0% ↑+15.0pp" in q4 and "100.00" in q4  # sales attainment; the USD line
    data = json.loads(cli("trends", "K01", "--json").stdout)
    assert [c["final_level"]["value"] for c in data["cycles"] if c["cadence"] == "quarterly"] == ["3", "4", "4", "5"]
    assert data["cycles"][2]["payouts"][0]["value"] == "1200.00"  # the delta line counted, the draft not

    team = cli("trends", "--team", "M1")
    assert team.returncode == 0, team.stderr
    assert "team of M1 Manager M1: 3 direct report(s)" in team.stdout
    assert any(line.split()[:4] == ["2026-Q2", "3", "2", "1"] for line in team.stdout.splitlines())
    team_json = json.loads(cli("trends", "--team", "M1", "--json").stdout)
    assert [c["cycle_id"] for c in team_json["cycles"]][-1] == world["ids"]["TH1"]  # quarterly first, then half-yearly
    assert [c["rated"] for c in team_json["cycles"]] == [3, 3, 3, 3, 3]

    drift = cli("trends", "--drift")
    assert drift.returncode == 0, drift.stderr
    m1 = next(line for line in drift.stdout.splitlines() if line.strip().startswith("M1"))
    assert "0.6667" in m1 and "generous: mean_up, top_up" in m1
    assert json.loads(cli("trends", "--drift", "--json").stdout)["managers"][0]["drift"]["flags"] == ["mean_up", "top_up"]


def test_trends_mistakes(cli, db_url):  # noqa: F811
    from tests.helpers import seed_org

    seed_org(db_url, kams=2)
    none = cli("trends")
    assert none.returncode == 2 and "name one of" in none.stderr
    both = cli("trends", "K01", "--team", "M1")
    assert both.returncode == 2
    missing = cli("trends", "NOBODY")
    assert missing.returncode == 3 and "NOBODY" in missing.stderr
    assert cli("trends", "--drift", "--cadence", "weekly").returncode == 2
    empty = cli("trends", "K01")
    assert empty.returncode == 0 and "no released cycle yet" in empty.stdout
