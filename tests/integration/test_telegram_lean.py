"""The lean text call (bot/channels/telegram/lean.py) says to the Bot API what python-telegram-bot
says, and raises for each answer the exception PTB raises, with the same message and cause: each
case is sent once by PTB and once by the lean call against the fake Bot API, or, for answers the
fake cannot give, read by PTB's own `_request_wrapper` and by `error_for`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.error import ChatMigrated, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from bot.channels.send_fallbacks import text_refusal
from bot.channels.telegram.lean import LeanText, error_for
from bot.channels.telegram.send import went_out
from bot.channels.telegram.transport import PerChatRateLimiter, bot_request
from tests.fakes.telegram_api import TOKEN, FakeTelegram

CHAT = 4242


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[ExtBot[None]]:
    bot: ExtBot[None] = ExtBot(TOKEN, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot",
                               request=bot_request(2, read_timeout=0.5, write_timeout=0.5, pool_timeout=1.0),
                               rate_limiter=PerChatRateLimiter(overall_rate=0, max_retries=0))
    async with bot:
        yield bot


def chat_message(fake: FakeTelegram) -> int:
    """A message the bot sent to CHAT, to edit."""
    return max(message_id for (chat, message_id) in fake.messages if chat == CHAT)


async def outcome(call: Callable[[], Awaitable[Any]]) -> tuple[Any, ...]:
    """What a call raised, as far as send.py and the outbox read it."""
    try:
        await call()
    except TelegramError as error:
        cause = error.__cause__
        seen: tuple[Any, ...] = (type(error), error.message, type(cause))
        if isinstance(error, RetryAfter):
            seen += (error._retry_after,)
        if isinstance(error, NetworkError):
            seen += (went_out(error),)
        return seen
    return ("sent",)


MARKUPS = [
    None,
    InlineKeyboardMarkup([[InlineKeyboardButton("Có ✅", callback_data="yes"),
                           InlineKeyboardButton("Không", callback_data="no")],
                          [InlineKeyboardButton("Trang", url="https://example.org")]]),
    ReplyKeyboardMarkup([[KeyboardButton("📍 Gửi vị trí", request_location=True)],
                         [KeyboardButton("📱 Số", request_contact=True)]],
                        resize_keyboard=True, one_time_keyboard=True),
    ReplyKeyboardRemove(),
]


@pytest.mark.parametrize("markup", MARKUPS, ids=["none", "inline", "reply", "remove"])
async def test_a_text_goes_out_with_the_parameters_ptb_sends(fake: FakeTelegram, bot: ExtBot[None],
                                                             markup: Any) -> None:
    lean = LeanText(bot)
    text = "Chào 👋 bạn\n\n\"trích\" & <b>không đậm</b>"
    sent = await bot.send_message(str(CHAT), text, reply_markup=markup)
    mine = await lean.send_message(str(CHAT), text, reply_markup=markup)
    assert mine.message_id == sent.message_id + 1
    ptb_call, lean_call = fake.calls_of("sendMessage")
    assert lean_call.params == ptb_call.params
    assert lean_call.chat_id == CHAT


async def test_an_edit_goes_out_with_the_parameters_ptb_sends(fake: FakeTelegram, bot: ExtBot[None]) -> None:
    lean = LeanText(bot)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    await bot.send_message(CHAT, "câu hỏi", reply_markup=markup)
    message_id = chat_message(fake)
    await bot.edit_message_text("một", CHAT, message_id, reply_markup=markup)
    await lean.edit_message_text("hai", CHAT, message_id, reply_markup=markup)
    await bot.edit_message_text("ba", CHAT, message_id)
    await lean.edit_message_text("bốn", CHAT, message_id)
    calls = fake.calls_of("editMessageText")
    assert [call.params for call in calls[1::2]] == [
        {**call.params, "text": text} for call, text in zip(calls[::2], ["hai", "bốn"], strict=True)]
    assert fake.messages[(CHAT, message_id)]["text"] == "bốn"


# (status, description, retry_after) as the fake answers them
ANSWERS = [
    (400, "Bad Request: message is too long", None),
    (400, "Bad Request: can't parse entities: unsupported start tag", None),
    (400, "", None),
    (401, "Unauthorized", None),
    (403, "Forbidden: bot was blocked by the user", None),
    (404, "Not Found", None),
    (409, "Conflict: terminated by other getUpdates request", None),
    (429, "Too Many Requests: retry after 7", 7),
    (500, "Internal Server Error", None),
    (502, "Bad Gateway", None),
    (503, "", None),
    (418, "", None),
]


@pytest.mark.parametrize(("status", "description", "retry_after"), ANSWERS)
async def test_each_refusal_raises_what_ptb_raises(fake: FakeTelegram, bot: ExtBot[None], status: int,
                                                   description: str, retry_after: int | None) -> None:
    lean = LeanText(bot)
    fake.fail("sendMessage", status, description, retry_after=retry_after, times=2)
    ptb = await outcome(lambda: bot.send_message(CHAT, "x"))
    mine = await outcome(lambda: lean.send_message(CHAT, "x"))
    assert mine == ptb
    assert mine != ("sent",)


async def test_an_edit_refusal_raises_what_ptb_raises(fake: FakeTelegram, bot: ExtBot[None]) -> None:
    lean = LeanText(bot)
    await bot.send_message(CHAT, "câu hỏi")
    message_id = chat_message(fake)
    ptb = await outcome(lambda: bot.edit_message_text("câu hỏi", CHAT, message_id))
    mine = await outcome(lambda: lean.edit_message_text("câu hỏi", CHAT, message_id))
    assert mine == ptb
    assert "not modified" in mine[1]
    ptb = await outcome(lambda: bot.edit_message_text("x", CHAT, 99999))
    mine = await outcome(lambda: lean.edit_message_text("x", CHAT, 99999))
    assert mine == ptb


async def test_the_fakes_own_limits_raise_what_ptb_raises(fake: FakeTelegram, bot: ExtBot[None]) -> None:
    lean = LeanText(bot)
    for text in ["", "x" * 4097]:
        ptb = await outcome(lambda text=text: bot.send_message(CHAT, text))  # type: ignore[misc]
        mine = await outcome(lambda text=text: lean.send_message(CHAT, text))  # type: ignore[misc]
        assert mine == ptb
        assert text_refusal(mine[1]) or "too long" in mine[1]


async def test_a_dropped_connection_raises_what_ptb_raises(fake: FakeTelegram, bot: ExtBot[None]) -> None:
    lean = LeanText(bot)
    fake.disconnect("sendMessage", times=2)
    ptb = await outcome(lambda: bot.send_message(CHAT, "x"))
    mine = await outcome(lambda: lean.send_message(CHAT, "x"))
    assert mine == ptb
    assert mine[0] is NetworkError and mine[-1] is True  # it may have gone out: not sent again


async def test_a_late_answer_is_a_timeout_as_in_ptb_with_the_configured_read_timeout(
        fake: FakeTelegram, bot: ExtBot[None]) -> None:
    lean = LeanText(bot)
    fake.slow("sendMessage", 1.5, times=2)  # the bot's read timeout is 0.5 s
    ptb = await outcome(lambda: bot.send_message(CHAT, "x"))
    mine = await outcome(lambda: lean.send_message(CHAT, "x"))
    assert mine == ptb
    assert mine[:1] == (TimedOut,) and mine[2] is httpx.ReadTimeout


async def test_nothing_listening_is_a_connect_error_as_in_ptb(fake: FakeTelegram, bot: ExtBot[None]) -> None:
    lean = LeanText(bot)
    await fake.stop()
    ptb = await outcome(lambda: bot.send_message(CHAT, "x"))
    mine = await outcome(lambda: lean.send_message(CHAT, "x"))
    assert mine == ptb
    assert mine[2] is httpx.ConnectError and mine[-1] is False  # nothing went out: safe to try again


async def test_a_flood_wait_goes_through_the_bots_rate_limiter(fake: FakeTelegram) -> None:
    bot: ExtBot[None] = ExtBot(TOKEN, base_url=f"{fake.url}/bot", request=bot_request(2),
                               rate_limiter=PerChatRateLimiter(overall_rate=0, max_retries=1))
    async with bot:
        fake.flood("sendMessage", 1, chat_id=CHAT)
        sent = await LeanText(bot).send_message(CHAT, "x")  # waited 1 s, then sent
    assert [call.status for call in fake.calls_of("sendMessage")] == [429, 200]
    assert sent.message_id == fake.sent_to(CHAT)[-1]["message_id"]


class _Answered(BaseRequest):
    """PTB's own reading of a given answer (`BaseRequest._request_wrapper`)."""

    def __init__(self, code: int, payload: bytes) -> None:
        self.answer = code, payload

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float | None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None, connect_timeout: Any = None,
                         pool_timeout: Any = None) -> tuple[int, bytes]:
        return self.answer


@pytest.mark.parametrize(("code", "payload"), [
    (400, b'{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat",'
          b'"parameters":{"migrate_to_chat_id":-1001234}}'),
    (429, b'{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":3}}'),
    (400, b'{"ok":false,"error_code":400,"description":"Bad Request: x","parameters":{"something":1}}'),
    (403, b"<html>forbidden</html>"),
    (502, b"<html>bad gateway</html>"),
    (599, b""),
    (401, b'{"ok":false}'),
])
async def test_answers_the_fake_cannot_give_are_read_as_ptb_reads_them(code: int, payload: bytes) -> None:
    try:
        await _Answered(code, payload).post("http://x/bot1/sendMessage")
    except TelegramError as error:
        expected = error
    mine = error_for(code, payload)
    assert (type(mine), mine.message, type(mine.__cause__)) == (
        type(expected), expected.message, type(expected.__cause__))
    if isinstance(mine, ChatMigrated):
        assert isinstance(expected, ChatMigrated) and mine.new_chat_id == expected.new_chat_id == -1001234
    if isinstance(mine, RetryAfter):
        assert isinstance(expected, RetryAfter) and mine._retry_after == expected._retry_after
