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
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
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
    region: str | None = Field(default=None, description="e.g. East China / 华东: a cycle can choose participants by it")
    cost_centre: str | None = Field(default=None, description="the finance cost centre, e.g. CC-SH-01")


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


class CrmDeal(SQLModel, table=True):
    """A CRM deal (Zoho Deals, Fxiaoke 商机) or sales order (销售订单), as imported (migration 0011).
    ``kam_id``: the KAM of its account when imported; NULL when the account is not a key account."""

    __tablename__ = "crm_deal"
    __table_args__ = (
        CheckConstraint("kind IN ('deal', 'order')", name="ck_crm_deal_kind"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="ck_crm_deal_amount"),
        Index("ix_crm_deal_won_on", "closed_on", postgresql_where=text("won"),
              postgresql_include=["kind", "kam_id", "account_id", "amount", "currency", "id"]),
        Index("ix_crm_deal_account_won", "account_id", "kind", "closed_on", postgresql_where=text("won")),
    )
    id: str = Field(primary_key=True)
    kind: str = Field(description="deal | order")
    name: str | None = None
    account_id: str | None = None
    kam_id: str | None = _fk("employee.id", nullable=True, index=False)
    owner: str | None = Field(default=None, description="the CRM's owner as written")
    stage: str | None = None
    won: bool
    amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(20, 4), nullable=True))
    currency: str
    closed_on: date | None = None
    source: str = Field(description="zoho | fxiaoke | ...")
    imported_at: datetime | None = _ts(nullable=False, default_now=True)


class CrmDealCredit(SQLModel, table=True):
    """A KAM's declared share of a shared deal (migration 0018); a deal without rows is its kam_id's in full."""

    __tablename__ = "crm_deal_credit"
    __table_args__ = (CheckConstraint("percent > 0 AND percent <= 100", name="ck_crm_deal_credit_percent"),)
    deal_id: str = Field(sa_column=Column(Text, ForeignKey("crm_deal.id"), primary_key=True))
    employee_id: str = Field(sa_column=Column(Text, ForeignKey("employee.id"), primary_key=True))
    percent: Decimal = Field(sa_column=Column(Numeric(7, 4), nullable=False))


class CrmDealEvent(SQLModel, table=True):
    """What happened to a won deal later (migration 0018): cancelled, refunded, churned, or reinstated."""

    __tablename__ = "crm_deal_event"
    __table_args__ = (
        CheckConstraint("kind IN ('cancelled', 'refunded', 'churned', 'reinstated')", name="ck_crm_deal_event_kind"),
        CheckConstraint("refunded_pct > 0 AND refunded_pct <= 100", name="ck_crm_deal_event_refunded_pct"),
    )
    deal_id: str = Field(sa_column=Column(Text, ForeignKey("crm_deal.id"), primary_key=True))
    kind: str = Field(sa_column=Column(Text, primary_key=True))
    on: date = Field(sa_column=Column(Date, primary_key=True))
    refunded_pct: Decimal = Field(sa_column=Column(Numeric(7, 4), nullable=False, server_default="100"))
    source: str = Field(sa_column=Column(Text, nullable=False))
    imported_at: datetime | None = _ts(nullable=False, default_now=True)


class CrmCase(SQLModel, table=True):
    """A CRM case or service ticket (Zoho Cases, Fxiaoke 工单), as imported (migration 0011)."""

    __tablename__ = "crm_case"
    __table_args__ = (Index("ix_crm_case_kpi", "kam_id", "opened_on", postgresql_where=text("complaint")),)
    id: str = Field(primary_key=True)
    account_id: str | None = None
    kam_id: str | None = _fk("employee.id", nullable=True, index=False)
    owner: str | None = None
    type: str | None = None
    complaint: bool
    status: str | None = None
    opened_on: date | None = None
    source: str
    imported_at: datetime | None = _ts(nullable=False, default_now=True)


