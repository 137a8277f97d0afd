"""The same update twice has no effect twice: a replayed Telegram webhook update, a Zalo message
delivered again (polling and webhook), also after a restart; webhooks answer only once the
update was handled; keys of old updates are forgotten after a week."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.bootstrap import App, build, load_demo, prepare_database
from bot.channels.telegram.channel import TelegramChannel
from bot.web import create_web
from handlers.messages import Incoming
from models.settings import Settings
from models.tables import Conversation, Identity, InboundUpdate, Invite
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_api import FakeZaloApi
from tests.integration.conftest_telegram import point_at, running
from tests.integration.test_zalo import SECRET as ZALO_SECRET
from tests.integration.test_zalo import eventually, free_socket, settle, zalo_settings
from tests.integration.test_zalo import running as zalo_running

SECRET = "s3cret_token-for-the-webhook"
HOOK = "https://totruong.example.org/hooks/telegram"


async def uses(app: App, code: str) -> int:
    async with app.sessions() as session:
        return int((await session.scalars(select(Invite.used).where(Invite.code == code))).one())


async def version(app: App, channel: str, user_id: str) -> int:
    """The conversation's version: one more for every message of the person that was handled."""
    async with app.sessions() as session:
        found = await session.scalar(select(Conversation.version).join(
            Identity, Identity.id == Conversation.identity_id).where(
            Identity.channel == channel, Identity.external_id == user_id))
        return int(found or 0)


# --- the engine --------------------------------------------------------------------------------

async def test_the_engine_handles_an_update_key_once_and_replays_its_replies(app: App, clock: Any) -> None:
    msg = Incoming(channel="telegram", user_id="7001", chat_id="7001", command="start", argument="HUNG05",
                   update_key="1:41")
    first = await app.receive(msg)
    again = await app.receive(msg)
    assert not first.replay and again.replay
    assert [r.to_json() for r in again.replies] == [r.to_json() for r in first.replies]  # buttons and all
    assert "Đăng ký thành công" in again.replies[0].text
    assert await version(app, "telegram", "7001") == 1 and await uses(app, "HUNG05") == 1
    other = await app.receive(Incoming(channel="telegram", user_id="7001", command="menu", update_key="1:42"))
    assert not other.replay and await version(app, "telegram", "7001") == 2

    clock.advance(days=8)  # a week later the keys are forgotten (the platforms stopped resending long ago)
    assert await app.forget_handled_updates() == 2
    async with app.sessions() as session:
        assert not (await session.scalars(select(InboundUpdate))).all()


# --- Telegram webhook --------------------------------------------------------------------------

@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def telegram_webhook(settings: Settings, fake: FakeTelegram,
                           clock: Any) -> AsyncIterator[tuple[App, TelegramChannel, httpx.AsyncClient]]:
    """The app in Telegram webhook mode, and an HTTP client for its web server."""
    app = build(point_at(settings, fake, mode="webhook", webhook_url=HOOK, webhook_secret=SECRET), clock=clock)
    await prepare_database(app)
    await load_demo(app)  # asked for: beside a token it is not loaded by itself
    try:
        async with running(app) as channel:
            transport = httpx.ASGITransport(app=create_web(app))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
                yield app, channel, client
    finally:
        await app.stop()


async def post(client: httpx.AsyncClient, update: dict[str, Any]) -> httpx.Response:
    return await client.post("/hooks/telegram", content=json.dumps(update),
                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})


def registering(fake: FakeTelegram, user_id: int) -> dict[str, Any]:
    fake.send_text(fake.user(user_id, "Hùng"), "/start HUNG05")
    return fake.pending.pop()


async def test_a_replayed_webhook_update_is_handled_once_also_after_a_restart(
        settings: Settings, fake: FakeTelegram, clock: Any) -> None:
    update = registering(fake, 6101)
    async with telegram_webhook(settings, fake, clock) as (app, _channel, client):
        assert (await post(client, update)).status_code == 200
        answers = len(fake.calls_of("sendMessage", chat_id=6101))
        assert (await post(client, update)).status_code == 200  # Telegram sent it again
        assert await uses(app, "HUNG05") == 1 and await version(app, "telegram", "6101") == 1
        assert len(fake.calls_of("sendMessage", chat_id=6101)) == answers  # and no second answer
    async with telegram_webhook(settings, fake, clock) as (app, _channel, client):  # restarted
        assert (await post(client, update)).status_code == 200
        assert await uses(app, "HUNG05") == 1 and await version(app, "telegram", "6101") == 1
        # This process cannot know that the first one answered: the stored answer goes out again,
        # rather than risking that the person never gets it.
        resent = fake.calls_of("sendMessage", chat_id=6101)[answers:]
        assert resent and "Đăng ký thành công" in resent[0].params["text"]


async def test_the_webhook_answers_only_once_the_update_is_handled_and_answered(
        settings: Settings, fake: FakeTelegram, clock: Any) -> None:
    async with telegram_webhook(settings, fake, clock) as (app, _channel, client):
        fake.slow("sendMessage", 1.0, chat_id=6102)
        started = time.monotonic()
        assert (await post(client, registering(fake, 6102))).status_code == 200
        assert time.monotonic() - started >= 1.0  # the answer waited for the reply to go out
        assert await uses(app, "HUNG05") == 1  # committed before Telegram was told
        assert [c.status for c in fake.calls_of("sendMessage", chat_id=6102)][:1] == [200]


