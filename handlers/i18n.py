"""Translations from gettext catalogs (locales/<lang>/LC_MESSAGES/messages.po) and local formats.

Message ids are the Vietnamese wording: Vietnamese is the source of truth, English a translation.
Mark a string with `_()` where it is defined and translate it with a `Translator` where it is shown.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}


def _one_form(n: int) -> int:
    return 0


def _(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


class Catalogs:
    """All the loaded catalogs, one dict of msgid → msgstr per language, and the plural messages
    (singular msgid → one text per plural form) with the language's rule for choosing a form."""

    def __init__(self, locales_dir: Path) -> None:
        self.messages: dict[str, dict[str, str]] = {}
        self.plurals: dict[str, dict[str, tuple[str, ...]]] = {}
        self.plural_rules: dict[str, Callable[[int], int]] = {}
        self._translators: dict[tuple[str, ZoneInfo], Translator] = {}
        for lang in LANGUAGES:
            po_file = locales_dir / lang / "LC_MESSAGES" / "messages.po"
            table: dict[str, str] = {}
            plurals: dict[str, tuple[str, ...]] = {}
            rule = "0" if lang == "vi" else "(n != 1)"
            if po_file.exists():
                with po_file.open("rb") as handle:
                    catalog = read_po(handle, locale=lang)
                rule = catalog.plural_expr
                for message in catalog:
                    if message.id and isinstance(message.id, str) and message.string:
                        table[message.id] = str(message.string)
                    elif isinstance(message.id, tuple) and isinstance(message.string, tuple) and all(message.string):
                        plurals[message.id[0]] = tuple(str(text) for text in message.string)
            self.messages[lang] = table
            self.plurals[lang] = plurals
            self.plural_rules[lang] = gettext.c2py(rule)

    def translator(self, language: str, tz: ZoneInfo) -> Translator:
        """The translator of a language and time zone (one per pair: a translator holds nothing
        that changes, and every message asks for one)."""
        key = (language, tz)
        found = self._translators.get(key)
        if found is None:
            found = self._translators[key] = Translator(language if language in LANGUAGES else "vi", self, tz)
        return found


class Translator:
    """Translates and formats for one user: their language, our time zone."""

    def __init__(self, language: str, catalogs: Catalogs, tz: ZoneInfo) -> None:
        self.language = language
        self.tz = tz
        self._table = catalogs.messages.get(language, {})
        self._plurals = catalogs.plurals.get(language, {})
        self._plural_rule = catalogs.plural_rules.get(language, _one_form)

    def __call__(self, message: str, /, **values: object) -> str:
        text = self._table.get(message, message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """A message that depends on a count (gettext's plural forms): Vietnamese has one form,
        English two ("1 group", "2 groups"). `{n}` is the count, formatted for the language."""
        forms = self._plurals.get(singular)
        if forms:
            text = forms[min(self._plural_rule(n), len(forms) - 1)]
        else:
            text = singular if n == 1 else plural
        return text.format(**{"n": self.number(n), **values})

    def month(self, value: date | datetime) -> str:
        """A month and its year: "12/2026" in Vietnamese (read after "tháng"), "December 2026" in English."""
        if isinstance(value, datetime):
            value = value.astimezone(self.tz) if value.tzinfo else value
        if self.language == "vi":
            return value.strftime("%m/%Y")
        return str(format_date(value, "MMMM y", locale=self.language))

    def day(self, value: date | datetime) -> str:
        """A day of this year as people write it in a list: "02/12"."""
        return self.date(value)[:5]

    def number(self, value: int | float | Decimal) -> str:
        """1500000 → "1.500.000" in Vietnamese, "1,500,000" in English; 120.5 → "120,5"."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):  # the common case, without Babel's general machinery
            grouped = f"{value:,}"
            return grouped.replace(",", ".") if self.language == "vi" else grouped
        return str(format_decimal(value, locale="vi_VN" if self.language == "vi" else "en_US"))

    def money(self, value: int | float | Decimal) -> str:
        """1500000 → "1.500.000 đ"."""
        return f"{self.number(value)} đ"

    def date(self, value: date | datetime) -> str:
        """A date as dd/mm/yyyy, in local time when it has a time of day."""
        if isinstance(value, datetime):
            value = value.astimezone(self.tz) if value.tzinfo else value
        return value.strftime("%d/%m/%Y")

    def datetime(self, value: datetime) -> str:
        """A moment as HH:MM dd/mm/yyyy in local time."""
        local = value.astimezone(self.tz) if value.tzinfo else value
        return local.strftime("%H:%M %d/%m/%Y")
