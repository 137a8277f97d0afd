"""Webhook mode: Telegram posts updates to the app's web server, which checks the secret token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.channels.telegram.channel import TelegramChannel
from bot.web import create_web
from models.settings import Settings, SettingsError
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest_telegram import point_at, running

SECRET = "s3cret_token-for-the-webhook"
HOOK = "https://totruong.example.org/hooks/telegram"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return point_at(settings, fake, mode="webhook", webhook_url=HOOK, webhook_secret=SECRET)


@pytest.fixture
async def telegram(app, fake: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    async with running(app) as channel:
        yield channel


@pytest.fixture
async def client(app, telegram: TelegramChannel) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def post(client: httpx.AsyncClient, update: dict, secret: str | None) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return await client.post("/hooks/telegram", content=json.dumps(update), headers=headers)


async def test_webhook_is_registered_with_its_secret(fake: FakeTelegram, telegram: TelegramChannel) -> None:
    assert fake.webhook == {"url": HOOK, "secret_token": SECRET,
                            "allowed_updates": ["message", "callback_query", "my_chat_member"]}
    assert not fake.calls_of("getUpdates")  # no polling beside the webhook


async def test_wrong_or_missing_secret_is_refused_and_nothing_is_processed(
        fake: FakeTelegram, telegram: TelegramChannel, client: httpx.AsyncClient) -> None:
    user = fake.user(6001, "Hùng")
    fake.send_text(user, "/start HUNG05")
    update = fake.pending.pop()
    for secret in (None, "", "wrong", SECRET + "x", SECRET[:-1]):
        assert (await post(client, update, secret)).status_code == 403
    await telegram.application.update_queue.join()
    assert telegram.application.update_queue.empty()
    assert not fake.calls_of("sendMessage")


async def test_right_secret_is_answered_and_a_bad_update_skipped(
        fake: FakeTelegram, telegram: TelegramChannel, client: httpx.AsyncClient) -> None:
    assert (await post(client, {"update_id": 1, "message": {"text": "no chat"}}, SECRET)).status_code == 200
    user = fake.user(6002, "Hùng")
    fake.send_text(user, "/start HUNG05")
    assert (await post(client, fake.pending.pop(), SECRET)).status_code == 200
    await telegram.application.update_queue.join()
    [reply] = fake.calls_of("sendMessage", chat_id=6002)
    assert "Đăng ký thành công! Bạn là tổ trưởng" in reply.params["text"]


async def test_webhook_mode_needs_an_https_url_and_a_secret(settings: Settings) -> None:
    from bot.bootstrap import build

    settings.telegram.webhook_secret = "has spaces"
    with pytest.raises(SettingsError, match="TOTRUONG_TELEGRAM__WEBHOOK_SECRET"):
        build(settings)
    settings.telegram.webhook_secret = SECRET
    settings.telegram.webhook_url = "http://insecure.example.org/hook"
    with pytest.raises(SettingsError, match="TOTRUONG_TELEGRAM__WEBHOOK_URL"):
        build(settings)
