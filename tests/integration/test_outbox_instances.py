"""Several dispatchers on one database, and stopping: the bot's rate and the per-chat gap hold for
all instances together, a stopped or silent instance's rows are taken up at once (only those in
flight count as possible duplicates), and an urgent alert that cannot be delivered goes up a level."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.bootstrap import build
from handlers.messages import Reply
from handlers.ports import BlockedByUser
from models import outbox as rows
from models.tables import Identity, Outbox, OutboxInstance
from tests.integration.test_notices import fake_residents, inbox, send_notice
from tests.integration.test_reports import leader_files_an_incident


class TimedSender:
    """A channel that takes `seconds` per message and notes when each one arrived."""

    def __init__(self, seconds: float = 0.0, fail: type[Exception] | None = None) -> None:
        self.seconds = seconds
        self.fail = fail
        self.arrived: list[tuple[str, float]] = []

    async def send(self, chat_id: str, replies) -> list[str]:
        if self.fail is not None:
            raise self.fail(chat_id)
        await asyncio.sleep(self.seconds)
        self.arrived.append((chat_id, time.monotonic()))
        return [f"m{len(self.arrived)}"]

    @property
    def copies(self) -> Counter[str]:
        return Counter(chat for chat, _at in self.arrived)


def configure(app, sender: TimedSender, **outbox) -> None:
    app.dispatcher.senders["fake"] = sender
    app.dispatcher.settings = app.dispatcher.settings.model_copy(update={
        "rates": {"fake": 5_000, "sim": 5_000}, "per_chat_seconds": {}, "heartbeat_seconds": 0.2, **outbox})


async def statuses(app) -> Counter[str]:
    async with app.sessions() as session:
        return Counter((await session.scalars(select(Outbox.status).where(Outbox.channel == "fake"))).all())


async def test_two_instances_keep_the_bots_rate_together(app, clock, settings) -> None:
    sender = TimedSender()
    second = build(settings, clock=clock)
    try:
        for instance in (app, second):
            configure(instance, sender, rates={"fake": 40, "sim": 5_000}, batch=30)
        await fake_residents(app, 160)
        await send_notice(app, "Hai máy, một bot, một giới hạn.")
        await asyncio.gather(app.dispatcher.drain(), second.dispatcher.drain())
    finally:
        await second.stop()
    assert sender.copies == Counter({f"c{n}": 1 for n in range(160)})
    times = sorted(at for _chat, at in sender.arrived)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 40 * 0.6 <= rate <= 40 * 1.2, rate  # each instance alone would send 40 a second


async def test_two_instances_keep_the_gap_between_messages_to_one_chat(app, clock, settings) -> None:
    sender = TimedSender()
    second = build(settings, clock=clock)
    try:
        for instance in (app, second):
            configure(instance, sender, per_chat_seconds={"fake": 0.3}, batch=2)
        [person_id] = await fake_residents(app, 1)
        for n in range(6):
            await app.deliver_to_person(person_id, [Reply(f"Tin số {n}")])
        await asyncio.gather(app.dispatcher.drain(), second.dispatcher.drain())
    finally:
        await second.stop()
    times = [at for _chat, at in sender.arrived]
    assert len(times) == 6
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.25


async def test_stop_finishes_sends_in_flight_and_gives_the_rest_back_at_once(app, clock, settings) -> None:
    sender = TimedSender(seconds=0.3)
    configure(app, sender, concurrency=2, stop_seconds=3)
    await fake_residents(app, 20)
    await send_notice(app, "Dừng giữa chừng.")
    app.dispatcher.start()
    for _ in range(500):
        if len(sender.arrived) >= 4:
            break
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await app.dispatcher.stop()
    assert time.monotonic() - started < 2
    counts = await statuses(app)
    assert set(counts) <= {"sent", "pending"} and counts["sent"] == len(sender.arrived) >= 4  # none left held
    restarted = build(settings, clock=clock)  # the clock does not move: no lease runs out
    try:
        configure(restarted, sender)
        await restarted.dispatcher.drain()
    finally:
        await restarted.stop()
    assert sender.copies == Counter({f"c{n}": 1 for n in range(20)})


async def test_a_silent_instances_rows_are_taken_up_at_once(app, clock, caplog: pytest.LogCaptureFixture) -> None:
    sender = TimedSender()
    configure(app, sender)
    await fake_residents(app, 10)
    await send_notice(app, "Máy kia đã tắt.")
    async with app.sessions() as session, session.begin():
        session.add(OutboxInstance(name="gone", seen_at=datetime.now(UTC) - timedelta(seconds=30)))
        held = await rows.claim(session, now=clock.now(), limit=100, lease_seconds=120, instance="gone",
                                channels=["fake"])
        # Its last two requests were going out when it went silent.
        await rows.mark_sending(await session.connection(), [held[0].id, held[1].id], instance="gone")
    with caplog.at_level(logging.WARNING, logger="scheduler.dispatcher"):
        await app.dispatcher.drain()  # the lease has 120 s to go
    assert sender.copies == Counter({f"c{n}": 1 for n in range(10)})
    warned = [r.getMessage() for r in caplog.records if "possible duplicate" in r.getMessage()]
    assert len(warned) == 2 and all(f"outbox {held[i].id} " in " ".join(warned) for i in (0, 1))


async def test_an_urgent_alert_that_cannot_be_delivered_goes_up_and_the_reporter_is_told(app, clock) -> None:
    # The ward official on duty blocked the bot on the only channel they use.
    async with app.sessions() as session, session.begin():
        official = (await session.scalars(select(Identity).where(Identity.external_id == "demo-canbo"))).one()
        official.channel, official.chat_id = "fake", "canbo"
    app.dispatcher.senders["fake"] = TimedSender(fail=BlockedByUser)
    _leader, code = await leader_files_an_incident(app)
    city = await inbox(app, "demo-thanhpho")
    assert len(city) == 1 and f"🚨 TIN KHẨN {code}" in city[0]["text"]
    assert "⚠️ Tin khẩn không gửi được tới Anh Phạm Minh Tuấn (Phường Hải Châu); chuyển tới bạn." in city[0]["text"]
    told = (await inbox(app, "demo-totruong"))[-1]["text"]
    assert told.startswith("⚠️ «Báo tin khẩn» ")
    assert (f"chưa tới được Anh Phạm Minh Tuấn; đã chuyển tới cán bộ Thành phố Đà Nẵng. Mã báo cáo: {code}"
            in told) and "115 Cấp cứu" in told
    # The escalation job does not send it to the city a second time.
    clock.advance(minutes=16)
    await app.escalate_incidents()
    assert len([m for m in await inbox(app, "demo-thanhpho") if code in m["text"]]) == 1
