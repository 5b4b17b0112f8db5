"""A joiner belongs to a running cycle by the same selection create_cycle froze its participants with."""

from __future__ import annotations

from datetime import date

import pytest

from domain.cycle import Participants, Period
from domain.org_changes import in_population

Q3 = Period(label="2026-Q3", start=date(2026, 7, 1), end=date(2026, 9, 30))


@pytest.mark.parametrize(("selection", "who", "expected"), [
    ({"all_kams": True}, {}, True),
    ({"all_kams": True}, {"role": "manager"}, False),
    ({"managers": ["M1"]}, {}, True),
    ({"managers": ["M2"]}, {}, False),
    ({"under": ["H1"]}, {"above": frozenset({"M1", "H1"})}, True),
    ({"under": ["H2"]}, {"above": frozenset({"M1", "H1"})}, False),
    ({"grades": ["k2", "K3"]}, {"grade": "K2"}, True),
    ({"grades": ["K3"]}, {"grade": "K2"}, False),
    ({"regions": ["East"], "cost_centres": ["CC-1"]}, {"region": "east", "cost_centre": "cc-1"}, True),
    ({"regions": ["East"], "cost_centres": ["CC-2"]}, {"region": "east", "cost_centre": "cc-1"}, False),
    ({"under": ["H1"], "grades": ["K2"]}, {"above": frozenset({"H1"}), "grade": "K3"}, False),  # AND across kinds
    ({"grades": ["K3"], "employees": ["K09"]}, {"grade": "K2"}, True),  # listed: whatever the filters say
])
def test_joiners_are_selected_as_the_cycles_participants_were(selection: dict, who: dict, expected: bool) -> None:
    person = {"role": "kam", "grade": None, "region": None, "cost_centre": None, "above": frozenset()} | who
    assert in_population(Participants(**selection), Q3, "K09", person.pop("role"), "M1", date(2026, 8, 1), None,
                         **person) is expected


def test_a_joiner_hired_after_the_period_is_not_in_it() -> None:
    assert not in_population(Participants(all_kams=True), Q3, "K09", "kam", "M1", date(2026, 10, 1), None)
