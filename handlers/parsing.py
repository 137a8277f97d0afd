"""Parsers for what people type into forms: Vietnamese numbers, dates and coordinates."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

from handlers.i18n import _
from handlers.text import fold

_NUMBER = re.compile(r"^[+-]?\d[\d.,\s]*$")


_MULTIPLIERS = {"k": 1_000, "nghin": 1_000, "ngan": 1_000, "tr": 1_000_000, "trieu": 1_000_000,
                "ty": 1_000_000_000}
_SCALED = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(k|nghin|ngan|tr|trieu|ty)\s*(\d{1,3})?(?:\s*(?:d|dong|vnd))?$")


def _plain(text: str) -> str:
    """Lower case without diacritics or spaces, keeping digits and separators: "1,5 Tỷ" → "1,5ty"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D").casefold())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn" and not ch.isspace())


class NumberError(ValueError):
    """Why a typed answer is not the number a field wants: `kind` is "words" (not a number at
    all), "negative" or "decimal" (a fraction where a whole number is needed); `value` is what was
    read, when something was."""

    def __init__(self, kind: str, value: float | int | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.value = value


def parse_number(text: str, *, integer: bool) -> float | int | None:
    """Reads "1.500.000", "1 500 000", "2,5" or "2.5"; None when it is not a number.

    Vietnamese writes thousands with dots and decimals with a comma. A lone separator
    followed by exactly three digits is read as thousands ("1.500" → 1500). Amounts may be
    spoken: "500k", "2 triệu", "1tr5" (1.500.000), "1,5 tỷ", or in words: "hai mươi".
    """
    try:
        return read_number(text, integer=integer, negative=True)
    except NumberError:
        return None


def read_number(text: str, *, integer: bool, negative: bool = False) -> float | int:
    """The number in `text`, or a NumberError saying why not (see `NumberError.kind`)."""
    value = number_value(text)
    if value is None:
        raise NumberError("words")
    if value < 0 and not negative:
        raise NumberError("negative", value)
    if integer and not float(value).is_integer():
        raise NumberError("decimal", value)
    return int(value) if float(value).is_integer() else value


_MINUS = re.compile(r"^\s*(?:-|−|âm\s+|am\s+)(?=\S)", re.I)


def number_value(text: str) -> float | int | None:
    """The number written in `text` however people write it, with its sign; None when none is."""
    raw = text.strip().replace("\u00a0", " ")
    minus = _MINUS.match(raw)
    sign = -1 if minus else 1
    if minus:
        raw = raw[minus.end():]
        if raw.startswith(("-", "+", "−")):
            return None
    elif raw.startswith("+"):
        raw = raw[1:]
    value = _digits(raw)
    if value is None:
        value = _words(raw)
    if value is None:
        return None
    value *= sign
    return int(value) if float(value).is_integer() else value


def _digits(raw: str) -> float | int | None:
    scaled = _SCALED.match(_plain(raw))
    if scaled:
        base = float(scaled.group(1).replace(",", "."))
        factor = _MULTIPLIERS[scaled.group(2)]
        rest = scaled.group(3)  # "1tr5": the digits after the unit are its next digits
        value = base * factor + (int(rest) * factor // 10 ** len(rest) if rest else 0)
        return int(value) if value.is_integer() else value
    raw = _UNIT_SUFFIX.sub("", raw)
    if not raw or not _NUMBER.match(raw):
        return None
    body = raw.replace(" ", "")
    dots, commas = body.count("."), body.count(",")
    if dots and commas:
        # The separator that comes last is the decimal one.
        decimal_sep = "," if body.rfind(",") > body.rfind(".") else "."
        thousands_sep = "." if decimal_sep == "," else ","
        body = body.replace(thousands_sep, "").replace(decimal_sep, ".")
    elif dots + commas:
        sep = "." if dots else ","
        parts = body.split(sep)
        if len(parts) > 2 or (len(parts[-1]) == 3 and parts[0] != "0"):
            if not all(len(p) == 3 for p in parts[1:]) or not parts[0]:
                return None
            body = "".join(parts)
        else:
            body = ".".join(parts)
    if not body or body.startswith(".") or body.endswith("."):
        return None
    try:
        value = float(body)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


_UNIT_SUFFIX = re.compile(r"\s*(đ|d|vnd|vnđ|đồng|dong|kg|ký|ki lô|người|nguoi|hộ|ho|bao|túi|tui|lượt|luot"
                          r"|buổi|buoi|cuộc|cuoc|lần|lan|vụ|vu|điểm|diem)$", re.I)
# Number words without their tone marks, as people type them on a phone without a Vietnamese
# keyboard: each maps to the word vietnam-number reads. "muoi" is "mươi" after a digit word
# ("hai muoi" 20) and "mười" elsewhere ("muoi lam" 15). Slang the library also knows ("củ",
# "chai", "lít", "xị") is left out: in a count of people it would read nonsense as a number.
_WORDS = {
    "khong": "không", "mot": "một", "mốt": "mốt", "hai": "hai", "ba": "ba", "bon": "bốn", "tu": "tư",
    "nam": "năm", "lam": "lăm", "nham": "nhăm", "sau": "sáu", "bay": "bảy", "tam": "tám", "chin": "chín",
    "ruoi": "rưỡi", "chuc": "chục", "tram": "trăm", "nghin": "nghìn", "ngan": "ngàn", "trieu": "triệu",
    "ty": "tỷ", "ti": "tỷ", "linh": "linh", "le": "lẻ",
}
_DIGIT_WORDS = {"một", "mốt", "hai", "ba", "bốn", "tư", "năm", "lăm", "nhăm", "sáu", "bảy", "tám", "chín"}
_WORD_UNITS = {"người", "hộ", "đồng", "kg", "ký", "lượt", "buổi", "cuộc", "lần", "vụ", "điểm", "cái"}


def _words(raw: str) -> int | None:
    """ "hai mươi", "một trăm linh năm", "hai tỷ", "một triệu rưỡi" (with or without tone marks)."""
    tokens = raw.casefold().replace(",", " ").split()
    if tokens and tokens[-1] in _WORD_UNITS | {fold(u) for u in _WORD_UNITS}:
        tokens = tokens[:-1]
    if not tokens or len(tokens) > 12:
        return None
    words: list[str] = []
    for token in tokens:
        folded = fold(token)
        if token in ("mười", "mươi") or folded == "muoi":
            after_digit = bool(words) and words[-1] in _DIGIT_WORDS
            words.append(token if token in ("mười", "mươi") else ("mươi" if after_digit else "mười"))
        elif token in _WORDS.values():
            words.append(token)
        elif folded in _WORDS and folded == token:
            words.append(_WORDS[folded])
        else:
            return None
    try:
        from vietnam_number import w2n  # imported on first use: most answers are digits

        value = w2n(" ".join(words))
    except (ValueError, IndexError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def parse_date(text: str, today: date) -> date | None:
    """Reads "24/11/2026", "24-11-26", "24/11" (this year), "hôm nay" or "hôm qua"."""
    folded = fold(text)
    if folded in ("hom nay", "today", "nay"):
        return today
    if folded in ("hom qua", "yesterday", "qua"):
        return today - timedelta(days=1)
    match = re.fullmatch(r"\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{2}|\d{4}))?\s*", text)
    if not match:
        return None
    day, month = int(match.group(1)), int(match.group(2))
    year = int(match.group(3)) if match.group(3) else today.year
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_coordinates(text: str) -> tuple[float, float] | None:
    """Reads "16.0544, 108.2022" or "16.0544 108.2022" as latitude and longitude."""
    match = re.fullmatch(r"\s*(-?\d{1,2}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*", text)
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


# The refusal of (0, 0), where a phone without a GPS fix yet puts you: in the sea off Africa.
NO_GPS_FIX = _("Vị trí gửi tới là 0, 0: điện thoại chưa xác định được chỗ bạn đang đứng. Hãy bật định vị "
               "(GPS), chờ một lát rồi gửi lại vị trí.")


def location_problem(lat: float, lon: float, bbox: tuple[float, float, float, float]) -> str | None:
    """Why a sent location cannot be kept: "zero" (0, 0: a phone that had no GPS fix yet sends it),
    "outside" (outside the area the service covers, `app.area_bbox`; NaN too), or None."""
    if lat == 0 and lon == 0:
        return "zero"
    south, west, north, east = bbox
    if not (south <= lat <= north and west <= lon <= east):
        return "outside"
    return None
