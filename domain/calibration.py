"""Calibration: compare ratings across managers, map scores to levels, check the distribution.

Per-manager normalization removes a lenient or severe manager's offset before levels are
suggested; small teams are left alone rather than amplified. Everything returns notes that say why.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from domain.errors import DomainError
from domain.inputs import Text, bounded
from domain.money import Num, calc_context, exact, fmt_num, round_to
from domain.scorecard import RatingScale, Score
from domain.text import N_, Steps, tr
from domain.text import Text as TextMessage

#: A rating level is a small ordinal people pick and payout multipliers are keyed by; the API takes levels within ±1000.
Level = Annotated[int, bounded(0, 100, tr("a rating level is a small whole number people pick"))]
#: A share of the people, in percent.
Percent = Annotated[Num, bounded(0, 100, tr("a percent of the participants"))]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CalibrationLevel(_Frozen):
    """A rating level and the lowest score (on the rating scale) that suggests it."""

    level: Level = Field(strict=True)
    label: Text = Field(min_length=1, max_length=100)
    min: Score


class NineBoxConfig(_Frozen):
    """How rating levels map to performance low/moderate/high; potential is 1 low, 2 moderate, 3 high."""

    high_min_level: Level = Field(default=4, strict=True)
    moderate_min_level: Level = Field(default=3, strict=True)

    @model_validator(mode="after")
    def _ordered(self) -> NineBoxConfig:
        if self.moderate_min_level >= self.high_min_level:
            raise DomainError(
                tr("moderate_min_level %(moderate_min_level)s must be below high_min_level %(high_min_level)s",
                   moderate_min_level=self.moderate_min_level, high_min_level=self.high_min_level),
                "nine_box",
            )
        return self


def _default_levels() -> tuple[CalibrationLevel, ...]:
    return (
        CalibrationLevel(level=5, label="Outstanding", min=Decimal("4.5")),
        CalibrationLevel(level=4, label="Exceeds", min=Decimal("3.5")),
        CalibrationLevel(level=3, label="Meets", min=Decimal("2.5")),
        CalibrationLevel(level=2, label="Partially meets", min=Decimal("1.5")),
        CalibrationLevel(level=1, label="Below", min=Decimal(0)),
    )


def _default_guideline() -> dict[int, Decimal]:
    return {5: Decimal(10), 4: Decimal(20), 3: Decimal(40), 2: Decimal(20), 1: Decimal(10)}


@exact
def check_guideline(guideline: dict[int, Decimal], levels: Sequence[int] | None = None) -> None:
    """Percent per level, non-negative, summing to exactly 100, and (if given) covering exactly ``levels``."""
    for level, pct in guideline.items():
        if pct < 0:
            raise DomainError(tr("level %(level)s has a negative percent %(pct)s",
                                 level=level, pct=fmt_num(pct)), f"guideline.{level}")
    total = sum(guideline.values(), Decimal(0))
    if total != 100:
        raise DomainError(tr("percents sum to %(total)s, must be exactly 100", total=fmt_num(total)), "guideline")
    if levels is not None:
        unknown = sorted(set(guideline) - set(levels))
        if unknown:
            raise DomainError(tr("level %(unknown)s is not defined in levels", unknown=unknown[0]), f"guideline.{unknown[0]}")
        absent = sorted(set(levels) - set(guideline), reverse=True)
        if absent:
            raise DomainError(tr("no percent for level %(absent)s (write 0 if none is expected)", absent=absent[0]), "guideline")


#: The points beyond which the calibration view flags a team when the cycle declares no ``guideline_bias_pp``.
#: Teams are small: in a team of 5, one person at a level the guideline gives 10 % is 20 % (+10 points, not
#: flagged), two are 40 % (+30, flagged).
GUIDELINE_BIAS_DEFAULT_PP = Decimal(10)


class CalibrationConfig(_Frozen):
    """Normalization, the rating levels (best first), the guided distribution and its tolerance."""

    normalize: bool = True
    # A team of 2 has no spread worth normalizing; beyond 10,000 nobody would ever be normalized.
    min_team_size: Annotated[int, bounded(2, 10_000, tr("the smallest team whose scores are normalized"))] = Field(
        default=3, strict=True)
    levels: tuple[CalibrationLevel, ...] = Field(default_factory=_default_levels, min_length=2, max_length=101)
    # Keys stay lax: the frozen configuration comes back from JSON, whose keys are strings.
    guideline: dict[Level, Percent] = Field(default_factory=_default_guideline)
    enforce: bool = False
    tolerance_pct: Percent = Field(default=Decimal(5))
    leniency_threshold: Annotated[Num, bounded(0, 100, tr("a difference of levels"))] = Field(
        default=Decimal("0.5"), gt=0, description="levels above/below company mean")
    central_tendency_pct: Percent = Field(default=Decimal(80), gt=0, description="share at the middle level(s)")
    #: A team whose share of a level exceeds the guideline's by more than this many points is flagged
    #: (guideline_bias); None leaves it to the caller: the calibration view applies GUIDELINE_BIAS_DEFAULT_PP.
    guideline_bias_pp: Percent | None = Field(default=None, gt=0)
    nine_box: NineBoxConfig = NineBoxConfig()

    @model_serializer(mode="wrap")
    def _omit_unset_bias(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave guideline_bias_pp out while unset, so a configuration frozen before it dumps (and digests) as it did."""
        data = handler(self)
        if data.get("guideline_bias_pp", 0) is None:
            del data["guideline_bias_pp"]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> CalibrationConfig:
        for i in range(1, len(self.levels)):
            prev, cur = self.levels[i - 1], self.levels[i]
            if cur.level >= prev.level:
                raise DomainError(
                    tr("levels must be listed best first: level %(level)s after level %(level2)s",
                       level=cur.level, level2=prev.level), f"levels.{i}.level"
                )
            if cur.min >= prev.min:
                raise DomainError(
                    tr("min %(min)s of level %(level)s must be below min %(min2)s of level %(level2)s",
                       min=fmt_num(cur.min), level=cur.level, min2=fmt_num(prev.min), level2=prev.level),
                    f"levels.{i}.min",
                )
        check_guideline(self.guideline, [lv.level for lv in self.levels])
        return self

    def level_numbers(self) -> list[int]:
        return [lv.level for lv in self.levels]

    def label(self, level: int) -> str:
        for lv in self.levels:
            if lv.level == level:
                return lv.label
        raise DomainError(tr("level %(level)s is not defined in levels", level=level), "level")


