"""WeCom (企业微信) group robot: POST the webhook URL (its ``key`` is the credential), message type ``text``.

``text`` rather than ``markdown``: only ``text`` can @-mention by mobile (``mentioned_mobile_list``); markdown
mentions only by userid (``<@userid>``). WeCom shows the mentioned people itself, so they are not repeated in
the text; people with neither a WeCom userid nor a mobile are named in plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from notify.chat import Mention, Reply, Rule, WebhookChannel

RATE_LIMITED = 45009  # api freq out of limit: over 20 messages a minute for this robot
SYSTEM_BUSY = -1


class WeComChannel(WebhookChannel):
    name: ClassVar[str] = "wecom"
    max_text_bytes: ClassVar[int] = 2048  # text.content, UTF-8
    rules: ClassVar[tuple[Rule, ...]] = ((20, 60.0),)

    def token(self, mention: Mention) -> str | None:
        return f"@{mention.value}" if mention.kind == "name" else None

    def request(self, text: str, mentions: Sequence[Mention]) -> tuple[httpx.URL, dict[str, Any]]:
        body: dict[str, Any] = {"content": text}
        user_ids = [m.value for m in mentions if m.kind == "id"]
        mobiles = [m.value for m in mentions if m.kind == "mobile"]
        if user_ids:
            body["mentioned_list"] = user_ids
        if mobiles:
            body["mentioned_mobile_list"] = mobiles
        return httpx.URL(self.url), {"msgtype": "text", "text": body}

    def classify(self, data: dict[str, Any]) -> Reply:
        code = data.get("errcode")
        if not isinstance(code, int):
            return Reply(False, f"wecom: unexpected answer {data!r}"[:300])
        if code == 0:
            return Reply(True, code=0)
        error = f"wecom: errcode {code}: {data.get('errmsg', '')}"
        if code == RATE_LIMITED:
            return Reply(False, error, retry=True, retry_after=60.0, code=code)
        if code == SYSTEM_BUSY:
            return Reply(False, error, retry=True, code=code)
        return Reply(False, error, code=code)  # 93000 invalid webhook URL, 45002 too long, 40008 msgtype, ...
