"""A local Zoho CRM (accounts server and CRM API v8) that speaks the published requests and answers: the OAuth
refresh-token grant, ``Authorization: Zoho-oauthtoken`` with expiring tokens (401 ``INVALID_TOKEN``), COQL
``select ... from <Module> where ... order by id asc limit <offset>, <count>`` answered with ``data`` and
``info{count, more_records}`` (204 when nothing matches; 400 ``INVALID_QUERY`` for an unknown column or module,
``LIMIT_EXCEEDED`` past 2,000 a call or past the offset ceiling), the fields metadata, and 429
``TOO_MANY_REQUESTS`` / 5xx when a test queues them. Served by uvicorn in a thread, like tests/notify's bots."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_QUERY = re.compile(r"select (?P<cols>.+?) from (?P<module>\w+) where (?P<where>.+?) order by id asc "
                    r"limit (?P<offset>[0-9]+), (?P<count>[0-9]+)", re.I)

# The fields each module has (its metadata); lookups join with ``Lookup.Field``.
MODULE_FIELDS = {
    "Accounts": ["id", "Account_Name", "Owner", "Annual_Revenue", "Currency", "Phone", "Industry"],
    "Contacts": ["id", "Full_Name", "First_Name", "Last_Name", "Email", "Account_Name", "Owner", "Mobile"],
    "Deals": ["id", "Deal_Name", "Owner", "Account_Name", "Stage", "Amount", "Currency", "Closing_Date"],
    "Cases": ["id", "Owner", "Account_Name", "Type", "Status", "Case_Origin", "Subject", "Created_Time"],
}
USER_FIELDS = {"full_name": "name", "email": "email", "id": "id"}


def error(status: int, code: str, message: str, details: dict[str, Any] | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "details": details or {}, "message": message, "status": "error"},
                        status_code=status, headers=headers)


@dataclass
class FakeZoho:
    client_id: str = "1000.TESTCLIENT"
    client_secret: str = "s3cret"
    refresh_token: str = "1000.refresh.token"
    token_lifetime: float = 3600
    max_offset_rows: int = 100_000
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fields: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in MODULE_FIELDS.items()})
    faults: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    """Answers the next COQL calls get instead of data: (status, code, headers)."""
    expire_at_call: int = 0
    """When set, every token runs out just before this COQL call (1-based), as an hour passing mid-pull."""
    tokens: dict[str, float] = field(default_factory=dict)
    issued: int = 0
    queries: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    base_url: str = ""

    def expire_tokens(self) -> None:
        """Every token issued so far runs out now (as after an hour), whatever the client believes."""
        for token in self.tokens:
            self.tokens[token] = 0.0

    # --- accounts server -------------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        q = request.query_params
        self.calls.append(("token", str(request.url.query)))
        if q.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"})
        if q.get("client_id") != self.client_id or q.get("client_secret") != self.client_secret:
            return JSONResponse({"error": "invalid_client"})
        if q.get("refresh_token") != self.refresh_token:
            return JSONResponse({"error": "invalid_code"})
        self.issued += 1
        token = f"1000.access{self.issued}.{int(time.time())}"
        self.tokens[token] = time.monotonic() + self.token_lifetime
        return JSONResponse({"access_token": token, "expires_in": int(self.token_lifetime),
                             "api_domain": self.base_url, "token_type": "Bearer"})

    def _auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "Zoho-oauthtoken" or not token:
            return error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        if self.tokens.get(token, 0.0) <= time.monotonic():
            return error(401, "INVALID_TOKEN", "invalid oauth token")
        return None

    # --- CRM API -----------------------------------------------------------------------------------------
    async def field_list(self, request: Request) -> Response:
        self.calls.append(("fields", request.query_params.get("module", "")))
        refused = self._auth(request)
        if refused is not None:
            return refused
        module = request.query_params.get("module", "")
        if module not in self.fields:
            return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {})
        return JSONResponse({"fields": [{"api_name": name, "id": str(i)} for i, name in
                                        enumerate(self.fields[module], start=1)]})

    async def coql(self, request: Request) -> Response:
        self.calls.append(("coql", ""))
        if self.expire_at_call and sum(1 for c in self.calls if c[0] == "coql") == self.expire_at_call:
            self.expire_tokens()
        refused = self._auth(request)
        if refused is not None:
            return refused
        if self.faults:
            status, code, headers = self.faults.pop(0)
            return error(status, code, "too many requests continuously" if status == 429 else "internal error",
                         {}, headers)
        try:
            body = json.loads(await request.body())
            query = body["select_query"]
        except (ValueError, KeyError, TypeError):
            return error(400, "INVALID_DATA", "invalid data", {})
        self.queries.append(query)
        match = _QUERY.fullmatch(query.strip())
        if match is None:
            return error(400, "SYNTAX_ERROR", "error in the query", {"near": query[:20]})
        module = match["module"]
        if module not in self.fields:
            return error(400, "INVALID_QUERY", "invalid module given", {"module": module})
        columns = [c.strip() for c in match["cols"].split(",")]
        for column in columns:
            if column.split(".")[0] not in self.fields[module]:
                return error(400, "INVALID_QUERY", "column given seems to be invalid",
                             {"column_name": column, "reason": "column not found"})
        offset, count = int(match["offset"]), int(match["count"])
        if count > 2000:
            return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"by": "limit", "max": 2000})
        if offset + count > self.max_offset_rows:
            return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"by": "offset", "max": self.max_offset_rows})
        where = match["where"].strip()
        rows = sorted(self.records.get(module, []), key=lambda r: int(r["id"]))
        if where.lower() != "id is not null":
            after = re.fullmatch(r"id > ([0-9]+)", where)
            if after is None:
                return error(400, "INVALID_QUERY", "invalid criteria", {"near": where})
            rows = [r for r in rows if int(r["id"]) > int(after[1])]
        page = rows[offset:offset + count]
        if not page:
            return Response(status_code=204)
        data = [self._project(r, columns) for r in page]
        return JSONResponse({"data": data, "info": {"count": len(data),
                                                    "more_records": offset + count < len(rows)}})

    def _project(self, record: dict[str, Any], columns: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column in columns:
            head, dot, rest = column.partition(".")
            value = record.get(head)
            if not dot:
                out[column] = {"id": value["id"]} if isinstance(value, dict) else value
            elif isinstance(value, dict):
                key = USER_FIELDS.get(rest, "name") if head == "Owner" else "name"
                out[column] = value.get(key)
            else:
                out[column] = None
        return out

    # --- serving -----------------------------------------------------------------------------------------
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/oauth/v2/token", self.token, methods=["POST"]),
            Route("/crm/v8/coql", self.coql, methods=["POST"]),
            Route("/crm/v8/settings/fields", self.field_list, methods=["GET"]),
        ])


class ZohoServer:
    """``FakeZoho`` on a local port (one server plays both accounts.zoho.* and www.zohoapis.*)."""

    def __init__(self, fake: FakeZoho) -> None:
        self.fake = fake
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = fake.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(fake.app(), log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> ZohoServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Zoho did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
