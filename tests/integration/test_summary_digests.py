"""The digests the scheduler sends officials (it calls handlers.summary.digest_replies): the daily
one lists the last 24 hours' urgent incidents and is empty when there were none; the weekly and
monthly ones carry the headline (the whole text behind [Xem chi tiết]), one photo per chart and the
Excel file, which the official opens in the simulator."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import httpx
import openpyxl
from sqlalchemy import select

from bot.web import create_web
from handlers.summaries.summary import digest_replies
from models.repos import Repo
from models.tables import AuditLog
from tests.helpers import Chat


async def digest(app, user: str, kind: str, now: datetime) -> tuple[int, list]:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        who = await repo.find_who("sim", user)
        replies = await digest_replies(repo, person_id=who.person_id, kind=kind, now=now, settings=app.settings,
                                       t=app.engine.translator("vi"), files=app.files)
    return who.person_id, replies


async def add(app, group: str, form: str, data: dict, at: datetime, *, urgent: bool = False) -> str:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        reporter = await repo.find_who("sim", "demo-topho")
        unit = await repo.unit_by_code(group)
        report = await repo.add_report(form_key=form, form_version=1, task="an_ninh", unit=unit,
                                       reporter_id=reporter.person_id, data=data, at=at, urgent=urgent)
        return report.code


async def test_the_daily_digest_lists_the_last_days_urgent_incidents_and_is_empty_without_any(app, clock) -> None:
    now = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 07:00 in Đà Nẵng
    await add(app, "HC-TT3", "khan_cap", {"loai": "chay_no"}, now - timedelta(hours=30), urgent=True)  # too old
    assert (await digest(app, "demo-canbo", "daily", now))[1] == []
    code = await add(app, "HC-TT3", "khan_cap", {"loai": "ngap_lut"}, now - timedelta(hours=3), urgent=True)
    await add(app, "TK-XH9", "khan_cap", {"loai": "trom_cuop"}, now - timedelta(hours=2), urgent=True)
    _person, [reply] = await digest(app, "demo-canbo", "daily", now)
    assert reply.text == (f"🚨 Tin khẩn 24 giờ qua: Phường Hải Châu\n1 tin · 0 đã tiếp nhận · 1 còn mở\n\n"
                          f"• {code} · 04:00 23/11/2026 · Tổ dân phố Thạch Thang 3\n"
                          "  Ngập lụt, sạt lở, cây đổ · Đã gửi")
    assert [b.label for b in reply.flat_buttons] == [f"🚨 {code}"] and reply.flat_buttons[0].id.startswith("m.rv.")
    _person, [city] = await digest(app, "demo-thanhpho", "daily", now)
    assert "2 tin · 0 đã tiếp nhận · 2 còn mở" in city.text  # the city covers both wards
    assert (await digest(app, "demo-totruong-2", "daily", now))[1] == []  # leaders get no digest


async def test_the_weekly_digest_reaches_the_official_in_the_simulator_with_chart_and_excel(app, clock) -> None:
    monday = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # 07:30 on Monday
    await add(app, "HC-TT3", "khan_cap", {"loai": "chay_no"}, datetime(2026, 11, 17, 2, tzinfo=UTC), urgent=True)
    await add(app, "HC-TT3", "giam_ngheo_ho_tro", {"ma_ho": "HN03", "dien": "can_ngheo", "nguon": "nha_nuoc",
                                                   "gia_tri": 400_000}, datetime(2026, 11, 18, 2, tzinfo=UTC))
    person, replies = await digest(app, "demo-canbo-xh", "weekly", monday)
    text, *photos, document = replies
    # A headline of at most five lines, then one photo per chart (only the charts with figures).
    assert text.text == ("📊 Phường Hải Châu · Tuần 16/11–22/11/2026\n⚠️ Chưa gửi báo cáo nào: 3 tổ\n"
                         "🚨 Tin khẩn: 1 · còn mở: 1\n📨 Số báo cáo: 2 (▲ 2)")
    assert [p.text.split("\n")[0] for p in photos] == ["📈 Biểu đồ 1/3: Số báo cáo theo đơn vị",
                                                       "📈 Biểu đồ 2/3: An ninh trật tự: số báo cáo",
                                                       "📈 Biểu đồ 3/3: Tin khẩn theo ngày"]
    assert all(p.photo_id for p in photos) and document.document_id
    assert photos[-1].text.endswith("Chưa có số liệu: Vệ sinh môi trường: số báo cáo; Giảm nghèo: số báo cáo; "
                                    "Dân chủ, phản ánh: số báo cáo.")
    # What the scheduler will do: queue them for the person in the outbox; the page shows the files,
    # each chart as its own photo message.
    await app.deliver_to_person(person, replies)
    await app.dispatcher.drain()
    received = await app.simulator.messages_after("demo-canbo-xh", 0)
    assert [bool(m["photo_url"]) for m in received] == [False, True, True, True, False]
    assert received[-1]["document_url"] == f"/api/files/{document.document_id}?user=demo-canbo-xh"  # its reader
    # The digest's [Xem chi tiết] shows the whole text.
    details = await Chat(app, "demo-canbo-xh").press_id(text.flat_buttons[0].id)
    assert details.startswith("📊 Tóm tắt: Phường Hải Châu\nTuần 16/11–22/11/2026\nSo với: Tuần 09/11–15/11/2026")
    assert "🚨 Tin khẩn: 1 (▲ 1)" in details
    web = create_web(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://sim") as client:
        answer = await client.get(received[-1]["document_url"])
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert [row[4] for row in book["Chi tiết hộ"].iter_rows(min_row=2, values_only=True)] == ["HN03"]
    async with app.sessions() as session:
        audits = (await session.scalars(select(AuditLog).where(AuditLog.action == "export_sensitive"))).all()
    assert [(a.person_id, a.detail["period"]) for a in audits] == [(person, "2026-W47")]


async def test_the_monthly_digest_is_last_month(app, clock) -> None:
    first = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    _person, replies = await digest(app, "demo-thanhpho", "monthly", first)
    # Nothing was reported: the headline and the Excel file, no chart of empty bars.
    assert len(replies) == 2
    assert replies[0].text.startswith("📊 Thành phố Đà Nẵng · Tháng 11/2026\n📝 Báo cáo tháng: 0/10 tổ đã nộp (0%)")
    assert replies[1].document_id and replies[1].text.endswith("📉 Biểu đồ: chưa có số liệu.")
    async with app.sessions() as session:
        assert (await session.scalars(select(AuditLog).where(AuditLog.action == "export_sensitive"))).all() == []
