"""Zoho CRM's API v8 as a source (issue 12), against a local Zoho that speaks the published formats
(tests/zoho_server.py): OAuth refresh and expiring tokens, COQL paging by offset and then by id, the credit
budget, retries on 429/5xx, Zoho's error codes; and pulled records equal to the export files' (same rows in PG)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from services.errors import Conflict, Forbidden, Rejected, TryLater
from services.importer import ImportFailed, TableCounts
from services.imports.crm import apply_crm_import, apply_crm_pull, preview_crm_import, preview_crm_pull, read_crm
from services.imports.http_source import Backoff, retry_after
from services.imports.issues import Issues
from services.imports.mapping import load_mapping
from services.imports.zoho_api import ZohoClient, credits_for, default_api_domain, pull, pull_records
from services.settings import ZohoSettings
from tests.test_crm_imports import org, row_counts, zoho_files  # noqa: F401 - `org` is a fixture
from tests.zoho_server import FakeZoho, ZohoServer

WANG = {"id": "4876876000000100001", "name": "王芳", "email": "wang.fang@example.com"}
BROWN = {"id": "4876876000000100002", "name": "Michael Brown", "email": "michael.brown@example.com"}
HUACHEN = {"id": "4876876000000327001", "name": "上海华晨精密机械有限公司"}
NORTHWIND = {"id": "4876876000000327002", "name": "Northwind Logistics GmbH"}

# The same records as tests/test_crm_imports.py's export files, as Zoho's records hold them.
RECORDS: dict[str, list[dict[str, Any]]] = {
    "Accounts": [
        {"id": HUACHEN["id"], "Account_Name": HUACHEN["name"], "Owner": WANG, "Annual_Revenue": 12000000.5,
         "Currency": "CNY", "Phone": "021-5555-0100", "Industry": "Manufacturing"},
        {"id": NORTHWIND["id"], "Account_Name": NORTHWIND["name"], "Owner": BROWN, "Annual_Revenue": 8000000,
         "Currency": "EUR", "Phone": None, "Industry": None},
    ],
    "Contacts": [
        {"id": "4876876000000401001", "First_Name": "磊", "Last_Name": "孙", "Full_Name": "磊 孙",
         "Email": "sun.lei@client.example.cn", "Account_Name": HUACHEN, "Owner": WANG, "Mobile": "13800000001"},
        {"id": "4876876000000401002", "First_Name": "Anna", "Last_Name": "Schmidt", "Full_Name": "Anna Schmidt",
         "Email": "anna.schmidt@northwind.example", "Account_Name": NORTHWIND, "Owner": BROWN},
        {"id": "4876876000000401003", "First_Name": "敏", "Last_Name": "钱", "Full_Name": "敏 钱", "Email": None,
         "Account_Name": {"id": "4876876000000999999", "name": "Some Prospect Ltd"}, "Owner": WANG},
    ],
    "Deals": [
        {"id": "4876876000000502001", "Deal_Name": "2026 框架协议", "Owner": WANG, "Account_Name": HUACHEN,
         "Stage": "Closed Won", "Amount": 1250000.0, "Currency": "CNY", "Closing_Date": "2026-09-30"},
        {"id": "4876876000000502002", "Deal_Name": "Fleet renewal", "Owner": BROWN, "Account_Name": NORTHWIND,
         "Stage": "Negotiation/Review", "Amount": 420000.0, "Currency": "EUR", "Closing_Date": "2026-12-15"},
    ],
    "Cases": [
        {"id": "4876876000000603001", "Owner": WANG, "Account_Name": HUACHEN, "Type": "Problem", "Status": "Closed",
         "Case_Origin": "Phone", "Subject": "交货延迟", "Created_Time": "2026-08-12T10:15:00+08:00"},
        {"id": "4876876000000603002", "Owner": WANG, "Account_Name": HUACHEN, "Type": "Question", "Status": "New",
         "Case_Origin": "Email", "Subject": "发票问题", "Created_Time": "2026-09-03T16:40:00+08:00"},
    ],
}


class Sleeps(list[float]):
    """Stands in for asyncio.sleep: records each wait instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> FakeZoho:
    return FakeZoho(records=copy.deepcopy(RECORDS))


