"""Computing and writing a cycle's payout lines at scale.

The calculation is pure and CPU-bound, so it runs in worker processes (off the activity event
loop, on every core) in chunks, each chunk rendered straight into PostgreSQL's COPY text format;
the activity streams the chunks into one COPY while the next ones are still being computed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import date

from activities.base import dumps
from domain.errors import DomainError
from domain.incentives import IncentiveInput, IncentivePlan, PayoutLine, compute_payouts

PAYOUT_COLUMNS = (
    "idempotency_key", "cycle_id", "employee_id", "line_type", "amount", "currency", "period",
    "plan_id", "plan_version", "revision", "explanation", "inputs", "status",
)
CHUNK = 2000
PARALLEL_MIN = int(os.environ.get("KAMREVIEW_PARALLEL_PAYOUTS_MIN", "5000"))
_pool: Executor | None = None
_plans: dict[str, IncentivePlan] = {}


def _field(value: object) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    # str.translate is a per-character slow path on non-ASCII text (every explanation has × and →):
    # ~50 µs per explanation; most fields need no escaping at all.
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def encode_copy_rows(lines: Sequence[PayoutLine], cycle_id: str, period: str, revision: int) -> bytes:
    """Lines as COPY text rows in PAYOUT_COLUMNS order (tabs, newlines and backslashes escaped)."""
    out = []
    for line in lines:
        out.append("\t".join(_field(v) for v in (
            line.idempotency_key, cycle_id, line.employee_id, line.line_type, line.amount, line.currency,
            period, line.plan_id, line.plan_version, revision, line.explanation, dumps(line.inputs), "computed",
        )))
    return ("\n".join(out) + "\n").encode() if out else b""


def compute_chunk(plan_json: str, period_start: date, period_end: date, cycle_id: str, period: str,
                  inputs: list[IncentiveInput]) -> tuple[bytes, int, str | None]:
    """One chunk, in a worker process: (COPY rows, line count, error message or None)."""
    plan = _plans.get(plan_json)
    if plan is None:
        plan = _plans[plan_json] = IncentivePlan.model_validate_json(plan_json)
    try:
        lines = compute_payouts(plan, period_start, period_end, cycle_id, inputs)
    except DomainError as err:
        return b"", 0, str(err)
    return encode_copy_rows(lines, cycle_id, period, 0), len(lines), None


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
        _pool = ProcessPoolExecutor(max_workers=os.cpu_count() or 2, mp_context=multiprocessing.get_context("spawn"))
    return _pool


async def copy_first_lines(cur, plan: IncentivePlan, period_start: date, period_end: date, period: str,
                           cycle_id: str, inputs: list[IncentiveInput],
                           progress: Callable[[str], None] | None = None) -> tuple[int, str | None]:
    """COPY a cycle's first payout lines straight into payout_line; (lines written, error or None).

    Only for a cycle without any line yet (same transaction decides), so plain COPY cannot collide;
    a DomainError in any chunk is returned and the caller rolls the transaction back.
    """
    loop = asyncio.get_running_loop()
    executor = _executor(len(inputs))
    plan_json = plan.model_dump_json()
    # compute_payouts refuses duplicates within a chunk; across chunks they are caught here.
    seen: set[str] = set()
    for inp in inputs:
        if inp.employee_id in seen:
            return 0, f"employee {inp.employee_id!r} appears twice"
        seen.add(inp.employee_id)
    futures = [
        loop.run_in_executor(executor, compute_chunk, plan_json, period_start, period_end, cycle_id, period,
                             inputs[i:i + CHUNK])
        for i in range(0, len(inputs), CHUNK)
    ]
    written = 0
    try:
        async with cur.copy(f"COPY payout_line ({', '.join(PAYOUT_COLUMNS)}) FROM STDIN") as copy:
            for n, future in enumerate(futures):
                data, count, error = await future
                if error is not None:
                    raise _ChunkFailed(error)
                await copy.write(data)
                written += count
                if progress:
                    progress(f"{min((n + 1) * CHUNK, len(inputs))}/{len(inputs)} employees")
    except _ChunkFailed as failed:
        for future in futures:
            future.cancel()
        return 0, failed.message
    return written, None


class _ChunkFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
