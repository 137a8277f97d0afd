"""Residents and notices: joining with the group's code, notices to a unit with a preview and the
sender told of progress, quiet hours, opt-out, feedback to the leader, and the outbox's handling
of 429 / 5xx / 403 from a channel."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from handlers.ports import BlockedByUser, RetryLater
from models.repos import Repo
from models.tables import Feedback, Identity, Outbox, Person, Report, RoleAssignment
from tests import images
from tests.helpers import Chat

PNG = images.png(color=(30, 120, 200, 128))  # a real image: photos are decoded
LAMP = "«Đèn đường kiệt 15 Lê Duẩn hỏng một tuần…»"  # the feedback named by its first words


async def inbox(app, user: str) -> list[dict]:
    await app.dispatcher.drain()
    return await app.simulator.messages_after(user, 0)


async def join_residents(app, count: int, code: str, prefix: str = "dan") -> list[Chat]:
    chats = []
    for n in range(count):
        chat = Chat(app, f"{prefix}-{n}", name=f"Cư dân {n}")
        assert "Bạn là người dân của Tổ dân phố Thạch Thang 3" in await chat.send(code)
        chats.append(chat)
    return chats


async def group_code(app) -> str:
    leader = Chat(app, "demo-topho")  # the deputy of Thạch Thang 3
    answer = await leader.press_id("m.inv")
    assert "👥 Mã để người dân tham gia Tổ dân phố Thạch Thang 3:" in answer
    code = answer.split(": ")[1].split()[0]
    assert code in await leader.press_id("m.inv")  # the same code every time
    return code


async def test_a_leader_notices_the_group_and_residents_read_it(app, clock) -> None:
    code = await group_code(app)
    residents = await join_residents(app, 3, code)
    leader = Chat(app, "demo-topho")
    assert "Gõ nội dung thông báo (tối đa 2.000 ký tự)." in await leader.press_id("m.nw")
    assert "Tin nhắn đang trống" in await leader.send("   ")
    assert "quá giới hạn 2.000" in await leader.send("x" * 2001)
    assert "Gửi một ảnh kèm thông báo" in await leader.send("Tối nay 19:30 họp tổ tại nhà văn hóa. <b>Đúng giờ</b>!")
    assert "Khi nào gửi?" in await leader.photo(PNG)
    preview = await leader.press("Gửi ngay")
    assert "Xem trước thông báo:" in preview and "Tối nay 19:30 họp tổ tại nhà văn hóa. <b>Đúng giờ</b>!" in preview
    assert "Gửi tới: Toàn thể người dân — Tổ dân phố Thạch Thang 3" in preview
    assert "Số người nhận: 4" in preview  # three new residents and the demo resident
    assert "Gửi xong trong: dưới 1 phút" in preview
    done = await leader.press("Gửi thông báo")
    assert "✅ Đã lên lịch gửi thông báo tới 4 người" in done
    received = await inbox(app, "dan-0")
    assert received[-1]["text"].startswith("📢 THÔNG BÁO — Tổ dân phố Thạch Thang 3")
    assert "<b>Đúng giờ</b>!" in received[-1]["text"] and received[-1]["photo_url"]
    assert "— Ông Hồ Văn Sáu" in received[-1]["text"]
    told = await inbox(app, "demo-topho")
    assert "✅ Đã gửi xong thông báo" in told[-1]["text"] and "4 người đã nhận" in told[-1]["text"]
    # A resident reads the latest notices on demand.
    latest = await residents[0].press_id("m.nt")
    assert "📢 1 thông báo gần nhất:" in latest and "họp tổ tại nhà văn hóa" in latest
    # Delivery report.
    await leader.press_id("m.ns")
    report = await leader.press("Tối nay")
    assert "Người nhận: 4" in report and "• Đã nhận: 4" in report


async def test_an_official_chooses_the_unit_and_audience_and_is_refused_outside_the_area(app, clock) -> None:
    code = await group_code(app)
    await join_residents(app, 2, code)
    official = Chat(app, "demo-canbo")
    choose = await official.press_id("m.nw")
    assert "Gửi cho đơn vị nào?" in choose and "🏛 Phường Hải Châu" in official.labels
    assert "Tổ dân phố Xuân Hà 9" not in " ".join(official.labels)  # another ward
    async with app.sessions() as session:
        outside = await Repo(session).unit_by_code("TK-XH9")
    forged = official.button_id("Phường Hải Châu").rsplit(".", 1)[0] + f".{outside.id}"
    assert "Hãy chọn một đơn vị trong danh sách." in await official.press_id(forged)
    assert "Gửi cho ai?" in await official.press("Phường Hải Châu")
    await official.press("Người dân và tổ trưởng, tổ phó")
    await official.send("Ngày mai cắt nước từ 8:00 đến 11:00.")
    await official.press("Không cần ảnh")
    preview = await official.press("Gửi ngay")
    assert "Gửi tới: Người dân và tổ trưởng, tổ phó — Phường Hải Châu" in preview
    assert "Số người nhận: 4" in preview  # two new residents, the demo resident and the deputy
    await official.press("Gửi thông báo")
    assert "cắt nước" in (await inbox(app, "demo-topho"))[-1]["text"]
    assert "cắt nước" in (await inbox(app, "dan-1"))[-1]["text"]
    assert not any("cắt nước" in m["text"] for m in await inbox(app, "demo-totruong-2"))  # Thanh Khê


async def test_quiet_hours_hold_a_notice_until_morning_unless_urgent(app, clock) -> None:
    await join_residents(app, 1, await group_code(app))
    clock.current = clock.current.replace(hour=15, minute=0)  # 22:00 in Đà Nẵng
    official = Chat(app, "demo-canbo")
    await official.press_id("m.nw")
    await official.press("Phường Hải Châu")
    await official.press("Toàn thể người dân")
    await official.send("Nhắc bà con đổ rác đúng giờ.")
    await official.press("Không cần ảnh")
    preview = await official.press("Gửi ngay")
    assert "Bắt đầu gửi: 06:30 23/11/2026" in preview and "Giờ yên tĩnh 21:00–06:30" in preview
    await official.press("Gửi thông báo")
    assert not any("đổ rác" in m["text"] for m in await inbox(app, "dan-0"))
    clock.advance(hours=8, minutes=31)
    assert any("đổ rác" in m["text"] for m in await inbox(app, "dan-0"))
    # Urgent goes at night.
    await official.press_id("m.nw")
    await official.press("Phường Hải Châu")
    await official.press("Toàn thể người dân")
    await official.send("Nước lên nhanh, bà con kê cao đồ đạc.")
    await official.press("Không cần ảnh")
    clock.current = clock.current.replace(hour=16, minute=0)  # 23:00
    assert "Bắt đầu gửi: 23:00" in await official.press("Khẩn")
    await official.press("Gửi thông báo")
    assert "🚨 THÔNG BÁO KHẨN" in (await inbox(app, "dan-0"))[-1]["text"]


async def test_a_scheduled_notice_and_an_opted_out_resident(app, clock) -> None:
    residents = await join_residents(app, 2, await group_code(app))
    assert "Tắt thông báo và lời nhắc?" in await residents[1].send("DỪNG")
    assert "Bạn đã tắt thông báo và lời nhắc." in await residents[1].press("🔕 Tắt")
    leader = Chat(app, "demo-topho")
    await leader.press_id("m.nw")
    await leader.send("Chủ nhật này ra quân dọn vệ sinh kiệt 42.")
    await leader.press("Không cần ảnh")
    assert "Gõ ngày giờ gửi" in await leader.press("Hẹn giờ gửi")
    assert "Không đọc được «thứ bảy»" in await leader.send("thứ bảy")
    assert "Thời điểm đó đã qua" in await leader.send("01/11 07:00")
    preview = await leader.send("28/11 19:00")
    assert "Bắt đầu gửi: 19:00 28/11/2026" in preview and "Số người nhận: 2" in preview  # opted-out excluded
    await leader.press("Gửi thông báo")
    assert not any("ra quân" in m["text"] for m in await inbox(app, "dan-0"))
    clock.current = clock.current.replace(day=28, hour=12, minute=1)
    assert any("ra quân" in m["text"] for m in await inbox(app, "dan-0"))
    assert not any("ra quân" in m["text"] for m in await inbox(app, "dan-1"))


async def test_feedback_goes_to_the_leader_who_answers_passes_or_closes(app, clock) -> None:
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    assert "💬 Gửi phản ánh" in resident.labels
    assert "Gửi phản ánh tới tổ trưởng" in await resident.press("Gửi phản ánh")
    assert "✅ Gửi phản ánh" not in resident.labels  # nothing to send yet
    await resident.send("Đèn đường kiệt 15 Lê Duẩn hỏng một tuần nay.")
    assert "Đã có: nội dung, ảnh." in await resident.photo(PNG)
    done = await resident.press("Gửi phản ánh")
    # Named by its first words.
    assert f"✅ Đã gửi phản ánh {LAMP} tới tổ trưởng." in done
    code = done.split("(Mã ")[1].split(")")[0]
    alert = (await inbox(app, "demo-topho"))[-1]
    assert "💬 Phản ánh của Chị Lê Thị Lan — Tổ dân phố Thạch Thang 3" in alert["text"]
    assert f"Mã phản ánh: {code}" in alert["text"]
    assert alert["photo_url"]
    deputy = Chat(app, "demo-topho")
    reply_id = next(b["id"] for row in alert["buttons"] for b in row if "Trả lời" in b["label"])
    assert f"Gõ câu trả lời cho phản ánh {LAMP}" in await deputy.press_id(reply_id)
    assert "Đã gửi câu trả lời cho Chị Lê Thị Lan." in await deputy.send("Đã báo điện lực, mai thay bóng.")
    told = (await inbox(app, "demo-nguoidan"))[-1]["text"]
    assert (f"💬 Ông Hồ Văn Sáu (tổ phó) trả lời phản ánh {LAMP} của bạn:\n"
            "Đã báo điện lực, mai thay bóng.") == told
    # Pass it to the ward: asked first, with an optional note that reaches the ward's official.
    pass_id = next(b["id"] for row in alert["buttons"] for b in row if "Chuyển lên phường" in b["label"])
    asked = await deputy.press_id(pass_id)
    assert f"Chuyển phản ánh {LAMP} lên Phường Hải Châu? Người dân sẽ được báo." in asked
    assert "Có thể gõ thêm ghi chú cho cán bộ phường (không bắt buộc)." in asked
    assert "Ghi chú cho cán bộ phường: Cột đèn số 7, đã báo điện lực hai lần." in await deputy.send(
        "Cột đèn số 7, đã báo điện lực hai lần.")
    passed = await deputy.press("📤 Chuyển lên phường")
    assert f"Đã chuyển phản ánh {LAMP} lên Phường Hải Châu. Mã báo cáo:" in passed
    assert "của bạn đã được tổ phó chuyển lên Phường Hải Châu" in (await inbox(app, "demo-nguoidan"))[-1]["text"]
    to_ward = (await inbox(app, "demo-canbo"))[-1]
    assert f"📤 Ông Hồ Văn Sáu (Tổ dân phố Thạch Thang 3) chuyển lên phường phản ánh {LAMP}" in to_ward["text"]
    assert "Ghi chú của tổ: Cột đèn số 7, đã báo điện lực hai lần." in to_ward["text"]
    assert [b["label"] for row in to_ward["buttons"] for b in row] == ["🔎 Xem báo cáo"]
    assert "đã được xử lý" in await deputy.press_id(pass_id)  # pressed again
    official = Chat(app, "demo-canbo")
    await official.press_id("m.nr.0")
    assert any("Phản ánh" in label or "phản ánh" in label for label in official.labels)
    async with app.sessions() as session:
        fb = (await session.scalars(select(Feedback))).one()
        report = await session.get(Report, fb.report_id)
    assert fb.status == "passed" and report.form_key == "dan_chu_phan_anh" and report.data["anh"]
    # Someone outside the group cannot act on it.
    stranger = Chat(app, "demo-totruong-2")
    assert "Phản ánh này không thuộc tổ của bạn." in await stranger.press_id(pass_id.replace("fp", "fc"))


class FakeSender:
    """A channel whose answers the test decides: ok, 429, 500 or 403 per call."""

    def __init__(self, faults: list[str] | None = None) -> None:
        self.faults = list(faults or [])
        self.delivered: Counter[str] = Counter()
        self.calls = 0

    async def send(self, chat_id: str, replies) -> list[str]:
        self.calls += 1
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "429":
            raise RetryLater(2)
        if fault == "500":
            raise RuntimeError("500 Internal Server Error")
        if fault == "403":
            raise BlockedByUser(chat_id)
        self.delivered[chat_id] += 1
        return [str(self.calls)]


async def fake_residents(app, count: int, channel: str = "fake") -> list[int]:
    async with app.sessions() as session, session.begin():
        group = await Repo(session).unit_by_code("HC-TT3")
        ids = []
        for n in range(count):
            person = Person(name=f"Cư dân {n}")
            session.add(person)
            await session.flush()
            session.add(Identity(person_id=person.id, channel=channel, external_id=f"c{n}", chat_id=f"c{n}"))
            session.add(RoleAssignment(person_id=person.id, unit_id=group.id, role="resident"))
            ids.append(person.id)
    return ids


async def send_notice(app, text: str) -> None:
    leader = Chat(app, "demo-topho")
    await leader.press_id("m.nw")
    await leader.send(text)
    await leader.press("Không cần ảnh")
    await leader.press("Gửi ngay")
    assert "✅ Đã lên lịch gửi thông báo" in await leader.press("Gửi thông báo")


async def drain_with_time(app, clock, rounds: int = 60) -> None:
    for _ in range(rounds):
        await app.dispatcher.drain()
        clock.advance(seconds=30)


async def test_storms_of_429_and_500_are_absorbed_and_blocked_users_marked(app, clock) -> None:
    fake = FakeSender(["429", "500", "429", "403", "500", "500"] * 10 + ["ok", "500", "429"] * 20)
    app.dispatcher.senders["fake"] = fake
    app.dispatcher.settings = app.dispatcher.settings.model_copy(update={"rates": {"fake": 10_000, "sim": 10_000},
                                                                         "per_chat_seconds": {}})
    await fake_residents(app, 120)
    await send_notice(app, "Lịch tiêm phòng dại cho chó mèo: sáng thứ bảy.")
    await drain_with_time(app, clock)
    async with app.sessions() as session:
        statuses = Counter((await session.execute(
            select(Outbox.status).where(Outbox.channel == "fake"))).scalars().all())
        blocked = await session.scalar(select(func.count()).select_from(Identity).where(
            Identity.channel == "fake", Identity.blocked.is_(True)))
    assert statuses["sent"] + statuses["blocked"] == 120 and set(statuses) <= {"sent", "blocked"}
    assert blocked == statuses["blocked"] == 10
    assert all(n == 1 for n in fake.delivered.values()) and len(fake.delivered) == 110
    told = (await inbox(app, "demo-topho"))[-1]["text"]
    assert "✅ Đã gửi xong thông báo" in told and "10 người đã chặn trợ lý." in told


async def test_a_channel_that_keeps_failing_ends_in_failed_with_the_reason(app, clock) -> None:
    fake = FakeSender(["500"] * 100)
    app.dispatcher.senders["fake"] = fake
    await fake_residents(app, 1)
    await send_notice(app, "Thử lỗi.")
    await drain_with_time(app, clock, rounds=200)
    async with app.sessions() as session:
        row = (await session.scalars(select(Outbox).where(Outbox.channel == "fake"))).one()
    assert row.status == "failed" and row.attempts == app.settings.outbox.max_attempts
    assert "500 Internal Server Error" in row.error


async def test_rate_cap_and_the_per_chat_gap(app, clock) -> None:
    from scheduler.dispatcher import TokenBucket

    bucket = TokenBucket(50)
    started = asyncio.get_running_loop().time()
    for _ in range(60):
        await bucket.acquire()
    elapsed = asyncio.get_running_loop().time() - started
    assert 0.9 <= elapsed <= 2.0  # 60 tokens at 50/s with a burst of 5: about 1.1 s


async def test_two_dispatchers_on_one_database_deliver_once(app, clock, settings) -> None:
    """Two instances (separate engines and pools) share one notice; each row is sent once."""
    from bot.bootstrap import build

    fake = FakeSender()
    second = build(settings, clock=clock)
    try:
        for instance in (app, second):
            instance.dispatcher.senders["fake"] = fake
            instance.dispatcher.settings = instance.dispatcher.settings.model_copy(
                update={"rates": {"fake": 5_000, "sim": 5_000}, "per_chat_seconds": {}, "batch": 40})
        await fake_residents(app, 400)
        await send_notice(app, "Hai máy cùng gửi một thông báo.")
        await asyncio.gather(app.dispatcher.drain(), second.dispatcher.drain())
        assert len(fake.delivered) == 400 and all(n == 1 for n in fake.delivered.values())
    finally:
        await second.stop()
