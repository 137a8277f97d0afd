"""Reports after they are filed: urgent incidents to the officials on duty, acknowledgement,
escalation under an injected clock, statuses told to the reporter, history and corrections,
officials' lists, the privacy of poverty data and the authorization matrix."""

from __future__ import annotations

from sqlalchemy import select

from models.repos import Repo
from models.tables import AuditLog, Report, ReportEvent
from tests import images
from tests.helpers import Chat
from tests.integration.test_conversation import make_invite

PNG = images.png(color=(130, 120, 200, 128))  # a real image: photos are decoded
GREEN = "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp"
URGENT = "«Báo tin khẩn» 22/11 «Cháy, nổ»"


async def inbox(app, user: str, after: int = 0) -> list[dict]:
    """What the simulator user received from others (through the outbox), newest last."""
    await app.dispatcher.drain()
    return await app.simulator.messages_after(user, after)


def button(message: dict, label: str) -> str:
    for row in message["buttons"]:
        for b in row:
            if label in b["label"]:
                return b["id"]
    raise AssertionError(f"no {label!r} in {message['buttons']}")


async def leader_files_an_incident(app) -> tuple[Chat, str]:
    leader = Chat(app, "demo-totruong")
    await leader.send("/start HUNG05")
    first = await leader.press("Báo tin khẩn")
    assert "113 Công an · 114 Cứu hỏa · 115 Cấp cứu" in first
    assert "Chuyện gì đang xảy ra?" in first
    assert "Ở đâu?" in await leader.press("Cháy, nổ")
    assert "Mô tả ngắn, hoặc gửi một ảnh." in await leader.location(16.0718, 108.2204)
    done = await leader.photo(PNG, "image/png")  # the third and last question: no confirmation step
    assert "🚨 Đã chuyển tin khẩn tới 1 cán bộ trực của Phường Hải Châu" in done
    assert "Khi cán bộ tiếp nhận, bạn sẽ được báo ngay." in done and "114 Cứu hỏa" in done
    code = done.split("Mã: ")[1].split(".")[0]
    return leader, code


async def test_an_urgent_incident_reaches_the_official_on_duty_who_acknowledges_it(app, clock) -> None:
    _leader, code = await leader_files_an_incident(app)
    received = await inbox(app, "demo-canbo")
    assert len(received) == 1
    alert = received[0]
    assert f"🚨 TIN KHẨN {code}" in alert["text"]
    assert "Từ: Ông Nguyễn Văn Hùng — Tổ dân phố Thạch Thang 3" in alert["text"]
    assert "• Sự việc: Cháy, nổ" in alert["text"] and "• Vị trí: 📍 16.07180, 108.22040" in alert["text"]
    assert alert["photo_url"]
    assert await inbox(app, "demo-canbo-xh") == []  # not on duty
    assert await inbox(app, "demo-thanhpho") == []  # the city only after escalation
    clock.advance(minutes=3)
    official = Chat(app, "demo-canbo")
    answer = await official.press_id(button(alert, "Đã tiếp nhận"))
    assert f"{URGENT}: đã tiếp nhận. Người gửi đã được báo." in answer  # named, not coded
    told = await inbox(app, "demo-totruong")
    assert told[-1]["text"] == (f"✅ Anh Phạm Minh Tuấn (Phường Hải Châu) đã tiếp nhận báo cáo {URGENT} "
                                f"lúc 08:33 22/11/2026. (Mã {code})")
    # The button pressed again (or by a colleague) tells who acknowledged first.
    again = await official.press_id(button(alert, "Đã tiếp nhận"))
    assert f"{URGENT} đã được Anh Phạm Minh Tuấn tiếp nhận lúc 08:33 22/11/2026." in again
    # Acknowledged: no escalation.
    clock.advance(minutes=30)
    assert await app.escalate_incidents() == 0
    assert "✔️ Đã xử lý" in [b["label"] for row in alert["buttons"] for b in row]
    await official.press_id(button(alert, "Đã xử lý"))
    assert f"{URGENT}: đã xử lý — Anh Phạm Minh Tuấn" in (await inbox(app, "demo-totruong"))[-1]["text"]
    async with app.sessions() as session:
        report = (await session.scalars(select(Report).where(Report.code == code))).one()
        events = (await session.scalars(select(ReportEvent).where(ReportEvent.report_id == report.id)
                                        .order_by(ReportEvent.id))).all()
    assert report.status == "resolved" and report.acknowledged_by is not None
    assert [e.status for e in events] == ["sent", "received", "resolved"]


