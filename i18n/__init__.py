"""Translation and formatting at the edge: catalogs (Babel .po files), locale choice, dates, money, numbers.

The web app and the CLI call this; the domain and the workflows only build ``domain.text.Text`` values.
"""

from i18n.catalog import DEFAULT_LOCALE, LOCALES, gettext_for, negotiate, resolve_locale, translations
from i18n.format import Formatter

__all__ = ["LOCALES", "DEFAULT_LOCALE", "Formatter", "gettext_for", "negotiate", "resolve_locale", "translations"]
