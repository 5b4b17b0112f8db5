"""Computing and writing a cycle's payout lines at scale.

The calculation is pure and CPU-bound, so it runs in worker processes (off the activity event
loop, on every core) in chunks, each chunk rendered straight into PostgreSQL's COPY text format;
the activity streams the chunks into one COPY while the next ones are still being computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import date
from typing import Any

import psycopg

from activities.base import json_default
from domain.errors import DomainError
from domain.incentives import IncentiveInput, IncentivePlan, PayoutLine, compute_payouts, pack_inputs, unpack_inputs

PAYOUT_COLUMNS = (
    "idempotency_key", "cycle_id", "employee_id", "line_type", "amount", "currency", "period",
    "plan_id", "plan_version", "revision", "explanation", "inputs", "status",
)
CHUNK = 2000
_COPY = f"COPY payout_line ({', '.join(PAYOUT_COLUMNS)}) FROM STDIN"
PARALLEL_MIN = int(os.environ.get("KAMREVIEW_PARALLEL_PAYOUTS_MIN", "5000"))
AHEAD = 2  # computed chunks that may wait for the COPY, besides the ones being computed
_pool: Executor | None = None
_pool_size = os.cpu_count() or 2
_plans: dict[str, IncentivePlan] = {}
#: activities.base.dumps without building a JSONEncoder per call (json.dumps does, for non-default options):
#: the same options, so the same text. A line's inputs are plain trees (dicts, lists, strings, numbers)
#: that compute_payouts has just built, never cyclic, so the circular-reference bookkeeping is skipped.
_JSON = json.JSONEncoder(default=json_default, ensure_ascii=False, sort_keys=True, check_circular=False)
_in_pool_process = False  # set by _init_pool_process in copy_first_lines' worker processes


def _field(value: object) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    # str.translate is a per-character slow path on non-ASCII text (every explanation has × and →):
    # ~50 µs per explanation; most fields need no escaping at all.
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


_string = json.encoder.encode_basestring  # what _JSON writes a str as (ensure_ascii=False)


def _inputs_json(inputs: object) -> str:
    """``_JSON.encode(inputs)``; a flat dict of strings (a deal line's inputs) written directly, in half the time."""
    if type(inputs) is dict:
        try:
            keys = sorted(inputs)
        except TypeError:  # keys json would refuse to sort
            keys = None
        if keys is not None:
            parts = []
            for k in keys:
                v = inputs[k]
                if type(k) is not str or type(v) is not str:
                    break
                parts.append(f"{_string(k)}: {_string(v)}")
            else:
                return "{" + ", ".join(parts) + "}"
    return _JSON.encode(inputs)


def encode_copy_rows(lines: Sequence[PayoutLine], cycle_id: str, period: str, revision: int) -> bytes:
    """Lines as COPY text rows in PAYOUT_COLUMNS order (tabs, newlines and backslashes escaped)."""
    # The columns that are the same on every row are escaped once; amount, plan_version and revision
    # (a Decimal and two ints) never need escaping. Each row is encoded in three parts: an explanation
    # (× and →) makes a str two bytes per character, and encoding that form to UTF-8 is several times
    # slower than encoding ASCII, so the mostly-ASCII columns and the JSON are kept out of it.
    cycle, period_text, revision_text = _field(cycle_id), _field(period), str(revision)
    encode = _inputs_json
    return b"".join([
        f"{_field(line.idempotency_key)}\t{cycle}\t{_field(line.employee_id)}\t{_field(line.line_type)}\t"
        f"{str(line.amount)}\t{_field(line.currency)}\t{period_text}\t{_field(line.plan_id)}\t{str(line.plan_version)}\t"
        f"{revision_text}\t".encode()
        + _field(line.explanation).encode() + b"\t" + _field(encode(line.inputs)).encode() + b"\tcomputed\n"
        for line in lines
    ])


def compute_chunk(plan_json: str, period_start: date, period_end: date, cycle_id: str, period: str,
                  inputs: list[IncentiveInput]) -> tuple[bytes, int, str | None]:
    """One chunk, in a worker process: (COPY rows, line count, error message or None)."""
    plan = _plans.get(plan_json)
    if plan is None:
        plan = _plans[plan_json] = IncentivePlan.model_validate_json(plan_json)
    with paused_gc():
        try:
            lines = compute_payouts(plan, period_start, period_end, cycle_id, inputs)
            return encode_copy_rows(lines, cycle_id, period, 0), len(lines), None
        except DomainError as err:
            return b"", 0, str(err)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for one chunk, in copy_first_lines' worker processes only.

    A chunk allocates tens of thousands of small acyclic objects (lines, their dicts, Decimals), all freed by
    reference counting; the cyclic collector would only rescan them, a sixth of the chunk's time (more than half
    of a sales chunk's, whose deals and credits are many more objects). A worker process runs nothing else, so it
    pauses the collector for the chunk (a thread in the activity worker never does: the collector is process-wide).
    """
    pause = _in_pool_process and gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause:
            gc.enable()


def _init_pool_process() -> None:
    """Runs first in each of copy_first_lines' worker processes: marks the process as one that only computes."""
    global _in_pool_process
    _in_pool_process = True


def shutdown_pool() -> None:
    """Stop the worker processes (before a process ends with os._exit, which would orphan them)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _executor(n_inputs: int) -> Executor | None:
    global _pool
    if n_inputs < PARALLEL_MIN:
        return None  # the default thread: small cycles do not pay for starting processes
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=_pool_size, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_init_pool_process)
    return _pool


async def copy_first_lines(cur, plan: IncentivePlan, period_start: date, period_end: date, period: str,
                           cycle_id: str, inputs: list[IncentiveInput],
                           progress: Callable[[str], None] | None = None) -> tuple[int, str | None]:
    """COPY a cycle's first payout lines straight into payout_line; (lines written, error or None).

    Only for a cycle without any line yet (same transaction decides), so plain COPY cannot collide;
    a DomainError in any chunk is returned and the caller rolls the transaction back.
    """
    executor = _executor(len(inputs))
    plan_json = plan.model_dump_json()
    if twice := repeated_employee(inputs):
        return 0, twice

    def chunk_job(start: int) -> tuple[Callable[..., tuple[bytes, int, Any]], tuple[Any, ...]]:
        chunk = inputs[start:start + CHUNK]
        return compute_chunk, (plan_json, period_start, period_end, cycle_id, period,
                               chunk if executor is None else _SentInputs(chunk))

    return await stream_chunks(cur, executor, len(inputs), chunk_job, progress)


def repeated_employee(inputs: Sequence[IncentiveInput]) -> str | None:
    """compute_payouts refuses duplicates within a chunk; across the chunks of a streamed COPY they are caught here."""
    seen: set[str] = set()
    for inp in inputs:
        if inp.employee_id in seen:
            return f"employee {inp.employee_id!r} appears twice"
        seen.add(inp.employee_id)
    return None


async def stream_chunks(cur, executor: Executor | None, n_inputs: int,
                        chunk_job: Callable[[int], tuple[Callable[..., tuple[bytes, int, Any]], tuple[Any, ...]]],
                        progress: Callable[[str], None] | None = None,
                        read: Callable[[int], Awaitable[None]] | None = None) -> tuple[int, Any]:
    """Chunks of CHUNK people computed on ``executor`` and streamed, in order, into one COPY into payout_line;
    (lines written, None) or (0, the first chunk's error). ``chunk_job(start)`` gives the function and arguments
    that compute the chunk starting there and return (COPY rows, line count, error or None).

    ``read(start)``, when given, is awaited before ``chunk_job(start)``: it reads what the chunk needs on the same
    connection (a cursor's FETCH), so each chunk then goes into payout_line by a COPY statement of its own, the
    reads between them, in the same transaction (the same rows as one COPY)."""
    loop = asyncio.get_running_loop()
    starts = iter(range(0, n_inputs, CHUNK))
    pending: deque[asyncio.Future[tuple[bytes, int, Any]]] = deque()

    async def submit_next() -> None:
        start = next(starts, None)
        if start is not None:
            if read is not None:
                await read(start)
            fn, args = chunk_job(start)
            pending.append(loop.run_in_executor(executor, fn, *args))

    # Computing runs at most AHEAD chunks ahead of the COPY, so the rows waiting here for PostgreSQL stay a few
    # chunks (about 2 KB per employee) instead of the whole cycle's, and nothing more is computed after an error.
    written = done = 0
    try:
        for _ in range(_workers(executor) + AHEAD):
            await submit_next()
        if read is not None:
            return await _copy_each(cur, pending, submit_next, n_inputs, progress)
        async with cur.copy(_COPY) as copy:
            while pending:
                data, count, error = await pending.popleft()
                if error is not None:
                    raise _ChunkFailed(error)  # aborts the COPY
                await submit_next()  # before writing, so a worker computes while PostgreSQL takes this chunk
                await copy.write(data)
                written += count
                done += CHUNK
                if progress:
                    progress(f"{min(done, n_inputs)}/{n_inputs} employees")
    except _ChunkFailed as failed:
        return 0, failed.message
    finally:
        for future in pending:  # after an error: nothing more is computed for this transaction
            future.cancel()
    return written, None


async def _copy_each(cur, pending: deque[asyncio.Future[tuple[bytes, int, Any]]],
                     submit_next: Callable[[], Awaitable[None]], n_inputs: int,
                     progress: Callable[[str], None] | None) -> tuple[int, Any]:
    """stream_chunks with reads between the chunks: each chunk's rows in a COPY statement of its own, and the next
    chunk read and submitted before it, so the workers compute while PostgreSQL takes this chunk. Under a savepoint:
    after an error nothing is written, as when one COPY is aborted, and the transaction stays usable."""
    written = done = 0
    failed: list[Any] = []
    async with cur.connection.transaction():
        while pending:
            data, count, error = await pending.popleft()
            if error is not None:
                failed.append(error)
                raise psycopg.Rollback()  # to the savepoint: the chunks written so far are undone
            await submit_next()
            async with cur.copy(_COPY) as copy:
                await copy.write(data)
            written += count
            done += CHUNK
            if progress:
                progress(f"{min(done, n_inputs)}/{n_inputs} employees")
    return (0, failed[0]) if failed else (written, None)


def _workers(executor: Executor | None) -> int:
    """How many chunks the executor computes at once."""
    return _pool_size if executor is not None and executor is _pool else 1


class _ChunkFailed(Exception):
    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message


class _SentInputs:
    """A chunk of validated inputs on its way to a worker process, where it arrives as a list of IncentiveInput.

    It pickles as one flat list of atoms (domain.incentives.pack_inputs): a third of the cost of pickling the
    models, and no per-input containers for the garbage collector of the activity's process, whose heap can
    be large (a full collection there stalls the event loop that feeds the COPY). The worker rebuilds the
    models without validating them again. Packing happens while pickling, in the executor's feeder thread.
    """

    __slots__ = ("inputs",)

    def __init__(self, inputs: list[IncentiveInput]) -> None:
        self.inputs = inputs

    def __reduce__(self) -> tuple[Callable[[list], list[IncentiveInput]], tuple[list]]:
        return unpack_inputs, (pack_inputs(self.inputs),)
