"""The scale-out test's world: a deployment's processes on one machine, its people, and a crowd over HTTP.

Processes (``python worker.py``, ``python -m webapp.serve``, ``starter.py migrate``) run as they would in
production, configured only through ``KAMREVIEW_*`` variables, each in its own process group with its
output in a file (a pipe nobody reads would fill and stall a web server writing its access log).

The organisation and the submissions are the cycle benchmark's (``bench/cycle_bench.py``), so the
single-process reference run can be the benchmark's own engine run with the same inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.cycle_bench import COMPETENCIES, Org
from services.users import fast_test_hasher, new_token, token_hash

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "scale-out-2026"  # every person's; sign-ins are few (argon2 is deliberately slow), see open_sessions

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: be killed when the test process dies, however it dies (a crash, a hard timeout)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# -- processes -------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of ``pattern`` in the output; fails if the process ends or time runs out first."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} printed no {pattern!r} within {timeout} s:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.05)

    def crash(self) -> int:
        """SIGKILL the process itself (not its group), as a crash would; returns its exit status."""
        self.popen.send_signal(signal.SIGKILL)
        return self.popen.wait(10)

    def stop(self) -> None:
        """Kill the whole group (the process and anything it started); safe to call twice."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


def spawn(name: str, args: list[str], env: dict[str, str], logdir: Path) -> Proc:
    """``python ARGS`` configured by ``env`` alone: no inherited ``KAMREVIEW_*`` variable, and run from ``logdir``
    so that no ``.env`` file of the checkout adds settings."""
    log = logdir / f"{name}.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("KAMREVIEW_")}
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, *args], cwd=logdir, env=inherited | {"PYTHONPATH": str(ROOT)} | env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    return Proc(name, popen, log)


def run(name: str, args: list[str], env: dict[str, str], logdir: Path, timeout: float) -> str:
    """A one-off process (the migration), to completion; its output, or a failure with it."""
    proc = spawn(name, args, env, logdir)
    try:
        code = proc.popen.wait(timeout)
    finally:
        proc.stop()
    assert code == 0, f"{name} exited with {code}:\n{proc.output()}"
    return proc.output()


def listening_ports(pid: int) -> set[int]:
    """The TCP ports a process listens on: its socket inodes matched against the kernel's tables."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


# -- people ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    username: str
    token: str
    csrf: str

    def headers(self) -> dict[str, str]:
        return {"Cookie": f"kr_session={self.token}", "X-CSRF-Token": self.csrf}


def add_users(admin_url: str, org: Org) -> None:
    """A sign-in for HR, payroll, every manager and every KAM of the benchmark organisation."""
    hashed = fast_test_hasher().hash(PASSWORD)  # one salted hash for all: this is a test
    rows = [(f"{org.tag}HR", None, ["hr"]), (f"{org.tag}PAY", None, ["payroll"])]
    rows += [(m, m, ["manager"]) for m in org.managers] + [(k, k, ["employee"]) for k in org.kams]
    with psycopg.connect(admin_url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO web_user (username, employee_id, display_name, roles, password_hash) "
                        "VALUES (%s, %s, %s, %s, %s)", [(u, e, u, roles, hashed) for u, e, roles in rows])


def open_sessions(admin_url: str, usernames: list[str]) -> dict[str, Session]:
    """Sessions as a sign-in leaves them in PostgreSQL, without an argon2 verification for each person.

    A real sign-in costs ~0.2 s of CPU (argon2id, rehashed to the default parameters): 240 of them would
    cost the test half a minute on two cores. A sample of people signs in through the API instead.
    """
    now = datetime.now(UTC)
    sessions = {u: Session(u, new_token(), new_token()) for u in usernames}
    with psycopg.connect(admin_url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO web_session (token_hash, username, csrf_token, created_at, last_seen_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(token_hash(s.token), u, s.csrf, now, now, now + timedelta(hours=1)) for u, s in sessions.items()])
    return sessions


async def sign_in(http: httpx.AsyncClient, username: str) -> Session:
    """A real sign-in through the API: the session cookie it sets, and its CSRF token.

    The client keeps the cookie too: clear its cookies once signed in, as requests carry their person's explicitly.
    """
    r = await http.post("/api/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Session(username, r.cookies["kr_session"], r.json()["csrf_token"])


# -- the crowd ---------------------------------------------------------------------------------------


@dataclass
class Crowd:
    """Every participant's three submissions through the web processes, alternating between them.

    The content is the cycle benchmark's (``bench.cycle_bench.engine_crowd``), so the payroll file must equal
    the benchmark's single-process run of the same organisation. ``half`` is set when half are accepted.
    """

    webs: list[httpx.AsyncClient]
    org: Org
    cycle_id: str
    sessions: dict[str, Session]
    links: dict[str, str]  # contact -> survey token
    concurrency: int = 16
    stats: Counter = field(default_factory=Counter)
    half: asyncio.Event = field(default_factory=asyncio.Event)

    async def post(self, web: int, path: str, body: dict[str, Any], session: Session | None) -> dict[str, Any]:
        """POST until accepted; 503 (Temporal or a review not ready) is retried, anything else fails."""
        headers = session.headers() if session else {}
        for _ in range(20):
            r = await self.webs[web].post(path, json=body, headers=headers)
            if r.status_code != 503:
                break
            self.stats["retried_503"] += 1
            await asyncio.sleep(0.5)
        assert r.status_code == 200, f"{path} on web {web}: {r.status_code} {r.text}"
        self.stats[f"web{web}"] += 1
        self.stats["accepted"] += 1
        if self.stats["accepted"] >= 3 * len(self.org.kams) // 2:
            self.half.set()
        return r.json()

    async def participant(self, i: int, kam: str, sem: asyncio.Semaphore) -> None:
        level, a, b = 1 + i % 3, i % 2, 1 - i % 2  # the KAM on one web, the manager on the other
        manager = self.org.manager_of[kam]
        async with sem:
            await self.post(a, f"/api/me/reviews/{self.cycle_id}/self-review", {
                "ratings": dict.fromkeys(COMPETENCIES, 2), "evidence": {"communication": "won two key deals"}},
                self.sessions[kam])
            await self.post(b, f"/api/manager/reviews/{self.cycle_id}/{kam}/score", {
                "ratings": dict.fromkeys(COMPETENCIES, level), "potential": level}, self.sessions[manager])
            await self.post(a, "/api/survey/answer", {
                "token": self.links[self.org.contact_of[kam]], "satisfaction": 3 + i % 3, "nps": 5 + i % 6,
                "comment": "good partner"}, None)

    async def run(self) -> dict[str, int]:
        sem = asyncio.Semaphore(self.concurrency)
        await asyncio.gather(*(self.participant(i, k, sem) for i, k in enumerate(self.org.kams)))
        return dict(self.stats)
