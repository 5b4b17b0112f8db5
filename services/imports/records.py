"""The records every source produces, whatever it read (the project's CSV files, a Zoho CRM export, an Fxiaoke
workbook, later an API): employees, key accounts, contacts, KPI actuals, and the deals/orders and complaint
cases that KPIs will be computed from. A reader fills a RecordSet; the one validation step checks it against
the database; the one writer stores it. Each record remembers the file and line it came from, so every
problem found later still names the cell to fix.

Values are already parsed (dates are dates, money is Decimal); a cell that could not be parsed was reported
by the reader and its field left None. References a CRM gives by name (an owner, an account's name) are kept
as written until validation resolves them against the employee directory and the accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

DEFAULT_CURRENCY = "CNY"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_LOCALE = "zh-CN"


@dataclass
class EmployeeRecord:
    line: int
    id: str
    name: str | None
    email: str | None
    role: str | None
    manager_id: str | None
    grade: str | None
    currency: str
    timezone: str
    hire_date: date | None
    termination_date: date | None
    locale: str = DEFAULT_LOCALE
    mobile: str | None = None
    channels: list[str] = field(default_factory=lambda: ["email"])
    wecom_id: str | None = None
    dingtalk_id: str | None = None
    feishu_id: str | None = None
    region: str | None = None
    cost_centre: str | None = None

    def values(self) -> tuple[Any, ...]:
        return (
            self.id, self.name, self.email, self.role, self.manager_id, self.grade, self.currency,
            self.timezone, self.hire_date, self.termination_date, self.locale, self.mobile, self.channels,
            self.wecom_id, self.dingtalk_id, self.feishu_id, self.region, self.cost_centre,
        )


@dataclass
class AccountRecord:
    """A key account. ``owner`` is the CRM's owner as written (a name, an e-mail) until resolved to ``kam_id``;
    from a CRM, ``annual_revenue`` None means the export does not say (the stored figure is kept)."""

    line: int
    id: str
    name: str | None
    kam_id: str | None
    annual_revenue: Decimal | None
    currency: str
    owner: str | None = None
    file: str = ""
    owner_column: str = "kam_id"
    owner_id: str | None = None
    """The CRM's id of the owner where the export has one (Zoho's ``Account Owner.id``)."""

    def values(self) -> tuple[Any, ...]:
        return (self.id, self.name, self.kam_id, self.annual_revenue, self.currency)


@dataclass
class ContactRecord:
    """A customer contact. ``account_name`` is the CRM's link by name, when the export gives no account id."""

    line: int
    id: str
    account_id: str
    name: str | None
    email: str | None
    locale: str
    file: str = ""
    account_name: str | None = None

    def values(self) -> tuple[Any, ...]:
        return (self.id, self.account_id, self.name, self.email, self.locale)


@dataclass
class KpiRecord:
    line: int
    employee_id: str
    period: str
    kpi_id: str
    value: Decimal | None

    def values(self) -> tuple[Any, ...]:
        return (self.employee_id, self.period, self.kpi_id, self.value)


@dataclass
class KpiTargetRecord:
    """A KAM's target for one KPI and period: the denominator of sales attainment (an amount, ``currency``) and of
    new customer acquisition (a number of accounts). Stored in ``kpi_target``."""

    file: str
    line: int
    employee_id: str
    period: str
    kpi_id: str
    target: Decimal | None
    currency: str | None

    def values(self) -> tuple[Any, ...]:
        return (self.employee_id, self.period, self.kpi_id, self.target, self.currency, self.file)


@dataclass
class DealRecord:
    """A deal (Zoho Deals, Fxiaoke 商机) or a sales order (Fxiaoke 销售订单): what sales attainment, new-customer
    acquisition, retention and the complaint rate's denominator are computed from (stored in ``crm_deal``).
    ``kam_id`` is filled by validation: the KAM of the deal's account (None when it is no key account)."""

    file: str
    line: int
    id: str
    kind: Literal["deal", "order"]
    name: str | None
    account_id: str | None
    account_name: str | None
    owner: str | None
    stage: str | None
    won: bool
    amount: Decimal | None
    currency: str
    closed_on: date | None
    kam_id: str | None = None

    def values(self, source: str) -> tuple[Any, ...]:
        return (self.id, self.kind, self.name, self.account_id, self.kam_id, self.owner, self.stage, self.won,
                self.amount, self.currency, self.closed_on, source)


@dataclass
class CaseRecord:
    """A case or service ticket (Zoho Cases, Fxiaoke 工单); ``complaint`` says whether its type counts as one.
    Stored in ``crm_case``; ``kam_id`` as for deals."""

    file: str
    line: int
    id: str
    account_id: str | None
    account_name: str | None
    owner: str | None
    type: str | None
    complaint: bool
    status: str | None
    opened_on: date | None
    kam_id: str | None = None

    def values(self, source: str) -> tuple[Any, ...]:
        return (self.id, self.account_id, self.kam_id, self.owner, self.type, self.complaint, self.status,
                self.opened_on, source)


@dataclass
class RecordSet:
    """Everything one import read. ``org_file`` is None when the source has no org (a CRM export): then the
    people it names must already be in the database. ``*_usable`` is False when a file as a whole could not be
    read (its own issue says why), so checks against it are skipped rather than reported once per row."""

    org_file: str | None = None
    source: str = "crm"
    """Which reader filled it (``zoho``, ``fxiaoke``, ``targets``; ``crm`` when a reader does not say): stored with
    each CRM record and target."""
    org_usable: bool = True
    org_labels: dict[str, str] = field(default_factory=dict)
    """The org file's own column label per field (an HR export's 直属上级工号), so checks name the column as written."""
    employees: dict[str, EmployeeRecord] = field(default_factory=dict)
    account_file: str = ""
    accounts_usable: bool = True
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    contacts: dict[str, ContactRecord] = field(default_factory=dict)
    kpi_file: str = ""
    kpis_usable: bool = True
    kpis: dict[tuple[str, str, str], KpiRecord] = field(default_factory=dict)
    targets: dict[tuple[str, str, str], KpiTargetRecord] = field(default_factory=dict)
    deals: dict[str, DealRecord] = field(default_factory=dict)
    cases: dict[str, CaseRecord] = field(default_factory=dict)
    contacts_unlinked: list[ContactRecord] = field(default_factory=list)
    """Contacts whose account is neither in the files nor in the database (left out, reported by the preview)."""
