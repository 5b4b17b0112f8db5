"""Notification benchmark: 10,000 e-mails through our mail channel against a bare aiosmtplib floor.

    python bench/notify_bench.py [--messages 10000] [--connections 4] [--rounds 2] [--engine channel] [--with-channel]
                                 [--profile]

Claim under test: "sending the cycle's e-mails costs little more than SMTP itself". Both sides send to the
same local SMTP sink (aiosmtpd, tests/notify/smtp_server.py, in its own process so this one keeps its core),
over the same number of connections, in the same process, alternately: floor, engine, floor, engine, ...

- **floor**: a bare aiosmtplib loop. Each of N connections sends its share of the very same e-mails, their
  bytes built before the clock (so the sink does the same work for both sides), with ``SMTP.sendmail``.
- **engine** (``--engine``, one function of ENGINES): ``outbox`` (the default) is the whole engine: before the
  clock the jobs become outbox rows and a worker starts; on the clock one delivery workflow claims, renders,
  writes, marks (``KAMREVIEW_DELIVERY_MARK_BATCH`` per statement) and sends them over N connections.
  ``channel`` renders and sends with ``notify.mail.SmtpSender`` alone. An engine is
  ``async (jobs, target) -> run``: it prepares untimed and returns the coroutine function to time.

The sink's count is checked after every run (every message arrived, none twice). The script reports messages
per second for each run and the ratio engine/floor (target >= 0.8), with the CPU seconds of this process, of the
sink and of PostgreSQL. It prints one line per run, a SUMMARY line and a JSON line, and leaves through os._exit.
``--with-channel`` adds a run of the channel alone to each round, so that what the outbox adds (its CPU in this
process and PostgreSQL's) is measured beside it under the same conditions. ``--profile`` runs cProfile over every
Python thread of this process during the engine's runs (the worker's activity runs in this process), prints where
the time goes and saves the profile; rates then say nothing.
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import os
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiosmtplib

from bench.common import ROOT, AllThreadsProfiler, _children, _cpu, emit_json, finish, machine, now_iso, peak_rss_mb, print_profile
from notify.mail import SmtpSender, wire_message
from notify.message import OutgoingMail, Person, SendOutcome
from notify.render import render

MAIL_FROM = "KAM Review <review@example.com>"


@dataclass(frozen=True)
class Job:
    """One notification to deliver: what the outbox row holds (kind, recipient, parameters)."""

    key: str
    kind: str
    person: Person
    params: dict[str, Any]


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    connections: int


# An engine prepares its run before the clock (outbox rows, a worker) and returns the run to time.
Engine = Callable[[list[Job], Target], Awaitable[Callable[[], Awaitable[list[SendOutcome]]]]]


def make_jobs(n: int) -> list[Job]:
    """A cycle's mix: mostly task and reminder mails, reviewers' lists, survey invitations; both languages."""
    due = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    base = "https://review.example.com"
    cycle = {"cycle_name": "2026年第三季度大客户经理考核", "cycle_id": "2026-Q3"}
    jobs = []
    for i in range(n):
        locale = "zh-CN" if i % 3 else "en"
        person = Person(id=f"P{i:05d}", name=f"王芳{i}" if locale == "zh-CN" else f"Alex Chen {i}", locale=locale,
                        email=f"person{i}@example.com")
        shape = i % 10
        if shape < 4:
            kind, params = "task_assigned", {**cycle, "phase": "self_review", "due": due, "link": f"{base}/me/reviews/2026-Q3"}
        elif shape < 7:
            kind, params = "reminder", {**cycle, "phase": "manager_scoring", "due": due, "link": f"{base}/manager",
                                        "items": [f"李雷{i}", f"韩梅梅{i}"]}
        elif shape < 8:
            kind, params = "reviews_assigned", {**cycle, "phase": "manager_scoring", "due": due, "link": f"{base}/manager",
                                                "reports": [{"name": f"成员{j}", "link": f"{base}/manager/reviews/2026-Q3/K{j}"}
                                                            for j in range(6)]}
        elif shape < 9:
            kind, params = "survey_invitation", {"company": "华东科技", "kam_name": "李雷", "account_name": "上海宝信",
                                                 "link": f"{base}/survey#t{i}", "expires": due + timedelta(days=30)}
        else:
            kind, params = "payouts_awaiting_approval", {**cycle, "line_count": 240, "link": f"{base}/payroll",
                                                         "totals": {"CNY": Decimal("1234567.50")}}
        jobs.append(Job(f"bench-{i}", kind, person, {**params, "name": person.name}))
    return jobs


def _shares(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


async def channel_engine(jobs: list[Job], target: Target) -> list[SendOutcome]:
    """Render, build and send each job through notify.mail over ``target.connections`` SMTP connections."""

    async def one_connection(share: list[Job]) -> list[SendOutcome]:
        mails = (OutgoingMail(j.key, j.person, render(j.kind, j.person.locale, j.params, j.person.timezone)) for j in share)
        outcomes: list[SendOutcome] = []
        async with SmtpSender(target.host, target.port, mail_from=MAIL_FROM, timeout=30) as sender:
            for mail in mails:  # rendered lazily, one at a time, as the delivery activity does
                outcomes.append(await sender.send(mail))
        return outcomes

    results = await asyncio.gather(*(one_connection(s) for s in _shares(jobs, target.connections)))
    return [o for share in results for o in share]


_SERVERS: dict[str, Any] = {}


async def _servers() -> dict[str, Any]:
    """PostgreSQL and Temporal for the outbox engine, started once (and stopped at the end of the run)."""
    if not _SERVERS:
        from bench.common import start_postgres, start_temporal

        _SERVERS["pg"] = start_postgres("kamreview_notify_bench")
        _SERVERS["temporal"] = await start_temporal()
        _SERVERS["runs"] = 0
    return _SERVERS


async def outbox_engine(jobs: list[Job], target: Target) -> Callable[[], Awaitable[list[SendOutcome]]]:
    """The whole engine. Before the clock: the jobs become outbox rows (as the producing activities queue them)
    and a worker is running. On the clock (the returned function): one delivery workflow sends the batch —
    claim, render, write, the durable marks, send, over ``target.connections`` SMTP connections."""
    import psycopg

    from activities.base import dumps
    from activities.delivery import DeliverySetup
    from activities.outbox import start_delivery
    from notify.channels import SmtpCourier
    from services.settings import DeliverySettings, MailSettings
    from services.worker_runtime import running_worker
    from workflows.delivery import DeliveryWorkflow
    from workflows.payloads import delivery_workflow_id

    servers = await _servers()
    url, client = servers["pg"].url, servers["temporal"].client
    servers["runs"] += 1
    batch = f"bench:{os.getpid()}:{servers['runs']}"
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM employee")
        known = {r[0] for r in cur.fetchall()}
        if missing := [j for j in jobs if j.person.id not in known]:
            with cur.copy("COPY employee (id, name, role, currency, timezone, email, locale) FROM STDIN") as copy:
                for j in missing:
                    copy.write_row((j.person.id, j.person.name, "other", "CNY", "Asia/Shanghai", j.person.email,
                                    j.person.locale))
        with cur.copy("COPY notification (id, recipient_type, recipient_id, kind, batch, channel, params, status) "
                      "FROM STDIN") as copy:
            for j in jobs:
                params = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in j.params.items()}
                if "totals" in params:
                    params["totals"] = {c: str(a) for c, a in params["totals"].items()}
                copy.write_row((f"{batch}:{j.key}", "employee", j.person.id, j.kind, batch, "email",
                                dumps(params), "queued"))
        cur.execute("ANALYZE notification")
    mail = MailSettings(smtp_host=target.host, smtp_port=target.port, mail_from=MAIL_FROM, smtp_timeout_s=30)
    setup = DeliverySetup(mail=SmtpCourier(mail), chat={}, render=render, base_url="https://review.example.com",
                          senders=target.connections, mark_batch=DeliverySettings().mark_batch)
    queue = f"notify-bench-{os.getpid()}-{servers['runs']}"
    worker = running_worker(client, url, queue, setup=setup)
    await worker.__aenter__()

    async def run() -> list[SendOutcome]:
        try:
            await start_delivery(client, queue, batch)
            result = await client.get_workflow_handle_for(DeliveryWorkflow.run, delivery_workflow_id(batch)).result()
        finally:
            _SERVERS["stop_worker"] = worker  # stopped after the clock, by measure()
        return [SendOutcome(j.key, ok=True) for j in jobs[:result.sent]] + [
            SendOutcome(j.key, ok=False) for j in jobs[result.sent:]]

    return run


async def _prepared_channel(jobs: list[Job], target: Target) -> Callable[[], Awaitable[list[SendOutcome]]]:
    async def run() -> list[SendOutcome]:
        return await channel_engine(jobs, target)

    return run


ENGINES: dict[str, Engine] = {"channel": _prepared_channel, "outbox": outbox_engine}


def floor_messages(jobs: list[Job]) -> list[tuple[str, bytes]]:
    """(recipient, message) pairs: the same e-mails the engine sends, rendered and built before the clock."""
    out = []
    for j in jobs:
        mail = OutgoingMail(j.key, j.person, render(j.kind, j.person.locale, j.params, j.person.timezone))
        data, _sender, recipient, _utf8, _mid = wire_message(mail, MAIL_FROM)
        out.append((recipient, data))
    return out


async def floor(messages: list[tuple[str, bytes]], target: Target) -> int:
    async def one_connection(share: list[tuple[str, bytes]]) -> int:
        smtp = aiosmtplib.SMTP(hostname=target.host, port=target.port, start_tls=False, timeout=30)
        await smtp.connect()
        for rcpt, data in share:
            await smtp.sendmail("review@example.com", [rcpt], data)
        await smtp.quit()
        return len(share)

    return sum(await asyncio.gather(*(one_connection(s) for s in _shares(messages, target.connections))))


class Sink:
    """The counting SMTP sink in a child process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.notify.smtp_server"], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.proc.stdout.readline().split()  # type: ignore[union-attr]
        self.port = int(line[1])

    def count(self) -> int:
        self.proc.stdin.write("count\n")  # type: ignore[union-attr]
        return int(self.proc.stdout.readline())  # type: ignore[union-attr]

    def stats(self) -> tuple[int, int, int]:
        """(messages, reads, event-loop wake-ups) so far: how the bytes of each side reach the server."""
        self.proc.stdin.write("stats\n")  # type: ignore[union-attr]
        count, reads, wakeups = self.proc.stdout.readline().split()  # type: ignore[union-attr]
        return int(count), int(reads), int(wakeups)

    def cpu(self) -> float:
        return _cpu(self.proc.pid)

    def stop(self) -> None:
        try:
            self.proc.stdin.write("quit\n")  # type: ignore[union-attr]
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def _pg_cpu() -> float:
    """CPU seconds of the benchmark's PostgreSQL (the postmaster and its backends), 0 before it started."""
    pid = _SERVERS["pg"].postmaster_pid() if _SERVERS else None
    return (_cpu(pid, True) + sum(_cpu(p) for p in _children(pid))) if pid else 0.0


