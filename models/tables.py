"""Schema of the application database.

Natural keys everywhere (cycle id, ``cycle:employee`` review ids, task ids derived from the review),
so every activity can write with ``INSERT ... ON CONFLICT`` and a retry never duplicates a row.
Timestamps are ``timestamptz``; money and scores are ``numeric``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = True, default_now: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(
            DateTime(timezone=True),
            nullable=nullable,
            server_default=text("now()") if default_now else None,
        ),
    )


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSONB, nullable=nullable))


def _fk(target: str, nullable: bool = False, index: bool = True) -> Any:
    return Field(default=None, sa_column=Column(Text, ForeignKey(target), nullable=nullable, index=index))


class Employee(SQLModel, table=True):
    __tablename__ = "employee"
    id: str = Field(primary_key=True)
    name: str
    email: str | None = None
    role: str = Field(description="kam | manager | hr | payroll | other")
    manager_id: str | None = _fk("employee.id", nullable=True)
    grade: str | None = None
    currency: str = "CNY"
    timezone: str = "Asia/Shanghai"
    hire_date: date | None = None
    termination_date: date | None = None
    mobile: str | None = Field(default=None, description="for chat @-mentions by phone number")
    wecom_id: str | None = Field(default=None, description="the person's user id in WeCom, for @-mentions")
    dingtalk_id: str | None = None
    feishu_id: str | None = None
    channels: list[str] = Field(default_factory=lambda: ["email"],
                                sa_column=Column(ARRAY(Text), nullable=False, server_default="{email}"))
    locale: str = "zh-CN"


class KeyAccount(SQLModel, table=True):
    __tablename__ = "key_account"
    id: str = Field(primary_key=True)
    name: str
    kam_id: str = _fk("employee.id")
    annual_revenue: Decimal = Field(sa_column=Column(Numeric(18, 2), nullable=False))
    currency: str = "CNY"


class CustomerContact(SQLModel, table=True):
    __tablename__ = "customer_contact"
    id: str = Field(primary_key=True)
    account_id: str = _fk("key_account.id")
    name: str
    email: str | None = None
    locale: str = "zh-CN"


class KpiActual(SQLModel, table=True):
    __tablename__ = "kpi_actual"
    employee_id: str = Field(sa_column=Column(Text, ForeignKey("employee.id"), primary_key=True))
    period: str = Field(primary_key=True)
    kpi_id: str = Field(primary_key=True)
    value: Decimal = Field(sa_column=Column(Numeric(20, 6), nullable=False))
    updated_at: datetime | None = _ts(nullable=False, default_now=True)


class ReviewCycle(SQLModel, table=True):
    __tablename__ = "review_cycle"
    id: str = Field(primary_key=True)
    name: str
    cadence: str
    period_label: str
    period_start: date
    period_end: date
    timezone: str
    config: dict = _json(nullable=False)
    config_sha256: str
    participant_count: int = 0
    status: str = Field(
        default="created",
        description="created | running | calibration | incentives | awaiting_approval | locked | cancelled",
    )
    workflow_id: str | None = None
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    started_at: datetime | None = _ts()
    locked_at: datetime | None = _ts()
    results_released_at: datetime | None = _ts()
    results_released_by: str | None = None


class Review(SQLModel, table=True):
    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("cycle_id", "employee_id"),
        Index("ix_review_open_by_cycle", "cycle_id", postgresql_where=text("status <> 'closed'")),
    )
    id: str = Field(primary_key=True, description="<cycle id>:<employee id>")
    cycle_id: str = _fk("review_cycle.id")
    employee_id: str = _fk("employee.id")
    reviewer_id: str | None = _fk("employee.id", nullable=True)
    seq: int = Field(description="position in the cycle's frozen participant list (batching)")
    status: str = Field(default="pending", description="pending | open | closed | cancelled")
    preliminary_score: Decimal | None = Field(default=None, sa_column=Column(Numeric(8, 4)))
    score_breakdown: dict | None = _json()
    missing: list | None = _json()
    workflow_id: str | None = None
    opened_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()


class Task(SQLModel, table=True):
    """The inbox: who must do what, for whom, by when."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_assignee_status", "assignee_id", "status"),
        Index("ix_task_cycle_status", "cycle_id", "status"),
    )
    id: str = Field(primary_key=True, description="<review id>:<kind>[:<contact id>]")
    cycle_id: str = _fk("review_cycle.id", index=False)
    review_id: str = _fk("review.id")
    kind: str = Field(description="self_review | manager_scoring | customer_survey")
    assignee_type: str = Field(description="employee | contact")
    assignee_id: str
    subject_employee_id: str
    due_at: datetime | None = _ts(nullable=False)
    status: str = Field(default="open", description="open | done | missed | cancelled")
    extensions: int = 0
    reminders_sent: int = 0
    completed_at: datetime | None = _ts()


