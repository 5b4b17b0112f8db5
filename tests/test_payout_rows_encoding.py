"""The streamed COPY rows (activities.payout_rows) are byte for byte the straightforward encoding of the lines,
and copy_first_lines streams every chunk in order, a bounded number ahead, and aborts on the first error.

No database here: the COPY is a stand-in that records what it is given (tests/test_payout_rows.py runs the
real one against PostgreSQL).
"""

from __future__ import annotations

import asyncio
import pickle
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from activities import payout_rows
from activities.base import dumps
from domain.incentives import IncentiveInput, IncentivePlan, compute_payouts
from tests.domain.test_incentives_reference import PERIODS, PLANS, _inputs


def _reference_rows(lines: list[Any], cycle_id: str, period: str, revision: int) -> bytes:
    """encode_copy_rows as first written: every column through str and the COPY escapes, JSON through dumps."""
    def field(value: object) -> str:
        if value is None:
            return "\\N"
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    out = ["\t".join(field(v) for v in (
        line.idempotency_key, cycle_id, line.employee_id, line.line_type, line.amount, line.currency, period,
        line.plan_id, line.plan_version, revision, line.explanation, dumps(line.inputs), "computed",
    )) for line in lines]
    return ("\n".join(out) + "\n").encode() if out else b""


@pytest.mark.parametrize("name", sorted(PLANS))
def test_rows_equal_the_straightforward_encoding(name: str) -> None:
    plan = IncentivePlan.model_validate(PLANS[name])
    lines = compute_payouts(plan, *PERIODS[0], "C\t1\\x", _inputs(random.Random(name), 120, 2026, faults=False))
    for cycle_id, period, revision in (("C\t1\\x", "2026-Q3", 0), ("C", "Q\n3\r", 7)):
        assert payout_rows.encode_copy_rows(lines, cycle_id, period, revision) == _reference_rows(lines, cycle_id, period,
                                                                                                 revision)
    assert payout_rows.encode_copy_rows([], "C", "Q", 0) == b""


def test_json_is_activities_base_dumps() -> None:
    values = [{"b": Decimal("1.50"), "a": [date(2026, 1, 2), {"z": None, "é": "x\"\\\n\t→"}], "n": 3, "f": 0.5, "t": True},
              {"steps": ["0–10000: 10000 × 1 % = 100"], "tiers": [{"from": "0", "rate": "0.01"}]}]
    for value in values:
        assert payout_rows._JSON.encode(value) == dumps(value)


def test_sent_inputs_arrive_as_the_same_models() -> None:
    inputs = _inputs(random.Random(11), 30, 2026, faults=False)
    assert pickle.loads(pickle.dumps(payout_rows._SentInputs(inputs))) == inputs


class _Copy:
    def __init__(self, sink: list[bytes]) -> None:
        self.sink = sink

    async def write(self, data: bytes) -> None:
        await asyncio.sleep(0)
        self.sink.append(data)