async def test_a_slow_update_gets_a_500_and_its_retry_no_second_effect(
        settings: Settings, fake: FakeTelegram, clock: Any) -> None:
    async with telegram_webhook(settings, fake, clock) as (app, channel, client):
        channel.webhook.answer_seconds = 0.3
        fake.slow("sendMessage", 1.5, chat_id=6103)
        update = registering(fake, 6103)
        assert (await post(client, update)).status_code == 500  # Telegram will send it again
        # Sent again while the first is still in hand: it waits for that one, it is not started twice.
        assert (await post(client, update)).status_code == 500
        await eventually(lambda: len(fake.calls_of("sendMessage", chat_id=6103)) >= 1)
        channel.webhook.answer_seconds = 5
        assert (await post(client, update)).status_code == 200
        assert await uses(app, "HUNG05") == 1
        assert len(fake.calls_of("sendMessage", chat_id=6103)) == 1  # one answer only


async def test_while_stopping_the_webhook_answers_503_and_handles_nothing(
        settings: Settings, fake: FakeTelegram, clock: Any) -> None:
    async with telegram_webhook(settings, fake, clock) as (app, channel, client):
        await channel.close_intake(1)
        assert (await post(client, registering(fake, 6104))).status_code == 503  # Telegram retries later
        assert await uses(app, "HUNG05") == 0 and not fake.calls_of("sendMessage", chat_id=6104)


# --- Zalo ----------------------------------------------------------------------------------------

@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as server:
        yield server


async def test_a_zalo_message_polled_twice_is_handled_once_also_after_a_restart(
        database_url: str, tmp_path: Path, zalo: FakeZaloApi, clock: Any) -> None:
    joining = zalo.text("a1a1a1a1a1a1a1a1a1a1", "/start TT3DAN")
    settings = zalo_settings(database_url, tmp_path, zalo)
    async with zalo_running(settings, clock) as app:
        zalo.push(joining)
        zalo.push(joining)
        await settle(zalo, app.channels["zalo"])  # type: ignore[arg-type]
        assert await uses(app, "TT3DAN") == 1 and await version(app, "zalo", "a1a1a1a1a1a1a1a1a1a1") == 1
        assert len(zalo.texts_to("a1a1a1a1a1a1a1a1a1a1")) == 1
    async with zalo_running(settings, clock) as app:  # restarted, and Zalo delivers it once more
        zalo.push(joining)
        channel = app.channels["zalo"]
        await eventually(lambda: channel.processed == 1)  # type: ignore[attr-defined]
        assert await uses(app, "TT3DAN") == 1 and await version(app, "zalo", "a1a1a1a1a1a1a1a1a1a1") == 1


async def test_a_zalo_webhook_call_repeated_is_handled_once_also_after_a_restart(
        database_url: str, tmp_path: Path, zalo: FakeZaloApi, clock: Any) -> None:
    sock = free_socket()
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = zalo_settings(database_url, tmp_path, zalo, TOTRUONG_ZALO__MODE="webhook",
                             TOTRUONG_ZALO__WEBHOOK_SECRET=ZALO_SECRET, TOTRUONG_WEB__PUBLIC_URL=public)
    joining = zalo.text("b2b2b2b2b2b2b2b2b2b2", "/start TT3DAN")
    async with zalo_running(settings, clock, sock=sock) as app:
        await eventually(lambda: bool(zalo.webhook))
        hook = zalo.webhook["url"]
        first, second = await asyncio.gather(zalo.push_webhook(hook, joining, secret=ZALO_SECRET),
                                             zalo.push_webhook(hook, joining, secret=ZALO_SECRET))
        assert first.status_code == second.status_code == 200
        # Both answers came after the message was handled: its effect is there, once.
        assert await uses(app, "TT3DAN") == 1 and await version(app, "zalo", "b2b2b2b2b2b2b2b2b2b2") == 1
        assert len(zalo.texts_to("b2b2b2b2b2b2b2b2b2b2")) == 1
        await app.channels["zalo"].close_intake(1)  # type: ignore[attr-defined]
        stopping = await zalo.push_webhook(hook, zalo.text("b2b2b2b2b2b2b2b2b2b2", "/help"), secret=ZALO_SECRET)
        assert stopping.status_code == 503  # Zalo delivers it again later
    sock = free_socket()
    async with zalo_running(settings, clock, sock=sock) as app:  # restarted
        await eventually(lambda: bool(zalo.webhook))
        port = sock.getsockname()[1]
        again = await zalo.push_webhook(f"http://127.0.0.1:{port}/zalo/webhook", joining, secret=ZALO_SECRET)
        assert again.status_code == 200
        assert await uses(app, "TT3DAN") == 1 and await version(app, "zalo", "b2b2b2b2b2b2b2b2b2b2") == 1
