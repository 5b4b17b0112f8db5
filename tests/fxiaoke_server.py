"""A local stand-in for the Fxiaoke open API (open.fxiaoke.com), speaking its documented requests and answers in
the body convention: POST + JSON everywhere, a thirdTraceId UUID v4 in every URL, HTTP 200 with errorCode /
errorMessage / traceId in every answer (errorCode 0 = success), corpAccessToken + corpId + currentOpenUserId at
the top of every business call, data.search_query_info paging (limit ≤ 100, offset a multiple of limit and
≤ 10000, ``_id`` GT keyset filters), data.dataList / offset / limit / total, describe with select options,
/cgi/user/get. Faults are scripted: ``fail_next`` answers (rate limits, busy), ``expire_after`` (the tokens
die after that many queries: 20016), wrong credentials (10006, as the gateway answers them).

No Fxiaoke server can be reached from here; the shapes follow developer.fxiaoke.com/openapi_v2 as
docs/crm-imports.md records it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

APP_ID, APP_SECRET, PERMANENT_CODE = "FSAID_131test", "0123456789abcdef0123456789abcdef", "2C8247867TESTCODE"
OPEN_USER_ID, CORP_ID = "FSUID_ADMIN0001", "FSCID_TEST0001"
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_SHANGHAI = ZoneInfo("Asia/Shanghai")


def ms(*args: int) -> int:
    """A date (time) in China as the epoch milliseconds Fxiaoke's date fields hold."""
    return int(datetime(*args, tzinfo=_SHANGHAI).timestamp() * 1000)  # type: ignore[misc]


def select(*options: tuple[str, str]) -> dict[str, Any]:
    return {"type": "select_one", "options": [{"value": v, "label": label} for v, label in options]}


LIFE_STATUS = select(("normal", "正常"), ("invalid", "作废"), ("ineffective", "未生效"), ("under_review", "审核中"))
CURRENCY = select(("CNY", "人民币"), ("USD", "美元"))
DESCRIBES: dict[str, dict[str, dict[str, Any]]] = {
    "AccountObj": {"account_no": {"type": "auto_number"}, "name": {"type": "text"}, "owner": {"type": "employee"},
                   "mc_currency": CURRENCY, "account_level": select(("1", "重要客户"), ("2", "普通客户")),
                   "create_time": {"type": "date_time"}, "life_status": LIFE_STATUS},
    "ContactObj": {"name": {"type": "text"}, "account_id": {"type": "object_reference"}, "mobile": {"type": "phone_number"},
                   "email": {"type": "email"}, "owner": {"type": "employee"}},
    "NewOpportunityObj": {"name": {"type": "text"}, "account_id": {"type": "object_reference"},
                          "owner": {"type": "employee"}, "sales_stage": select(("3", "方案确认"), ("5", "签约")),
                          "sales_status": select(("1", "进行中"), ("2", "赢单"), ("3", "输单"), ("4", "无效")),
                          "amount": {"type": "currency"}, "close_date": {"type": "date"}},
    "SalesOrderObj": {"name": {"type": "auto_number"}, "account_id": {"type": "object_reference"},
                      "owner": {"type": "employee"}, "order_amount": {"type": "currency"},
                      "order_time": {"type": "date"}, "life_status": LIFE_STATUS},
    "CasesObj": {"name": {"type": "auto_number"}, "account_id": {"type": "object_reference"},
                 "owner": {"type": "employee"}, "case_type": select(("complaint", "投诉"), ("consult", "咨询")),
                 "status": select(("closed", "已关闭"), ("processing", "处理中")), "create_time": {"type": "date_time"}},
}
USERS = {"FSUID_WANGFANG": {"openUserId": "FSUID_WANGFANG", "name": "王芳", "email": "wang.fang@example.com",
                            "mobile": "13900000001", "isStop": False},
         "FSUID_NOBODY": {"openUserId": "FSUID_NOBODY", "name": "赵无名", "mobile": "13900000009", "isStop": False}}
A1, A2 = "5f0a1c2b3d4e5f60718293a4b5c6d701", "5f0a1c2b3d4e5f60718293a4b5c6d702"


