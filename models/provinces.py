"""The country's real units after the 2025 reform, from the `vietnam-provinces` package (the
National Statistics Office's list): a province or centrally-run city and its phường, xã and đặc
khu, with their official codes and types, as rows for `models.units.apply_units`.

Groups (tổ dân phố, thôn) are not in the package: they come from a CSV whose parent_code is an
official ward code (e.g. 20242 for Phường Hải Châu).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from models.units import UnitRow

# Words that name a unit's type and are left out when a name is matched ("Đà Nẵng" finds
# "Thành phố Đà Nẵng").
_TYPE_WORDS = ("thanh pho", "tinh", "tp.", "tp")


class ProvinceError(Exception):
    """No province (or more than one) matches what was asked for; the message says which exist."""


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    kind: str  # "tỉnh", "thành phố trung ương", "phường", "xã", "đặc khu"


@dataclass(frozen=True, slots=True)
class ProvinceUnits:
    province: Division
    wards: list[Division]
    data_version: str


def _package() -> Any:
    try:
        import vietnam_provinces
    except ImportError:  # pragma: no cover - installed with the project (see the Makefile)
        raise ProvinceError("the package vietnam-provinces is not installed: pip install 'vietnam-provinces>=2026.9'"
                            ) from None
    return vietnam_provinces


def _plain(text: str) -> str:
    """Lower case, without diacritics (đ -> d), single spaces: "Thành phố  Đà Nẵng" -> "thanh pho da nang"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return " ".join(text.lower().split())


def _bare(name: str) -> str:
    plain = _plain(name)
    for word in _TYPE_WORDS:
        if plain.startswith(word + " "):
            return plain[len(word) + 1:]
    return plain


def provinces() -> list[Division]:
    """Every province and centrally-run city, by code."""
    package = _package()
    return sorted((Division(str(int(p.code)), p.name, p.division_type.value) for p in package.Province.iter_all()),
                  key=lambda d: int(d.code))


def find(query: str) -> Division:
    """The province with this code ("48") or name ("Đà Nẵng", "da nang", "Thành phố Đà Nẵng")."""
    wanted = query.strip()
    every = provinces()
    if wanted.isdigit():
        for division in every:
            if int(division.code) == int(wanted):
                return division
        raise ProvinceError(f"no province has the code {wanted}; codes: "
                            + ", ".join(f"{d.code} {d.name}" for d in every))
    plain = _bare(wanted)
    exact = [d for d in every if _bare(d.name) == plain or _plain(d.name) == _plain(wanted)]
    if len(exact) == 1:
        return exact[0]
    near = [d for d in every if plain and plain in _bare(d.name)]
    if len(near) == 1:
        return near[0]
    if near:
        raise ProvinceError(f"{query!r} matches several provinces: " + ", ".join(f"{d.code} {d.name}" for d in near))
    raise ProvinceError(f"no province is called {query!r}; codes: " + ", ".join(f"{d.code} {d.name}" for d in every))


def units_of(query: str) -> ProvinceUnits:
    """The province and its commune-level units (phường, xã, đặc khu), sorted by code."""
    package = _package()
    province = find(query)
    wards = sorted((Division(str(int(w.code)), w.name, w.division_type.value)
                    for w in package.Ward.iter_by_province(int(province.code))), key=lambda d: int(d.code))
    return ProvinceUnits(province, wards, str(getattr(package, "__data_version__", "")))


def rows(units: ProvinceUnits, levels: list[str]) -> list[UnitRow]:
    """Rows for `apply_units`: the province at the top level, its wards at the "ward" level (or
    the level above the last, when the levels are named otherwise). Households are not in the
    package: None here leaves what a CSV set (see apply_units' keep_households)."""
    ward_level = "ward" if "ward" in levels else levels[max(0, len(levels) - 2)]
    top = UnitRow(units.province.code, units.province.name, levels[0], "", None, 1, units.province.kind)
    return [top] + [UnitRow(w.code, w.name, ward_level, units.province.code, None, number, w.kind)
                    for number, w in enumerate(units.wards, start=2)]
