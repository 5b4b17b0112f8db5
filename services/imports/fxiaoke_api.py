"""Fxiaoke (纷享销客) open API as a source: the records ``kamreview crm pull fxiaoke`` reads, the same RecordSet the
Excel reader (services.imports.fxiaoke) produces, so validation, the preview and the writer are shared.

Follows the Open API v2 in its body convention (旧版传参, documented and served): ``POST
/cgi/corpAccessToken/get/V2`` with appId, appSecret, permanentCode gives ``corpAccessToken``, ``corpId`` and
``expiresIn``; every later call carries them with ``currentOpenUserId`` at the top of its JSON body, and a fresh
``thirdTraceId`` (UUID v4) in its URL. Every answer is HTTP 200 with ``errorCode`` (0 = success) and
``errorMessage`` in the body; only ``errorCode`` is read (the docs warn that messages change).

- Token: cached for at most 6600 s (the docs: the same token is returned for 6600 s, it dies at 7200 s),
  refreshed before that and once more whenever a call answers 20016 / 20005 (token missing or expired).
- Objects: ``POST /cgi/crm/v2/data/query`` (``/cgi/crm/custom/v2/data/query`` for ``__c`` objects) with
  ``data.search_query_info`` {limit ≤ 100, offset a multiple of limit and ≤ 10000, filters, orders}, ordered by
  ``_id``; past offset 10000 the documented keyset paging (``_id`` GT the last one, offset 0) takes over.
- Select fields hold option values; ``/cgi/crm/v2/object/describe`` gives their labels (``赢单``, ``作废``), so the
  mapping's lists mean the same for an API pull and an Excel export. Dates are epoch milliseconds (read as
  dates in Asia/Shanghai); amounts are strings such as ``"100.01"``.
- Owners: an employee field is a list of openUserIds (``["FSUID_..."]``); the mapping's ``owner.owners`` table
  may key them, else ``/cgi/user/get`` says who it is (the e-mail, else the name, is what is matched).
- Frequency limits (100 calls / 20 s per interface): calls of one interface are spaced ``min_interval_s`` apart;
  a limit answer (14001, 30004) and a busy or failing server (-1, -2, 50009, HTTP 5xx, a broken connection)
  are retried with exponential backoff; every other errorCode is a clear error of the kind its code says.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from domain.text import Text, tr
from services.errors import Forbidden, Rejected, TryLater, UserError
from services.imports.cells import Cells
from services.imports.fxiaoke import FxiaokeReader
from services.imports.http_source import PullResult as SharedPullResult
from services.imports.issues import Issues
from services.imports.mapping import CrmMapping
from services.imports.records import DEFAULT_TIMEZONE, RecordSet

TOKEN_PATH = "/cgi/corpAccessToken/get/V2"
QUERY_PATH = "/cgi/crm/v2/data/query"
CUSTOM_QUERY_PATH = "/cgi/crm/custom/v2/data/query"
DESCRIBE_PATH = "/cgi/crm/v2/object/describe"
USER_PATH = "/cgi/user/get"

PAGE_LIMIT = 100
"""The documented maximum of ``search_query_info.limit``."""
MAX_OFFSET = 10_000
"""The documented maximum offset; past it the pull pages by ``_id``."""
TOKEN_CACHE_S = 6600
"""The docs: the same token for 6600 s after it is issued; valid until 7200 s."""

TOKEN_INVALID = frozenset({20005, 20016})
RETRY = frozenset({-2, -1, 14001, 30004, 50009})
"""System error / busy, interface call limit, per-second frequency limit, service timeout: worth another try."""
CREDENTIALS = frozenset({10001, 10002, 10006, 10012, 11001, 11002, 11013, 20006, 20015})
"""Missing or wrong appId / appSecret / permanentCode (10006 is what the gateway answers for a wrong secret)."""
NOT_PERMITTED = frozenset({15003, 20014, 20020, 20021, 20022, 20023, 30003})
"""The app may not read this (disabled, not authorised, no open API quota bought)."""
OPEN_USER = frozenset({10010, 11008, 20012, 30027})
"""currentOpenUserId missing, invalid or not an employee."""
DAILY_QUOTA = 30002
"""The day's call quota is used up; it resets at midnight (China time)."""

