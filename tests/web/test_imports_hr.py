"""HR's upload page takes an HR system's roster export too (issue 12): previewed, confirmed once, its problems listed
with the export's own row and column labels in the reader's language."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import count
from tests.hr_exports import person, roster_xlsx
from tests.web.test_imports import confirm_form, text_of, upload

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _roster(tmp_path: Path, manager_name: str = "钱总") -> tuple[str, bytes]:
    path = roster_xlsx(tmp_path / "花名册.xlsx", [
        person("N-M1", "钱总", "销售总监"),
        person("N-K1", "郑洁", "大客户经理", manager_name=manager_name, hired="2026年7月1日"),
        person("N-K2", "冯涛", "客户经理", "N-M1", left="2026/9/30", status="离职"),
    ])
    return path.name, path.read_bytes()


async def test_an_hr_export_is_previewed_then_confirmed_once(web, tmp_path: Path) -> None:
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    assert 'value="hr"' in (await hr.get("/hr/imports")).text
    r = await upload(hr, "hr", [_roster(tmp_path)])
    assert r.status_code == 200, r.text
    page = text_of(r.text)
    assert "employee: 3 new, 0 changed, 0 unchanged" in page and "Nothing has been written yet" in page
    assert count(web.db_url, "SELECT count(*) FROM employee WHERE id LIKE 'N-%%'") == 0
    action, form = confirm_form(r.text)
    r = await hr.post(action, data=form)
    assert r.status_code == 303
    assert "imported 花名册.xlsx: 3 new and 0 changed rows" in text_of((await hr.get("/hr/imports")).text)
    assert count(web.db_url, "SELECT count(*) FROM employee WHERE id = 'N-K1' AND manager_id = 'N-M1'"
                 " AND role = 'kam'") == 1
    assert count(web.db_url, "SELECT count(*) FROM employee WHERE id = 'N-K2' AND termination_date = '2026-09-30'") == 1


async def test_problems_in_an_hr_export_are_listed_in_chinese(web, tmp_path: Path) -> None:
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "zh")
    r = await upload(hr, "hr", [_roster(tmp_path, manager_name="无此人")])
    assert r.status_code == 422
    assert "花名册.xlsx 第 5 行，列 直属上级：花名册.xlsx 中没有名为“无此人”的员工" in text_of(r.text)
    r = await upload(hr, "hr", [_roster(tmp_path), ("second.csv", b"x")])
    assert r.status_code in (400, 422) and "人事系统导出只需一个文件" in text_of(r.text)
    assert count(web.db_url, "SELECT count(*) FROM employee WHERE id LIKE 'N-%%'") == 0