class _Cursor:
    """Records the COPY statement, the data written, and whether the COPY ended normally or was aborted."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.outcome: str | None = None

    @asynccontextmanager
    async def copy(self, statement: str) -> AsyncIterator[_Copy]:
        assert statement.startswith("COPY payout_line (idempotency_key, cycle_id,")
        try:
            yield _Copy(self.data)
        except BaseException:
            self.outcome = "aborted"
            raise
        self.outcome = "finished"


async def test_streams_every_chunk_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payout_rows, "CHUNK", 7)
    monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 10**9)  # threads: the same code path, without processes
    plan = IncentivePlan.model_validate(PLANS["demo-like"])
    inputs = _inputs(random.Random(4), 100, 2026, faults=False)
    inputs = [inp.model_copy(update={"employee_id": f"E{i}"}) for i, inp in enumerate(inputs)]
    cur = _Cursor()
    progress: list[str] = []
    written, error = await payout_rows.copy_first_lines(cur, plan, *PERIODS[0], "2026-Q3", "C", inputs, progress.append)
    assert error is None and cur.outcome == "finished"
    lines = compute_payouts(plan, *PERIODS[0], "C", inputs)
    assert written == len(lines) and b"".join(cur.data) == _reference_rows(lines, "C", "2026-Q3", 0)
    assert len(cur.data) == 15 and progress[-1] == "100/100 employees"


async def test_computes_a_bounded_number_of_chunks_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payout_rows, "CHUNK", 3)
    monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 10**9)
    started: list[int] = []
    real = payout_rows.compute_chunk
    monkeypatch.setattr(payout_rows, "compute_chunk", lambda *args: started.append(1) or real(*args))
    plan = IncentivePlan.model_validate(PLANS["demo-like"])
    inputs = [inp.model_copy(update={"employee_id": f"E{i}"})
              for i, inp in enumerate(_inputs(random.Random(5), 60, 2026, faults=False))]
    cur = _Cursor()

    class Watching(_Copy):
        async def write(self, data: bytes) -> None:
            # when chunk k is written, at most 1 (thread) + AHEAD chunks after it have been submitted
            assert len(started) <= len(cur.data) + 1 + 1 + payout_rows.AHEAD
            await super().write(data)

    @asynccontextmanager
    async def copy(statement: str) -> AsyncIterator[_Copy]:
        yield Watching(cur.data)

    cur.copy = copy  # type: ignore[method-assign]
    written, error = await payout_rows.copy_first_lines(cur, plan, *PERIODS[0], "Q", "C", inputs)
    assert error is None and len(cur.data) == 20 and len(started) == 20


async def test_first_failing_chunk_aborts_the_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payout_rows, "CHUNK", 5)
    monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 10**9)
    plan = IncentivePlan.model_validate(PLANS["demo-like"])
    inputs = [inp.model_copy(update={"employee_id": f"E{i}"})
              for i, inp in enumerate(_inputs(random.Random(6), 60, 2026, faults=False))]
    inputs[23] = inputs[23].model_copy(update={"attainment": {}})
    inputs[48] = inputs[48].model_copy(update={"grade": None})
    cur = _Cursor()
    written, error = await payout_rows.copy_first_lines(cur, plan, *PERIODS[0], "Q", "C", inputs)
    assert (written, cur.outcome) == (0, "aborted")
    assert error == "inputs.3.attainment.sales_attainment: employee 'E23' has no attainment for measure 'sales_attainment'"
    assert len(cur.data) == 4  # the chunks before the failing one; nothing after it


async def test_duplicates_across_chunks_are_refused_before_any_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payout_rows, "CHUNK", 2)
    plan = IncentivePlan.model_validate(PLANS["demo-like"])
    inputs = _inputs(random.Random(7), 5, 2026, faults=False)
    inputs = [inp.model_copy(update={"employee_id": f"E{i % 4}"}) for i, inp in enumerate(inputs)]
    cur = _Cursor()
    assert await payout_rows.copy_first_lines(cur, plan, *PERIODS[0], "Q", "C", inputs) == (0, "employee 'E0' appears twice")
    assert cur.outcome is None


def test_a_pool_process_pauses_the_collector_only_for_the_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    plan = IncentivePlan.model_validate(PLANS["demo-like"])
    inputs: list[IncentiveInput] = _inputs(random.Random(8), 3, 2026, faults=False)
    seen: list[bool] = []
    real = payout_rows.compute_payouts
    monkeypatch.setattr(payout_rows, "compute_payouts", lambda *a: seen.append(gc.isenabled()) or real(*a))
    payout_rows.compute_chunk(plan.model_dump_json(), *PERIODS[0], "C", "Q", inputs)
    monkeypatch.setattr(payout_rows, "_in_pool_process", True)
    payout_rows.compute_chunk(plan.model_dump_json(), *PERIODS[0], "C", "Q", inputs)
    assert seen == [True, False] and gc.isenabled()
