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


def phase_label(key: str, language: str = "en") -> str:
    """The phase's name in a language (English when the language has none); an unknown key as written."""
    phase = PHASE_BY_KEY.get(key)
    return phase.label(language) if phase else key.replace("_", " ")
