"""Choosing a cycle's participants beyond managers (issue 12): everyone under a manager at any depth, grade,
region, cost centre; kinds combine with AND, values within a kind with OR; listed employees are added. The
organisation import carries the two new optional columns; files without them keep working."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from domain.cycle import Participants
from services.cycles import config_digest, create_cycle, preview_participants
from services.errors import UserError
from services.importer import ImportFailed, import_files
from tests.helpers import cycle_config
from tests.test_cli import cli  # noqa: F401 - the fixture

# H1 heads East: M1 (K01, K02) and M2 (K03), and K05 directly; H2 heads West: M3 (K04).
ORG = """\
employee_id,name,role,manager_id,grade,hire_date,region,cost_centre
H1,赵建国,manager,,L3,2015-01-01,East China,CC-SH
H2,Li Hua,manager,,L3,2015-01-01,West China,CC-CD
M1,周敏,manager,H1,L2,2016-01-01,East China,CC-SH
M2,陈静,manager,H1,L2,2016-01-01,East China,CC-HZ
M3,王强,manager,H2,L2,2016-01-01,West China,CC-CD
K01,王芳,kam,M1,K1,2020-01-01,East China,CC-SH
K02,Michael Brown,kam,M1,K2,2020-01-01,East China,CC-HZ
K03,张伟,kam,M2,K2,2020-01-01,华东,CC-HZ
K04,刘洋,kam,M3,K2,2020-01-01,West China,CC-CD
K05,孙丽,kam,H1,K3,2020-01-01,,
"""


@pytest.fixture
def org(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "ORG.csv").write_text(ORG, encoding="utf-8")
    (tmp_path / "ACCOUNTS.csv").write_text("account_id,account_name,kam_id,annual_revenue\n", encoding="utf-8")
    (tmp_path / "KPIS.csv").write_text("employee_id,period,kpi_id,value\n", encoding="utf-8")
    import_files(db_url, tmp_path / "ORG.csv", tmp_path / "ACCOUNTS.csv", tmp_path / "KPIS.csv")


def config(**participants: Any):  # noqa: ANN201 - a CycleConfig
    base = cycle_config("F1")
    return base.model_copy(update={"participants": Participants(**participants)})


async def chosen(db_url: str, **participants: Any) -> list[str]:
    found = await preview_participants(db_url, config(**participants))
    assert found.participants == len(found.employees)
    return found.employees


@pytest.mark.parametrize(("participants", "expected"), [
    ({"all_kams": True}, ["K01", "K02", "K03", "K04", "K05"]),
    ({"managers": ["M1"]}, ["K01", "K02"]),
    ({"under": ["H1"]}, ["K01", "K02", "K03", "K05"]),  # transitively: M1's and M2's KAMs, and H1's own
    ({"under": ["M2", "H2"]}, ["K03", "K04"]),  # OR within a kind
    ({"under": ["H1"], "grades": ["K2"]}, ["K02", "K03"]),  # AND across kinds
    ({"grades": ["k2", "K3"]}, ["K02", "K03", "K04", "K05"]),  # case does not matter
    ({"regions": ["east china", "华东"]}, ["K01", "K02", "K03"]),
    ({"regions": ["East China", "West China"], "cost_centres": ["CC-HZ", "CC-CD"]}, ["K02", "K04"]),
    ({"managers": ["M1"], "under": ["H1"], "grades": ["K1"]}, ["K01"]),
    ({"all_kams": True, "regions": ["West China"]}, ["K04"]),
    ({"under": ["H2"], "employees": ["K01"]}, ["K01", "K04"]),  # listed employees are added whatever the filters
])
async def test_filters_combine_and_across_kinds_or_within_a_kind(db_url: str, org: None, participants: dict,
                                                                 expected: list[str]) -> None:
    assert await chosen(db_url, **participants) == expected


async def test_a_filter_value_nobody_has_is_refused_not_silently_empty(db_url: str, org: None) -> None:
    with pytest.raises(UserError, match="participants.regions: no employee has region 'North Pole'"):
        await chosen(db_url, regions=["East China", "North Pole"])
    with pytest.raises(UserError, match="participants.under: unknown manager"):
        await chosen(db_url, under=["H9"])
    with pytest.raises(UserError, match="matches nobody"):
        await chosen(db_url, under=["H2"], grades=["K1"])  # both exist, nobody has both
    with pytest.raises(ValidationError, match="choose participants"):
        Participants()


async def test_create_cycle_freezes_the_filtered_participants(db_url: str, org: None) -> None:
    created = await create_cycle(db_url, config(under=["H1"], cost_centres=["CC-HZ"]))
    assert (created.created, created.participants) == (True, 2)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT employee_id, reviewer_id FROM review WHERE cycle_id = 'F1' ORDER BY 1").fetchall()
    assert rows == [("K02", "M1"), ("K03", "M2")]
    again = await create_cycle(db_url, config(under=["H1"], cost_centres=["CC-HZ"]))
    assert not again.created


def test_a_configuration_without_the_new_filters_keeps_its_digest() -> None:
    """Cycles frozen before the filters existed must still match their configuration when created again."""
    from services.cycles import dumps

    old = config(all_kams=True)
    # As it dumped before the filters: without them, and without the settings added since (unset here).
    dumped = old.model_dump(mode="json", exclude={"notifications": True, "plan_year": True, "peer_feedback": True,
                                                  "added_phases": True})
    for kind in ("under", "grades", "regions", "cost_centres"):
        del dumped["participants"][kind]
    assert config_digest(old) == hashlib.sha256(dumps(dumped).encode()).hexdigest()
    assert config_digest(config(all_kams=True, regions=["East China"])) != config_digest(old)


def test_org_import_region_and_cost_centre(db_url: str, tmp_path: Path) -> None:
    accounts, kpis = tmp_path / "ACCOUNTS.csv", tmp_path / "KPIS.csv"
    accounts.write_text("account_id,account_name,kam_id,annual_revenue\n", encoding="utf-8")
    kpis.write_text("employee_id,period,kpi_id,value\n", encoding="utf-8")
    org = tmp_path / "ORG.csv"
    org.write_text("employee_id,name,role\nH1,赵建国,manager\n", encoding="utf-8")  # a file without the columns
    import_files(db_url, org, accounts, kpis)
    org.write_text("employee_id,name,role,region,cost_centre\nH1,赵建国,manager,华东,CC-SH\n", encoding="utf-8")
    assert import_files(db_url, org, accounts, kpis).employee.updated == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT region, cost_centre FROM employee WHERE id = 'H1'").fetchone() == ("华东", "CC-SH")
    org.write_text("employee_id,name,role,region\nH1,赵建国,manager," + "x" * 101 + "\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as info:
        import_files(db_url, org, accounts, kpis)
    assert [str(i) for i in info.value.issues] == [
        "ORG.csv:2:region: region must be one line of at most 100 characters"]


def test_cli_cycle_create_preview_says_who_and_creates_nothing(cli, db_url: str, org: None,  # noqa: F811
                                                               tmp_path: Path) -> None:
    import yaml

    from tests.helpers import ROOT

    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    data["participants"] = {"under": ["H1"], "regions": ["east china"]}
    path = tmp_path / "cycle.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc = cli("cycle", "create", str(path), "--preview")
    assert proc.returncode == 0, proc.stderr
    assert "cycle 2026-Q3 would review 2 participants: K01, K02" in proc.stdout and "nothing was created" in proc.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM review_cycle").fetchone()[0] == 0
