"""People are reached: a cycle's messages go out through the outbox and the delivery workflows, once each.

Real servers throughout: PostgreSQL, the Temporal dev server, an aiosmtpd SMTP server and the chat
receivers that check each platform's format and signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from activities.delivery import DeliverySetup
from notify.channels import MaildirCourier, SmtpCourier, chat_couriers
from notify.render import render
from services import notifications
from services.cycles import create_cycle, start_cycle
from services.errors import Conflict
from services.settings import ChatSettings, MailSettings
from tests.helpers import count, cycle_config, eventually, maybe_record_history, seed_org
from tests.notify.chat_receivers import ChatReceivers
from tests.notify.smtp_server import Recorder, SmtpTestServer
from worker import running_worker
from workflows.delivery import DeliveryWorkflow
from workflows.payloads import delivery_workflow_id

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://review.example.com"


def _setup(mail, chat=None, **kw) -> DeliverySetup:  # noqa: ANN001, ANN003
    return DeliverySetup(mail=mail, chat=chat or {}, render=render, base_url=BASE, company="Acme 示例",
                         retry_after_s=kw.pop("retry_after_s", 0.3), max_attempts=kw.pop("max_attempts", 30), **kw)


def _smtp(server: SmtpTestServer) -> SmtpCourier:
    return SmtpCourier(MailSettings(smtp_host=server.host, smtp_port=server.port, mail_from="绩效考核 <hr@acme.example>",
                                    smtp_timeout_s=5))


def _with_addresses(db_url: str, org: dict, english: set[str] = frozenset()) -> None:
    """E-mail addresses for everyone (and English for some), as the org import would set them."""
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET email = lower(id) || '@acme.example'")
        conn.execute("UPDATE customer_contact SET email = lower(id) || '@client.example'")
        if english:
            conn.execute("UPDATE customer_contact SET locale = 'en' WHERE id = ANY(%s)", (list(english),))
            conn.execute("UPDATE employee SET locale = 'en' WHERE id = ANY(%s)", (list(english),))


def _statuses(db_url: str, cycle_id: str) -> Counter:
    with psycopg.connect(db_url) as conn:
        return Counter(dict(conn.execute(
            "SELECT status, count(*) FROM notification WHERE cycle_id = %s GROUP BY 1", (cycle_id,)).fetchall()))


async def _settled(db_url: str, cycle_id: str, expected: int) -> bool:
    s = _statuses(db_url, cycle_id)
    return sum(s.values()) >= expected and not (s["queued"] + s["claimed"] + s["sending"] + s["retry"])


async def _queue_task_mails(db_url: str, batch: str, messages: list[tuple[str, str]]) -> int:
    """Queue a task e-mail (the sample parameters) per (key, employee) in ``batch``, as a producing activity would."""
    from activities.outbox import Message, queue
    from tests.notify.test_render import SAMPLES

    params = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in SAMPLES["task_assigned"].items()}
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
        return await queue(cur, None, batch, [Message(key, "task_assigned", "employee", employee, params)
                                              for key, employee in messages])


@pytest.fixture
def smtp():
    server = SmtpTestServer(Recorder()).start()
    yield server
    server.stop()


async def test_cycle_start_reaches_every_kam_reviewer_and_customer_once(client, db_url, task_queue, smtp):
    org = seed_org(db_url, kams=3, managers=1, contacts_per_kam=2)
    english = {org["contacts"]["K01"][0]}
    _with_addresses(db_url, org, english)
    cid = f"MS{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="3d"))
    async with running_worker(client, db_url, task_queue, setup=_setup(_smtp(smtp))):
        await start_cycle(client, db_url, cid, task_queue)
        # 3 self-reviews, 1 message to the reviewer listing 3 reports, 6 survey invitations.
        await eventually(lambda: _settled(db_url, cid, 10), timeout=60)
    assert _statuses(db_url, cid) == Counter({"sent": 10})
    mails = [r.message for r in smtp.received]
    assert len(mails) == 10 and len({m["Message-ID"] for m in mails}) == 10  # one per key
    by_to = {m["To"].addresses[0].addr_spec: m for m in mails}
    assert set(by_to) == ({f"{k.lower()}@acme.example" for k in org["kams"]} | {"m1@acme.example"}
                          | {f"{c.lower()}@client.example" for cs in org["contacts"].values() for c in cs})
    reviewer = by_to["m1@acme.example"]
    text = reviewer.get_body(("plain",)).get_content()
    assert all(f"KAM {k}" in text for k in org["kams"]) and f"{BASE}/manager/reviews/{cid}/K01" in text
    assert "UTC" not in text and "Asia/Shanghai" in text
    kam = by_to["k01@acme.example"].get_body(("plain",)).get_content()
    assert f"{BASE}/me/reviews/{cid}" in kam and "自评" in by_to["k01@acme.example"]["Subject"]
    # Customers: a personal signed link, in their language (the English one in English).
    english_mail = by_to[f"{next(iter(english)).lower()}@client.example"]
    chinese_mail = by_to[f"{org['contacts']['K02'][0].lower()}@client.example"]
    assert english_mail["Content-Language"] == "en" and chinese_mail["Content-Language"] == "zh-CN"
    links = [m.get_body(("plain",)).get_content().split(f"{BASE}/survey#")[1].split()[0]
             for m in (english_mail, chinese_mail)]
    assert len(set(links)) == 2
    assert count(db_url, "SELECT count(*) FROM survey_link WHERE created_by = 'delivery'") == 6


async def test_smtp_down_then_back_delivers_everything_once(client, db_url, task_queue, smtp):
    org = seed_org(db_url, kams=2, managers=1, contacts_per_kam=1)
    _with_addresses(db_url, org)
    cid = f"MD{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="3d"))
    smtp.stop()  # the mail server is down when the cycle starts
    async with running_worker(client, db_url, task_queue, setup=_setup(_smtp(smtp))):
        await start_cycle(client, db_url, cid, task_queue)

        async def waiting() -> bool:
            return _statuses(db_url, cid)["retry"] == 5

        await eventually(waiting, timeout=30)
        with psycopg.connect(db_url) as conn:
            errors = {r[0] for r in conn.execute("SELECT last_error FROM notification WHERE cycle_id = %s", (cid,))}
        assert all(errors)  # each says why it waits
        assert await _phase(client, cid) == "reviews"  # the outage does not block the cycle
        smtp.start()
        await eventually(lambda: _settled(db_url, cid, 5), timeout=60)
        handle = client.get_workflow_handle_for(DeliveryWorkflow.run, delivery_workflow_id(f"cycle:{cid}:started"))
        assert (await handle.result()).sent == 5
        await maybe_record_history(client, handle.id, "delivery_with_retries")
    with psycopg.connect(db_url) as conn:
        detail = conn.execute("SELECT id, status, attempts, last_error FROM notification WHERE cycle_id = %s",
                              (cid,)).fetchall()
    assert _statuses(db_url, cid) == Counter({"sent": 5}), detail
    ids = [r.message["Message-ID"] for r in smtp.received]
    assert len(ids) == 5 and len(set(ids)) == 5


async def test_a_refused_address_fails_with_the_server_reply_and_hr_can_resend(client, db_url, task_queue, smtp):
    org = seed_org(db_url, kams=2, managers=1, contacts_per_kam=1)
    _with_addresses(db_url, org)
    smtp.recorder.reject.add("k02@acme.example")
    cid = f"MF{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="3d"))
    async with running_worker(client, db_url, task_queue, setup=_setup(_smtp(smtp))):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: _settled(db_url, cid, 5), timeout=60)
        [failed] = await notifications.deliveries(db_url, cid, "failed")
        assert failed.recipient_id == "K02"
        assert failed.last_error.startswith("550") and "k02@acme.example" in failed.last_error
        assert _statuses(db_url, cid) == Counter({"sent": 4, "failed": 1})  # the others are unaffected
        # The address is corrected; HR resends that one message (twice, as a double click would).
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE employee SET email = 'kam02@acme.example' WHERE id = 'K02'")
        twice = await asyncio.gather(*(notifications.resend(client, db_url, task_queue, failed.id, "HR1")
                                       for _ in range(2)), return_exceptions=True)
        [batch] = [r for r in twice if isinstance(r, str)]
        [refused] = [r for r in twice if isinstance(r, Exception)]
        assert isinstance(refused, Conflict) and "is being delivered" in str(refused)
        await client.get_workflow_handle(delivery_workflow_id(batch)).result()
        await maybe_record_history(client, delivery_workflow_id(f"cycle:{cid}:started"), "delivery")
    assert _statuses(db_url, cid) == Counter({"sent": 5})
    assert [r.rcpt_tos for r in smtp.received].count(["kam02@acme.example"]) == 1
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'notification.resent'") == 1


async def test_chat_people_are_mentioned_in_their_group(client, db_url, task_queue, tmp_path):
    """KAMs who chose WeCom or DingTalk get their messages in the group, @-mentioned, signed as the platform checks."""
    seed_org(db_url, kams=3, managers=1, contacts_per_kam=0)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET channels = '{wecom}', wecom_id = lower(id) WHERE id IN ('K01', 'K02')")
        conn.execute("UPDATE employee SET channels = '{dingtalk,email}', mobile = '13800000003', email = 'k03@acme.example' "
                     "WHERE id = 'K03'")
        conn.execute("UPDATE employee SET email = 'm1@acme.example' WHERE id = 'M1'")
    rx = ChatReceivers()
    rx.start()
    try:
        chat = chat_couriers(ChatSettings(wecom_webhook_url=rx.wecom_url, dingtalk_webhook_url=rx.dingtalk_url,
                                          dingtalk_secret=rx.dingtalk.secret))
        maildir = tmp_path / "mail"
        cid = f"MC{uuid.uuid4().hex[:6]}"
        await create_cycle(db_url, cycle_config(cid, due="3d"))
        async with running_worker(client, db_url, task_queue,
                                  setup=_setup(MaildirCourier(maildir, "hr@acme.example"), chat)):
            await start_cycle(client, db_url, cid, task_queue)
            await eventually(lambda: _settled(db_url, cid, 5), timeout=60)
        assert _statuses(db_url, cid) == Counter({"sent": 5})  # K01, K02 (wecom), K03 twice, M1 (e-mail)
        [post] = rx.wecom.accepted  # both WeCom people in one post
        assert sorted(post.body["text"]["mentioned_list"]) == ["k01", "k02"]
        [ding] = rx.dingtalk.accepted
        assert ding.body["at"]["atMobiles"] == ["13800000003"] and f"{BASE}/me/reviews/{cid}" in ding.body["text"]["content"]
        assert len(list((maildir / "new").iterdir())) == 2  # K03 and M1 by e-mail
    finally:
        rx.stop()


CONNECTIONS, MARK_BATCH = 2, 5  # the killed worker's: at most 5 e-mails per connection are in flight


def _spawn_worker(db_url: str, client, task_queue: str, smtp: SmtpTestServer, data: Path) -> subprocess.Popen:  # noqa: ANN001
    env = os.environ | {
        "KAMREVIEW_DATABASE_URL": db_url, "KAMREVIEW_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KAMREVIEW_TASK_QUEUE": task_queue, "KAMREVIEW_DATA_DIR": str(data), "KAMREVIEW_SMTP_HOST": smtp.host,
        "KAMREVIEW_SMTP_PORT": str(smtp.port), "KAMREVIEW_DELIVERY_RETRY_AFTER_S": "0.5",
        "KAMREVIEW_DELIVERY_CONNECTIONS": str(CONNECTIONS), "KAMREVIEW_DELIVERY_MARK_BATCH": str(MARK_BATCH),
    }
    return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_worker_killed_mid_send_sends_nothing_twice_and_loses_nothing_silently(client, db_url, task_queue,
                                                                                       tmp_path):
    """SIGKILL while a batch of 305 messages is going out: every message ends sent once, or 'uncertain' for HR to
    check and resend — at most MARK_BATCH per connection (the group marked 'sending' together, in flight)."""
    org = seed_org(db_url, kams=100, managers=5, contacts_per_kam=2)
    _with_addresses(db_url, org)
    cid = f"MK{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="3d"))
    recorder = Recorder()
    smtp = SmtpTestServer(recorder).start()
    worker = _spawn_worker(db_url, client, task_queue, smtp, tmp_path)
    try:
        await start_cycle(client, db_url, cid, task_queue)
        total = 100 + 5 + 200

        async def some_sent() -> bool:
            return len(recorder.received) >= 40

        await eventually(some_sent, timeout=60, interval=0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker = _spawn_worker(db_url, client, task_queue, smtp, tmp_path)
        await eventually(lambda: _settled(db_url, cid, total), timeout=120)
    finally:
        worker.kill()
        worker.wait()
        smtp.stop()
    statuses = _statuses(db_url, cid)
    assert statuses["sent"] + statuses["uncertain"] == total, statuses
    assert 1 <= statuses["uncertain"] <= CONNECTIONS * MARK_BATCH, statuses  # the kill came mid-send
    ids = Counter(r.message["Message-ID"] for r in recorder.received)
    assert max(ids.values()) == 1  # nothing twice
    with psycopg.connect(db_url) as conn:
        marked = dict(conn.execute(
            "SELECT message_id, status FROM notification WHERE cycle_id = %s", (cid,)).fetchall())
    arrived = {mid.strip("<>").split("@")[0] for mid in ids}
    assert {m for m, s in marked.items() if s == "sent"} <= arrived  # everything marked sent arrived
    assert arrived <= set(marked)  # and nothing else did; an uncertain one arrived or not, once at most


async def _phase(client, cycle_id: str) -> str:  # noqa: ANN001
    from workflows.cycle import CycleWorkflow
    from workflows.payloads import cycle_workflow_id

    return (await client.get_workflow_handle(cycle_workflow_id(cycle_id)).query(CycleWorkflow.status)).phase


async def test_a_cycle_sends_a_teams_chat_messages_to_its_own_group(client, db_url, task_queue, tmp_path):
    """Per team, in the cycle configuration: M2's team talks in its own WeCom group, everyone else in the company's."""
    from domain.cycle import Notifications
    from notify.channels import chat_group_couriers
    from services.cycles import config_digest
    from services.settings import ChatGroup

    seed_org(db_url, kams=2, managers=2, contacts_per_kam=0)  # K01 under M1, K02 under M2
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET channels = '{wecom}', wecom_id = lower(id)")
    company, east = ChatReceivers(), ChatReceivers()
    company.start()
    east.start()
    try:
        cid = f"MT{uuid.uuid4().hex[:6]}"
        plain = cycle_config(cid, due="3d")
        config = plain.model_copy(update={"notifications": Notifications(chat_groups={"M2": "east"})})
        # A configuration without the new block keeps the digest it had before the block existed.
        assert config_digest(plain) != config_digest(config)
        assert "notifications" not in plain.model_dump(mode="json", exclude={"notifications"})
        await create_cycle(db_url, config)
        setup = _setup(MaildirCourier(tmp_path / "mail", "hr@acme.example"),
                       chat_couriers(ChatSettings(wecom_webhook_url=company.wecom_url)),
                       chat_groups=chat_group_couriers(ChatSettings(chat_groups={
                           "east": ChatGroup(wecom_webhook_url=east.wecom_url)})))
        async with running_worker(client, db_url, task_queue, setup=setup):
            await start_cycle(client, db_url, cid, task_queue)
            await eventually(lambda: _settled(db_url, cid, 4), timeout=60)
        assert _statuses(db_url, cid) == Counter({"sent": 4})  # K01, K02, and each reviewer's list
        mentioned = {group: sorted(m for post in rx.wecom.accepted for m in post.body["text"]["mentioned_list"])
                     for group, rx in (("company", company), ("east", east))}
        assert mentioned == {"company": ["k01", "m1"], "east": ["k02", "m2"]}
    finally:
        company.stop()
        east.stop()


class _SlowRecorder(Recorder):
    """A server that takes its time over each message, so a shutdown finds groups half sent."""

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


async def test_a_stopped_worker_gives_back_what_it_never_started(client, db_url, task_queue):
    """A worker shut down mid-group (not killed): answered sends are recorded, the group's unsent rows go back
    to the queue, only the message in flight per connection stays in doubt; the next worker sends the rest once."""
    org = seed_org(db_url, kams=40, managers=2, contacts_per_kam=0)
    _with_addresses(db_url, org)
    cid = f"MG{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="3d"))
    recorder = _SlowRecorder()
    server = SmtpTestServer(recorder).start()
    try:
        setup = _setup(_smtp(server), senders=2, mark_batch=10)
        async with running_worker(client, db_url, task_queue, setup=setup):
            await start_cycle(client, db_url, cid, task_queue)

            async def some_sent() -> bool:
                return len(recorder.received) >= 5

            await eventually(some_sent, timeout=60, interval=0.01)
        stopped = _statuses(db_url, cid)
        assert stopped["sending"] <= 2, stopped  # at most the one in flight on each of the 2 connections
        async with running_worker(client, db_url, task_queue, setup=setup):
            await eventually(lambda: _settled(db_url, cid, 42), timeout=120)
    finally:
        server.stop()
    statuses = _statuses(db_url, cid)
    assert statuses["sent"] + statuses["uncertain"] == 42 and statuses["uncertain"] <= 2, statuses
    ids = Counter(r.message["Message-ID"] for r in recorder.received)
    assert max(ids.values()) == 1


async def test_two_attempts_of_one_round_at_the_same_time_send_each_message_once(db_url, smtp):
    """A late attempt beside its successor (its heartbeat came too late): both read the same rows; a row is sent
    only by the attempt whose ``sending`` mark took it from the queue, so nothing goes twice."""
    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import DeliveryActivities

    org = seed_org(db_url, kams=60, managers=2, contacts_per_kam=0)
    _with_addresses(db_url, org)
    batch = f"twice:{uuid.uuid4().hex[:6]}"
    queued = await _queue_task_mails(db_url, batch, [(f"t:{k}", k) for k in org["kams"]])
    assert queued == 60
    async with AsyncConnectionPool(db_url, min_size=1, max_size=6, open=False, kwargs={"autocommit": True}) as pool:
        owner = DeliveryActivities(pool, _setup(_smtp(smtp), senders=2, mark_batch=4))
        first, second = await asyncio.gather(ActivityEnvironment().run(owner.deliver_batch, batch),
                                             ActivityEnvironment().run(owner.deliver_batch, batch))
    assert first.sent + second.sent == 60, (first, second)
    ids = Counter(r.message["Message-ID"] for r in smtp.received)
    assert len(ids) == 60 and max(ids.values()) == 1  # each once
    with psycopg.connect(db_url) as conn:
        assert dict(conn.execute("SELECT status, count(*) FROM notification WHERE batch = %s GROUP BY 1",
                                 (batch,)).fetchall()) == {"sent": 60}


async def test_a_cancelled_attempt_leaves_no_connection_sending(db_url):
    """An attempt cancelled while its queue is full (more rows than a chunk) stops its connection: nothing is sent
    after the cancellation, and what was not started stays queued for the next attempt."""
    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import CHUNK, DeliveryActivities

    org = seed_org(db_url, kams=20, managers=2, contacts_per_kam=0)
    _with_addresses(db_url, org)
    batch = f"cancel:{uuid.uuid4().hex[:6]}"
    total = CHUNK + 20
    await _queue_task_mails(db_url, batch, [(f"c:{n:05d}", org["kams"][n % 20]) for n in range(total)])
    recorder = _SlowRecorder()
    server = SmtpTestServer(recorder).start()
    try:
        async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False,
                                       kwargs={"autocommit": True}) as pool:
            owner = DeliveryActivities(pool, _setup(_smtp(server), senders=1, mark_batch=4))
            env = ActivityEnvironment()
            attempt = asyncio.ensure_future(env.run(owner.deliver_batch, batch))

            async def some_sent() -> bool:
                return len(recorder.received) >= 3

            await eventually(some_sent, timeout=60, interval=0.01)
            env.cancel()
            with pytest.raises(BaseException):  # noqa: B017 - cancelled, however the SDK's environment says it
                await attempt
            stopped_at = len(recorder.received)
            await asyncio.sleep(0.5)  # ten of the slow server's messages' time
            assert len(recorder.received) <= stopped_at + 1  # at most the one that was in flight
    finally:
        server.stop()
    with psycopg.connect(db_url) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM notification WHERE batch = %s GROUP BY 1",
                                     (batch,)).fetchall())
    assert statuses.get("sending", 0) <= 1 and statuses["queued"] >= total - len(recorder.received) - 1, statuses


class _WindowWatcher(Recorder):
    """A server that, as each message's data arrives, counts the batch's rows marked ``sending``."""

    def __init__(self, db_url: str, batch: str) -> None:
        super().__init__()
        self.db_url, self.batch, self.seen = db_url, batch, []

    def _sending(self) -> int:
        with psycopg.connect(self.db_url) as conn:
            return conn.execute("SELECT count(*) FROM notification WHERE batch = %s AND status = 'sending'",
                                (self.batch,)).fetchone()[0]

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook
        self.seen.append(await asyncio.to_thread(self._sending))
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize(("mark_batch", "group_limit"), [(1, 64), (3, 64), (3, 1)])
async def test_no_more_than_mark_batch_rows_per_connection_in_all_are_ever_in_doubt(db_url, mark_batch, group_limit,
                                                                                    monkeypatch):
    """The next group is marked while the connections still send the last ones, yet at no moment are more than
    ``mark_batch`` × connections rows ``sending``: what a SIGKILL can leave uncertain stays that window.
    A group larger than the fixed-limit statement takes (``group_limit`` 1) goes through the counted one, alike."""
    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities import delivery
    from activities.delivery import DeliveryActivities

    monkeypatch.setattr(delivery, "GROUP_LIMIT", group_limit)

    org = seed_org(db_url, kams=30, managers=2, contacts_per_kam=0)
    _with_addresses(db_url, org)
    batch = f"window:{uuid.uuid4().hex[:6]}"
    assert await _queue_task_mails(db_url, batch, [(f"w:{k}", k) for k in org["kams"]]) == 30
    watcher = _WindowWatcher(db_url, batch)
    server = SmtpTestServer(watcher).start()
    try:
        async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}) as pool:
            owner = DeliveryActivities(pool, _setup(_smtp(server), senders=2, mark_batch=mark_batch))
            result = await ActivityEnvironment().run(owner.deliver_batch, batch)
    finally:
        server.stop()
    assert result.sent == 30 and len(watcher.seen) == 30
    assert 1 <= max(watcher.seen) <= 2 * mark_batch, watcher.seen
    assert max(Counter(r.message["Message-ID"] for r in watcher.received).values()) == 1


async def test_a_batch_of_people_without_an_address_is_settled_quickly_and_the_rest_is_sent(db_url, smtp):
    """An org import without e-mail addresses queues thousands of messages that cannot go out: each fails with the
    reason, in less time than as many one-row statements would take (measured in the same run); one statement pair
    per row outlasted the activity's heartbeat timeout in a 500-person cycle under load. The one person with an
    address still gets theirs."""
    import time

    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import DeliveryActivities
    from activities.outbox import Message, queue
    from tests.notify.test_render import SAMPLES

    org = seed_org(db_url, kams=40, managers=2, contacts_per_kam=0)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET email = 'k01@acme.example' WHERE id = 'K01'")
    batch = f"noaddr:{uuid.uuid4().hex[:6]}"
    params = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in SAMPLES["task_assigned"].items()}
    messages = [Message(f"n:{k}:{i}", "task_assigned", "employee", k, params) for k in org["kams"] for i in range(60)]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
        assert await queue(cur, None, batch, messages) == 2400
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}) as pool:
        # The floor: one single-row statement per unreachable message, on the same pool.
        t0 = time.perf_counter()
        for m in messages[60:]:
            async with pool.connection() as conn:
                await conn.execute("UPDATE notification SET attempts = attempts WHERE id = %s", (f"{m.key}:{m.recipient_id}:email",))
        floor = time.perf_counter() - t0
        owner = DeliveryActivities(pool, _setup(_smtp(smtp), senders=2))
        t0 = time.perf_counter()
        result = await ActivityEnvironment().run(owner.deliver_batch, batch)
        took = time.perf_counter() - t0
    assert (result.sent, result.failed) == (60, 2340), result
    with psycopg.connect(db_url) as conn:
        failed = conn.execute("SELECT DISTINCT last_error, attempts FROM notification WHERE batch = %s AND "
                              "status = 'failed' AND recipient_id = 'K02'", (batch,)).fetchall()
    assert failed == [("no e-mail address on file for K02; add it in the organisation import", 1)]
    assert len(smtp.received) == 60
    assert took < floor, (took, floor)


async def test_chat_messages_without_a_bot_each_fail_once_with_the_reason(db_url, smtp):
    """People reached on WeCom when no WeCom bot is configured: each message fails with that reason (attempt
    counted once), and the e-mails of the same chunk still go out."""
    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import DeliveryActivities

    org = seed_org(db_url, kams=20, managers=1, contacts_per_kam=0)
    _with_addresses(db_url, org)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET channels = '{wecom}', wecom_id = lower(id) WHERE id <> 'K01' AND id LIKE 'K%%'")
    batch = f"nobot:{uuid.uuid4().hex[:6]}"
    assert await _queue_task_mails(db_url, batch, [(f"c:{k}", k) for k in org["kams"]]) == 20
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}) as pool:
        result = await ActivityEnvironment().run(DeliveryActivities(pool, _setup(_smtp(smtp))).deliver_batch, batch)
    assert (result.sent, result.failed) == (1, 19), result
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT DISTINCT status, last_error, attempts FROM notification WHERE batch = %s "
                            "AND channel = 'wecom'", (batch,)).fetchall() == [("failed", "no wecom group is configured", 1)]
    assert [r.message["To"].addresses[0].addr_spec for r in smtp.received] == ["k01@acme.example"]


class _BreakingCourier:
    """A mail channel whose connections fail outright (a bug, not an SMTP answer) after ``after`` messages."""

    def __init__(self, inner: SmtpCourier, after: int) -> None:
        self.inner, self.after, self.sent = inner, after, 0

    def session(self):  # noqa: ANN201
        courier = self

        class _Session:
            async def __aenter__(self):  # noqa: ANN204
                self.real = courier.inner.session()
                await self.real.__aenter__()
                return self

            async def __aexit__(self, *exc):  # noqa: ANN002, ANN204
                return await self.real.__aexit__(*exc)

            async def send(self, mail):  # noqa: ANN001, ANN202
                if courier.sent >= courier.after:
                    raise RuntimeError("the channel broke")
                courier.sent += 1
                return await self.real.send(mail)

        return _Session()

    def delivered_before(self, key: str) -> bool | None:
        return None


async def test_a_connection_that_breaks_fails_the_attempt_and_the_next_one_sends_the_rest_once(db_url, smtp):
    """A connection that raises instead of answering stops its attempt at once (the activity fails and is
    retried) rather than leaving the reading side waiting behind it; the rows never marked stay queued and the
    next attempt sends every message once, the ones in doubt settled as uncertain, none twice."""
    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import CHUNK, DeliveryActivities

    org = seed_org(db_url, kams=20, managers=2, contacts_per_kam=0)
    _with_addresses(db_url, org)
    batch = f"broken:{uuid.uuid4().hex[:6]}"
    total = CHUNK + 30  # more than the line holds: the reading side is waiting for room when the connection breaks
    await _queue_task_mails(db_url, batch, [(f"b:{n:05d}", org["kams"][n % 20]) for n in range(total)])
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}) as pool:
        broken = DeliveryActivities(pool, _setup(_BreakingCourier(_smtp(smtp), after=5), senders=2, mark_batch=4))
        with pytest.raises(RuntimeError, match="the channel broke"):
            await asyncio.wait_for(ActivityEnvironment().run(broken.deliver_batch, batch), timeout=30)
        with psycopg.connect(db_url) as conn:
            after_break = Counter(dict(conn.execute(
                "SELECT status, count(*) FROM notification WHERE batch = %s GROUP BY 1", (batch,)).fetchall()))
        # What was answered is recorded, what was marked and never started is given back: only the message the
        # broken connection held and the one in flight on the other stay in doubt.
        assert after_break["sending"] <= 2 and after_break["sent"] >= 5 - 2, after_break
        assert after_break["sent"] <= len(smtp.received) <= after_break["sent"] + after_break["sending"], after_break
        assert after_break["queued"] == total - after_break["sent"] - after_break["sending"], after_break
        result = await ActivityEnvironment().run(DeliveryActivities(pool, _setup(_smtp(smtp), senders=2,
                                                                                 mark_batch=4)).deliver_batch, batch)
    # The broken attempt got at most its five messages out (one may have been cut off in flight).
    assert result.uncertain == after_break["sending"] and len(smtp.received) >= result.sent, result
    ids = Counter(r.message["Message-ID"] for r in smtp.received)
    assert max(ids.values()) == 1
    with psycopg.connect(db_url) as conn:
        final = dict(conn.execute("SELECT status, count(*) FROM notification WHERE batch = %s GROUP BY 1",
                                  (batch,)).fetchall())
    assert final.get("sent", 0) + final.get("uncertain", 0) == total and "queued" not in final, final


class _StuckCourier(_BreakingCourier):
    """A mail channel on which the sends of some keys hang until released (a server that stops answering them)."""

    def __init__(self, inner: SmtpCourier, stuck: set[str]) -> None:
        super().__init__(inner, after=10**9)
        self.stuck, self.release, self.held = stuck, asyncio.Event(), 0

    def session(self):  # noqa: ANN201
        real = super().session()
        courier = self
        plain_send = real.send

        async def send(mail):  # noqa: ANN001, ANN202
            if mail.key.rsplit(":", 2)[0] in courier.stuck:  # the row's id is the message key, recipient, channel
                courier.held += 1
                await courier.release.wait()
            return await plain_send(mail)

        real.send = send
        return real


async def test_connections_stuck_on_slow_sends_do_not_hold_up_the_others(db_url, smtp):
    """With the one-message window (k = 1) and four connections, two sends that hang do not keep the other two
    connections from sending everything else meanwhile."""
    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import DeliveryActivities

    org = seed_org(db_url, kams=20, managers=2, contacts_per_kam=0)
    _with_addresses(db_url, org)
    batch = f"stuck:{uuid.uuid4().hex[:6]}"
    keys = [f"{batch}:{n:03d}" for n in range(40)]
    await _queue_task_mails(db_url, batch, [(k, org["kams"][n % 20]) for n, k in enumerate(keys)])
    courier = _StuckCourier(_smtp(smtp), stuck=set(keys[:2]))
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}) as pool:
        owner = DeliveryActivities(pool, _setup(courier, senders=4, mark_batch=1))
        attempt = asyncio.ensure_future(ActivityEnvironment().run(owner.deliver_batch, batch))

        async def all_others_sent() -> bool:
            return len(smtp.received) >= 38

        try:
            await eventually(all_others_sent, timeout=30, interval=0.05)
            assert courier.held == 2 and len(smtp.received) == 38  # the two are still held
        finally:
            courier.release.set()
        result = await asyncio.wait_for(attempt, timeout=30)
    assert result.sent == 40 and len(smtp.received) == 40


class _SlowReturnPool:
    """A connection pool whose connections take a moment to be given back (a pool checking them first), and whose
    short-lived ones (the reading side's) a moment to be handed out: the batch's end then arrives while the marker
    is giving its connection back."""

    def __init__(self, pool) -> None:  # noqa: ANN001
        self.pool = pool

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.pool, name)

    async def putconn(self, conn) -> None:  # noqa: ANN001
        await asyncio.sleep(0.3)
        await self.pool.putconn(conn)

    @contextlib.asynccontextmanager
    async def connection(self):  # noqa: ANN201
        await asyncio.sleep(0.1)
        async with self.pool.connection() as conn:
            yield conn


async def test_the_line_ends_when_it_is_closed_while_its_marker_gives_back_its_connection(db_url, smtp):
    """The end of the batch can arrive while the marker is returning its database connection; the attempt still
    ends (the wake-up is not lost) with everything sent once."""
    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import DeliveryActivities

    org = seed_org(db_url, kams=6, managers=1, contacts_per_kam=0)
    _with_addresses(db_url, org)
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}) as pool:
        owner = DeliveryActivities(_SlowReturnPool(pool), _setup(_smtp(smtp), senders=2, mark_batch=4))
        for round_ in range(5):
            batch = f"slowpool:{round_}:{uuid.uuid4().hex[:6]}"
            await _queue_task_mails(db_url, batch, [(f"{batch}:{k}", k) for k in org["kams"]])
            result = await asyncio.wait_for(ActivityEnvironment().run(owner.deliver_batch, batch), timeout=20)
            assert result.sent == 6, (round_, result)
    assert max(Counter(r.message["Message-ID"] for r in smtp.received).values()) == 1


class _DiesAfterFirstSettle:
    """A pool whose worker "dies" (every later statement raises) right after the first statement that writes a
    message's status: a SIGKILL at the worst moment of settling, without killing the test."""

    def __init__(self, pool) -> None:  # noqa: ANN001
        self.pool, self.wrote = pool, False

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.pool, name)

    @contextlib.asynccontextmanager
    async def connection(self):  # noqa: ANN201
        owner = self

        class _Conn:
            def __init__(self, conn) -> None:  # noqa: ANN001
                self.conn = conn

            def __getattr__(self, name: str):  # noqa: ANN204
                return getattr(self.conn, name)

            async def execute(self, query, params=None):  # noqa: ANN001, ANN202
                if owner.wrote:
                    raise RuntimeError("the worker died")
                result = await self.conn.execute(query, params)
                owner.wrote = "UPDATE notification n SET status" in str(query)
                return result

        async with self.pool.connection() as conn:
            yield _Conn(conn)


