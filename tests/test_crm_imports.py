"""CRM export files (issue 12): Zoho CRM's CSV exports and Fxiaoke's Excel exports, laid out as each product
writes them, through the one validation step and writer; the preview writes nothing; re-imports change nothing;
every problem names file, line and the CRM's own column; the mapping file overrides the defaults."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

import psycopg
import pytest
from openpyxl import Workbook

from i18n.format import Formatter
from services.errors import Rejected
from services.importer import (
    ImportFailed,
    ImportIssue,
    ImportPreview,
    TableCounts,
    import_files,
    preview_files,
)
from services.imports.crm import apply_crm_import, preview_crm_import

TABLES = ("employee", "key_account", "customer_contact", "kpi_actual", "crm_deal", "crm_case", "audit_log")

ORG = """\
employee_id,name,email,role,manager_id
M1,周敏,zhou.min@example.com,manager,
K01,王芳,wang.fang@example.com,kam,M1
K02,Michael Brown,michael.brown@example.com,kam,M1
K03,张伟,,kam,M1
K04,张伟,,kam,M1
"""

# Zoho CRM: Setup > Data Administration > Export writes UTF-8 with a byte-order mark, every cell quoted,
# the fields' labels as header, zcrm_ record ids and "<Lookup>.id" columns next to lookups.
ZOHO_ACCOUNTS = (
    '"Record Id","Account Owner","Account Name","Phone","Website","Account Type","Industry","Annual Revenue",'
    '"Currency","Created Time","Modified Time"\n'
    '"zcrm_4876876000000327001","王芳","上海华晨精密机械有限公司","021-5555-0100","","Customer","Manufacturing",'
    '"CNY 12,000,000.50","CNY","2024-03-01 09:30:00","2026-09-01 10:00:00"\n'
    '"zcrm_4876876000000327002","Michael Brown","Northwind Logistics GmbH","","northwind.example","Customer","",'
    '"8000000","EUR","2025-01-15 14:00:00","2026-09-01 10:00:00"\n'
)
ZOHO_CONTACTS = (
    '"Record Id","Contact Owner","First Name","Last Name","Account Name","Account Name.id","Email","Phone",'
    '"Mobile","Created Time"\n'
    '"zcrm_4876876000000401001","王芳","磊","孙","上海华晨精密机械有限公司","zcrm_4876876000000327001",'
    '"sun.lei@client.example.cn","","13800000001","2024-03-02 09:00:00"\n'
    '"zcrm_4876876000000401002","Michael Brown","Anna","Schmidt","Northwind Logistics GmbH","4876876000000327002",'
    '"anna.schmidt@northwind.example","","","2025-01-16 09:00:00"\n'
    '"zcrm_4876876000000401003","王芳","敏","钱","Some Prospect Ltd","zcrm_4876876000000999999","","","",'
    '"2025-05-01 09:00:00"\n'
)
ZOHO_DEALS = (
    '"Record Id","Deal Owner","Deal Name","Account Name","Account Name.id","Stage","Amount","Closing Date",'
    '"Currency","Created Time"\n'
    '"zcrm_4876876000000502001","王芳","2026 框架协议","上海华晨精密机械有限公司","zcrm_4876876000000327001",'
    '"Closed Won","1,250,000.00","09/30/2026","CNY","2026-07-01 09:00:00"\n'
    '"zcrm_4876876000000502002","Michael Brown","Fleet renewal","Northwind Logistics GmbH",'
    '"zcrm_4876876000000327002","Negotiation/Review","€420,000.00","Dec 15, 2026","EUR","2026-08-01 09:00:00"\n'
)
ZOHO_CASES = (
    '"Record Id","Case Owner","Case Number","Subject","Status","Case Origin","Type","Priority","Account Name",'
    '"Account Name.id","Created Time"\n'
    '"zcrm_4876876000000603001","王芳","1001","交货延迟","Closed","Phone","Problem","High",'
    '"上海华晨精密机械有限公司","zcrm_4876876000000327001","2026-08-12 10:15:00"\n'
    '"zcrm_4876876000000603002","王芳","1002","发票问题","New","Email","Question","Low",'
    '"上海华晨精密机械有限公司","zcrm_4876876000000327001","2026-09-03 16:40:00"\n'
)


def row_counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


@pytest.fixture
def org(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "org"
    folder.mkdir()
    (folder / "ORG.csv").write_text(ORG, encoding="utf-8")
    (folder / "ACCOUNTS.csv").write_text("account_id,account_name,kam_id,annual_revenue\n", encoding="utf-8")
    (folder / "KPIS.csv").write_text("employee_id,period,kpi_id,value\n", encoding="utf-8")
    import_files(db_url, folder / "ORG.csv", folder / "ACCOUNTS.csv", folder / "KPIS.csv")


def zoho_files(tmp_path: Path, **texts: str) -> list[Path]:
    files = {"Accounts_2026_12_01.csv": ZOHO_ACCOUNTS, "Contacts_2026_12_01.csv": ZOHO_CONTACTS,
             "Deals_2026_12_01.csv": ZOHO_DEALS, "Cases_2026_12_01.csv": ZOHO_CASES}
    files.update({f"{k.capitalize()}_2026_12_01.csv": v for k, v in texts.items()})
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # Zoho writes a byte-order mark
        paths.append(path)
    return paths


def fails(call, *args, **kwargs) -> list[ImportIssue]:  # noqa: ANN001 - a service function
    with pytest.raises(ImportFailed) as info:
        call(*args, **kwargs)
    return info.value.issues


def first_preview(db_url: str, source: Literal["zoho", "fxiaoke"], files: list[Path]) -> ImportPreview:
    """The preview of a first import (two new accounts with two contacts); it must write nothing."""
    before = row_counts(db_url)
    preview = preview_crm_import(db_url, source, files)
    assert row_counts(db_url) == before
    assert preview.tables["key_account"].counts == TableCounts(inserted=2)
    assert preview.tables["customer_contact"].counts == TableCounts(inserted=2)
    return preview


# ----------------------------------------------------------------------------------------------- Zoho


def test_zoho_preview_writes_nothing_then_import_then_reimport_is_unchanged(db_url: str, org: None,
                                                                             tmp_path: Path) -> None:
    files = zoho_files(tmp_path)
    preview = first_preview(db_url, "zoho", files)
    assert [c.key for c in preview.tables["key_account"].new] == ["zcrm_4876876000000327001",
                                                                  "zcrm_4876876000000327002"]
    assert (preview.deals, preview.won_deals, preview.cases, preview.complaints) == (2, 1, 2, 1)
    text = str(preview)
    assert "key_account: 2 new, 0 changed, 0 unchanged" in text
    assert "+ zcrm_4876876000000327001 id=zcrm_4876876000000327001, name=上海华晨精密机械有限公司, kam_id=K01" in text
    assert "1 contacts left out" in text and "钱敏 (Some Prospect Ltd)" in text

    summary = apply_crm_import(db_url, "zoho", files, actor="hr.admin")
    assert summary.key_account == TableCounts(inserted=2) and summary.customer_contact == TableCounts(inserted=2)
    assert summary.crm_deal == TableCounts(inserted=2) and summary.crm_case == TableCounts(inserted=2)
    assert summary.employee == TableCounts() and summary.audit_events == 8  # 2 accounts, 2 contacts, 2 deals, 2 cases
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT id, kam_id, annual_revenue, currency FROM key_account ORDER BY id").fetchall() == [
            ("zcrm_4876876000000327001", "K01", Decimal("12000000.50"), "CNY"),
            ("zcrm_4876876000000327002", "K02", Decimal("8000000.00"), "EUR"),
        ]
        assert conn.execute("SELECT id, account_id, name, email FROM customer_contact ORDER BY id").fetchall() == [
            ("zcrm_4876876000000401001", "zcrm_4876876000000327001", "孙磊", "sun.lei@client.example.cn"),
            ("zcrm_4876876000000401002", "zcrm_4876876000000327002", "Anna Schmidt", "anna.schmidt@northwind.example"),
        ]
    after = row_counts(db_url)
    again = apply_crm_import(db_url, "zoho", files)
    assert not again.changed and again.key_account == TableCounts(unchanged=2) and again.audit_events == 0
    assert row_counts(db_url) == after
    assert not preview_crm_import(db_url, "zoho", files).changed


def test_zoho_change_shows_in_the_preview_as_changed(db_url: str, org: None, tmp_path: Path) -> None:
    apply_crm_import(db_url, "zoho", zoho_files(tmp_path))
    moved = ZOHO_ACCOUNTS.replace('"Michael Brown","Northwind', '"王芳","Northwind')
    preview = preview_crm_import(db_url, "zoho", zoho_files(tmp_path, accounts=moved))
    assert preview.tables["key_account"].counts == TableCounts(updated=1, unchanged=1)
    (change,) = preview.tables["key_account"].changed
    assert change.before is not None and (change.before["kam_id"], change.after["kam_id"]) == ("K02", "K01")
    assert "~ zcrm_4876876000000327002 kam_id=K01 (was kam_id=K02)" in str(preview)


def test_zoho_problems_name_file_line_and_zoho_column(db_url: str, org: None, tmp_path: Path) -> None:
    accounts = ZOHO_ACCOUNTS.replace('"Michael Brown"', '"Nobody Here"').replace('"CNY 12,000,000.50"', '"lots"')
    deals = ZOHO_DEALS.replace('"09/30/2026"', '"30.13.2026"')
    before = row_counts(db_url)
    issues = fails(apply_crm_import, db_url, "zoho", zoho_files(tmp_path, accounts=accounts, deals=deals))
    assert row_counts(db_url) == before
    assert issues == [
        ImportIssue("Accounts_2026_12_01.csv", 2, "Annual Revenue",
                    "invalid amount 'lots' (expected a number such as 1234567.89, 1,234,567.89 or CNY 1,234,567.89)"),
        ImportIssue("Accounts_2026_12_01.csv", 3, "Account Owner",
                    "no employee matches owner 'Nobody Here' (tried: table, email, name); add it under owner.owners in"
                    " the mapping file, as the owner -> employee_id"),
        ImportIssue("Deals_2026_12_01.csv", 2, "Closing Date",
                    "invalid date '30.13.2026' (expected a date such as 2026-09-30, 09/30/2026 or Sep 30, 2026)"),
    ]
    # The same issue in Chinese, for the web page.
    chinese = Formatter(locale="zh-CN").text(issues[1].as_text())
    assert chinese.startswith("Accounts_2026_12_01.csv 第 3 行，列 Account Owner：没有员工与负责人“Nobody Here”对应")


def test_zoho_missing_column_ambiguous_owner_and_manager_as_owner(db_url: str, org: None, tmp_path: Path) -> None:
    no_name = ZOHO_ACCOUNTS.replace('"Account Name",', '"Company",', 1)
    assert fails(preview_crm_import, db_url, "zoho", zoho_files(tmp_path, accounts=no_name)) == [
        ImportIssue("Accounts_2026_12_01.csv", 1, "Account Name", "missing required column 'Account Name'")]
    owners = ZOHO_ACCOUNTS.replace('"王芳"', '"张伟"').replace('"Michael Brown"', '"zhou.min@example.com"')
    assert fails(preview_crm_import, db_url, "zoho", zoho_files(tmp_path, accounts=owners)) == [
        ImportIssue("Accounts_2026_12_01.csv", 2, "Account Owner",
                    "owner '张伟' matches several employees (K03, K04); name the one meant under owner.owners in the"
                    " mapping file"),
        ImportIssue("Accounts_2026_12_01.csv", 3, "Account Owner", "'M1' is not a KAM (role manager)"),
    ]
    unknown = tmp_path / "Leads.csv"
    unknown.write_text('"Record Id","Lead Owner","Company"\n"zcrm_1","王芳","X"\n', encoding="utf-8")
    assert fails(preview_crm_import, db_url, "zoho", [unknown]) == [ImportIssue(
        "Leads.csv", 1, "*", "cannot tell which Zoho CRM export this is: the header has none of the columns that"
        " identify one (Account Owner, Contact Owner, Deal Owner, Case Owner)")]


def test_mapping_file_overrides_the_defaults(db_url: str, org: None, tmp_path: Path) -> None:
    accounts = ZOHO_ACCOUNTS.replace('"Account Owner"', '"Owner Login"')
    accounts = accounts.replace('"王芳","上海', '"fang","上海')
    mapping = tmp_path / "crm.yaml"
    mapping.write_text(
        "owner:\n  owners: {fang: K03}\n"
        "won_stages: [Closed Won, Negotiation/Review]\n"
        "complaint_types: [Problem, Question]\n"
        "columns:\n  accounts:\n    owner: Owner Login\n", encoding="utf-8")
    preview = preview_crm_import(db_url, "zoho", zoho_files(tmp_path, accounts=accounts), mapping)
    assert [c.after["kam_id"] for c in preview.tables["key_account"].new] == ["K03", "K02"]
    assert (preview.won_deals, preview.complaints) == (2, 2)

    mapping.write_text("won_stage: [Won]\ncurrency: cny\ncolumns: {deals: {amunt: Betrag}}\n"
                       "owner: {match: [phone]}\n", encoding="utf-8")
    with pytest.raises(Rejected) as info:
        preview_crm_import(db_url, "zoho", zoho_files(tmp_path), mapping)
    message = str(info.value)
    assert message.startswith(f"{mapping}: the CRM mapping is invalid (4 problem(s)):")
    for field in ("owner.match.0:", "currency:", "columns.deals.amunt:", "won_stage:"):
        assert f"  {field}" in message, message


def test_project_csv_preview_writes_nothing(db_url: str, tmp_path: Path) -> None:
    for name, text in (("ORG.csv", ORG), ("ACCOUNTS.csv", "account_id,account_name,kam_id,annual_revenue\n"
                                                        "A001,Acme,K01,10\n"),
                       ("KPIS.csv", "employee_id,period,kpi_id,value\nK01,2026-Q3,revenue,5\n")):
        (tmp_path / name).write_text(text, encoding="utf-8")
    files = (tmp_path / "ORG.csv", tmp_path / "ACCOUNTS.csv", tmp_path / "KPIS.csv")
    preview = preview_files(db_url, *files)
    assert row_counts(db_url) == dict.fromkeys(TABLES, 0)
    assert preview.tables["employee"].counts == TableCounts(inserted=5)
    assert preview.tables["kpi_actual"].counts == TableCounts(inserted=1)
    import_files(db_url, *files)
    assert not preview_files(db_url, *files).changed


# -------------------------------------------------------------------------------------------- Fxiaoke


def workbook(path: Path, header: list[str], rows: list[list[object]], title: str | None = None) -> Path:
    """An .xlsx as Fxiaoke's 导出 writes it: one sheet, Chinese labels, real dates (optionally a title row)."""
    book = Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def fxiaoke_files(tmp_path: Path, deals_close: object = date(2026, 9, 30), currency: str = "人民币") -> list[Path]:
    return [
        workbook(tmp_path / "客户_20261201.xlsx", ["客户编号", "客户名称", "负责人", "客户级别", "币种", "创建时间"], [
            ["KH-2024-0001", "沈阳北方重工机械有限公司", "王芳", "重要客户", currency, datetime(2024, 3, 1, 9, 30)],
            ["KH-2024-0002", "杭州西湖电子有限公司", "wang.fang@example.com", "普通客户", "人民币",
             datetime(2024, 5, 1, 9, 30)],
        ], title="客户 导出数据"),
        workbook(tmp_path / "联系人_20261201.xlsx", ["联系人姓名", "客户名称", "手机", "邮箱", "负责人"], [
            ["钱敏", "沈阳北方重工机械有限公司", "13800000002", "qian.min@client003.example.cn", "王芳"],
            ["李娜", "杭州西湖电子有限公司", "13800000003", None, "王芳"],
        ]),
        workbook(tmp_path / "商机_20261201.xlsx", ["商机名称", "客户名称", "负责人", "销售阶段", "商机状态", "商机金额",
                                                 "结单日期"], [
            ["2026 年度备件", "沈阳北方重工机械有限公司", "王芳", "签约", "赢单", 1250000, deals_close],
            ["产线改造", "杭州西湖电子有限公司", "王芳", "方案确认", "进行中", 480000.5, date(2026, 12, 20)],
        ]),
        workbook(tmp_path / "销售订单_20261201.xlsx", ["销售订单编号", "客户名称", "销售订单金额", "下单日期", "生命状态",
                                                    "负责人"], [
            ["SO-20260915-001", "沈阳北方重工机械有限公司", 625000, 46280, "正常", "王芳"],  # an Excel serial date
            ["SO-20260920-002", "沈阳北方重工机械有限公司", "¥12,000.00", "2026/9/20", "作废", "王芳"],
        ]),
        workbook(tmp_path / "工单_20261201.xlsx", ["工单编号", "客户名称", "联系人姓名", "工单类型", "状态", "创建时间",
                                                 "负责人"], [
            ["GD-0001", "沈阳北方重工机械有限公司", "钱敏", "投诉", "已关闭", datetime(2026, 8, 1, 10, 0), "王芳"],
            ["GD-0002", "杭州西湖电子有限公司", "李娜", "咨询", "处理中", datetime(2026, 9, 1, 10, 0), "王芳"],
        ]),
    ]


