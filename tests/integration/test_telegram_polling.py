"""Telegram long polling confirms an update (a later getUpdates offset) only once it was handled:
a slow update holds the offset but not the other chats; 409 Conflict is waited out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.channels.telegram.channel import TelegramChannel
from models.settings import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest_telegram import person, point_at, running


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return point_at(settings, fake)


@pytest.fixture
async def telegram(app, fake: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    async with running(app) as channel:
        yield channel


async def test_polling_removes_a_webhook_first(fake: FakeTelegram, telegram: TelegramChannel) -> None:
    assert "nhập mã mời" in await person(fake, telegram, 5100, "Hải").send("xin chào")
    methods = [c.method for c in fake.calls]
    assert "deleteWebhook" in methods and methods.index("deleteWebhook") < methods.index("getUpdates")


async def test_a_slow_update_holds_the_offset_but_not_the_other_chats(
        fake: FakeTelegram, telegram: TelegramChannel) -> None:
    lan, mai = fake.user(5101, "Lan"), fake.user(5102, "Mai")
    fake.slow("sendMessage", 1.5, chat_id=5101)  # Lan's answer takes long to go out
    slow = fake.send_text(lan, "xin chào")
    later = fake.send_text(mai, "xin chào")

    def answered(chat_id: int) -> bool:
        return any(c.status == 200 for c in fake.calls_of("sendMessage", chat_id=chat_id))

    await fake.wait_for(lambda: answered(5102))
    # Mai was answered, Lan not yet: Telegram is still told nothing past Lan's update.
    assert not answered(5101)
    assert fake.confirmed <= slow
    await fake.delivered(later, within=10)  # once Lan's answer is out, both are confirmed
    assert answered(5101)
    # Fetched again while in hand, but not started twice.
    assert len(fake.calls_of("sendMessage", chat_id=5101)) == len(fake.calls_of("sendMessage", chat_id=5102)) == 1
    assert len(fake.calls_of("getUpdates")) < 30  # and not fetched in a busy loop meanwhile


async def test_a_second_poller_on_the_token_is_waited_out(fake: FakeTelegram, telegram: TelegramChannel,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    hoa = person(fake, telegram, 5103, "Hoa")
    fake.fail("getUpdates", 409, times=2)
    assert "nhập mã mời" in await hoa.send("xin chào")
    assert [c.status for c in fake.calls_of("getUpdates")].count(409) == 2
    assert caplog.text.count("Conflict") == 1  # said once, not at every retry
