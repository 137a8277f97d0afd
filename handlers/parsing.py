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


def parse_number(text: str, *, integer: bool) -> float | int | None:
    """Reads "1.500.000", "1 500 000", "2,5" or "2.5"; None when it is not a number.

    Vietnamese writes thousands with dots and decimals with a comma. A lone separator
    followed by exactly three digits is read as thousands ("1.500" → 1500). Amounts may be
    spoken: "500k", "2 triệu", "1tr5" (1.500.000), "1,5 tỷ".
    """
    raw = text.strip().replace("\u00a0", " ")
    scaled = _SCALED.match(_plain(raw))
    if scaled:
        base = float(scaled.group(1).replace(",", "."))
        factor = _MULTIPLIERS[scaled.group(2)]
        rest = scaled.group(3)  # "1tr5": the digits after the unit are its next digits
        value = base * factor + (int(rest) * factor // 10 ** len(rest) if rest else 0)
        return int(value) if value.is_integer() else (None if integer else value)
    raw = re.sub(r"\s*(đ|d|vnd|vnđ|đồng|dong|kg|người|nguoi|hộ|ho|bao|túi|tui)$", "", raw, flags=re.I)
    if not raw or not _NUMBER.match(raw):
        return None
    sign = -1 if raw.startswith("-") else 1
    body = raw.lstrip("+-").replace(" ", "")
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
        value = float(body) * sign
    except ValueError:
        return None
    if integer:
        return int(value) if value.is_integer() else None
    return int(value) if value.is_integer() else value


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