async def test_nobody_acknowledges_so_it_goes_up_and_the_leader_is_told(app, clock) -> None:
    _leader, code = await leader_files_an_incident(app)
    clock.advance(minutes=14)
    assert await app.escalate_incidents() == 0
    clock.advance(minutes=2)
    assert await app.escalate_incidents() == 2  # the city official and the leader
    city = await inbox(app, "demo-thanhpho")
    assert len(city) == 1
    assert "⚠️ Chuyển cấp: Phường Hải Châu chưa tiếp nhận sau 15 phút." in city[0]["text"]
    assert f"🚨 TIN KHẨN {code}" in city[0]["text"]
    told = (await inbox(app, "demo-totruong"))[-1]["text"]
    # The leader's status message names the incident first and gives its code last (issue 13).
    assert told.startswith("⚠️ «Báo tin khẩn» ")
    assert ("chưa được Phường Hải Châu tiếp nhận sau 15 phút; "
            f"đã chuyển lên Thành phố Đà Nẵng. Mã báo cáo: {code}") in told
    # Nothing above the city: no more escalation, and a restart of the ticker sends nothing twice.
    clock.advance(minutes=20)
    assert await app.escalate_incidents() == 0
    city_official = Chat(app, "demo-thanhpho")
    assert ": đã tiếp nhận." in await city_official.press_id(button(city[0], "Đã tiếp nhận"))
    assert "Bà Võ Thị Hoa (Thành phố Đà Nẵng)" in (await inbox(app, "demo-totruong"))[-1]["text"]


async def file_green_sunday(app, user: str = "demo-totruong") -> tuple[Chat, str]:
    leader = Chat(app, user)
    if user == "demo-totruong":
        await leader.send("/start HUNG05")
    await leader.send("/menu")
    await leader.open_form("Vệ sinh môi trường", GREEN)
    for step in ("hôm nay", "9", "4"):
        await leader.send(step)
    await leader.press("Trồng cây")
    await leader.press("Xong")
    await leader.press("Bỏ qua")
    await leader.press("Không")
    await leader.press("Khá")
    await leader.press("Bỏ qua")
    await leader.press("Bỏ qua")
    done = await leader.press("Gửi báo cáo")
    return leader, done.split("Mã báo cáo: ")[1].split()[0]


