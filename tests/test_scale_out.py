"""Scale-out, end to end (the slow test): a deployment of several processes on this machine, no Docker.

One PostgreSQL and one Temporal dev server (the test run's), a migration run as its own process, two
``worker.py`` processes and two ``webapp.serve`` processes. A cycle of 200 participants (the cycle
benchmark's organisation) is created, started and submitted through both web processes, sessions
crossing between them (they are kept in PostgreSQL); half-way through the submissions one worker is
SIGKILLed and the other finishes the cycle. HR finalizes and payroll approves through the API, and the
payroll file equals the one a single process produces from the same inputs (the benchmark's engine run,
on another database, alongside: the two share the machine's two cores instead of taking turns).

``-m "not slow"`` leaves it out; it takes 60-100 s on two cores, depending on what else runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from bench.cycle_bench import COMPETENCIES, Org, bench_config, run_engine, seed_org, verify_engine
from services.db import APP_ROLE, url_with_user
from services.payroll import export_payroll_csv
from tests.conftest import new_database
from tests.helpers import count, eventually
from tests.scale_world import ROOT, Crowd, Proc, Session, add_users, listening_ports, open_sessions, run, sign_in, spawn
from workflows.payloads import cycle_workflow_id, review_id_for, review_workflow_id

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PARTICIPANTS = 200
TAG = "SO"  # employee ids SOK00000.., managers SOM0000.., HR SOHR, payroll SOPAY
STARTUP_S = 60  # four Python processes importing Temporal, FastAPI and SQLAlchemy on two busy cores
PHASE_S = 90  # a phase, including a killed worker's tasks timing out (10 s) and moving to the survivor


@pytest.fixture
def fresh_db(pg_admin_url: str):
    """An empty database (not the migrated template): the migration process creates the schema."""
    with new_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def procs():
    """Every process the test starts, killed (process group and all) however the test ends."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.stop()


class Marks(dict):
    """Seconds since the test started, by step: what the test's one line of output reports."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.monotonic()

    def __call__(self, name: str) -> None:
        self[name] = round(time.monotonic() - self.t0, 1)


async def pollers(client, task_queue: str) -> dict[str, set[str]]:
    """Who polls the task queue, per kind: the identities (pid@host) of the processes running a worker."""
    out = {}
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        r = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind))
        out[TaskQueueType.Name(kind)] = {p.identity for p in r.pollers}
    return out


def identity(proc: Proc) -> str:
    return f"{proc.pid}@{socket.gethostname()}"  # the Temporal SDK's default client (and worker) identity


async def workflow_task_identities(client, workflow_id: str) -> set[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return {e.workflow_task_completed_event_attributes.identity for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED}


async def single_process_csv(client, db_admin_url: str, db_url: str, cycle_id: str, out: Path) -> tuple[str, float]:
    """The same organisation and submissions in one process: the benchmark's engine run, then the export."""
    org = seed_org(db_admin_url, TAG, PARTICIPANTS)
    started = time.monotonic()
    await run_engine(client, db_url, cycle_id, org, f"kr-single-{uuid.uuid4().hex[:8]}", 16, 100, None, None)
    export_payroll_csv(db_url, cycle_id, out)
    return out.read_text(encoding="utf-8"), time.monotonic() - started


async def check_roles(client, task_queue: str, workers: list[Proc], webs: list[Proc], ports: list[int]) -> None:
    """The web processes run no worker (a Temporal address is configured); the workers serve no web."""
    expected = {identity(w) for w in workers}
    seen: list[dict[str, set[str]]] = []
    try:
        polling = await eventually(lambda: _if_equal(pollers(client, task_queue), expected, seen), timeout=60)
    except AssertionError:
        raise AssertionError(f"pollers {seen[-1:]} are not the workers {expected}") from None
    assert all(identity(w) not in ids for w in webs for ids in polling.values()), polling
    for web, port in zip(webs, ports, strict=True):
        assert listening_ports(web.pid) == {port}  # and the check does see a listening port
    for w in workers:
        assert listening_ports(w.pid) == set(), f"{w.name} listens on a port"