def test_fxiaoke_workbooks_import_and_reimport_is_unchanged(db_url: str, org: None, tmp_path: Path) -> None:
    files = fxiaoke_files(tmp_path)
    preview = first_preview(db_url, "fxiaoke", files)
    assert (preview.deals, preview.won_deals, preview.orders, preview.cases, preview.complaints) == (2, 1, 1, 2, 1)
    summary = apply_crm_import(db_url, "fxiaoke", files)
    assert summary.key_account == TableCounts(inserted=2) and summary.customer_contact == TableCounts(inserted=2)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT id, name, kam_id, currency FROM key_account ORDER BY id").fetchall() == [
            ("KH-2024-0001", "沈阳北方重工机械有限公司", "K01", "CNY"), ("KH-2024-0002", "杭州西湖电子有限公司", "K01", "CNY")]
        contacts = conn.execute("SELECT id, account_id, name FROM customer_contact ORDER BY name").fetchall()
    assert [(a, n) for _, a, n in contacts] == [("KH-2024-0002", "李娜"), ("KH-2024-0001", "钱敏")]
    assert all(cid.startswith("FXC-") for cid, _, _ in contacts)  # no id in the export: a stable derived one
    again = apply_crm_import(db_url, "fxiaoke", fxiaoke_files(tmp_path))
    assert not again.changed and again.customer_contact == TableCounts(unchanged=2)


