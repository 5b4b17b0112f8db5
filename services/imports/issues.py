"""What is wrong with an import: one issue per cell (file, line, column), collected from every file, then
raised together as one ImportFailed. Each issue keeps its message as a ``tr(...)`` Text, so the web edge can
say it in the reader's language; ``message`` (and ``str()``) is its English wording, as the CLI prints it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.text import Text, tr
from services.errors import UserError

MAX_ISSUES = 200
"""At most this many issues are kept; a file that is wrong everywhere is usually wrong in one way."""


@dataclass(frozen=True)
class ImportIssue:
    """One problem in one cell (``column`` is ``*`` when it concerns the whole row or file)."""

    file: str
    line: int
    column: str
    message: str
    text: Text | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def as_text(self) -> Text:
        """The issue as one translatable line, its place first (``ORG.csv:12:manager_id: ...``)."""
        return tr("%(file)s:%(line)s:%(column)s: %(message)s", file=self.file, line=str(self.line),
                  column=self.column, message=self.text if self.text is not None else self.message)


class ImportFailed(UserError):
    """The files were rejected; nothing was written. ``issues`` lists every problem found (up to 200)."""

    def __init__(self, issues: Sequence[ImportIssue], omitted: int = 0) -> None:
        self.issues: list[ImportIssue] = list(issues)
        self.omitted = omitted
        lines: list[Text] = [issue.as_text() for issue in self.issues]
        if omitted:
            lines.append(tr("... and %(count)s more issues not shown", count=str(omitted)))
        super().__init__(tr("%(problems)s", problems=lines))


class Issues:
    """Collects issues from all files and orders them by file (in the order given), then line."""

    def __init__(self, files: Sequence[str]) -> None:
        self._rank = {name: i for i, name in reversed(list(enumerate(files)))}
        self._items: list[ImportIssue] = []

    def add(self, file: str, line: int, column: str, message: Text) -> None:
        self._items.append(ImportIssue(file, line, column, str(message), message))

    def add_file(self, name: str) -> None:
        """A file read after the collector was made (a CRM export found in a folder, say) ranks last."""
        self._rank.setdefault(name, len(self._rank))

    def __bool__(self) -> bool:
        return bool(self._items)

    def failure(self) -> ImportFailed:
        ordered = sorted(self._items, key=lambda i: (self._rank.get(i.file, len(self._rank)), i.line))
        return ImportFailed(ordered[:MAX_ISSUES], max(0, len(ordered) - MAX_ISSUES))
