"""The one exception the domain raises, so callers can tell bad input from bugs."""

from __future__ import annotations

from domain.text import Text, tr


class DomainError(ValueError):
    """A configuration or input problem; the message says what is wrong and, where it helps, the field path.

    It subclasses ``ValueError`` so that, raised inside a pydantic validator, it becomes a
    ``ValidationError`` that carries the offending field's location.
    """

    def __init__(self, message: Text | str, path: str | None = None) -> None:
        self.path = path
        self.text = message if isinstance(message, Text) else None
        self.message = str(message)
        super().__init__(f"{path}: {message}" if path else self.message)

    def as_text(self) -> Text | str:
        """What a person reads, its field path first: a Text to translate when it was raised with one."""
        if self.text is None:
            return str(self)
        return tr("%(path)s: %(message)s", path=self.path, message=self.text) if self.path else self.text
