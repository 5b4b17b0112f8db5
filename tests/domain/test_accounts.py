"""Who may sign in, and as what: roles from the org, access until the end of the leaving date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.accounts import STATUSES, access_ends_at, account_status, has_left, org_roles


def test_roles_follow_the_org() -> None:
    assert org_roles("kam", False) == ("employee",)
    assert org_roles("kam", True) == ("employee", "manager")  # a team lead still has their own review
    assert org_roles("manager", False) == ("manager",)
    assert org_roles("hr", True) == ("hr", "manager")
    assert org_roles("payroll", False) == ("payroll",)
    assert org_roles("other", False) == ("employee",)
    assert org_roles("other", True) == ("manager",)


@given(st.sampled_from(["kam", "manager", "hr", "payroll", "other", "intern"]), st.booleans())
def test_every_person_gets_at_least_one_known_role(role: str, reports: bool) -> None:
    roles = org_roles(role, reports)
    assert roles and set(roles) <= {"hr", "manager", "employee", "payroll"} and list(roles) == sorted(set(roles))
    assert ("manager" in roles) == (reports or role == "manager")


def test_access_ends_at_midnight_after_the_leaving_date_in_the_persons_zone() -> None:
    leaving = date(2026, 12, 31)
    shanghai = access_ends_at(leaving, "Asia/Shanghai")
    assert shanghai == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 1 January 00:00 in Beijing
    assert not has_left(leaving, "Asia/Shanghai", shanghai - timedelta(seconds=1))  # the last day still works
    assert has_left(leaving, "Asia/Shanghai", shanghai)
    assert access_ends_at(leaving, "America/New_York") == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    assert access_ends_at(None, "Asia/Shanghai") is None and not has_left(None, None, datetime.now(UTC))
    assert access_ends_at(leaving, "Not/AZone") == shanghai  # an unreadable zone falls back to the company's


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_one_status_per_person(exists: bool, disabled: bool, has_password: bool, left: bool) -> None:
    status = account_status(exists, disabled, has_password, left)
    assert status in STATUSES
    assert (status == "none") == (not exists)
    if exists and (disabled or left):
        assert status == "disabled"