class CalibrationEntry(_Frozen):
    """One preliminary score and the manager who gave it."""

    employee_id: str
    manager_id: str
    score: Num


class NormalizedScore(_Frozen):
    """The score before and after per-manager normalization, and why."""

    employee_id: str
    manager_id: str
    original: Decimal
    normalized: Decimal
    note: str | None = None


def mean_sigma(values: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Mean and population standard deviation (Decimal sqrt), at working precision."""
    if not values:
        raise DomainError(tr("need at least one value"), "values")
    with localcontext(calc_context()):
        n = Decimal(len(values))
        mu = sum(values, Decimal(0)) / n
        var = sum(((v - mu) * (v - mu) for v in values), Decimal(0)) / n
        return mu, var.sqrt()


@exact
def zscore_rescale(
    x: Decimal, mu_m: Decimal, sigma_m: Decimal, mu_g: Decimal, sigma_g: Decimal, scale: RatingScale
) -> Decimal:
    """``clamp(mu_g + sigma_g·(x − mu_m)/sigma_m, min, max)`` rounded to the scale's decimals (HALF_UP).

    Example: x 3.5, mu_m 4.2, sigma_m 0.7, mu_g 3.8, sigma_g 0.6 → 3.2.
    """
    if sigma_m <= 0:
        raise DomainError(tr("sigma_m must be positive; skip or pool teams whose scores are all equal"), "sigma_m")
    with localcontext(calc_context()):
        value = mu_g + sigma_g * (x - mu_m) / sigma_m
    clamped = min(max(value, scale.min), scale.max)
    return round_to(clamped, scale.decimals, "HALF_UP")


@exact
def normalize(entries: list[CalibrationEntry], cfg: CalibrationConfig, scale: RatingScale) -> list[NormalizedScore]:
    """Per-manager z-score rescaled to the company distribution, in input order.

    Teams smaller than ``min_team_size`` and teams with sigma 0 are left unnormalized (pooled with
    the company as they are), with a note; so is everyone when ``cfg.normalize`` is off.
    """
    seen: set[str] = set()
    for i, e in enumerate(entries):
        if e.employee_id in seen:
            raise DomainError(tr("employee %(employee_id)s appears twice", employee_id=repr(e.employee_id)), f"entries.{i}.employee_id")
        seen.add(e.employee_id)
    if not entries:
        return []
    mu_g, sigma_g = mean_sigma([e.score for e in entries])
    teams: dict[str, list[Decimal]] = {}
    for e in entries:
        teams.setdefault(e.manager_id, []).append(e.score)
    stats = {m: mean_sigma(v) for m, v in teams.items()}
    result: list[NormalizedScore] = []
    for e in entries:
        size = len(teams[e.manager_id])
        mu_m, sigma_m = stats[e.manager_id]
        if not cfg.normalize:
            note = "normalization is off"
        elif size < cfg.min_team_size:
            note = (f"team of {size} under manager {e.manager_id} is smaller than min_team_size "
                    f"{cfg.min_team_size}: left unnormalized (pooled)")
        elif sigma_m == 0:
            note = f"all {size} scores under manager {e.manager_id} are equal (sigma 0): left unnormalized (pooled)"
        else:
            normalized = zscore_rescale(e.score, mu_m, sigma_m, mu_g, sigma_g, scale)
            with localcontext(calc_context()):
                raw = mu_g + sigma_g * (e.score - mu_m) / sigma_m
            note = (f"company mean {fmt_num(mu_g)} + company sigma {fmt_num(sigma_g)} × (score {fmt_num(e.score)} − "
                    f"team mean {fmt_num(mu_m)}) / team sigma {fmt_num(sigma_m)} = {fmt_num(raw)}")
            if raw < scale.min or raw > scale.max:
                note += f", clamped to the scale {scale.describe()}"
            result.append(NormalizedScore(employee_id=e.employee_id, manager_id=e.manager_id, original=e.score,
                                          normalized=normalized, note=f"{note} → {normalized}"))
            continue
        kept = round_to(min(max(e.score, scale.min), scale.max), scale.decimals, "HALF_UP")
        result.append(NormalizedScore(employee_id=e.employee_id, manager_id=e.manager_id, original=e.score,
                                      normalized=kept, note=note))
    return result


def rating_level(score: Decimal, cfg: CalibrationConfig) -> int:
    """The best level whose ``min`` the score reaches; below every min → the lowest level."""
    for lv in cfg.levels:
        if score >= lv.min:
            return lv.level
    return cfg.levels[-1].level


@exact
def guideline_headcounts(n: int, guideline: dict[int, Decimal]) -> dict[int, int]:
    """Turn guideline percents into head counts summing to ``n`` (largest remainder / Hamilton).

    Ties on the remainder go to the level with the larger guideline percent, then to the lower
    level (the conservative choice), so the result never depends on dict order.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise DomainError(tr("head count must be a non-negative integer, got %(n)s", n=repr(n)), "n")
    check_guideline(guideline)
    floors: dict[int, int] = {}
    remainders: dict[int, Decimal] = {}
    with localcontext(calc_context()):
        for level, pct in guideline.items():
            quota = Decimal(n) * pct / 100
            floors[level] = int(quota)
            remainders[level] = quota - floors[level]
    leftover = n - sum(floors.values())
    order = sorted(guideline, key=lambda lv: (-remainders[lv], -guideline[lv], lv))
    for level in order[:leftover]:
        floors[level] += 1
    return {level: floors[level] for level in sorted(guideline, reverse=True)}


class LevelDistribution(_Frozen):
    level: int
    label: str
    actual: int
    actual_pct: Decimal
    guideline_pct: Decimal
    guideline_count: int
    difference: int


class ManagerDistribution(_Frozen):
    manager_id: str
    count: int
    mean_level: Decimal
    company_mean: Decimal
    difference: Decimal
    flags: list[str]
    notes: list[str]


class DistributionReport(_Frozen):
    """Actual vs guided distribution, per-manager tendencies, and what is outside tolerance."""

    total: int
    levels: list[LevelDistribution]
    managers: list[ManagerDistribution]
    within_guideline: bool
    violations: list[str]
    enforce: bool
    blocking: bool = Field(description="enforce is on and the distribution is outside the guideline")


def _middle_levels(levels: list[int]) -> set[int]:
    ordered = sorted(levels)
    k = len(ordered)
    return {ordered[k // 2]} if k % 2 else {ordered[k // 2 - 1], ordered[k // 2]}


@exact
def distribution_report(ratings: list[tuple[str, str, int]], cfg: CalibrationConfig) -> DistributionReport:
    """Compare (employee_id, manager_id, level) ratings with the guideline and between managers.

    A level is outside the guideline when its head count differs from the guideline count by
    more than ``tolerance_pct`` percentage points of the population.
    """
    known = set(cfg.level_numbers())
    for i, (employee_id, _, level) in enumerate(ratings):
        if level not in known:
            raise DomainError(tr("employee %(employee_id)s has level %(level)s, not defined in levels",
                                 employee_id=repr(employee_id), level=repr(level)), f"ratings.{i}")
    n = len(ratings)
    counts = {lv: 0 for lv in cfg.level_numbers()}
    for _, _, level in ratings:
        counts[level] += 1
    targets = guideline_headcounts(n, cfg.guideline)
    levels: list[LevelDistribution] = []
    violations: list[str] = []
    for lv in cfg.levels:
        actual = counts[lv.level]
        pct = round_to(Decimal(actual) * 100 / n, 2) if n else Decimal("0.00")
        diff = actual - targets[lv.level]
        levels.append(LevelDistribution(level=lv.level, label=lv.label, actual=actual, actual_pct=pct,
                                        guideline_pct=cfg.guideline[lv.level], guideline_count=targets[lv.level],
                                        difference=diff))
        if n and diff:
            with localcontext(calc_context()):
                pp = Decimal(diff) * 100 / n
            if abs(pp) > cfg.tolerance_pct:
                violations.append(
                    f"level {lv.level} ({lv.label}): {actual} of {n} rated ({fmt_num(pct, 2)} %) vs guideline "
                    f"{targets[lv.level]} ({fmt_num(cfg.guideline[lv.level])} %): {diff:+d} people, "
                    f"{'+' if pp > 0 else ''}{fmt_num(pp, 2)} pp beyond the tolerance of "
                    f"{fmt_num(cfg.tolerance_pct)} pp"
                )
    managers: list[ManagerDistribution] = []
    if n:
        company_mean = round_to(Decimal(sum(level for _, _, level in ratings)) / n, 2)
        middle = _middle_levels(cfg.level_numbers())
        teams: dict[str, list[int]] = {}
        for _, manager_id, level in ratings:
            teams.setdefault(manager_id, []).append(level)
        for manager_id, team in teams.items():
            mean = round_to(Decimal(sum(team)) / len(team), 2)
            diff = mean - company_mean
            flags: list[str] = []
            notes: list[str] = []
            if len(team) < cfg.min_team_size:
                notes.append(f"team of {len(team)} is smaller than min_team_size {cfg.min_team_size}: not flagged")
            else:
                if diff > cfg.leniency_threshold:
                    flags.append("leniency")
                    notes.append(f"mean level {mean} is {fmt_num(diff)} above the company mean {company_mean} "
                                 f"(threshold {fmt_num(cfg.leniency_threshold)})")
                elif diff < -cfg.leniency_threshold:
                    flags.append("severity")
                    notes.append(f"mean level {mean} is {fmt_num(-diff)} below the company mean {company_mean} "
                                 f"(threshold {fmt_num(cfg.leniency_threshold)})")
                at_middle = sum(1 for level in team if level in middle)
                share = Decimal(at_middle) * 100 / len(team)
                if share >= cfg.central_tendency_pct:
                    flags.append("central_tendency")
                    notes.append(f"{at_middle} of {len(team)} ratings ({fmt_num(share, 2)} %) at the middle "
                                 f"level(s) {sorted(middle)} (threshold {fmt_num(cfg.central_tendency_pct)} %)")
            managers.append(ManagerDistribution(manager_id=manager_id, count=len(team), mean_level=mean,
                                                company_mean=company_mean, difference=diff, flags=flags,
                                                notes=notes))
    within = not violations
    return DistributionReport(total=n, levels=levels, managers=managers, within_guideline=within,
                              violations=violations, enforce=cfg.enforce, blocking=cfg.enforce and not within)


#: English display names, marked for translation (pages show them in the reader's language).
NINE_BOX_NAMES: dict[str, str] = {
    "high/high": N_("Star"),
    "high/moderate": N_("High performer"),
    "high/low": N_("Solid expert"),
    "moderate/high": N_("High potential"),
    "moderate/moderate": N_("Core player"),
    "moderate/low": N_("Effective contributor"),
    "low/high": N_("Rough diamond"),
    "low/moderate": N_("Inconsistent player"),
    "low/low": N_("Underperformer"),
}


def nine_box(performance_level: int, potential: int | None, cfg: CalibrationConfig) -> str | None:
    """``"<performance>/<potential>"`` (each low/moderate/high), e.g. ``"high/moderate"``; None without potential.

    ``NINE_BOX_NAMES`` gives a display name for each box.
    """
    if performance_level not in cfg.level_numbers():
        raise DomainError(tr("level %(performance_level)s is not defined in levels",
                             performance_level=repr(performance_level)), "performance_level")
    if potential is None:
        return None
    if isinstance(potential, bool) or potential not in (1, 2, 3):
        raise DomainError(tr("potential must be 1 (low), 2 (moderate) or 3 (high), got %(potential)s",
                             potential=repr(potential)), "potential")
    box = cfg.nine_box
    if performance_level >= box.high_min_level:
        perf = "high"
    elif performance_level >= box.moderate_min_level:
        perf = "moderate"
    else:
        perf = "low"
    return f"{perf}/{('low', 'moderate', 'high')[potential - 1]}"


class LevelDeviation(_Frozen):
    """A team's share of one level against the guideline, in percentage points."""

    level: int
    band: str
    team_pct: Decimal
    guideline_pct: Decimal
    deviation_pp: Decimal
    flagged: bool


class GuidelineBias(_Frozen):
    """One manager's team against the guideline distribution: the deviations per level and the flags they raise."""

    manager_id: str
    count: int
    deviations: tuple[LevelDeviation, ...]
    flags: tuple[str, ...]
    notes: Steps


#: Which tendency an excess at a level shows: leniency at the top, severity at the bottom, central tendency between.
BIAS_BY_BAND = {"top": "leniency", "bottom": "severity", "middle": "central_tendency"}


@exact
def guideline_bias(ratings: list[tuple[str, str, int]], cfg: CalibrationConfig,
                   threshold_pp: Decimal | None = None) -> list[GuidelineBias]:
    """Per manager, each level's share against the guideline (team % − guideline %, in points).

    A level whose team share exceeds the guideline by more than ``threshold_pp`` (default the configuration's
    ``guideline_bias_pp``) flags leniency (a level above the middle), severity (below it) or central tendency
    (the middle level or levels). Teams smaller than ``min_team_size`` are shown but not flagged.
    Example: guideline 10/20/40/20/10 %, a team of 10 rated 4, 4, 2 at levels 5, 4, 3 (and none lower): level 5
    is at 40 %, +30 points; with a threshold of 15 points that is leniency.
    """
    threshold = cfg.guideline_bias_pp if threshold_pp is None else threshold_pp
    if threshold is None or threshold <= 0:
        raise DomainError(tr("give the deviation in points that flags a team (guideline_bias_pp)"), "guideline_bias_pp")
    known = set(cfg.level_numbers())
    teams: dict[str, list[int]] = {}
    for i, (employee_id, manager_id, level) in enumerate(ratings):
        if level not in known:
            raise DomainError(tr("employee %(employee_id)s has level %(level)s, not defined in levels",
                                 employee_id=repr(employee_id), level=repr(level)), f"ratings.{i}")
        teams.setdefault(manager_id, []).append(level)
    middle = _middle_levels(cfg.level_numbers())
    out: list[GuidelineBias] = []
    for manager_id, team in teams.items():
        n = len(team)
        small = n < cfg.min_team_size
        deviations: list[LevelDeviation] = []
        flags: list[str] = []
        notes: list[TextMessage] = []
        for lv in cfg.levels:
            band = "middle" if lv.level in middle else ("top" if lv.level > max(middle) else "bottom")
            team_pct = Decimal(sum(1 for level in team if level == lv.level)) * 100 / n
            guide = cfg.guideline[lv.level]
            deviation = team_pct - guide
            flagged = not small and deviation > threshold
            deviations.append(LevelDeviation(level=lv.level, band=band, team_pct=round_to(team_pct, 2),
                                             guideline_pct=guide, deviation_pp=round_to(deviation, 2),
                                             flagged=flagged))
            if flagged:
                flag = BIAS_BY_BAND[band]
                if flag not in flags:
                    flags.append(flag)
                notes.append(tr("%(flag)s: %(share)s %% of the team at level %(level)s (%(label)s) against a guideline "
                                "of %(guideline)s %%, %(deviation)s points above it (threshold %(threshold)s)",
                                flag=_bias_text(flag), share=round_to(team_pct, 2).normalize(), level=lv.level,
                                label=lv.label, guideline=guide.normalize(), deviation=round_to(deviation, 2).normalize(),
                                threshold=threshold.normalize()))
        if small:
            notes.append(tr("team of %(count)s is smaller than min_team_size %(minimum)s: not flagged", count=n,
                            minimum=cfg.min_team_size))
        out.append(GuidelineBias(manager_id=manager_id, count=n, deviations=tuple(deviations), flags=tuple(flags),
                                 notes=tuple(notes)))
    return out


def _bias_text(flag: str) -> TextMessage:
    return {"leniency": tr("leniency"), "severity": tr("severity"), "central_tendency": tr("central tendency")}[flag]