async def measure(name: str, prepare: Callable[[], Awaitable[Callable[[], Awaitable[int]]]], sink: Sink,
                  expected: int, profiler: AllThreadsProfiler | None = None) -> dict[str, Any]:
    run = await prepare()  # untimed: the outbox rows, a running worker
    if profiler is not None:
        profiler.start()
    before_io, before_cpu, before_sink, before_pg = sink.stats(), sum(os.times()[:2]), sink.cpu(), _pg_cpu()
    before_loop = time.thread_time()  # the event loop's own thread: is it the one that is saturated?
    t0 = time.perf_counter()
    sent = await run()
    seconds = time.perf_counter() - t0
    stats = profiler.stop() if profiler is not None else None
    after_io = sink.stats()
    arrived, reads, wakeups = (a - b for a, b in zip(after_io, before_io, strict=True))
    result = {
        "side": name, "seconds": round(seconds, 3), "rate": round(expected / seconds, 1), "sent_ok": sent, "arrived": arrived,
        "cpu_client_s": round(sum(os.times()[:2]) - before_cpu, 2), "cpu_sink_s": round(sink.cpu() - before_sink, 2),
        "cpu_pg_s": round(_pg_cpu() - before_pg, 2), "cpu_loop_s": round(time.thread_time() - before_loop, 2),
        "sink_reads_per_mail": round(reads / expected, 2), "sink_wakeups_per_mail": round(wakeups / expected, 2),
    }
    if worker := _SERVERS.pop("stop_worker", None):
        await worker.__aexit__(None, None, None)
    if stats is not None:
        out = Path(f"/tmp/notify_bench_{name}_{os.getpid()}_{int(time.time())}.prof")
        result["profile_categories"] = print_profile(stats, f"{name} ({seconds:.2f} s)", top=40, out_path=out)
    print(f"{name:6s}: {expected} e-mails in {seconds:6.2f} s = {result['rate']:7.1f}/s; ok {sent}, arrived {arrived}; "
          f"CPU client {result['cpu_client_s']} s (event loop {result['cpu_loop_s']} s), "
          f"sink {result['cpu_sink_s']} s, PostgreSQL {result['cpu_pg_s']} s; sink reads/e-mail "
          f"{result['sink_reads_per_mail']}, wake-ups/e-mail {result['sink_wakeups_per_mail']}",
          flush=True)
    if sent != expected or arrived != expected:
        raise RuntimeError(f"{name}: {expected} e-mails, {sent} accepted, {arrived} arrived at the sink")
    return result


