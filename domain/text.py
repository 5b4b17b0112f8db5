"""What a person reads, before it is translated: an English source id with named parameters.

Refusals and explanations are built as ``tr("already submitted on %(at)s by %(who)s", at=..., who=...)``
and carried as they are (through services, and through Temporal as an ApplicationError's details) to the
edge, which translates the id and formats each parameter in the reader's language and time zone. ``str()``
of a Text is its English wording, so logs, the CLI and existing callers keep working unchanged.

Pure: no catalogs here. The id is the msgid that ``pybabel extract`` finds (keyword ``tr``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Protocol, runtime_checkable

from pydantic import BeforeValidator, PlainSerializer, ValidatorFunctionWrapHandler, WrapValidator


@runtime_checkable
class Localized(Protocol):
    """A parameter that knows its own wording per language (a phase name from domain.phases, say)."""

    def localized(self, locale: str) -> str: ...


@dataclass(frozen=True)
class Text:
    id: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.params:
            return self.id
        # The English wording, as render(identity, _plain, "en") gives it, with the common parameter types first
        # (an explanation of every deal line of a cycle is rendered this way: millions of parameters).
        shown = {k: v if type(v) is str else _plain_param(v) for k, v in self.params.items()}
        try:
            return self.id % shown
        except (KeyError, ValueError, TypeError):
            return self.render(_same, _plain, "en")

    def render(self, gettext: Callable[[str], str], value: Callable[[Any], str], locale: str) -> str:
        """The message through ``gettext``; each parameter through ``value`` (nested Texts translated too)."""
        wording = gettext(self.id)
        if not self.params:
            return wording
        shown = {k: _param(v, gettext, value, locale) for k, v in self.params.items()}
        try:
            return wording % shown
        except (KeyError, ValueError, TypeError):  # a translation that lost a placeholder: say it in English
            return self.id % shown

    def as_details(self) -> dict[str, Any]:
        """JSON-safe form for an ApplicationError's details (times as ISO strings, amounts as strings)."""
        return {"id": self.id, "params": {k: _jsonable(v) for k, v in self.params.items()}}

    @classmethod
    def from_details(cls, details: object) -> Text | None:
        if isinstance(details, Mapping) and isinstance(details.get("id"), str) and isinstance(details.get("params", {}), Mapping):
            return cls(details["id"], {k: _revive(v) for k, v in details.get("params", {}).items()})
        return None


class LazyText(Text):
    """A Text whose id and parameters are built when first read; its English wording comes straight from the figures.

    A deal's credit step is built for every deal of a cycle and mostly only ever read in English (a payout line's
    explanation): ``make(*args)`` builds the Text (once, when ``id`` or ``params`` is first read: translated at the
    edge as any Text), ``english(*args)`` says exactly what ``str()`` of that Text says, without building it. It
    compares equal to the Text it stands for, and pickles and copies as that Text.
    """

    def __getattr__(self, name: str) -> Any:
        if name == "id" or name == "params":
            d = self.__dict__
            src = d.get("_src")
            if src is not None:
                text = src[0](*src[2])
                d["id"], d["params"] = text.id, text.params
                return d[name]
        raise AttributeError(name)

    def __str__(self) -> str:
        src = self.__dict__.get("_src")
        return src[1](*src[2]) if src is not None else Text.__str__(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Text):
            return self.id == other.id and self.params == other.params
        return NotImplemented

    __hash__ = None  # type: ignore[assignment] # as a Text's: its parameters are a dict

    def __repr__(self) -> str:
        return f"Text(id={self.id!r}, params={self.params!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (self.id, self.params))


_new = object.__new__


def lazy_text(make: Callable[..., Text], english: Callable[..., str], *args: Any) -> Text:
    """A ``LazyText``: ``make(*args)`` builds the Text when it is read, ``english(*args)`` is its ``str()``."""
    t = _new(LazyText)
    t.__dict__["_src"] = (make, english, args)
    return t


