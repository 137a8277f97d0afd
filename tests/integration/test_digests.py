"""Scheduled digests: weekly on Monday 07:30 with the charts and the Excel file, daily only when
there were urgent incidents, monthly on the 1st — each once, through the outbox, and an official
can turn theirs off."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.bootstrap import build
from models.repos import Repo
from tests.helpers import Chat
from tests.integration.test_reports import leader_files_an_incident

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


async def received(app, user: str) -> list[dict]:
    await app.dispatcher.drain()
    return await app.simulator.messages_after(user, 0)


async def test_the_weekly_digest_arrives_once_on_monday_morning(app, clock, settings) -> None:
    async with app.sessions() as session, session.begin():  # last week's figures: something to chart
        repo = Repo(session)
        reporter = await repo.find_who("sim", "demo-topho")
        await repo.add_report(form_key="an_ninh_vu_viec", form_version=1, task="an_ninh",
                              unit=await repo.unit_by_code("HC-TT3"), reporter_id=reporter.person_id,
                              data={"loai": "trom_cap"}, at=local(2026, 11, 18, 9, 0))
    clock.current = local(2026, 11, 23, 7, 0)  # Monday
    await app.run_digests()
    assert await received(app, "demo-canbo") == []  # the daily digest: no incident, nothing at all
    clock.current = local(2026, 11, 23, 7, 31)
    assert await app.run_digests() > 0
    digest = await received(app, "demo-canbo")
    texts = "\n".join(m["text"] for m in digest)
    assert "Phường Hải Châu" in texts
    assert any(m["photo_url"] for m in digest) and any(m["document_url"] for m in digest)
    count = len(digest)
    again = build(settings, clock=clock)  # a second instance, or a restart, at the same moment
    try:
        clock.advance(minutes=1)
        assert await again.run_digests() == 0
        assert await app.run_digests() == 0
    finally:
        await again.stop()
    assert len(await received(app, "demo-canbo")) == count


async def test_the_daily_digest_lists_yesterdays_urgent_incidents(app, clock) -> None:
    clock.current = local(2026, 11, 22, 20, 0)
    _leader, code = await leader_files_an_incident(app)
    clock.current = local(2026, 11, 23, 6, 55)
    await app.run_digests()
    clock.current = local(2026, 11, 23, 7, 5)
    await app.run_digests()
    daily = [m for m in await received(app, "demo-canbo") if code in m["text"] and "TIN KHẨN" not in m["text"]]
    assert len(daily) == 1


async def test_an_official_turns_the_weekly_digest_off(app, clock) -> None:
    official = Chat(app, "demo-canbo")
    choices = await official.press_id("m.dg")
    assert "⚙️ Bản tin tự động" in choices and "✅ Hằng tuần: tóm tắt, biểu đồ, Excel" in official.labels
    await official.press("Hằng tuần")
    assert "▫️ Hằng tuần: tóm tắt, biểu đồ, Excel" in official.labels
    assert "Chức năng này không dành cho tài khoản của bạn" in await Chat(app, "demo-nguoidan").press_id("m.dg")
    clock.current = local(2026, 11, 23, 7, 31)
    await app.run_digests()
    assert await received(app, "demo-canbo") == []
    assert any(m["document_url"] for m in await received(app, "demo-thanhpho"))  # the city official still gets it
