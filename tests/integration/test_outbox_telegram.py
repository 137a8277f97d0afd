"""Deliveries through a Telegram Bot API that refuses or answers late: an urgent incident whose
photo Telegram refuses still reaches the official (the text, with a note), a text refused for its
form is cleaned and sent, and slow answers give nobody an extra copy."""

from __future__ import annotations

import asyncio
import io
import logging
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from sqlalchemy import select

from bot.bootstrap import build
from bot.channels.telegram.channel import TelegramChannel
from handlers.messages import Button, Reply, rows
from models.repos import Repo
from models.settings import Settings
from models.tables import Identity, Outbox, Person, RoleAssignment
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest_telegram import person, point_at, running

NOTE = "📷 (Không gửi kèm được ảnh/tệp qua ứng dụng này; ảnh/tệp có trong báo cáo trên hệ thống.)"
TEXT = "Thông báo: chiều nay 17:00 cắt điện khu vực đường Lê Duẩn."


def tall_png() -> bytes:
    """A real PNG Telegram refuses as a photo: 40 × 1000 pixels (PHOTO_INVALID_DIMENSIONS)."""
    out = io.BytesIO()
    Image.new("RGB", (40, 1000), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


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


async def telegram_residents(app, count: int, first: int = 6000) -> list[int]:
    """Residents of Thạch Thang 3 on Telegram (numeric chat ids, as Telegram has)."""
    async with app.sessions() as session, session.begin():
        group = await Repo(session).unit_by_code("HC-TT3")
        chats = []
        for n in range(count):
            someone = Person(name=f"Cư dân {n}")
            session.add(someone)
            await session.flush()
            chat = first + n
            session.add(Identity(person_id=someone.id, channel="telegram", external_id=str(chat), chat_id=str(chat)))
            session.add(RoleAssignment(person_id=someone.id, unit_id=group.id, role="resident"))
            chats.append(chat)
    return chats


async def queue_for_everyone(app, chats: list[int], text: str) -> None:
    async with app.sessions() as session:
        people = (await session.scalars(select(Identity.person_id).where(
            Identity.channel == "telegram", Identity.external_id.in_([str(c) for c in chats])))).all()
    for person_id in people:
        await app.deliver_to_person(person_id, [Reply(text)])


async def test_an_urgent_incident_whose_photo_is_refused_reaches_the_official_as_text(
        app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    # Anh Tuấn, the ward official on duty in the demo, uses Telegram.
    async with app.sessions() as session, session.begin():
        official = (await session.scalars(select(Identity).where(Identity.external_id == "demo-canbo"))).one()
        session.add(Identity(person_id=official.person_id, channel="telegram", external_id="5020", chat_id="5020",
                             display_name="Tuấn"))
    tuan, hung = person(fake, telegram, 5020, "Tuấn"), person(fake, telegram, 5021, "Hùng")
    await hung.send("/start HUNG05")
    await hung.press("Báo tin khẩn")
    await hung.press("Cháy, nổ")
    await hung.location(16.0718, 108.2204)
    assert "🚨" in await hung.photo(tall_png())
    await app.dispatcher.drain()

    assert [c.status for c in fake.calls_of("sendPhoto", chat_id=tuan.id)] == [400]
    incident = fake.sent_to(tuan.id)[-1]
    assert "TIN KHẨN" in incident["text"] and "Cháy, nổ" in incident["text"] and NOTE in incident["text"]
    assert incident["reply_markup"]["inline_keyboard"]  # the buttons still work
    async with app.sessions() as session:
        row = (await session.scalars(select(Outbox).where(Outbox.channel == "telegram",
                                                          Outbox.chat_id == "5020"))).one()
    assert row.status == "sent" and row.message_id == str(incident["message_id"])
    await tuan.press("Đã tiếp nhận")
    await app.dispatcher.drain()
    assert "tiếp nhận" in fake.sent_to(hung.id)[-1]["text"]


async def test_texts_refused_for_their_form_are_cleaned_and_sent(app, fake: FakeTelegram,
                                                                telegram: TelegramChannel) -> None:
    # Broken characters (a lone surrogate): Telegram answers "strings must be encoded in UTF-8".
    ids = await telegram.send("5030", [Reply("Họp tổ \ud800lúc 19:30", rows([Button("m.help", "❓ Hướng dẫn")]))])
    sent = fake.sent_to(5030)
    assert [m["text"] for m in sent] == ["Họp tổ lúc 19:30"] and ids == [str(sent[0]["message_id"])]
    assert sent[0]["reply_markup"]["inline_keyboard"]
    # "message is too long" (a limit Telegram may count differently): cut, and sent.
    fake.fail("sendMessage", 400, "Bad Request: message is too long", chat_id=5031)
    ids = await telegram.send("5031", [Reply("Lịch trực " + "x" * 3000)])
    sent = fake.sent_to(5031)
    assert len(sent) == 1 and sent[0]["text"].startswith("Lịch trực xxx") and sent[0]["text"].endswith("…")
    assert len(sent[0]["text"]) < 3000 and ids == [str(sent[0]["message_id"])]
    # A refusal that no cleaning fixes ends the row: failed, never sent.
    fake.fail("sendMessage", 400, "Bad Request: chat not found", chat_id=5032, times=2)
    await telegram_residents(app, 1, first=5032)
    await queue_for_everyone(app, [5032], TEXT)
    await app.dispatcher.drain()
    async with app.sessions() as session:
        row = (await session.scalars(select(Outbox).where(Outbox.chat_id == "5032"))).one()
    assert row.status == "failed" and "chat not found" in row.error.lower() and row.message_id == ""


async def test_slow_answers_give_no_extra_copy(app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    chats = await telegram_residents(app, 8)
    fake.slow("sendMessage", 6, times=8)  # longer than python-telegram-bot's default 5 s read timeout
    await queue_for_everyone(app, chats, TEXT)
    started = asyncio.get_running_loop().time()
    await app.dispatcher.drain()
    await asyncio.sleep(max(0.0, started + 7 - asyncio.get_running_loop().time()))  # every slow answer is in
    copies = Counter(c.chat_id for c in fake.calls_of("sendMessage") if c.params.get("text") == TEXT)
    assert copies == Counter({chat: 1 for chat in chats})
    async with app.sessions() as session:
        statuses = (await session.scalars(select(Outbox.status).where(Outbox.channel == "telegram"))).all()
    assert set(statuses) == {"sent"}


async def test_a_send_without_an_answer_is_retried_only_after_a_pause(
        app, fake: FakeTelegram, telegram: TelegramChannel, settings: Settings, clock,
        caplog: pytest.LogCaptureFixture) -> None:
    hurried = settings.model_copy(deep=True)
    hurried.outbox = hurried.outbox.model_copy(update={"send_timeout_seconds": 0.5})
    second = build(hurried, clock=clock)  # an instance whose client gives up after 0.5 s
    channel = second.channels["telegram"]
    assert isinstance(channel, TelegramChannel)
    await channel.bot.initialize()
    try:
        chats = await telegram_residents(app, 1)
        fake.slow("sendMessage", 1.5, chat_id=chats[0])
        await queue_for_everyone(app, chats, TEXT)
        with caplog.at_level(logging.WARNING, logger="scheduler.dispatcher"):
            await second.dispatcher.drain()
            await asyncio.sleep(1.5)  # the late answer arrives
            assert len(fake.calls_of("sendMessage", chat_id=chats[0])) == 1  # not sent again at once
            clock.advance(seconds=10)
            await second.dispatcher.drain()
            assert len(fake.calls_of("sendMessage", chat_id=chats[0])) == 1  # nor soon after
        assert any("possible duplicate" in r.getMessage() and "got no answer" in r.getMessage()
                   for r in caplog.records)
        async with app.sessions() as session:
            row = (await session.scalars(select(Outbox).where(Outbox.chat_id == str(chats[0])))).one()
        assert row.status == "retry" and row.attempts == 1
        clock.advance(seconds=200)  # after the pause it is tried again (and logged above as possible duplicate)
        await second.dispatcher.drain()
        assert len(fake.calls_of("sendMessage", chat_id=chats[0])) == 2
    finally:
        await second.stop()


async def test_a_retry_sends_only_the_pieces_that_did_not_go(app, fake: FakeTelegram, telegram: TelegramChannel,
                                                             clock) -> None:
    [chat] = await telegram_residents(app, 1)
    async with app.sessions() as session, session.begin():
        photo = await app.files.save(Repo(session), content=small_png(), mime="image/png", uploader=None)
    long_text = "Bản đồ khu vực cắt điện.\n\n" + "Các tuyến đường: Lê Duẩn, Trần Phú, Bạch Đằng. " * 40
    async with app.sessions() as session:
        person_id = (await session.scalars(select(Identity.person_id).where(Identity.chat_id == str(chat)))).one()
    await app.deliver_to_person(person_id, [Reply(long_text, photo_id=photo)])  # a photo, then the text
    fake.fail("sendMessage", 500, "Internal Server Error", chat_id=chat, times=2)
    await app.dispatcher.drain()
    async with app.sessions() as session:
        row = (await session.scalars(select(Outbox).where(Outbox.chat_id == str(chat)))).one()
    assert row.status == "retry" and row.progress == 1 and row.message_id  # the photo went, its id is kept
    clock.advance(minutes=10)
    await app.dispatcher.drain()
    assert len(fake.calls_of("sendPhoto", chat_id=chat)) == 1  # not sent again
    sent = fake.sent_to(chat)
    assert [bool(m.get("photo")) for m in sent] == [True] + [False] * (len(sent) - 1) and len(sent) >= 2
    async with app.sessions() as session:
        row = (await session.scalars(select(Outbox).where(Outbox.chat_id == str(chat)))).one()
    assert row.status == "sent" and row.message_id.split(",") == [str(m["message_id"]) for m in sent]


def small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()
