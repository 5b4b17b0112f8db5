"""The CSV importer against a real PostgreSQL: the demo organisation, idempotent re-imports, and one test
per kind of bad input, each checking the exact issue (file, line, column, message) and that nothing was
written."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from services.importer import ImportFailed, ImportIssue, ImportSummary, TableCounts, import_files

DEMO = Path(__file__).resolve().parent.parent / "demo"
TABLES = ("employee", "key_account", "customer_contact", "kpi_actual", "audit_log")

ORG = """\
employee_id,name,email,role,manager_id,grade,currency,timezone,hire_date,termination_date
H1,赵建国,zhao.jianguo@example.com,manager,,L3,CNY,Asia/Shanghai,2015-09-01,
M1,周敏,,manager,H1,L2,,,2017-04-10,
K01,王芳,wang.fang@example.com,kam,M1,K2,CNY,Asia/Shanghai,2020-10-28,
K02,Michael Brown,,kam,M1,K1,,,2026-08-15,
"""
ACCOUNTS = """\
account_id,account_name,kam_id,annual_revenue,currency,contact_id,contact_name,contact_email,contact_locale
A001,上海华晨精密机械有限公司,K01,12000000.50,CNY,C001,孙磊,sun.lei@client.example.cn,zh-CN
A001,上海华晨精密机械有限公司,K01,12000000.50,CNY,C002,钱敏,,
A002,Northwind Logistics GmbH,K02,8000000,,,,,
"""
KPIS = """\
employee_id,period,kpi_id,value
K01,2026-Q3,sales_attainment,1.05
K01,2026-Q3,revenue,1250000.00
K02,2026-Q3,complaint_rate,0.012
"""


def write(tmp_path: Path, org: str = ORG, accounts: str = ACCOUNTS, kpis: str = KPIS) -> tuple[Path, Path, Path]:
    paths = (tmp_path / "ORG.csv", tmp_path / "ACCOUNTS.csv", tmp_path / "KPIS.csv")
    for path, text in zip(paths, (org, accounts, kpis), strict=True):
        path.write_text(text, encoding="utf-8")
    return paths


def row_counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


def fails(db_url: str, files: tuple[Path, Path, Path]) -> list[ImportIssue]:
    """Run an import that must be rejected; check that nothing at all was written."""
    with pytest.raises(ImportFailed) as info:
        import_files(db_url, *files)
    assert row_counts(db_url) == dict.fromkeys(TABLES, 0)
    assert str(info.value) == "\n".join(str(issue) for issue in info.value.issues)
    return info.value.issues


# ------------------------------------------------------------------------------------- happy path


def test_demo_imports_cleanly_and_reimport_changes_nothing(db_url: str) -> None:
    files = (DEMO / "org.csv", DEMO / "accounts.csv", DEMO / "kpis.csv")
    first = import_files(db_url, *files)
    assert first == ImportSummary(
        employee=TableCounts(inserted=27),
        key_account=TableCounts(inserted=60),
        customer_contact=TableCounts(inserted=90),
        kpi_actual=TableCounts(inserted=100),
        audit_events=277,
    )
    after_first = row_counts(db_url)
    assert after_first == {
        "employee": 27, "key_account": 60, "customer_contact": 90, "kpi_actual": 100, "audit_log": 277,
    }

    again = import_files(db_url, *files)
    assert again == ImportSummary(
        employee=TableCounts(unchanged=27),
        key_account=TableCounts(unchanged=60),
        customer_contact=TableCounts(unchanged=90),
        kpi_actual=TableCounts(unchanged=100),
        audit_events=0,
    )
    assert not again.changed
    assert row_counts(db_url) == after_first

    with psycopg.connect(db_url) as conn:
        kams = conn.execute("SELECT count(*) FROM employee WHERE role = 'kam'").fetchone()
        assert kams == (20,)
        assert conn.execute(
            "SELECT name, manager_id, hire_date::text, termination_date FROM employee WHERE id = 'K01'"
        ).fetchone() == ("王芳", "M1", "2020-10-28", None)
        joiners = conn.execute(
            "SELECT id FROM employee WHERE hire_date BETWEEN '2026-07-01' AND '2026-09-30' ORDER BY id"
        ).fetchall()
        assert len(joiners) == 2
        leavers = conn.execute("SELECT id FROM employee WHERE termination_date = '2026-09-10'").fetchall()
        assert len(leavers) == 1
        per_kam = conn.execute("SELECT DISTINCT count(*) FROM key_account GROUP BY kam_id").fetchall()
        assert per_kam == [(3,)]
        audit = conn.execute(
            "SELECT event_key, actor, action, before, after FROM audit_log WHERE entity_id = 'K01'"
        ).fetchone()
    assert audit is not None
    event_key, actor, action, before, after = audit
    assert event_key.startswith("import:employee:K01:1:") and actor == "hr" and action == "import.insert"
    assert before is None and after["name"] == "王芳" and after["hire_date"] == "2020-10-28"


def test_changed_values_are_updated_and_audited_with_unique_event_keys(db_url: str, tmp_path: Path) -> None:
    files = write(tmp_path)
    import_files(db_url, *files, actor="hr.admin")
    changed = write(tmp_path, kpis=KPIS.replace("sales_attainment,1.05", "sales_attainment,1.10"))
    summary = import_files(db_url, *changed, actor="hr.admin")
    assert summary.kpi_actual == TableCounts(updated=1, unchanged=2)
    assert summary.employee == TableCounts(unchanged=4) and summary.audit_events == 1

    # Back to the original value: a second update of the same entity needs its own event key.
    summary = import_files(db_url, *write(tmp_path), actor="hr.admin")
    assert summary.kpi_actual == TableCounts(updated=1, unchanged=2)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            """SELECT event_key, action, before->>'value', after->>'value' FROM audit_log
               WHERE entity_type = 'kpi_actual' AND entity_id = 'K01:2026-Q3:sales_attainment' ORDER BY id"""
        ).fetchall()
        value = conn.execute("SELECT value FROM kpi_actual WHERE kpi_id = 'sales_attainment'").fetchone()
    assert [(action, old, new) for _, action, old, new in rows] == [
        ("import.insert", None, "1.05"),
        ("import.update", "1.05", "1.1"),
        ("import.update", "1.1", "1.05"),
    ]
    assert len({key for key, *_ in rows}) == 3
    assert value is not None and str(value[0]) == "1.050000"


def test_bom_free_column_order_blank_optionals_and_whitespace(db_url: str, tmp_path: Path) -> None:
    org = (
        "\ufeffrole , employee_id,name,manager_id\n"
        " manager ,H1, 赵建国 ,\n"
        "kam,K01,王芳,H1\n"
        "\n"
    )
    accounts = "kam_id,account_id,account_name,annual_revenue\nK01,A001,Acme,0\n"
    kpis = "\ufeffvalue,kpi_id,period,employee_id\n 0 ,complaint_rate,2026-Q3,K01\n"
    summary = import_files(db_url, *write(tmp_path, org, accounts, kpis))
    assert summary.employee.inserted == 2 and summary.key_account.inserted == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT name, email, role, currency, timezone, hire_date FROM employee WHERE id = 'H1'"
        ).fetchone() == ("赵建国", None, "manager", "CNY", "Asia/Shanghai", None)
        assert conn.execute("SELECT currency FROM key_account").fetchone() == ("CNY",)


def test_managers_and_kams_may_already_be_in_the_database(db_url: str, tmp_path: Path) -> None:
    import_files(db_url, *write(tmp_path))
    org = "employee_id,name,role,manager_id\nK03,张伟,kam,M1\n"
    accounts = "account_id,account_name,kam_id,annual_revenue\nA003,Helvetia Chemicals AG,K01,1.00\n"
    kpis = "employee_id,period,kpi_id,value\nK02,2026-Q3,revenue,10\n"
    summary = import_files(db_url, *write(tmp_path, org, accounts, kpis))
    assert summary.employee == TableCounts(inserted=1)
    assert summary.key_account == TableCounts(inserted=1)
    assert summary.kpi_actual == TableCounts(inserted=1)


def test_ten_thousand_employees_import_in_seconds(db_url: str, tmp_path: Path) -> None:
    lines = ["employee_id,name,role,manager_id,hire_date", "H,Head,manager,,2020-01-01"]
    lines += [f"M{m},Manager {m},manager,H,2020-01-01" for m in range(100)]
    lines += [f"K{k},KAM {k},kam,M{k % 100},2021-03-01" for k in range(9899)]
    kpis = ["employee_id,period,kpi_id,value"] + [f"K{k},2026-Q3,revenue,{k}.5" for k in range(9899)]
    files = write(tmp_path, "\n".join(lines) + "\n", "account_id,account_name,kam_id,annual_revenue\n",
                  "\n".join(kpis) + "\n")
    started = time.monotonic()
    summary = import_files(db_url, *files)
    elapsed = time.monotonic() - started
    assert summary.employee.inserted == 10_000 and summary.kpi_actual.inserted == 9899
    assert elapsed < 15, f"importing 10,000 employees took {elapsed:.1f} s"
    again = import_files(db_url, *files)
    assert again.employee.unchanged == 10_000 and again.audit_events == 0


# ------------------------------------------------------------------------------------ ORG errors


def test_unknown_manager(db_url: str, tmp_path: Path) -> None:
    org = ORG + "K03,张伟,,kam,M9,K1,,,,\n"
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 6, "manager_id", "unknown manager 'M9' (not in ORG.csv)")
    ]


def test_reporting_loop(db_url: str, tmp_path: Path) -> None:
    org = ORG.replace("H1,赵建国,zhao.jianguo@example.com,manager,,", "H1,赵建国,zhao.jianguo@example.com,manager,K01,")
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 2, "manager_id", "reporting loop: H1 -> K01 -> M1 -> H1 (each reports to the next)")
    ]


def test_reporting_loop_closed_through_the_database(db_url: str, tmp_path: Path) -> None:
    import_files(db_url, *write(tmp_path))
    org = "employee_id,name,role,manager_id\nH1,赵建国,manager,K02\n"
    with pytest.raises(ImportFailed) as info:
        import_files(db_url, *write(tmp_path, org, "account_id,account_name,kam_id,annual_revenue\n", KPIS))
    assert info.value.issues == [
        ImportIssue("ORG.csv", 2, "manager_id", "reporting loop: H1 -> K02 -> M1 -> H1 (each reports to the next)")
    ]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT manager_id FROM employee WHERE id = 'H1'").fetchone() == (None,)


def test_employee_managing_themselves(db_url: str, tmp_path: Path) -> None:
    org = ORG.replace("M1,周敏,,manager,H1,", "M1,周敏,,manager,M1,")
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 3, "manager_id", "employee 'M1' cannot be their own manager")
    ]


def test_duplicate_employee_id(db_url: str, tmp_path: Path) -> None:
    org = ORG + "K01,王芳,,kam,M1,K1,,,,\n"
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 6, "employee_id", "duplicate employee_id 'K01' (also on line 4)")
    ]


def test_kam_without_manager(db_url: str, tmp_path: Path) -> None:
    org = ORG.replace("K02,Michael Brown,,kam,M1,", "K02,Michael Brown,,kam,,")
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 5, "manager_id", "KAM 'K02' has no manager (manager_id is required for KAMs)")
    ]


def test_unknown_role(db_url: str, tmp_path: Path) -> None:
    org = ORG.replace("M1,周敏,,manager,", "M1,周敏,,director,")
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 3, "role", "unknown role 'director' (expected one of: kam, manager, hr, payroll, other)")
    ]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("2026-13-01", "invalid date '2026-13-01' (expected YYYY-MM-DD)"),
        ("15/08/2026", "invalid date '15/08/2026' (expected YYYY-MM-DD)"),
        ("20260815", "invalid date '20260815' (expected YYYY-MM-DD)"),
        ("２０２６-08-15", "invalid date '２０２６-08-15' (expected YYYY-MM-DD)"),
    ],
)
def test_malformed_date(db_url: str, tmp_path: Path, cell: str, message: str) -> None:
    org = ORG.replace("2026-08-15", cell)
    assert fails(db_url, write(tmp_path, org)) == [ImportIssue("ORG.csv", 5, "hire_date", message)]


def test_termination_before_hire(db_url: str, tmp_path: Path) -> None:
    org = ORG.replace("2026-08-15,", "2026-08-15,2026-08-01")
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 5, "termination_date", "termination_date 2026-08-01 is before hire_date 2026-08-15")
    ]


def test_bad_currency_and_time_zone(db_url: str, tmp_path: Path) -> None:
    org = ORG.replace(
        "K01,王芳,wang.fang@example.com,kam,M1,K2,CNY,Asia/Shanghai", "K01,王芳,x,kam,M1,K2,cny,Asia/Beijing"
    )
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 4, "email", "invalid email address 'x'"),
        ImportIssue("ORG.csv", 4, "currency", "invalid currency 'cny' (expected 3 upper-case letters, e.g. CNY)"),
        ImportIssue(
            "ORG.csv", 4, "timezone", "unknown time zone 'Asia/Beijing' (expected an IANA zone, e.g. Asia/Shanghai)"
        ),
    ]


def test_changing_a_kam_who_owns_accounts_to_another_role(db_url: str, tmp_path: Path) -> None:
    import_files(db_url, *write(tmp_path))
    org = ORG.replace("K01,王芳,wang.fang@example.com,kam,", "K01,王芳,wang.fang@example.com,manager,")
    with pytest.raises(ImportFailed) as info:
        import_files(db_url, *write(tmp_path, org, "account_id,account_name,kam_id,annual_revenue\n", KPIS))
    assert info.value.issues == [
        ImportIssue(
            "ORG.csv", 4, "role",
            "'K01' still owns key accounts A001; reassign them (kam_id in the accounts file) before changing the"
            " role from kam to manager",
        )
    ]


# -------------------------------------------------------------------------------- header errors


def test_missing_column(db_url: str, tmp_path: Path) -> None:
    org = "employee_id,name,manager_id\nH1,赵建国,\n"
    assert fails(db_url, write(tmp_path, org)) == [
        ImportIssue("ORG.csv", 1, "role", "missing required column 'role'")
    ]


def test_extra_column(db_url: str, tmp_path: Path) -> None:
    kpis = "employee_id,period,kpi_id,value,comment\nK01,2026-Q3,revenue,1,great\n"
    assert fails(db_url, write(tmp_path, kpis=kpis)) == [
        ImportIssue("KPIS.csv", 1, "comment", "unknown column 'comment' (allowed: employee_id, period, kpi_id, value)")
    ]


def test_missing_header_and_ragged_rows(db_url: str, tmp_path: Path) -> None:
    kpis = "K01,2026-Q3,revenue,1\n"
    accounts = ACCOUNTS + "A003,Acme,K01\n"
    assert fails(db_url, write(tmp_path, accounts=accounts, kpis=kpis)) == [
        ImportIssue("ACCOUNTS.csv", 5, "*", "expected 9 fields (as in the header), found 3"),
        ImportIssue(
            "KPIS.csv", 1, "*", "no header row: the first line must name the columns (employee_id,period,kpi_id,value)"
        ),
    ]


def test_semicolon_separated_file(db_url: str, tmp_path: Path) -> None:
    kpis = KPIS.replace(",", ";")
    assert fails(db_url, write(tmp_path, kpis=kpis)) == [
        ImportIssue("KPIS.csv", 1, "*", "columns must be separated by commas (the header uses ';')")
    ]


def test_file_that_is_not_utf8(db_url: str, tmp_path: Path) -> None:
    files = write(tmp_path)
    files[0].write_bytes(ORG.replace("赵建国", "Zhao").encode("utf-8") + "K03,张伟,,kam,M1,,,,,\n".encode("gb18030"))
    assert fails(db_url, files) == [
        ImportIssue("ORG.csv", 6, "*", "not valid UTF-8 (byte 0xd5); save the file as UTF-8")
    ]


# ---------------------------------------------------------------------------- ACCOUNTS errors


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("1,234.50", "invalid number '1,234.50' (expected digits with an optional decimal point, e.g. 1234567.89;"
                     " no thousands separators)"),
        ("NaN", "invalid number 'NaN' (expected digits with an optional decimal point, e.g. 1234567.89;"
                " no thousands separators)"),
        ("inf", "invalid number 'inf' (expected digits with an optional decimal point, e.g. 1234567.89;"
                " no thousands separators)"),
        ("1e6", "invalid number '1e6' (expected digits with an optional decimal point, e.g. 1234567.89;"
                " no thousands separators)"),
        ("-5", "must not be negative (got '-5')"),
        ("10.005", "too many decimal places in '10.005' (at most 2)"),
        # int() and Decimal() read full-width digits; an export that writes them is broken
        ("８000000", "invalid number '８000000' (expected digits with an optional decimal point, e.g. 1234567.89;"
                     " no thousands separators)"),
        # key_account.annual_revenue is Numeric(18,2)
        ("12345678901234567", "'12345678901234567' is too large (at most 16 digits before the decimal point)"),
    ],
)
def test_malformed_number(db_url: str, tmp_path: Path, cell: str, message: str) -> None:
    accounts = ACCOUNTS.replace("8000000", f'"{cell}"')
    assert fails(db_url, write(tmp_path, accounts=accounts)) == [
        ImportIssue("ACCOUNTS.csv", 4, "annual_revenue", message)
    ]


@pytest.mark.parametrize(
    ("kam_id", "message"),
    [("K99", "unknown KAM 'K99' (not in ORG.csv)"), ("M1", "'M1' is not a KAM (role manager)")],
)
def test_account_with_unknown_or_non_kam_owner(db_url: str, tmp_path: Path, kam_id: str, message: str) -> None:
    accounts = ACCOUNTS.replace("GmbH,K02,", f"GmbH,{kam_id},")
    assert fails(db_url, write(tmp_path, accounts=accounts)) == [ImportIssue("ACCOUNTS.csv", 4, "kam_id", message)]


def test_inconsistent_account_rows(db_url: str, tmp_path: Path) -> None:
    accounts = ACCOUNTS.replace("K01,12000000.50,CNY,C002", "K02,12000000.50,CNY,C002")
    assert fails(db_url, write(tmp_path, accounts=accounts)) == [
        ImportIssue(
            "ACCOUNTS.csv", 3, "kam_id",
            "account 'A001' has kam_id 'K02' here but 'K01' on line 2"
            " (an account's columns must agree on all its rows)",
        )
    ]


def test_duplicate_contact(db_url: str, tmp_path: Path) -> None:
    accounts = ACCOUNTS.replace(",C002,", ",C001,")
    assert fails(db_url, write(tmp_path, accounts=accounts)) == [
        ImportIssue("ACCOUNTS.csv", 3, "contact_id", "duplicate contact_id 'C001' (also on line 2)")
    ]


def test_contact_without_id(db_url: str, tmp_path: Path) -> None:
    accounts = ACCOUNTS.replace(",C002,钱敏,", ",,钱敏,")
    assert fails(db_url, write(tmp_path, accounts=accounts)) == [
        ImportIssue("ACCOUNTS.csv", 3, "contact_id", "required value is missing")
    ]


# --------------------------------------------------------------------------------- KPIS errors


def test_unknown_kpi(db_url: str, tmp_path: Path) -> None:
    kpis = KPIS + "K02,2026-Q3,customer_satisfaction,0.9\n"
    assert fails(db_url, write(tmp_path, kpis=kpis)) == [
        ImportIssue(
            "KPIS.csv", 5, "kpi_id",
            "unknown KPI 'customer_satisfaction' (expected one of: sales_attainment, new_customer_acquisition,"
            " customer_retention, complaint_rate, revenue); customer_satisfaction comes from the customer survey"
            " and is not imported",
        )
    ]


def test_duplicate_kpi_row(db_url: str, tmp_path: Path) -> None:
    kpis = KPIS + "K01,2026-Q3,revenue,1300000\n"
    assert fails(db_url, write(tmp_path, kpis=kpis)) == [
        ImportIssue(
            "KPIS.csv", 5, "kpi_id",
            "duplicate KPI row for employee 'K01', period '2026-Q3', KPI 'revenue' (also on line 3)",
        )
    ]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("NaN", "invalid number 'NaN' (expected digits with an optional decimal point, e.g. 1234567.89;"
                " no thousands separators)"),
        ("", "required value is missing"),
        ("0.1234567", "too many decimal places in '0.1234567' (at most 6)"),
        ("０.012", "invalid number '０.012' (expected digits with an optional decimal point, e.g. 1234567.89;"
                   " no thousands separators)"),
        # kpi_actual.value is Numeric(20,6)
        ("123456789012345", "'123456789012345' is too large (at most 14 digits before the decimal point)"),
    ],
)
def test_malformed_kpi_value(db_url: str, tmp_path: Path, cell: str, message: str) -> None:
    kpis = KPIS.replace("complaint_rate,0.012", f"complaint_rate,{cell}")
    assert fails(db_url, write(tmp_path, kpis=kpis)) == [ImportIssue("KPIS.csv", 4, "value", message)]


def test_kpi_for_unknown_employee(db_url: str, tmp_path: Path) -> None:
    kpis = KPIS + "K77,2026-Q3,revenue,1\n"
    assert fails(db_url, write(tmp_path, kpis=kpis)) == [
        ImportIssue("KPIS.csv", 5, "employee_id", "unknown employee 'K77' (not in ORG.csv)")
    ]


# ------------------------------------------------------------------------------ all at once


def test_every_issue_of_every_file_is_reported_in_order(db_url: str, tmp_path: Path) -> None:
    org = ORG + "K03,张伟,,kam,M9,K1,,,,\nK04,陈静,,boss,M1,,,,,\n"
    accounts = ACCOUNTS + "A003,Acme,K99,abc,,,,,\n"
    kpis = KPIS + "K02,2026-Q3,revenue,-1\n"
    issues = fails(db_url, write(tmp_path, org, accounts, kpis))
    assert [(i.file, i.line, i.column) for i in issues] == [
        ("ORG.csv", 6, "manager_id"),
        ("ORG.csv", 7, "role"),
        ("ACCOUNTS.csv", 5, "annual_revenue"),
        ("ACCOUNTS.csv", 5, "kam_id"),
        ("KPIS.csv", 5, "value"),
    ]


def test_issues_are_capped_at_200(db_url: str, tmp_path: Path) -> None:
    kpis = KPIS + "".join(f"K01,P{n},revenue,x\n" for n in range(250))
    with pytest.raises(ImportFailed) as info:
        import_files(db_url, *write(tmp_path, kpis=kpis))
    assert len(info.value.issues) == 200 and info.value.omitted == 50
    assert str(info.value).endswith("... and 50 more issues not shown")


def test_missing_file(db_url: str, tmp_path: Path) -> None:
    org, accounts, _ = write(tmp_path)
    assert fails(db_url, (org, accounts, tmp_path / "NOPE.csv")) == [
        ImportIssue("NOPE.csv", 0, "*", "cannot read file: No such file or directory")
    ]


# ------------------------------------------------------------------- ids and text (issue 8: defects 4, 6)

BAD_IDS = ["../E001", "%00", " E001", "e001 ", "E 001", "E:001"]
ID_PLACES = [  # (file, what to append to it, its line, column) for a bad id {id}
    ("ORG.csv", "{id},New Person,,other,,,,,,\n", 6, "employee_id"),
    ("ORG.csv", "K03,张伟,,kam,{id},K1,,,,\n", 6, "manager_id"),
    ("ACCOUNTS.csv", "{id},Acme,K01,1,,,,,\n", 5, "account_id"),
    ("ACCOUNTS.csv", "A003,Acme,{id},1,,,,,\n", 5, "kam_id"),
    ("ACCOUNTS.csv", "A003,Acme,K01,1,,{id},Someone,,\n", 5, "contact_id"),
    ("KPIS.csv", "{id},2026-Q3,revenue,1\n", 5, "employee_id"),
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(("file", "row", "line", "column"), ID_PLACES, ids=[f"{p[0]}-{p[3]}" for p in ID_PLACES])
def test_ids_the_api_cannot_address_are_refused(db_url: str, tmp_path: Path, bad: str, file: str, row: str,
                                                line: int, column: str) -> None:
    """One id grammar (domain.inputs); spaces around an id are reported, never trimmed (ids are case-sensitive)."""
    texts = {"ORG.csv": ORG, "ACCOUNTS.csv": ACCOUNTS, "KPIS.csv": KPIS}
    texts[file] += row.format(id=bad)
    issues = fails(db_url, write(tmp_path, *texts.values()))
    assert [(i.file, i.line, i.column) for i in issues] == [(file, line, column)]
    expected = "has a leading or trailing space" if bad != bad.strip() else "is not a valid id"
    assert issues[0].message.startswith(f"invalid id: {bad!r}") and expected in issues[0].message


@pytest.mark.parametrize(
    ("file", "old", "new", "line", "column"),
    [
        ("ORG.csv", "王芳", "王\x00芳", 4, "name"),
        ("ORG.csv", "wang.fang@example.com", "wang\x00fang@example.com", 4, "email"),
        ("ORG.csv", ",K2,CNY", ",K\x002,CNY", 4, "grade"),
        ("ORG.csv", "K2,CNY,Asia/Shanghai,2020", "K2,CNY,Asia/Shang\x00hai,2020", 4, "timezone"),
        ("ACCOUNTS.csv", "Northwind", "North\x00wind", 4, "account_name"),
        ("ACCOUNTS.csv", "钱敏", "钱\x00敏", 3, "contact_name"),
        ("KPIS.csv", "K02,2026-Q3", "K02,2026\x00Q3", 4, "period"),
        ("KPIS.csv", "0.012", "0.0\x0012", 4, "value"),
    ],
)
def test_nul_in_any_cell_is_refused_naming_the_cell(db_url: str, tmp_path: Path, file: str, old: str, new: str,
                                                    line: int, column: str) -> None:
    """PostgreSQL cannot store NUL in text: refused with the cell named, instead of an error at write time."""
    texts = {"ORG.csv": ORG, "ACCOUNTS.csv": ACCOUNTS, "KPIS.csv": KPIS}
    assert old in texts[file]
    texts[file] = texts[file].replace(old, new, 1)
    issues = fails(db_url, write(tmp_path, *texts.values()))
    assert [(i.file, i.line, i.column) for i in issues] == [(file, line, column)]
    assert "NUL" in issues[0].message
