"""Feishu / Lark (飞书) custom bot with "签名校验": ``timestamp`` (seconds) and ``sign`` in the JSON body.

sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")): the string is the KEY and the message is
empty (unlike DingTalk). Message type ``text`` with ``<at user_id="ou_…">name</at>`` inline; a custom bot can
mention by open_id/user_id only, so people without a Feishu id are named in plain text, mobile or not.
The same code serves Lark: only the webhook host differs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from notify.chat import Mention, Reply, Rule, WebhookChannel

FREQUENCY_LIMITED = 11232
GATEWAY = 9499  # "Bad Request" (malformed, over 20 KB) and, per reports, also "too many request"
SIGN_MISMATCH = 19021  # sign match fail or timestamp is not within one hour from current time


def feishu_sign(timestamp_s: str, secret: str) -> str:
    """The signature Feishu expects."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _escape(name: str) -> str:
    return name.replace("<", "").replace(">", "")


class FeishuChannel(WebhookChannel):
    name: ClassVar[str] = "feishu"
    max_text_bytes: ClassVar[int] = 16000  # the whole body may be 20 KB
    rules: ClassVar[tuple[Rule, ...]] = ((100, 60.0), (5, 1.0))
    mention_by_mobile: ClassVar[bool] = False

    def token(self, mention: Mention) -> str | None:
        if mention.kind == "id":
            return f'<at user_id="{_escape(mention.value)}">{_escape(mention.person.name)}</at>'
        return f"@{mention.person.name}"

    def request(self, text: str, mentions: Sequence[Mention]) -> tuple[httpx.URL, dict[str, Any]]:
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
        if self.secret:
            timestamp = str(int(self.now()))
            body = {"timestamp": timestamp, "sign": feishu_sign(timestamp, self.secret), **body}
        return httpx.URL(self.url), body

    def classify(self, data: dict[str, Any]) -> Reply:
        code = data.get("code", data.get("StatusCode"))
        if not isinstance(code, int):
            return Reply(False, f"feishu: unexpected answer {data!r}"[:300])
        if code == 0:
            return Reply(True, code=0)
        message = str(data.get("msg", data.get("StatusMessage", "")))
        error = f"feishu: code {code}: {message}"
        if code == FREQUENCY_LIMITED or (code == GATEWAY and "too many" in message.lower()):
            return Reply(False, error, retry=True, retry_after=60.0, code=code)
        return Reply(False, error, code=code)  # 19021 sign, 19022 IP, 19024 keyword, 9499 bad request
