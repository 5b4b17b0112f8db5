"""What every CRM API source shares: one HTTP request retried with exponential backoff while the server says
"later" (429, or a 5xx), honouring its ``Retry-After``; a network failure on the last try is an outage
(``TryLater``, exit code 5). Each source module (zoho_api, fxiaoke_api) reads its own platform's answers.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from domain.text import Text, tr
from services.errors import TryLater

if TYPE_CHECKING:
    from services.imports.issues import Issues
    from services.imports.records import RecordSet

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class PullResult:
    """What a pull read: the names its issues use for each part (``Zoho CRM API Accounts``), the records, and the
    problems found while reading them (validated and written by services.imports.crm as an export is)."""

    names: list[str]
    records: RecordSet
    issues: Issues
    notes: list[Text] = field(default_factory=list)
    """What the pull did (records per module, API credits spent), shown with the preview."""


@dataclass(frozen=True)
class Backoff:
    """How stubbornly a request is retried: ``attempts`` tries in all, waits doubling from ``first_s`` up to
    ``max_s`` (a ``Retry-After`` longer than ``max_s`` is cut to it: a pull should fail plainly, not hang)."""

    attempts: int = 5
    first_s: float = 1.0
    max_s: float = 60.0

    def wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_s)
        return min(self.first_s * 2 ** attempt, self.max_s) * (0.5 + random.random() / 2)  # noqa: S311 - jitter


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number or an HTTP date (RFC 9110); None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


async def send(client: httpx.AsyncClient, build: Callable[[], Awaitable[httpx.Request] | httpx.Request],
               service: str, backoff: Backoff = Backoff(),
               sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> httpx.Response:
    """Send the request ``build`` makes (called again per try, so a refreshed token is used), retrying on 429
    and 5xx; returns the last response (the caller reads its platform's error), or raises TryLater when the
    server could not be reached at all."""
    for attempt in range(backoff.attempts):
        request = build()
        if not isinstance(request, httpx.Request):
            request = await request
        try:
            response = await client.send(request)
        except httpx.TransportError as err:
            if attempt + 1 >= backoff.attempts:
                raise TryLater(tr("cannot reach %(service)s: %(reason)s", service=service,
                                  reason=str(err) or type(err).__name__)) from None
            await sleep(backoff.wait(attempt, None))
            continue
        if response.status_code not in RETRY_STATUSES or attempt + 1 >= backoff.attempts:
            return response
        await response.aread()
        await sleep(backoff.wait(attempt, retry_after(response)))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