async def test_statuses_history_and_a_correction(app, clock) -> None:
    leader, code = await file_green_sunday(app)
    official = Chat(app, "demo-canbo")
    listing = await official.press_id("m.nr.0")
    assert "📥 Báo cáo chưa xử lý — trang 1" in listing
    # The list names the report (title, day, status, group), no code, cut at a word.
    assert f"{GREEN} 22/11 · Đã gửi · Tổ dân…" in official.labels
    details = await official.press(f"{GREEN} 22/11")
    assert f"Mã: {code} · Tổ dân phố Thạch Thang 3" in details and "• Số người tham gia: 9 người" in details
    assert "🔧 Đang xử lý" in official.labels and "✏️ Sửa báo cáo" not in official.labels
    await official.press("Đang xử lý")
    told = (await inbox(app, "demo-totruong"))[-1]["text"]
    assert f"«{GREEN}» 22/11: đang xử lý — Anh Phạm Minh Tuấn (Phường Hải Châu)" in told
    await official.press_id("m.nr.0")
    assert GREEN not in " ".join(official.labels)  # no longer waiting
    await official.send("/menu")
    # Return it with a reason.
    async with app.sessions() as session:
        report = await Repo(session).report_by_code(code)
    await official.press_id(f"m.rv.{report.id}")
    assert "Vì sao trả lại báo cáo" in await official.press("Trả lại")
    assert "Lý do cần từ 3 đến 500 ký tự" in await official.send("x")
    await official.send("Thiếu ảnh trước và sau khi dọn")
    told = (await inbox(app, "demo-totruong"))[-1]["text"]
    assert (f"↩️ Anh Phạm Minh Tuấn (Phường Hải Châu) đã trả lại báo cáo «{GREEN}» 22/11. "
            "Lý do: Thiếu ảnh") in told
    # The leader sees it in their history and corrects it within the window.
    mine = await leader.press_id("m.my.0")
    assert "📜 Báo cáo của bạn (trang 1)" in mine
    details = await leader.press(f"{GREEN} 22/11")
    assert "Trạng thái: Trả lại" in details and "Lý do trả lại: Thiếu ảnh trước và sau khi dọn" in details
    assert "Quá trình xử lý:" in details and "Đang xử lý — Anh Phạm Minh Tuấn" in details
    assert f"Bạn đang sửa báo cáo {code}" in await leader.press("Sửa báo cáo")
    await leader.press("Sửa một câu")
    await leader.press("Ảnh sau khi dọn")
    await leader.photo(PNG)
    done = await leader.press("Gửi báo cáo")
    assert f"Mã báo cáo: {code}-2" in done and f"Đây là bản sửa của báo cáo {code}; bản cũ vẫn được lưu." in done
    async with app.sessions() as session:
        rows = (await session.scalars(select(Report).where(Report.code.like(f"{code}%")).order_by(Report.id))).all()
    assert [(r.code, r.superseded) for r in rows] == [(code, True), (f"{code}-2", False)]
    assert rows[1].supersedes_id == rows[0].id and rows[1].data["anh"]["attachment"]
    mine = await leader.press_id("m.my.0")
    assert sum(label.startswith(GREEN) for label in leader.labels) == 1  # the correction, not the old one


async def test_the_correction_window_closes(app, clock) -> None:
    leader, code = await file_green_sunday(app)
    async with app.sessions() as session:
        report = await Repo(session).report_by_code(code)
    await leader.press_id(f"m.rv.{report.id}")
    assert "✏️ Sửa báo cáo" in leader.labels
    clock.advance(hours=25)
    await leader.press_id(f"m.rv.{report.id}")
    assert "✏️ Sửa báo cáo" not in leader.labels
    refused = await leader.press_id(f"m.fix.{report.id}")
    assert f"Báo cáo {code} không sửa được nữa: chỉ sửa trong 24 giờ sau khi gửi" in refused


async def test_who_may_see_and_change_what(app) -> None:
    _leader, code = await leader_files_an_incident(app)
    async with app.sessions() as session:
        report = await Repo(session).report_by_code(code)
    rid = report.id
    resident = Chat(app, "demo-nguoidan")
    assert "Bạn không có quyền xem báo cáo này." in await resident.press_id(f"m.rv.{rid}")
    other_leader = Chat(app, "demo-totruong-2")  # Xuân Hà 9, Phường Thanh Khê
    assert "Bạn không có quyền xem báo cáo này." in await other_leader.press_id(f"m.rv.{rid}")
    # Not an official: the route table refuses before anything runs.
    assert "Chức năng này không dành cho tài khoản của bạn." in await other_leader.press_id(f"m.ack.{rid}")
    deputy = Chat(app, "demo-topho")  # deputy of the same group: may read, not act
    assert f"Mã: {code}" in await deputy.press_id(f"m.rv.{rid}")
    assert "✅ Tiếp nhận" not in deputy.labels
    code_tk = await make_invite(app, unit="20209", role="official")
    tk_official = Chat(app, "tk-official")
    await tk_official.send(code_tk)
    assert "Báo cáo này không thuộc địa bàn của bạn." in await tk_official.press_id(f"m.ack.{rid}")
    assert "Báo cáo này không thuộc địa bàn của bạn." in await tk_official.press_id(f"m.st.{rid}.resolved")
    assert "Báo cáo này không thuộc địa bàn của bạn." in await tk_official.press_id(f"m.ret.{rid}")
    assert "Bạn không có quyền xem báo cáo này." in await tk_official.press_id(f"m.rv.{rid}")
    listing = await tk_official.press_id("m.oi.0")
    assert "Không có tin khẩn nào đang mở." in listing and not any(code in label for label in tk_official.labels)
    city = Chat(app, "demo-thanhpho")  # the city covers every ward
    assert f"Mã: {code}" in await city.press_id(f"m.rv.{rid}")
    for forged in (f"m.rv.{rid}x", "m.rv.", "m.st.1", f"m.st.{rid}.sent", "m.rv.99999999"):
        answer = await city.press_id(forged)
        assert "Nút này không hợp lệ." in answer or "Không tìm thấy báo cáo này." in answer, forged
    async with app.sessions() as session:
        assert (await Repo(session).report_by_code(code)).status == "sent"


