"""What every CRM export reader shares: finding the header and the module a file holds, cells by our field
names (issues still name the CRM's own column label), and reading the values CRMs write — amounts with symbols
and thousands separators, dates in the user's format or as spreadsheet dates, currency names, record ids.

A CRM source is a subclass that says how to get a file's rows (``raw_rows``) and, where it differs, how record
ids and contact names are written. Everything else (the records, duplicates, won stages, complaint types)
is the same for Zoho CRM and Fxiaoke.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

from domain.text import tr
from services.imports.cells import NUMBER, Cells
from services.imports.issues import Issues
from services.imports.mapping import SIGNATURES, CrmMapping, Source
from services.imports.records import AccountRecord, CaseRecord, ContactRecord, DealRecord, RecordSet

HEADER_SEARCH_ROWS = 10
"""A header may follow a few title rows (a report's name, the export time); it is looked for this far down."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "accounts": ("id", "name", "owner"),
    "contacts": ("name",),
    "deals": ("name", "stage"),
    "orders": ("id", "amount"),
    "cases": ("id",),
}
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                        "dec"), start=1)}
_YMD = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[ T].*)?")
_YMD_CHINESE = re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日.*")
_XYY = re.compile(r"([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})(?:[ T].*)?")
_MONTH_FIRST = re.compile(r"([A-Za-z]{3})[A-Za-z]*\.? ([0-9]{1,2}),? ([0-9]{4})(?: .*)?")
_DAY_FIRST = re.compile(r"([0-9]{1,2})[ -]([A-Za-z]{3})[A-Za-z]*\.?[ -]([0-9]{4})(?: .*)?")
_CODE_AROUND = re.compile(r"^([A-Z]{3})\s*(.*?)$|^(.*?)\s*([A-Z]{3})$")
_SYMBOLS = "¥￥$€£"


@dataclass
class Table:
    """One export file: which module it holds and its data rows."""

    file: str
    module: str
    rows: list[Cells]


