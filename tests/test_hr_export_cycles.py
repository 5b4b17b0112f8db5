"""Org changes from an HR system's roster export reach running cycles exactly as the project's ORG.csv does: the
preview lists them with the cycles they reach, the write then applies them through the workflows (real Temporal,
real PostgreSQL; the running cycle is test_org_changes' own)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.imports.hr_export import apply_hr_import, preview_hr_import
from services.org_changes import apply_pending, describe, has_pending
from tests import test_org_changes
from tests.helpers import count
from tests.hr_exports import HEADER, person, roster_xlsx
from tests.test_org_changes import _one, _status

running = test_org_changes.running  # the running cycle fixture

BY_NAME = [c for c in HEADER if c != "直属上级工号"]  # the manager given by name only, as 飞书人事 writes it


def _roster(folder: Path, name: str = "花名册.xlsx", **changes: dict) -> Path:
    """test_org_changes' org (HR1, M1, M2; K01, K03 under M1, K02 under M2) as an HR export, with ``changes``."""
    rows = {
        "HR1": person("HR1", "Hannah HR", "HRBP", dept="人力资源部"),
        "M1": person("M1", "Manager M1", "销售经理"),
        "M2": person("M2", "Manager M2", "销售总监"),
        "K01": person("K01", "KAM K01", "大客户经理", manager_name="Manager M1"),
        "K02": person("K02", "KAM K02", "大客户经理", manager_name="Manager M2"),
        "K03": person("K03", "KAM K03", "客户经理", manager_name="Manager M1"),
    }
    for row in rows.values():
        row.update({"工作地点": None, "成本中心": None})
    for eid, change in changes.items():
        rows[eid].update(change)
    return roster_xlsx(folder / name, list(rows.values()), header=BY_NAME)


async def test_a_manager_change_and_a_leaver_from_the_hr_export_reach_the_running_cycle(client, db_url, running,
                                                                                       tmp_path):
    C = running["cycle"]  # noqa: N806
    assert not preview_hr_import(db_url, _roster(tmp_path, "same.xlsx")).changed  # the same org: nothing to do
    path = _roster(tmp_path, K01={"直属上级": "Manager M2"}, K02={"离职日期": "2026/8/15", "员工状态": "离职"})
    preview = preview_hr_import(db_url, path)
    text = str(await describe(db_url, preview.org))
    assert f"manager change K01 KAM K01: M1 -> M2\n  cycle {C}: the open scoring task moves to M2" in text
    assert "leaver K02 KAM K02, leaving on 2026-08-15" in text and "prorated 46/92 days" in text
    assert not await has_pending(db_url)
    apply_hr_import(db_url, path, actor="HR1", expect=preview.digest)
    report = await apply_pending(client, db_url, "HR1")
    assert f"cycle {C}: the open scoring task moved to M2" in str(report)
    assert (await _status(client, C, "K01")).reviewer_id == "M2"
    assert _one(db_url, "SELECT assignee_id FROM task WHERE id = %s", f"{C}:K01:manager_scoring")[0] == "M2"
    assert not await has_pending(db_url)


async def test_the_cli_previews_then_applies_and_a_second_run_changes_nothing(client, db_url, task_queue, running,
                                                                              tmp_path):
    from tests.test_cli import cli_env
    from tests.test_cli import run_cli as run_blocking

    async def run_cli(*args):  # in a thread: the test's worker runs on this event loop
        return await asyncio.to_thread(run_blocking, *args)

    C = running["cycle"]  # noqa: N806
    env = cli_env(db_url, client, task_queue, tmp_path)
    path = str(_roster(tmp_path, K03={"直属上级": "Manager M2"}))
    shown = await run_cli(env, tmp_path, "import-org", "hr", path, "--preview")
    assert shown.returncode == 0, shown.stderr
    assert "employee: 0 new, 1 changed, 5 unchanged" in shown.stdout
    assert f"manager change K03 KAM K03: M1 -> M2\n  cycle {C}: the open scoring task moves to M2" in shown.stdout
    assert "preview only: nothing was written" in shown.stdout
    done = await run_cli(env, tmp_path, "import-org", "hr", path)
    assert done.returncode == 0, done.stderr
    assert "employee: 0 inserted, 1 updated, 5 unchanged" in done.stdout
    assert f"cycle {C}: the open scoring task moved to M2" in done.stdout
    again = await run_cli(env, tmp_path, "import-org", "hr", path)
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout and "org changes" not in again.stdout
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'review.reviewer_reassigned'") == 1
    bad = await run_cli(env, tmp_path, "import-org", "hr", str(_roster(tmp_path, "bad.xlsx",
                                                                      K01={"直属上级": "Nobody"})))
    assert bad.returncode != 0
    assert "bad.xlsx:7:直属上级: no employee named 'Nobody' in bad.xlsx" in bad.stdout + bad.stderr
