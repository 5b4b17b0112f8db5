"""What both benchmarks share: real servers (started here unless configured), CPU accounting, output.

Servers: KAMREVIEW_DATABASE_URL / KAMREVIEW_TEMPORAL_ADDRESS select existing ones; otherwise an
embedded PostgreSQL (pgserver) is started in a temporary directory and the Temporal dev server
with ``WorkflowEnvironment.start_local`` from the pip-installed CLI. Both are stopped at the end.
"""

from __future__ import annotations

import contextlib
import cProfile
import json
import os
import platform
import pstats
import resource
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


# -- PostgreSQL ------------------------------------------------------------------------------------


@dataclass
class Postgres:
    url: str
    pgdata: str | None = None  # set when we started it (then we stop it)

    def postmaster_pid(self) -> int | None:
        if self.pgdata is None:
            return None
        try:
            return int((Path(self.pgdata) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.pgdata is None:
            return
        import pgserver.postgres_server as pgs

        kwargs = {"user": "pgserver"} if os.geteuid() == 0 else {}
        try:
            pgs.pg_ctl(["stop", "-m", "immediate"], pgdata=self.pgdata, **kwargs)
        except Exception as err:  # noqa: BLE001 - best effort at the end of a benchmark
            print(f"could not stop the benchmark PostgreSQL: {err}", file=sys.stderr)
        shutil.rmtree(self.pgdata, ignore_errors=True)


def start_postgres(database: str = "kamreview_bench") -> Postgres:
    """A migrated database: the configured one, or a fresh embedded PostgreSQL in a temp dir."""
    from services.db import migrate

    configured = os.environ.get("KAMREVIEW_DATABASE_URL")
    if configured:
        migrate(configured)
        return Postgres(configured)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import pgserver
    root = tempfile.mkdtemp(prefix="kbn")  # short: the socket path must stay under 107 characters
    server = pgserver.get_server(root, cleanup_mode=None)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = server.get_uri(database)
    migrate(url)
    return Postgres(url, root)


# -- Temporal --------------------------------------------------------------------------------------


@dataclass
class Temporal:
    client: object  # temporalio.client.Client
    address: str
    env: object | None = None  # WorkflowEnvironment when we started the dev server
    pid: int | None = None

    async def stop(self) -> None:
        if self.env is not None:
            await self.env.shutdown()


async def start_temporal(runtime: object | None = None) -> Temporal:
    """``runtime``: a temporalio Runtime for the client and its workers (e.g. one exporting SDK metrics)."""
    from services.temporal import connect_client

    configured = os.environ.get("KAMREVIEW_TEMPORAL_ADDRESS")
    if configured:
        namespace = os.environ.get("KAMREVIEW_TEMPORAL_NAMESPACE", "default")
        return Temporal(await connect_client(configured, namespace), configured)
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    import services.temporal
    from services.embedded import dev_server_config_flags, temporal_cli_path
    from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli_path()),
        # The project's converter (what connect_client uses); pydantic's unless it names its own.
        data_converter=getattr(services.temporal, "DATA_CONVERTER", pydantic_data_converter),
        dev_server_log_level="error",
        search_attributes=SEARCH_ATTRIBUTES,  # the workflows carry them, as on the embedded dev server
        dev_server_extra_args=dev_server_config_flags(),  # configured as the embedded dev server is
        **({"runtime": runtime} if runtime is not None else {}),
    )
    pid = next((p for p in _children(os.getpid()) if _comm(p) == "temporal"), None)
    return Temporal(env.client, env.client.service_client.config.target_host, env, pid)


# -- CPU accounting from /proc ---------------------------------------------------------------------


