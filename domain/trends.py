"""Trends across review cycles: the change against the previous cycle, and the drift rule for managers.

Pure: the service (services/trends.py) reads the figures, this module compares them.

**The drift rule.** A manager's ratings *drift* when their team's ratings move away from the company's over the
last cycles: over the last ``cycles`` cycles of one cadence (quarterly, say), take the first and the last of them in
which the manager rated at least ``min_team`` people, and compare how much the team's figures changed with how
much the company's changed in the same cycles:

- mean final level: flagged when the team's mean moved more than ``mean_threshold`` levels faster (or slower) than
  the company's mean ("the team's average rose 0.8 levels while the company's rose 0.1: 0.7 faster");
- share of people at the top level, and share at the bottom level: flagged when the team's share moved more than
  ``share_threshold`` (a ratio: 0.2 = 20 percentage points) beyond the company's.

A team whose ratings rise faster than the company's is getting more generous; one whose ratings fall faster,
stricter. Both can be right (a team that really improved), so a flag asks HR to look, never changes a rating.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Literal

Direction = Literal["up", "down", "same"]
ARROWS: dict[str, str] = {"up": "↑", "down": "↓", "same": "→"}


def change(previous: Decimal | None, current: Decimal | None) -> Decimal | None:
    """``current − previous``; None when either is missing (nothing to compare)."""
    if previous is None or current is None:
        return None
    return current - previous


def direction(delta: Decimal | int | None) -> Direction | None:
    """Which way a change goes: up, down, or the same (→); None when there was nothing to compare."""
    if delta is None:
        return None
    return "up" if delta > 0 else "down" if delta < 0 else "same"


def changes(values: Sequence[Decimal | None]) -> list[Decimal | None]:
    """Each value's change against the one before it in the series (the first has none)."""
    return [None, *(change(a, b) for a, b in zip(values, values[1:], strict=False))] if values else []


# -- the drift rule -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """The final levels of one group (a team, or the company) in one cycle, counted."""

    rated: int
    level_sum: int
    top: int  # how many at the cycle's highest level
    bottom: int  # how many at its lowest

    def mean(self) -> Fraction:
        return Fraction(self.level_sum, self.rated) if self.rated else Fraction(0)

    def top_share(self) -> Fraction:
        return Fraction(self.top, self.rated) if self.rated else Fraction(0)

    def bottom_share(self) -> Fraction:
        return Fraction(self.bottom, self.rated) if self.rated else Fraction(0)


@dataclass(frozen=True)
class DriftRule:
    """The declared thresholds (defaults: the last 3 cycles, half a level, 20 points, teams of 3 or more)."""

    cycles: int = 3
    mean_threshold: Decimal = Decimal("0.5")
    share_threshold: Decimal = Decimal("0.2")
    min_team: int = 3


#: What each flag means; a lenient drift is "up" (the team's ratings rise faster than the company's).
FLAGS = ("mean_up", "mean_down", "top_up", "top_down", "bottom_up", "bottom_down")
GENEROUS = frozenset({"mean_up", "top_up", "bottom_down"})
STRICT = frozenset({"mean_down", "top_down", "bottom_up"})


@dataclass(frozen=True)
class Drift:
    """One manager's drift against the company between two cycles of the window."""

    manager_id: str
    first_cycle: str | None  # the first and last cycles compared (None: fewer than two to compare)
    last_cycle: str | None
    team_mean_change: Decimal | None  # the team's mean level, last − first
    company_mean_change: Decimal | None
    mean_drift: Decimal | None  # team change − company change, in levels
    top_drift: Decimal | None  # the same for the share at the top level (a ratio)
    bottom_drift: Decimal | None
    flags: tuple[str, ...]
    leaning: Literal["generous", "strict", "mixed"] | None  # which way the flags point

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def shown(x: Fraction, places: int = 4) -> Decimal:
    """An exact fraction as a decimal for people and JSON, rounded half up once, here."""
    return (Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def drift(manager_id: str, window: Sequence[str], company: Mapping[str, Tally], team: Mapping[str, Tally],
          rule: DriftRule = DriftRule()) -> Drift:
    """Apply the drift rule (see the module docstring) to one manager.

    ``window``: the cycle ids of one cadence in period order (the service passes the last ``rule.cycles``);
    ``company`` and ``team``: each cycle's tally. Comparisons are exact (fractions); only what is shown is rounded.
    """
    used = [c for c in window if c in company and company[c].rated and team.get(c) and team[c].rated >= rule.min_team]
    if len(used) < 2:
        return Drift(manager_id, None, None, None, None, None, None, None, (), None)
    first, last = used[0], used[-1]
    t0, t1, c0, c1 = team[first], team[last], company[first], company[last]
    team_change = t1.mean() - t0.mean()
    company_change = c1.mean() - c0.mean()
    mean = team_change - company_change
    top = (t1.top_share() - t0.top_share()) - (c1.top_share() - c0.top_share())
    bottom = (t1.bottom_share() - t0.bottom_share()) - (c1.bottom_share() - c0.bottom_share())
    flags: list[str] = []
    for name, value, threshold in (("mean", mean, rule.mean_threshold), ("top", top, rule.share_threshold),
                                   ("bottom", bottom, rule.share_threshold)):
        limit = Fraction(threshold)
        if value > limit:
            flags.append(f"{name}_up")
        elif value < -limit:
            flags.append(f"{name}_down")
    generous, strict = bool(GENEROUS & set(flags)), bool(STRICT & set(flags))
    leaning = "mixed" if generous and strict else "generous" if generous else "strict" if strict else None
    return Drift(manager_id, first, last, shown(team_change), shown(company_change), shown(mean), shown(top),
                 shown(bottom), tuple(flags), leaning)


@dataclass(frozen=True)
class LevelCount:
    level: int
    count: int
    share: Decimal  # of the rated, a ratio rounded to 4 places


def distribution(levels: Sequence[int], scale: Sequence[int]) -> list[LevelCount]:
    """How many of ``levels`` sit at each level of ``scale`` (best first, as configured), with their share."""
    n = len(levels)
    return [LevelCount(lv, k, shown(Fraction(k, n)) if n else Decimal(0))
            for lv in scale for k in [sum(1 for x in levels if x == lv)]]


def exact_mean(values: Sequence[Decimal | int]) -> Fraction | None:
    """The arithmetic mean, exactly; None for no values."""
    return sum((Fraction(v) for v in values), Fraction(0)) / len(values) if values else None


def mean(values: Sequence[Decimal | int]) -> Decimal | None:
    """The arithmetic mean, rounded half up to 4 places (as scores are stored); None for no values."""
    m = exact_mean(values)
    return None if m is None else shown(m)
