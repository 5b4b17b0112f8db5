"""The worker as a function: all workflows and activities on one task queue, one DB pool per process.

``worker.py`` runs it as a process; the demo, the tests, the benchmarks and the web process in the
embedded default run it in their own event loop. Kept in services so that neither services nor the
web app import ``worker.py``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import AsyncIterator, Iterable
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.base import RefuseUnfixableErrors
from activities.cycle import CycleActivities
from activities.delivery import DeliveryActivities, DeliverySetup
from activities.payout_rows import shutdown_pool
from activities.reopened import ReopenedActivities
from activities.reviews import ReviewActivities
from services.db import libpq_url
from services.observability import CountRefusals, quiet_refusals
from services.settings import Settings, get_settings
from workflows.correction import IncentiveCorrectionWorkflow
from workflows.crm_sync import CrmSyncWorkflow
from workflows.cycle import CycleWorkflow
from workflows.delivery import DeliveryWorkflow
from workflows.reopened import ReopenedReviewWorkflow
from workflows.review import ReviewWorkflow
from workflows.schedule import ScheduledCycleWorkflow

WORKFLOWS = [CycleWorkflow, ReviewWorkflow, IncentiveCorrectionWorkflow, DeliveryWorkflow, ScheduledCycleWorkflow,
             CrmSyncWorkflow, ReopenedReviewWorkflow]


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """Loads a workflow module's code once per process; every later (sandboxed) import executes the same code object.

    The workflow sandbox imports a workflow's module afresh for every run, which is what isolates runs: new module
    globals, a new class, new function objects. Reading that module's code again is not part of the isolation (code
    objects are immutable), yet it cost each review about 2.5 ms of CPU to compile where no bytecode is cached
    (PYTHONDONTWRITEBYTECODE, a source checkout) and a private copy of every code object, ~53 KiB, in each of the
    worker's cached workflows (bench/cycle_bench.py; 10,000 open reviews: about 0.5 GB).
    """

    _codes: dict[str, types.CodeType] = {}  # by file path; the code as the process first read it

    def get_code(self, fullname: str) -> types.CodeType:
        code = self._codes.get(self.path)
        if code is None:
            code = self._codes.setdefault(self.path, super().get_code(fullname))  # type: ignore[arg-type]
        return code


class _SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the named modules as the path finder does, with a loader that shares their code objects."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)  # type: ignore[arg-type]
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader and spec.origin:
            spec.loader = _SharedCodeLoader(fullname, spec.origin)
        return spec


def share_workflow_code(workflows: Iterable[type] = WORKFLOWS) -> None:
    """Make the sandbox's per-run imports of these workflows' modules (and their packages) reuse one code object each.

    Idempotent; a sandboxed worker (``workflow_runner`` with ``KAMREVIEW_WORKER_SANDBOX=true``) and the cycle bench's
    floor call it before they start. A worker outside the sandbox imports each module once and needs none of it.
    """
    names: set[str] = set()
    for cls in workflows:
        parts = cls.__module__.split(".")
        names |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    names -= {f for finder in sys.meta_path if isinstance(finder, _SharedCodeFinder) for f in finder.names}
    if names:
        sys.meta_path.insert(0, _SharedCodeFinder(names))


_HEAP_FROZEN: list[bool] = []


def freeze_startup_heap() -> None:
    """Once per process, when its first worker has been built: what is alive then (modules, the SDK, the workflow
    code, compiled templates) leaves the cyclic collector's generations for good (``gc.freeze``, after one
    collection so no garbage is kept). Those objects live as long as the process; left in the oldest generation,
    every full collection rescans all of them while the event loop waits — in the notify benchmark one such
    collection took 0.5 s in a 16 s run of 4,000 e-mails, every SMTP connection standing still (bench/README.md).
    """
    if not _HEAP_FROZEN:
        _HEAP_FROZEN.append(True)
        gc.collect()
        gc.freeze()


def delivery_setup(settings: Settings) -> DeliverySetup:
    """The channels from the settings: SMTP when a host is set, else a Maildir under the data directory."""
    from notify.channels import chat_couriers, chat_group_couriers, mail_courier
    from notify.render import render

    return DeliverySetup(
        mail=mail_courier(settings.mail, settings.data_path / "mail"), chat=chat_couriers(settings.chat),
        chat_groups=chat_group_couriers(settings.chat),
        render=render, base_url=settings.web.base_url(), retry_after_s=settings.delivery.retry_after_s,
        max_attempts=settings.delivery.max_attempts, senders=settings.delivery.connections,
        mark_batch=settings.delivery.mark_batch,
        company=settings.mail.company_name,
    )


def activities_for(pool: AsyncConnectionPool, setup: DeliverySetup | None = None, database_url: str = "") -> list:
    reviews, cycle, reopened = ReviewActivities(pool), CycleActivities(pool), ReopenedActivities(pool)
    delivery = DeliveryActivities(pool, setup or delivery_setup(get_settings()))
    from services.crm_sync import CrmSyncActivities  # shells over the service layer, which imports much
    from services.schedules import ScheduleActivities

    return [
        reviews.begin_cycle, reviews.start_review_batch, reviews.announce_cycle, reviews.await_reviews_closed,
        reviews.cancel_cycle, reviews.record_submission, reviews.record_phase_event,
        reviews.reassign_reviewer, reviews.close_review, reviews.add_review, reviews.end_review,
        reviews.withdraw_invitations, reviews.add_invitations, reviews.reopen_task, reviews.record_peer_step,
        cycle.open_calibration, cycle.adjust_rating, cycle.finalize_calibration, cycle.compute_incentives,
        cycle.lock_payouts, delivery.deliver_batch, ScheduleActivities(pool).open_scheduled_cycle,
        CrmSyncActivities(database_url).sync_crm, reopened.reopen_closed_task, reopened.rescore_reopened,
    ]


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """How the worker runs workflow code: directly, unless ``KAMREVIEW_WORKER_SANDBOX`` asks for the SDK's sandbox.

    The sandbox imports a workflow's module afresh for every run and wraps each activation in its import and
    restriction machinery: about a tenth of the CPU of a cycle's review (bench/README.md, session 24). What it
    guards against is workflow code that is not deterministic (the clock, randomness, I/O, module state shared by
    runs); that is checked where it can be fixed: the workflow tests and the replay of every committed history run
    the same workflows in the sandbox, and fail on such code before it is merged.
    """
    if settings.worker.sandbox:
        share_workflow_code()
        return SandboxedWorkflowRunner()
    return UnsandboxedWorkflowRunner()


def worker_tuning(settings: Settings, pool_size: int) -> dict[str, Any]:
    """The Worker's concurrency arguments from the settings (KAMREVIEW_WORKER_*, the workflow cache); the SDK's own
    default for what is unset. The cycle bench's floor worker takes the same, so the two are measured alike."""
    w = settings.worker
    tuning: dict[str, Any] = {
        "max_cached_workflows": settings.workflow_cache_size,
        "max_concurrent_activities": w.activities or max(pool_size * 2, 20),
        "nonsticky_to_sticky_poll_ratio": w.nonsticky_poll_ratio,
    }
    if w.workflow_tasks:
        tuning["max_concurrent_workflow_tasks"] = w.workflow_tasks
    if w.local_activities:
        tuning["max_concurrent_local_activities"] = w.local_activities
    if w.workflow_task_pollers:
        tuning["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(w.workflow_task_pollers)
    if w.activity_task_pollers:
        tuning["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(w.activity_task_pollers)
    return tuning


@contextlib.asynccontextmanager
async def running_worker(client: Client, database_url: str, task_queue: str, pool_size: int = 10,
                         setup: DeliverySetup | None = None) -> AsyncIterator[Worker]:
    """A worker with its pool, for as long as the context is open (used by tests, demo and bench).

    ``setup``: how messages are delivered; by default from the settings (a Maildir in the embedded default).
    """
    # Autocommit: a single-statement activity is one round trip; several statements take conn.transaction().
    pool = AsyncConnectionPool(libpq_url(database_url), min_size=1, max_size=pool_size, open=False,
                               kwargs={"autocommit": True})
    await pool.open(wait=True)
    quiet_refusals()  # a refused activity or Update is logged in one line, never with a traceback
    settings = get_settings()
    try:
        worker = Worker(
            client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities_for(pool, setup, database_url),
            interceptors=[CountRefusals(), RefuseUnfixableErrors()], workflow_runner=workflow_runner(settings),
            **worker_tuning(settings, pool_size),
        )
        freeze_startup_heap()
        async with worker:
            yield worker
    finally:
        await pool.close()
        shutdown_pool()  # the incentive calculation's worker processes, if any were started


@contextlib.asynccontextmanager
async def embedded_worker(settings: Settings, client: Client, database_url: str) -> AsyncIterator[Worker | None]:
    """The web process's worker: in the embedded default only; a configured Temporal has workers of its own."""
    if settings.temporal_address:
        yield None
        return
    async with running_worker(client, database_url, settings.task_queue, settings.db_pool_size) as worker:
        yield worker
