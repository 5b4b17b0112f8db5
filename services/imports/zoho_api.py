"""Zoho CRM's REST API (v8) as a source: Accounts, Contacts, Deals and Cases pulled with COQL queries and read
into the same RecordSet the export reader (services.imports.zoho) produces, through the same mapping — owners
become KAMs, won stages, complaint types and currencies as for the CSV files — so validation and writing stay
shared.

The published formats followed (docs/crm-imports.md says what could not be confirmed):

- OAuth 2.0 refresh: ``POST {accounts}/oauth/v2/token?grant_type=refresh_token&client_id=&client_secret=
  &refresh_token=`` -> ``{"access_token", "expires_in", "api_domain", "token_type"}``, or ``{"error": ...}``
  (``invalid_client``, ``invalid_code``); calls carry ``Authorization: Zoho-oauthtoken <token>``. A token is
  refreshed shortly before ``expires_in`` runs out and once on a 401 ``INVALID_TOKEN``.
- ``POST {api}/crm/v8/coql`` with ``{"select_query": "select ... from Accounts where ... order by id asc
  limit <offset>, <count>"}`` -> ``{"data": [...], "info": {"count", "more_records"}}`` (204 when nothing
  matches). At most 2,000 records per call, and LIMIT/OFFSET reach the first 100,000 records only; past that
  the pull continues by key (``where id > <last id>``) from offset 0.
- A COQL call costs 1 API credit for up to 200 records, 2 up to 1,000, 3 up to 2,000; a field-metadata call
  (``GET {api}/crm/v8/settings/fields?module=``) is counted as 1. A pull stops before it would exceed its
  budget (``KAMREVIEW_ZOHO_CREDIT_BUDGET``), writing nothing.
- Errors are ``{"code", "details", "message", "status": "error"}``; 429 and 5xx are retried with backoff
  (``Retry-After`` honoured when present).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from domain.text import Text, tr
from services.errors import Conflict, Forbidden, Rejected, TryLater, UserError
from services.imports.cells import Cells
from services.imports.crm_common import REQUIRED
from services.imports.http_source import Backoff, PullResult, send
from services.imports.issues import Issues
from services.imports.mapping import CrmMapping
from services.imports.records import RecordSet
from services.imports.zoho import ZohoReader
from services.settings import ZohoSettings

log = logging.getLogger(__name__)

API_VERSION = "v8"
MAX_PAGE = 2000
MAX_OFFSET_ROWS = 100_000
"""COQL's LIMIT/OFFSET reach this many records of one query (v8); further records are paged by id."""
TOKEN_MARGIN_S = 60
"""A token this close to its expiry is refreshed before the next call rather than sent and refused."""
SERVICE = "Zoho CRM"

# Our field -> where it is in a COQL record: the first path present wins. ``A.b`` is a joined field as COQL
# returns it (the key ``"A.b"``) or the lookup object's own key (``{"A": {"b": ...}}``, as the records API
# returns lookups); ``A.id`` of a lookup is its record id.
FIELDS: dict[str, dict[str, list[str]]] = {
    "accounts": {"id": ["id"], "name": ["Account_Name"], "owner": ["Owner.full_name", "Owner.name"],
                 "owner_id": ["Owner.id"], "annual_revenue": ["Annual_Revenue"], "currency": ["Currency"]},
    "contacts": {"id": ["id"], "name": ["Full_Name"], "first_name": ["First_Name"], "last_name": ["Last_Name"],
                 "email": ["Email"], "account": ["Account_Name.Account_Name", "Account_Name.name"],
                 "account_id": ["Account_Name.id"], "owner": ["Owner.full_name", "Owner.name"]},
    "deals": {"id": ["id"], "name": ["Deal_Name"], "owner": ["Owner.full_name", "Owner.name"],
              "account": ["Account_Name.Account_Name", "Account_Name.name"], "account_id": ["Account_Name.id"],
              "stage": ["Stage"], "amount": ["Amount"], "currency": ["Currency"], "closed_on": ["Closing_Date"]},
    "cases": {"id": ["id"], "owner": ["Owner.full_name", "Owner.name"],
              "account": ["Account_Name.Account_Name", "Account_Name.name"], "account_id": ["Account_Name.id"],
              "type": ["Type"], "status": ["Status"], "opened_on": ["Created_Time"]},
}
# What each module's query selects (a lookup itself gives its id; ``Lookup.Field`` joins the related record).
SELECT: dict[str, list[str]] = {
    "accounts": ["id", "Account_Name", "Owner", "Owner.full_name", "Annual_Revenue", "Currency"],
    "contacts": ["id", "Full_Name", "First_Name", "Last_Name", "Email", "Account_Name", "Account_Name.Account_Name",
                 "Owner", "Owner.full_name"],
    "deals": ["id", "Deal_Name", "Owner", "Owner.full_name", "Account_Name", "Account_Name.Account_Name", "Stage",
              "Amount", "Currency", "Closing_Date"],
    "cases": ["id", "Owner", "Owner.full_name", "Account_Name", "Account_Name.Account_Name", "Type", "Status",
              "Created_Time"],
}
MODULES = {"accounts": "Accounts", "contacts": "Contacts", "deals": "Deals", "cases": "Cases"}
SCOPES = ("ZohoCRM.coql.READ", "ZohoCRM.modules.accounts.READ", "ZohoCRM.modules.contacts.READ",
          "ZohoCRM.modules.deals.READ", "ZohoCRM.modules.cases.READ", "ZohoCRM.settings.fields.READ",
          "ZohoCRM.users.READ")

