"""Keep the catalogs complete: ``python -m i18n.tool check`` (what tests run) and ``update`` / ``missing``.

- ``check``: every message id that extraction finds (Python ``tr``/``N_``/``_`` calls, page templates) has a
  Chinese translation and an English entry; no id is translated twice differently; placeholders match.
- ``update``: rewrites the English catalog (msgstr = msgid, plural forms filled) from what extraction finds.
- ``missing``: prints, as .po entries, the ids that have no Chinese translation yet (paste into an area file).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from i18n.catalog import LOCALE_DIR, catalog_dir

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("domain", "services", "webapp", "workflows", "activities", "i18n", "notify", "models")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "tr": None, "N_": None}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
EN_FILE = "messages.po"
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> Catalog:
    """What the code and templates ask to be translated (the same as ``pybabel extract -F babel.cfg``)."""
    cat = Catalog(locale="en")
    for folder in SOURCES:
        for filename, lineno, message, comments, _context in extract_from_dir(
            ROOT / folder, method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS, strip_comment_tags=True,
        ):
            if not message or (isinstance(message, tuple) and not message[0]):
                continue
            cat.add(message, None, [(f"{folder}/{filename}", lineno)], auto_comments=comments)
    return cat


def _entries(locale: str) -> Iterator[tuple[Path, object]]:
    for path in sorted(catalog_dir(locale).glob("*.po")):
        with path.open("rb") as fh:
            for message in read_po(fh, locale=locale.replace("-", "_")):
                if message.id:
                    yield path, message


def problems() -> list[str]:
    found = extracted()
    out: list[str] = []
    for locale in ("zh-CN", "en"):
        seen: dict[str, tuple[Path, object]] = {}
        for path, message in _entries(locale):
            key = message.id if isinstance(message.id, str) else message.id[0]
            if key in seen and seen[key][1].string != message.string:
                out.append(f"{locale}: {key!r} is translated differently in {seen[key][0].name} and {path.name}")
            seen[key] = (path, message)
        for message in found:
            if not message.id:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            entry = seen.get(key)
            strings = [] if entry is None else (list(entry[1].string) if isinstance(entry[1].string, tuple) else [entry[1].string])
            where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
            if not entry or not all(strings):
                out.append(f"{locale}: no translation for {key!r} ({where})")
                continue
            wanted = set(_PLACEHOLDER.findall(key))
            for s in strings:
                if set(_PLACEHOLDER.findall(s)) != wanted:
                    out.append(f"{locale}: the translation of {key!r} has placeholders {sorted(set(_PLACEHOLDER.findall(s)))}, "
                               f"the id has {sorted(wanted)}")
    return out


def update_english() -> int:
    found = extracted()
    cat = Catalog(locale="en", project="kamreview")
    for message in found:
        if message.id:
            cat.add(message.id, message.id, message.locations)
    target = catalog_dir("en") / EN_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fh:
        write_po(fh, cat, width=120, sort_output=True, omit_header=False)
    return len(cat)


def missing_chinese() -> str:
    have = {m.id if isinstance(m.id, str) else m.id[0]: m for _, m in _entries("zh-CN") if m.string and all(
        m.string if isinstance(m.string, tuple) else [m.string])}
    cat = Catalog(locale="zh_CN")
    for message in extracted():
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key and key not in have:
            cat.add(message.id, ("",) if isinstance(message.id, tuple) else "", message.locations)
    import io

    buf = io.BytesIO()
    write_po(buf, cat, width=120, omit_header=True, sort_output=True)
    return buf.getvalue().decode()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "check":
        found = problems()
        for line in found:
            print(line)
        print(f"{len(found)} problem(s) in {LOCALE_DIR}")
        return 1 if found else 0
    if command == "update":
        print(f"{update_english()} English entries written to {catalog_dir('en') / EN_FILE}")
        return 0
    if command == "missing":
        sys.stdout.write(missing_chinese())
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
