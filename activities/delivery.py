"""Sending queued messages: read, mark, send, mark, in an order that never sends one message twice.

Each message (one outbox row) moves ``queued`` → ``sending`` → ``sent``, and the only step that talks to the
outside world happens while it is ``sending``:

1. a chunk of the batch's sendable rows is *read* (in id order, after the last chunk); nothing is written and
   nothing is sent yet, so reading the same rows twice (a late attempt beside a new one) costs nothing;
2. one *marker* per activity takes the rows as they are read and marks a group of them ``sending`` (attempts
   counted, addresses and Message-IDs recorded) in one statement — committed before any of them is handed to
   a connection. The statement moves a row only from ``queued`` (or a ``retry`` whose time has come), so of
   two attempts holding the same row only one ever marks it; a connection sends only rows the marker took;
3. the connections (``senders``) take marked rows one at a time, render and send them, and report how each
   ended; the marker records those outcomes (``sent``, or ``retry`` with the next attempt time, or ``failed``)
   in its next statement, the one that marks the next group.

If the worker dies between 2 and 3, nobody can know which of the marked rows the server kept. A later attempt
finds those rows still ``sending`` and marks them ``uncertain`` — visible to HR with that explanation, resent
only when a person decides to — rather than sending them again: a message is sent at most once per key.
The window is at most k × senders rows (k = ``KAMREVIEW_DELIVERY_MARK_BATCH``, 8 by default: 32 with four
connections) ``sending`` at any moment. The marker runs its next statement once three quarters of the window
are free, while the connections still send the last quarter: no connection waits for the database, and there
is one statement per 24 e-mails (bench/README.md, session 27). Marking straight from ``queued`` (there is no
``claimed`` row update any more) writes each row twice instead of three times.
A worker stopped rather than killed records what was answered and gives back the rows it never started, so
only the one message in flight per connection stays in doubt. The Maildir channel of the embedded default can tell, and
settles such a row as ``sent`` or back to the queue. Rows an older version left ``claimed`` go back to the
queue at the start of the next attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from activities.base import DbActivities, dumps, new_token, token_hash
from domain.text import Text, tr
from notify.chat import ChatChannel, ChatNote, build_posts
from notify.mail import key_digest
from notify.message import OutgoingMail, Person, Rendered, SendOutcome
from workflows.payloads import DeliveryRound

CHUNK = 1000  # rows read at once (the next chunk is read while this one is sent)
HEARTBEAT_S = 1.0  # at most one heartbeat a second from the marker (the workflow's heartbeat timeout is 10 s)
# A row that may be marked ``sending`` now: waiting in the queue, or waiting for a retry whose time has come.
SENDABLE = "(n.status = 'queued' OR (n.status = 'retry' AND n.next_attempt_at <= now()))"
INTERRUPTED = tr("the delivery stopped while this message was being sent (the worker restarted); it may have "
                 "arrived: resend it if the person did not get it")


def _error_columns(error: Text | str | None) -> tuple[str | None, Jsonb | None]:
    """last_error in English (logs, the API) and, for our own reasons, last_error_text: its message id and
    parameters, which the pages translate for HR. A server's reply has no translation: it is shown as it came."""
    if error is None:
        return None, None
    return str(error), Jsonb(error.as_details()) if isinstance(error, Text) else None


class MailSession(Protocol):
    async def send(self, mail: OutgoingMail) -> SendOutcome: ...


class MailCourier(Protocol):
    """E-mail: one connection (session) carries many messages."""

    def session(self) -> Any: ...  # an async context manager yielding a MailSession

    def delivered_before(self, key: str) -> bool | None: ...  # None: the channel cannot tell


class Renderer(Protocol):
    def __call__(self, kind: str, locale: str, params: dict[str, Any], tz: str) -> Rendered: ...


@dataclass
class DeliverySetup:
    """What the worker gives the delivery activities: the channels, the wording, where links point."""

    mail: MailCourier | None
    chat: dict[str, ChatChannel]
    render: Renderer
    base_url: str
    retry_after_s: float = 60.0  # first wait after a transient failure; doubles per attempt
    max_attempts: int = 8
    senders: int = 4  # e-mail connections used in parallel
    mark_batch: int = 8  # e-mails in doubt per connection: at most this many × senders ``uncertain`` per crash
    default_timezone: str = "Asia/Shanghai"
    company: str = "kamreview"  # who writes to customers (the survey invitation's signature)
    chat_groups: dict[str, dict[str, ChatChannel]] = field(default_factory=dict)  # named groups a cycle may use


