"""No dead ends: walking every role's conversation button by button (a bounded walk: each label
pressed once, back to /menu when nothing new is left), every answer the bot ends on offers at
least one button. Typed commands and odd messages at idle are checked the same way."""

from __future__ import annotations

import pytest

from tests.helpers import Chat

PRESSES = 90  # per person: enough to reach every screen of the menus and the first steps of each flow
PEOPLE = ["demo-totruong-2", "demo-topho", "demo-canbo", "demo-nguoidan"]
# Deleting one's data ends the walk for good (the persona is gone): its own tests are in
# test_data_rights.py, including the reply after it.
NOT_PRESSED = {"🗑️ Xoá hết"}


def ends_with_a_button(chat: Chat) -> bool:
    return bool(chat.replies) and bool(chat.replies[-1].buttons)


@pytest.mark.parametrize("user", PEOPLE)
async def test_every_reached_reply_ends_with_a_button(app, user) -> None:
    chat = Chat(app, user)
    await chat.send("/menu")
    pressed: set[str] = set(NOT_PRESSED)
    path: list[str] = []
    restarts = 0
    for _step in range(PRESSES):
        fresh = [button for button in chat.buttons if button.label not in pressed]
        if not fresh:
            if restarts >= 15:
                break
            restarts += 1
            await chat.send("/huy")
            if chat.has("Hủy, bỏ câu trả lời"):
                await chat.press("Hủy, bỏ câu trả lời")
            await chat.send("/menu")
            if restarts % 2 and chat.has("☰ Thêm…"):  # the second screen of the menu, every other time
                await chat.press("☰ Thêm…")
            continue
        button = fresh[0]
        pressed.add(button.label)
        path.append(button.label)
        await chat.press_id(button.id)
        assert ends_with_a_button(chat), f"dead end after {' → '.join(path)}:\n{chat.text}"
    assert len(pressed) >= 10


@pytest.mark.parametrize("user", PEOPLE)
async def test_typed_messages_at_idle_end_with_a_button(app, user) -> None:
    chat = Chat(app, user)
    for typed in ("/help", "/huy", "/menu", "/xyz", "xin chào", "/lang", "Đúng"):
        await chat.send(typed)
        assert ends_with_a_button(chat), f"dead end after {typed!r}:\n{chat.text}"
        if chat.has("Không"):  # a resident's text offered as feedback: not now
            await chat.press("Không")