def test_fxiaoke_records_keep_dates_amounts_and_kinds(tmp_path: Path) -> None:
    from services.imports.crm import read_crm
    from services.imports.issues import Issues
    from services.imports.mapping import load_mapping

    issues = Issues([])
    records = read_crm("fxiaoke", fxiaoke_files(tmp_path), load_mapping("fxiaoke"), issues)
    assert not issues
    orders = sorted((d for d in records.deals.values() if d.kind == "order"), key=lambda d: d.id)
    assert [(o.id, o.amount, o.closed_on, o.won) for o in orders] == [
        ("SO-20260915-001", Decimal("625000"), date(2026, 9, 15), True),
        ("SO-20260920-002", Decimal("12000.00"), date(2026, 9, 20), False),
    ]
    deals = sorted((d for d in records.deals.values() if d.kind == "deal"), key=lambda d: d.amount or 0)
    assert [(d.name, d.amount, d.won, d.closed_on) for d in deals] == [
        ("产线改造", Decimal("480000.50"), False, date(2026, 12, 20)),
        ("2026 年度备件", Decimal("1250000"), True, date(2026, 9, 30)),
    ]
    assert {c.id: c.complaint for c in records.cases.values()} == {"GD-0001": True, "GD-0002": False}


def test_fxiaoke_problems_name_workbook_row_and_chinese_column(db_url: str, org: None, tmp_path: Path) -> None:
    files = fxiaoke_files(tmp_path, deals_close="下个月", currency="火星币")
    issues = fails(apply_crm_import, db_url, "fxiaoke", files)
    assert issues == [
        ImportIssue("客户_20261201.xlsx", 3, "币种", "unknown currency '火星币' (expected a 3-letter code such as CNY, or"
                    " a name listed under currency_names in the mapping file)"),
        ImportIssue("商机_20261201.xlsx", 2, "结单日期", "invalid date '下个月' (expected a date such as 2026-09-30,"
                    " 2026/9/30 or 2026年9月30日)"),
    ]
    broken = tmp_path / "客户.xlsx"
    broken.write_bytes(b"not a zip")
    assert [(i.file, i.line, i.column) for i in fails(preview_crm_import, db_url, "fxiaoke", [broken])] == [
        ("客户.xlsx", 0, "*")]