@dataclass
class _Claimed:
    id: str
    kind: str
    recipient_type: str
    recipient_id: str
    channel: str
    params: dict[str, Any]
    cycle_id: str | None
    attempts: int
    person: Person | None = None
    chat_group: str = ""  # the cycle's chat group for the person's team; "" for the company's


# The marker's one statement per group of e-mails: how the sends since its last statement ended, and the next
# group marked ``sending`` (attempt counted, address and Message-ID recorded), committed together. A row that
# never reached ``sending`` (it could not be rendered) counts its attempt here. Both halves come as one JSON
# array each ([id, status, error, error_text, wait_s, counted] and [id, address, message_id]): two text
# parameters cost the worker a fraction of what nine adapted arrays did (bench/README.md). Each array comes with
# its length as a LIMIT: the planner otherwise takes a set-returning function for 100 rows, and against an outbox
# of up to ~25,000 rows it then hashes them and scans the whole table, twice per statement (9 ms of PostgreSQL's
# CPU per group of 8 instead of 1.4 at 10,000 rows, bench/README.md); with the true count it probes the key.
# The outcomes half, shared with _SETTLE: the rows ``d`` of the JSON array, and the columns an outcome sets.
_OUTCOME_ROWS = """SELECT e->>0 AS id, e->>1 AS status, e->>2 AS error, (e->>3)::jsonb AS error_text,
                          (e->>4)::float8 AS wait, (e->>5)::int AS counted
                   FROM json_array_elements(%(done)s::json) AS e LIMIT %(done_n)s"""
_OUTCOME_COLUMNS = """status = d.status, sent_at = CASE WHEN d.status = 'sent' THEN now() ELSE n.sent_at END,
                      last_error = d.error, last_error_text = d.error_text,
                      next_attempt_at = CASE WHEN d.wait IS NULL THEN n.next_attempt_at
                                             ELSE now() + make_interval(secs => d.wait) END,
                      attempts = n.attempts + d.counted"""
_ADVANCE = f"""WITH d AS ({_OUTCOME_ROWS}),
              done AS (UPDATE notification n SET {_OUTCOME_COLUMNS}
                              FROM d WHERE n.id = d.id),
              g AS (SELECT e->>0 AS id, e->>1 AS address, e->>2 AS message_id
                    FROM json_array_elements(%(next)s::json) AS e LIMIT %(next_n)s),
              go AS (UPDATE notification n SET status = 'sending', attempts = n.attempts + 1, address = g.address,
                            message_id = g.message_id, claimed_at = now()
                     FROM g WHERE n.id = g.id AND {SENDABLE}
                     RETURNING n.id)
         SELECT id FROM go"""
# The statement the marker runs, once per group: its LIMITs are fixed at the largest group it takes, so that no
# parameter changes its plan. With the counts as parameters PostgreSQL planned it anew on every execution (the
# plan for 7 rows looks cheaper than the generic one), a third of its CPU per group (bench/README.md, session
# 23); with constants it keeps the prepared statement's generic plan, which probes the key as the custom one did.
GROUP_LIMIT = 64
_ADVANCE_GROUP = _ADVANCE.replace("%(done_n)s", str(GROUP_LIMIT)).replace("%(next_n)s", str(GROUP_LIMIT))


# Rows settled without a send (nothing could go out): their outcome and counted attempt in one statement, from
# the same JSON as _ADVANCE's first half, only for rows still waiting to be sent.
_SETTLE = f"""UPDATE notification n SET {_OUTCOME_COLUMNS}, claimed_at = now()
              FROM ({_OUTCOME_ROWS}) AS d WHERE n.id = d.id AND {SENDABLE}
              RETURNING n.id"""


