"""Deliveries through a Zalo Bot API that fails: a row is `sent` only with Zalo's message id, and
every recipient gets the notice exactly once through 5xx storms, long 429 pauses and `ok: false`
answers; a message Zalo refuses for good ends `failed`, never `sent`."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.channels.zalo.client import Backoff
from handlers.messages import Reply
from models.repos import Repo
from models.tables import Outbox
from tests.fakes.zalo_api import FakeZaloApi
from tests.integration.test_notices import fake_residents, send_notice
from tests.integration.test_zalo import PNG, fake, running, zalo_settings

__all__ = ["fake"]
TEXT = "Thông báo: sáng thứ bảy phun thuốc diệt muỗi, bà con đóng kín cửa."


async def zalo_rows(app: Any) -> list[Outbox]:
    async with app.sessions() as session:
        return list((await session.scalars(select(Outbox).where(Outbox.channel == "zalo"))).all())


async def deliver(app: Any, clock: Any, *, within: float = 60) -> list[Outbox]:
    """Lets the running dispatcher work while time passes, until no Zalo row waits."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await zalo_rows(app)
        if found and all(row.status not in ("pending", "retry", "claimed", "sending") for row in found):
            return found
        clock.advance(seconds=5)
        app.dispatcher.wake()
        await asyncio.sleep(0.2)
    raise AssertionError("the delivery did not finish")


def each_once(fake: FakeZaloApi, chats: set[str]) -> Counter[str]:
    return Counter(s.chat_id for s in fake.sent if TEXT in s.text and s.chat_id in chats)


async def residents_on_zalo(app: Any, count: int) -> set[str]:
    await fake_residents(app, count, channel="zalo")
    return {f"c{n}" for n in range(count)}


def sent_with_zalo_ids(fake: FakeZaloApi, found: list[Outbox]) -> None:
    """Every row is sent, with the id Zalo gave the message that reached that chat."""
    assert {row.status for row in found} == {"sent"}
    given = {s.chat_id: s.message_id for s in fake.sent if TEXT in s.text}
    assert all(row.message_id and row.message_id == given[row.chat_id] for row in found)


async def test_a_storm_of_5xx_during_a_delivery_loses_nobody(database_url: str, tmp_path: Path, fake: FakeZaloApi,
                                                             clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        chats = await residents_on_zalo(app, 50)
        fake.outage("sendMessage", 500, seconds=3, http_status=500, description="Internal Server Error")
        await send_notice(app, TEXT)
        found = await deliver(app, clock)
    assert each_once(fake, chats) == Counter({chat: 1 for chat in chats})
    sent_with_zalo_ids(fake, found)
    assert sum(1 for c in fake.calls if c.error == 500) > 50  # the storm was real


async def test_a_long_429_pause_sends_everyone_later_exactly_once(database_url: str, tmp_path: Path,
                                                                 fake: FakeZaloApi, clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        chats = await residents_on_zalo(app, 50)
        channel = app.channels["zalo"]
        # Longer than the client waits out (scaled down from production's minutes to seconds) and
        # than a delivery waits in-line: the rows go back to the outbox and come again.
        channel.client.backoff = Backoff(base=0.005, cap=0.05, attempts=6, rate_limited_for=3)
        fake.fail("sendMessage", 429, times=3, retry_after=4, description="Too many requests")
        await send_notice(app, TEXT)
        found = await deliver(app, clock)
    assert each_once(fake, chats) == Counter({chat: 1 for chat in chats})
    sent_with_zalo_ids(fake, found)


async def test_ok_false_answers_are_retried_until_zalo_takes_the_message(database_url: str, tmp_path: Path,
                                                                         fake: FakeZaloApi, clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        chats = await residents_on_zalo(app, 10)
        fake.fail("sendMessage", -201, times=40, description="Something went wrong")  # HTTP 200, ok: false
        await send_notice(app, TEXT)
        found = await deliver(app, clock)
    assert each_once(fake, chats) == Counter({chat: 1 for chat in chats})
    sent_with_zalo_ids(fake, found)


async def test_a_message_zalo_refuses_ends_failed_not_sent(database_url: str, tmp_path: Path, fake: FakeZaloApi,
                                                           clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        await residents_on_zalo(app, 1)
        fake.fail("sendMessage", 400, times=5, description="chat_id is invalid")
        await send_notice(app, TEXT)
        found = await deliver(app, clock)
    assert [(row.status, row.message_id) for row in found] == [("failed", "")]
    assert "refused" in found[0].error and "chat_id is invalid" in found[0].error
    assert not [s for s in fake.sent if TEXT in s.text]


async def test_a_photo_zalo_cannot_fetch_becomes_a_note_and_the_text_goes(database_url: str, tmp_path: Path,
                                                                          fake: FakeZaloApi, clock: Any) -> None:
    fake.fetch_photos = True  # Zalo fetches photos by URL; this address answers 404, so Zalo refuses (400)
    settings = zalo_settings(database_url, tmp_path, fake, TOTRUONG_WEB__PUBLIC_URL=fake.url)
    async with running(settings, clock) as app:
        [person_id] = await fake_residents(app, 1, channel="zalo")
        async with app.sessions() as session, session.begin():
            photo = await app.files.save(Repo(session), content=PNG, mime="image/png", uploader=None)
        await app.deliver_to_person(person_id, [Reply(TEXT, photo_id=photo)])
        found = await deliver(app, clock)
    assert [c.error for c in fake.calls if c.method == "sendPhoto"] == [400]
    texts = fake.texts_to("c0")
    assert texts == ["📷 (Không gửi kèm được ảnh/tệp qua ứng dụng này; ảnh/tệp có trong báo cáo trên hệ thống.)",
                     TEXT]
    assert [row.status for row in found] == ["sent"] and len(found[0].message_id.split(",")) == 2