_SHANGHAI = ZoneInfo(DEFAULT_TIMEZONE)
_SETTINGS_HINT = "KAMREVIEW_FXIAOKE_APP_ID, KAMREVIEW_FXIAOKE_APP_SECRET, KAMREVIEW_FXIAOKE_PERMANENT_CODE"


class FxiaokeUnavailable(TryLater):
    """Fxiaoke cannot be reached, is busy, or keeps refusing for frequency: retrying later may succeed."""


class FxiaokeAuthFailed(Forbidden):
    """Fxiaoke refused the app's credentials or their permissions: a setting must change, not the command."""


class FxiaokeFailed(Rejected):
    """Fxiaoke refused the request itself (an object or field api name of the mapping, a parameter)."""


@dataclass(frozen=True)
class Credentials:
    """What a pull needs from the settings (services.settings.FxiaokeSettings)."""

    app_id: str
    app_secret: str
    permanent_code: str
    open_user_id: str
    base_url: str = "https://open.fxiaoke.com"
    timeout_s: float = 30
    attempts: int = 6
    backoff_s: float = 1.0
    min_interval_s: float = 0.2

    @classmethod
    def from_settings(cls, settings: Any) -> Credentials:
        """The ``fxiaoke`` settings group, or Rejected naming every setting still missing."""
        secret = settings.app_secret.get_secret_value() if settings.app_secret is not None else ""
        code = settings.permanent_code.get_secret_value() if settings.permanent_code is not None else ""
        values = {"KAMREVIEW_FXIAOKE_APP_ID": settings.app_id or "", "KAMREVIEW_FXIAOKE_APP_SECRET": secret,
                  "KAMREVIEW_FXIAOKE_PERMANENT_CODE": code, "KAMREVIEW_FXIAOKE_OPEN_USER_ID": settings.open_user_id or ""}
        missing = [name for name, value in values.items() if not value.strip()]
        if missing:
            raise Rejected(tr("the Fxiaoke open API is not configured: set %(names)s (in the environment or .env, "
                              "never on the command line; docs/crm-imports.md)", names=", ".join(missing)))
        return cls(values["KAMREVIEW_FXIAOKE_APP_ID"].strip(), secret.strip(), code.strip(),
                   values["KAMREVIEW_FXIAOKE_OPEN_USER_ID"].strip(), settings.base_url.rstrip("/"),
                   settings.timeout_s, settings.attempts, settings.backoff_s, settings.min_interval_s)


@dataclass
class _Token:
    value: str
    corp_id: str
    refresh_at: float


