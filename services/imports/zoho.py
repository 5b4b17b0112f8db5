"""Zoho CRM export files: the CSV that Setup > Data Administration > Export (or a module's list view, Export)
writes for Accounts, Contacts, Deals and Cases — UTF-8 with a byte-order mark, the fields' labels as the
header, ``zcrm_`` record ids, lookups as the related record's name plus a ``<Lookup>.id`` column, dates and
amounts as the exporting user's settings show them. Which file is which module is read from its header (each
module's owner column: ``Account Owner``, ``Contact Owner``, ``Deal Owner``, ``Case Owner``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from domain.text import tr
from services.imports.cells import Cells, csv_rows, decode_utf8, read_bytes
from services.imports.crm_common import CrmReader

_DIGITS = re.compile(r"[0-9]+")
_CJK = re.compile(r"[\u3400-\u9fff]")


class ZohoReader(CrmReader):
    source = "zoho"
    title = "Zoho CRM"

    def raw_rows(self, path: Path) -> list[tuple[int, list[Any]]] | None:
        data = read_bytes(path, self.issues)
        text = None if data is None else decode_utf8(path.name, data, self.issues)
        rows = None if text is None else csv_rows(path.name, text, self.issues)
        if rows is None:
            return None
        width = len(rows[0][1]) if rows else 0
        good: list[tuple[int, list[Any]]] = []
        for line, cells in rows:
            if len(cells) != width and any(c.strip() for c in cells):
                self.issues.add(path.name, line, "*", tr("expected %(expected)s fields (as in the header), found "
                                                         "%(found)s", expected=str(width), found=str(len(cells))))
                continue
            good.append((line, list(cells)))
        return good

    def normal_id(self, value: str) -> str:
        """Zoho writes record ids as ``zcrm_<digits>``; some exports and lookups give the digits alone."""
        prefix = self.mapping.settings.id_prefix
        return prefix + value if prefix and _DIGITS.fullmatch(value) else value

    def contact_name(self, row: Cells) -> str | None:
        """``Full Name`` when exported; else First + Last Name (姓 in Last Name comes first in Chinese: 王芳)."""
        if row.has("name"):
            return row.text("name")
        return self.joined_name(row)

    def joined_name(self, row: Cells) -> str | None:
        first, last = row.text("first_name"), row.text("last_name", required=True)
        if first and last:
            return last + first if _CJK.search(first + last) else f"{first} {last}"
        return last or first