@pytest.fixture
def server(fake: FakeZoho) -> Iterator[ZohoServer]:
    with ZohoServer(fake) as running:
        yield running


@pytest.fixture
def settings(fake: FakeZoho, server: ZohoServer) -> ZohoSettings:
    return ZohoSettings(client_id=fake.client_id, client_secret=fake.client_secret, refresh_token=fake.refresh_token,
                        accounts_url=server.base_url, credit_budget=100, retry_first_s=1)


def accounts(n: int) -> list[dict[str, Any]]:
    return [{"id": str(4876876000000700000 + i), "Account_Name": f"客户 {i:03d}", "Owner": WANG,
             "Annual_Revenue": 1000 * i, "Currency": "CNY"} for i in range(1, n + 1)]


# ------------------------------------------------------------------------------------------- the client


async def test_paging_by_offset_then_by_id_past_the_offset_ceiling(fake: FakeZoho, settings: ZohoSettings) -> None:
    fake.records["Accounts"] = accounts(9)
    fake.max_offset_rows = 4  # stands in for COQL's 100,000
    small = settings.model_copy(update={"page_size": 2})
    raw = await pull(small, max_offset_rows=4, sleep=Sleeps())
    assert [r["id"] for r in raw["accounts"]] == [a["id"] for a in accounts(9)]
    queries = [q for q in fake.queries if " from Accounts " in q]
    assert [q.split(" where ")[1] for q in queries] == [
        "id is not null order by id asc limit 0, 2", "id is not null order by id asc limit 2, 2",
        f"id > {accounts(4)[-1]['id']} order by id asc limit 0, 2",
        f"id > {accounts(4)[-1]['id']} order by id asc limit 2, 2",
        f"id > {accounts(8)[-1]['id']} order by id asc limit 0, 2"]
    assert queries[0].startswith("select id, Account_Name, Owner, Owner.full_name, Annual_Revenue, Currency from ")


async def test_a_token_that_runs_out_mid_pull_is_refreshed_once(fake: FakeZoho, settings: ZohoSettings) -> None:
    fake.records["Accounts"] = accounts(5)
    fake.expire_at_call = 2  # the second page meets 401 INVALID_TOKEN
    raw = await pull(settings.model_copy(update={"page_size": 2}), sleep=Sleeps())
    assert len(raw["accounts"]) == 5 and fake.issued == 2


async def test_a_token_near_its_expiry_is_refreshed_before_the_call(fake: FakeZoho, settings: ZohoSettings) -> None:
    now = [1000.0]
    async with ZohoClient(settings, clock=lambda: now[0], sleep=Sleeps()) as client:
        await client.field_names("Accounts")
        now[0] += 3600 - 30  # within a minute of expires_in
        await client.field_names("Deals")
        assert fake.issued == 2 and not any(c[0] == "coql" for c in fake.calls)
        now[0] += 3600
        await client.field_names("Cases")
        assert fake.issued == 3  # each refresh before the call, never a refused call


async def test_429_and_5xx_are_retried_with_backoff_and_retry_after(fake: FakeZoho, settings: ZohoSettings) -> None:
    fake.faults = [(429, "TOO_MANY_REQUESTS", {"Retry-After": "7"}), (500, "INTERNAL_ERROR", {}),
                   (429, "TOO_MANY_REQUESTS", {})]
    sleeps = Sleeps()
    raw = await pull(settings, sleep=sleeps)
    assert len(raw["accounts"]) == 2 and not fake.faults
    assert sleeps[0] == 7 and 1 <= sleeps[1] <= 2 and 2 <= sleeps[2] <= 4  # Retry-After, then doubling


async def test_429_that_does_not_stop_is_an_outage(fake: FakeZoho, settings: ZohoSettings) -> None:
    fake.faults = [(429, "TOO_MANY_REQUESTS", {})] * 5
    with pytest.raises(TryLater, match=r"limiting requests \(TOO_MANY_REQUESTS: .*after 5 tries"):
        await pull(settings, sleep=Sleeps())


