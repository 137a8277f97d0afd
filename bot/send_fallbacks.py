"""What a channel sends instead when the platform refuses a message for its form: the text alone
when a photo or file is refused, a cleaned and shortened text when the text itself is refused."""

from __future__ import annotations

import unicodedata

from handlers.i18n import _

PHOTO_NOTE = _("📷 (Không gửi kèm được ảnh/tệp qua ứng dụng này; ảnh/tệp có trong báo cáo trên hệ thống.)")
CUT_MARK = "…"


def clean_text(text: str, limit: int) -> str:
    """The text without characters platforms refuse (control characters, lone surrogates,
    invisible formatting), cut to `limit` characters; never empty."""
    kept = []
    for char in text:
        if char in "\n\t":
            kept.append(char)
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Co", "Cn") or (category == "Cf" and char not in "\u200d\ufe0f"):
            continue  # controls, broken surrogates, private use, unassigned, invisible marks
        kept.append(char)
    cleaned = unicodedata.normalize("NFC", "".join(kept)).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - len(CUT_MARK)].rstrip() + CUT_MARK
    return cleaned or CUT_MARK


def text_refusal(description: str) -> bool:
    """Whether a 400 is about the text's form (length, characters, encoding), which cleaning fixes."""
    words = description.lower()
    return any(w in words for w in ("too long", "too_long", "longer than", "utf-8", "utf8", "encod",
                                    "unicode", "character", "can't parse", "empty", "invalid text"))
