"""The trend arithmetic and the drift rule (domain/trends.py): properties that must hold for any ratings."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from domain.trends import DriftRule, Tally, change, changes, direction, distribution, drift, mean

LEVELS = (5, 4, 3, 2, 1)
team_levels = st.lists(st.integers(1, 5), min_size=1, max_size=12)
cycle_levels = st.lists(team_levels, min_size=1, max_size=6)  # one team's levels per cycle
thresholds = st.decimals(min_value=0, max_value=3, places=2)


def tally(levels: list[int], top: int = 5, bottom: int = 1) -> Tally:
    return Tally(len(levels), sum(levels), levels.count(top), levels.count(bottom))


def world(team: list[list[int]], others: list[list[int]]):
    """A manager's team and the rest of the company, cycle by cycle (the company includes the team)."""
    ids = [f"c{i}" for i in range(min(len(team), len(others)))]
    company = {c: tally(t + o) for c, t, o in zip(ids, team, others, strict=False)}
    return ids, company, {c: tally(t) for c, t in zip(ids, team, strict=False)}


@given(st.lists(st.one_of(st.none(), st.decimals(-100, 100, places=4)), max_size=10))
def test_changes_are_each_value_against_the_one_before(values):
    out = changes(values)
    assert len(out) == len(values)
    for i, d in enumerate(out):
        if i == 0 or values[i] is None or values[i - 1] is None:
            assert d is None and direction(d) is None
        else:
            assert values[i - 1] + d == values[i]
            assert direction(d) == ("up" if d > 0 else "down" if d < 0 else "same")


@given(team_levels)
def test_a_distribution_counts_everyone_once(levels):
    dist = distribution(levels, LEVELS)
    assert [c.level for c in dist] == list(LEVELS)
    assert sum(c.count for c in dist) == len(levels)
    assert abs(sum(c.share for c in dist) - 1) <= Decimal("0.0003")  # each share rounded to 4 places
    assert abs(mean(levels) - Decimal(sum(levels)) / len(levels)) <= Decimal("0.00005")


@given(cycle_levels, cycle_levels, thresholds, thresholds)
def test_flagged_exactly_when_the_team_moves_faster_than_the_company_by_more_than_the_threshold(team, others, t, s):
    ids, company, teams = world(team, others)
    rule = DriftRule(cycles=len(ids), mean_threshold=t, share_threshold=s, min_team=1)
    d = drift("M", ids, company, teams, rule)
    if len(ids) < 2:
        assert d.flags == () and d.first_cycle is None
        return
    first, last = ids[0], ids[-1]
    exact = (teams[last].mean() - teams[first].mean()) - (company[last].mean() - company[first].mean())
    assert ("mean_up" in d.flags) == (exact > Fraction(t))
    assert ("mean_down" in d.flags) == (exact < -Fraction(t))
    top = (teams[last].top_share() - teams[first].top_share()) - (company[last].top_share() - company[first].top_share())
    assert ("top_up" in d.flags) == (top > Fraction(s))
    assert abs(d.mean_drift - Decimal(exact.numerator) / exact.denominator) <= Decimal("0.00005")


@given(cycle_levels, thresholds)
def test_a_team_that_is_the_whole_company_never_drifts(team, t):
    ids = [f"c{i}" for i in range(len(team))]
    tallies = {c: tally(levels) for c, levels in zip(ids, team, strict=True)}
    d = drift("M", ids, tallies, tallies, DriftRule(cycles=len(ids), mean_threshold=t, share_threshold=t, min_team=1))
    assert d.flags == () and d.leaning is None
    assert d.mean_drift in (None, 0)


@given(cycle_levels, cycle_levels, thresholds)
def test_mirroring_every_rating_mirrors_the_drift(team, others, t):
    """Level x becomes 6 − x (best and worst swap): a generous drift becomes a strict one, by the same amount."""
    ids, company, teams = world(team, others)
    mirror = [[6 - x for x in c] for c in team], [[6 - x for x in c] for c in others]
    _, company2, teams2 = world(*mirror)
    rule = DriftRule(cycles=len(ids), mean_threshold=t, share_threshold=Decimal(5), min_team=1)
    a, b = drift("M", ids, company, teams, rule), drift("M", ids, company2, teams2, rule)
    assert a.mean_drift == (-b.mean_drift if b.mean_drift is not None else None)
    swap = {"mean_up": "mean_down", "mean_down": "mean_up"}
    assert tuple(swap[f] for f in a.flags) == b.flags
    assert {"generous": "strict", "strict": "generous", None: None}[a.leaning] == b.leaning


@given(cycle_levels, cycle_levels, st.integers(0, 100))
def test_small_teams_are_left_out(team, others, min_team):
    """A cycle in which the manager rated fewer than min_team people is not compared at all."""
    ids, company, teams = world(team, others)
    d = drift("M", ids, company, teams, DriftRule(cycles=len(ids), min_team=min_team))
    eligible = [c for c in ids if teams[c].rated >= min_team]
    if len(eligible) < 2:
        assert d.flags == () and d.first_cycle is None
    else:
        assert (d.first_cycle, d.last_cycle) == (eligible[0], eligible[-1])


@given(st.decimals(-10, 10, places=3), st.decimals(-10, 10, places=3))
def test_change_and_direction(a, b):
    assert change(a, b) == b - a
    assert change(None, b) is None and change(a, None) is None
