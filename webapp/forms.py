"""Errors a person can fix, beside the field they typed into, named by the label they see.

The pages validate with the same pydantic models as the API; this turns a ValidationError (and the
checks of what a review needs: every competency rated, on its scale) into ``{form field name: Text}``.
The review workflow's validator stays the authority: these checks only say earlier, and better, what it
would refuse, so a page never shows an internal id (``ratings.customer_focus``) or "Input should be ...".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from domain.scorecard import CompetencyItem
from domain.text import Text, tr


@dataclass
class FormSpec:
    """How one form maps onto its API body: which body field is which form field, and what each is called.

    ``groups`` maps a body field holding a mapping to the prefix of its form fields (``ratings`` →
    ``rating.``); ``labels`` gives each form field's visible label; ``scales`` the choices of a level field.
    """

    labels: dict[str, str]
    groups: dict[str, str] = field(default_factory=dict)
    scales: dict[str, tuple[int, int]] = field(default_factory=dict)

    def name_of(self, loc: tuple[Any, ...]) -> str | None:
        parts = [p for p in loc if p != "body"]
        if not parts:
            return None
        head = str(parts[0])
        if head in self.groups:
            return self.groups[head] + str(parts[1]) if len(parts) > 1 and isinstance(parts[1], str) else None
        return head

    def label(self, name: str) -> str:
        return self.labels.get(name) or name


def _message(spec: FormSpec, name: str, error: Mapping[str, Any]) -> Text:
    label = spec.label(name)
    kind = str(error.get("type", ""))
    if name in spec.scales:
        low, high = spec.scales[name]
        return tr("%(label)s: choose a level from %(min)s to %(max)s", label=label, min=low, max=high)
    if kind == "missing" or kind == "string_too_short":
        return tr("%(label)s is required", label=label)
    if kind == "string_too_long":
        given = error.get("input")
        return tr("%(label)s is too long (%(n)s characters); at most %(max)s", label=label,
                  n=len(given) if isinstance(given, str) else "?", max=(error.get("ctx") or {}).get("max_length", "?"))
    if kind.startswith("int") or kind in ("greater_than_equal", "less_than_equal"):
        return tr("%(label)s must be a whole number", label=label)
    if kind == "value_error":
        return tr("%(label)s contains a character that cannot be saved (a NUL character or a broken one); "
                  "remove it and try again", label=label)
    return tr("%(label)s is not valid", label=label)


def validation_errors(err: ValidationError, spec: FormSpec) -> dict[str, Text]:
    """Each field's first problem, in the order of the form's fields."""
    found: dict[str, Text] = {}
    for e in err.errors():
        name = spec.name_of(tuple(e.get("loc", ())))
        if name is None or name in found:
            if name is None:
                found.setdefault("", tr("the form could not be read; reload the page and try again"))
            continue
        found[name] = _message(spec, name, e)
    return ordered(found, spec.labels)


def ordered(errors: dict[str, Text], names: Iterable[str]) -> dict[str, Text]:
    order = {n: i for i, n in enumerate(names)}
    return dict(sorted(errors.items(), key=lambda kv: order.get(kv[0], len(order))))


def rating_errors(ratings: Mapping[str, Any], items: Iterable[CompetencyItem], low: int, high: int,
                  spec: FormSpec) -> dict[str, Text]:
    """What the workflow would refuse about the ratings, per field: a competency not rated, a level off the scale."""
    errors: dict[str, Text] = {}
    for item in items:
        name = f"rating.{item.id}"
        value = ratings.get(item.id)
        if value is None:
            errors[name] = tr("choose a level for %(label)s", label=spec.label(name))
        elif not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[name] = tr("%(label)s: choose a level from %(min)s to %(max)s", label=spec.label(name),
                              min=low, max=high)
    return errors


# -- the review forms: their fields, labels and scales, shared by the self-review and the scoring page ---------


def _labels(review: Any, fmt: Any, comment_prefix: str, comments_on_kpis: bool) -> dict[str, str]:
    lang = fmt.locale
    labels: dict[str, str] = {}
    for item in review.competency_items:
        name = item.name(lang)
        labels[f"rating.{item.id}"] = name
        said = tr("Evidence for %(label)s", label=name) if comment_prefix == "evidence." else \
            tr("Comment on %(label)s", label=name)
        labels[f"{comment_prefix}{item.id}"] = fmt.text(said)
    for k in review.kpis:
        labels[f"kpi.{k.id}" if comments_on_kpis else f"comment.{k.id}"] = fmt.text(
            tr("Comment on the %(label)s result", label=kpi_name(k, lang)))
    return labels


def kpi_name(kpi: Any, lang: str) -> str:
    """A KPI's label ("English / 中文" in the configuration) in the reader's language."""
    en, _, zh = str(kpi.label).partition(" / ")
    return (zh or en) if lang.lower().startswith("zh") else en


def self_review_spec(review: Any, fmt: Any) -> FormSpec:
    labels = _labels(review, fmt, "evidence.", comments_on_kpis=True)
    scales = {f"rating.{i.id}": (review.scale_min, review.scale_max) for i in review.competency_items}
    return FormSpec(labels, {"ratings": "rating.", "evidence": "evidence.", "kpi_comments": "kpi."}, scales)


def score_spec(review: Any, fmt: Any) -> FormSpec:
    labels = _labels(review, fmt, "comment.", comments_on_kpis=False)
    labels["potential"] = fmt.gettext("Potential")
    scales = {f"rating.{i.id}": (review.scale_min, review.scale_max) for i in review.competency_items}
    scales["potential"] = (review.potential_min, review.potential_max)
    return FormSpec(labels, {"ratings": "rating.", "comments": "comment."}, scales)


def survey_spec(fmt: Any) -> FormSpec:
    return FormSpec({"satisfaction": fmt.gettext("Overall satisfaction"),
                     "nps": fmt.gettext("How likely are you to recommend us to a colleague?"),
                     "comment": fmt.gettext("Comment (optional)")},
                    scales={"satisfaction": (1, 5), "nps": (0, 10)})


def draft_values(body: Mapping[str, Any], comments_key: str, prefix: str) -> dict[str, str]:
    """A saved draft as the form's values (what the person typed, field by field)."""
    values = {f"rating.{k}": str(v) for k, v in (body.get("ratings") or {}).items()}
    values |= {f"{prefix}{k}": str(v) for k, v in (body.get(comments_key) or {}).items()}
    values |= {f"kpi.{k}": str(v) for k, v in (body.get("kpi_comments") or {}).items()}
    if body.get("potential") is not None:
        values["potential"] = str(body["potential"])
    return values
