"""The one CSV writer: what Excel on a Chinese Windows and Python's csv read back is what was written."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from services.csv_text import CSV_BOM, csv_bytes, csv_text

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@given(st.lists(st.lists(cells, min_size=3, max_size=3), max_size=6))
def test_rows_read_back_as_written(rows: list[list[str]]) -> None:
    data = csv_bytes(["a", "b", "c"], rows)
    assert data.startswith(CSV_BOM.encode("utf-8"))
    back = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert back == [["a", "b", "c"], *rows]


def test_terminal_output_has_no_byte_order_mark() -> None:
    text = csv_text(["员工", "amount"], [["张伟", "1,000.00"]], bom=False)
    assert text == '员工,amount\r\n张伟,"1,000.00"\r\n'