_QUERY_ERRORS = {"INVALID_QUERY", "SYNTAX_ERROR", "LIMIT_EXCEEDED", "INVALID_DATA", "DUPLICATE_DATA",
                 "INVALID_MODULE", "INVALID_URL_PATTERN", "NOT_SUPPORTED", "REQUIRED_PARAM_MISSING"}
_PERMISSION_ERRORS = {"OAUTH_SCOPE_MISMATCH", "NO_PERMISSION", "FEATURE_NOT_SUPPORTED", "FEATURE_NOT_ENABLED"}
_CREDENTIAL_ERRORS = {"INVALID_TOKEN", "AUTHENTICATION_FAILURE", "INVALID_OAUTHTOKEN", "INVALID_OAUTHSCOPE"}


def default_api_domain(accounts_url: str) -> str:
    """The CRM API server of the accounts server's data centre (accounts.zoho.com.cn -> www.zohoapis.com.cn),
    used only when neither the setting nor the token answer names one."""
    host = accounts_url.rstrip("/").split("://", 1)[-1]
    return "https://www.zohoapis." + host.split("accounts.zoho.", 1)[1] if "accounts.zoho." in host \
        else "https://www.zohoapis.com"


def credits_for(limit: int) -> int:
    """The API credits one COQL call costs, by its LIMIT (Zoho's published table)."""
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3


@dataclass
class Credits:
    """What a pull has spent, and what it may spend."""

    budget: int
    spent: int = 0
    calls: int = 0

    def spend(self, cost: int) -> None:
        if self.spent + cost > self.budget:
            raise Conflict(tr(
                "the Zoho CRM pull needs more API credits than its budget of %(budget)s (%(spent)s spent on "
                "%(calls)s calls, the next call costs %(cost)s); nothing was written. Raise "
                "KAMREVIEW_ZOHO_CREDIT_BUDGET, or pull when the day's credits allow", budget=str(self.budget),
                spent=str(self.spent), calls=str(self.calls), cost=str(cost)))
        self.spent += cost
        self.calls += 1


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic()


