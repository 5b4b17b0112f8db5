"""The phases of a review, defined once: their keys, who submits, and their names in both languages.

The workflow, the activities, task creation, the services' messages, the CLI and the pages all read
these definitions; a new phase (peer feedback, sign-off) starts as one more entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Language = Literal["en", "zh-CN"]


@dataclass(frozen=True)
class PhaseDefinition:
    key: str
    submitter: Literal["employee", "reviewer", "contact"]  # who owns the phase's task(s)
    labels: dict[str, str]  # language -> name of the phase, as a person reads it

    def label(self, language: str = "en") -> str:
        return self.labels.get(language) or self.labels["en"]


SELF_REVIEW = "self_review"
MANAGER_SCORING = "manager_scoring"
CUSTOMER_SURVEY = "customer_survey"

PHASE_DEFINITIONS: tuple[PhaseDefinition, ...] = (
    PhaseDefinition(SELF_REVIEW, "employee", {"en": "self-review", "zh-CN": "自评"}),
    PhaseDefinition(MANAGER_SCORING, "reviewer", {"en": "manager scoring", "zh-CN": "经理评分"}),
    PhaseDefinition(CUSTOMER_SURVEY, "contact", {"en": "customer survey", "zh-CN": "客户满意度调查"}),
)
PHASES: tuple[str, ...] = tuple(p.key for p in PHASE_DEFINITIONS)
PHASE_BY_KEY: dict[str, PhaseDefinition] = {p.key: p for p in PHASE_DEFINITIONS}


# Where a whole cycle stands (review_cycle.status and the cycle workflow's phase), in both languages.
CYCLE_PHASE_LABELS: dict[str, dict[str, str]] = {
    "created": {"en": "created, not started", "zh-CN": "已创建，未启动"},
    "starting": {"en": "starting", "zh-CN": "启动中"},
    "running": {"en": "reviews under way", "zh-CN": "考核进行中"},
    "reviews": {"en": "reviews under way", "zh-CN": "考核进行中"},
    "calibration": {"en": "calibration", "zh-CN": "校准"},
    "incentives": {"en": "computing incentives", "zh-CN": "计算绩效奖金"},
    "awaiting_approval": {"en": "payouts awaiting approval", "zh-CN": "奖金待审批"},
    "locked": {"en": "locked (payouts approved)", "zh-CN": "已锁定（奖金已审批）"},
    "cancelled": {"en": "cancelled", "zh-CN": "已取消"},
}


def phase_label(key: str, language: str = "en") -> str:
    """The phase's name in a language (English when the language has none); an unknown key as written.

    Review phases (self-review ...) and the stages of a whole cycle (calibration, locked ...) alike.
    """
    phase = PHASE_BY_KEY.get(key)
    if phase:
        return phase.label(language)
    if key in CYCLE_PHASE_LABELS:
        labels = CYCLE_PHASE_LABELS[key]
        return labels.get(language) or labels["en"]
    return key.replace("_", " ")


@dataclass(frozen=True)
class PhaseName:
    """A phase (or a cycle's stage) as a message parameter: named in the reader's language at the edge."""

    key: str

    def localized(self, locale: str) -> str:
        return phase_label(self.key, locale)
