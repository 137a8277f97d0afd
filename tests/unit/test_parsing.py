"""Parsers for what people type: numbers the Vietnamese way, dates, coordinates, codes, commands."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from handlers.messages import Button, split_command
from handlers.parsing import parse_coordinates, parse_date, parse_number
from handlers.text import clean, fold, looks_like_code, normalize_code

TODAY = date(2026, 11, 22)


def test_vietnamese_numbers() -> None:
    assert parse_number("1.500.000", integer=True) == 1_500_000
    assert parse_number("1 500 000 đ", integer=True) == 1_500_000
    assert parse_number("35 người", integer=True) == 35
    assert parse_number("2,5", integer=False) == 2.5
    assert parse_number("2.5", integer=False) == 2.5
    assert parse_number("1.234,5", integer=False) == 1234.5
    assert parse_number("2,5", integer=True) is None
    assert parse_number("500k", integer=True) == 500_000
    assert parse_number("2 triệu", integer=True) == 2_000_000
    assert parse_number("1tr5", integer=True) == 1_500_000
    assert parse_number("1,5 tỷ", integer=True) == 1_500_000_000
    assert parse_number("300 nghìn đồng", integer=True) == 300_000
    assert parse_number("12 kg", integer=False) == 12
    for bad in ("", "abc", "1..2", "1.2.3", ",5", "5,", "--3", "1.50.000"):
        assert parse_number(bad, integer=False) is None, bad


@given(st.integers(min_value=0, max_value=10**12))
def test_any_whole_number_written_with_dots_reads_back(value: int) -> None:
    written = f"{value:,}".replace(",", ".")
    assert parse_number(written, integer=True) == value
    assert parse_number(str(value), integer=True) == value


@given(st.text(max_size=40))
def test_number_parser_never_crashes(text: str) -> None:
    result = parse_number(text, integer=False)
    assert result is None or isinstance(result, int | float)


def test_dates() -> None:
    assert parse_date("24/11/2026", TODAY) == date(2026, 11, 24)
    assert parse_date("1-2-26", TODAY) == date(2026, 2, 1)
    assert parse_date("24/11", TODAY) == date(2026, 11, 24)
    assert parse_date("Hôm nay", TODAY) == TODAY
    assert parse_date("hom qua", TODAY) == date(2026, 11, 21)
    assert parse_date("31/02/2026", TODAY) is None
    assert parse_date("ngày mai", TODAY) is None


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_any_date_written_dd_mm_yyyy_reads_back(value: date) -> None:
    assert parse_date(value.strftime("%d/%m/%Y"), TODAY) == value


@given(st.text(max_size=30))
def test_date_parser_never_crashes(text: str) -> None:
    assert parse_date(text, TODAY) is None or isinstance(parse_date(text, TODAY), date)


def test_coordinates() -> None:
    assert parse_coordinates("16.0544, 108.2022") == (16.0544, 108.2022)
    assert parse_coordinates("16.0544 108.2022") == (16.0544, 108.2022)
    assert parse_coordinates("kiệt 42 Lê Duẩn") is None
    assert parse_coordinates("95, 10") is None


def test_text_helpers() -> None:
    assert fold("Đã XỬ LÝ ✅") == "da xu ly"
    assert fold("  DỪNG!! ") == "dung"
    assert clean("a\u200bb\x00c\nd ") == "abc\nd"
    assert looks_like_code("HUNG05") and looks_like_code("hung 05") and not looks_like_code("xin chào bạn")
    assert normalize_code("hung-05") == "HUNG05"


def test_commands() -> None:
    assert split_command("/start HUNG05") == ("start", "HUNG05")
    assert split_command("/Menu@ToTruongBot") == ("menu", "")
    assert split_command("/") is None and split_command("hello /start") is None
    assert split_command("/ngôn") is None


def test_button_ids_must_fit_telegram() -> None:
    Button("v1.o.quet_don", "Quét dọn")
    for bad in ("x" * 65, "nút"):
        try:
            Button(bad, "x")
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
