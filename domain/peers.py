"""Peer feedback (360): the cycle's configuration of it and the only way its answers are ever read, in aggregate.

Anonymity is decided here, once: below ``min_answers`` answers nothing about them exists outside this module
(no averages, no distribution, no count to the KAM or the manager); at or above it, an average per question
and the number of answers, never who answered what. Pure: the same answers in any order, from any peers,
give the same aggregate (tests/domain/test_peers.py checks it with generated answers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import DomainError
from domain.inputs import Id, Text
from domain.money import round_to
from domain.text import tr

AVERAGE_DECIMALS = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PeerQuestion(_Frozen):
    id: Id
    text_en: Annotated[Text, Field(min_length=1, max_length=300)]
    text_zh: Annotated[Text, Field(min_length=1, max_length=300)] | None = None

    def text(self, locale: str | None) -> str:
        return self.text_zh if (locale or "").lower().startswith("zh") and self.text_zh else self.text_en


DEFAULT_QUESTIONS: tuple[PeerQuestion, ...] = (
    PeerQuestion(id="collaboration", text_en="Works well with colleagues across teams",
                 text_zh="能与各部门同事良好协作"),
    PeerQuestion(id="customer_focus", text_en="Puts the customer's interest first", text_zh="始终以客户利益为先"),
    PeerQuestion(id="reliability", text_en="Does what they promised, on time", text_zh="言出必行，按时完成承诺"),
)


class PeerAggregate(_Frozen):
    """What may be shown of a review's peer feedback. ``shown`` False: only that it is withheld, and why."""

    shown: bool
    min_answers: int
    answers: int | None = None  # only when shown (HR reads the count from peer_status, never from here)
    averages: dict[str, Decimal] = Field(default_factory=dict)  # question id -> average, only when shown
    overall: Decimal | None = None  # the mean of the question averages, on the answer scale
    scale_min: int = 1
    scale_max: int = 5

    def explanation(self, scored: bool = True) -> str:
        """Why the feedback is (not) shown and in the score, as a KAM reads it; ``scored``: the scorecard weighs it."""
        if not self.shown:
            return (f"peer feedback: fewer colleagues answered than the {self.min_answers} needed to keep answers "
                    f"anonymous, so it is not shown" + (" and not scored; the other weights were renormalized"
                                                        if scored else ""))
        return f"peer feedback: the average of {self.answers} colleagues' answers per question"


def aggregate(answers: Iterable[Mapping[str, int]], question_ids: list[str], min_answers: int,
              scale: tuple[int, int] = (1, 5)) -> PeerAggregate:
    """The aggregate of complete answer sets (question id -> rating); an answer set missing a question counts for
    the questions it has. Depends only on the multiset of answers: never on their order or on who gave them."""
    sets = [dict(a) for a in answers]
    if len(sets) < min_answers:
        return PeerAggregate(shown=False, min_answers=min_answers, scale_min=scale[0], scale_max=scale[1])
    averages: dict[str, Decimal] = {}
    for q in question_ids:
        values = sorted(a[q] for a in sets if a.get(q) is not None)
        if values:
            averages[q] = round_to(Decimal(sum(values)) / Decimal(len(values)), AVERAGE_DECIMALS)
    overall = (round_to(sum(averages.values(), Decimal(0)) / Decimal(len(averages)), AVERAGE_DECIMALS)
               if averages else None)
    return PeerAggregate(shown=True, min_answers=min_answers, answers=len(sets), averages=averages, overall=overall,
                         scale_min=scale[0], scale_max=scale[1])


def check_peers(peer_ids: list[str], employee_id: str, reviewer_id: str | None, config_max: int,
                config_min: int) -> None:
    """A nomination's own rules (no I/O): distinct peers, not the KAM, not the reviewer, between min and max."""
    if len(set(peer_ids)) != len(peer_ids):
        raise DomainError(tr("each colleague can be nominated once"))
    if employee_id in peer_ids:
        raise DomainError(tr("a KAM cannot give peer feedback on themselves"))
    if reviewer_id and reviewer_id in peer_ids:
        raise DomainError(tr("the reviewing manager gives their own score, not peer feedback"))
    if len(peer_ids) > config_max:
        raise DomainError(tr("at most %(max)s colleagues can be nominated", max=config_max))
    if len(peer_ids) < config_min:
        raise DomainError(tr("nominate at least %(min)s colleagues: fewer answers are never shown, to keep them "
                             "anonymous", min=config_min))
