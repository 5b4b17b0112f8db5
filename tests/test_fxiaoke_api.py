"""The Fxiaoke open API as a source (issue 12): the real client (httpx) against a local server that speaks the
documented requests and answers (tests/fxiaoke_server.py): paging, token renewal, frequency limits with backoff,
documented error codes; the pulled records go through the same validation and writer as the Excel export, and an
API pull of the same records as the workbooks writes the very same rows."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from i18n.format import Formatter
from services.errors import Rejected
from services.importer import ImportFailed, TableCounts
from services.imports.crm import apply_crm_import, apply_crm_pull, preview_crm_import, preview_crm_pull
from services.imports.fxiaoke_api import (
    Credentials,
    FxiaokeAuthFailed,
    FxiaokeClient,
    FxiaokeFailed,
    FxiaokeUnavailable,
)
from services.settings import FxiaokeSettings
from tests.fxiaoke_server import APP_ID, APP_SECRET, OPEN_USER_ID, PERMANENT_CODE, FakeFxiaoke, serve
from tests.test_crm_imports import fxiaoke_files, org, row_counts  # noqa: F401 - `org` is a fixture

QUERY = "/cgi/crm/v2/data/query"


def settings(url: str, **changes: Any) -> SimpleNamespace:
    """The app settings as the services read them (only the fxiaoke group matters); no real waiting."""
    values: dict[str, Any] = {"app_id": APP_ID, "app_secret": SecretStr(APP_SECRET),
                              "permanent_code": SecretStr(PERMANENT_CODE), "open_user_id": OPEN_USER_ID,
                              "base_url": url, "timeout_s": 5, "attempts": 4, "backoff_s": 0.0,
                              "min_interval_s": 0.0}
    return SimpleNamespace(fxiaoke=FxiaokeSettings(**(values | changes)))


def credentials(url: str, **changes: Any) -> Credentials:
    return Credentials.from_settings(settings(url, **changes).fxiaoke)


def accounts(n: int) -> list[dict[str, Any]]:
    return [{"_id": f"{i:032x}", "account_no": f"KH-{i:05d}", "name": f"客户{i}", "owner": ["FSUID_WANGFANG"]}
            for i in range(1, n + 1)]


def offsets(fake: FakeFxiaoke) -> list[tuple[int, list[dict[str, Any]]]]:
    out = []
    for path, body in fake.requests:
        if path == QUERY:
            info = body["data"]["search_query_info"]
            assert info["limit"] == 100 and info["orders"] == [{"fieldName": "_id", "isAsc": True}]
            out.append((info["offset"], info["filters"]))
    return out


# ----------------------------------------------------------------------------------------- the client


async def test_paging_reads_every_page_of_at_most_100_records() -> None:
    with serve() as fake:
        fake.objects["AccountObj"] = accounts(250)
        async with FxiaokeClient(credentials(fake.url)) as api:
            rows = await api.query("AccountObj")
    assert [r["account_no"] for r in rows] == [f"KH-{i:05d}" for i in range(1, 251)]
    assert [o for o, _ in offsets(fake)] == [0, 100, 200]
    token_body = fake.requests[0][1]
    assert fake.paths()[0] == "/cgi/corpAccessToken/get/V2" and token_body == {
        "appId": APP_ID, "appSecret": APP_SECRET, "permanentCode": PERMANENT_CODE}
    query = fake.requests[1][1]
    assert (query["corpAccessToken"], query["corpId"], query["currentOpenUserId"]) == ("CAT0001", "FSCID_TEST0001",
                                                                                      OPEN_USER_ID)
    assert query["data"]["dataObjectApiName"] == "AccountObj" and fake.issued == 1  # the token is cached


async def test_past_the_offset_cap_the_pull_pages_by_id() -> None:
    with serve(FakeFxiaoke(max_offset=200)) as fake:
        fake.objects["AccountObj"] = accounts(430)
        async with FxiaokeClient(credentials(fake.url)) as api:
            api.max_offset = 200
            rows = await api.query("AccountObj")
    assert len(rows) == 430 and len({r["_id"] for r in rows}) == 430
    pages = offsets(fake)
    assert [o for o, _ in pages] == [0, 100, 200, 0, 0]
    assert pages[3][1] == [{"field_name": "_id", "operator": "GT", "field_values": [f"{300:032x}"]}]
    assert pages[4][1] == [{"field_name": "_id", "operator": "GT", "field_values": [f"{400:032x}"]}]


async def test_a_token_the_server_calls_expired_is_renewed_mid_pull() -> None:
    with serve(FakeFxiaoke(expire_after=2)) as fake:
        fake.objects["AccountObj"] = accounts(350)
        async with FxiaokeClient(credentials(fake.url)) as api:
            rows = await api.query("AccountObj")
    assert len(rows) == 350 and fake.issued == 2
    assert [o for o, _ in offsets(fake)] == [0, 100, 200, 200, 300]  # the refused page is asked again
    tokens = [b["corpAccessToken"] for p, b in fake.requests if p == QUERY]
    assert tokens == ["CAT0001", "CAT0001", "CAT0001", "CAT0002", "CAT0002"]


async def test_a_token_is_renewed_before_its_documented_end() -> None:
    now = [0.0]
    with serve() as fake:
        async with FxiaokeClient(credentials(fake.url), clock=lambda: now[0]) as api:
            await api.query("AccountObj")
            now[0] = 6599.0
            await api.query("AccountObj")
            assert fake.issued == 1
            now[0] = 6601.0  # the same token is served for 6600 s; after that, fetch the next one
            await api.query("AccountObj")
    assert fake.issued == 2


async def test_rate_limited_then_success_waits_with_backoff() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with serve() as fake:
        fake.fail_next = [(QUERY, {"errorCode": 30004, "errorMessage": "秒频次超限"}),
                          (QUERY, {"errorCode": 14001, "errorMessage": "接口调用超过限制"}),
                          (QUERY, {"errorCode": -1, "errorMessage": "系统繁忙"})]
        async with FxiaokeClient(credentials(fake.url), backoff_s=1.0, sleep=sleep) as api:
            rows = await api.query("AccountObj")
    assert len(rows) == 2 and waits == [1.0, 2.0, 4.0]


async def test_calls_of_one_interface_are_spaced_to_stay_under_the_limit() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with serve() as fake:
        fake.objects["AccountObj"] = accounts(300)
        async with FxiaokeClient(credentials(fake.url, min_interval_s=0.2), sleep=sleep) as api:
            await api.query("AccountObj")
    assert len(waits) == 2 and all(0.1 < w <= 0.2 for w in waits)  # pages 2 and 3; the token is another interface


async def test_rate_limits_that_do_not_end_are_an_outage() -> None:
    with serve() as fake:
        fake.fail_next = [(QUERY, {"errorCode": 30004, "errorMessage": "秒频次超限"})] * 4
        async with FxiaokeClient(credentials(fake.url)) as api:
            with pytest.raises(FxiaokeUnavailable, match=r"after 4 attempts \(last: errorCode 30004: 秒频次超限"):
                await api.query("AccountObj")


@pytest.mark.parametrize(("canned", "error", "words"), [
    ({"errorCode": 30002, "errorMessage": "当天访问频次超限"}, FxiaokeUnavailable, "daily call quota"),
    ({"errorCode": 20021, "errorMessage": "在当前企业下，该app的状态为停用"}, FxiaokeAuthFailed, "errorCode 20021"),
    ({"errorCode": 15002, "errorMessage": "参数不合法"}, FxiaokeFailed, "object and field api names"),
])
async def test_documented_error_codes_are_clear_errors(canned: dict[str, Any], error: type, words: str) -> None:
    with serve() as fake:
        fake.fail_next = [(QUERY, canned)]
        async with FxiaokeClient(credentials(fake.url)) as api:
            with pytest.raises(error, match=words) as info:
                await api.query("AccountObj")
    assert "traceId E-O.test." in str(info.value)


async def test_a_wrong_acting_user_and_an_unreachable_server() -> None:
    with serve() as fake:
        async with FxiaokeClient(credentials(fake.url, open_user_id="FSUID_GONE")) as api:
            with pytest.raises(FxiaokeAuthFailed, match="KAMREVIEW_FXIAOKE_OPEN_USER_ID"):
                await api.query("AccountObj")
        closed = fake.url
    async with FxiaokeClient(credentials(closed)) as api:
        with pytest.raises(FxiaokeUnavailable, match="cannot reach Fxiaoke at http://127.0.0.1"):
            await api.query("AccountObj")


def test_missing_settings_are_named_and_never_taken_from_the_command_line() -> None:
    empty = FxiaokeSettings(app_id=None, app_secret=None, permanent_code=None, open_user_id=None)
    with pytest.raises(Rejected) as info:
        Credentials.from_settings(empty)
    assert str(info.value).startswith("the Fxiaoke open API is not configured: set KAMREVIEW_FXIAOKE_APP_ID, "
                                      "KAMREVIEW_FXIAOKE_APP_SECRET, KAMREVIEW_FXIAOKE_PERMANENT_CODE, "
                                      "KAMREVIEW_FXIAOKE_OPEN_USER_ID")


# ----------------------------------------------------------------------------------- through the seam


@pytest.mark.usefixtures("org")
async def test_pulled_records_write_the_same_rows_as_the_excel_import(db_url: str, tmp_path: Path) -> None:
    files = fxiaoke_files(tmp_path)
    with serve() as fake:
        pulled = await preview_crm_pull(db_url, "fxiaoke", settings=settings(fake.url).fxiaoke)
        from_files = preview_crm_import(db_url, "fxiaoke", files)
        for table in ("key_account", "customer_contact"):
            assert pulled.tables[table].counts == from_files.tables[table].counts == TableCounts(inserted=2)
            assert pulled.tables[table].new == from_files.tables[table].new  # the same rows, ids included
        counts = (pulled.deals, pulled.won_deals, pulled.orders, pulled.cases, pulled.complaints)
        assert counts == (from_files.deals, from_files.won_deals, from_files.orders, from_files.cases,
                          from_files.complaints) == (2, 1, 1, 2, 1)
        assert pulled.files == ["fxiaoke:AccountObj", "fxiaoke:ContactObj", "fxiaoke:NewOpportunityObj",
                                "fxiaoke:SalesOrderObj", "fxiaoke:CasesObj"]
        # one lookup of the owner (FSUID_WANGFANG -> wang.fang@example.com -> K01), one describe per object
        assert fake.paths().count("/cgi/user/get") == 1 and fake.paths().count("/cgi/crm/v2/object/describe") == 5

        summary = await apply_crm_pull(db_url, "fxiaoke", actor="HR1", settings=settings(fake.url).fxiaoke)
        assert summary.key_account == TableCounts(inserted=2) and summary.customer_contact == TableCounts(inserted=2)
        again = apply_crm_import(db_url, "fxiaoke", files)  # the Excel export of the same records: no change
        assert not again.changed and again.key_account == TableCounts(unchanged=2)
        assert again.customer_contact == TableCounts(unchanged=2)
        assert not (await apply_crm_pull(db_url, "fxiaoke", settings=settings(fake.url).fxiaoke)).changed
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT id, name, kam_id, currency FROM key_account ORDER BY id").fetchall() == [
            ("KH-2024-0001", "沈阳北方重工机械有限公司", "K01", "CNY"), ("KH-2024-0002", "杭州西湖电子有限公司", "K01", "CNY")]


@pytest.mark.usefixtures("org")
async def test_pulled_records_equal_the_records_of_the_excel_export(db_url: str, tmp_path: Path) -> None:
    """Record by record, after the shared validation: the same ids, amounts, dates, won / cancelled / complaint
    flags and account links; only where they came from (and the owner as written: a name or an e-mail) differ."""
    import dataclasses

    from services.imports.crm import _owner_rule, read_crm
    from services.imports.fxiaoke_api import pull_fxiaoke
    from services.imports.issues import Issues
    from services.imports.mapping import load_mapping
    from services.imports.pipeline import plan_records

    mapping = load_mapping("fxiaoke")
    files = fxiaoke_files(tmp_path)
    issues = Issues([f.name for f in files])
    excel = read_crm("fxiaoke", files, mapping, issues)
    with serve() as fake:
        api = await pull_fxiaoke(credentials(fake.url), mapping)
    for records, found in ((excel, issues), (api.records, api.issues)):
        plan_records(db_url, records, found, _owner_rule(mapping))  # resolves owners and account links in place

    def same(record: object) -> dict[str, object]:
        values = dataclasses.asdict(record)  # type: ignore[call-overload]
        return {k: v for k, v in values.items() if k not in ("file", "line", "owner", "owner_id", "owner_column")}

    for kind in ("accounts", "contacts", "deals", "cases"):
        ours, theirs = getattr(api.records, kind), getattr(excel, kind)
        assert ours.keys() == theirs.keys(), kind
        assert [same(r) for r in ours.values()] == [same(r) for r in theirs.values()], kind
    assert {k: dataclasses.replace(v, file="", line=0) for k, v in api.records.deals.items()} == {
        k: dataclasses.replace(v, file="", line=0, owner="wang.fang@example.com") for k, v in excel.deals.items()}


@pytest.mark.usefixtures("org")
async def test_bad_credentials_are_a_clear_error_and_nothing_is_written(db_url: str) -> None:
    before = row_counts(db_url)
    with serve() as fake:
        with pytest.raises(FxiaokeAuthFailed) as info:
            await apply_crm_pull(db_url, "fxiaoke", settings=settings(fake.url, app_secret=SecretStr("wrong")).fxiaoke)
        assert fake.paths() == ["/cgi/corpAccessToken/get/V2"]  # nothing else was asked with a refused app
    assert str(info.value) == (
        "Fxiaoke refused the app's credentials (errorCode 10006: the parameter appSecret is missing or illegal "
        "(traceId open-api-gateway-web/E-O.test.1)); check KAMREVIEW_FXIAOKE_APP_ID, KAMREVIEW_FXIAOKE_APP_SECRET, "
        "KAMREVIEW_FXIAOKE_PERMANENT_CODE")
    assert info.value.text is not None and "wrong" not in str(info.value)  # the secret is never echoed
    assert Formatter(locale="zh-CN").text(info.value.text).startswith("纷享销客拒绝了应用凭证（errorCode 10006")
    assert row_counts(db_url) == before


@pytest.mark.usefixtures("org")
async def test_an_owner_no_employee_matches_names_the_record_and_the_table_fixes_it(db_url: str, tmp_path: Path) -> None:
    with serve() as fake:
        fake.objects["AccountObj"][1]["owner"] = ["FSUID_NOBODY"]  # 赵无名: no e-mail in Fxiaoke, no employee
        with pytest.raises(ImportFailed) as info:
            await apply_crm_pull(db_url, "fxiaoke", settings=settings(fake.url).fxiaoke)
        assert [(i.file, i.line, i.column) for i in info.value.issues] == [("fxiaoke:AccountObj", 2, "owner")]
        assert "no employee matches owner '赵无名'" in info.value.issues[0].message
        mapping = tmp_path / "crm.yaml"
        mapping.write_text("owner:\n  owners:\n    FSUID_NOBODY: K02\n", encoding="utf-8")
        done = await apply_crm_pull(db_url, "fxiaoke", mapping, settings=settings(fake.url).fxiaoke)
        assert done.key_account == TableCounts(inserted=2)
        assert fake.paths().count("/cgi/user/get") == 3  # the table names FSUID_NOBODY: no lookup the 2nd time
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT kam_id FROM key_account WHERE id = 'KH-2024-0002'").fetchone() == ("K02",)


@pytest.mark.usefixtures("org")
async def test_the_mapping_names_objects_and_fields_and_a_wrong_one_is_refused(db_url: str, tmp_path: Path) -> None:
    mapping = tmp_path / "crm.yaml"
    mapping.write_text("api:\n  objects: {cases: object_kf8Ts__c, orders: null}\n"
                       "  fields:\n    cases: {type: field_0uAwt__c}\n", encoding="utf-8")
    with serve() as fake:
        fake.objects["object_kf8Ts__c"] = [
            {"_id": "c1", "name": "GD-0009", "account_id": "5f0a1c2b3d4e5f60718293a4b5c6d701", "owner": ["FSUID_WANGFANG"],
             "field_0uAwt__c": "1"}]
        fake.describes["object_kf8Ts__c"] = {"field_0uAwt__c": {"type": "select_one",
                                                               "options": [{"value": "1", "label": "投诉"}]}}
        preview = await preview_crm_pull(db_url, "fxiaoke", mapping, settings=settings(fake.url).fxiaoke)
        assert (preview.orders, preview.cases, preview.complaints) == (0, 1, 1)
        assert "/cgi/crm/custom/v2/data/query" in fake.paths()  # a __c object has its own path
        wrong = tmp_path / "wrong.yaml"
        wrong.write_text("api:\n  objects: {cases: NoSuchObj}\n", encoding="utf-8")
        with pytest.raises(FxiaokeFailed, match="errorCode 32000: 对象NoSuchObj不存在"):
            await preview_crm_pull(db_url, "fxiaoke", wrong, settings=settings(fake.url).fxiaoke)
        typo = tmp_path / "typo.yaml"
        typo.write_text("api:\n  fields:\n    accounts: {owenr: owner}\n", encoding="utf-8")
        with pytest.raises(Rejected, match="api.fields.accounts.owenr"):
            await preview_crm_pull(db_url, "fxiaoke", typo, settings=settings(fake.url).fxiaoke)
