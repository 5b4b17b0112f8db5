"""Web submission latency: 32 simulated managers scoring over HTTP, against a bare Temporal Update.

    .venv/bin/python bench/web_bench.py [--managers 32] [--pairs 5] [--warmup 1]

What is measured, in the same run and under the same load:

* HTTP: ``POST /api/manager/reviews/{cycle}/{kam}/score`` on a real uvicorn (``python -m webapp.serve``
  in a child process, with its in-process worker): session lookup, permission and task checks in
  PostgreSQL, the review workflow's Update, the activity's write to PostgreSQL, the JSON answer.
* bare: the same Update (``services.tasks.submit_manager_score``) sent straight from this process
  with a Temporal client, served by the same worker; it also ends after the PostgreSQL write.

Every manager alternates the two (bare first on even rounds, HTTP first on odd ones), so both see
the same concurrency; the first ``--warmup`` rounds are not recorded. Target: HTTP p95 within 2x of
the bare Update's p95. Servers: KAMREVIEW_DATABASE_URL / KAMREVIEW_TEMPORAL_ADDRESS if set, otherwise
an embedded PostgreSQL in a temporary directory and the Temporal dev server (both stopped at the end).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import httpx  # noqa: E402
import psycopg  # noqa: E402
import yaml  # noqa: E402
from temporalio.service import RPCError  # noqa: E402

from domain.cycle import CycleConfig  # noqa: E402
from services import tasks  # noqa: E402
from services.cycles import create_cycle, start_cycle  # noqa: E402
from services.db import migrate  # noqa: E402
from services.users import DEMO_PASSWORDS, fast_test_hasher  # noqa: E402
from workflows.payloads import ManagerScoreSubmission, review_id_for, review_workflow_id  # noqa: E402

COMPETENCIES = ["communication", "logical_analysis", "coordination", "market_analysis", "product_knowledge",
                "customer_relationship", "sales_management"]
RATINGS = {c: 2 for c in COMPETENCIES}


@dataclass
class Servers:
    db_url: str
    temporal_address: str
    pgdata: str | None = None
    env: object | None = None

    async def stop(self) -> None:
        if self.env is not None:
            await self.env.shutdown()
        if self.pgdata is not None:
            import pgserver.postgres_server as pgs

            kwargs = {"user": "pgserver"} if os.geteuid() == 0 else {}
            try:
                pgs.pg_ctl(["stop", "-m", "immediate"], pgdata=self.pgdata, **kwargs)
            except Exception as err:  # noqa: BLE001 - best effort at the end
                print(f"could not stop the benchmark PostgreSQL: {err}", file=sys.stderr)
            shutil.rmtree(self.pgdata, ignore_errors=True)


async def start_servers() -> Servers:
    db_url, address = os.environ.get("KAMREVIEW_DATABASE_URL"), os.environ.get("KAMREVIEW_TEMPORAL_ADDRESS")
    pgdata = env = None
    if not db_url:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver
        pgdata = tempfile.mkdtemp(prefix="krwb")  # short: PostgreSQL's socket path must stay under 107 bytes
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "kamreview_web_bench"')
        db_url = server.get_uri("kamreview_web_bench")
    migrate(db_url)
    if not address:
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.testing import WorkflowEnvironment

        from services.embedded import dev_server_config_flags, temporal_cli_path

        env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_cli_path()),
                                                    data_converter=pydantic_data_converter,
                                                    dev_server_log_level="error",
                                                    dev_server_extra_args=dev_server_config_flags())
        address = env.client.service_client.config.target_host
    return Servers(db_url, address, pgdata, env)


def seed(db_url: str, managers: int, per_manager: int) -> dict[str, list[str]]:
    """HR1, M001.. and per_manager KAMs under each (no customer contacts: only scoring is measured)."""
    reports: dict[str, list[str]] = {}
    hashed = fast_test_hasher().hash(DEMO_PASSWORDS["manager"])
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO employee (id, name, role, currency, timezone) VALUES ('HR1', 'HR', 'hr', 'CNY', 'UTC')")
        for m in range(1, managers + 1):
            mgr = f"M{m:03d}"
            reports[mgr] = [f"K{m:03d}{n:02d}" for n in range(per_manager)]
            cur.execute("INSERT INTO employee (id, name, role, currency, timezone) VALUES (%s, %s, 'manager', 'CNY', 'UTC')",
                        (mgr, f"Manager {mgr}"))
            cur.executemany(
                """INSERT INTO employee (id, name, role, manager_id, grade, currency, timezone, hire_date)
                   VALUES (%s, %s, 'kam', %s, 'K2', 'CNY', 'UTC', '2020-01-01')""",
                [(k, f"KAM {k}", mgr) for k in reports[mgr]],
            )
            cur.execute("""INSERT INTO web_user (username, employee_id, display_name, roles, password_hash)
                           VALUES (%s, %s, %s, ARRAY['manager'], %s)""", (mgr, mgr, f"Manager {mgr}", hashed))
    return reports


def config(cycle_id: str) -> CycleConfig:
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    data["id"] = cycle_id
    for phase in ("self_review", "manager_scoring", "customer_survey"):
        data["phases"][phase] = {"due_after": "2h", "reminders_before": [], "on_deadline": {"action": "close"}}
    return CycleConfig.model_validate(data)


def start_web(servers: Servers, task_queue: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    env = os.environ | {"KAMREVIEW_DATABASE_URL": servers.db_url, "KAMREVIEW_TEMPORAL_ADDRESS": servers.temporal_address,
                        "KAMREVIEW_TASK_QUEUE": task_queue, "KAMREVIEW_WEB_PORT": "0", "KAMREVIEW_WEB_HOST": "127.0.0.1",
                        "KAMREVIEW_DB_POOL_SIZE": "20"}
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "webapp.serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        match = re.search(r"kamreview is running: (http://\S+?)/\s", text)
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"the web server exited: {text[-2000:]}")
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the web server did not start within 60 s")


@dataclass
class Samples:
    bare: list[float] = field(default_factory=list)
    http: list[float] = field(default_factory=list)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> int:
    from services.temporal import connect_client

    servers = await start_servers()
    tmp = Path(tempfile.mkdtemp(prefix="krwebbench"))
    proc = None
    try:
        rounds = args.warmup + args.pairs
        reports = seed(servers.db_url, args.managers, 2 * rounds)
        task_queue = f"web-bench-{uuid.uuid4().hex[:8]}"
        cycle_id = f"WB{uuid.uuid4().hex[:8]}"
        await create_cycle(servers.db_url, config(cycle_id), actor="HR1")
        proc, base = start_web(servers, task_queue, tmp / "web.log")
        client = await connect_client(servers.temporal_address)
        kams = sum(len(v) for v in reports.values())
        started = time.monotonic()
        await start_cycle(client, servers.db_url, cycle_id, task_queue)
        while True:  # every review open: its tasks exist and its workflow runs
            with psycopg.connect(servers.db_url) as conn:
                n = conn.execute("SELECT count(*) FROM task WHERE cycle_id = %s AND kind = 'manager_scoring'",
                                 (cycle_id,)).fetchone()[0]
            if n == kams:
                break
            await asyncio.sleep(0.2)
        for kam in (k for ks in reports.values() for k in ks):  # ... and every review workflow has started
            handle = client.get_workflow_handle(review_workflow_id(review_id_for(cycle_id, kam)))
            while True:
                try:
                    await handle.describe()
                    break
                except RPCError:
                    await asyncio.sleep(0.1)
        print(f"cycle {cycle_id}: {kams} reviews open in {time.monotonic() - started:.1f} s; web app at {base}",
              file=sys.stderr)
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        sessions: dict[str, httpx.AsyncClient] = {}
        for mgr in reports:
            # TCP_NODELAY, as browsers set it: httpcore writes headers and body separately, and without it
            # Nagle's algorithm meets the server's delayed ACK and adds ~40 ms to every POST.
            transport = httpx.AsyncHTTPTransport(limits=limits,
                                                 socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
            http = httpx.AsyncClient(base_url=base, transport=transport, timeout=60)
            r = await http.post("/api/session", json={"username": mgr, "password": DEMO_PASSWORDS["manager"]})
            r.raise_for_status()
            http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            sessions[mgr] = http
        samples = Samples()
        failures: list[str] = []

        async def bare(mgr: str, kam: str) -> float:
            t0 = time.perf_counter()
            await tasks.submit_manager_score(client, servers.db_url, cycle_id, kam, ManagerScoreSubmission(mgr, RATINGS, potential=2))
            return time.perf_counter() - t0

        async def over_http(mgr: str, kam: str) -> float:
            t0 = time.perf_counter()
            r = await sessions[mgr].post(f"/api/manager/reviews/{cycle_id}/{kam}/score",
                                         json={"ratings": RATINGS, "potential": 2})
            elapsed = time.perf_counter() - t0
            if r.status_code != 200:
                failures.append(f"{mgr} {kam}: {r.status_code} {r.text[:200]}")
            return elapsed

        async def manager(mgr: str) -> None:
            mine = reports[mgr]
            for i in range(rounds):
                a, b = mine[2 * i], mine[2 * i + 1]
                if i % 2 == 0:
                    tb, th = await bare(mgr, a), await over_http(mgr, b)
                else:
                    th, tb = await over_http(mgr, b), await bare(mgr, a)
                if i >= args.warmup:
                    samples.bare.append(tb)
                    samples.http.append(th)

        t0 = time.monotonic()
        await asyncio.gather(*(manager(m) for m in reports))
        wall = time.monotonic() - t0
        for http in sessions.values():
            await http.aclose()
        with psycopg.connect(servers.db_url) as conn:
            stored = conn.execute("SELECT count(*) FROM task WHERE cycle_id = %s AND kind = 'manager_scoring' "
                                  "AND status = 'done'", (cycle_id,)).fetchone()[0]
        report(args, samples, wall, stored, kams, failures)
        p95_bare, p95_http = pct(samples.bare, 0.95), pct(samples.http, 0.95)
        return 0 if not failures and stored == kams and p95_http <= 2 * p95_bare else 1
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        await servers.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def report(args: argparse.Namespace, s: Samples, wall: float, stored: int, kams: int, failures: list[str]) -> None:
    ms = 1000.0

    def row(name: str, values: list[float]) -> str:
        return (f"{name:<32} {len(values):>5} {pct(values, 0.50) * ms:>8.1f} {pct(values, 0.95) * ms:>8.1f} "
                f"{statistics.fmean(values) * ms:>8.1f} {max(values) * ms:>8.1f}")

    print(f"\nweb submission latency: {args.managers} concurrent managers, {args.pairs} measured rounds "
          f"(+{args.warmup} warm-up), {len(s.http) + len(s.bare)} measured submissions in {wall:.1f} s")
    print(f"{'':<32} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'max ms':>8}")
    print(row("bare Temporal Update (+PG write)", s.bare))
    print(row("HTTP API (HTTP+auth+Update+PG)", s.http))
    ratio50 = pct(s.http, 0.5) / pct(s.bare, 0.5)
    ratio95 = pct(s.http, 0.95) / pct(s.bare, 0.95)
    verdict = "met" if ratio95 <= 2 else "NOT met"
    print(f"HTTP / bare: p50 {ratio50:.2f}x, p95 {ratio95:.2f}x (target p95 within 2x: {verdict})")
    print(f"scores stored in PostgreSQL: {stored} of {kams} reviews; HTTP failures: {len(failures)}")
    for line in failures[:5]:
        print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--managers", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=5, help="measured rounds (one bare + one HTTP each) per manager")
    parser.add_argument("--warmup", type=int, default=1)
    code = asyncio.run(run(parser.parse_args()))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # temporal-notes: avoid the interpreter-exit crash after using a Temporal client


if __name__ == "__main__":
    main()