class LazySteps(Sequence[Text]):
    """A line's explanation steps, built when first read: the line keeps its figures, the steps come from them.

    Millions of deal lines are explained, and most explanations are only ever read in English (a payout line's
    ``explanation``): ``make(*args)`` builds the steps (Texts, translated at the edge) once, when they are read;
    ``explain`` takes ``english(*args)``, which says exactly what the steps say in English, joined by "; ",
    without building them. Reads as the tuple of its steps (equality, iteration, pickling, copying, JSON).
    """

    __slots__ = ("_src", "_texts")

    def __init__(self, make: Callable[..., Sequence[Text]], args: tuple[Any, ...],
                 english: Callable[..., str] | None = None) -> None:
        self._src = (make, english, args)
        self._texts: tuple[Text, ...] | None = None

    @classmethod
    def of(cls, src: tuple[Callable[..., Sequence[Text]], Callable[..., str] | None, tuple[Any, ...]]) -> LazySteps:
        """``LazySteps(make, args, english)`` from ``(make, english, args)``, without the call to ``__init__``
        (one per deal line of a cycle)."""
        steps = _new(cls)
        _set_src(steps, src)
        _set_texts(steps, None)
        return steps

    def texts(self) -> tuple[Text, ...]:
        texts = self._texts
        if texts is None:
            make, _, args = self._src
            texts = self._texts = tuple(make(*args))
        return texts

    def english(self) -> str:
        """The steps in English joined by "; " (``explain``), from the figures when the line says how."""
        _, english, args = self._src
        if english is not None and self._texts is None:
            return english(*args)
        return "; ".join(str(step) for step in self.texts())

    def __len__(self) -> int:
        return len(self.texts())

    def __getitem__(self, index: Any) -> Any:
        return self.texts()[index]

    def __iter__(self) -> Iterator[Text]:
        return iter(self.texts())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazySteps):
            return self.texts() == other.texts()
        if isinstance(other, tuple):
            return self.texts() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment] # as a tuple of Texts: their parameters are dicts

    def __add__(self, other: object) -> tuple[Text, ...]:
        return self.texts() + tuple(other)  # type: ignore[arg-type]

    def __radd__(self, other: object) -> tuple[Text, ...]:
        return tuple(other) + self.texts()  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return repr(self.texts())

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (self.texts(),))


_set_src = LazySteps._src.__set__  # type: ignore[attr-defined]
_set_texts = LazySteps._texts.__set__  # type: ignore[attr-defined]


def explain(steps: Sequence[Text]) -> str:
    """A line's steps in English, joined by "; ": what a payout line's ``explanation`` holds."""
    if type(steps) is LazySteps:
        return steps.english()
    return "; ".join(str(step) for step in steps)


def tr(id: str, /, **params: Any) -> Text:
    """A message to translate at the edge; ``id`` is its English wording with ``%(name)s`` placeholders."""
    return Text(id, params)


def N_(id: str) -> str:
    """Marks a constant for extraction without translating it here (labels in tables of the domain)."""
    return id


def _param(v: Any, gettext: Callable[[str], str], value: Callable[[Any], str], locale: str) -> str:
    if type(v) is str:  # an id or a name: every reader shows it as it is (the common case, first)
        return v
    if isinstance(v, list | tuple):  # a list of problems, one a line (a configuration's or a file's)
        return "\n".join(_param(item, gettext, value, locale) for item in v)
    if isinstance(v, Text):
        return v.render(gettext, value, locale)
    if _is_localized(v):
        return v.localized(locale)
    return value(v)


def _is_localized(v: Any) -> bool:
    """``isinstance(v, Localized)`` without the protocol check's cost (it collects the protocol's attributes on
    every call: most of the time of rendering an explanation); the same test, a callable ``localized``."""
    return callable(getattr(type(v), "localized", None))


def _same(s: str) -> str:
    return s