async def test_two_workers_two_webs_one_killed(client, fresh_db, db_admin_url, db_url, procs, tmp_path):
    mark = Marks()
    app_url = url_with_user(fresh_db, APP_ROLE)
    task_queue = f"kr-scale-{uuid.uuid4().hex[:8]}"
    env = {"KAMREVIEW_DATABASE_URL": app_url, "KAMREVIEW_TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "KAMREVIEW_TASK_QUEUE": task_queue, "KAMREVIEW_DATA_DIR": str(tmp_path / "data")}

    # The deploy step: migrate as the tables' owner, in a process of its own; the app processes get the app's role.
    out = run("migrate", [str(ROOT / "starter.py"), "migrate"], env | {"KAMREVIEW_DATABASE_ADMIN_URL": fresh_db}, tmp_path,
              timeout=STARTUP_S)
    assert "schema is up to date" in out
    mark("migrated")
    single_id = f"SINGLE-{uuid.uuid4().hex[:6]}"
    single = asyncio.create_task(single_process_csv(client, db_admin_url, db_url, single_id, tmp_path / "single.csv"))
    try:
        workers = [spawn(f"worker{i}", [str(ROOT / "worker.py")], env, tmp_path) for i in (1, 2)]
        webs = [spawn(f"web{i}", ["-m", "webapp.serve"], env | {"KAMREVIEW_WEB_HOST": "127.0.0.1",
                                                                "KAMREVIEW_WEB_PORT": "0"}, tmp_path) for i in (1, 2)]
        procs.extend(workers + webs)
        org = seed_org(fresh_db, TAG, PARTICIPANTS)
        add_users(fresh_db, org)
        for w in workers:
            await w.wait_for(r"worker running on task queue", STARTUP_S)
        urls = [await w.wait_for(r"kamreview is running: (http://127\.0\.0\.1:(\d+))/", STARTUP_S) for w in webs]
        mark("processes_ready")
        await check_roles(client, task_queue, workers, webs, [int(u.group(2)) for u in urls])

        cycle_id = f"SCALE-{uuid.uuid4().hex[:6]}"
        async with httpx.AsyncClient(base_url=urls[0].group(1), timeout=120) as a, \
                httpx.AsyncClient(base_url=urls[1].group(1), timeout=120) as b:
            stats, csv = await run_cycle([a, b], client, org, cycle_id, fresh_db, workers, mark)
        killed, survivor = workers
        assert survivor.popen.poll() is None, survivor.output()[-3000:]

        assert verify_engine(app_url, cycle_id, PARTICIPANTS)  # every review closed, task done, rating and line locked
        # Each submission applied once, whichever web process took it and whichever worker recorded it.
        assert count(app_url, "SELECT count(*) FROM self_review_answer") == PARTICIPANTS * len(COMPETENCIES)
        assert count(app_url, "SELECT count(*) FROM audit_log WHERE action = 'self_review.submitted'") == PARTICIPANTS
        assert count(app_url, "SELECT count(*) FROM survey_response") == PARTICIPANTS
        # Both workers worked, and reviews the killed one had worked on were finished by the survivor.
        sample = [review_workflow_id(review_id_for(cycle_id, k)) for k in org.kams]
        who = await asyncio.gather(*(workflow_task_identities(client, wid) for wid in sample))
        assert any(ids == {identity(killed), identity(survivor)} for ids in who), who
        mark("checked")

        single_csv, single_s = await asyncio.wait_for(single, PHASE_S * 2)
        mark("single_process_done")
    finally:
        if not single.done():
            single.cancel()
            with contextlib.suppress(BaseException):
                await single
    scale_lines = csv.replace(cycle_id, "<cycle>").splitlines()
    assert len(scale_lines) == 2 * PARTICIPANTS + 1  # the header, a bonus and a commission each
    assert scale_lines == single_csv.replace(single_id, "<cycle>").splitlines()
    print(f"\nscale-out: {dict(mark)} (s since the test started); submissions {stats}; "
          f"the single-process run alongside: {single_s:.1f} s")


async def run_cycle(web: list[httpx.AsyncClient], client, org: Org, cycle_id: str, admin_url: str,
                    workers: list[Proc], mark: Marks) -> tuple[dict[str, int], str]:
    """HR, payroll, managers, KAMs and customers on both web processes; a worker killed half-way through."""
    a, b = web
    # A sample signs in for real, each on one web process, and then works on the other.
    people = [f"{TAG}HR", f"{TAG}PAY", *org.managers[:2], *org.kams[:4]]
    signed_in: dict[str, Session] = dict(zip(people, await asyncio.gather(
        *(sign_in(web[i % 2], person) for i, person in enumerate(people))), strict=True))
    for w in web:
        w.cookies.clear()  # each request carries its person's cookie
    hr, pay = signed_in.pop(f"{TAG}HR"), signed_in.pop(f"{TAG}PAY")  # HR on web A, payroll on web B
    sessions = open_sessions(admin_url, [p for p in org.managers + org.kams if p not in signed_in]) | signed_in
    mark("signed_in")

    config = yaml.safe_dump(bench_config(cycle_id, org, 100).model_dump(mode="json"), allow_unicode=True)
    r = await a.post("/api/hr/cycles", json={"config_yaml": config}, headers=hr.headers())
    assert r.status_code == 201 and r.json()["participants"] == PARTICIPANTS, r.text
    r = await b.post(f"/api/hr/cycles/{cycle_id}/start", headers=hr.headers())  # HR's session from web A
    assert r.status_code == 200, r.text

    async def tasks_open() -> bool:
        return count(admin_url, "SELECT count(*) FROM task WHERE cycle_id = %s", cycle_id) == 3 * PARTICIPANTS

    await eventually(tasks_open, timeout=PHASE_S)
    r = await a.post(f"/api/hr/cycles/{cycle_id}/survey-links", json={}, headers=hr.headers())
    assert r.status_code == 200 and len(r.json()) == PARTICIPANTS, r.text
    links = {link["contact_id"]: link["url"].split("#", 1)[1] for link in r.json()}
    mark("started")

    crowd = Crowd(web, org, cycle_id, sessions, links)
    submitting = asyncio.create_task(crowd.run())
    await asyncio.wait({submitting, asyncio.create_task(crowd.half.wait())}, return_when=asyncio.FIRST_COMPLETED)
    assert not submitting.done(), "the crowd finished before half of it was accepted"
    # Reviews start eagerly on the worker that ran their batch and stay there (sticky): kill the worker that holds
    # the most of them, so the survivor has to take over work in progress.
    owners = await asyncio.gather(*(workflow_task_identities(client, review_workflow_id(review_id_for(cycle_id, k)))
                                    for k in org.kams[::10]))
    if sum(identity(workers[1]) in ids for ids in owners) > sum(identity(workers[0]) in ids for ids in owners):
        workers.reverse()
    assert workers[0].crash() == -9
    mark("worker_killed")
    stats = await asyncio.wait_for(submitting, PHASE_S * 2)
    mark("submitted")
    assert stats["web0"] == stats["web1"] == 3 * PARTICIPANTS // 2, stats

    async def phase_is(name: str) -> bool:
        r = await b.get(f"/api/hr/cycles/{cycle_id}", headers=hr.headers())
        assert r.status_code == 200, r.text
        return r.json()["phase"] == name

    await eventually(lambda: phase_is("calibration"), timeout=PHASE_S, interval=0.5)
    r = await b.post(f"/api/hr/cycles/{cycle_id}/calibration/finalize", headers=hr.headers())
    assert r.status_code == 200 and r.json()["ratings"] == PARTICIPANTS, r.text
    await eventually(lambda: phase_is("awaiting_approval"), timeout=PHASE_S, interval=0.5)
    r = await a.post(f"/api/payroll/cycles/{cycle_id}/approve", headers=pay.headers())  # payroll's from web B
    assert r.status_code == 200 and r.json()["count"] == 2 * PARTICIPANTS, r.text
    await asyncio.wait_for(client.get_workflow_handle(cycle_workflow_id(cycle_id)).result(), PHASE_S)
    mark("locked")
    csvs = [await w.get(f"/api/payroll/statements/{cycle_id}/csv", headers=pay.headers()) for w in web]
    assert [c.status_code for c in csvs] == [200, 200] and csvs[0].content == csvs[1].content

    # Signing out on one web process ends the session on the other too.
    kam = signed_in[org.kams[0]]  # signed in on web A
    assert (await b.delete("/api/session", headers=kam.headers())).status_code == 200
    assert (await a.get("/api/session", headers=kam.headers())).status_code == 401
    return stats, csvs[0].content.decode("utf-8")


async def _if_equal(found, expected: set[str], seen: list[dict[str, set[str]]]):
    """The pollers once both kinds are exactly the expected identities (they appear a moment after start)."""
    result = await found
    seen.append(result)
    return result if all(ids == expected for ids in result.values()) else None
