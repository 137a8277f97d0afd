"""Helpers for the Telegram tests: the app's Telegram channel against a fake Bot API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.channels.telegram.channel import TelegramChannel
from models.settings import ChannelSettings, Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_user import TelegramUser


def point_at(settings: Settings, fake: FakeTelegram, **telegram: Any) -> Settings:
    """The test settings with Telegram configured against the fake server."""
    settings.telegram = ChannelSettings(token=fake.token, api_url=fake.url, **telegram)
    return settings


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[TelegramChannel]:
    """Starts the app's Telegram channel (quick retries for the tests) and stops it afterwards."""
    channel: TelegramChannel = app.channels["telegram"]
    channel.sender.retry_delay = 0.05
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


def settler(fake: FakeTelegram, channel: TelegramChannel) -> Any:
    """Waits until the bot fetched an update and handled everything it had fetched."""

    async def settle(update_id: int) -> None:
        if channel.settings.mode == "polling":
            await fake.delivered(update_id, within=10)
        await asyncio.wait_for(channel.application.update_queue.join(), 10)

    return settle


def person(fake: FakeTelegram, channel: TelegramChannel, user_id: int, name: str, **kwargs: Any) -> TelegramUser:
    return TelegramUser(fake, user_id, name, settle=settler(fake, channel), **kwargs)
