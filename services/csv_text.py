"""CSV files as people open them: one writer for every export (payroll, statements, ledger, audit, survey links).

UTF-8 with a byte-order mark: without it Excel on a Chinese Windows reads the file as GBK and garbles the names;
with it Excel, LibreOffice and Python's csv (encoding "utf-8-sig") all read UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

CSV_BOM = "\ufeff"


def csv_text(header: Sequence[object], rows: Iterable[Sequence[object]], *, bom: bool = True) -> str:
    """The header and rows as CSV text (``\\r\\n`` line ends, as the csv module writes), the BOM first unless the
    text goes to a terminal or a pipe (``bom=False``)."""
    buf = io.StringIO(newline="")
    if bom:
        buf.write(CSV_BOM)
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def csv_bytes(header: Sequence[object], rows: Iterable[Sequence[object]]) -> bytes:
    """csv_text encoded for an HTTP response."""
    return csv_text(header, rows).encode("utf-8")