async def test_messages_that_cannot_be_sent_are_never_left_in_doubt_by_a_dying_worker(db_url, smtp):
    """A worker that dies right after its first write while settling messages without an address leaves them
    failed with the reason, never "sending" (which the next attempt would have to call uncertain: "it may have
    arrived", for messages that could not go out at all)."""
    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.delivery import DeliveryActivities

    org = seed_org(db_url, kams=10, managers=1, contacts_per_kam=0)
    batch = f"dies:{uuid.uuid4().hex[:6]}"
    assert await _queue_task_mails(db_url, batch, [(f"d:{k}", k) for k in org["kams"]]) == 10
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}) as pool:
        with pytest.raises(RuntimeError, match="the worker died"):
            await ActivityEnvironment().run(DeliveryActivities(_DiesAfterFirstSettle(pool),
                                                               _setup(_smtp(smtp))).deliver_batch, batch)
        result = await ActivityEnvironment().run(DeliveryActivities(pool, _setup(_smtp(smtp))).deliver_batch, batch)
    assert result.uncertain == 0, result
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT status, attempts, last_error FROM notification WHERE batch = %s",
                            (batch,)).fetchall()
    assert len(rows) == 10 and {(s, a) for s, a, _ in rows} == {("failed", 1)}, rows
    assert all(e.startswith("no e-mail address on file for K") for _, _, e in rows)