def records() -> dict[str, list[dict[str, Any]]]:
    """The same records as the Excel workbooks of tests/test_crm_imports.py (fxiaoke_files), as the API holds
    them: option values, epoch milliseconds, amounts as strings, owners as openUserId lists, lookups by _id
    with the related name in ``<field>__r``; empty fields are left out (includeNull false)."""
    wf = ["FSUID_WANGFANG"]
    return {
        "AccountObj": [
            {"_id": A1, "account_no": "KH-2024-0001", "name": "沈阳北方重工机械有限公司", "owner": wf, "mc_currency": "CNY",
             "account_level": "1", "create_time": ms(2024, 3, 1, 9, 30), "life_status": "normal"},
            {"_id": A2, "account_no": "KH-2024-0002", "name": "杭州西湖电子有限公司", "owner": wf, "mc_currency": "CNY",
             "account_level": "2", "create_time": ms(2024, 5, 1, 9, 30), "life_status": "normal"},
        ],
        "ContactObj": [
            {"_id": "6a01", "name": "钱敏", "account_id": A1, "account_id__r": "沈阳北方重工机械有限公司",
             "mobile": "13800000002", "email": "qian.min@client003.example.cn", "owner": wf},
            {"_id": "6a02", "name": "李娜", "account_id": A2, "account_id__r": "杭州西湖电子有限公司",
             "mobile": "13800000003", "owner": wf},
        ],
        "NewOpportunityObj": [
            {"_id": "7b01", "name": "2026 年度备件", "account_id": A1, "account_id__r": "沈阳北方重工机械有限公司", "owner": wf,
             "sales_stage": "5", "sales_status": "2", "amount": "1250000.00", "close_date": ms(2026, 9, 30)},
            {"_id": "7b02", "name": "产线改造", "account_id": A2, "account_id__r": "杭州西湖电子有限公司", "owner": wf,
             "sales_stage": "3", "sales_status": "1", "amount": "480000.50", "close_date": ms(2026, 12, 20)},
        ],
        "SalesOrderObj": [
            {"_id": "8c01", "name": "SO-20260915-001", "account_id": A1, "account_id__r": "沈阳北方重工机械有限公司",
             "owner": wf, "order_amount": "625000.00", "order_time": ms(2026, 9, 15), "life_status": "normal"},
            {"_id": "8c02", "name": "SO-20260920-002", "account_id": A1, "account_id__r": "沈阳北方重工机械有限公司",
             "owner": wf, "order_amount": "12000.00", "order_time": ms(2026, 9, 20), "life_status": "invalid"},
        ],
        "CasesObj": [
            {"_id": "9d01", "name": "GD-0001", "account_id": A1, "account_id__r": "沈阳北方重工机械有限公司", "owner": wf,
             "case_type": "complaint", "status": "closed", "create_time": ms(2026, 8, 1, 10, 0)},
            {"_id": "9d02", "name": "GD-0002", "account_id": A2, "account_id__r": "杭州西湖电子有限公司", "owner": wf,
             "case_type": "consult", "status": "processing", "create_time": ms(2026, 9, 1, 10, 0)},
        ],
    }