class KpiTarget(SQLModel, table=True):
    """A KAM's target for one KPI in one period (a KPI targets CSV, later a CRM): the denominator of attainment."""

    __tablename__ = "kpi_target"
    __table_args__ = (CheckConstraint("target > 0", name="ck_kpi_target_positive"),)
    employee_id: str = Field(sa_column=Column(Text, ForeignKey("employee.id"), primary_key=True))
    period: str = Field(primary_key=True)
    kpi_id: str = Field(primary_key=True)
    target: Decimal = Field(sa_column=Column(Numeric(20, 4), nullable=False))
    currency: str | None = Field(default=None, description="for a money target (sales_attainment)")
    source: str
    updated_at: datetime | None = _ts(nullable=False, default_now=True)


class KpiSource(SQLModel, table=True):
    """Where a computed KPI figure came from: numerator, denominator and the CRM records behind each.
    A figure entered by hand (KPIS.csv) has no row; the row is deleted with its figure."""

    __tablename__ = "kpi_source"
    __table_args__ = (
        ForeignKeyConstraint(["employee_id", "period", "kpi_id"],
                             ["kpi_actual.employee_id", "kpi_actual.period", "kpi_actual.kpi_id"],
                             ondelete="CASCADE", name="fk_kpi_source_actual"),
    )
    employee_id: str = Field(primary_key=True)
    period: str = Field(primary_key=True)
    kpi_id: str = Field(primary_key=True)
    period_start: date
    period_end: date
    numerator: Decimal = Field(sa_column=Column(Numeric(24, 6), nullable=False))
    denominator: Decimal = Field(sa_column=Column(Numeric(24, 6), nullable=False))
    records: list = Field(sa_column=Column(JSONB, nullable=False))
    digest: str = Field(description="order-independent fingerprint of the records; a re-run compares it")
    computed_at: datetime | None = _ts(nullable=False, default_now=True)


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
    kind: str = Field(description="a phase key (domain/phases.py) or a step of one: peer_nomination | peer_approval")
    assignee_type: str = Field(description="employee | contact")
    assignee_id: str
    subject_employee_id: str
    due_at: datetime | None = _ts(nullable=False)
    status: str = Field(default="open", description="open | done | missed | cancelled")
    extensions: int = 0
    reminders_sent: int = 0
    completed_at: datetime | None = _ts()
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"),
                         description="the submission version awaited or held; 1 until HR reopens it (migration 0017)")


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


