"""Brings the catalogs in line with the code: `make i18n` runs this after extracting messages.pot.

Vietnamese is the source language: its msgstr is the msgid. English keeps what was translated;
a new string gets an empty msgstr, and the test suite fails until someone translates it.
Plural messages (`t.ngettext(singular, plural, n)`) get one msgstr per plural form of the language:
one for Vietnamese, two for English ("1 group", "{n} groups").
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent


def sync() -> None:
    with (HERE / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    for lang in ("vi", "en"):
        po_path = HERE / lang / "LC_MESSAGES" / "messages.po"
        old: Catalog | None = None
        if po_path.exists():
            with po_path.open("rb") as handle:
                old = read_po(handle, locale=lang)
        catalog = Catalog(locale=lang, project="totruong", fuzzy=False)
        for message in template:
            if not message.id:
                continue
            previous = old.get(message.id) if old else None
            text: str | tuple[str, ...]
            if isinstance(message.id, tuple):  # a plural message
                forms = catalog.num_plurals
                kept = previous.string if previous and isinstance(previous.string, tuple) else ()
                text = (message.id[0],) * forms if lang == "vi" else tuple(
                    kept[i] if i < len(kept) else "" for i in range(forms))
            else:
                text = message.id if lang == "vi" else (previous.string if previous else "")
            catalog.add(message.id, string=text)
        po_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("wb") as handle:
            write_po(handle, catalog, omit_header=False, no_location=True, sort_output=True, width=0)


if __name__ == "__main__":
    sync()