def _plain_param(v: Any) -> str:
    """A parameter in English: ``_param(v, _same, _plain, "en")``, the common types without the dispatch."""
    t = type(v)
    if t is Decimal:
        return f"{v.normalize():f}"
    if t is int:
        return str(v)
    return _param(v, _same, _plain, "en")


def _plain(v: Any) -> str:
    if isinstance(v, datetime):
        zone = getattr(v.tzinfo, "key", None)  # a time in a named zone (the cycle's): said as people read it
        return f"{v:%Y-%m-%d %H:%M} ({zone})" if zone else v.isoformat(timespec="minutes")
    if isinstance(v, Decimal):
        return f"{v.normalize():f}"
    return str(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_jsonable(item) for item in v]
    if isinstance(v, Text):
        return {"$text": v.as_details()}
    if isinstance(v, datetime):
        return {"$time": v.isoformat()}
    if isinstance(v, date):
        return {"$date": v.isoformat()}
    if isinstance(v, Decimal):
        return {"$decimal": str(v)}
    phase = getattr(v, "phase_key", None)  # a phase's name (domain.phases.PhaseName): named again at the edge
    if isinstance(phase, str):
        return {"$phase": phase}
    questions = getattr(v, "question_keys", None)  # questions of a phase (domain.phases.QuestionNames): likewise
    if isinstance(questions, list):
        return {"$questions": questions}
    if _is_localized(v):
        return v.localized("en")
    details = getattr(v, "as_details", None)  # a figure that formats itself (domain.sentences' Money, Percent)
    if callable(details):
        return details()
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)


def _revive(v: Any) -> Any:
    if isinstance(v, list):
        return [_revive(item) for item in v]
    if isinstance(v, Mapping) and len(v) == 1:
        ((tag, inner),) = v.items()
        if tag == "$text":
            return Text.from_details(inner)
        if tag == "$time":
            return datetime.fromisoformat(inner)
        if tag == "$date":
            return date.fromisoformat(inner)
        if tag == "$decimal":
            return Decimal(inner)
        if tag == "$phase" and isinstance(inner, str):
            from domain.phases import PhaseName  # lazily, as below

            return PhaseName(inner)
        if tag == "$questions" and isinstance(inner, list) and inner and all(isinstance(q, str) for q in inner):
            from domain.phases import QuestionNames

            return QuestionNames(inner[0], tuple(inner[1:]))
        if tag in ("$money", "$percent") and isinstance(inner, list):
            from domain.sentences import Money, Percent  # lazily: sentences builds on this module

            try:
                return Money(Decimal(inner[0]), str(inner[1])) if tag == "$money" else Percent(Decimal(inner[0]),
                                                                                               int(inner[1]))
            except (ArithmeticError, IndexError, TypeError, ValueError):
                return v
    return v


def _revive_steps(value: Any) -> Any:
    """Steps as JSON brings them back (``Text.as_details()`` each) become Texts again; Texts pass as they are."""
    if isinstance(value, list | tuple):
        return tuple(Text.from_details(v) or v if isinstance(v, Mapping) else v for v in value)
    return value


def _steps_out(value: tuple[Text, ...]) -> list[dict[str, Any]]:
    return [step.as_details() for step in value]


def _keep_lazy(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Steps still to be built (``LazySteps``) are kept as they are: validating them would build them."""
    return value if type(value) is LazySteps else handler(value)


#: An explanation as a list of Texts, one per step, that survives JSON (a Temporal payload, a jsonb column): each
#: step is stored as ``Text.as_details()``, so its figures travel as the text they were shown as. A line built by
#: the domain may hold them as ``LazySteps`` (read like the tuple, built when first read).
Steps = Annotated[tuple[Text, ...], BeforeValidator(_revive_steps), PlainSerializer(_steps_out, return_type=list),
                  WrapValidator(_keep_lazy)]


def _revive_step(value: Any) -> Any:
    return (Text.from_details(value) or value) if isinstance(value, Mapping) else value


#: One such step on its own.
Step = Annotated[Text, BeforeValidator(_revive_step), PlainSerializer(Text.as_details, return_type=dict)]
