"""An HR system's roster export as the org: the reader (title rows, Chinese or English headers, merged cells, Excel
and text dates, 离职, managers by name, encodings), its mapping file, and the preview and write on PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest

from services.errors import Rejected
from services.imports.hr_export import apply_hr_import, load_hr_mapping, preview_hr_import, read_hr_export
from services.imports.issues import ImportFailed, Issues
from services.imports.writer import TableCounts
from tests.hr_exports import HEADER, person, roster_csv, roster_xlsx


def _people() -> list[dict]:
    return [
        person("HR1", "孙丽", "HRBP", dept="人力资源部", region="上海", cost="CC-900"),
        person("P01", "周敏", "薪酬专员", "HR1", dept="人力资源部", region="上海", cost="CC-900"),
        person("M1", "王经理", "销售经理", dept="销售中心", hired=datetime(2019, 4, 1)),
        person("M2", "李总监", "销售总监", dept="销售中心"),
        person("K01", "张伟", "华东区大客户经理", "M1", hired=datetime(2021, 3, 15), mobile="13800138000"),
        person("K02", "刘洋", "客户经理", manager_name="李总监", hired="2022/7/1"),
        person("K03", "陈静", "大客户经理", "M1", hired="2020年5月6日", left="2026年9月30日", status="离职"),
        person("E01", "赵强", "软件工程师", "M2", dept="研发中心", region="北京"),
    ]


def _read(path: Path, mapping=None):
    issues = Issues([path.name])
    export = read_hr_export(path, mapping or load_hr_mapping(), issues)
    return export, issues


def test_an_xlsx_roster_with_a_title_row_merged_cells_and_both_kinds_of_dates(tmp_path):
    path = roster_xlsx(tmp_path / "花名册_20260901.xlsx", _people())
    export, issues = _read(path)
    assert not issues, issues.failure()
    people = export.records.employees
    assert {e: r.role for e, r in people.items()} == {
        "HR1": "hr", "P01": "payroll", "M1": "manager", "M2": "manager", "K01": "kam", "K02": "kam", "K03": "kam",
        "E01": "other"}
    assert people["K02"].manager_id == "M2"  # 直属上级 given by name only
    assert people["K01"].hire_date == date(2021, 3, 15) and people["M1"].hire_date == date(2019, 4, 1)
    assert people["K02"].hire_date == date(2022, 7, 1) and people["K03"].hire_date == date(2020, 5, 6)
    assert people["K03"].termination_date == date(2026, 9, 30)
    assert people["K01"].region == "华东" and people["K02"].region == "华东"  # a merged 工作地点: its first row
    assert people["HR1"].region == "上海" and people["E01"].region == "北京"
    assert people["K01"].mobile == "13800138000" and people["K01"].cost_centre == "CC-100"
    assert people["K01"].line == 8  # the spreadsheet's own row: title, blank, header, then the people
    assert (people["K01"].timezone, people["K01"].locale, people["K01"].currency) == ("Asia/Shanghai", "zh-CN", "CNY")
    assert export.records.org_labels["manager_id"] == "直属上级工号"


def test_csv_in_gb18030_or_utf8_says_which(tmp_path):
    for encoding, said in (("gb18030", "GB18030 (as Chinese Excel saves CSV)"),
                           ("utf-8-sig", "UTF-8 (with a byte-order mark)"), ("utf-8", "UTF-8")):
        path = roster_csv(tmp_path / f"roster-{encoding}.csv", _people(), encoding=encoding)
        export, issues = _read(path)
        assert not issues, issues.failure()
        assert export.records.employees["K03"].termination_date == date(2026, 9, 30)
        assert export.records.employees["K02"].hire_date == date(2022, 7, 1)
        assert [str(n) for n in export.notes] == [f"{path.name} was read as {said}"]


def test_problems_name_file_row_and_the_column_as_the_export_labels_it(tmp_path):
    people = _people()
    people[6]["离职日期"] = None  # 离职 without a leaving date
    people[5]["直属上级"] = "王芳"  # nobody of that name
    people[4]["入职日期"] = "2021年13月1日"
    people.append(person("M3", "王经理", "销售经理"))  # a second 王经理
    people.append(person("K04", "吴磊", "大客户经理", manager_name="王经理"))
    path = roster_xlsx(tmp_path / "花名册.xlsx", people)
    _, issues = _read(path)
    text = str(issues.failure())
    assert "花名册.xlsx:8:入职日期: invalid date '2021年13月1日'" in text
    assert "花名册.xlsx:9:直属上级: no employee named '王芳' in 花名册.xlsx" in text
    assert "花名册.xlsx:10:员工状态: 离职, but 离职日期 is empty: give the leaving date" in text
    assert ("花名册.xlsx:13:直属上级: manager '王经理' is ambiguous: several employees have that name (M1, M3); give "
            "the manager's id instead (a 直属上级工号 column)") in text


def test_a_leaver_of_the_same_name_does_not_make_a_manager_ambiguous(tmp_path):
    people = _people()
    people.append(person("M9", "李总监", "销售总监", left=date(2024, 1, 31), status="离职"))
    export, issues = _read(roster_xlsx(tmp_path / "r.xlsx", people))
    assert not issues, issues.failure()
    assert export.records.employees["K02"].manager_id == "M2"


def test_missing_columns_and_no_header(tmp_path):
    path = roster_xlsx(tmp_path / "r.xlsx", _people(), header=[c for c in HEADER if c != "岗位"])
    _, issues = _read(path)
    assert "r.xlsx:3:岗位: missing required column '岗位'" in str(issues.failure())
    (tmp_path / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    _, issues = _read(tmp_path / "x.csv")
    assert "x.csv:1:*: no header row found in the first 10 rows" in str(issues.failure())
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    _, issues = _read(tmp_path / "old.xls")
    assert "save it as .xlsx" in str(issues.failure())


def test_english_workday_like_headers_and_a_mapping_file(tmp_path):
    header = ["Employee ID", "Worker", "Job Title", "Manager ID", "Hire Date", "Termination Date", "Email",
              "Cost Center", "Location", "Time Zone"]
    (tmp_path / "workers.csv").write_text(
        "\n".join([",".join(header),
                   "W1,Ann Lee,Regional Sales Manager,,2020-01-06,,ann@example.com,CC1,Singapore,Asia/Singapore",
                   "W2,Bo Chen,Strategic Account Lead,W1,2021-02-01,2026-10-31,bo@example.com,CC1,Singapore,"]),
        encoding="utf-8")
    mapping = tmp_path / "hr.yaml"
    mapping.write_text("roles:\n  Strategic Account Lead: kam\ntimezone: Asia/Shanghai\nlocale: en-US\n",
                       encoding="utf-8")
    export, issues = _read(tmp_path / "workers.csv", load_hr_mapping(mapping))
    assert not issues, issues.failure()
    w1, w2 = export.records.employees["W1"], export.records.employees["W2"]
    assert (w1.role, w2.role, w2.manager_id) == ("manager", "kam", "W1")
    assert (w1.timezone, w2.timezone, w2.locale) == ("Asia/Singapore", "Asia/Shanghai", "en-US")
    assert w2.termination_date == date(2026, 10, 31) and w1.region == "Singapore"


def test_the_mapping_file_is_validated_with_field_paths(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  idd: 工号\nroles:\n  大客户经理: boss\nfill_down: [email]\n", encoding="utf-8")
    with pytest.raises(Rejected) as err:
        load_hr_mapping(bad)
    text = str(err.value)
    assert "the HR export mapping is invalid (3 problem(s))" in text
    assert "columns.idd:" in text and "roles.大客户经理:" in text and "fill_down.0:" in text
    ok = tmp_path / "ok.yaml"
    ok.write_text("columns:\n  id: 人员编码\ndefault_role: null\nroles:\n  客户经理: null\n", encoding="utf-8")
    mapping = load_hr_mapping(ok)
    assert mapping.columns["id"] == ["人员编码"] and mapping.role("客户经理") is None
    assert mapping.role("大客户经理") == "kam"


def test_an_unknown_title_without_a_default_role_is_an_error(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("default_role: null\n", encoding="utf-8")
    _, issues = _read(roster_xlsx(tmp_path / "r.xlsx", _people()), load_hr_mapping(mapping))
    assert "r.xlsx:11:岗位: job title '软件工程师' is not one of the roles' titles" in str(issues.failure())


# ------------------------------------------------------------------------------------------- on PostgreSQL


def test_preview_writes_nothing_then_the_import_writes_and_again_changes_nothing(db_url, tmp_path):
    path = roster_xlsx(tmp_path / "花名册.xlsx", _people())
    preview = preview_hr_import(db_url, path)
    assert preview.tables["employee"].counts == TableCounts(inserted=8)
    assert "employee: 8 new, 0 changed, 0 unchanged" in str(preview)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM employee").fetchone()[0] == 0
    summary = apply_hr_import(db_url, path, actor="HR1", expect=preview.digest)
    assert summary.employee == TableCounts(inserted=8)
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT role, manager_id, termination_date, region FROM employee WHERE id = 'K03'").fetchone()
        assert row == ("kam", "M1", date(2026, 9, 30), "华东")
        assert conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'HR1' AND entity_type = 'employee'"
                            ).fetchone()[0] == 8
    assert not apply_hr_import(db_url, path).changed
    # Validation against the database names the export's own column.
    people = _people()
    people[4]["直属上级工号"] = "M404"
    with pytest.raises(ImportFailed) as err:
        preview_hr_import(db_url, roster_xlsx(tmp_path / "花名册2.xlsx", people))
    assert "花名册2.xlsx:8:直属上级工号: unknown manager 'M404'" in str(err.value)


def test_a_committed_gb18030_roster_as_chinese_excel_saves_it():
    """Two title rows, 部门路径 and 汇报对象 (a name, once with the id), "--" for empty cells, text dates."""
    path = Path(__file__).parent / "fixtures" / "hr" / "花名册_gb18030.csv"
    mapping = load_hr_mapping(text="department_as: cost_centre\n", name="hr.yaml")
    export, issues = _read(path, mapping)
    assert not issues, issues.failure()
    people = export.records.employees
    assert {e: (r.role, r.manager_id) for e, r in people.items()} == {
        "H001": ("hr", None), "S001": ("manager", None), "S101": ("kam", "S001"), "S102": ("kam", "S001"),
        "S103": ("kam", "S001"), "P001": ("payroll", "H001")}
    assert people["S103"].termination_date == date(2026, 9, 30) and people["S101"].termination_date is None
    assert people["S001"].hire_date == date(2016, 7, 1) and people["S102"].cost_centre == "杭州"
    assert people["P001"].mobile is None and people["S101"].line == 6
    assert [str(n) for n in export.notes] == [f"{path.name} was read as GB18030 (as Chinese Excel saves CSV)"]