class SelfReviewAnswer(SQLModel, table=True):
    __tablename__ = "self_review_answer"
    review_id: str = Field(sa_column=Column(Text, ForeignKey("review.id"), primary_key=True))
    item_id: str = Field(primary_key=True, description="competency id, or kpi:<kpi id> for a KPI comment")
    rating: int | None = None
    comment: str | None = None
    submitted_at: datetime | None = _ts(nullable=False)


class ManagerScore(SQLModel, table=True):
    __tablename__ = "manager_score"
    review_id: str = Field(sa_column=Column(Text, ForeignKey("review.id"), primary_key=True))
    item_id: str = Field(primary_key=True, description="competency id, or 'potential'")
    rating: int | None = None
    comment: str | None = None
    scored_by: str
    submitted_at: datetime | None = _ts(nullable=False)


class SurveyInvitation(SQLModel, table=True):
    __tablename__ = "survey_invitation"
    __table_args__ = (UniqueConstraint("review_id", "contact_id"),)
    id: str = Field(primary_key=True, description="the survey task id")
    cycle_id: str = _fk("review_cycle.id", index=False)
    review_id: str = _fk("review.id")
    contact_id: str = _fk("customer_contact.id", index=False)
    account_id: str = _fk("key_account.id", index=False)
    status: str = Field(default="sent", description="sent | answered | expired")
    sent_at: datetime | None = _ts(nullable=False, default_now=True)
    expires_at: datetime | None = _ts(nullable=False)
    answered_at: datetime | None = _ts()


class SurveyResponse(SQLModel, table=True):
    __tablename__ = "survey_response"
    __table_args__ = (
        CheckConstraint("satisfaction BETWEEN 1 AND 5", name="ck_survey_satisfaction"),
        CheckConstraint("nps IS NULL OR nps BETWEEN 0 AND 10", name="ck_survey_nps"),
    )
    invitation_id: str = Field(sa_column=Column(Text, ForeignKey("survey_invitation.id"), primary_key=True))
    satisfaction: int
    nps: int | None = None
    comment: str | None = None
    answered_at: datetime | None = _ts(nullable=False)


class CalibratedRating(SQLModel, table=True):
    __tablename__ = "calibrated_rating"
    __table_args__ = (Index("ix_calibrated_rating_manager", "manager_id", "cycle_id"),)  # trends (migration 0016)
    review_id: str = Field(sa_column=Column(Text, ForeignKey("review.id"), primary_key=True))
    cycle_id: str = _fk("review_cycle.id")
    employee_id: str
    manager_id: str | None = None
    preliminary_score: Decimal | None = Field(default=None, sa_column=Column(Numeric(8, 4)))
    normalized_score: Decimal | None = Field(default=None, sa_column=Column(Numeric(8, 4)))
    suggested_level: int | None = None
    final_level: int | None = None
    potential: int | None = None
    nine_box: str | None = None
    note: str | None = None
    finalized: bool = False
    updated_at: datetime | None = _ts(nullable=False, default_now=True)


class RatingAdjustment(SQLModel, table=True):
    __tablename__ = "rating_adjustment"
    id: str = Field(primary_key=True, description="stable id of the HR action (the Update id)")
    review_id: str = _fk("review.id")
    from_level: int | None = None
    to_level: int
    reason: str = Field(sa_column=Column(Text, CheckConstraint("length(btrim(reason)) > 0"), nullable=False))
    actor: str
    adjusted_at: datetime | None = _ts(nullable=False, default_now=True)


class PayoutLine(SQLModel, table=True):
    """What payroll reads. Locked lines are immutable (a trigger refuses updates and deletes)."""

    __tablename__ = "payout_line"
    idempotency_key: str = Field(primary_key=True)
    cycle_id: str = _fk("review_cycle.id")
    employee_id: str = _fk("employee.id")
    line_type: str = Field(description="bonus | commission | adjustment")
    amount: Decimal = Field(sa_column=Column(Numeric(20, 4), nullable=False))
    currency: str
    period: str
    plan_id: str
    plan_version: int
    revision: int = 0
    explanation: str
    inputs: dict | None = _json()
    status: str = Field(default="computed", description="computed | locked")
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    approved_by: str | None = None
    locked_at: datetime | None = _ts()


