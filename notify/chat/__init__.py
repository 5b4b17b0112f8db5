"""Chat group bots (WeCom, DingTalk, Feishu) behind one interface, with one rate limiter and one batcher.

Each platform module (``wecom``, ``dingtalk``, ``feishu``) only says how a message is written, signed and
answered; sending, splitting, rate limiting and the mapping to :class:`SendOutcome` live here, once.
What each platform documents, and what we could not confirm, is in docs/chat-bots.md.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import httpx

from notify.message import ChatPost, Person, SendOutcome

CHAT_CHANNELS = ("wecom", "dingtalk", "feishu")


class ChatChannel(Protocol):
    """A group bot: delivers a post to its group and says, per notification key, how that went."""

    name: str

    async def send(self, post: ChatPost) -> list[SendOutcome]: ...


# ---------------------------------------------------------------------------------------------- rate limit


class Clock(Protocol):
    """Monotonic time and sleeping, injectable so tests need not wait a real minute."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


Rule = tuple[int, float]  # at most this many sends in any window of this many seconds


class RateLimited(Exception):
    """A slot would not come within ``max_wait``: the caller retries later instead of blocking."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited here for {retry_after:.0f}s more")
        self.retry_after = retry_after


@dataclass
class _Window:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    loop: asyncio.AbstractEventLoop | None = None  # the loop ``lock`` belongs to
    grants: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class RateLimiter:
    """Per-webhook limiter: at most N sends in ANY window of S seconds, waiters served in arrival order.

    A sliding window rather than a refilling token bucket: a bucket of 20 that refills 20 a minute lets 39
    messages through in the first minute, and DingTalk answers a bot over 20/minute by muting it for ten
    minutes. Here each of the 20 tokens comes back exactly S seconds after it was spent. One limiter is
    shared by every channel of the process (``DEFAULT_LIMITER``), so the budget holds however many channel
    objects are built; it does not coordinate several worker processes (the platform's answer then does:
    it is mapped to a retry).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._windows: dict[str, _Window] = {}

    def _window(self, key: str) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        return window

    @staticmethod
    def _wait(window: _Window, rules: Sequence[Rule], now: float) -> float:
        wait = window.blocked_until - now
        for count, per in rules:
            if len(window.grants) >= count:
                wait = max(wait, window.grants[-count] + per - now)
        return wait

    async def acquire(self, key: str, rules: Sequence[Rule], max_wait: float | None = None) -> None:
        """Take a slot for ``key``, waiting for it; raise :class:`RateLimited` if that is over ``max_wait``."""
        window = self._window(key)
        loop = asyncio.get_running_loop()
        if window.loop is not loop:  # an asyncio.Lock serves one event loop; the grants outlive it
            window.lock, window.loop = asyncio.Lock(), loop
        keep = max(count for count, _ in rules)
        async with window.lock:
            waited = 0.0
            while True:
                now = self.clock.monotonic()
                wait = self._wait(window, rules, now)
                if wait <= 0:
                    window.grants.append(now)
                    while len(window.grants) > keep:
                        window.grants.popleft()
                    return
                if max_wait is not None and waited + wait > max_wait:
                    raise RateLimited(wait)
                await self.clock.sleep(wait)
                waited += wait

    def block(self, key: str, seconds: float) -> None:
        """The platform said "too fast": send nothing more to this bot for ``seconds``."""
        window = self._window(key)
        window.blocked_until = max(window.blocked_until, self.clock.monotonic() + seconds)


DEFAULT_LIMITER = RateLimiter()


# ---------------------------------------------------------------------------------------------- batching


@dataclass(frozen=True)
class ChatNote:
    """One notification bound for a group bot: its outbox key, its rendered text, the person it concerns."""

    key: str
    text: str
    person: Person


def build_posts(notes: Iterable[ChatNote], *, max_bytes: int = 1500, max_notes: int = 10) -> list[ChatPost]:
    """Pack notifications for ONE webhook into as few posts as fit, each @-mentioning all its people.

    Bots allow 20 messages a minute, a cycle start makes hundreds: batching mentions is how nothing is
    dropped. A post holds at most ``max_notes`` notifications and ``max_bytes`` of text (UTF-8), so it
    usually fits one platform message (the default leaves room under WeCom's 2048 bytes for the mentions);
    a single longer notification gets a post of its own, which the channel splits.
    """
    posts: list[ChatPost] = []
    batch: list[ChatNote] = []
    size = 0
    separator = "\n\n"

    def flush() -> None:
        if not batch:
            return
        people: dict[str, Person] = {}
        for note in batch:
            people.setdefault(note.person.id, note.person)
        posts.append(
            ChatPost(
                keys=tuple(note.key for note in batch),
                text=separator.join(note.text.strip() for note in batch),
                mentions=tuple(people.values()),
            )
        )
        batch.clear()

    for note in notes:
        length = len(note.text.strip().encode())
        extra = length + (len(separator) if batch else 0)
        if batch and (size + extra > max_bytes or len(batch) >= max_notes):
            flush()
            extra = length
            size = 0
        batch.append(note)
        size += extra
    flush()
    return posts


