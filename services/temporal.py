"""Connecting to Temporal with the data converter every process must share."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from temporalio.client import Client, Interceptor, WorkflowHandle, WorkflowQueryFailedError
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from domain.text import tr
from services.errors import TryLater

log = logging.getLogger(__name__)

# One TypeAdapter per payload type for the whole process. The stock pydantic converter caches them per
# converter instance, and the workflow sandbox makes a new converter for every workflow run, so every
# review run rebuilt the schemas of ReviewInput & co. (bench/: ~13 ms of CPU per review).
_ADAPTERS = functools.lru_cache(maxsize=1024)(TypeAdapter)


class _SharedAdaptersPydanticJSON(PydanticJSONPlainPayloadConverter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._type_adapter = _ADAPTERS

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._type_adapter = _ADAPTERS


class KamPayloadConverter(CompositePayloadConverter):
    """The default converters, with pydantic JSON (dataclasses, pydantic models, Decimal, datetime)."""

    def __init__(self) -> None:
        json_converter = _SharedAdaptersPydanticJSON()
        super().__init__(
            *(json_converter if isinstance(c, JSONPlainPayloadConverter) else c
              for c in DefaultPayloadConverter.default_encoding_payload_converters)
        )


DATA_CONVERTER = dataclasses.replace(DataConverter.default, payload_converter_class=KamPayloadConverter)


async def connect_client(address: str, namespace: str = "default", wait_seconds: float = 30, *,
                         runtime: Runtime | None = None, interceptors: Sequence[Interceptor] = ()) -> Client:
    """Connect, waiting while a just-started server opens its port before its frontend is healthy.

    ``runtime``: the SDK runtime (its telemetry: Prometheus metrics), default the SDK's own; ``interceptors``: client
    interceptors (tracing), which a Worker built on this client uses too. Both from ``services.observability``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await Client.connect(address, namespace=namespace, data_converter=DATA_CONVERTER, runtime=runtime,
                                        interceptors=interceptors)
        except RuntimeError:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.5)


async def query_status(handle: WorkflowHandle[Any, Any], query: Any, *, patience_s: float = 0) -> Any:
    """A running workflow's live status; a query its worker failed to answer is a ``TryLater``.

    The worker fails a query when answering it took longer than the SDK's 2 s deadlock guard (a loaded machine)
    or its code cannot answer; asking again a moment later normally works, so the person is told that, not shown
    a 500; so is a query that got no answer in time (a wedged worker). Any other ``RPCError`` (no such workflow,
    server unreachable) passes through: each caller knows what it means. ``patience_s``: how long to keep asking
    (every half second) before giving up, for callers that wait anyway.
    """
    give_up_at = time.monotonic() + patience_s
    for asked in itertools.count():
        try:
            return await handle.query(query)
        except (WorkflowQueryFailedError, RPCError) as err:
            if isinstance(err, RPCError) and not timed_out(err):
                raise
            if asked == 0:  # one line per call, however often it asks again
                log.warning("workflow %s did not answer its status query: %s", handle.id, err)
            if time.monotonic() >= give_up_at:
                raise TryLater(tr("the live status could not be read just now; try again in a moment")) from None
        await asyncio.sleep(0.5)


def timed_out(err: RPCError) -> bool:
    """Whether the call got no answer in time: the server's deadline, or the client's own ("Timeout expired")."""
    return err.status == RPCStatusCode.DEADLINE_EXCEEDED or (
        err.status == RPCStatusCode.CANCELLED and "Timeout expired" in err.message)