class Notification(SQLModel, table=True):
    """Outbox: one message to one person on one channel; the delivery workflow of its batch sends it."""

    __tablename__ = "notification"
    id: str = Field(primary_key=True, description="natural key, e.g. reminder:<task id>:<n>:<person>:<channel>")
    recipient_type: str = Field(description="employee | contact")
    recipient_id: str
    kind: str = Field(description="one of notify.message.KINDS")
    subject: str = ""
    body: str = ""
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    sent_at: datetime | None = _ts()
    cycle_id: str | None = None
    batch: str | None = Field(default=None, description="the event that queued it; its delivery workflow's id")
    channel: str = Field(default="email", description="email | wecom | dingtalk | feishu")
    params: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}"))
    status: str = Field(default="queued", description="queued | claimed | sending | sent | retry | failed | uncertain")
    attempts: int = 0
    last_error: str | None = None
    last_error_text: dict | None = _json()  # our own reason as a message id and parameters; NULL for a server's reply
    claimed_at: datetime | None = _ts()
    next_attempt_at: datetime | None = _ts()
    address: str | None = None
    message_id: str | None = None


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    event_key: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    occurred_at: datetime | None = _ts(nullable=False, default_now=True)
    actor: str
    action: str
    entity_type: str
    entity_id: str = Field(index=True)
    before: dict | None = _json()
    after: dict | None = _json()


# -- The web app (migration 0004) ----------------------------------------------------------------

WEB_ROLES = ("hr", "manager", "employee", "payroll")


class WebUser(SQLModel, table=True):
    """Someone who signs in to the web app. Customers never have one: they answer through survey links."""

    __tablename__ = "web_user"
    __table_args__ = (
        Index("ux_web_user_username_lower", text("lower(username)"), unique=True),
        CheckConstraint(
            "cardinality(roles) > 0 AND roles <@ ARRAY['hr', 'manager', 'employee', 'payroll']::text[]",
            name="ck_web_user_roles",
        ),
        CheckConstraint("locale IS NULL OR locale IN ('zh-CN', 'en')", name="ck_web_user_locale"),
        CheckConstraint(
            "employee_id IS NOT NULL OR NOT (roles && ARRAY['manager', 'employee']::text[])",
            name="ck_web_user_employee",
        ),
    )
    username: str = Field(sa_column=Column(Text, primary_key=True))
    employee_id: str | None = _fk("employee.id", nullable=True)
    display_name: str = Field(sa_column=Column(Text, nullable=False))
    roles: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    password_hash: str = Field(sa_column=Column(Text, nullable=False), description="argon2id PHC string")
    # The person's own choices for the pages; NULL: as the org import says (employee.locale / employee.timezone).
    locale: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    timezone: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    disabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = _ts()
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    password_changed_at: datetime | None = _ts(nullable=False, default_now=True)


class WebSession(SQLModel, table=True):
    """A signed-in browser or API client. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "web_session"
    token_hash: str = Field(sa_column=Column(Text, primary_key=True))
    username: str = Field(
        sa_column=Column(Text, ForeignKey("web_user.username", ondelete="CASCADE"), nullable=False, index=True)
    )
    csrf_token: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    last_seen_at: datetime | None = _ts(nullable=False, default_now=True)
    expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )


class SurveyLink(SQLModel, table=True):
    """A signed link to one survey invitation: random token (only its SHA-256 stored), expiry, single use."""

    __tablename__ = "survey_link"
    __table_args__ = (
        # At most one usable link per invitation: issuing a new one revokes the old.
        Index("ux_survey_link_live", "invitation_id", unique=True,
              postgresql_where=text("used_at IS NULL AND revoked_at IS NULL")),
    )
    token_hash: str = Field(sa_column=Column(Text, primary_key=True))
    invitation_id: str = _fk("survey_invitation.id")
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    expires_at: datetime | None = _ts(nullable=False)
    used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()


class TaskDraft(SQLModel, table=True):
    """A self-review or manager score saved without submitting (migration 0008); only its author reads it."""

    __tablename__ = "task_draft"
    task_id: str = Field(sa_column=Column(Text, ForeignKey("task.id", ondelete="CASCADE"), primary_key=True))
    author_id: str = Field(sa_column=Column(Text, nullable=False))
    body: dict | None = _json(nullable=False)
    saved_at: datetime | None = _ts(nullable=False, default_now=True)