def test_zoho_owner_id_in_the_owners_table_wins_over_the_name(db_url: str, org: None, tmp_path: Path) -> None:
    accounts = ZOHO_ACCOUNTS.replace('"Account Owner",', '"Account Owner.id","Account Owner",', 1)
    accounts = accounts.replace('"王芳","上海', '"4876876000000061001","王芳","上海').replace(
        '"Michael Brown","North', '"4876876000000061002","Michael Brown","North')
    mapping = tmp_path / "crm.yaml"
    mapping.write_text("owner:\n  owners: {'4876876000000061001': K03}\n", encoding="utf-8")
    preview = preview_crm_import(db_url, "zoho", zoho_files(tmp_path, accounts=accounts), mapping)
    assert [c.after["kam_id"] for c in preview.tables["key_account"].new] == ["K03", "K02"]


def test_an_export_without_annual_revenue_keeps_the_stored_figure(db_url: str, org: None, tmp_path: Path) -> None:
    apply_crm_import(db_url, "zoho", zoho_files(tmp_path))
    no_revenue = ZOHO_ACCOUNTS.replace('"CNY 12,000,000.50"', '""').replace('"8000000"', '""')
    summary = apply_crm_import(db_url, "zoho", zoho_files(tmp_path, accounts=no_revenue))
    assert summary.key_account == TableCounts(unchanged=2)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT annual_revenue FROM key_account ORDER BY id").fetchall() == [
            (Decimal("12000000.50"),), (Decimal("8000000.00"),)]


