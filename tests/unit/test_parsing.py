"""Parsers for what people type: numbers the Vietnamese way, dates, coordinates, codes, commands."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.messages import Button, split_command
from handlers.parsing import NumberError, parse_coordinates, parse_date, parse_number, read_number
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


# How people write numbers in a form's answer (issue 14): what is read, or why it is refused.
NUMBERS_AS_WRITTEN = [
    ("3,5", False, 3.5),
    ("3.5", False, 3.5),
    ("1.500", True, 1500),
    ("1.500.000", True, 1_500_000),
    ("1.500.000đ", True, 1_500_000),
    ("1.500.000 đồng", True, 1_500_000),
    ("1 500 000 VNĐ", True, 1_500_000),
    ("500k", True, 500_000),
    ("500 nghìn", True, 500_000),
    ("1,5 triệu", True, 1_500_000),
    ("1tr5", True, 1_500_000),
    ("2 tỷ", True, 2_000_000_000),
    ("hai mươi", True, 20),
    ("hai muoi", True, 20),  # typed without tone marks
    ("mười lăm", True, 15),
    ("muoi lam", True, 15),
    ("ba mươi mốt", True, 31),
    ("một trăm linh năm", True, 105),
    ("hai mươi người", True, 20),
    ("năm trăm nghìn", True, 500_000),
    ("một triệu rưỡi", True, 1_500_000),
    ("hai tỷ", True, 2_000_000_000),
    ("không", True, 0),
    ("35 người", True, 35),
    ("12,5 kg", False, 12.5),
    ("+7", True, 7),
    ("-2", True, "negative"),
    ("âm 5", True, "negative"),
    ("-500k", True, "negative"),
    ("3,5", True, "decimal"),
    ("2.5", True, "decimal"),
    ("1,5 nghìn", True, 1500),  # a decimal of thousands is still a whole number
    ("rất đông", True, "words"),
    ("hai con gà", True, "words"),
    ("khoảng hai triệu", True, "words"),
    ("", True, "words"),
    ("1..2", False, "words"),
    ("--3", True, "words"),
    ("1.50.000", True, "words"),
]


@pytest.mark.parametrize(("written", "integer", "expected"), NUMBERS_AS_WRITTEN)
def test_numbers_as_people_write_them(written: str, integer: bool, expected: float | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(NumberError) as refused:
            read_number(written, integer=integer)
        assert refused.value.kind == expected
    else:
        value = read_number(written, integer=integer)
        assert value == expected and type(value) is type(expected)


NUMBER_WORDS = ["không", "một", "mốt", "hai", "ba", "bốn", "tư", "năm", "lăm", "sáu", "bảy", "tám", "chín", "mười",
                "mươi", "trăm", "nghìn", "triệu", "tỷ", "linh", "lẻ", "rưỡi", "muoi", "tram"]


@given(st.lists(st.sampled_from(NUMBER_WORDS), min_size=1, max_size=8))
def test_any_run_of_number_words_reads_or_is_refused_never_crashes(words: list[str]) -> None:
    try:
        value = read_number(" ".join(words), integer=True)
    except NumberError as refused:
        assert refused.kind == "words"
    else:
        assert isinstance(value, int) and value >= 0
