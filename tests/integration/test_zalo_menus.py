"""Numbered menus for Zalo: how buttons are numbered, what typed text selects, how long texts split."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channels.text_menus import Shown, plain_label, render, split_text
from handlers.i18n import Catalogs
from handlers.messages import Button, Keyboard, Reply, rows
from models.settings import PROJECT_ROOT, load_settings

MENU = Shown((("m.t.an_ninh", "🛡️ An ninh trật tự"), ("m.t.ve_sinh", "🌿 Vệ sinh môi trường, nếp sống văn minh"),
              ("m.my", "📜 Báo cáo của tôi"), ("m.help", "❓ Hướng dẫn")))
NUMBER_QUESTION = Shown((("v5.back", "⬅️ Quay lại"), ("v5.skip", "⏭ Bỏ qua"), ("v5.cancel", "✖️ Hủy")))
CHOICE = Shown((("v7.o.tot", "Tốt"), ("v7.o.kha", "Khá"), ("v7.back", "⬅️ Quay lại"), ("v7.cancel", "✖️ Hủy")))


@pytest.fixture(scope="module")
def t():  # type: ignore[no-untyped-def]
    settings = load_settings({}, PROJECT_ROOT / "config.toml")
    return Catalogs(Path(settings.locales_dir)).translator("vi", settings.app.tz)


def test_menus_and_choices_are_numbered_and_back_is_zero() -> None:
    assert MENU.numbers() == {"m.t.an_ninh": "1", "m.t.ve_sinh": "2", "m.my": "3", "m.help": "4"}
    assert CHOICE.numbers() == {"v7.o.tot": "1", "v7.o.kha": "2", "v7.back": "0", "v7.cancel": "3"}
    assert CHOICE.select("0") == "v7.back" and CHOICE.select("3") == "v7.cancel"
    assert MENU.select("2") == MENU.select(" 02 ") == MENU.select("2.") == "m.t.ve_sinh"


@pytest.mark.parametrize("typed", ["an ninh", "An ninh", "AN NINH TRẬT TỰ", "trat tu", "an ninh trật tự"])
def test_words_of_a_label_select_with_or_without_diacritics(typed: str) -> None:
    assert MENU.select(typed) == "m.t.an_ninh"
    assert MENU.select("báo cáo") == "m.my"  # one label has these words: no doubt


@pytest.mark.parametrize("typed", ["5", "0", "an", "rác thải", "xin chào", "DỪNG", "dung", "bắt đầu", "1, 3",
                                   "16.07, 108.2"])
def test_what_selects_nothing_is_passed_on_as_text(typed: str) -> None:
    assert MENU.select(typed) is None


def test_a_question_that_wants_a_typed_answer_keeps_the_digits() -> None:
    assert not NUMBER_QUESTION.is_choice
    assert NUMBER_QUESTION.numbers() == {}
    for typed in ("0", "1", "35", "quay"):
        assert NUMBER_QUESTION.select(typed) is None


def test_render_numbers_across_the_replies_of_a_turn_and_hints_once(t) -> None:  # type: ignore[no-untyped-def]
    replies = [Reply("Đã lưu."), Reply("Chọn ngôn ngữ:", rows([Button("m.lang.vi", "Tiếng Việt")])),
               Reply("Hay là:", rows([Button("m.help", "❓ Hướng dẫn"), Button("m.menu", "⬅️ Quay lại")]))]
    texts = [piece.text for piece in render(replies, t, file_url=lambda _id: None)]
    assert texts == ["Đã lưu.", "Chọn ngôn ngữ:\n\n1. Tiếng Việt",
                     "Hay là:\n\n2. ❓ Hướng dẫn\n0. ⬅️ Quay lại\n\n👉 Trả lời bằng số (ví dụ: 1), hoặc gõ tên mục."]


def test_render_free_answer_questions_as_words_and_explain_locations(t) -> None:  # type: ignore[no-untyped-def]
    question = Reply("(7/10) Điểm rác ở đâu?", rows([Button("v3.back", "⬅️ Quay lại"), Button("v3.cancel", "✖️ Hủy")]),
                     keyboard=Keyboard.REQUEST_LOCATION)
    (piece,) = render([question], t, file_url=lambda _id: None)
    assert "Hoặc gõ: «Quay lại», «Hủy»." in piece.text
    assert "gõ tọa độ (ví dụ 16.0544, 108.2022)" in piece.text
    assert plain_label("⏭ Bỏ qua") == "Bỏ qua"


def test_photos_go_by_url_only_with_a_public_address(t) -> None:  # type: ignore[no-untyped-def]
    reply = Reply("Biểu đồ", photo_id=7)
    assert [p.text for p in render([reply], t, file_url=lambda _id: None)] == ["Biểu đồ"]
    pieces = render([reply], t, file_url=lambda i: f"https://x.vn/zalo/files/{i}/sig")
    assert [(p.photo_url, p.text) for p in pieces] == [("https://x.vn/zalo/files/7/sig", ""), ("", "Biểu đồ")]


def test_split_text_keeps_paragraphs_and_cuts_long_lines_at_spaces() -> None:
    assert split_text("ngắn") == ["ngắn"]
    paragraphs = ["a" * 1500, "b" * 1500, "c" * 300]
    assert split_text("\n\n".join(paragraphs)) == ["a" * 1500, "b" * 1500 + "\n\n" + "c" * 300]
    words = "rác " * 1200
    chunks = split_text(words.strip())
    assert all(len(chunk) <= 2000 for chunk in chunks) and len(chunks) == 3
    assert " ".join(chunks).split() == words.split()
    assert split_text("x" * 4500) == ["x" * 2000, "x" * 2000, "x" * 500]
