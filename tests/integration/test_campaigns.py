"""Campaigns under an injected clock: a weekly campaign over three months gives exactly the
expected occurrences; a restart in the middle and a second scheduler send nothing twice; missed
moments are sent late within the grace window or recorded as skipped; the follow-up opens the
form with the date; the report deadline reminds, nudges and tells the ward; an edit between two
events moves the next ones."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from bot.bootstrap import build
from models.codes import new_code
from models.repos import Repo
from models.tables import Campaign, Occurrence, Outbox, Report
from tests.helpers import Chat

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


async def pause_config_campaigns(app) -> None:
    async with app.sessions() as session, session.begin():
        await session.execute(update(Campaign).values(status="paused"))


async def add_campaign(app, clock, **fields) -> int:
    async with app.sessions() as session, session.begin():
        unit = await Repo(session).unit_by_code(fields.pop("unit", "20242"))
        campaign = Campaign(code=new_code(6), name=fields.pop("name", "Tổng vệ sinh kiệt hẻm"), unit_id=unit.id,
                            unit_path=unit.path, created_at=clock.now(), updated_at=clock.now(), **fields)
        session.add(campaign)
        await session.flush()
        return campaign.id


SUNDAY = {"kind": "weekly", "weekday": 6, "time": "07:00"}
REMINDERS = [{"days_before": 1, "time": "19:00"}, {"days_before": 0, "time": "06:30"}]
FOLLOW = {"hours_after": 3, "form": "ve_sinh_chu_nhat_xanh"}


async def run_until(app, clock, end: datetime, step: timedelta = timedelta(minutes=30)) -> None:
    while clock.current < end:
        clock.advance(seconds=step.total_seconds())
        await app.run_campaigns()


async def occurrences(app, campaign_id: int) -> list[Occurrence]:
    async with app.sessions() as session:
        return list((await session.scalars(select(Occurrence).where(Occurrence.campaign_id == campaign_id)
                                           .order_by(Occurrence.due_at))).all())


async def test_a_weekly_campaign_over_three_months_with_a_restart(app, clock, settings) -> None:
    await pause_config_campaigns(app)
    clock.current = local(2026, 11, 1, 0, 0)
    cid = await add_campaign(app, clock, audience="both", schedule=SUNDAY, reminders=REMINDERS, follow_up=FOLLOW)
    await run_until(app, clock, local(2026, 12, 15, 12, 0), step=timedelta(hours=1))
    await app.stop()  # a restart in the middle: a new process knows nothing of the old one's marks
    app2 = build(settings, clock=clock)
    try:
        await run_until(app2, clock, local(2027, 1, 31, 23, 0), step=timedelta(hours=1))
        found = await occurrences(app2, cid)
    finally:
        await app2.stop()
    reminders = [o for o in found if o.step == "reminder"]
    follow_ups = [o for o in found if o.step == "follow_up"]
    sundays = sorted({o.event_at for o in found})
    assert len(sundays) == 14  # five Sundays in November, four in December, five in January
    assert [s.astimezone(TZ).day for s in sundays if s.astimezone(TZ).month == 11] == [1, 8, 15, 22, 29]
    assert len(follow_ups) == 14 and len(reminders) == 27  # no Saturday reminder before the campaign began
    assert all(o.status == "sent" for o in found)
    assert {o.due_at.astimezone(TZ).strftime("%a %H:%M") for o in reminders} == {"Sat 19:00", "Sun 06:30"}
    assert {o.due_at.astimezone(TZ).strftime("%a %H:%M") for o in follow_ups} == {"Sun 10:00"}
    assert found[-1].event_at == local(2027, 1, 31, 7, 0)
    assert len({o.key for o in found}) == len(found)
    # Each moment reached each recipient once: the demo resident (27 reminders) and the deputy of
    # Thạch Thang 3 (27 reminders and 14 follow-ups, which go to leaders only).
    async with app2.sessions() as session:
        keys = (await session.scalars(select(Outbox.key).where(Outbox.key.like("occ:%")))).all()
    per_identity = Counter(key.rsplit(":i", 1)[1] for key in keys)
    assert sorted(per_identity.values()) == [27, 41]


async def test_moments_missed_while_down_are_sent_late_within_grace_or_skipped(app, clock) -> None:
    await pause_config_campaigns(app)
    clock.current = local(2026, 12, 4, 12, 0)
    cid = await add_campaign(app, clock, audience="residents", schedule=SUNDAY, reminders=REMINDERS,
                             follow_up=FOLLOW)
    await app.run_campaigns()
    clock.current = local(2026, 12, 6, 7, 10)  # down from Friday noon to Sunday 07:10
    await app.run_campaigns()
    found = await occurrences(app, cid)
    by_time = {o.due_at.astimezone(TZ).strftime("%a %H:%M"): o for o in found}
    assert by_time["Sat 19:00"].status == "skipped" and "grace 60" in by_time["Sat 19:00"].reason
    assert by_time["Sun 06:30"].status == "sent" and by_time["Sun 06:30"].recipients == 1  # 40 min late
    await app.dispatcher.drain()
    inbox = await app.simulator.messages_after("demo-nguoidan", 0)
    assert any("🔔 Nhắc lịch: Tổng vệ sinh kiệt hẻm" in m["text"] and "Chủ nhật 06/12/2026 lúc 07:00" in m["text"]
               for m in inbox)


async def test_two_schedulers_on_one_database_send_each_moment_once(app, clock, settings) -> None:
    await pause_config_campaigns(app)
    clock.current = local(2026, 11, 21, 18, 0)
    cid = await add_campaign(app, clock, audience="both", schedule=SUNDAY, reminders=REMINDERS, follow_up=FOLLOW)
    second = build(settings, clock=clock)
    try:
        for _ in range(40):
            clock.advance(minutes=30)
            await asyncio.gather(app.run_campaigns(), second.run_campaigns())
        found = await occurrences(app, cid)
        async with app.sessions() as session:
            queued = await session.scalar(select(func.count()).select_from(Outbox).where(Outbox.key.like("occ:%")))
    finally:
        await second.stop()
    assert [o.step for o in found] == ["reminder", "reminder", "follow_up"]
    assert queued == sum(o.recipients for o in found) == 2 + 2 + 1  # both: resident + deputy; leaders: deputy


async def test_the_follow_up_opens_the_form_with_the_date(app, clock) -> None:
    await pause_config_campaigns(app)
    clock.current = local(2026, 11, 22, 9, 0)
    await add_campaign(app, clock, name="Ngày Chủ nhật Xanh - Sạch - Đẹp", audience="both", schedule=SUNDAY,
                       reminders=REMINDERS, follow_up=FOLLOW)
    clock.current = local(2026, 11, 22, 10, 5)
    await app.run_campaigns()
    await app.dispatcher.drain()
    message = (await app.simulator.messages_after("demo-topho", 0))[-1]
    assert message["text"] == ("📝 Hôm nay tổ mình làm «Ngày Chủ nhật Xanh - Sạch - Đẹp» thế nào? "
                               "Bấm «Báo cáo ngay» để gửi kết quả.")
    deputy = Chat(app, "demo-topho")
    opened = await deputy.press_id(message["buttons"][0][0]["id"])
    assert "Câu 2. Có bao nhiêu người tham gia?" in opened  # the date is already there
    assert "Tổ mình ra quân ngày nào?" in await deputy.press("Quay lại")
    await deputy.press("Hôm nay")
    for answer in ("30", "12"):
        await deputy.send(answer)
    await deputy.press("Quét dọn")
    await deputy.press("Xong")
    await deputy.press("Bỏ qua")
    await deputy.press("Không")
    await deputy.press("Tốt")
    await deputy.press("Bỏ qua")
    summary = await deputy.press("Bỏ qua")
    assert "• Ngày ra quân: 22/11/2026" in summary
    await deputy.press("Gửi báo cáo")
    async with app.sessions() as session:
        report = (await session.scalars(select(Report))).one()
    assert report.data["ngay"] == "2026-11-22"
    # A resident cannot use a leader's follow-up.
    assert "chỉ dành cho tổ trưởng" in await Chat(app, "demo-nguoidan").press_id(message["buttons"][0][0]["id"])


async def test_the_report_deadline_reminds_nudges_and_tells_the_ward(app, clock) -> None:
    async with app.sessions() as session, session.begin():
        await session.execute(update(Campaign).where(Campaign.config_key != "han_bao_cao_thang")
                              .values(status="paused"))
        await session.execute(update(Campaign).values(created_at=local(2026, 12, 1, 0, 0),
                                                      updated_at=local(2026, 12, 1, 0, 0)))
        repo = Repo(session)
        group = await repo.unit_by_code("TK-XH9")  # Bà Mai's group files November's report in time
        who = await repo.find_who("sim", "demo-totruong-2")
        await repo.add_report(form_key="bao_cao_thang", form_version=1, task="dan_chu", unit=group,
                              reporter_id=who.person_id, data={"_month": "2026-11"}, at=local(2026, 12, 1, 9, 0))
    clock.current = local(2026, 12, 1, 0, 0)
    await run_until(app, clock, local(2026, 12, 2, 9, 0))
    await app.dispatcher.drain()
    deputy_inbox = await app.simulator.messages_after("demo-topho", 0)
    assert any("🗓️ Hạn nộp báo cáo tháng 11/2026 là 05/12/2026. Tổ dân phố Thạch Thang 3 chưa gửi." == m["text"]
               for m in deputy_inbox)
    assert not any("Hạn nộp" in m["text"] for m in await app.simulator.messages_after("demo-totruong-2", 0))
    await run_until(app, clock, local(2026, 12, 6, 9, 0))
    await app.dispatcher.drain()
    nudges = [m for m in await app.simulator.messages_after("demo-topho", 0) if "Đã quá hạn" in m["text"]]
    assert len(nudges) == 1 and nudges[0]["buttons"][0][0]["label"] == "🗓️ Báo cáo tháng"
    await run_until(app, clock, local(2026, 12, 8, 9, 0))
    await app.dispatcher.drain()
    official = [m for m in await app.simulator.messages_after("demo-canbo", 0) if "chưa nộp" in m["text"]]
    assert len(official) == 1
    text = official[0]["text"]
    assert text.startswith("📋 Phường Hải Châu: 4 tổ chưa nộp báo cáo tháng 11/2026 (hạn 05/12/2026):")
    assert "• Tổ dân phố Thạch Thang 3" in text
    thanh_khe = [m for m in await app.simulator.messages_after("demo-thanhpho", 0) if "chưa nộp" in m["text"]]
    assert thanh_khe == []  # the city's official is not a ward official
    assert not any("Xuân Hà 9" in m["text"] for m in official)


async def test_a_ward_with_many_groups_chooses_the_campaign_unit_page_by_page(app, clock) -> None:
    """The campaign wizard lists the units as the notice wizard does, eight to a page: a group on
    the second page can be chosen (it once showed the first twelve and no more)."""
    from models.units import UnitRow, import_units

    async with app.sessions() as session, session.begin():
        rows = [UnitRow(f"HC-N{n:02}", f"Tổ dân phố Hải Châu {n:02}", "group", "20242", 80) for n in range(1, 13)]
        await import_units(session, rows, levels=app.settings.units.levels)
    official = Chat(app, "demo-canbo")
    await official.press_id("m.cp")
    await official.press("Tạo chiến dịch")
    first = await official.send("Tổng vệ sinh kiệt hẻm")
    assert "Chiến dịch cho đơn vị nào?" in first
    assert "Tổ dân phố Hải Châu 12" not in official.labels and "Trang sau ▶️" in official.labels
    while "Tổ dân phố Hải Châu 12" not in official.labels:
        await official.press("Trang sau")
    assert "◀️ Trang trước" in official.labels
    assert "Nhắc ai?" in await official.press("Tổ dân phố Hải Châu 12")


async def test_a_campaign_edited_between_two_events(app, clock) -> None:
    await pause_config_campaigns(app)
    clock.current = local(2026, 11, 20, 0, 0)
    cid = await add_campaign(app, clock, audience="residents", schedule=SUNDAY, reminders=REMINDERS,
                             follow_up={})
    await run_until(app, clock, local(2026, 11, 24, 0, 0))
    async with app.sessions() as session, session.begin():
        campaign = await session.get(Campaign, cid)
        campaign.schedule = {**SUNDAY, "time": "08:00"}
        campaign.reminders = [{"days_before": 0, "time": "07:00"}]
        campaign.updated_at = clock.now()
    await run_until(app, clock, local(2026, 12, 1, 0, 0))
    found = await occurrences(app, cid)
    assert [o.due_at.astimezone(TZ).strftime("%d %H:%M") for o in found] == ["21 19:00", "22 06:30", "29 07:00"]
    assert found[-1].event_at == local(2026, 11, 29, 8, 0)


async def test_an_official_creates_lists_pauses_and_reads_the_record_of_a_campaign(app, clock) -> None:
    await pause_config_campaigns(app)
    clock.current = local(2026, 11, 23, 9, 0)  # a Monday
    official = Chat(app, "demo-canbo")
    listing = await official.press_id("m.cp")
    assert "🗓️ Chiến dịch trong địa bàn (4)" in listing  # the city's defaults reach the ward
    assert any(label.startswith("Ngày Chủ nhật Xanh - Sạch - Đẹp · ⏸ tạm dừng") for label in official.labels)
    await official.press("Tạo chiến dịch")
    assert "Tên cần từ 3 đến 120 ký tự" in await official.send("x")
    await official.send("Tổng vệ sinh kiệt hẻm")
    assert "Tổ dân phố Xuân Hà 9" not in " ".join(official.labels)
    await official.press("Tổ dân phố Thạch Thang 3")
    await official.press("Toàn thể người dân")
    await official.press("Hằng tuần")
    await official.press("Thứ Bảy")
    assert "Không đọc được giờ «sáng sớm»" in await official.send("sáng sớm")
    await official.send("7h")
    await official.press("Sáng hôm đó 06:30")
    await official.press("Không cần")
    await official.press("Không có ngày kết thúc")
    preview = await official.press("Tạo chiến dịch")
    assert "✅ Đã tạo chiến dịch «Tổng vệ sinh kiệt hẻm»." in preview
    assert "Lịch: Hằng tuần, Thứ Bảy lúc 07:00" in preview and "Lần tới: Thứ Bảy 28/11/2026 lúc 07:00" in preview
    assert "Chưa có lần nhắc nào." in preview
    clock.current = local(2026, 11, 28, 6, 35)
    await app.run_campaigns()
    await official.press("Danh sách chiến dịch")
    await official.press("Tổng vệ sinh kiệt hẻm")
    assert "• 06:30 28/11/2026 · Nhắc · đã gửi 1 người" in official.text
    await official.press("Tạm dừng")
    assert "Trạng thái: tạm dừng" in official.text
    await official.press("Đổi giờ")
    await official.send("08:00")
    assert "Lịch: Hằng tuần, Thứ Bảy lúc 08:00" in official.text
    # Another ward's official cannot manage it.
    async with app.sessions() as session:
        cid = (await session.scalars(select(Campaign.id).where(Campaign.name == "Tổng vệ sinh kiệt hẻm"))).one()
    leader = Chat(app, "demo-totruong-2")  # not an official: the route table refuses before anything runs
    assert "Chức năng này không dành cho tài khoản của bạn." in await leader.press_id(f"m.cps.{cid}")
    city = Chat(app, "demo-thanhpho")  # the city covers the ward: may read and manage it
    assert "Tổng vệ sinh kiệt hẻm" in await city.press_id(f"m.cv.{cid}") and "▶️ Tiếp tục" in city.labels