@pytest.mark.parametrize(("written", "order", "expected"), [
    ("2026-09-30", "MDY", date(2026, 9, 30)),
    ("2026-09-30 14:05:00", "MDY", date(2026, 9, 30)),
    ("09/30/2026", "MDY", date(2026, 9, 30)),
    ("09/30/2026 02:05 PM", "MDY", date(2026, 9, 30)),
    ("30/09/2026", "DMY", date(2026, 9, 30)),
    ("Sep 30, 2026", "MDY", date(2026, 9, 30)),
    ("30 Sep 2026", "DMY", date(2026, 9, 30)),
    ("2026/9/30", "YMD", date(2026, 9, 30)),
    ("2026年9月30日", "YMD", date(2026, 9, 30)),
    ("09/30/2026", "YMD", None),
    ("2026-02-30", "YMD", None),
    ("30/09/2026", "MDY", None),
])
def test_crm_date_formats(written: str, order: str, expected: date | None) -> None:
    from services.imports.crm_common import _parse_date

    assert _parse_date(written, order) == expected


@pytest.mark.parametrize(("written", "expected"), [
    ("1,250,000.00", "1250000.00"), ("$12,400.00", "12400.00"), ("CNY 12,000,000.50", "12000000.50"),
    ("12000 CNY", "12000"), ("¥1,234", "1234"), ("1234.5 元", "1234.5"), ("8000000", "8000000"),
    ("1,23", None), ("12e3", None), ("abc", None), ("-5", "-5"),
])
def test_crm_amount_formats(written: str, expected: str | None) -> None:
    from services.imports.crm_common import _plain_amount

    assert _plain_amount(written) == expected


