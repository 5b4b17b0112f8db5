"""HR's import upload in real headless Chromium (issue 12): the file input with several files, the preview, the
confirm button, problems in Chinese, the size limit said before uploading; screenshots with KAMREVIEW_SHOTS."""

from __future__ import annotations

from pathlib import Path

from tests.test_crm_imports import ORG, ZOHO_ACCOUNTS, zoho_files
from tests.web.helpers import db_value
from tests.web.test_browser import browser, page_for, pytestmark, sign_in  # noqa: F401 - fixtures and the skip mark


def test_hr_uploads_zoho_and_fxiaoke_exports_in_the_browser(live, db_url, web_org, page_for, tmp_path):  # noqa: F811
    """The real file input, several files at once, the preview, the confirm button; Chinese and English."""
    from axe_playwright_python.sync_playwright import Axe

    from tests.test_crm_imports import fxiaoke_files
    from tests.web.test_hr_browser import shoot

    org = tmp_path / "ORG.csv"
    org.write_text(ORG, encoding="utf-8")
    for folder in ("zoho", "fx", "bad"):
        (tmp_path / folder).mkdir()
    zoho_paths = zoho_files(tmp_path / "zoho")
    fx_paths = fxiaoke_files(tmp_path / "fx")
    bad_paths = zoho_files(tmp_path / "bad", accounts=ZOHO_ACCOUNTS.replace('"Michael Brown"', '"Nobody Here"'))

    page = page_for()
    page.context.add_cookies([{"name": "kr_lang", "value": "zh-CN", "url": live.url}])
    sign_in(page, live.url, "HR1")
    page.click("text=数据导入")
    assert page.url.endswith("/hr/imports") and page.get_attribute("nav a[aria-current=page]", "href") == "/hr/imports"

    def send(source: str, files: list[Path]) -> None:
        page.check(f"#source-{source}")
        page.set_input_files("#files", [str(p) for p in files])
        page.click("#upload")

    send("csv", [org])
    assert "employee：新增 0，变更 5，未变 0" in page.inner_text("#preview")
    page.click("#confirm")
    assert "已导入 ORG.csv" in page.inner_text("#flash")

    send("zoho", bad_paths)  # a wrong owner: listed with file, line and column, in Chinese; nothing written
    problems = page.inner_text("#problems")
    assert "未导入任何数据" in problems and "Accounts_2026_12_01.csv 第 3 行，列 Account Owner" in problems
    shoot(page, "hr-imports-problems-zh")

    send("zoho", zoho_paths)
    preview = page.inner_text("#preview")
    assert "key_account：新增 2，变更 0，未变 0" in preview and page.locator("#confirm").is_visible()
    assert db_value(db_url, "SELECT count(*) FROM key_account WHERE id LIKE 'zcrm_%%'") == 0
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, serious
    shoot(page, "hr-imports-preview-zh")
    page.click("#confirm")
    assert "已导入 Accounts_2026_12_01.csv" in page.inner_text("#flash")
    assert db_value(db_url, "SELECT count(*) FROM key_account WHERE id LIKE 'zcrm_%%'") == 2

    page.context.add_cookies([{"name": "kr_lang", "value": "en", "url": live.url}])
    page.goto(f"{live.url}/hr/imports")
    send("fxiaoke", fx_paths)
    preview = page.inner_text("#preview")
    assert "key_account: 2 new, 0 changed, 0 unchanged" in preview and "1 orders" in preview
    shoot(page, "hr-imports-preview-en")
    page.click("#confirm")
    assert "imported 客户_20261201.xlsx" in page.inner_text("#flash")
    assert db_value(db_url, "SELECT count(*) FROM key_account WHERE id LIKE 'KH-%%'") == 2
    send("fxiaoke", fx_paths)  # the same workbooks again: nothing to confirm
    assert page.locator("#confirm").count() == 0 and "Nothing to import" in page.inner_text("#preview")

    huge = tmp_path / "Accounts_huge.csv"  # over the limit: said before uploading, nothing is sent
    huge.write_bytes(b"x" * (10 * 1024 * 1024 + 1))
    page.goto(f"{live.url}/hr/imports")
    send("zoho", [huge])
    assert page.url.endswith("/hr/imports") and "Accounts_huge.csv is larger than 10 MB" in page.inner_text("#too-large")
