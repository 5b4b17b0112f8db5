"""WeCom (企业微信) group robot: POST the webhook URL (its ``key`` is the credential), message type ``text``.

``text`` rather than ``markdown``: only ``text`` can @-mention by mobile (``mentioned_mobile_list``); markdown
mentions only by userid (``<@userid>``). WeCom shows the mentioned people itself, so they are not repeated in
the text; people with neither a WeCom userid nor a mobile are named in plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from notify.chat import Mention, Reply, Rule, WebhookChannel, errcode_reply

RATE_LIMITED = 45009  # api freq out of limit: over 20 messages a minute for this robot


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
        # Other codes are not retried: 93000 invalid webhook URL, 45002 too long, 40008 msgtype, ...
        return errcode_reply(self.name, data, RATE_LIMITED, 60.0)
