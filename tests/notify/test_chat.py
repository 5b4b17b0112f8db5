"""The chat group-bot channels against local receivers that check format and signature as the platforms do."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from notify.chat import ChatNote, RateLimited, RateLimiter, WebhookChannel, build_posts, make_channel, split_text
from notify.chat.dingtalk import DingTalkChannel
from notify.chat.feishu import FeishuChannel
from notify.chat.wecom import WeComChannel
from notify.message import ChatPost, Person
from tests.notify.chat_receivers import ChatReceivers

ZHANG = Person(id="p1", name="张三", mobile="13800000001", im_ids={"wecom": "zhangsan", "dingtalk": "ding-zs", "feishu": "ou_zs"})
LI = Person(id="p2", name="李四", mobile="13800000002")  # no IM ids: mentioned by mobile where the platform can
WANG = Person(id="p3", name="王五")  # neither id nor mobile: named in the text


class FakeClock:
    """Time that jumps when slept on: a minute of rate limiting costs nothing. Wall time starts on a whole second."""

    def __init__(self) -> None:
        self.t = 0.0
        self.epoch = float(int(time.time()))

    def monotonic(self) -> float:
        return self.t

    def time(self) -> float:
        return self.epoch + self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def receivers() -> Iterator[ChatReceivers]:
    server = ChatReceivers()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rx(receivers: ChatReceivers) -> ChatReceivers:
    receivers.reset()
    return receivers


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def channel(rx: ChatReceivers, name: str, client: httpx.AsyncClient, **kwargs: object) -> WebhookChannel:
    """A channel wired to its receiver with the right secret and a limiter of its own."""
    url = {"wecom": rx.wecom_url, "dingtalk": rx.dingtalk_url, "feishu": rx.feishu_url}[name]
    secret = {"wecom": None, "dingtalk": rx.dingtalk.secret, "feishu": rx.feishu.secret}[name]
    options: dict[str, object] = {"secret": secret, "limiter": RateLimiter()}
    options.update(kwargs)
    classes = {"wecom": WeComChannel, "dingtalk": DingTalkChannel, "feishu": FeishuChannel}
    return classes[name](url, client, **options)  # type: ignore[arg-type]


POST = ChatPost(keys=("n1", "n2"), text="请在 5 月 31 日 18:00 前完成自评：https://kam.example.com/reviews/7", mentions=(ZHANG, LI, WANG))


async def test_wecom_mentions_userid_and_mobile_in_fields_and_names_the_rest(rx, client) -> None:
    outcomes = await channel(rx, "wecom", client).send(POST)

    assert [(o.key, o.ok) for o in outcomes] == [("n1", True), ("n2", True)]
    [message] = rx.wecom.accepted
    assert message.body["msgtype"] == "text"
    text = message.body["text"]
    assert text["mentioned_list"] == ["zhangsan"]
    assert text["mentioned_mobile_list"] == ["13800000002"]
    assert text["content"] == "@王五\n" + POST.text  # WeCom renders the listed people itself


async def test_dingtalk_signed_and_mentions_by_userid_and_mobile_in_text_and_at(rx, client) -> None:
    outcomes = await channel(rx, "dingtalk", client).send(POST)

    assert all(o.ok for o in outcomes), outcomes
    [message] = rx.dingtalk.accepted  # the receiver recomputed the signature from timestamp and secret
    assert set(message.query) == {"access_token", "timestamp", "sign"}
    assert message.body["at"] == {"atUserIds": ["ding-zs"], "atMobiles": ["13800000002"], "isAtAll": False}
    assert message.body["text"]["content"] == "@ding-zs @13800000002 @王五\n" + POST.text


async def test_feishu_signed_at_tag_by_id_and_plain_names_for_the_rest(rx, client) -> None:
    outcomes = await channel(rx, "feishu", client).send(POST)

    assert all(o.ok for o in outcomes), outcomes
    [message] = rx.feishu.accepted
    assert message.body["msg_type"] == "text"
    assert message.body["timestamp"].isdigit() and message.body["sign"]
    # A Feishu custom bot mentions by open_id only: the mobile-only person is named like the one without either.
    assert message.body["content"]["text"] == '<at user_id="ou_zs">张三</at> @李四 @王五\n' + POST.text


@pytest.mark.parametrize(
    ("name", "platform_message"),
    [
        ("wecom", "invalid webhook url"),
        ("dingtalk", "sign not match"),
        ("feishu", "sign match fail or timestamp is not within one hour"),
    ],
)
async def test_wrong_credentials_fail_without_retry_with_the_platform_message(rx, client, name, platform_message) -> None:
    ch = channel(rx, name, client, secret="wrong-secret")
    if name == "wecom":
        ch.url = ch.url.replace(rx.wecom.key, "wrong-key")

    outcomes = await ch.send(POST)

    assert [(o.ok, o.retry) for o in outcomes] == [(False, False)] * 2
    assert platform_message in (outcomes[0].error or "")
    assert getattr(rx, name).accepted == []


async def test_dingtalk_stale_timestamp_is_refused_as_the_platform_does(rx, client) -> None:
    late = channel(rx, "dingtalk", client, now=lambda: time.time() - 7200)

    [outcome, _] = await late.send(POST)

    assert (outcome.ok, outcome.retry, outcome.detail["code"]) == (False, False, 310000)
    assert "invalid timestamp" in (outcome.error or "")


@pytest.mark.parametrize(("name", "code"), [("wecom", 45009), ("dingtalk", 130101), ("feishu", 11232)])
async def test_rate_limit_answer_is_retryable_and_quiets_the_bot(rx, client, name, code) -> None:
    clock = FakeClock()
    ch = channel(rx, name, client, limiter=RateLimiter(clock), max_wait=30.0)
    getattr(rx, name).fail_next(1, "rate_limit")

    [outcome, _] = await ch.send(POST)

    assert (outcome.ok, outcome.retry, outcome.detail["code"]) == (False, True, code)
    assert outcome.detail["retry_after"] >= 60
    # The platform asked for quiet: the next post is not even sent, and comes back "retry" too.
    [again, _] = await ch.send(POST)
    assert again.retry and not again.ok and "rate limited" in (again.error or "")
    assert getattr(rx, name).accepted == []


@pytest.mark.parametrize("name", ["wecom", "dingtalk", "feishu"])
async def test_server_error_is_retryable_then_delivers(rx, client, name) -> None:
    ch = channel(rx, name, client)
    getattr(rx, name).fail_next(1, "server_error")

    [outcome, _] = await ch.send(POST)
    assert (outcome.ok, outcome.retry, outcome.detail.get("maybe_delivered")) == (False, True, True)
    assert "HTTP 5" in (outcome.error or "")

    [retried, _] = await ch.send(POST)
    assert retried.ok
    assert len(getattr(rx, name).accepted) == 1


async def test_unreachable_bot_is_retryable_and_surely_not_delivered(client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    ch = WeComChannel(f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k", client, limiter=RateLimiter())

    [outcome, _] = await ch.send(POST)

    assert (outcome.ok, outcome.retry) == (False, True)
    assert "maybe_delivered" not in outcome.detail


async def test_burst_of_45_posts_to_one_bot_sends_at_most_20_a_minute_and_drops_nothing(rx, client) -> None:
    clock = FakeClock()
    rx.dingtalk.clock = clock.time  # the receiver judges timestamps by the same (fake) time
    ch = channel(rx, "dingtalk", client, limiter=RateLimiter(clock), max_wait=None, now=clock.time)
    posts = [ChatPost(keys=(f"k{i}",), text=f"提醒 {i}", mentions=(ZHANG,)) for i in range(45)]

    results = await asyncio.gather(*(ch.send(post) for post in posts))

    assert all(outcome.ok for outcomes in results for outcome in outcomes)
    assert rx.dingtalk.refused == []  # the receiver's own 20-a-minute rule never tripped
    assert sorted(r.body["text"]["content"] for r in rx.dingtalk.accepted) == sorted(
        f"@ding-zs\n提醒 {i}" for i in range(45)
    )
    sent = sorted(int(r.query["timestamp"]) for r in rx.dingtalk.accepted)
    assert max(sum(1 for t in sent if s <= t < s + 60_000) for s in sent) == 20
    assert clock.t == 120.0  # 20 at once, 20 a minute later, the last 5 a minute after that


async def test_limiter_answers_retry_rather_than_wait_beyond_max_wait(rx, client) -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    for _ in range(20):
        await limiter.acquire(rx.wecom_url, WeComChannel.rules)
    with pytest.raises(RateLimited):
        await limiter.acquire(rx.wecom_url, WeComChannel.rules, max_wait=10.0)

    [outcome, _] = await channel(rx, "wecom", client, limiter=limiter, max_wait=10.0).send(POST)

    assert (outcome.ok, outcome.retry, outcome.detail["retry_after"]) == (False, True, 60.0)
    assert rx.wecom.accepted == [] and clock.t == 0.0


async def test_long_post_is_split_under_the_limit_mentions_in_the_first_part(rx, client) -> None:
    lines = [f"第{i}项：客户满意度调查仍未完成，请尽快填写问卷并提交。" for i in range(80)]
    text = "\n".join(lines)
    assert len(text.encode()) > 3 * 2048
    post = ChatPost(keys=("long",), text=text, mentions=(ZHANG, LI))

    [outcome] = await channel(rx, "wecom", client).send(post)

    assert outcome.ok and outcome.detail["parts"] >= 4
    parts = rx.wecom.accepted
    assert len(parts) == outcome.detail["parts"]
    assert all(len(p.body["text"]["content"].encode()) <= 2048 for p in parts)
    assert parts[0].body["text"]["mentioned_list"] == ["zhangsan"]
    assert all("mentioned_list" not in p.body["text"] for p in parts[1:])
    bodies = [re.sub(r" \(\d+/\d+\)$", "", p.body["text"]["content"]) for p in parts]
    assert all(p.body["text"]["content"].endswith(f" ({i}/{len(parts)})") for i, p in enumerate(parts, 1))
    assert "\n".join(bodies).split("\n") == lines  # cut at line ends, nothing lost or repeated


def test_split_never_cuts_a_character_and_keeps_every_part_under_the_limit() -> None:
    text = "审" * 3000  # one 9000-byte "word": cut between characters
    parts = split_text(text, 2048)
    assert all(len(p.encode()) <= 2048 for p in parts)
    assert "".join(re.sub(r" \(\d+/\d+\)$", "", p) for p in parts) == text
    assert split_text("short", 2048) == ["short"]


async def test_builder_batches_mentions_into_few_posts_and_every_key_is_answered(rx, client) -> None:
    people = [Person(id=f"u{i}", name=f"员工{i}", im_ids={"wecom": f"w{i}"}) for i in range(12)]
    notes = [ChatNote(key=f"n{i}", text=f"员工{i % 12}：请完成自评。", person=people[i % 12]) for i in range(25)]

    posts = build_posts(notes, max_bytes=1500, max_notes=10)

    assert [len(p.keys) for p in posts] == [10, 10, 5]
    assert [k for p in posts for k in p.keys] == [n.key for n in notes]
    assert [m.id for m in posts[0].mentions] == [f"u{i}" for i in range(10)]
    assert [m.id for m in posts[1].mentions] == ["u10", "u11"] + [f"u{i}" for i in range(8)]

    ch = channel(rx, "wecom", client)
    outcomes = [o for post in posts for o in await ch.send(post)]

    assert [o.key for o in outcomes if o.ok] == [n.key for n in notes]
    assert len(rx.wecom.accepted) == 3
    assert rx.wecom.accepted[0].body["text"]["mentioned_list"] == [f"w{i}" for i in range(10)]


def test_builder_respects_the_byte_budget_and_gives_an_oversized_note_its_own_post() -> None:
    big = ChatNote(key="big", text="长" * 1000, person=WANG)
    small = [ChatNote(key=f"s{i}", text="短消息" * 20, person=LI) for i in range(4)]

    posts = build_posts([small[0], big, *small[1:]], max_bytes=1500)

    assert [p.keys for p in posts] == [("s0",), ("big",), ("s1", "s2", "s3")]
    assert all(len(p.text.encode()) <= 1500 for p in posts if p.keys != ("big",))


def test_make_channel_builds_each_platform_and_refuses_unknown_names() -> None:
    http = httpx.AsyncClient()
    assert isinstance(make_channel("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/x", http), FeishuChannel)
    assert make_channel("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=t", http, secret="s").secret == "s"
    with pytest.raises(ValueError):
        make_channel("slack", "https://hooks.slack.com/x", http)
    with pytest.raises(ValueError):
        make_channel("wecom", "", http)