async def main(args: argparse.Namespace) -> int:
    engine = ENGINES[args.engine]
    sink = Sink()
    target = Target("127.0.0.1", sink.port, args.connections)
    try:
        start = machine()
        jobs = make_jobs(args.messages)
        messages = floor_messages(jobs)
        warm = make_jobs(args.warmup)
        await floor(floor_messages(warm), target)  # untimed: imports, template compilation, the sink's first connections
        await (await engine(warm, target))()
        if worker := _SERVERS.pop("stop_worker", None):
            await worker.__aexit__(None, None, None)

        async def prepare_engine() -> Callable[[], Awaitable[int]]:
            run = await engine(jobs, target)

            async def timed() -> int:
                return sum(o.ok for o in await run())

            return timed

        async def prepare_floor() -> Callable[[], Awaitable[int]]:
            async def timed() -> int:
                return await floor(messages, target)

            return timed

        async def prepare_channel() -> Callable[[], Awaitable[int]]:
            async def timed() -> int:
                return sum(o.ok for o in await channel_engine(jobs, target))

            return timed

        runs: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            runs.append(await measure("floor", prepare_floor, sink, args.messages))
            runs.append(await measure("engine", prepare_engine, sink, args.messages,
                                      AllThreadsProfiler() if args.profile else None))
            if args.with_channel:  # the channel alone in the same round: what the outbox adds, measured beside it
                runs.append(await measure("channel", prepare_channel, sink, args.messages))
        floors = [r["rate"] for r in runs if r["side"] == "floor"]
        engines = [r["rate"] for r in runs if r["side"] == "engine"]
        ratios = [round(e / f, 3) for e, f in zip(engines, floors, strict=True)]
        ratio = round(statistics.mean(engines) / statistics.mean(floors), 3)
        sides = ("floor", "engine", "channel") if args.with_channel else ("floor", "engine")

        def per_mail(side: str, key: str) -> float:
            return round(sum(r[key] for r in runs if r["side"] == side) / (args.rounds * args.messages) * 1000, 3)

        split = {side: {part: per_mail(side, f"cpu_{part}_s") for part in ("client", "sink", "pg")} for side in sides}
        cpu = {side: round(sum(split[side].values()), 3) for side in sides}
        verdict = "PASS" if ratio >= 0.8 else "FAIL"
        io = {side: {k: round(statistics.mean(r[f"sink_{k}_per_mail"] for r in runs if r["side"] == side), 2)
                     for k in ("reads", "wakeups")} for side in sides}
        shown = "; ".join(f"{side} {cpu[side]} (client {split[side]['client']}, sink {split[side]['sink']}, "
                          f"PostgreSQL {split[side]['pg']}; sink reads {io[side]['reads']}, "
                          f"wake-ups {io[side]['wakeups']} per e-mail)" for side in sides)
        print(f"\nSUMMARY notify bench ({args.engine}): {args.messages} e-mails over {args.connections} connections, "
              f"{args.rounds} round(s): floor {statistics.mean(floors):.1f}/s, engine {statistics.mean(engines):.1f}/s, "
              f"engine/floor {ratio} (per round {ratios}; target >= 0.8: {verdict}); "
              f"CPU ms/e-mail {shown}; load {os.getloadavg()[0]:.2f}; peak RSS {peak_rss_mb()} MB", flush=True)
        emit_json({"bench": "notify", "at": now_iso(), "engine": args.engine, "messages": args.messages,
                   "connections": args.connections, "rounds": args.rounds, "runs": runs, "ratio": ratio, "ratios": ratios,
                   "cpu_ms_per_mail": cpu, "cpu_split": split, "sink_io_per_mail": io, "verdict": verdict,
                   "peak_rss_mb": peak_rss_mb(), "machine": start})
        return 0
    finally:
        sink.stop()
        if _SERVERS:
            await _SERVERS["temporal"].stop()
            _SERVERS["pg"].stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--connections", type=int, default=4, help="SMTP connections, the same for floor and engine")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--engine", choices=sorted(ENGINES), default="outbox",
                   help="outbox: the whole engine (outbox rows, delivery workflow, activity); channel: notify.mail alone")
    p.add_argument("--with-channel", action="store_true",
                   help="each round also runs the channel alone (render, write, send; no outbox), for the CPU split")
    p.add_argument("--profile", action="store_true", help="cProfile the engine's runs (slower: rates then say nothing)")
    return p.parse_args(argv)


if __name__ == "__main__":
    finish(asyncio.run(main(parse_args())))