class CrmReader:
    """Reads one CRM's export files into a RecordSet."""

    source: ClassVar[Source]
    title: ClassVar[str]

    def __init__(self, mapping: CrmMapping, issues: Issues) -> None:
        self.mapping = mapping
        self.issues = issues

    # --- what a source says -----------------------------------------------------------------------
    def raw_rows(self, path: Path) -> list[tuple[int, list[Any]]] | None:
        """(line, cell values) of every row of the file, or None (reported) when it cannot be read."""
        raise NotImplementedError

    def normal_id(self, value: str) -> str:
        """A record id as it is stored (Zoho's ids get their ``zcrm_`` prefix)."""
        return value

    def contact_name(self, row: Cells) -> str | None:
        return row.text("name", required=True)

    # --- reading ----------------------------------------------------------------------------------
    def read(self, files: Sequence[Path]) -> RecordSet:
        records = RecordSet(org_file=None, source=self.source)
        for path in files:
            self.issues.add_file(path.name)
            table = self.table(path)
            if table is None:
                continue  # its issue says why
            if table.module == "accounts" and not records.account_file:
                records.account_file = table.file
            build = getattr(self, f"_{table.module}")
            for row in table.rows:
                build(row, records)
        return records

    def table(self, path: Path) -> Table | None:
        lines = self.raw_rows(path)
        if lines is None:
            return None
        name = path.name
        for at, (line, values) in enumerate(lines[:HEADER_SEARCH_ROWS]):
            header = [_text(v).strip() for v in values]
            module = self._module(header)
            if module is not None:
                return self._rows(name, module, header, line, lines[at + 1:])
        labels = [self.mapping.columns[m][f][0] for m, f in SIGNATURES[self.source] if self.mapping.columns[m][f]]
        self.issues.add(name, 1, "*", tr(
            "cannot tell which %(crm)s export this is: the header has none of the columns that identify one "
            "(%(labels)s)", crm=self.title, labels=", ".join(labels)))
        return None

    def _module(self, header: list[str]) -> str | None:
        present = {cell.casefold() for cell in header}
        for module, field in SIGNATURES[self.source]:
            if any(label.casefold() in present for label in self.mapping.columns[module][field]):
                return module
        return None

    def _rows(self, name: str, module: str, header: list[str], header_line: int,
              lines: list[tuple[int, list[Any]]]) -> Table | None:
        position: dict[str, int] = {}
        for i, cell in enumerate(header):
            key = cell.casefold()
            if key in position and key in self._mapped_labels(module):
                self.issues.add(name, header_line, cell, tr("duplicate column '%(column)s'", column=cell))
                return None
            position.setdefault(key, i)
        fields: dict[str, tuple[int, str]] = {}
        for field, labels in self.mapping.columns[module].items():
            hit = next((label for label in labels if label.casefold() in position), None)
            if hit is not None:
                fields[field] = (position[hit.casefold()], header[position[hit.casefold()]])
        missing = [f for f in REQUIRED[module] if f not in fields and not self._optional_here(module, f, fields)]
        for field in missing:
            labels = self.mapping.columns[module][field]
            self.issues.add(name, header_line, labels[0] if labels else field,
                            tr("missing required column '%(column)s'", column=labels[0] if labels else field))
        if missing:
            return None
        labels = {field: label for field, (_, label) in fields.items()}
        rows: list[Cells] = []
        for line, values in lines:
            if not any(_text(v).strip() for v in values):
                continue  # blank line
            written = {field: _text(values[i]) if i < len(values) else "" for field, (i, _) in fields.items()}
            typed = {field: values[i] if i < len(values) else None for field, (i, _) in fields.items()}
            rows.append(Cells(self.issues, name, line, {k: v.strip() for k, v in written.items()}, written,
                              labels=labels, typed=typed))
        return Table(name, module, rows)

    def _mapped_labels(self, module: str) -> set[str]:
        return {label.casefold() for labels in self.mapping.columns[module].values() for label in labels}

    def _optional_here(self, module: str, field: str, fields: dict[str, tuple[int, str]]) -> bool:
        """A contact's name may come as first and last name instead (Zoho)."""
        return module == "contacts" and field == "name" and "last_name" in fields

    # --- records ------------------------------------------------------------------------------------
    def _accounts(self, row: Cells, records: RecordSet) -> None:
        account_id = self.record_id(row, "id", "A", required=True)
        owner = row.text("owner", required=True)
        account = AccountRecord(row.line, account_id or "", row.text("name", required=True), None,
                                self.amount(row, "annual_revenue"), self.currency(row, "currency"),
                                owner=owner, file=row.file, owner_column=row.label("owner"),
                                owner_id=row.text("owner_id"))
        if account_id is not None and self._unique(row, records.accounts, account_id):
            records.accounts[account_id] = account

    def _contacts(self, row: Cells, records: RecordSet) -> None:
        name = self.contact_name(row)
        account_name = row.text("account")
        email = row.email("email")
        contact_id = self.record_id(row, "id", "C", parts=(account_name, name, row.text("mobile"), email))
        account_id = self.record_id(row, "account_id", "A") if row.has("account_id") else None
        if contact_id is None or not self._unique(row, records.contacts, contact_id):
            return
        records.contacts[contact_id] = ContactRecord(row.line, contact_id, account_id or "", name, email,
                                                     self.mapping.settings.contact_locale, row.file, account_name)

    def _deals(self, row: Cells, records: RecordSet, kind: str = "deal") -> None:
        name = row.text("name", required=kind == "deal")
        account_name = row.text("account")
        deal_id = self.record_id(row, "id", "D" if kind == "deal" else "O", required=kind == "order",
                                 parts=(name, account_name))
        if kind == "deal":
            stage, status = row.text("stage", required=True), row.text("status")
            won = any(v is not None and v.casefold() in self.mapping.won for v in (stage, status))
        else:
            stage = row.text("status")
            won = stage is None or stage.casefold() not in self.mapping.cancelled
        amount = self.amount(row, "amount", required=kind == "order")
        deal = DealRecord(row.file, row.line, deal_id or "", "deal" if kind == "deal" else "order", name,
                          self.record_id(row, "account_id", "A") if row.has("account_id") else None, account_name,
                          row.text("owner"), stage, won, amount, self.currency(row, "currency"),
                          self.date(row, "closed_on"))
        if deal_id is not None and self._unique(row, records.deals, deal_id):
            records.deals[deal_id] = deal

    def _orders(self, row: Cells, records: RecordSet) -> None:
        self._deals(row, records, kind="order")

    def _cases(self, row: Cells, records: RecordSet) -> None:
        case_id = self.record_id(row, "id", "T", required=True)
        kind = row.text("type")
        case = CaseRecord(row.file, row.line, case_id or "",
                          self.record_id(row, "account_id", "A") if row.has("account_id") else None,
                          row.text("account"), row.text("owner"), kind,
                          kind is not None and kind.casefold() in self.mapping.complaint, row.text("status"),
                          self.date(row, "opened_on"))
        if case_id is not None and self._unique(row, records.cases, case_id):
            records.cases[case_id] = case

    def _unique(self, row: Cells, seen: dict[str, Any], key: str) -> bool:
        first = seen.get(key)
        if first is None:
            return True
        row.error("id", tr("duplicate %(column)s '%(value)s' (also on line %(line)s of %(file)s)",
                           column=row.label("id"), value=key, line=str(first.line), file=first.file))
        return False

    # --- values -------------------------------------------------------------------------------------
    def record_id(self, row: Cells, field: str, kind: str, required: bool = False,
                  parts: Sequence[str | None] = ()) -> str | None:
        """The record's id from its id column; without one, a stable id derived from what identifies the record
        (``FXC-`` and 16 hex digits of a hash), so a re-import of the same export finds the same rows."""
        if row.has(field):
            normal = self.normal_id(row.cells[field])
            if normal != row.cells[field]:
                row.cells[field] = row.raw[field] = normal
            return row.ident(field, required=True)
        if required or not any(parts):
            if required:
                row.error(field, tr("required value is missing"))
            return None
        digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:16]
        return f"FX{kind}-{digest}"

    def amount(self, row: Cells, field: str, required: bool = False) -> Decimal | None:
        """Money as the CRM writes it: a spreadsheet number, or text such as ``¥1,234.50``, ``CNY 1,234.50``."""
        typed = row.typed.get(field)
        if isinstance(typed, int | float | Decimal) and not isinstance(typed, bool):
            number = Decimal(repr(typed)) if isinstance(typed, float) else Decimal(typed)
            cents = number.quantize(Decimal("0.01"))
            if abs(number - cents) < Decimal("0.000001"):  # binary floating point noise, not a sub-cent amount
                number = cents
            return row.decimal(field, places=2, int_digits=16, value=format(number, "f"))
        value = row.text(field, required)
        if value is None:
            return None
        plain = _plain_amount(value)
        if plain is None:
            row.error(field, tr("invalid amount '%(value)s' (expected a number such as 1234567.89, 1,234,567.89 or "
                                "CNY 1,234,567.89)", value=value))
            return None
        return row.decimal(field, places=2, int_digits=16, value=plain)

    def currency(self, row: Cells, field: str) -> str:
        value = row.text(field)
        if value is None:
            return self.mapping.settings.currency
        code = self.mapping.settings.currency_names.get(value)
        if code is not None:
            return code
        if len(value) == 3 and value.isascii() and value.isupper():
            return value
        row.error(field, tr("unknown currency '%(value)s' (expected a 3-letter code such as CNY, or a name listed "
                            "under currency_names in the mapping file)", value=value))
        return self.mapping.settings.currency

    def date(self, row: Cells, field: str) -> date | None:
        """A date as the CRM writes it (``cell_date``), in the mapping's ``date_order``."""
        return cell_date(row, field, self.mapping.settings.date_order)


