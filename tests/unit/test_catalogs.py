"""Every string the code and the forms show is in both catalogs; Vietnamese is complete."""

from __future__ import annotations

import re

from handlers.i18n import Catalogs, Translator
from models.settings import PROJECT_ROOT

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def extracted() -> set[str]:
    from babel.messages.extract import extract

    from handlers.i18n_extract import extract_toml

    messages: set[str] = set()
    for folder in ("bot", "handlers", "models", "scheduler"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            with path.open("rb") as handle:
                keywords = {"_": None, "t": None, "other": None, "ngettext": (1, 2)}
                for _line, message, _comments, _context in extract("python", handle, keywords=keywords):
                    if isinstance(message, str):
                        messages.add(message)
                    elif isinstance(message, tuple) and message[0]:  # a plural: its singular is the key
                        messages.add(message[0])
    for path in [*(PROJECT_ROOT / "forms").glob("*.toml"), PROJECT_ROOT / "config.toml"]:
        with path.open("rb") as handle:
            messages.update(message if isinstance(message, str) else message[0]
                            for _line, _f, message, _c in extract_toml(handle, None, None, None))
    return messages


def test_every_shown_string_is_translated() -> None:
    catalogs = Catalogs(PROJECT_ROOT / "locales")
    used = extracted()
    assert len(used) > 100
    for lang in ("vi", "en"):
        missing = sorted(used - set(catalogs.messages[lang]) - set(catalogs.plurals[lang]))
        assert not missing, f"{lang}: {len(missing)} strings missing (run `make i18n`): {missing[:5]}"


def test_translations_keep_their_placeholders() -> None:
    catalogs = Catalogs(PROJECT_ROOT / "locales")
    for msgid, text in catalogs.messages["en"].items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(text)), msgid
    for msgid, forms in catalogs.plurals["en"].items():
        assert len(forms) == 2, msgid
        for text in forms:
            assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(text)), msgid


def test_counts_agree_with_their_noun_and_months_have_names() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    catalogs = Catalogs(PROJECT_ROOT / "locales")
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    en, vi = catalogs.translator("en", tz), catalogs.translator("vi", tz)
    one, many = "• Chủ nhật Xanh: {n} buổi", "• Chủ nhật Xanh: {n} buổi"
    assert en.ngettext(one, many, 1) == "• Green Sunday: 1 session"
    assert en.ngettext(one, many, 2) == "• Green Sunday: 2 sessions"
    assert en.ngettext(one, many, 1500) == "• Green Sunday: 1,500 sessions"
    assert vi.ngettext(one, many, 1) == "• Chủ nhật Xanh: 1 buổi"
    assert vi.ngettext(one, many, 1500) == "• Chủ nhật Xanh: 1.500 buổi"
    assert en.ngettext("• Chưa nộp đủ: {n} tổ", "• Chưa nộp đủ: {n} tổ", 1) == "• Not all filed: 1 group"
    assert en.month(date(2026, 12, 1)) == "December 2026"
    assert en("Tháng {month}", month=en.month(date(2026, 12, 1))) == "December 2026"
    assert vi("Tháng {month}", month=vi.month(date(2026, 12, 1))) == "Tháng 12/2026"


def test_local_formats(tmp_path: object) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    catalogs = Catalogs(PROJECT_ROOT / "locales")
    vi: Translator = catalogs.translator("vi", ZoneInfo("Asia/Ho_Chi_Minh"))
    assert vi.money(1_500_000) == "1.500.000 đ"
    assert vi.number(120.5) == "120,5"
    moment = datetime(2026, 11, 22, 17, 30, tzinfo=UTC)  # already the 23rd in Đà Nẵng
    assert vi.date(moment) == "23/11/2026"
    assert vi.datetime(moment) == "00:30 23/11/2026"
    en = catalogs.translator("en", ZoneInfo("Asia/Ho_Chi_Minh"))
    assert en("Hôm nay") == "Today"
    assert en.number(1_500_000) == "1,500,000"
