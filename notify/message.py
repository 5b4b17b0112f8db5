"""The shapes every channel shares: who a message is for, what it says, and how a send ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from domain.text import Text
from i18n.catalog import LOCALES as LOCALES  # the languages messages are written in (one list, with the pages)

# The kinds of message the engine sends. Each has one template per language in notify/templates/.
KINDS = (
    "task_assigned",          # cycle starts: a KAM's self-review
    "reviews_assigned",       # cycle starts: a reviewer, one message listing their reports
    "survey_invitation",      # survey phase opens: a customer contact, with a personal signed link
    "reminder",               # reminders_before: whoever is still outstanding (contacts included)
    "deadline_extended",      # deadline passed, grace period granted: the late person
    "deadline_missed",        # deadline passed, phase closed: the late person
    "escalation",             # deadline passed: the late person's manager's manager, or HR
    "reviewer_assigned",      # reassignment: the new reviewer
    "reviewer_unassigned",    # reassignment: the old reviewer
    "review_ended",           # org change: a leaver's review closed early; their reviewer
    "calibration_opened",     # HR
    "calibration_finalized",  # HR
    "payouts_awaiting_approval",  # payroll: line count and total
    "results_released",       # each KAM
    "account_invitation",     # HR invites an employee: their user name and a single-use set-password link
    "password_reset",         # the person asked on the sign-in page: a single-use set-password link
    "goal_check_in_due",      # a KAM whose approved key results have had no check-in for a while
    "task_reopened",          # HR reopened a submitted task: the person who submits it again (contacts included)
)
Channel = Literal["email", "wecom", "dingtalk", "feishu"]


@dataclass(frozen=True)
class Person:
    """A recipient as the channels need them. ``locale`` is zh-CN or en (others fall back to en)."""

    id: str
    name: str
    locale: str = "zh-CN"
    timezone: str = "Asia/Shanghai"
    email: str | None = None
    mobile: str | None = None  # for chat @-mentions by phone number (WeCom, DingTalk)
    im_ids: dict[str, str] = field(default_factory=dict)  # channel -> the person's user id on that platform


@dataclass(frozen=True)
class Rendered:
    """One message in one language: what every channel sends (chat uses ``text``, markdown-light)."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class OutgoingMail:
    key: str  # the notification's id: the Message-ID is derived from it, so a duplicate is recognisable
    to: Person
    rendered: Rendered


@dataclass(frozen=True)
class ChatPost:
    """One group-bot message: a text with the people it @-mentions (several notifications may share one post)."""

    keys: tuple[str, ...]  # the notifications this post delivers
    text: str
    mentions: tuple[Person, ...]


@dataclass(frozen=True)
class SendOutcome:
    """How one notification's send ended. ``retry`` is a transient failure (server down, rate limited)."""

    key: str
    ok: bool
    error: Text | str | None = None  # a Text for our own reasons (translated for HR), the server's words otherwise
    retry: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