async def test_household_level_poverty_data_is_for_the_leader_and_social_officials(app, clock) -> None:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        group = await repo.unit_by_code("HC-TT3")
        deputy = await repo.find_who("sim", "demo-topho")
        report = await repo.add_report(form_key="giam_ngheo_ho_tro", form_version=1, task="giam_ngheo", unit=group,
                                       reporter_id=deputy.person_id, data={"ma_ho": "HN07", "gia_tri": 500000},
                                       at=clock.now())
        rid = report.id
    on_duty = Chat(app, "demo-canbo")
    shown = await on_duty.press_id(f"m.rv.{rid}")
    assert "chỉ tổ trưởng và cán bộ phụ trách xã hội được xem" in shown and "HN07" not in shown
    social = Chat(app, "demo-canbo-xh")
    assert "HN07" in await social.press_id(f"m.rv.{rid}")
    async with app.sessions() as session:
        audits = (await session.scalars(select(AuditLog).where(AuditLog.action == "view_sensitive"))).all()
    assert [a.target for a in audits] == [f"report:{rid}"]


async def test_the_monthly_report_is_proposed_from_this_months_reports(app, clock) -> None:
    leader, _code = await file_green_sunday(app, "demo-totruong-2")
    clock.advance(days=1)
    await file_green_sunday(app, "demo-totruong-2")
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        group = await repo.unit_by_code("TK-XH9")
        who = await repo.find_who("sim", "demo-totruong-2")
        for household, value in (("HN01", 500_000), ("HN01", 200_000), ("CN02", 1_000_000)):
            await repo.add_report(form_key="giam_ngheo_ho_tro", form_version=1, task="giam_ngheo", unit=group,
                                  reporter_id=who.person_id, data={"ma_ho": household, "gia_tri": value},
                                  at=clock.now())
        # Last month's report does not count.
        await repo.add_report(form_key="dan_chu_hop_to", form_version=1, task="dan_chu", unit=group,
                              reporter_id=who.person_id, data={}, at=clock.now().replace(month=10))
    await leader.send("/menu")
    # 23 November, after the deadline day (5): the monthly report is for this month. It says so first.
    first = await leader.press("Báo cáo tháng")
    assert "🗓️ Báo cáo tháng 11/2026 của Tổ dân phố Xuân Hà 9 (hạn nộp 05/12/2026)." in first, first
    assert leader.labels[:2] == ["📝 Lập báo cáo tháng 11/2026", "📅 Chọn tháng khác"]
    summary = await leader.press("Lập báo cáo tháng 11/2026")
    assert "Số liệu dưới đây tổng hợp từ 5 báo cáo tháng 11/2026 của tổ." in summary
    for line in ("• Vệ sinh: buổi Chủ nhật Xanh: 2 buổi", "• Vệ sinh: lượt người tham gia: 18 lượt",
                 "• Giảm nghèo: hộ được hỗ trợ: 2 hộ", "• Giảm nghèo: tổng giá trị hỗ trợ: 1.700.000 đ",
                 "• Dân chủ: cuộc họp tổ: 0 cuộc", "• An ninh: số vụ việc: 0 vụ", "• Nhận xét, kiến nghị: (không có)"):
        assert line in summary, line
    await leader.press("Sửa một câu")
    await leader.press("Dân chủ: cuộc họp tổ")
    assert "Câu trả lời hiện tại: 0 cuộc" in leader.text
    assert "• Dân chủ: cuộc họp tổ: 1 cuộc" in await leader.send("1")
    done = await leader.press("Gửi báo cáo")
    assert "✅ Đã gửi báo cáo tháng 11/2026." in done
    async with app.sessions() as session:
        monthly = (await session.scalars(select(Report).where(Report.form_key == "bao_cao_thang"))).one()
    assert monthly.data["_month"] == "2026-11" and monthly.data["so_cuoc_hop"] == 1
    assert monthly.data["tien_ho_tro"] == 1_700_000