async def test_an_unreachable_zoho_is_an_outage(settings: ZohoSettings) -> None:
    gone = settings.model_copy(update={"accounts_url": "http://127.0.0.1:9", "max_attempts": 2})
    with pytest.raises(TryLater, match="cannot reach Zoho CRM"):
        await pull(gone, sleep=Sleeps())


@pytest.mark.parametrize(("change", "expected"), [
    ({"client_secret": "wrong"}, "does not know this client"),
    ({"refresh_token": "1000.revoked"}, r"refused the refresh token \(invalid_code"),
    ({"client_id": None}, "Zoho CRM is not configured: set KAMREVIEW_ZOHO_CLIENT_ID"),
])
async def test_bad_credentials_are_refused_clearly(settings: ZohoSettings, change: dict[str, Any], expected: str) -> None:
    with pytest.raises(Rejected, match=expected):
        await pull(settings.model_copy(update=change), sleep=Sleeps())


async def test_scope_mismatch_is_forbidden_and_names_the_scopes(fake: FakeZoho, settings: ZohoSettings) -> None:
    fake.faults = [(401, "OAUTH_SCOPE_MISMATCH", {})]
    with pytest.raises(Forbidden, match="OAUTH_SCOPE_MISMATCH.*ZohoCRM.coql.READ"):
        await pull(settings, sleep=Sleeps())


async def test_an_invalid_query_names_zohos_code_and_the_column(fake: FakeZoho, settings: ZohoSettings) -> None:
    async with ZohoClient(settings, sleep=Sleeps()) as client:
        with pytest.raises(Rejected, match=r"refused the query \(INVALID_QUERY: .*Amount_Won.*select Amount_Won"):
            await client.coql("select Amount_Won from Deals where id is not null order by id asc limit 0, 200", 200)


async def test_a_field_the_setup_lacks_is_left_out_of_the_query(fake: FakeZoho, settings: ZohoSettings) -> None:
    fake.fields["Deals"].remove("Currency")  # no multi-currency: the mapping's currency applies
    for deal in fake.records["Deals"]:
        del deal["Currency"]
    result = await pull_records(load_mapping("zoho"), settings, sleep=Sleeps())
    assert all("Currency" not in q for q in fake.queries if " from Deals " in q)
    assert {d.currency for d in result.records.deals.values()} == {"CNY"}


def test_coql_credits_follow_the_published_table() -> None:
    assert [credits_for(n) for n in (1, 200, 201, 1000, 1001, 2000)] == [1, 1, 2, 2, 3, 3]