def _stat(path: str) -> list[str] | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _children(ppid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(f"/proc/{entry}/stat")
            if st and int(st[1]) == ppid:
                out.append(int(entry))
    return out


def _cpu(pid: int, with_children: bool = False) -> float:
    st = _stat(f"/proc/{pid}/stat")
    if not st:
        return 0.0
    ticks = int(st[11]) + int(st[12])  # utime, stime
    if with_children:
        ticks += int(st[13]) + int(st[14])  # cutime, cstime (reaped children: ended backends)
    return ticks / TICK


def _thread_groups() -> dict[str, float]:
    """This process's CPU seconds by thread group (Python threads by name; the rest is the Rust core)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    main = threading.main_thread().native_id
    groups: dict[str, float] = defaultdict(float)
    for tid in os.listdir("/proc/self/task"):
        st = _stat(f"/proc/self/task/{tid}/stat")
        if not st:
            continue
        seconds = (int(st[11]) + int(st[12])) / TICK
        t = int(tid)
        name = names.get(t)
        if t == main:
            group = "py_main_loop"
        elif name is None:
            group = "sdk_core_threads"
        elif name.startswith("temporal_workflow_"):
            group = "py_workflow_threads"
        else:
            group = "py_other_threads"
        groups[group] += seconds
    return groups


class CpuMeter:
    """CPU seconds of this process (by thread group), the Temporal server and PostgreSQL between marks."""

    def __init__(self, temporal_pid: int | None, postmaster_pid: int | None) -> None:
        self.temporal_pid, self.postmaster_pid = temporal_pid, postmaster_pid
        self._dead_threads = 0.0

    def snapshot(self) -> dict[str, float]:
        snap = dict(_thread_groups())
        # Threads that ended since the last snapshot are lost from /proc/self/task but not from the
        # process total; keep the difference as its own group so sums stay honest.
        total = sum(os.times()[:2])
        snap["py_ended_threads"] = max(0.0, total - sum(snap.values()))
        if self.temporal_pid:
            snap["temporal_server"] = _cpu(self.temporal_pid)
        if self.postmaster_pid:
            snap["postgres"] = _cpu(self.postmaster_pid, True) + sum(_cpu(p) for p in _children(self.postmaster_pid))
        return snap

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        keys = sorted(set(before) | set(after))
        return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2) for k in keys}


# -- Profiling every Python thread with cProfile ---------------------------------------------------


_OPEN_FRAMES = {"_worker", "run", "_bootstrap", "_bootstrap_inner"}


class AllThreadsProfiler:
    """cProfile in the calling thread and in every thread started while active (workflow threads).

    Timed with ``time.thread_time`` (CPU of the thread), so waiting for I/O or for the GIL is not
    counted: the shares are shares of Python CPU.
    """

    def __init__(self) -> None:
        self._main = cProfile.Profile(time.thread_time)
        self._others: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _hook(self, frame, event, arg):  # noqa: ANN001 - sys.setprofile signature
        prof = cProfile.Profile(time.thread_time)
        with self._lock:
            self._others.append(prof)
        prof.enable()  # replaces this hook for the rest of the thread's life

    def start(self) -> None:
        threading.setprofile(self._hook)
        self._main.enable()

    def stop(self) -> pstats.Stats:
        self._main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        stats = pstats.Stats(self._main)
        with self._lock:
            for prof in self._others:
                with contextlib.suppress(TypeError):  # a profile that never recorded anything
                    stats.add(prof)
        # Frames still open in the other threads when we snapshot (an idle executor thread waiting in
        # SimpleQueue.get, and the frames below it) are closed with this thread's clock: nonsense. Drop them.
        for key in list(stats.stats):  # type: ignore[attr-defined]
            filename, _line, func = key
            if "SimpleQueue" in func or (func in _OPEN_FRAMES and filename.endswith(("threading.py", "thread.py"))):
                del stats.stats[key]  # type: ignore[attr-defined]
        return stats


# Where self time is spent, by the file of the function (first match wins).
CATEGORIES: list[tuple[str, str]] = [
    ("temporalio/worker/workflow_sandbox", "temporal: workflow sandbox (import/restrictions)"),
    ("<frozen importlib", "python imports"),
    ("importlib", "python imports"),
    ("temporalio/worker/_workflow_instance", "temporal: workflow instance (activation)"),
    ("temporalio/worker/_workflow", "temporal: workflow worker"),
    ("temporalio/worker/_activity", "temporal: activity worker"),
    ("temporalio/converter", "temporal: data converter"),
    ("temporalio/contrib/pydantic", "temporal: pydantic converter"),
    ("temporalio/bridge", "temporal: core bridge (protobuf <-> python)"),
    ("temporalio/client", "temporal: client"),
    ("temporalio/", "temporal: other"),
    ("google/protobuf", "protobuf"),
    ("pydantic", "pydantic"),
    ("psycopg_pool", "psycopg pool"),
    ("psycopg", "psycopg"),
    ("/activities/", "kamreview activities"),
    ("/domain/", "kamreview domain"),
    ("/workflows/", "kamreview workflows"),
    ("/services/", "kamreview services"),
    ("/notify/", "kamreview notify (render, write)"),
    ("aiosmtplib", "aiosmtplib"),
    ("jinja2", "jinja2"),
    ("/bench/", "bench (crowd, floor)"),
    ("asyncio", "asyncio"),
    ("concurrent/futures", "threads (executor)"),
    ("threading", "threads (executor)"),
    ("dataclasses", "dataclasses"),
    ("json", "json"),
    ("decimal", "decimal"),
]


def categorize(stats: pstats.Stats) -> list[tuple[str, float, float]]:
    """(category, self seconds, share) sorted by self time; builtins count towards their caller's file."""
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, func), (_cc, _nc, tt, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename
        if filename == "~" and callers:  # a builtin: attribute it to its heaviest caller's file
            where = max(callers.items(), key=lambda kv: kv[1][2])[0][0]
        cat = next((name for pattern, name in CATEGORIES if pattern in where), f"other ({Path(where).name})")
        if filename == "~" and ("select" in func or "poll" in func):
            cat = "waiting (select/poll)"
        totals[cat] += tt
    grand = sum(totals.values()) or 1.0
    return sorted(((c, round(s, 2), round(100 * s / grand, 1)) for c, s in totals.items()), key=lambda r: -r[1])


def print_profile(stats: pstats.Stats, title: str, top: int = 25, out_path: Path | None = None) -> list:
    cats = categorize(stats)
    print(f"\n== {title}: self time by category (cProfile, all Python threads) ==")
    for name, secs, share in cats[:20]:
        print(f"  {share:5.1f} %  {secs:8.2f} s  {name}")
    print(f"\n== {title}: top {top} functions by cumulative time ==")
    stats.sort_stats("cumulative").print_stats(top)
    print(f"== {title}: top {top} functions by self time ==")
    stats.sort_stats("tottime").print_stats(top)
    if out_path is not None:
        stats.dump_stats(str(out_path))
        print(f"(full profile saved to {out_path}; open with python -m pstats)")
    return cats


# -- Output ----------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict[str, object]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1m_at_start": round(load[0], 2)}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def emit_json(record: dict) -> None:
    print("JSON " + json.dumps(record, sort_keys=True, default=str), flush=True)


def finish(code: int) -> None:
    """Flush and leave with os._exit (temporal-notes: the interpreter-exit crash after using a client)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@dataclass
class Marks:
    """Named wall-clock instants relative to a start."""

    t0: float = field(default_factory=time.perf_counter)
    at: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> float:
        self.at[name] = round(time.perf_counter() - self.t0, 3)
        return self.at[name]
