"""Reading cells: one data row's trimmed cells with the helpers that parse and check them, and the strict
CSV reader of the project's own files. Every problem is reported into ``Issues`` naming file, line and the
column as the file names it (for a CRM export that is its own label, e.g. ``Account Name`` or ``客户名称``)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.inputs import id_problem, text_problem
from domain.text import Text, tr
from services.imports.issues import Issues
from services.imports.records import DEFAULT_CURRENCY, DEFAULT_LOCALE, DEFAULT_TIMEZONE

# ASCII digits only: \d, int() and Decimal() also take full-width digits such as "３".
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


@dataclass
class Cells:
    """One data row: trimmed cells by field name (and the cells as written), with the helpers that validate them.

    ``labels`` maps a field to the column's name in the file when they differ (CRM exports), so issues name
    the column the person sees; ``typed`` holds a spreadsheet's cell values as stored (dates, numbers).
    """

    issues: Issues
    file: str
    line: int
    cells: dict[str, str]
    raw: dict[str, str] = field(default_factory=dict)
    ok: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    typed: dict[str, Any] = field(default_factory=dict)

    def label(self, column: str) -> str:
        return self.labels.get(column, column)

    def error(self, column: str, message: Text) -> None:
        self.issues.add(self.file, self.line, self.label(column), message)
        self.ok = False

    def has(self, column: str) -> bool:
        return bool(self.cells.get(column))

    def text(self, column: str, required: bool = False) -> str | None:
        value = self.cells.get(column, "")
        if not value:
            if required:
                self.error(column, tr("required value is missing"))
            return None
        # PostgreSQL cannot store NUL in text (plain ASCII without NUL needs no further check: the common case)
        problem = None if value.isascii() and "\x00" not in value else text_problem(value)
        if problem is not None:
            self.error(column, problem)
            return None
        return value

    def ident(self, column: str, required: bool = False) -> str | None:
        """Ids end up in URL paths and keys such as ``<cycle>:<employee>``: the one id grammar of domain.inputs.

        Spaces around an id are reported, not trimmed: ``E001 `` in one file and ``E001`` in another are a data
        problem to fix at the source. Ids are case-sensitive (``e001`` is not ``E001``).
        """
        written = self.raw.get(column, "")
        if written.strip() and written != written.strip():
            self.error(column, tr("invalid id: %(problem)s", problem=id_problem(written)))
            return None
        value = self.text(column, required)
        problem = None if value is None else id_problem(value)
        if problem is not None:
            self.error(column, tr("invalid id: %(problem)s", problem=problem))
            return None
        return value

    def choice(self, column: str, allowed: Sequence[str], unknown: Callable[[str, str], Text]) -> str | None:
        value = self.text(column, required=True)
        if value is None:
            return None
        if value.lower() not in allowed:
            self.error(column, unknown(value, ", ".join(allowed)))
            return None
        return value.lower()

    def decimal(self, column: str, places: int, int_digits: int, required: bool = True,
                value: str | None = None) -> Decimal | None:
        """A plain non-negative decimal: no exponent, NaN, infinity or thousands separators."""
        if value is None:
            value = self.text(column, required)
        if value is None:
            return None
        if not NUMBER.fullmatch(value):
            self.error(column, tr("invalid number '%(value)s' (expected digits with an optional decimal point, e.g. "
                                  "1234567.89; no thousands separators)", value=value))
            return None
        number = Decimal(value)
        if number < 0:
            self.error(column, tr("must not be negative (got '%(value)s')", value=value))
            return None
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # finite by the pattern above
        if -exponent > places:
            self.error(column, tr("too many decimal places in '%(value)s' (at most %(places)s)", value=value,
                                  places=str(places)))
            return None
        if number.adjusted() >= int_digits:
            self.error(column, tr("'%(value)s' is too large (at most %(digits)s digits before the decimal point)",
                                  value=value, digits=str(int_digits)))
            return None
        return abs(number) if number.is_zero() else number

    def date(self, column: str) -> date | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.error(column, tr("invalid date '%(value)s' (expected YYYY-MM-DD)", value=value))
            return None

    def currency(self, column: str, default: str = DEFAULT_CURRENCY) -> str:
        value = self.text(column)
        if value is None:
            return default
        if not _CURRENCY.fullmatch(value):
            self.error(column, tr("invalid currency '%(value)s' (expected 3 upper-case letters, e.g. CNY)",
                                  value=value))
        return value

    def timezone(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            return DEFAULT_TIMEZONE
        if not _is_time_zone(value):
            self.error(column, tr("unknown time zone '%(value)s' (expected an IANA zone, e.g. Asia/Shanghai)",
                                  value=value))
        return value

    def email(self, column: str) -> str | None:
        value = self.text(column)
        if value is not None and not _EMAIL.fullmatch(value):
            self.error(column, tr("invalid email address '%(value)s'", value=value))
        return value

    def locale(self, column: str, default: str = DEFAULT_LOCALE) -> str:
        value = self.text(column)
        if value is None:
            return default
        if not _LOCALE.fullmatch(value):
            self.error(column, tr("invalid locale '%(value)s' (expected a language tag, e.g. zh-CN or en-US)",
                                  value=value))
        return value.replace("_", "-")


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _is_time_zone(key: str) -> bool:
    """An IANA zone name from the catalogue (not any file under TZPATH); ZoneInfo when there is no catalogue."""
    zones = _time_zones()
    if zones:
        return key in zones
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def read_bytes(path: Path, issues: Issues) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as err:
        issues.add(path.name, 0, "*", tr("cannot read file: %(reason)s", reason=str(err.strerror or err)))
        return None


def decode_utf8(name: str, data: bytes, issues: Issues) -> str | None:
    """UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8" and Zoho's exports write one)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        byte = format(data[err.start], "02x")
        issues.add(name, line, "*", tr("not valid UTF-8 (byte 0x%(byte)s); save the file as UTF-8", byte=byte))
        return None