class FxiaokeClient:
    """One company's open API, used as ``async with FxiaokeClient(credentials) as api``.

    ``attempts`` is how often a retryable answer is tried in all; the waits double from ``backoff_s`` (capped at
    the 20 s frequency window). ``transport`` and ``sleep`` exist for tests (a local server, no real waiting).
    """

    def __init__(self, credentials: Credentials, *, attempts: int | None = None, backoff_s: float | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.credentials = credentials
        self.attempts = credentials.attempts if attempts is None else attempts
        self.backoff_s = credentials.backoff_s if backoff_s is None else backoff_s
        self.page_limit = PAGE_LIMIT
        self.max_offset = MAX_OFFSET
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._http: httpx.AsyncClient | None = None
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._last_call: dict[str, float] = {}
        self.calls = 0
        """HTTP requests sent (for the caller's progress line and the tests)."""

    async def __aenter__(self) -> FxiaokeClient:
        self._http = httpx.AsyncClient(base_url=self.credentials.base_url, timeout=self.credentials.timeout_s,
                                       transport=self._transport, headers={"Content-Type": "application/json"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- transport ----------------------------------------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One POST, retried with backoff while the answer says busy / rate-limited / unreachable."""
        assert self._http is not None, "use `async with FxiaokeClient(...)`"
        last: Text | str | None = None
        for attempt in range(self.attempts):
            if attempt:
                await self._sleep(min(20.0, self.backoff_s * 2 ** (attempt - 1)))
            await self._pace(path)
            self.calls += 1
            try:
                response = await self._http.post(path, params={"thirdTraceId": str(uuid.uuid4())}, json=body)
            except httpx.HTTPError as err:
                last = tr("cannot reach Fxiaoke at %(url)s: %(reason)s", url=self.credentials.base_url,
                          reason=str(err) or type(err).__name__)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                last = tr("Fxiaoke answered HTTP %(status)s", status=str(response.status_code))
                continue
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if response.status_code != 200 or not isinstance(answer, dict) or "errorCode" not in answer:
                raise FxiaokeUnavailable(tr(
                    "%(url)s did not answer as the Fxiaoke open API does (HTTP %(status)s, no errorCode); check "
                    "KAMREVIEW_FXIAOKE_BASE_URL (e.g. https://open.fxiaoke.com, not www.fxiaoke.com)",
                    url=self.credentials.base_url + path, status=str(response.status_code)))
            code = _code(answer)
            if code in RETRY:
                last = _describe(answer)
                continue
            return answer
        raise FxiaokeUnavailable(tr("Fxiaoke is unavailable after %(attempts)s attempts (last: %(last)s); try again "
                                    "later", attempts=str(self.attempts), last=last or "-"))

    async def _pace(self, path: str) -> None:
        """Keep ``min_interval_s`` between two calls of one interface (the limit is per interface)."""
        gap = self.credentials.min_interval_s
        if gap > 0:
            since = time.monotonic() - self._last_call.get(path, float("-inf"))
            if since < gap:
                await self._sleep(gap - since)
            self._last_call[path] = time.monotonic()

    # --- the token ------------------------------------------------------------------------------------------
    async def token(self, refused: _Token | None = None) -> _Token:
        """The cached corpAccessToken, fetched anew when missing, near its end, or when it is the ``refused`` one
        (a call answered 20016 with it; a token another call already renewed is not fetched again)."""
        async with self._token_lock:
            cached = self._token
            if cached is not None and cached is not refused and self._clock() < cached.refresh_at:
                return cached
            c = self.credentials
            answer = await self._post(TOKEN_PATH, {"appId": c.app_id, "appSecret": c.app_secret,
                                                   "permanentCode": c.permanent_code})
            code = _code(answer)
            if code != 0:
                if code in CREDENTIALS or code in NOT_PERMITTED:
                    raise FxiaokeAuthFailed(tr(
                        "Fxiaoke refused the app's credentials (%(error)s); check %(names)s", error=_describe(answer),
                        names=_SETTINGS_HINT))
                raise _failure(answer)
            value, corp_id = answer.get("corpAccessToken"), answer.get("corpId")
            if not isinstance(value, str) or not value or not isinstance(corp_id, str) or not corp_id:
                raise FxiaokeUnavailable(tr("Fxiaoke answered errorCode 0 without a corpAccessToken and corpId"))
            try:
                expires = float(answer.get("expiresIn") or 7200)
            except (TypeError, ValueError):
                expires = 7200.0
            lifetime = min(float(TOKEN_CACHE_S), max(expires - 600, expires / 2))
            self._token = _Token(value, corp_id, self._clock() + lifetime)
            return self._token

    async def call(self, path: str, data: dict[str, Any], **top: Any) -> dict[str, Any]:
        """A business call in the body convention; a token the server calls invalid is renewed once."""
        refused: _Token | None = None
        for renewed in (False, True):
            token = await self.token(refused)
            body = {"corpAccessToken": token.value, "corpId": token.corp_id,
                    "currentOpenUserId": self.credentials.open_user_id, **top, "data": data}
            answer = await self._post(path, body)
            code = _code(answer)
            if code == 0:
                return answer
            if code in TOKEN_INVALID and not renewed:
                refused = token
                continue
            raise _failure(answer)
        raise AssertionError("unreachable")

    # --- what a pull uses -----------------------------------------------------------------------------------
    async def query(self, api_name: str, filters: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """Every record of the object, ordered by ``_id``, page by page (offset, then keyset past the cap)."""
        path = CUSTOM_QUERY_PATH if api_name.endswith("__c") else QUERY_PATH
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        offset, after = 0, None
        while True:
            wheres = list(filters)
            if after is not None:
                wheres.append({"field_name": "_id", "operator": "GT", "field_values": [after]})
            answer = await self.call(path, {
                "dataObjectApiName": api_name, "find_explicit_total_num": True,
                "search_query_info": {"limit": self.page_limit, "offset": offset, "filters": wheres,
                                      "orders": [{"fieldName": "_id", "isAsc": True}]}})
            data = answer.get("data")
            rows = data.get("dataList") if isinstance(data, dict) else None
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise FxiaokeUnavailable(tr("Fxiaoke answered the %(object)s query without data.dataList",
                                            object=api_name))
            for row in rows:  # offset pages shift when records are added meanwhile: a record seen twice is one
                key = row.get("_id")
                if not isinstance(key, str) or key not in seen:
                    out.append(row)
                    if isinstance(key, str):
                        seen.add(key)
            total = data.get("total") if isinstance(data, dict) else None
            if len(rows) < self.page_limit or (isinstance(total, int) and total and after is None
                                               and offset + len(rows) >= total):
                return out
            if offset + self.page_limit <= self.max_offset and after is None:
                offset += self.page_limit
            else:  # past the documented offset cap: page by _id
                last = rows[-1].get("_id")
                if not isinstance(last, str) or not last:
                    raise FxiaokeUnavailable(tr("Fxiaoke answered %(object)s records without _id", object=api_name))
                if after is not None and last <= after:
                    raise FxiaokeUnavailable(tr("Fxiaoke ignored the _id filter of the %(object)s query (the same page "
                                                "came back); the pull stopped", object=api_name))
                offset, after = 0, last

    async def describe(self, api_name: str) -> dict[str, dict[str, Any]]:
        """The object's fields by api name (``type``, ``label``, ``options`` [{label, value}])."""
        answer = await self.call(DESCRIBE_PATH, {"apiName": api_name}, includeDetail=False)
        data = answer.get("data")
        describe = data.get("describe") if isinstance(data, dict) else None
        fields = describe.get("fields") if isinstance(describe, dict) else None
        if not isinstance(fields, dict):
            raise FxiaokeUnavailable(tr("Fxiaoke answered the describe of %(object)s without data.describe.fields",
                                        object=api_name))
        return {k: v for k, v in fields.items() if isinstance(v, dict)}

    async def user(self, open_user_id: str) -> dict[str, Any] | None:
        """The employee behind an openUserId (name, email, mobile ...), None when Fxiaoke has no such user."""
        token = await self.token()
        for renewed in (False, True):
            if renewed:
                token = await self.token(refused=token)
            answer = await self._post(USER_PATH, {"corpAccessToken": token.value, "corpId": token.corp_id,
                                                  "openUserId": open_user_id})
            code = _code(answer)
            if code == 0:
                return answer
            if code in TOKEN_INVALID and not renewed:
                continue
            if code in OPEN_USER:
                return None
            raise _failure(answer)
        raise AssertionError("unreachable")


def _code(answer: dict[str, Any]) -> int | None:
    try:
        return int(answer.get("errorCode"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _describe(answer: dict[str, Any]) -> str:
    """``errorCode 20016: <errorMessage> (traceId ...)``: what support at Fxiaoke asks for."""
    text = f"errorCode {answer.get('errorCode')}"
    if answer.get("errorMessage"):
        text += f": {answer['errorMessage']}"
    if answer.get("traceId"):
        text += f" (traceId {answer['traceId']})"
    return text


def _failure(answer: dict[str, Any]) -> UserError:
    """The error for a non-zero errorCode that is not retried, of the kind its code says."""
    code, what = _code(answer), _describe(answer)
    if code in TOKEN_INVALID or code in CREDENTIALS or code in NOT_PERMITTED:
        return FxiaokeAuthFailed(tr("Fxiaoke refused the app's credentials or permissions (%(error)s); check "
                                    "%(names)s and the app's data permissions", error=what, names=_SETTINGS_HINT))
    if code in OPEN_USER:
        return FxiaokeAuthFailed(tr("Fxiaoke does not know the acting user (%(error)s); set "
                                    "KAMREVIEW_FXIAOKE_OPEN_USER_ID to a CRM administrator's openUserId (FSUID_...)",
                                    error=what))
    if code == DAILY_QUOTA:
        return FxiaokeUnavailable(tr("Fxiaoke's daily call quota is used up (%(error)s); it resets at midnight, "
                                     "China time", error=what))
    return FxiaokeFailed(tr("Fxiaoke refused the request (%(error)s); check the object and field api names under "
                            "api in the mapping file", error=what))


# ------------------------------------------------------------------------------------------ records


@dataclass
class PullResult:
    """The records of one pull, its problems (raised by the shared validation), and the objects it read."""

    records: RecordSet
    issues: Issues
    objects: list[str] = field(default_factory=list)
    calls: int = 0


MODULES = ("accounts", "contacts", "deals", "orders", "cases")


class FxiaokeApiReader(FxiaokeReader):
    """The Excel reader's record building (ids, amounts, dates, won stages, cancelled orders, complaint types),
    fed from the API's records instead of a sheet's rows. An issue names ``fxiaoke:<Object>``, the record's
    position in the pull (ordered by ``_id``) and the field's api name."""

    def __init__(self, mapping: CrmMapping, issues: Issues, client: FxiaokeClient) -> None:
        super().__init__(mapping, issues)
        self.client = client
        self._people: dict[str, dict[str, Any] | None] = {}

    async def pull(self) -> RecordSet:
        records = RecordSet(org_file=None, source="fxiaoke")
        account_ids: dict[str, tuple[str | None, str | None]] = {}  # _id -> (account id, name)
        for module in MODULES:
            api_name = self.mapping.api_objects.get(module)
            if not api_name:
                continue
            name = f"fxiaoke:{api_name}"
            self.issues.add_file(name)
            fields = {f: a for f, a in self.mapping.api_fields[module].items() if a}
            describe = await self.client.describe(api_name)
            rows = await self.client.query(api_name)
            if module == "accounts":
                records.account_file = name
                await self._lookup_owners(rows, fields.get("owner"))
            build = getattr(self, f"_{module}")
            for line, record in enumerate(rows, start=1):
                row = self._cells(name, line, module, record, fields, describe, account_ids)
                build(row, records)
                if module == "accounts" and isinstance(record.get("_id"), str):
                    account_ids[record["_id"]] = (row.cells.get("id") or None, row.cells.get("name") or None)
        return records

    async def _lookup_owners(self, rows: list[dict[str, Any]], owner_field: str | None) -> None:
        """Who each account owner is (one /cgi/user/get per person the owners table does not already name)."""
        if owner_field is None:
            return
        table = self.mapping.settings.owner.owners
        for record in rows:
            person = _first(record.get(owner_field))
            if person and person not in table and person not in self._people:
                self._people[person] = await self.client.user(person)

    def _owner_text(self, person: str) -> str:
        """An owner as validation matches it: the e-mail when Fxiaoke has one, else the name, else the id."""
        found = self._people.get(person)
        if found:
            for key in ("email", "name", "fullName"):
                value = found.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
        return person

    def _cells(self, file: str, line: int, module: str, record: dict[str, Any], fields: dict[str, str],
               describe: dict[str, dict[str, Any]], account_ids: dict[str, tuple[str | None, str | None]]) -> Cells:
        cells: dict[str, str] = {}
        typed: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for ours, theirs in fields.items():
            labels[ours] = theirs
            value = record.get(theirs)
            if ours == "owner":
                person = _first(value)
                if person:
                    cells["owner"] = self._owner_text(person)
                    cells["owner_id"] = person
                continue
            if ours == "account_id":
                linked = _first(value)
                found = account_ids.get(linked or "")
                account_name = _reference_name(record.get(f"{theirs}__r"))
                if found and found[0]:
                    cells["account_id"] = found[0]
                    account_name = account_name or found[1]
                if account_name:
                    cells["account"] = account_name
                    labels["account"] = f"{theirs}__r"
                continue
            kind = describe.get(theirs, {}).get("type")
            text, parsed = _value(value, kind, describe.get(theirs, {}), currency=ours == "currency")
            if text:
                cells[ours] = text
            if parsed is not None:
                typed[ours] = parsed
        return Cells(self.issues, file, line, dict(cells), dict(cells), labels=labels, typed=typed)


def _first(value: Any) -> str | None:
    """An employee or lookup field's first id (employee fields are lists even when single)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def _reference_name(value: Any) -> str | None:
    """A lookup's ``<field>__r``: the related record's name (a string, or an object with ``name``)."""
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, list):
        value = value[0] if value else None
    return value.strip() or None if isinstance(value, str) else None


def _label(value: str, spec: dict[str, Any]) -> str:
    for option in spec.get("options") or []:
        if isinstance(option, dict) and str(option.get("value")) == value and option.get("label"):
            return str(option["label"])
    return value


def _value(value: Any, kind: str | None, spec: dict[str, Any], currency: bool = False) -> tuple[str, Any]:
    """(text as an export would show it, the typed value where it has one) for one API field value."""
    if value is None or value == "" or value == []:
        return "", None
    if kind in ("date", "date_time") or (kind is None and isinstance(value, int) and value > 10**11):
        try:
            day = datetime.fromtimestamp(int(value) / 1000, tz=_SHANGHAI).date()
        except (TypeError, ValueError, OverflowError, OSError):
            return str(value), None
        return day.isoformat(), day
    if kind in ("select_one", "select_many"):
        values = value if isinstance(value, list) else [value]
        raw = [str(v) for v in values if v not in (None, "")]
        if currency and len(raw) == 1 and len(raw[0]) == 3 and raw[0].isascii() and raw[0].isupper():
            return raw[0], None  # a multi-currency field whose value already is the ISO code
        return ", ".join(_label(v, spec) for v in raw), None
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), None
    if isinstance(value, int | float):
        return str(value), (Decimal(repr(value)) if isinstance(value, float) else value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value), None
    if isinstance(value, dict):
        return str(value.get("name") or ""), None
    return str(value), None


async def pull_fxiaoke(credentials: Credentials, mapping: CrmMapping, **client_options: Any) -> PullResult:
    """Read every mapped object through the open API into one RecordSet (problems in ``result.issues``)."""
    issues = Issues([])
    async with FxiaokeClient(credentials, **client_options) as client:
        reader = FxiaokeApiReader(mapping, issues, client)
        records = await reader.pull()
        objects = [o for m in MODULES if (o := mapping.api_objects.get(m))]
        return PullResult(records, issues, objects, client.calls)


async def pull_records(mapping: CrmMapping, settings: Any, **client_options: Any) -> SharedPullResult:
    """The pull as services.imports.crm runs every API source: the Fxiaoke settings group in, the shared result out."""
    pulled = await pull_fxiaoke(Credentials.from_settings(settings), mapping, **client_options)
    note = tr("pulled from Fxiaoke: %(objects)s (%(calls)s API calls)", objects=", ".join(pulled.objects),
              calls=str(pulled.calls))
    return SharedPullResult([f"fxiaoke:{o}" for o in pulled.objects], pulled.records, pulled.issues, [note])


__all__ = ["Credentials", "pull_records", "FxiaokeApiReader", "FxiaokeAuthFailed", "FxiaokeClient", "FxiaokeFailed",
           "FxiaokeUnavailable", "PullResult", "pull_fxiaoke"]
