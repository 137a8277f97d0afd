"""What a channel sends instead when the platform refuses a message for its form: the text alone
when a photo or file is refused, a cleaned and shortened text when the text itself is refused."""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence

from handlers.i18n import _
from handlers.messages import Reply

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


def shorter_limit(description: str, text: str, limit: int) -> int:
    """The length to cut a refused text to: shorter than it was when the refusal says "too long"
    (the platform counts differently from us), else the usual limit."""
    words = description.lower()
    if any(w in words for w in ("too long", "too_long", "longer than")):
        return max(1, min(limit, len(text) * 9 // 10))
    return limit


def text_refusal(description: str) -> bool:
    """Whether a 400 is about the text's form (length, characters, encoding), which cleaning fixes."""
    words = description.lower()
    return any(w in words for w in ("too long", "too_long", "longer than", "utf-8", "utf8", "encod",
                                    "unicode", "character", "can't parse", "empty", "invalid text"))


def sendable(replies: Sequence[Reply]) -> list[Reply]:
    """The replies with any text that cannot even be encoded (broken surrogates) cleaned first."""
    return [reply if _encodes(reply.text) else dataclasses.replace(reply, text=clean_text(reply.text, 1 << 20))
            for reply in replies]


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
