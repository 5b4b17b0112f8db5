"""One definition per phase: the cycle configuration, the workflow payloads and the labels agree."""

from __future__ import annotations

from domain.cycle import Phases
from domain.phases import PHASE_DEFINITIONS, PHASES, phase_label
from workflows.payloads import CUSTOMER_SURVEY, MANAGER_SCORING, SELF_REVIEW


def test_the_configuration_has_a_block_per_phase_in_order() -> None:
    assert tuple(Phases.model_fields) == PHASES == (SELF_REVIEW, MANAGER_SCORING, CUSTOMER_SURVEY)


def test_every_phase_is_named_in_both_languages() -> None:
    for phase in PHASE_DEFINITIONS:
        assert phase.label("en") and phase.label("zh-CN") and phase.label("en") != phase.label("zh-CN")
    assert phase_label(SELF_REVIEW, "zh-CN") == "自评"
    assert phase_label(MANAGER_SCORING, "fr") == "manager scoring"  # other languages fall back to English
    assert phase_label("sign_off") == "sign off"  # not (yet) defined: readable anyway


def test_every_definition_names_a_submission_type_an_update_a_validator_and_a_table() -> None:
    """The registry's names resolve: the payload type, the review workflow's Update, the check, the record, the
    model's table and every column its storage writes (the replaced-by column among them), and the form's template."""
    from pathlib import Path

    import models
    from workflows.review import ReviewWorkflow
    from workflows.review_rules import BINDINGS

    templates = Path(__file__).parents[2] / "webapp" / "templates"
    for phase in PHASE_DEFINITIONS:
        binding = BINDINGS[phase.key]
        assert binding.submission.__name__ == phase.submission
        assert callable(getattr(ReviewWorkflow, phase.update))
        assert binding.check.__name__ == phase.validator
        assert binding.record.__name__ == phase.record
        assert phase.storage is not None and phase.storage.table in models.metadata.tables, phase.storage
        columns = set(models.metadata.tables[phase.storage.table].columns.keys())
        assert {c for c, _ in phase.storage.columns} <= columns, phase.key
        assert phase.storage.replaced_by is None or phase.storage.replaced_by in dict(phase.storage.columns)
        assert (templates / phase.form).is_file(), phase.form
