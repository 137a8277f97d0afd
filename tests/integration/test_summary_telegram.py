"""A weekly digest reaches an official on Telegram through the fake Bot API: the headline first
with its inline [📋 Xem chi tiết], then each chart as its own sendPhoto (1080 pixels wide), then
the Excel file; a photo Telegram fails once is sent again, and no chart is sent twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.channels.telegram.channel import TelegramChannel
from models.repos import Repo
from models.settings import Settings
from models.tables import Identity, Outbox
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest_telegram import person, point_at, running

MONDAY = datetime(2026, 11, 23, 0, 31, tzinfo=UTC)  # 07:31 in Đà Nẵng, after the weekly digest's time


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


async def test_the_weekly_digest_on_telegram_sends_each_chart_once_as_its_own_photo(
        app, clock, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        official = (await session.scalars(select(Identity).where(Identity.external_id == "demo-canbo"))).one()
        session.add(Identity(person_id=official.person_id, channel="telegram", external_id="5040", chat_id="5040",
                             display_name="Tuấn"))
        reporter = await repo.find_who("sim", "demo-topho")
        for day, form, task in ((17, "an_ninh_vu_viec", "an_ninh"), (18, "ve_sinh_diem_den", "ve_sinh")):
            await repo.add_report(form_key=form, form_version=1, task=task,
                                  unit=await repo.unit_by_code("HC-TT3"), reporter_id=reporter.person_id,
                                  data={"loai": "trom_cap"}, at=datetime(2026, 11, day, 3, tzinfo=UTC))
    tuan = person(fake, telegram, 5040, "Tuấn")
    fake.fail("sendPhoto", 500, "Internal Server Error", chat_id=5040)  # the first chart, once
    clock.current = MONDAY
    assert await app.run_digests() > 0
    await app.dispatcher.drain()
    clock.advance(minutes=10)
    await app.dispatcher.drain()
    sent = fake.sent_to(5040)
    photos = [m for m in sent if m.get("photo")]
    assert sent[0]["text"].startswith("📊 Phường Hải Châu · Tuần 16/11–22/11/2026\n")
    assert len(sent[0]["text"].splitlines()) <= 5
    assert [b["text"] for row in sent[0]["reply_markup"]["inline_keyboard"] for b in row] == ["📋 Xem chi tiết"]
    assert [m["caption"].split("\n")[0] for m in photos] == [
        "📈 Biểu đồ 1/3: Số báo cáo theo đơn vị", "📈 Biểu đồ 2/3: An ninh trật tự: số báo cáo",
        "📈 Biểu đồ 3/3: Vệ sinh môi trường: số báo cáo"]
    assert sent[-1].get("document")  # the Excel file last
    ok = [c for c in fake.calls_of("sendPhoto", chat_id=5040) if c.status == 200]
    assert len(ok) == 3 and len(fake.calls_of("sendPhoto", chat_id=5040)) == 4  # one failure, sent again once
    async with app.sessions() as session:
        statuses = (await session.scalars(select(Outbox.status).where(Outbox.chat_id == "5040"))).all()
    assert set(statuses) == {"sent"} and len(statuses) == len(sent)
    # [Xem chi tiết] on Telegram: the whole text.
    await tuan.press("Xem chi tiết")
    assert fake.sent_to(5040)[-1]["text"].startswith("📊 Tóm tắt: Phường Hải Châu\nTuần 16/11–22/11/2026\n")