def csv_rows(name: str, text: str, issues: Issues) -> list[tuple[int, list[str]]] | None:
    """(line, cells) of every row, the header first; None when the quoting is broken."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for raw in reader:
            rows.append((start, raw))
            start = reader.line_num + 1
    except csv.Error as err:
        issues.add(name, reader.line_num, "*", tr("malformed CSV: %(error)s", error=str(err)))
        return None
    return rows


def read_csv(path: Path, columns: Sequence[str], required: Sequence[str], issues: Issues) -> list[Cells] | None:
    """Rows of one of the project's CSV files, or None when the file as a whole is unusable (unreadable, bad
    header). Strict: every column must be one of ``columns``."""
    name = path.name
    data = read_bytes(path, issues)
    text = None if data is None else decode_utf8(name, data, issues)
    if text is None:
        return None
    lines = csv_rows(name, text, issues)
    if lines is None:
        return None
    header = [cell.strip() for cell in (lines[0][1] if lines else [])]
    if not any(header):
        issues.add(name, 1, "*", tr("empty file: a header row is required (%(columns)s)", columns=",".join(columns)))
        return None
    if not check_header(name, header, columns, required, issues):
        return None
    keys = [cell.lower() for cell in header]
    rows: list[Cells] = []
    for line, raw in lines[1:]:
        if not any(cell.strip() for cell in raw):
            continue  # blank line
        if len(raw) != len(keys):
            issues.add(name, line, "*", tr("expected %(expected)s fields (as in the header), found %(found)s",
                                           expected=str(len(keys)), found=str(len(raw))))
            continue
        written = dict(zip(keys, raw, strict=True))
        rows.append(Cells(issues, name, line, {k: v.strip() for k, v in written.items()}, written))
    return rows


def check_header(name: str, header: list[str], columns: Sequence[str], required: Sequence[str], issues: Issues) -> bool:
    keys = [cell.lower() for cell in header]
    if not set(keys) & set(columns):
        separator = next((sep for sep in ";\t|" if len(header) == 1 and sep in header[0]), None)
        if separator is not None:
            issues.add(name, 1, "*", tr("columns must be separated by commas (the header uses %(separator)s)",
                                        separator=repr(separator)))
        else:
            issues.add(name, 1, "*", tr("no header row: the first line must name the columns (%(columns)s)",
                                        columns=",".join(columns)))
        return False
    ok = True
    seen: set[str] = set()
    for position, (cell, key) in enumerate(zip(header, keys, strict=True), start=1):
        if not key:
            issues.add(name, 1, f"#{position}", tr("column %(position)s has no name in the header",
                                                  position=str(position)))
            ok = False
        elif key in seen:
            issues.add(name, 1, cell, tr("duplicate column '%(column)s'", column=cell))
            ok = False
        elif key not in columns:
            issues.add(name, 1, cell, tr("unknown column '%(column)s' (allowed: %(allowed)s)", column=cell,
                                         allowed=", ".join(columns)))
            ok = False
        seen.add(key)
    for column in required:
        if column not in seen:
            issues.add(name, 1, column, tr("missing required column '%(column)s'", column=column))
            ok = False
    return ok