class LedgerEntry(SQLModel, table=True):
    """One movement of a person's balance ledger in a plan year (migration 0018), written when payouts lock.

    ``key`` is ``plan_year:employee:cycle:r<revision>:kind``: a retried or repeated approval writes nothing twice.
    ``balance_after`` is what the person owes on recoverable draws after the entry.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("kind IN ('earned', 'drawn', 'recovered', 'clawed_back', 'written_off')",
                        name="ck_ledger_entry_kind"),
        Index("ix_ledger_entry_person", "plan_year", "employee_id", "seq"),
    )
    key: str = Field(sa_column=Column(Text, primary_key=True))
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False, unique=True))
    plan_year: str = Field(sa_column=Column(Text, nullable=False))
    employee_id: str = _fk("employee.id", index=False)
    cycle_id: str = _fk("review_cycle.id")
    revision: int
    kind: str = Field(sa_column=Column(Text, nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(20, 4), nullable=False))
    currency: str = Field(sa_column=Column(Text, nullable=False))
    balance_after: Decimal = Field(sa_column=Column(Numeric(20, 4), nullable=False))
    created_at: datetime | None = _ts(nullable=False, default_now=True)


class Notification(SQLModel, table=True):
    """Outbox: one message to one person on one channel; the delivery workflow of its batch sends it."""

    __tablename__ = "notification"
    __table_args__ = (
        # HR's People page: each person's newest invitation e-mail (migration 0013).
        Index("ix_notification_account_invitation", "recipient_id", "created_at",
              postgresql_where=text("kind = 'account_invitation'")),
    )
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
    password_hash: str | None = Field(default=None, sa_column=Column(Text, nullable=True),
                                      description="argon2id PHC string; NULL: invited, no password set yet")
    # The person's own choices for the pages; NULL: as the org import says (employee.locale / employee.timezone).
    locale: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    timezone: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    disabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = _ts()
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    password_changed_at: datetime | None = _ts(nullable=False, default_now=True)
    # Migration 0013: an account made by an invitation takes its roles from the org import (re-read at each import
    # and invitation); one made by hand (python -m webapp.users) keeps the roles it was given.
    org_roles: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    invited_at: datetime | None = _ts()


class WebUserToken(SQLModel, table=True):
    """A set-password link (invitation or reset, migration 0013): only the SHA-256 of its token is stored."""

    __tablename__ = "web_user_token"
    __table_args__ = (
        # At most one usable link per account: a new invitation or reset revokes the one before.
        Index("ux_web_user_token_live", "username", unique=True,
              postgresql_where=text("used_at IS NULL AND revoked_at IS NULL")),
        CheckConstraint("purpose IN ('invite', 'reset')", name="ck_web_user_token_purpose"),
    )
    token_hash: str = Field(sa_column=Column(Text, primary_key=True))
    username: str = Field(
        sa_column=Column(Text, ForeignKey("web_user.username", ondelete="CASCADE"), nullable=False, index=True)
    )
    purpose: str = Field(sa_column=Column(Text, nullable=False), description="invite | reset")
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    expires_at: datetime | None = _ts(nullable=False)
    used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()


class WebRateLimit(SQLModel, table=True):
    """A fixed-window counter for requests anyone can make (password resets per address and per client)."""

    __tablename__ = "web_rate_limit"
    key: str = Field(sa_column=Column(Text, primary_key=True))
    window_start: datetime | None = _ts(nullable=False)
    hits: int = Field(sa_column=Column(Integer, nullable=False))


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


class GoalPlan(SQLModel, table=True):
    """A KAM's goals for one period (migration 0015): drafted, submitted, approved or returned by the manager."""

    __tablename__ = "goal_plan"
    __table_args__ = (
        UniqueConstraint("employee_id", "period", name="uq_goal_plan_employee_period"),
        CheckConstraint("status IN ('draft', 'submitted', 'approved', 'returned')", name="ck_goal_plan_status"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    employee_id: str = _fk("employee.id")
    period: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="draft", sa_column=Column(Text, nullable=False, server_default="draft"))
    comment: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _ts(nullable=False, default_now=True)
    submitted_at: datetime | None = _ts()
    decided_by: str | None = Field(default=None, sa_column=Column(Text))
    decided_at: datetime | None = _ts()


class GoalObjective(SQLModel, table=True):
    __tablename__ = "goal_objective"
    __table_args__ = (CheckConstraint("weight > 0", name="ck_goal_objective_weight"),)
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    plan_id: int = Field(sa_column=Column(BigInteger, ForeignKey("goal_plan.id", ondelete="CASCADE"),
                                          nullable=False, index=True))
    title: str = Field(sa_column=Column(Text, nullable=False))
    weight: Decimal = Field(default=Decimal(1), sa_column=Column(Numeric(8, 4), nullable=False, server_default="1"))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _ts(nullable=False, default_now=True)


class GoalKeyResult(SQLModel, table=True):
    """SMART: a metric and unit, start value, target, due date, owner; optionally read from a KPI actual."""

    __tablename__ = "goal_key_result"
    __table_args__ = (
        CheckConstraint("weight > 0", name="ck_goal_key_result_weight"),
        CheckConstraint("target_value <> start_value", name="ck_goal_key_result_target"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    objective_id: int = Field(sa_column=Column(BigInteger, ForeignKey("goal_objective.id", ondelete="CASCADE"),
                                               nullable=False, index=True))
    metric: str = Field(sa_column=Column(Text, nullable=False))
    unit: str = Field(sa_column=Column(Text, nullable=False))
    start_value: Decimal = Field(sa_column=Column(Numeric(20, 6), nullable=False))
    target_value: Decimal = Field(sa_column=Column(Numeric(20, 6), nullable=False))
    due_date: date = Field(sa_column=Column(Date, nullable=False))
    owner_id: str = _fk("employee.id", index=False)
    weight: Decimal = Field(default=Decimal(1), sa_column=Column(Numeric(8, 4), nullable=False, server_default="1"))
    kpi_id: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _ts(nullable=False, default_now=True)


class GoalCheckIn(SQLModel, table=True):
    """Progress on a key result at a moment; only ever inserted, so the history stays."""

    __tablename__ = "goal_check_in"
    __table_args__ = (Index("ix_goal_check_in_kr_at", "key_result_id", "at"),)
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    key_result_id: int = Field(sa_column=Column(BigInteger, ForeignKey("goal_key_result.id", ondelete="CASCADE"),
                                                nullable=False))
    value: Decimal = Field(sa_column=Column(Numeric(20, 6), nullable=False))
    comment: str | None = Field(default=None, sa_column=Column(Text))
    author_id: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime | None = _ts(nullable=False, default_now=True)


# -- Reopen and sign-off (migration 0017, docs/reopen-and-sign-off.md) --------------------------------


class SubmissionVersion(SQLModel, table=True):
    """A submission HR reopened, as it was; superseded_at is set when the resubmission replaced it."""

    __tablename__ = "submission_version"
    task_id: str = Field(sa_column=Column(Text, ForeignKey("task.id"), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True))
    review_id: str = _fk("review.id")
    phase: str
    submitted_by: str | None = None
    submitted_at: datetime | None = _ts()
    content: dict | None = _json(nullable=False)
    reopened_by: str
    reopened_at: datetime | None = _ts(nullable=False)
    reason: str
    due_at: datetime | None = _ts(nullable=False)
    superseded_at: datetime | None = _ts()


class ResultsAcknowledgment(SQLModel, table=True):
    """After release: the manager's results conversation and the KAM's acknowledgment or disagreement."""

    __tablename__ = "results_acknowledgment"
    __table_args__ = (
        CheckConstraint("response IS NULL OR response IN ('acknowledged', 'disagreed')",
                        name="ck_results_acknowledgment_response"),
        CheckConstraint("response <> 'disagreed' OR coalesce(btrim(comment), '') <> ''",
                        name="ck_results_acknowledgment_disagreement_comment"),
    )
    review_id: str = Field(sa_column=Column(Text, ForeignKey("review.id"), primary_key=True))
    cycle_id: str = _fk("review_cycle.id")
    conversation_on: date | None = Field(default=None, sa_column=Column(Date))
    conversation_by: str | None = None
    conversation_marked_at: datetime | None = _ts()
    response: str | None = None
    comment: str | None = None
    responded_at: datetime | None = _ts()


class PeerNomination(SQLModel, table=True):
    """A colleague the KAM nominated for peer feedback (migration 0019); approved_at once the reviewer approved."""

    __tablename__ = "peer_nomination"
    review_id: str = Field(sa_column=Column(Text, ForeignKey("review.id"), primary_key=True))
    peer_id: str = Field(sa_column=Column(Text, ForeignKey("employee.id"), primary_key=True))
    nominated_by: str
    nominated_at: datetime | None = _ts(nullable=False)
    approved_by: str | None = None
    approved_at: datetime | None = _ts()


class PeerFeedbackAnswer(SQLModel, table=True):
    """One peer's rating of one question (migration 0019). Read only in aggregate, by activities.reviews.peer_aggregate:
    below the cycle's min_answers nothing of it is shown anywhere (docs/peer-feedback.md)."""

    __tablename__ = "peer_feedback_answer"
    __table_args__ = (CheckConstraint("rating BETWEEN 0 AND 10", name="ck_peer_feedback_rating"),)
    task_id: str = Field(sa_column=Column(Text, ForeignKey("task.id"), primary_key=True))
    question_id: str = Field(primary_key=True)
    review_id: str = _fk("review.id")
    rating: int
    answered_at: datetime | None = _ts(nullable=False)