# ---------------------------------------------------------------------------------------------- splitting

_TOKEN = re.compile(r"\S*\s*")


def _utf8_len(text: str) -> int:
    return len(text.encode())


def _hard_split(token: str, budget: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for char in token:
        if current and _utf8_len(current + char) > budget:
            parts.append(current)
            current = ""
        current += char
    if current:
        parts.append(current)
    return parts


def split_text(text: str, max_bytes: int) -> list[str]:
    """Cut ``text`` into messages of at most ``max_bytes`` UTF-8 bytes, marked "(1/3)" when there are several.

    Cuts fall at a line end where possible, else between words, else between characters (never inside one).
    """
    if _utf8_len(text) <= max_bytes:
        return [text]
    budget = max_bytes - len(" (99/99)")
    chunks: list[str] = []
    current = ""
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if not token:
            continue
        pieces = [token] if _utf8_len(token) <= budget else _hard_split(token, budget)
        for piece in pieces:
            if _utf8_len(current + piece) <= budget:
                current += piece
                continue
            cut = current.rfind("\n")
            if cut > 0:
                chunks.append(current[: cut + 1])
                current = current[cut + 1 :]
            if _utf8_len(current + piece) > budget and current:
                chunks.append(current)
                current = ""
            current += piece
    if current:
        chunks.append(current)
    chunks = [chunk.rstrip() for chunk in chunks if chunk.strip()]
    total = len(chunks)
    return [f"{chunk} ({i}/{total})" for i, chunk in enumerate(chunks, 1)]


# ---------------------------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Mention:
    """How one person is @-mentioned on a platform: by its user id, by mobile, or only named in the text."""

    person: Person
    kind: Literal["id", "mobile", "name"]
    value: str


@dataclass(frozen=True)
class Reply:
    """A platform's answer, classified: delivered, worth retrying later, or a configuration/content error."""

    ok: bool
    error: str | None = None
    retry: bool = False
    retry_after: float | None = None  # seconds the platform asks us to keep quiet (rate limits)
    code: int | None = None


SYSTEM_BUSY = -1  # WeCom's and DingTalk's "system busy, try later"


def errcode_reply(platform: str, data: dict[str, Any], rate_limited: int, quiet_for: float) -> Reply:
    """The answer of the bots that reply ``{"errcode": ..., "errmsg": ...}`` (WeCom, DingTalk), classified.

    ``rate_limited`` is the platform's "too fast" code, after which it wants ``quiet_for`` seconds of silence.
    """
    code = data.get("errcode")
    if not isinstance(code, int):
        return Reply(False, f"{platform}: unexpected answer {data!r}"[:300])
    if code == 0:
        return Reply(True, code=0)
    error = f"{platform}: errcode {code}: {data.get('errmsg', '')}"
    if code == rate_limited:
        return Reply(False, error, retry=True, retry_after=quiet_for, code=code)
    if code == SYSTEM_BUSY:
        return Reply(False, error, retry=True, code=code)
    return Reply(False, error, code=code)


class WebhookChannel:
    """The shared send loop; a platform subclass says how to mention, build the request and read the answer."""

    name: ClassVar[str]
    max_text_bytes: ClassVar[int]
    rules: ClassVar[tuple[Rule, ...]] = ((20, 60.0),)
    mention_by_mobile: ClassVar[bool] = True

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        secret: str | None = None,
        limiter: RateLimiter | None = None,
        max_wait: float | None = 120.0,
        timeout: float = 10.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``max_wait``: the longest one send waits for a rate-limit slot before answering retry (None: wait).
        ``now``: the wall clock used in signatures (seconds since the epoch)."""
        if not url:
            raise ValueError(f"{self.name}: no webhook URL")
        self.url = url
        self.client = client
        self.secret = secret or None
        self.limiter = limiter or DEFAULT_LIMITER
        self.max_wait = max_wait
        self.timeout = timeout
        self.now = now

    # -- what a platform module provides

    def token(self, mention: Mention) -> str | None:
        """The inline text for a mention (None: the platform renders it from the body's fields)."""
        raise NotImplementedError

    def request(self, text: str, mentions: Sequence[Mention]) -> tuple[httpx.URL, dict[str, Any]]:
        """The URL (with any signature) and the JSON body for one message."""
        raise NotImplementedError

    def classify(self, data: dict[str, Any]) -> Reply:
        """Read the platform's JSON answer."""
        raise NotImplementedError

    # -- the shared part

    def resolve(self, people: Iterable[Person]) -> list[Mention]:
        mentions: list[Mention] = []
        seen: set[str] = set()
        for person in people:
            if person.id in seen:
                continue
            seen.add(person.id)
            user_id = person.im_ids.get(self.name)
            if user_id:
                mentions.append(Mention(person, "id", user_id))
            elif person.mobile and self.mention_by_mobile:
                mentions.append(Mention(person, "mobile", person.mobile))
            else:
                mentions.append(Mention(person, "name", person.name))
        return mentions

    def compose(self, text: str, mentions: Sequence[Mention]) -> str:
        tokens = [t for t in (self.token(m) for m in mentions) if t]
        return f"{' '.join(tokens)}\n{text}" if tokens else text

    async def send(self, post: ChatPost) -> list[SendOutcome]:
        if not post.text.strip():
            return _outcomes(post, ok=False, error=f"{self.name}: empty message", detail={"channel": self.name})
        mentions = self.resolve(post.mentions)
        chunks = split_text(self.compose(post.text, mentions), self.max_text_bytes)
        for index, chunk in enumerate(chunks):
            detail: dict[str, Any] = {"channel": self.name, "parts": len(chunks), "parts_sent": index}
            try:
                await self.limiter.acquire(self.url, self.rules, self.max_wait)
            except RateLimited as err:
                detail["retry_after"] = err.retry_after
                return _outcomes(post, ok=False, error=str(err), retry=True, detail=detail)
            # Signed right after the slot is granted: no await in between, so the timestamp is the send time.
            url, body = self.request(chunk, mentions if index == 0 else ())
            reply, maybe_delivered = await self._post(url, body)
            if not reply.ok:
                if reply.code is not None:
                    detail["code"] = reply.code
                if reply.retry_after:
                    detail["retry_after"] = reply.retry_after
                    self.limiter.block(self.url, reply.retry_after)
                if maybe_delivered:
                    detail["maybe_delivered"] = True  # no answer: the platform may have shown it
                return _outcomes(post, ok=False, error=reply.error, retry=reply.retry, detail=detail)
        return _outcomes(post, ok=True, detail={"channel": self.name, "parts": len(chunks)})

    async def _post(self, url: httpx.URL, body: dict[str, Any]) -> tuple[Reply, bool]:
        """POST one message; returns the classified reply and whether it may have arrived despite no answer."""
        content = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            response = await self.client.post(url, content=content, headers=headers, timeout=self.timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            return Reply(False, f"{self.name}: cannot connect: {err!r}", retry=True), False
        except httpx.HTTPError as err:
            return Reply(False, f"{self.name}: no answer: {err!r}", retry=True), True
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            reply = self.classify(data)
            if reply.ok or reply.code is not None:
                return reply, False
        status = response.status_code
        snippet = response.text[:200]
        if status == 429 or status >= 500:
            return Reply(False, f"{self.name}: HTTP {status}: {snippet}", retry=True), status >= 500
        return Reply(False, f"{self.name}: HTTP {status}: {snippet}"), False


def _outcomes(
    post: ChatPost, *, ok: bool, error: str | None = None, retry: bool = False, detail: dict[str, Any]
) -> list[SendOutcome]:
    return [SendOutcome(key=key, ok=ok, error=error, retry=retry, detail=dict(detail)) for key in post.keys]


def make_channel(
    name: str,
    url: str,
    client: httpx.AsyncClient,
    *,
    secret: str | None = None,
    limiter: RateLimiter | None = None,
    max_wait: float | None = 120.0,
) -> WebhookChannel:
    """The channel for a platform name ("wecom", "dingtalk", "feishu"), as the settings name them."""
    from notify.chat.dingtalk import DingTalkChannel
    from notify.chat.feishu import FeishuChannel
    from notify.chat.wecom import WeComChannel

    classes: dict[str, type[WebhookChannel]] = {
        "wecom": WeComChannel,
        "dingtalk": DingTalkChannel,
        "feishu": FeishuChannel,
    }
    if name not in classes:
        raise ValueError(f"unknown chat channel {name!r}; expected one of {', '.join(CHAT_CHANNELS)}")
    return classes[name](url, client, secret=secret, limiter=limiter, max_wait=max_wait)