@dataclass
class FakeFxiaoke:
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=records)
    describes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: dict(DESCRIBES))
    users: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(USERS))
    expires_in: int = 7200
    expire_after: int | None = None
    """After this many queries every token issued so far dies (the next query answers 20016)."""
    fail_next: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(path, answer) served instead of the real answer, once each, in order, for a request to that path."""
    max_offset: int = 10_000
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    issued: int = 0
    queries: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]

    # --- the API --------------------------------------------------------------------------------------------
    def answer(self, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests.append((path, body))
            trace = f"E-O.test.{len(self.requests)}"
            if not _UUID4.fullmatch((query.get("thirdTraceId") or [""])[0]):
                return {"errorCode": 32000, "errorMessage": "thirdTraceId must be a UUID v4", "traceId": trace}
            for i, (where, canned) in enumerate(self.fail_next):
                if where == path:
                    del self.fail_next[i]
                    return {"traceId": trace, **canned}
            if path == "/cgi/corpAccessToken/get/V2":
                return self._token(body, trace)
            if path in ("/cgi/crm/v2/data/query", "/cgi/crm/custom/v2/data/query",
                        "/cgi/crm/v2/object/describe", "/cgi/user/get"):
                refused = self._authorised(body, trace, needs_user=path != "/cgi/user/get")
                if refused:
                    return refused
            if path.endswith("/data/query"):
                return self._query(path, body, trace)
            if path == "/cgi/crm/v2/object/describe":
                api = (body.get("data") or {}).get("apiName")
                if api not in self.describes:
                    return {"errorCode": 32000, "errorMessage": f"对象{api}不存在", "traceId": trace}
                fields = {k: {"api_name": k, "label": k, **v} for k, v in self.describes[api].items()}
                return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "traceId": trace,
                        "data": {"describe": {"api_name": api, "fields": fields}}}
            if path == "/cgi/user/get":
                user = self.users.get(body.get("openUserId", ""))
                if user is None:
                    return {"errorCode": 20012, "errorMessage": "openUserId未找到", "traceId": trace}
                return {"errorCode": 0, "errorMessage": "success", "traceId": trace, **user}
            return {"errorCode": 10006, "errorMessage": f"the request uri=[{path}], apiName=[null] is not exists",
                    "traceId": trace}

    def _token(self, body: dict[str, Any], trace: str) -> dict[str, Any]:
        if (body.get("appId"), body.get("appSecret"), body.get("permanentCode")) != (APP_ID, APP_SECRET,
                                                                                     PERMANENT_CODE):
            return {"errorCode": 10006, "errorMessage": "the parameter appSecret is missing or illegal",
                    "errorDescription": "缺少参数或参数不合法", "traceId": f"open-api-gateway-web/{trace}"}
        self.issued += 1
        token = f"CAT{self.issued:04d}"
        self.tokens.add(token)
        return {"errorCode": 0, "errorMessage": "success", "corpAccessToken": token, "corpId": CORP_ID,
                "expiresIn": self.expires_in}

    def _authorised(self, body: dict[str, Any], trace: str, needs_user: bool) -> dict[str, Any] | None:
        if not body.get("corpAccessToken"):
            return {"errorCode": 20017, "errorMessage": "corpAccessToken为必填项，不能为空", "traceId": trace}
        if body.get("corpAccessToken") not in self.tokens or body.get("corpId") != CORP_ID:
            return {"errorCode": 20016, "errorMessage": "the cropId,cropAccessToken or authorization is error",
                    "traceId": trace}
        if needs_user and body.get("currentOpenUserId") != OPEN_USER_ID:
            return {"errorCode": 20012, "errorMessage": "openUserId未找到", "traceId": trace}
        return None

    def _query(self, path: str, body: dict[str, Any], trace: str) -> dict[str, Any]:
        self.queries += 1
        if self.expire_after is not None and self.queries > self.expire_after:
            self.expire_after = None
            self.tokens.clear()
            return {"errorCode": 20016, "errorMessage": "the cropId,cropAccessToken or authorization is error",
                    "traceId": trace}
        data = body.get("data") or {}
        api = data.get("dataObjectApiName")
        if (api or "").endswith("__c") != path.startswith("/cgi/crm/custom/"):
            return {"errorCode": 32000, "errorMessage": "预置对象和自定义对象的接口不同", "traceId": trace}
        if api not in self.objects:
            return {"errorCode": 32000, "errorMessage": f"对象{api}不存在", "traceId": trace}
        info = data.get("search_query_info") or {}
        limit, offset = info.get("limit"), info.get("offset")
        if not isinstance(limit, int) or not 0 < limit <= 100 or not isinstance(offset, int) or offset % limit:
            return {"errorCode": 32000, "errorMessage": "参数错误: limit 最大 100, offset 必须为 limit 的整数倍",
                    "traceId": trace}
        if offset > self.max_offset:
            return {"errorDescription": f"offset 不能超过{self.max_offset}",
                    "errorMessage": f"offset out of range {self.max_offset}", "errorCode": 10013, "traceId": trace}
        rows = sorted(self.objects[api], key=lambda r: r["_id"])
        for f in info.get("filters") or []:
            if f.get("operator") == "GT" and f.get("field_name") == "_id":
                rows = [r for r in rows if r["_id"] > f["field_values"][0]]
        total = len(rows) if data.get("find_explicit_total_num") else 0
        return {"traceId": trace, "errorCode": 0, "errorMessage": "OK", "errorDescription": "success",
                "data": {"dataList": rows[offset:offset + limit], "offset": offset, "limit": limit, "total": total}}


@contextmanager
def serve(fake: FakeFxiaoke | None = None) -> Iterator[FakeFxiaoke]:
    """The fake on 127.0.0.1 (a free port) in a thread, for the real client over real HTTP."""
    fake = fake or FakeFxiaoke()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            url = urlparse(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            answer = fake.answer(url.path, parse_qs(url.query), body if isinstance(body, dict) else {})
            out = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(200)  # every answer is HTTP 200, errors included
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