class ZohoClient:
    """One pull's connection to Zoho CRM: its access token, its credit count, its retries."""

    def __init__(self, settings: ZohoSettings, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] | None = None, max_offset_rows: int = MAX_OFFSET_ROWS,
                 credits: Credits | None = None) -> None:
        missing = [name for name, value in (("KAMREVIEW_ZOHO_CLIENT_ID", settings.client_id),
                                            ("KAMREVIEW_ZOHO_CLIENT_SECRET", settings.client_secret),
                                            ("KAMREVIEW_ZOHO_REFRESH_TOKEN", settings.refresh_token)) if not value]
        if missing:
            raise Rejected(tr("Zoho CRM is not configured: set %(names)s (in the environment or the .env file; "
                              "see docs/crm-imports.md)", names=", ".join(missing)))
        self.settings = settings
        self.credits = credits or Credits(settings.credit_budget)
        self.backoff = Backoff(settings.max_attempts, settings.retry_first_s, 60.0)
        self.max_offset_rows = max_offset_rows
        self._http = http or httpx.AsyncClient(timeout=settings.timeout_s)
        self._own_http = http is None
        self._clock = clock
        self._sleep = sleep
        self._token: _Token | None = None
        self._api_domain = settings.api_domain.rstrip("/") if settings.api_domain else None
        self.refreshes = 0

    async def __aenter__(self) -> ZohoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._own_http:
            await self._http.aclose()

    # --- OAuth ------------------------------------------------------------------------------------------
    async def access_token(self, force: bool = False) -> str:
        if not force and self._token is not None and self._clock() < self._token.expires_at - TOKEN_MARGIN_S:
            return self._token.value
        settings = self.settings
        url = settings.accounts_url.rstrip("/") + "/oauth/v2/token"
        params = {"grant_type": "refresh_token", "client_id": settings.client_id or "",
                  "client_secret": settings.client_secret or "", "refresh_token": settings.refresh_token or ""}
        response = await self._send(lambda: self._http.build_request("POST", url, params=params),
                                    f"{SERVICE} ({settings.accounts_url})")
        body = _json(response)
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code >= 500 or response.status_code == 429:
            raise TryLater(tr("%(service)s did not answer the token request (HTTP %(status)s); try again later",
                              service=settings.accounts_url, status=str(response.status_code)))
        if error or not isinstance(body, dict) or not body.get("access_token"):
            raise _token_error(str(error or f"HTTP {response.status_code}"), body, settings.accounts_url)
        expires = body.get("expires_in")
        lifetime = float(expires) if isinstance(expires, int | float) and expires > 0 else 3600.0
        self._token = _Token(str(body["access_token"]), self._clock() + lifetime)
        if self._api_domain is None and isinstance(body.get("api_domain"), str):
            self._api_domain = body["api_domain"].rstrip("/")
        self.refreshes += 1
        return self._token.value

    # --- calls ------------------------------------------------------------------------------------------
    async def _send(self, build: Callable[[], Awaitable[httpx.Request] | httpx.Request],
                    service: str) -> httpx.Response:
        if self._sleep is None:
            return await send(self._http, build, service, self.backoff)
        return await send(self._http, build, service, self.backoff, self._sleep)

    async def call(self, method: str, path: str, cost: int, **kwargs: Any) -> dict[str, Any]:
        """One CRM API call (its credits counted first); a 401 INVALID_TOKEN refreshes the token once."""
        self.credits.spend(cost)
        await self.access_token()

        async def build() -> httpx.Request:  # per try: a token that ran out while retrying is refreshed
            token = await self.access_token()
            url = f"{self._api_domain or default_api_domain(self.settings.accounts_url)}/crm/{API_VERSION}{path}"
            return self._http.build_request(method, url, headers={"Authorization": f"Zoho-oauthtoken {token}"},
                                            **kwargs)

        for attempt in (1, 2):
            response = await self._send(build, SERVICE)
            if response.status_code == 204:
                return {}
            body = _json(response)
            code = str(body.get("code", "")) if isinstance(body, dict) else ""
            if response.status_code == 401 and code == "INVALID_TOKEN" and attempt == 1:
                await self.access_token(force=True)
                continue
            if response.status_code >= 400 or (isinstance(body, dict) and body.get("status") == "error"):
                raise _api_error(response.status_code, body if isinstance(body, dict) else {}, kwargs.get("json"),
                                 self.backoff.attempts)
            if not isinstance(body, dict):
                raise TryLater(tr("%(service)s answered with something other than JSON (HTTP %(status)s)",
                                  service=SERVICE, status=str(response.status_code)))
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    async def field_names(self, module: str) -> set[str]:
        """The API names of a module's fields (optional ones such as Currency exist only in some setups)."""
        body = await self.call("GET", "/settings/fields", 1, params={"module": module})
        return {str(f["api_name"]) for f in body.get("fields", []) if isinstance(f, dict) and f.get("api_name")}

    async def coql(self, query: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        body = await self.call("POST", "/coql", credits_for(limit), json={"select_query": query})
        data = body.get("data") or []
        info = body.get("info") or {}
        return [r for r in data if isinstance(r, dict)], bool(info.get("more_records"))

    async def select_all(self, module: str, columns: list[str]) -> list[dict[str, Any]]:
        """Every record of ``module``, in id order: pages of ``page_size`` by offset while COQL's offset reaches,
        then by key (``id >`` the last one seen), until ``info.more_records`` is false."""
        page = min(self.settings.page_size, MAX_PAGE)
        records: list[dict[str, Any]] = []
        offset, after = 0, None
        while True:
            where = "id is not null" if after is None else f"id > {after}"
            query = f"select {', '.join(columns)} from {module} where {where} order by id asc limit {offset}, {page}"
            rows, more = await self.coql(query, page)
            records.extend(rows)
            if not more or not rows:
                return records
            if offset + 2 * page > self.max_offset_rows:
                last = str(rows[-1].get("id", ""))
                if not (last.isascii() and last.isdigit()):
                    raise TryLater(tr("Zoho CRM returned a record without a numeric id in %(module)s; cannot page on",
                                      module=module))
                offset, after = 0, last
            else:
                offset += page


def fields_for(mapping: CrmMapping | None, module: str) -> tuple[dict[str, list[str]], list[str]]:
    """Where each of our fields is in a module's records, and what its query selects: the defaults, with the
    API names a mapping file gives under ``api_fields`` (a custom field, ``Owner.email`` ...) in their place."""
    given = mapping.api_fields.get(module, {}) if mapping is not None else {}
    paths = {our: [given[our]] if our in given else list(candidates) for our, candidates in FIELDS[module].items()}
    select = [c for c in SELECT[module]
              if not any(c in FIELDS[module][our] for our in given) or any(c == given[o] for o in given)]
    for api_name in given.values():
        for column in (api_name.split(".")[0], api_name):
            if column not in select:
                select.append(column)
    return paths, select


async def pull(settings: ZohoSettings, http: httpx.AsyncClient | None = None, mapping: CrmMapping | None = None,
               **client_options: Any) -> dict[str, list[dict[str, Any]]]:
    """The raw records of the four modules, by our module name."""
    async with ZohoClient(settings, http, **client_options) as client:
        out: dict[str, list[dict[str, Any]]] = {}
        for module, name in MODULES.items():
            if module not in settings.modules:
                out[module] = []
                continue
            present = await client.field_names(name)
            _, wanted = fields_for(mapping, module)
            columns = [c for c in wanted if c == "id" or not present or c.split(".")[0] in present]
            out[module] = await client.select_all(name, columns)
        return out


async def pull_records(mapping: CrmMapping, settings: ZohoSettings, http: httpx.AsyncClient | None = None,
                       **client_options: Any) -> PullResult:
    """Pull the four modules and read them into a RecordSet (problems go to the result's issues)."""
    credits = Credits(settings.credit_budget)
    raw = await pull(settings, http, mapping, credits=credits, **client_options)
    names = [source_name(module) for module in MODULES]
    issues = Issues(names)
    records = ZohoApiReader(mapping, issues).read_api(raw)
    note = tr("pulled from Zoho CRM: %(accounts)s accounts, %(contacts)s contacts, %(deals)s deals, %(cases)s cases "
              "(%(credits)s API credits in %(calls)s calls)", **{m: str(len(raw[m])) for m in MODULES},
              credits=str(credits.spent), calls=str(credits.calls))
    log.info("%s", note)
    return PullResult(names, records, issues, [note])


def source_name(module: str) -> str:
    """How issues name a module's records: ``Zoho CRM API Accounts:<n>:<field>`` (n: its place in the pull)."""
    return f"Zoho CRM API {MODULES[module]}"


class ZohoApiReader(ZohoReader):
    """Zoho's API records through the export reader's record builders (same ids, owners, stages, currencies)."""

    def read_api(self, raw: dict[str, list[dict[str, Any]]]) -> RecordSet:
        records = RecordSet(org_file=None, source="zoho")
        for module in MODULES:
            name = source_name(module)
            rows = raw.get(module, [])
            paths = self._paths(module, rows)
            missing = [f for f in REQUIRED[module] if f not in paths and not self._optional_here(module, f, paths)]
            for missing_field in missing:
                label = fields_for(self.mapping, module)[0][missing_field][0]
                self.issues.add(name, 0, label, tr("missing required field '%(column)s'", column=label))
            if missing:
                continue
            if module == "accounts":
                records.account_file = name
            build = getattr(self, f"_{module}")
            for line, record in enumerate(rows, start=1):
                build(self._cells(name, line, record, paths), records)
        return records

    def _paths(self, module: str, rows: list[dict[str, Any]]) -> dict[str, str]:
        """Our field -> the API path that holds it in these records (the first path any record has)."""
        found: dict[str, str] = {}
        for our, candidates in fields_for(self.mapping, module)[0].items():
            for path in candidates:
                if any(_lookup(r, path) is not _ABSENT for r in rows):
                    found[our] = path
                    break
            else:
                if rows == [] and our in REQUIRED[module]:
                    found[our] = candidates[0]  # no records: nothing can be missing
        return found

    def _cells(self, name: str, line: int, record: dict[str, Any], paths: dict[str, str]) -> Cells:
        typed = {our: _lookup(record, path) for our, path in paths.items()}
        typed = {k: (None if v is _ABSENT else v) for k, v in typed.items()}
        written = {k: _as_text(v) for k, v in typed.items()}
        labels = {our: path for our, path in paths.items()}
        return Cells(self.issues, name, line, {k: v.strip() for k, v in written.items()}, written,
                     labels=labels, typed={k: v for k, v in typed.items() if isinstance(v, Decimal | int)})

    def _optional_here(self, module: str, field: str, fields: dict[str, Any]) -> bool:  # type: ignore[override]
        return module == "contacts" and field == "name" and "last_name" in fields

    def contact_name(self, row: Cells) -> str | None:
        """First + Last Name as the export reader joins them (孙磊, Anna Schmidt), so a pull and an export give
        the same names; Full_Name only where there is no Last_Name (its order follows the org's settings)."""
        return self.joined_name(row) if row.has("last_name") else row.text("name", required=True)


_ABSENT: Any = object()


def _lookup(record: dict[str, Any], path: str) -> Any:
    if path in record:
        return record[path]
    head, dot, rest = path.partition(".")
    if dot and isinstance(record.get(head), dict):
        return record[head].get(rest, _ABSENT)
    return _ABSENT


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return str(value.get("name") or value.get("id") or "")
    if isinstance(value, list):
        return "; ".join(_as_text(v) for v in value)
    return str(value)


def _json(response: httpx.Response) -> Any:
    """The body as JSON with numbers as Decimal (money must not pass through binary floats)."""
    if not response.content:
        return {}
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None


def _token_error(error: str, body: Any, accounts_url: str) -> UserError:
    if error == "invalid_client":
        return Rejected(tr("Zoho accounts (%(url)s) does not know this client: check KAMREVIEW_ZOHO_CLIENT_ID and "
                           "KAMREVIEW_ZOHO_CLIENT_SECRET, and that KAMREVIEW_ZOHO_ACCOUNTS_URL is your data "
                           "centre's (https://accounts.zoho.com.cn in China)", url=accounts_url))
    if error in ("invalid_code", "invalid_token"):
        return Rejected(tr("Zoho accounts (%(url)s) refused the refresh token (%(error)s: expired, revoked or made "
                           "for another client or data centre): make a new one and set KAMREVIEW_ZOHO_REFRESH_TOKEN",
                           url=accounts_url, error=error))
    described = body.get("error_description") if isinstance(body, dict) else None
    if isinstance(described, str) and "too many requests" in described.lower():
        return TryLater(tr("Zoho accounts (%(url)s) is limiting token requests: %(reason)s; try again in a few "
                           "minutes", url=accounts_url, reason=described))
    return Rejected(tr("Zoho accounts (%(url)s) refused the token request: %(error)s", url=accounts_url,
                       error=str(described or error)))


def _api_error(status: int, body: dict[str, Any], request: Any, tries: int) -> UserError:
    code = str(body.get("code") or f"HTTP {status}")
    message = str(body.get("message") or "")
    details = body.get("details")
    said = message + (f" {json.dumps(details, ensure_ascii=False, default=str)}" if details else "")
    if status == 429 or code == "TOO_MANY_REQUESTS":
        return TryLater(tr("Zoho CRM is limiting requests (%(code)s: %(message)s) and kept doing so after "
                           "%(tries)s tries; try again later", code=code, message=said, tries=str(tries)))
    if status >= 500:
        return TryLater(tr("Zoho CRM is unavailable (HTTP %(status)s, %(code)s: %(message)s); try again later",
                           status=str(status), code=code, message=said))
    if code in _PERMISSION_ERRORS:
        return Forbidden(tr("Zoho CRM does not allow this pull (%(code)s: %(message)s): the refresh token needs the "
                            "scopes %(scopes)s, and its user read access to Accounts, Contacts, Deals and Cases",
                            code=code, message=said, scopes=", ".join(SCOPES)))
    if code in _CREDENTIAL_ERRORS or status == 401:
        return Rejected(tr("Zoho CRM refused the access token (%(code)s: %(message)s), also after a refresh: check "
                           "KAMREVIEW_ZOHO_API_DOMAIN and that the refresh token is for this organisation",
                           code=code, message=said))
    query: Text | str = request.get("select_query", "") if isinstance(request, dict) else ""
    if code in _QUERY_ERRORS or status == 400:
        return Rejected(tr("Zoho CRM refused the query (%(code)s: %(message)s): %(query)s", code=code, message=said,
                           query=query))
    return Rejected(tr("Zoho CRM refused the request (HTTP %(status)s, %(code)s: %(message)s)", status=str(status),
                       code=code, message=said))