def test_zoho_contacts_without_lookup_ids_link_by_account_name(db_url: str, org: None, tmp_path: Path) -> None:
    header, *rows = ZOHO_CONTACTS.splitlines()
    drop = header.split(",").index('"Account Name.id"')
    contacts = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in [header, *rows])
    preview = preview_crm_import(db_url, "zoho", zoho_files(tmp_path, contacts=contacts + "\n"))
    assert {c.after["account_id"] for c in preview.tables["customer_contact"].new} == {
        "zcrm_4876876000000327001", "zcrm_4876876000000327002"}
    assert Formatter(locale="zh-CN").text(preview.lines()[0]) == "key_account：新增 2，变更 0，未变 0"

    twins = ZOHO_ACCOUNTS.replace("Northwind Logistics GmbH", "上海华晨精密机械有限公司")
    issues = fails(preview_crm_import, db_url, "zoho", zoho_files(tmp_path, accounts=twins, contacts=contacts + "\n"))
    assert issues[0] == ImportIssue(
        "Contacts_2026_12_01.csv", 2, "*", "account '上海华晨精密机械有限公司' is ambiguous: several accounts have that"
        " name (zcrm_4876876000000327001, zcrm_4876876000000327002)")


def test_unknown_crm_is_refused(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(Rejected, match="unknown CRM 'salesforce' \\(expected one of: zoho, fxiaoke\\)"):
        preview_crm_import(db_url, "salesforce", [])  # type: ignore[arg-type]
