"""Org changes that reach a running cycle: what a re-imported row means for the reviews (docs/org-changes.md).

Pure: an import's row change (the writer's before/after values, as JSON) is classified here, and whether a
joiner belongs to a cycle's population is decided here, so the preview and the apply step cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from domain.cycle import Participants, Period

Kind = Literal["joiner", "leaver", "manager_change", "account_reassigned"]
KINDS: tuple[Kind, ...] = ("joiner", "leaver", "manager_change", "account_reassigned")


@dataclass(frozen=True)
class OrgChange:
    """One change: ``subject`` is the employee (the account for a reassignment); ``before``/``after`` the old and new
    manager or KAM (a leaver: ``after`` is the leaving date). ``key`` names the import's audit row it came from
    (unique for each occurrence, so the same move made twice is two changes); empty in a preview."""

    kind: Kind
    subject: str
    before: str | None
    after: str | None
    key: str = ""


def classify(table: str, entity: str, before: dict[str, Any] | None, after: dict[str, Any],
             key: str = "") -> list[OrgChange]:
    """The org changes one imported row carries (none for a new name or e-mail).

    A leaving date newly set or changed makes a leaver; a new employee is a joiner (whether they join a cycle is
    the cycle's population's call); a new manager is a manager change; a key account's new KAM a reassignment.
    A row missing from the file changes nothing: the importer never deletes (see docs/org-changes.md).
    """
    changes: list[OrgChange] = []
    if table == "employee":
        if before is None:
            return [OrgChange("joiner", entity, None, after.get("manager_id"), key)]
        left = after.get("termination_date")
        if left and left != before.get("termination_date"):
            changes.append(OrgChange("leaver", entity, before.get("termination_date"), left, key))
        if after.get("manager_id") and after.get("manager_id") != before.get("manager_id"):
            changes.append(OrgChange("manager_change", entity, before.get("manager_id"), after["manager_id"], key))
    elif table == "key_account" and before is not None:
        if after.get("kam_id") and after.get("kam_id") != before.get("kam_id"):
            changes.append(OrgChange("account_reassigned", entity, before.get("kam_id"), after["kam_id"], key))
    return changes


def _day(value: object) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def in_population(participants: Participants, period: Period, employee_id: str, role: str | None,
                  manager_id: str | None, hire_date: object, termination_date: object, *, grade: str | None = None,
                  region: str | None = None, cost_centre: str | None = None,
                  above: frozenset[str] = frozenset()) -> bool:
    """Whether an employee belongs to a cycle's participants, by the rule ``create_cycle`` froze the list with
    (services.cycles._PARTICIPANTS): a listed employee, or a KAM matching every filter given (AND across kinds,
    OR within one; ``above`` is everyone the employee reports to, at any depth); and employed during the period."""

    def one_of(value: str | None, allowed: list[str]) -> bool:
        return not allowed or (value or "").lower() in {a.lower() for a in allowed}

    selected = employee_id in participants.employees or (
        participants.filtered and role == "kam"
        and (not participants.managers or manager_id in participants.managers)
        and (not participants.under or bool(above & set(participants.under)))
        and one_of(grade, participants.grades) and one_of(region, participants.regions)
        and one_of(cost_centre, participants.cost_centres)
    )
    if not selected:
        return False
    hired, left = _day(hire_date), _day(termination_date)
    return not ((hired and hired > period.end) or (left and left < period.start))