def test_the_api_server_follows_the_accounts_servers_data_centre() -> None:
    assert default_api_domain("https://accounts.zoho.com.cn") == "https://www.zohoapis.com.cn"
    assert default_api_domain("https://accounts.zoho.eu/") == "https://www.zohoapis.eu"
    assert default_api_domain("http://127.0.0.1:9") == "https://www.zohoapis.com"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    import httpx

    assert retry_after(httpx.Response(429, headers={"Retry-After": "12"})) == 12
    assert retry_after(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after(httpx.Response(429)) is None
    assert Backoff(5, 1, 60).wait(0, 300) == 60


# --------------------------------------------------------------------------------- through the import seam


async def test_pulled_records_equal_the_export_files_records(fake: FakeZoho, settings: ZohoSettings,
                                                             tmp_path: Path) -> None:
    mapping = load_mapping("zoho")
    pulled = (await pull_records(mapping, settings, sleep=Sleeps())).records
    files = read_crm("zoho", zoho_files(tmp_path), mapping, Issues([]))
    assert {k: a.values() + (a.owner,) for k, a in pulled.accounts.items()} == \
        {k: a.values() + (a.owner,) for k, a in files.accounts.items()}
    assert pulled.accounts["zcrm_4876876000000327001"].owner_id == WANG["id"]  # the export file has no owner id
    assert {k: (c.values(), c.account_name) for k, c in pulled.contacts.items()} == \
        {k: (c.values(), c.account_name) for k, c in files.contacts.items()}

    def deal(d: Any) -> tuple[Any, ...]:
        return d.id, d.kind, d.name, d.account_id, d.owner, d.stage, d.won, d.amount, d.currency, d.closed_on

    def case(c: Any) -> tuple[Any, ...]:
        return c.id, c.account_id, c.account_name, c.owner, c.type, c.complaint, c.status, c.opened_on

    assert sorted(map(deal, pulled.deals.values())) == sorted(map(deal, files.deals.values()))
    assert sorted(map(case, pulled.cases.values())) == sorted(map(case, files.cases.values()))
    assert pulled.deals["zcrm_4876876000000502001"].won and pulled.deals["zcrm_4876876000000502001"].amount == \
        Decimal("1250000.00")
    assert pulled.cases["zcrm_4876876000000603001"].complaint
    assert pulled.cases["zcrm_4876876000000603001"].opened_on == date(2026, 8, 12)


@pytest.mark.usefixtures("org")
async def test_pull_preview_writes_nothing_then_apply_gives_the_export_imports_rows(
        db_url: str, fake: FakeZoho, settings: ZohoSettings, tmp_path: Path) -> None:
    before = row_counts(db_url)
    preview = await preview_crm_pull(db_url, "zoho", settings=settings, sleep=Sleeps())
    assert row_counts(db_url) == before
    assert preview.tables["key_account"].counts == TableCounts(inserted=2)
    assert preview.tables["customer_contact"].counts == TableCounts(inserted=2)
    assert (preview.deals, preview.won_deals, preview.cases, preview.complaints) == (2, 1, 2, 1)
    assert "Some Prospect Ltd" in str(preview)  # its contact is left out, as from the files
    assert "pulled from Zoho CRM: 2 accounts, 3 contacts, 2 deals, 2 cases (16 API credits in 8 calls)" in str(preview)

    summary = await apply_crm_pull(db_url, "zoho", actor="HR1", settings=settings, sleep=Sleeps())
    assert summary.tables["key_account"].inserted == 2 and summary.tables["customer_contact"].inserted == 2
    # the export files of the same records find exactly these rows: nothing would change, nothing does
    assert not preview_crm_import(db_url, "zoho", zoho_files(tmp_path)).changed
    assert not apply_crm_import(db_url, "zoho", zoho_files(tmp_path)).changed
    again = await apply_crm_pull(db_url, "zoho", settings=settings, sleep=Sleeps())
    assert not again.changed


@pytest.mark.usefixtures("org")
async def test_credit_budget_exceeded_stops_before_the_call_and_writes_nothing(
        db_url: str, fake: FakeZoho, settings: ZohoSettings) -> None:
    before = row_counts(db_url)
    tight = settings.model_copy(update={"credit_budget": 10})  # per module: fields (1) + one COQL page (3)
    with pytest.raises(Conflict, match=r"more API credits than its budget of 10 \(9 spent on 5 calls, the next "
                                       r"call costs 3\); nothing was written"):
        await apply_crm_pull(db_url, "zoho", settings=tight, sleep=Sleeps())
    assert len(fake.queries) == 2  # Accounts and Contacts; the Deals query was never sent
    assert row_counts(db_url) == before


@pytest.mark.usefixtures("org")
async def test_problems_in_pulled_records_name_module_record_and_api_field(
        db_url: str, fake: FakeZoho, settings: ZohoSettings) -> None:
    fake.records["Accounts"][1]["Owner"] = {"id": "4876876000000100009", "name": "Nobody Known", "email": None}
    with pytest.raises(ImportFailed) as info:
        await preview_crm_pull(db_url, "zoho", settings=settings, sleep=Sleeps())
    [issue] = info.value.issues
    assert (issue.file, issue.line, issue.column) == ("Zoho CRM API Accounts", 2, "Owner.full_name")
    assert "no employee matches owner 'Nobody Known'" in issue.message


@pytest.mark.usefixtures("org")
async def test_the_mapping_names_api_fields_a_setup_uses_instead(db_url: str, fake: FakeZoho, settings: ZohoSettings,
                                                                 tmp_path: Path) -> None:
    mapping = tmp_path / "crm.yaml"
    mapping.write_text("api_fields:\n  accounts: {owner: Owner.email}\n  cases: {type: Complaint_Type}\n"
                       "complaint_types: [投诉]\n", encoding="utf-8")
    fake.fields["Cases"].append("Complaint_Type")
    fake.records["Cases"][1]["Complaint_Type"] = "投诉"
    preview = await preview_crm_pull(db_url, "zoho", mapping, settings=settings, sleep=Sleeps())
    accounts_query = next(q for q in fake.queries if " from Accounts " in q)
    assert accounts_query.startswith("select id, Account_Name, Owner, Annual_Revenue, Currency, Owner.email from ")
    assert [c.after["kam_id"] for c in preview.tables["key_account"].new] == ["K01", "K02"]  # matched by e-mail
    assert (preview.cases, preview.complaints) == (2, 1)
    cases_query = next(q for q in fake.queries if " from Cases " in q)
    assert "Complaint_Type" in cases_query and " Type," not in cases_query


def test_an_invalid_api_field_name_in_the_mapping_is_refused(tmp_path: Path) -> None:
    mapping = tmp_path / "crm.yaml"
    mapping.write_text("api_fields:\n  accounts: {owner: Owner email, phone: Phone}\n", encoding="utf-8")
    with pytest.raises(Rejected, match=r"(?s)2 problem.*api_fields.accounts.owner: .*api_fields.accounts.phone"):
        load_mapping("zoho", mapping)
    with pytest.raises(Rejected, match="api_fields"):
        load_mapping("fxiaoke", mapping)  # no API pull for Fxiaoke here: the key is unknown


async def test_modules_an_edition_lacks_are_not_pulled(fake: FakeZoho, settings: ZohoSettings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAMREVIEW_ZOHO_MODULES", "accounts, Contacts,deals")
    assert ZohoSettings().modules == ["accounts", "contacts", "deals"]
    del fake.fields["Cases"]  # an edition without Cases: its metadata call would be refused
    result = await pull_records(load_mapping("zoho"), settings.model_copy(update={"modules": ZohoSettings().modules}),
                                sleep=Sleeps())
    assert len(result.records.accounts) == 2 and not result.records.cases
    assert ("fields", "Cases") not in fake.calls and "0 cases" in str(result.notes[0])


@pytest.fixture(scope="module")
def shared_zoho() -> Iterator[tuple[FakeZoho, ZohoSettings]]:
    shared = FakeZoho()
    with ZohoServer(shared) as running:
        yield shared, ZohoSettings(client_id=shared.client_id, client_secret=shared.client_secret,
                                   refresh_token=shared.refresh_token, accounts_url=running.base_url,
                                   credit_budget=10_000)


@hypothesis.settings(max_examples=30, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(n=st.integers(0, 23), page=st.integers(1, 5), ceiling_pages=st.integers(1, 4),
                  gaps=st.lists(st.integers(1, 1000), min_size=23, max_size=23))
def test_paging_reads_every_record_once_in_id_order_within_coqls_limits(
        shared_zoho: tuple[FakeZoho, ZohoSettings], n: int, page: int, ceiling_pages: int, gaps: list[int]) -> None:
    """Whatever the page size and the offset ceiling (the fake refuses any call past it), every record comes
    exactly once, in id order, ids with gaps included."""
    import asyncio
    from itertools import accumulate

    shared, base = shared_zoho
    ids = [str(4876876000000800000 + g) for g in accumulate(gaps[:n])]
    shared.records = {"Accounts": [{"id": i, "Account_Name": f"A{i}", "Owner": WANG} for i in ids]}
    shared.max_offset_rows = page * ceiling_pages

    async def run() -> list[dict[str, Any]]:
        async with ZohoClient(base.model_copy(update={"page_size": page}), sleep=Sleeps(),
                              max_offset_rows=page * ceiling_pages) as client:
            return await client.select_all("Accounts", ["id", "Account_Name"])

    assert [r["id"] for r in asyncio.run(run())] == ids
