"""The worker as a function: all workflows and activities on one task queue, one DB pool per process.

``worker.py`` runs it as a process; the demo, the tests, the benchmarks and the web process in the
embedded default run it in their own event loop. Kept in services so that neither services nor the
web app import ``worker.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import Worker

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
    try:
        worker = Worker(
            client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities_for(pool, setup, database_url),
            max_concurrent_activities=max(pool_size * 2, 20), interceptors=[CountRefusals(), RefuseUnfixableErrors()],
            max_cached_workflows=get_settings().workflow_cache_size,
        )
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