def cell_date(row: Cells, field: str, order: str) -> date | None:
    """A date as a spreadsheet or an export writes it: a spreadsheet date (or its serial number), ISO ``2026-09-30``,
    ``2026/9/30``, ``2026年9月30日``, ``09/30/2026`` (or ``30/09/2026``, as ``order`` says) or ``Sep 30, 2026``; a
    time after the date is ignored. A cell that is none of these is reported on the row and read as None."""
    typed = row.typed.get(field)
    if isinstance(typed, datetime):
        return typed.date()
    if isinstance(typed, date):
        return typed
    if isinstance(typed, int | float) and not isinstance(typed, bool):
        from openpyxl.utils.datetime import from_excel

        try:
            return from_excel(typed).date()
        except (ValueError, OverflowError, AttributeError):
            pass
    value = row.text(field)
    if value is None:
        return None
    found = _parse_date(value, order)
    if found is None:
        row.error(field, tr("invalid date '%(value)s' (expected a date such as %(example)s)", value=value,
                            example=_EXAMPLES[order]))
    return found


_EXAMPLES = {"YMD": "2026-09-30, 2026/9/30 or 2026年9月30日", "MDY": "2026-09-30, 09/30/2026 or Sep 30, 2026",
             "DMY": "2026-09-30, 30/09/2026 or 30 Sep 2026"}


def _text(value: Any) -> str:
    """A cell's value as text (a spreadsheet's numbers without a spurious ``.0``, its dates as ISO dates)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _plain_amount(value: str) -> str | None:
    """``¥1,234.50`` / ``CNY 1,234.50`` / ``1 234.50 元`` -> ``1234.50``; None when it is not an amount."""
    text = value.strip().removesuffix("元").strip()
    match = _CODE_AROUND.match(text)
    if match and (match.group(1) or match.group(4)):
        text = (match.group(2) if match.group(1) else match.group(3)) or ""
    text = text.strip().lstrip(_SYMBOLS).strip()
    if re.fullmatch(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?", text):
        text = text.replace(",", "")
    try:
        return text if NUMBER.fullmatch(text) and Decimal(text) is not None else None
    except InvalidOperation:
        return None


def _parse_date(value: str, order: str) -> date | None:
    try:
        if m := _YMD.fullmatch(value) or _YMD_CHINESE.fullmatch(value):
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if (m := _XYY.fullmatch(value)) and order != "YMD":
            first, second = int(m.group(1)), int(m.group(2))
            month, day = (first, second) if order == "MDY" else (second, first)
            return date(int(m.group(3)), month, day)
        if (m := _MONTH_FIRST.fullmatch(value)) and m.group(1).lower() in _MONTHS:
            return date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
        if (m := _DAY_FIRST.fullmatch(value)) and m.group(2).lower() in _MONTHS:
            return date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
    except ValueError:  # 2026-02-30
        return None
    return None
