"""Local stand-ins for the three group-bot webhooks, on a real HTTP server on 127.0.0.1.

Each checks credentials, signature and body the way its platform documents, keeps the platform's rate limit,
answers in the platform's JSON, records what it accepted, and can be told to answer a rate-limit error or a
5xx for the next N requests. Error codes and messages are the published ones (see docs/chat-bots.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

Fault = Literal["rate_limit", "server_error"]


@dataclass
class Received:
    query: dict[str, str]
    body: dict[str, Any]
    at: float  # the receiver's clock when it arrived (or the signed time, where the platform signs)


@dataclass
class Receiver:
    """State shared by the three platforms: what arrived, faults to inject, the clock to judge time by."""

    clock: Callable[[], float] = time.time
    accepted: list[Received] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)

    def fail_next(self, count: int, fault: Fault) -> None:
        """Answer the next ``count`` authentic requests with a rate-limit error or a 5xx."""
        self.faults.extend([fault] * count)

    def reset(self) -> None:
        self.accepted.clear()
        self.refused.clear()
        self.faults.clear()
        self.clock = time.time

    def texts(self) -> list[str]:
        raise NotImplementedError

    def _fault(self) -> Fault | None:
        return self.faults.popleft() if self.faults else None

    def _over(self, at: float, limit: int, per: float) -> bool:
        return sum(1 for r in self.accepted if at - per < r.at <= at) >= limit

    def _refuse(self, answer: dict[str, Any], status: int = 200) -> Response:
        self.refused.append(answer)
        return JSONResponse(answer, status_code=status)


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


@dataclass
class WeComReceiver(Receiver):
    key: str = "wecom-key"

    def texts(self) -> list[str]:
        return [r.body["text"]["content"] for r in self.accepted]

    async def handle(self, request: Request) -> Response:
        # Read first: everything after is synchronous, so concurrent requests cannot interleave.
        raw = await request.body()
        if request.query_params.get("key") != self.key:
            return self._refuse({"errcode": 93000, "errmsg": "invalid webhook url"})
        fault = self._fault()
        if fault == "server_error":
            return PlainTextResponse("bad gateway", status_code=502)
        now = self.clock()
        if fault == "rate_limit" or self._over(now, 20, 60.0):
            return self._refuse({"errcode": 45009, "errmsg": "api freq out of limit"})
        body = _json(raw)
        if body is None:
            return self._refuse({"errcode": 40008, "errmsg": "invalid message type"})
        kind = body.get("msgtype")
        part = body.get(kind) if isinstance(kind, str) else None
        if kind not in ("text", "markdown") or not isinstance(part, dict):
            return self._refuse({"errcode": 40008, "errmsg": "invalid message type"})
        content = part.get("content")
        if not isinstance(content, str) or not content:
            return self._refuse({"errcode": 44004, "errmsg": "empty content"})
        if len(content.encode()) > (2048 if kind == "text" else 4096):
            return self._refuse({"errcode": 45002, "errmsg": "content size out of limit"})
        for name in ("mentioned_list", "mentioned_mobile_list"):
            if name in part and (kind != "text" or not _strings(part[name])):
                return self._refuse({"errcode": 40058, "errmsg": f"invalid {name}"})
        self.accepted.append(Received(dict(request.query_params), body, now))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})


def dingtalk_expected_sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class DingTalkReceiver(Receiver):
    access_token: str = "ding-token"
    secret: str = "SECding-secret"

    def texts(self) -> list[str]:
        return [r.body["text"]["content"] for r in self.accepted]

    async def handle(self, request: Request) -> Response:
        # Read first: everything after is synchronous, so concurrent requests cannot interleave.
        raw = await request.body()
        query = request.query_params
        if query.get("access_token") != self.access_token:
            return self._refuse({"errcode": 300001, "errmsg": "token is not exist"})
        timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
        if not timestamp.isdigit() or abs(self.clock() * 1000 - int(timestamp)) > 3_600_000:
            return self._refuse({"errcode": 310000, "errmsg": "invalid timestamp"})
        if not hmac.compare_digest(sign, dingtalk_expected_sign(timestamp, self.secret)):
            return self._refuse({"errcode": 310000, "errmsg": "sign not match"})
        fault = self._fault()
        if fault == "server_error":
            return PlainTextResponse("upstream error", status_code=503)
        # Judged by the signed time (the send time), so a fake clock in the tests is honoured exactly.
        at = int(timestamp) / 1000
        if fault == "rate_limit" or self._over(at, 20, 60.0):
            return self._refuse({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        body = _json(raw)
        if body is None or body.get("msgtype") not in ("text", "markdown"):
            return self._refuse({"errcode": 40035, "errmsg": "缺少参数 json"})
        at_field = body.get("at", {})
        if not isinstance(at_field, dict) or not all(
            _strings(at_field.get(name, [])) for name in ("atMobiles", "atUserIds")
        ):
            return self._refuse({"errcode": 40035, "errmsg": "invalid at"})
        if body["msgtype"] == "text":
            text = body.get("text", {}).get("content")
        else:
            markdown = body.get("markdown", {})
            text = markdown.get("text") if markdown.get("title") else None
            # Markdown @ works only if the @mobile / @userid is also in the text.
            people = at_field.get("atMobiles", []) + at_field.get("atUserIds", [])
            if isinstance(text, str) and any(f"@{p}" not in text for p in people):
                return self._refuse({"errcode": 40035, "errmsg": "at target missing from text"})
        if not isinstance(text, str) or not text:
            return self._refuse({"errcode": 40035, "errmsg": "缺少参数 content"})
        self.accepted.append(Received(dict(query), body, at))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})


def feishu_expected_sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class FeishuReceiver(Receiver):
    token: str = "feishu-hook"
    secret: str = "feishu-secret"

    def texts(self) -> list[str]:
        return [r.body["content"]["text"] for r in self.accepted]

    async def handle(self, request: Request) -> Response:
        # Read first: everything after is synchronous, so concurrent requests cannot interleave.
        raw = await request.body()
        if request.path_params["token"] != self.token:
            return self._refuse({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"})
        if len(raw) > 20 * 1024:
            return self._refuse({"code": 9499, "msg": "Bad Request", "data": {}}, status=400)
        body = _json(raw)
        if body is None:
            return self._refuse({"code": 9499, "msg": "Bad Request", "data": {}}, status=400)
        timestamp, sign = str(body.get("timestamp", "")), body.get("sign", "")
        fresh = timestamp.isdigit() and abs(self.clock() - int(timestamp)) <= 3600
        if not fresh or not isinstance(sign, str) or not hmac.compare_digest(
            sign, feishu_expected_sign(timestamp, self.secret)
        ):
            return self._refuse(
                {
                    "code": 19021,
                    "data": {},
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                }
            )
        fault = self._fault()
        if fault == "server_error":
            return PlainTextResponse("internal error", status_code=500)
        now = self.clock()
        if fault == "rate_limit" or self._over(now, 100, 60.0) or self._over(now, 5, 1.0):
            return self._refuse({"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"})
        content = body.get("content")
        if body.get("msg_type") == "text":
            ok = isinstance(content, dict) and isinstance(content.get("text"), str) and content["text"] != ""
        else:
            ok = body.get("msg_type") == "post" and isinstance(content, dict) and "post" in content
        if not ok:
            return self._refuse({"code": 9499, "msg": "Bad Request", "data": {}}, status=400)
        self.accepted.append(Received({}, body, now))
        return JSONResponse(
            {"code": 0, "msg": "success", "data": {}, "StatusCode": 0, "StatusMessage": "success"}
        )


class ChatReceivers:
    """The three receivers on one uvicorn server in a thread; ``base_url`` is where they listen."""

    def __init__(self) -> None:
        self.wecom = WeComReceiver()
        self.dingtalk = DingTalkReceiver()
        self.feishu = FeishuReceiver()
        app = Starlette(
            routes=[
                Route("/cgi-bin/webhook/send", self.wecom.handle, methods=["POST"]),
                Route("/robot/send", self.dingtalk.handle, methods=["POST"]),
                Route("/open-apis/bot/v2/hook/{token}", self.feishu.handle, methods=["POST"]),
            ]
        )
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def wecom_url(self) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={self.wecom.key}"

    @property
    def dingtalk_url(self) -> str:
        return f"{self.base_url}/robot/send?access_token={self.dingtalk.access_token}"

    @property
    def feishu_url(self) -> str:
        return f"{self.base_url}/open-apis/bot/v2/hook/{self.feishu.token}"

    def reset(self) -> None:
        for receiver in (self.wecom, self.dingtalk, self.feishu):
            receiver.reset()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("chat receivers did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
