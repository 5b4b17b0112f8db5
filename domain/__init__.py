"""Pure domain core of kamreview: scorecards, scoring, calibration, incentives, money.

Stdlib + pydantic only; no I/O, clock or randomness, so it is safe inside Temporal workflows.
Import the submodules directly (``from domain.scoring import preliminary_score``).
"""