def _json(rows: list[list[Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


class DeliveryActivities(DbActivities):
    def __init__(self, pool: AsyncConnectionPool, setup: DeliverySetup) -> None:
        super().__init__(pool)
        self.setup = setup

    @activity.defn(name="deliver_batch")
    async def deliver_batch(self, batch: str) -> DeliveryRound:
        """Send what the batch has ready; report what was sent and what waits for a later attempt.

        The e-mail connections never wait for a chunk boundary: the next chunk is read (and its people) while
        the connections still send the one before, through a queue at most two chunks deep.
        """
        counts = {"sent": 0, "failed": 0, "uncertain": await self._settle_interrupted(batch)}

        def count(statuses: Sequence[str]) -> None:
            for status in statuses:
                counts[status] = counts.get(status, 0) + 1

        mail = _MailLine(self, count)
        after = ""
        async with mail:
            while rows := await self._next_chunk(batch, after):
                after = rows[-1].id
                await self._with_people(rows)
                await mail.put([r for r in rows if r.channel == "email"])
                count(await self._send_chat([r for r in rows if r.channel != "email"]))
                activity.heartbeat(counts)
        async with self.pool.connection() as conn:
            waiting, next_at = await (await conn.execute(
                """SELECT count(*), min(next_attempt_at) FROM notification
                   WHERE batch = %s AND status IN ('queued', 'retry', 'claimed')""", (batch,))).fetchone()
        wait_s = max(0.0, (next_at - datetime.now(UTC)).total_seconds()) if next_at else None
        return DeliveryRound(counts["sent"], counts["failed"], counts["uncertain"], waiting, wait_s)

    # -- the outbox rows --------------------------------------------------------------------------

    async def _settle_interrupted(self, batch: str) -> int:
        """Rows an earlier attempt left behind: claimed ones go back to the queue, sending ones are settled."""
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE notification SET status = 'queued' WHERE batch = %s AND status = 'claimed'",
                               (batch,))
            rows = await (await conn.execute(
                "SELECT id, channel FROM notification WHERE batch = %s AND status = 'sending'", (batch,))).fetchall()
            uncertain = 0
            for key, channel in rows:
                known = self.setup.mail.delivered_before(key) if channel == "email" and self.setup.mail else None
                if known is None:
                    uncertain += 1
                    await conn.execute("UPDATE notification SET status = 'uncertain', last_error = %s, last_error_text = %s "
                                       "WHERE id = %s AND status = 'sending'", (*_error_columns(INTERRUPTED), key))
                else:
                    await conn.execute(
                        "UPDATE notification SET status = CASE WHEN %s THEN 'sent' ELSE 'queued' END, "
                        "sent_at = CASE WHEN %s THEN now() END WHERE id = %s AND status = 'sending'",
                        (known, known, key))
        return uncertain

    async def _next_chunk(self, batch: str, after: str) -> list[_Claimed]:
        """The next chunk of the batch's sendable rows, in id order after ``after``; read only: the ``sending``
        mark is what takes a row (a row another attempt marked first is not sent by this one)."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                f"""SELECT n.id, n.kind, n.recipient_type, n.recipient_id, n.channel, n.params, n.cycle_id, n.attempts
                    FROM notification n WHERE n.batch = %s AND n.id > %s AND {SENDABLE}
                    ORDER BY n.id LIMIT %s""",
                (batch, after, CHUNK),
            )).fetchall()
        return [_Claimed(*r) for r in rows]

    async def _with_people(self, rows: list[_Claimed]) -> None:
        """Who each message is for, as they are now (name, address, language, time zone)."""
        employees = sorted({r.recipient_id for r in rows if r.recipient_type == "employee"})
        contacts = sorted({r.recipient_id for r in rows if r.recipient_type == "contact"})
        people: dict[tuple[str, str], Person] = {}
        async with self.pool.connection() as conn:
            teams: dict[str, tuple[str, ...]] = {}
            for rid, name, locale, tz, email, mobile, wecom, dingtalk, feishu, manager in await (await conn.execute(
                    """SELECT id, name, locale, timezone, email, mobile, wecom_id, dingtalk_id, feishu_id, manager_id
                       FROM employee WHERE id = ANY(%s)""", (employees,))).fetchall():
                im_ids = {k: v for k, v in (("wecom", wecom), ("dingtalk", dingtalk), ("feishu", feishu)) if v}
                people["employee", rid] = Person(rid, name, locale, tz, email, mobile, im_ids)
                teams[rid] = tuple(t for t in (manager, rid) if t)
            for rid, name, locale, email in await (await conn.execute(
                    "SELECT id, name, locale, email FROM customer_contact WHERE id = ANY(%s)", (contacts,))).fetchall():
                people["contact", rid] = Person(rid, name, locale, self.setup.default_timezone, email)
            for r in rows:
                r.person = people.get((r.recipient_type, r.recipient_id))
                if r.channel != "email" and r.cycle_id and r.recipient_type == "employee":
                    # A team is its manager's id: a KAM is in their manager's team, a manager in their own.
                    config = await self.cycle_config(conn, r.cycle_id)
                    groups = config.notifications.chat_groups if config.notifications else {}
                    r.chat_group = next((groups[t] for t in teams.get(r.recipient_id, ()) if t in groups), "")

    def _verdict(self, row: _Claimed, outcome: SendOutcome) -> tuple[str, Text | str | None, timedelta | None]:
        """(status, error, wait before the next attempt) for how a send ended: a transient failure waits for its
        next attempt until the budget is spent; an answer that never came is never sent again."""
        if outcome.ok:
            return "sent", None, None
        if outcome.detail.get("maybe_delivered") or outcome.detail.get("uncertain"):
            return "uncertain", tr("no answer after sending (%(error)s); it may have arrived: resend it if the person "
                                   "did not get it", error=outcome.error or ""), None
        attempts = row.attempts + 1
        if outcome.retry and attempts < self.setup.max_attempts:
            return "retry", outcome.error, timedelta(seconds=self.setup.retry_after_s * 2 ** (attempts - 1))
        return "failed", outcome.error or tr("not delivered"), None

    def _outcomes(self, done: Sequence[tuple[_Claimed, SendOutcome, bool]]) -> tuple[str, list[str]]:
        """The ``done`` half of _ADVANCE, as JSON: (row, outcome, whether its attempt is still to be counted)
        per message; and the statuses recorded."""
        rows: list[list[Any]] = []
        statuses: list[str] = []
        for row, outcome, uncounted in done:
            status, error, wait = self._verdict(row, outcome)
            message, words = _error_columns(error)
            rows.append([row.id, status, message, dumps(words.obj) if words is not None else None,
                         wait.total_seconds() if wait else None, int(uncounted)])
            statuses.append(status)
        return _json(rows), statuses

    async def _mark(self, row: _Claimed, outcome: SendOutcome, conn: Any = None, *, counted: bool = True) -> str:
        """Record how one send ended (``counted``: its attempt was counted when it was marked ``sending``)."""
        if conn is None:
            async with self.pool.connection() as own:
                return await self._mark(row, outcome, own, counted=counted)
        return (await self._advance(conn, [(row, outcome, not counted)], []))[0][0]

    async def _advance(self, conn: Any, done: Sequence[tuple[_Claimed, SendOutcome, bool]],
                       nxt: Sequence[_Claimed]) -> tuple[list[str], set[str]]:
        """One round trip per group: the previous group's outcomes, and the next group marked ``sending``.

        Returns the statuses recorded and the ids now ``sending`` for this sender: a row another attempt has
        marked meanwhile (this one's heartbeat was late, and a new attempt runs beside it) is not among them,
        and is not sent by this one.
        """
        outcomes, statuses = self._outcomes(done)
        nxt_json = _json([[r.id, r.person.email if r.person else None, key_digest(r.id)] for r in nxt])
        if len(done) <= GROUP_LIMIT and len(nxt) <= GROUP_LIMIT:
            statement, params = _ADVANCE_GROUP, {"done": outcomes, "next": nxt_json}
        else:  # a mark batch above the limit, or a release of more rows
            statement, params = _ADVANCE, {"done": outcomes, "done_n": len(done), "next": nxt_json, "next_n": len(nxt)}
        marked = await (await conn.execute(statement, params)).fetchall()
        return statuses, {m[0] for m in marked}

    async def _release(self, conn: Any, done: Sequence[tuple[_Claimed, SendOutcome, bool]], unsent: list[str]) -> None:
        """A cancelled sender: record the answered sends and give back the rows marked ``sending`` but never sent."""
        if done:
            await self._advance(conn, done, [])
        await conn.execute("UPDATE notification SET status = 'queued', attempts = attempts - 1 "
                           "WHERE id = ANY(%s) AND status = 'sending'", (unsent,))

    async def _fail_unsendable(self, failures: Sequence[tuple[_Claimed, Text]]) -> list[str]:
        """Rows that cannot be sent at all (no address on file, no channel configured) fail with their reason,
        however many, in one statement that also counts their attempt: an org import without addresses queues
        thousands of them, and a statement pair per row outlasted the activity's heartbeat timeout
        (bench/README.md). One statement rather than a ``sending`` mark and then the outcome: a worker killed in
        between would have left them ``uncertain`` ("it may have arrived") although nothing could go out. Like the
        mark, it takes a row only from ``queued`` (or a due ``retry``): a row another attempt took is not counted."""
        if not failures:
            return []
        outcomes, statuses = self._outcomes([(r, SendOutcome(r.id, ok=False, error=why), True) for r, why in failures])
        async with self.pool.connection() as conn:
            settled = {row[0] for row in await (await conn.execute(
                _SETTLE, {"done": outcomes, "done_n": len(failures)})).fetchall()}
        return [status for (row, _), status in zip(failures, statuses, strict=True) if row.id in settled]

    async def _sending(self, rows: Sequence[_Claimed], addresses: Sequence[str | None]) -> None:
        """Committed before the first byte is sent: a row found ``sending`` later may have been delivered."""
        async with self.pool.connection() as conn:
            await conn.execute(
                f"""UPDATE notification n SET status = 'sending', attempts = n.attempts + 1, address = u.address,
                           message_id = COALESCE(u.message_id, n.message_id), claimed_at = now()
                    FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(id, address, message_id)
                    WHERE n.id = u.id AND {SENDABLE}""",
                ([r.id for r in rows], list(addresses), [key_digest(r.id) if r.channel == "email" else None
                                                          for r in rows]),
            )

    # -- rendering ----------------------------------------------------------------------------------

    async def _params(self, row: _Claimed) -> dict[str, Any]:
        """The row's parameters with absolute links; a customer's message carries a fresh signed survey link."""
        params = dict(row.params)
        params.setdefault("name", row.person.name if row.person else row.recipient_id)
        base = self.setup.base_url.rstrip("/")
        if path := params.pop("link_path", None):
            params["link"] = base + path
        if "reports" in params:
            params["reports"] = [{"name": r["name"], "link": base + r["link_path"]} if "link_path" in r else r
                                 for r in params["reports"]]
        if invitation := params.pop("survey_invitation_id", None):
            token, expires = await self._survey_token(invitation)
            params |= {"link": f"{base}/survey#{token}", "expires": expires.isoformat(),
                       "company": self.setup.company}
        if account := params.pop("password_link", None):
            token, expires = await self._password_token(account["username"], account["purpose"],
                                                        float(account["ttl_s"]))
            params |= {"link": f"{base}/password#{token}", "expires": expires.isoformat(),
                       "company": self.setup.company}
        return params

    async def _password_token(self, username: str, purpose: str, ttl_s: float) -> tuple[str, datetime]:
        """A new single-use set-password link (invitation or reset), made as it is sent so the raw token exists only
        in the e-mail; it replaces any earlier link of the account, so only the newest message works."""
        token = new_token()
        expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("""UPDATE web_user_token SET revoked_at = now()
                                  WHERE username = %s AND used_at IS NULL AND revoked_at IS NULL""", (username,))
            await conn.execute(
                """INSERT INTO web_user_token (token_hash, username, purpose, created_at, expires_at)
                   VALUES (%s, %s, %s, now(), %s)""", (token_hash(token), username, purpose, expires))
        return token, expires

    async def _survey_token(self, invitation_id: str) -> tuple[str, datetime]:
        """A new single-use link for the invitation (only its hash is stored, as for the links HR issues)."""
        token = new_token()
        async with self.pool.connection() as conn:
            row = await (await conn.execute("SELECT cycle_id FROM survey_invitation WHERE id = %s",
                                            (invitation_id,))).fetchone()
            ttl = (await self.cycle_config(conn, row[0])).survey_link_ttl if row else timedelta(days=30)
            expires = datetime.now(UTC) + ttl
            # Each message its own link: the invitation's and every reminder's work until the survey is answered.
            await conn.execute(
                """INSERT INTO survey_link (token_hash, invitation_id, created_by, created_at, expires_at)
                   VALUES (%s, %s, 'delivery', now(), %s)""", (token_hash(token), invitation_id, expires))
        return token, expires

    def _rendered(self, row: _Claimed, params: dict[str, Any]) -> Rendered:
        person = row.person
        return self.setup.render(row.kind, person.locale if person else "en", params,
                                 person.timezone if person else self.setup.default_timezone)

    # -- channels -----------------------------------------------------------------------------------

    async def _send_chat(self, rows: list[_Claimed]) -> list[str]:
        """Group bots: the messages for one group go out in as few posts as fit, each mentioning its people."""
        results: list[str] = []
        by_group: dict[tuple[str, str], list[_Claimed]] = {}
        for r in rows:
            by_group.setdefault((r.channel, r.chat_group), []).append(r)
        for (channel, group), members in by_group.items():
            courier = self.setup.chat_groups.get(group, {}).get(channel) if group else self.setup.chat.get(channel)
            unreachable = [r for r in members if courier is None or r.person is None]
            why = (tr("the recipient is not on file") if courier is not None else
                   tr("no %(channel)s bot is configured for the chat group '%(group)s' (KAMREVIEW_CHAT_GROUPS)",
                      channel=channel, group=group) if group
                   else tr("no %(channel)s group is configured", channel=channel))
            results += await self._fail_unsendable([(r, why) for r in unreachable])
            notes, by_key = [], {}
            settled = {r.id for r in unreachable}
            for r in members:
                if r.id in settled:
                    continue
                notes.append(ChatNote(r.id, self._rendered(r, await self._params(r)).text, r.person))
                by_key[r.id] = r
            for post in build_posts(notes):
                posted = [by_key[k] for k in post.keys]
                await self._sending(posted, [channel] * len(posted))
                outcomes = {o.key: o for o in await courier.send(post)}
                activity.heartbeat()
                for r in posted:
                    results.append(await self._mark(r, outcomes.get(r.id, SendOutcome(
                        r.id, ok=False, error=tr("the bot gave no answer for this message")))))
        return results


class _MailLine:
    """The e-mail connections of one activity, and the one marker that decides which rows are ``sending``.

    ``put`` hands over a chunk's e-mails (rows that cannot be sent at all are settled at once) and returns as soon
    as there is room, so the caller reads the next chunk while these are sent. The *marker* takes them in groups:
    one statement records the outcomes the connections have reported since its last one and marks the next rows
    ``sending``; the ``senders`` connections take marked rows one at a time, render and send them, and report how
    each ended. At no moment are more than ``window`` = k × senders of the line's rows ``sending`` (k =
    ``mark_batch``): that is all a SIGKILL can leave ``uncertain`` of them. The marker runs its statement once
    three quarters of the window are free, so that with k ≥ 4 the connections still have marked rows to send
    while it runs (none waits for the database), and there is one statement per 3/4 × k × senders e-mails of
    the whole line (24 by default), not one per k − 1 of each connection: the database's round trips were what
    kept the line below the bare SMTP loop's pace (bench/README.md, session 27).

    Leaving the ``async with`` waits until every row handed over is sent and recorded. An exception (a cancelled
    activity: the worker shutting down; a connection that broke) stops the connections, records what was
    answered and gives back the rows marked but never started, so only the messages in flight (one per
    connection) stay in doubt.
    """

    def __init__(self, owner: DeliveryActivities, count: Any) -> None:
        self.owner, self.count = owner, count
        setup = owner.setup
        self.senders = max(1, setup.senders)
        self.window = max(1, setup.mark_batch) * self.senders
        # The next statement waits until three quarters of the window are free: the connections still hold the
        # last quarter (two rows each by default) while it runs, and there is one statement per 24 e-mails. Never
        # more than the window less all but one connection, so that connections stuck on slow sends (one row
        # each) cannot keep the others from getting rows.
        self.threshold = max(1, min(self.window * 3 // 4, self.window - self.senders + 1))
        self.incoming: asyncio.Queue[_Claimed] = asyncio.Queue(maxsize=CHUNK)  # handed over, not yet marked
        self.ready: asyncio.Queue[_Claimed | None] = asyncio.Queue()  # marked, not yet taken by a connection
        self.done: list[tuple[_Claimed, SendOutcome, bool]] = []  # answered, not yet recorded
        self.in_doubt = 0  # rows this line marked whose outcome is not recorded yet
        self.unsent: list[str] = []  # rows marked and taken by a connection that never started them
        self.closing = False
        self.stopping = False  # stopped from outside: nothing more is marked
        self.poke = asyncio.Event()  # the marker's: a row came in, an outcome came back, the line is closing
        self.room = asyncio.Event()  # put's: the marker took rows (or failed)
        self.marker: asyncio.Task[None] | None = None
        self.connections: list[asyncio.Task[None]] = []
        self.failure: BaseException | None = None

    async def __aenter__(self) -> _MailLine:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        tasks = [*self.connections, *([self.marker] if self.marker else [])]
        if not tasks:
            return
        if kind is not None:
            await self._stop()
            return
        self.closing = True
        self.poke.set()
        try:
            finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            await self._stop()
            raise
        if failed := next((t for t in finished if not t.cancelled() and t.exception() is not None), None):
            await self._stop()
            raise failed.exception()  # type: ignore[misc]

    async def _stop(self) -> None:
        """Connections first, then the marker: it records what they answered and gives back what they never
        started. A second cancellation (the worker insisting) must not cut that short."""
        self.stopping = True
        await _cancelled(self.connections)
        await _cancelled([self.marker] if self.marker else [])

    async def put(self, rows: list[_Claimed]) -> None:
        owner = self.owner
        setup = owner.setup
        unsendable = [r for r in rows if r.person is None or not r.person.email or setup.mail is None]
        if unsendable:
            reasons = [tr("e-mail is not configured") if setup.mail is None
                       else tr("no e-mail address on file for %(person)s; add it in the organisation import",
                               person=r.recipient_id) for r in unsendable]
            self.count(await owner._fail_unsendable(list(zip(unsendable, reasons, strict=True))))
            activity.heartbeat()
        settled = {r.id for r in unsendable}
        for r in rows:
            if r.id in settled:
                continue
            if self.marker is None:
                self.marker = asyncio.create_task(self._mark())
                self.connections = [asyncio.create_task(self._connection()) for _ in range(self.senders)]
            while self.incoming.full() and self.failure is None:
                self.room.clear()
                await self.room.wait()
            if self.failure is not None:
                raise self.failure
            self.incoming.put_nowait(r)
            self.poke.set()

    # -- the marker -------------------------------------------------------------------------------

    def _free(self) -> int:
        """Places in the window once the outcomes not yet recorded are: what the next statement may mark."""
        return self.window - self.in_doubt + len(self.done)

    def _due(self) -> tuple[list[tuple[_Claimed, SendOutcome, bool]], list[_Claimed]] | None:
        """The next statement's (outcomes to record, rows to mark), or None while there is nothing worth one.

        Rows are marked once the threshold's share of the window is free (the connections still hold the rest);
        outcomes alone are recorded when nothing waits to be marked and the connections have nothing left to
        take. Once the line is being stopped nothing more is marked."""
        if self.stopping:
            return None
        free = self._free()
        if not self.incoming.empty() and free >= self.threshold:
            rows = [self.incoming.get_nowait() for _ in range(min(free, self.incoming.qsize()))]
            self.room.set()
        elif self.done and self.incoming.empty() and self.ready.empty():
            rows = []
        else:
            return None
        done, self.done = self.done, []
        return done, rows

    async def _mark(self) -> None:
        """The one statement at a time that records outcomes and marks rows ``sending``, committed before any of
        the rows it marks is handed to a connection."""
        owner = self.owner
        conn: Any = None
        beat = time.monotonic()
        taken: list[_Claimed] = []  # marked by a statement that was cancelled: never handed out
        try:
            while True:
                if self.failure is not None:  # a connection failed: the line stops (the activity is retried)
                    raise self.failure
                self.poke.clear()  # before looking: whatever happens from here on wakes the wait below
                statement = self._due()
                if statement is None:
                    if self.closing and self.incoming.empty() and self.in_doubt == 0:
                        break
                    if conn is not None and self.in_doubt == 0:  # idle: the reading side may need it
                        await owner.pool.putconn(conn)
                        conn = None
                    await self.poke.wait()
                    continue
                done, rows = statement
                if conn is None:
                    conn = await owner.pool.getconn()
                advance = asyncio.ensure_future(owner._advance(conn, done, rows))
                try:
                    statuses, marked = await asyncio.shield(advance)
                except asyncio.CancelledError:
                    # The statement may have been committed: learn what it took, so that it is given back.
                    while not advance.done():
                        with contextlib.suppress(asyncio.CancelledError):
                            await asyncio.wait([advance])
                    if advance.exception() is None:
                        taken = [r for r in rows if r.id in advance.result()[1]]
                        self.in_doubt -= len(done)
                    else:
                        self.done = done + self.done
                    raise
                except Exception:
                    self.done = done + self.done  # not recorded: given back with the rest, if the database lets us
                    raise
                self.count(statuses)
                self.in_doubt -= len(done)
                for row in rows:
                    if row.id in marked:  # a row another attempt marked first is not this one's to send
                        self.in_doubt += 1
                        self.ready.put_nowait(row)
                if (now := time.monotonic()) - beat >= HEARTBEAT_S:  # the SDK throttles the server's share;
                    beat = now  # this saves the call's own cost
                    activity.heartbeat()
            for _ in self.connections:
                self.ready.put_nowait(None)
        except asyncio.CancelledError:
            # The connections have stopped: what they answered is recorded; what was marked and never started
            # goes back to the queue. Only the messages in flight stay ``sending``.
            await self._give_back(conn, taken)
            raise
        except Exception as err:
            # A connection broke (or the database went away): the activity fails and is retried; rows not yet
            # marked stay ``queued`` (a later attempt sends them) and ``put`` raises the failure rather than
            # wait. The other connections stop, and what they answered is recorded and what was marked but never
            # started given back, as on a shutdown (which fails too if the database is what went away).
            self.failure = err
            self.room.set()
            self.stopping = True
            await _cancelled(self.connections)
            await self._give_back(conn, taken)
            raise
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await owner.pool.putconn(conn)

    async def _give_back(self, conn: Any, taken: list[_Claimed]) -> None:
        """Record what the stopped connections answered and give back the rows marked but never started (those
        of a statement that was cut short included): shielded, since a second cancellation must not cut it
        short, and best-effort, since the database may be what failed."""
        unsent = self.unsent + [r.id for r in taken]
        while not self.ready.empty():
            if (row := self.ready.get_nowait()) is not None:
                unsent.append(row.id)
        release = asyncio.ensure_future(self._release(conn, self.done, unsent))
        while not release.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(release)
        with contextlib.suppress(Exception):
            release.result()

    async def _release(self, conn: Any, done: Sequence[tuple[_Claimed, SendOutcome, bool]], unsent: list[str]) -> None:
        """On the marker's connection when it holds one (a pool that is closing gives out no more)."""
        if conn is not None:
            await self.owner._release(conn, done, unsent)
            return
        if done or unsent:
            async with self.owner.pool.connection() as own:
                await self.owner._release(own, done, unsent)

    # -- the connections ----------------------------------------------------------------------------

    async def _prepare(self, row: _Claimed) -> OutgoingMail | SendOutcome:
        """The row's e-mail, rendered; or why it cannot be (a template or parameter problem fails that message
        only: its attempt was counted by the mark)."""
        owner = self.owner
        try:
            return OutgoingMail(row.id, row.person, owner._rendered(row, await owner._params(row)))
        except Exception as err:  # noqa: BLE001
            return SendOutcome(row.id, ok=False, error=tr("cannot render: %(error)s", error=str(err)))

    async def _connection(self) -> None:
        """One SMTP connection: take a marked row, render it just before it goes, send it, report how it ended."""
        mail = self.owner.setup.mail
        assert mail is not None
        try:
            async with mail.session() as session:
                while (row := await self.ready.get()) is not None:
                    try:
                        prepared = await self._prepare(row)
                    except asyncio.CancelledError:
                        self.unsent.append(row.id)  # marked, never started: given back
                        raise
                    # From here on the row is not given back on a shutdown: once its send has begun, nobody knows.
                    outcome = prepared if isinstance(prepared, SendOutcome) else await session.send(prepared)
                    self.done.append((row, outcome, False))
                    # The marker wakes only when there is a statement to run, not once per e-mail.
                    if self.ready.empty() or self._free() >= self.threshold:
                        self.poke.set()
        except Exception as err:
            self.failure = err  # the marker stops the line and ``put`` raises it
            self.poke.set()
            raise


async def _cancelled(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and wait until each has ended, however often the waiting is itself cancelled; their
    exceptions are taken (the line reports its failure once, through ``put`` or ``__aexit__``)."""
    for task in tasks:
        task.cancel()
    while not all(t.done() for t in tasks):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()