async def test_a_one_tap_nil_report_once_a_month_and_only_when_nothing_was_reported(app, clock) -> None:
    leader = Chat(app, "demo-totruong-2")
    await leader.send("/menu")
    await leader.press("An ninh trật tự")
    assert "✅ Không có vụ việc · tháng 11/2026" in leader.labels  # names the month it files for
    asked = await leader.press("Không có vụ việc")  # asked first, naming the month
    assert asked == "Gửi báo cáo «Không có vụ việc» cho tháng 11/2026?"
    assert leader.labels == ["✅ Gửi", "📅 Chọn tháng khác", "✖️ Hủy"]
    done = await leader.press("✅ Gửi")
    assert "✅ Đã báo «Không có vụ việc» cho tháng 11/2026. Mã báo cáo:" in done
    await leader.press("An ninh trật tự")
    again = await leader.press("Không có vụ việc")  # a second one offers to replace the first
    assert "Tháng 11/2026 tổ đã gửi «Không có vụ việc» lúc 08:30 22/11/2026" in again
    assert "Gửi bản mới để thay bản đó? Bản cũ vẫn được lưu." in again
    assert "🔁 Gửi lại, thay bản cũ" in leader.labels
    clock.advance(days=10)  # December: a new month
    other = Chat(app, "demo-topho")  # Thạch Thang 3 already reported an incident this month
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        group = await repo.unit_by_code("HC-TT3")
        who = await repo.find_who("sim", "demo-topho")
        await repo.add_report(form_key="an_ninh_vu_viec", form_version=1, task="an_ninh", unit=group,
                              reporter_id=who.person_id, data={"loai": "trom_cap"}, at=clock.now())
    refused = await other.press_id("m.nil.an_ninh_vu_viec.202612")
    assert "Tháng 12/2026 tổ đã gửi 1 báo cáo «Vụ việc an ninh trật tự»" in refused
    assert "chỉ dành cho tổ trưởng, tổ phó" in await Chat(app, "demo-nguoidan").press_id("m.nil.an_ninh_vu_viec")
    mine = await leader.press_id("m.my.0")
    assert any("Không có vụ việc" in label for label in leader.labels), mine


async def test_early_in_the_month_the_monthly_report_is_for_the_month_before(app, clock) -> None:
    clock.current = clock.current.replace(month=12, day=3)  # 3 December: November's report is due
    leader = Chat(app, "demo-totruong-2")
    await leader.send("/menu")
    assert "🗓️ Báo cáo tháng 11/2026" in await leader.press("Báo cáo tháng")
    assert "Tháng 11/2026 tổ chưa có báo cáo nào; các số đang để 0." in await leader.press("Lập báo cáo")
    await leader.press("Gửi báo cáo")
    async with app.sessions() as session:
        monthly = (await session.scalars(select(Report).where(Report.form_key == "bao_cao_thang"))).one()
    assert monthly.data["_month"] == "2026-11"
