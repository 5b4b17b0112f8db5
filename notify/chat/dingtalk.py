"""DingTalk (钉钉) custom robot, with the "加签" signing secret: ``timestamp`` (ms) and ``sign`` in the query.

sign = base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded; DingTalk refuses a
timestamp more than an hour from its clock. Message type ``text``: ``at.atUserIds`` / ``at.atMobiles`` notify
the people, and the same ``@userid`` / ``@mobile`` is written in the text, where DingTalk renders it as the
person's name (markdown requires that too, text tolerates it). Without a secret the URL is used as is
(robots secured by keyword or IP list).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from notify.chat import Mention, Reply, Rule, WebhookChannel, errcode_reply

SEND_TOO_FAST = 130101  # over 20 a minute: DingTalk then mutes the robot for 10 minutes
SECURITY_MISMATCH = 310000  # signature, timestamp, keyword or IP list did not match: configuration


def dingtalk_sign(timestamp_ms: str, secret: str) -> str:
    """The signature DingTalk expects, before URL encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkChannel(WebhookChannel):
    name: ClassVar[str] = "dingtalk"
    max_text_bytes: ClassVar[int] = 4000  # not published for text; see docs/chat-bots.md
    rules: ClassVar[tuple[Rule, ...]] = ((20, 60.0),)

    def token(self, mention: Mention) -> str | None:
        return f"@{mention.value}"

    def request(self, text: str, mentions: Sequence[Mention]) -> tuple[httpx.URL, dict[str, Any]]:
        url = httpx.URL(self.url)
        if self.secret:
            timestamp = str(int(self.now() * 1000))
            url = url.copy_merge_params({"timestamp": timestamp, "sign": dingtalk_sign(timestamp, self.secret)})
        at = {
            "atUserIds": [m.value for m in mentions if m.kind == "id"],
            "atMobiles": [m.value for m in mentions if m.kind == "mobile"],
            "isAtAll": False,
        }
        return url, {"msgtype": "text", "text": {"content": text}, "at": at}

    def classify(self, data: dict[str, Any]) -> Reply:
        # Other codes are not retried: 310000 signature/keyword/IP, 300001 token, 400xxx content, ...
        return errcode_reply(self.name, data, SEND_TOO_FAST, 600.0)
