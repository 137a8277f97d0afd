"""Text helpers: cleaning what users type and matching it with or without diacritics."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_NOT_WORD = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """Removes control and invisible characters (keeping new lines) and trims the ends."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Lower case, no diacritics, no emoji or punctuation: "Đã XỬ LÝ ✅" → "da xu ly"."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = _NOT_WORD.sub(" ", text.casefold())
    return _SPACES.sub(" ", text).strip()


def looks_like_code(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 -]{2,18}[A-Za-z0-9]", text.strip()))


def normalize_code(text: str) -> str:
    """An invite code as typed or pasted: fullwidth letters folded (NFKC), invisible characters,
    spaces and dashes dropped, upper case."""
    folded = unicodedata.normalize("NFKC", text)
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")  # zero-width and the like
    return re.sub(r"[\s-]", "", visible).upper()


def shorten(text: str, limit: int = 40) -> str:
    """The first words of `text`, cut at a word boundary with "…" when it is longer than `limit`
    characters: "Khẩn: nước sông dâng cao, các hộ ven sông…". New lines become spaces; a single word
    longer than the limit is cut inside it rather than dropped."""
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if flat[limit - 1] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ·,;:.-–—") + "…"
