"""Result models built from values the pure code computed itself, without validating them again.

Validation of a result model only copies values that already have their types; on hot paths (a cycle's lines,
100,000 people × 20 deals) it costs as much as the computation.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

_Model = TypeVar("_Model", bound=BaseModel)


def trusted(cls: type[_Model], values: dict[str, Any], fields_set: set[str]) -> _Model:
    """An instance of ``cls`` from values that already have its fields' types, without validating them again.

    What ``model_construct`` does for these models (frozen, ``extra="forbid"``, no private attributes, no
    post-init hook), minus its per-field alias lookups, which cost as much as validating: ``values`` must hold
    every field, in declaration order, as validation would leave them.
    """
    obj = cls.__new__(cls)
    _set = object.__setattr__
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", fields_set)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
