"""HR's import upload (issue 12): files are previewed, only the confirm button writes them, exactly what was
previewed, once; bad files list their problems (file:line:column) in the reader's language, never a 500."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from pathlib import Path

import psycopg

from tests.helpers import count
from tests.test_crm_imports import ORG, ZOHO_ACCOUNTS, zoho_files
from tests.web.helpers import settings_for_tests

CSV = "text/csv"


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def text_of(page: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", page))


async def upload(http, source: str, files: list[tuple[str, bytes]], mapping: tuple[str, bytes] | None = None):
    page = (await http.get("/hr/imports")).text
    parts = [("files", (name, data, CSV)) for name, data in files]
    if mapping:
        parts.append(("mapping", (mapping[0], mapping[1], "application/yaml")))
    return await http.post("/hr/imports", data={"csrf_token": csrf(page), "source": source}, files=parts)


def confirm_form(page: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'action="(/hr/imports/[0-9a-f]{32}/apply)"', page).group(1)
    return action, {"csrf_token": csrf(page), "expect": re.search(r'name="expect" value="([0-9a-f]+)"', page).group(1),
                    "confirm": "yes"}


def zoho(tmp_path: Path, **texts: str) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in zoho_files(tmp_path, **texts)]


def audit_imports(db_url: str) -> int:
    return count(db_url, "SELECT count(*) FROM audit_log WHERE action LIKE 'import.%%'")


async def test_project_csv_then_zoho_preview_confirm_once(web, tmp_path: Path) -> None:
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    assert 'enctype="multipart/form-data"' in (await hr.get("/hr/imports")).text

    # the project's ORG.csv alone (ACCOUNTS and KPIS are optional): renames the seeded KAMs
    r = await upload(hr, "csv", [("org.csv", ORG.encode())])
    assert r.status_code == 200, r.text
    page = text_of(r.text)
    assert "employee: 0 new, 5 changed, 0 unchanged" in page  # M1 and K01..K04 renamed
    assert "Nothing has been written yet" in page
    assert count(web.db_url, "SELECT count(*) FROM employee WHERE name = '王芳'") == 0  # the preview wrote nothing
    action, form = confirm_form(r.text)
    r = await hr.post(action, data=form)
    assert r.status_code == 303 and r.headers["location"] == "/hr/imports"
    assert "imported org.csv: 0 new and 5 changed rows" in text_of((await hr.get("/hr/imports")).text)
    assert count(web.db_url, "SELECT count(*) FROM employee WHERE name = '王芳'") == 1

    # Zoho's four exports: two new accounts with a contact each; the confirm writes them once
    before = audit_imports(web.db_url)
    r = await upload(hr, "zoho", zoho(tmp_path))
    page = text_of(r.text)
    assert r.status_code == 200 and "key_account: 2 new, 0 changed, 0 unchanged" in page
    assert "2 deals (1 won)" in page and "1 contacts left out" in page
    assert count(web.db_url, "SELECT count(*) FROM key_account WHERE id LIKE 'zcrm_%%'") == 0
    with psycopg.connect(web.db_url) as conn:  # a 2026-Q3 cycle: its KPI figures follow the deals
        conn.execute("""INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end, timezone,
                                                  config, config_sha256, participant_count, status, workflow_id)
                        VALUES ('IMPQ3', 'Q3', 'quarterly', '2026-Q3', '2026-07-01', '2026-09-30', 'Asia/Shanghai',
                                '{}', 'x', 0, 'created', 'cycle-IMPQ3')""")
    action, form = confirm_form(r.text)
    # a double click: both requests at once; the import lock serializes them, the second finds nothing to write
    first, again = await asyncio.gather(hr.post(action, data=form), hr.post(action, data=form))
    assert first.status_code == again.status_code == 303
    assert count(web.db_url, "SELECT count(*) FROM key_account WHERE id LIKE 'zcrm_%%'") == 2
    assert audit_imports(web.db_url) == before + 8  # two accounts, two contacts, two deals, two cases: once
    from urllib.parse import unquote

    flashes = sorted(unquote(r.cookies.get("kr_flash") or "") for r in (first, again))
    assert flashes[0].startswith("imported ") and "KPI figures of 2026-Q3 recomputed from the records" in flashes[0]
    assert flashes[1].startswith("nothing changed")
    # the same files uploaded again: nothing to confirm
    r = await upload(hr, "zoho", zoho(tmp_path))
    assert 'id="confirm"' not in r.text and "Nothing to import" in text_of(r.text)


async def test_confirm_refuses_when_the_database_changed_since_the_preview(web, tmp_path: Path) -> None:
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    action, form = confirm_form((await upload(hr, "csv", [("ORG.csv", ORG.encode())])).text)  # the owners Zoho names
    await hr.post(action, data=form)
    r = await upload(hr, "zoho", zoho(tmp_path))
    action, form = confirm_form(r.text)
    with psycopg.connect(web.db_url) as conn:  # meanwhile, someone else imports one of the accounts differently
        conn.execute("INSERT INTO key_account (id, name, kam_id, annual_revenue, currency) VALUES "
                     "('zcrm_4876876000000327001', 'Old name', 'K02', 1, 'CNY')")
    r = await hr.post(action, data=form)
    page = text_of(r.text)
    assert r.status_code == 409 and "the database changed since this preview" in page
    assert "key_account: 1 new, 1 changed, 0 unchanged" in page  # the new preview, with its own confirm button
    assert count(web.db_url, "SELECT count(*) FROM key_account WHERE id LIKE 'zcrm_%%'") == 1
    action, form = confirm_form(r.text)
    assert (await hr.post(action, data=form)).status_code == 303
    assert count(web.db_url, "SELECT count(*) FROM key_account WHERE name = 'Old name'") == 0


async def test_bad_files_list_their_problems_in_chinese_and_write_nothing(web, tmp_path: Path) -> None:
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "zh-CN")
    action, form = confirm_form((await upload(hr, "csv", [("ORG.csv", ORG.encode())])).text)
    await hr.post(action, data=form)
    bad = ZOHO_ACCOUNTS.replace('"Michael Brown"', '"Nobody Here"').replace('"CNY 12,000,000.50"', '"lots"')
    before = audit_imports(web.db_url)
    r = await upload(hr, "zoho", zoho(tmp_path, accounts=bad))
    assert r.status_code == 422
    page = text_of(r.text)
    assert "Accounts_2026_12_01.csv 第 2 行，列 Annual Revenue" in page
    assert "Accounts_2026_12_01.csv 第 3 行，列 Account Owner：没有员工与负责人“Nobody Here”对应" in page
    assert 'id="confirm"' not in r.text and audit_imports(web.db_url) == before
    # not an export at all, a workbook that is not one, no file, an unknown source, a stale upload id
    r = await upload(hr, "zoho", [("notes.csv", b'"a","b"\n"1","2"\n')])
    assert r.status_code == 422 and "notes.csv 第 1 行" in text_of(r.text)
    r = await upload(hr, "fxiaoke", [("客户.xlsx", b"not a zip")])
    assert r.status_code == 422 and "客户.xlsx" in text_of(r.text)
    r = await upload(hr, "zoho", [])
    assert r.status_code == 422
    r = await upload(hr, "sap", [("a.csv", b"x")])
    assert r.status_code == 422
    r = await upload(hr, "csv", [("x.csv", b"foo,bar\n1,2\n")])
    assert r.status_code == 422 and "x.csv" in text_of(r.text)
    r = await hr.post("/hr/imports/" + "0" * 32 + "/apply", data={"csrf_token": form["csrf_token"], "expect": "x"})
    assert r.status_code == 404 and "重新上传" in text_of(r.text)
    r = await hr.post("/hr/imports/../../etc/apply", data={"csrf_token": form["csrf_token"]})
    assert r.status_code in (404, 422)


async def test_size_limits(web, tmp_path: Path) -> None:
    from webapp.app import create_app

    app = create_app(web.db_url, web.client, web.task_queue,
                     settings_for_tests(max_upload_file_bytes=2000, max_upload_bytes=50_000), pool_size=2)
    async with app.router.lifespan_context(app):
        web.app = app
        hr = await web.login("HR1")
        hr.cookies.set("kr_lang", "en")
        r = await upload(hr, "zoho", [("Accounts.csv", b"x" * 3000)])
        assert r.status_code == 422 and "Accounts.csv is larger than" in text_of(r.text)
        r = await upload(hr, "zoho", [("Accounts.csv", b"x" * 60_000)])
        assert r.status_code == 413


async def test_project_csv_files_are_told_apart_by_their_header(web) -> None:
    from services.demo import DEMO

    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    files = [(name, (DEMO / name).read_bytes()) for name in ("kpis.csv", "accounts.csv", "org.csv")]  # any order
    r = await upload(hr, "csv", files)
    page = text_of(r.text)
    assert r.status_code == 200, page[-2000:]
    assert "employee: 19 new, 8 changed, 0 unchanged" in page and "key_account: 60 new" in page
    assert "kpi_actual: 80 new, 20 changed" in page  # K01..K04's five KPIs were seeded, K05..K20's are new
    r = await upload(hr, "csv", [("org.csv", files[2][1]), ("org-copy.csv", files[2][1])])
    assert r.status_code == 422 and "org.csv and org-copy.csv are both ORG files" in text_of(r.text)
    r = await upload(hr, "csv", [("org.csv", files[2][1])], mapping=("m.yaml", b"won_stages: [x]"))
    assert r.status_code == 422 and "a mapping file is for CRM exports" in text_of(r.text)


async def test_an_org_upload_shows_and_applies_its_changes_to_the_running_cycles(web) -> None:
    """K02 and K04 move from M2 to M1 (the file puts every KAM under M1): the preview says what that does to the
    running cycle, and the confirm moves their open scoring tasks to M1 through the workflows."""
    from tests.helpers import eventually

    cycle = await web.open_cycle()
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    r = await upload(hr, "csv", [("org.csv", ORG.encode())])
    assert r.status_code == 200, r.text
    shown = text_of(r.text[r.text.index('id="org-changes"'):r.text.index("</ul>", r.text.index('id="org-changes"'))])
    assert "manager change K02" in shown and "M2 -> M1" in shown and f"cycle {cycle}" in shown
    action, form = confirm_form(r.text)
    r = await hr.post(action, data=form)
    assert r.status_code == 303
    assert "org change(s) applied to the running cycles" in text_of((await hr.get("/hr/imports")).text)

    async def moved() -> bool:
        return count(web.db_url, "SELECT count(*) FROM review WHERE cycle_id = %s AND employee_id IN ('K02', 'K04') "
                                 "AND reviewer_id = 'M1'", cycle) == 2

    await eventually(moved, timeout=60)
    assert count(web.db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND kind = 'manager_scoring' "
                             "AND assignee_id = 'M2' AND status = 'open'", cycle) == 0
