"""The catalogs are complete: every message the code and the pages ask for is in Chinese and in English."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from babel.messages.pofile import read_po

from domain.text import Text, tr
from i18n import Formatter
from i18n.tool import ROOT, SOURCES, extracted, problems


def test_no_message_id_is_missing_or_mistranslated_in_either_language():
    found = problems()
    assert found == [], "\n".join(found[:40])


def test_pybabel_extract_finds_nothing_the_catalogs_lack(tmp_path: Path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "tr", "-k", "N_",
                    "-o", str(pot), *SOURCES], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as fh:
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    ours = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted() if m.id}
    assert ids and ids <= ours, sorted(ids - ours)[:20]


def test_a_refusal_is_said_in_the_readers_language_with_its_time_in_their_zone():
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    text = tr("%(path)s: %(message)s", path="weights", message=tr("due in %(span)s", span="2"))
    assert str(text) == "weights: due in 2"
    assert Formatter("zh-CN").text(text) == "weights：2后到期"
    revived = Text.from_details(Text("due in %(span)s", {"span": at}).as_details())
    assert revived == Text("due in %(span)s", {"span": at})
    assert Formatter("zh-CN", "Asia/Shanghai").text(revived) == "2026年12月3日 18:00后到期"


def test_money_has_exactly_the_currencys_minor_unit_and_grouping():
    assert Formatter("zh-CN").money(Decimal("2816.0400"), "CNY") == "¥2,816.04"
    assert Formatter("en").money(Decimal("0.0000"), "JPY") == "¥0"
    assert Formatter("en").percent(Decimal("0.675")) == "67.5%"
