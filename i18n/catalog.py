"""The message catalogs: every ``i18n/locale/<lang>/LC_MESSAGES/*.po`` of a language, merged, read once.

Catalogs are kept as .po text only (no compiled .mo in the repository): they are compiled in memory on first
use, which takes milliseconds. Several .po files per language are allowed so that areas of the product keep
their own file; an id defined twice with different translations is an error (``python -m i18n.tool check``).
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LOCALES = ("zh-CN", "en")  # the languages people can choose; BCP 47 tags, as the org import writes them
DEFAULT_LOCALE = "en"  # what anyone gets whose language is neither
_CHINESE = {"zh-cn", "zh_cn", "zh", "zh-hans", "zh-hans-cn", "zh_hans_cn", "zh-sg"}


def resolve_locale(locale: str | None) -> str:
    """zh-CN for the ways a simplified-Chinese locale is written (zh, zh_CN, zh-Hans); en for anything else."""
    if locale in LOCALES:
        return locale
    if isinstance(locale, str):
        tag = locale.strip().lower()
        if tag in _CHINESE:
            return "zh-CN"
        if tag == "en" or tag.startswith("en-") or tag.startswith("en_"):
            return "en"
    return DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str | None:
    """The first language of an Accept-Language header we have (by q-value), or None when none matches."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")[:20]):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip()))
    for q, _, tag in sorted(ranked):
        if q >= 0 or not tag:
            continue
        low = tag.lower()
        if low in _CHINESE or low.startswith("zh-hans") or low == "zh-cn":
            return "zh-CN"
        if low == "en" or low.startswith("en-"):
            return "en"
    return None


def catalog_dir(locale: str) -> Path:
    return LOCALE_DIR / resolve_locale(locale).replace("-", "_") / "LC_MESSAGES"


def read_catalog(locale: str) -> Catalog:
    """All .po files of a language as one catalog (for the tool and for compiling)."""
    lang = resolve_locale(locale)
    merged = Catalog(locale=lang.replace("-", "_"))
    for path in sorted(catalog_dir(lang).glob("*.po")):
        with path.open("rb") as fh:
            part = read_po(fh, locale=lang.replace("-", "_"))
        for message in part:
            if message.id and message.string:
                merged[message.id] = message
    return merged


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(locale))
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext_for(locale: str):  # noqa: ANN201 - a bound method of gettext.GNUTranslations
    return translations(resolve_locale(locale)).gettext
