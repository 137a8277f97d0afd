"""Personal data is kept no longer than the settings say (the daily purge, on an injected clock),
and the audit log of who saw personal data is read by the official in charge of it, for their
area only, and refused to everyone else."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from models.duties import set_duty
from models.repos import Repo
from models.tables import Attachment, AuditLog, Feedback, Person, Report, SimMessage
from tests import images
from tests.helpers import Chat
from tests.integration.test_conversation import make_invite
from tests.integration.test_reports import leader_files_an_incident


async def resident_feedback(app, text: str, color: tuple[int, int, int]) -> int:
    """Chị Lan sends feedback with a photo; returns its id."""
    lan = Chat(app, "demo-nguoidan")
    await lan.send("/menu")
    await lan.press("Gửi phản ánh")
    await lan.send(text)
    await lan.photo(images.png(color=(*color, 255)), "image/png")
    await lan.press("Gửi phản ánh")
    async with app.sessions() as session:
        return (await session.scalars(select(Feedback.id).where(Feedback.text == text))).one()


async def photo_file_of(app, attachment_id: int):
    async with app.sessions() as session:
        attachment = await session.get(Attachment, attachment_id)
    return None if attachment is None else app.files.path_of(attachment)


async def test_the_daily_purge_deletes_what_is_past_its_time_and_keeps_the_rest(app, clock) -> None:
    settings = app.settings.privacy
    old_fb = await resident_feedback(app, "Rác đổ ở đầu kiệt 45 Trần Phú từ tuần trước.", (200, 10, 10))
    new_fb = await resident_feedback(app, "Cống trước nhà số 8 bị nghẹt, nước tràn ra đường.", (10, 200, 10))
    _leader, old_code = await leader_files_an_incident(app)
    _leader, new_code = await leader_files_an_incident(app)
    now = clock.now()
    async with app.sessions() as session, session.begin():
        old_photo = (await session.get(Feedback, old_fb)).photo_id
        new_photo = (await session.get(Feedback, new_fb)).photo_id
        # Closed long ago, and closed lately.
        await session.execute(update(Feedback).where(Feedback.id == old_fb).values(
            status="closed", updated_at=now - timedelta(days=settings.feedback_days + 1)))
        await session.execute(update(Feedback).where(Feedback.id == new_fb).values(
            status="closed", updated_at=now - timedelta(days=settings.feedback_days - 1)))
        await session.execute(update(Report).where(Report.code == old_code).values(
            status="resolved", updated_at=now - timedelta(days=settings.photo_days + 1)))
        await session.execute(update(Report).where(Report.code == new_code).values(
            status="resolved", updated_at=now - timedelta(days=settings.photo_days - 1)))
        session.add_all([
            SimMessage(external_id="old-user", payload={"text": "cũ"}, created_at=now - timedelta(days=31)),
            SimMessage(external_id="new-user", payload={"text": "mới"}, created_at=now - timedelta(days=29)),
            AuditLog(action="view_sensitive", target="report:1", at=now - timedelta(days=settings.audit_days + 1)),
            AuditLog(action="view_sensitive", target="report:2", at=now - timedelta(days=settings.audit_days - 1)),
        ])
    async with app.sessions() as session:
        reports = {r.code: r for r in (await session.scalars(select(Report))).all()}
    old_report_photo = next(v["attachment"] for v in reports[old_code].data.values()
                            if isinstance(v, dict) and v.get("attachment"))
    old_files = [await photo_file_of(app, old_photo), await photo_file_of(app, old_report_photo)]
    assert all(path.exists() for path in old_files)

    counts = await app.jobs.purge_expired()
    assert counts["sim_messages"] >= 1 and counts["audit_log"] == 1
    assert counts["feedback"] == 1 and counts["report_photos"] == 1 and counts["files"] == 2

    async with app.sessions() as session:
        old, new = await session.get(Feedback, old_fb), await session.get(Feedback, new_fb)
        reports = {r.code: r for r in (await session.scalars(select(Report))).all()}
        sims = set((await session.scalars(select(SimMessage.external_id))).all())
        audits = set((await session.scalars(select(AuditLog.target).where(AuditLog.action == "view_sensitive"))).all())
        placeholder = await session.get(Person, old.resident_id)
    # Older than the setting: gone. The closed feedback's row stays for the counts, without the person.
    assert (old.text, old.photo_id, old.location, old.status) == ("", None, None, "closed")
    assert placeholder.name == "Người dùng đã xoá"
    assert {"removed": True} in reports[old_code].data.values()
    assert not any(path.exists() for path in old_files)
    assert "old-user" not in sims and "report:1" not in audits
    # Newer: kept as it was.
    assert new.text == "Cống trước nhà số 8 bị nghẹt, nước tràn ra đường." and new.photo_id == new_photo
    assert (await photo_file_of(app, new_photo)).exists()
    assert any(isinstance(v, dict) and v.get("attachment") for v in reports[new_code].data.values())
    assert "new-user" in sims and "report:2" in audits

    # Once a day: not again until the next purge time has passed.
    assert await app.jobs.purge_expired() == {}
    clock.advance(days=2)  # the next day's purge: the lately closed feedback is past its time now
    again = await app.jobs.purge_expired()
    assert again["feedback"] == 1
    async with app.sessions() as session:
        assert (await session.get(Feedback, new_fb)).text == ""


async def test_the_purge_goes_in_batches(app, clock) -> None:
    app.settings.privacy = app.settings.privacy.model_copy(update={"purge_batch": 7})
    async with app.sessions() as session, session.begin():
        session.add_all([SimMessage(external_id=f"u{n}", payload={}, created_at=clock.now() - timedelta(days=40))
                         for n in range(30)])
    counts = await app.jobs.purge_expired()
    assert counts["sim_messages"] == 30
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SimMessage)
                                    .where(SimMessage.external_id.like("u%"))) == 0


async def social_official_sees_household_data(app, clock) -> int:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        group = await repo.unit_by_code("HC-TT3")
        deputy = await repo.find_who("sim", "demo-topho")
        report = await repo.add_report(form_key="giam_ngheo_ho_tro", form_version=1, task="giam_ngheo", unit=group,
                                       reporter_id=deputy.person_id, data={"ma_ho": "HN07", "gia_tri": 500000},
                                       at=clock.now())
        rid = report.id
    assert "HN07" in await Chat(app, "demo-canbo-xh").press_id(f"m.rv.{rid}")
    return rid


async def test_the_access_log_is_read_by_the_official_in_charge_of_personal_data_in_their_area(app, clock) -> None:
    rid = await social_official_sees_household_data(app, clock)
    hoa = Chat(app, "demo-thanhpho")  # the city's official with the `privacy` duty
    await hoa.send("/menu")
    log = await hoa.press("Nhật ký truy cập")
    assert "🗂️ Nhật ký truy cập dữ liệu cá nhân — Thành phố Đà Nẵng" in log
    assert f"Chị Đặng Thu Hà: xem dữ liệu hộ nghèo (report:{rid})" in log
    async with app.sessions() as session:
        read = (await session.scalars(select(AuditLog).where(AuditLog.action == "audit_read"))).one()
    assert read.target.startswith("unit:")
    assert "Bà Võ Thị Hoa: xem nhật ký truy cập" in await hoa.press_id("m.pv.log")  # reading it is logged too

    # Another ward's official in charge of personal data sees only their ward.
    code = await make_invite(app, unit="20209", role="official")
    other = Chat(app, "tk-official", name="Anh Lê Văn Nam")
    await other.send(f"/start {code}")
    async with app.sessions() as session, session.begin():
        unit = await Repo(session).unit_by_code("20209")
        person = (await Repo(session).find_who("sim", "tk-official")).person_id
        await set_duty(session, person_id=person, unit_id=unit.id, duty="privacy", granted=True)
    theirs = await other.press_id("m.pv.log")
    assert "Phường Thanh Khê" in theirs and "Chị Đặng Thu Hà" not in theirs


async def test_the_access_log_is_refused_to_everyone_else(app) -> None:
    on_duty = Chat(app, "demo-canbo")  # an official, without the duty
    await on_duty.send("/menu")
    await on_duty.press("Thêm")
    assert "🗂️ Nhật ký truy cập" not in on_duty.labels and "🔒 Dữ liệu của tôi" in on_duty.labels
    refused = await on_duty.press_id("m.pv.log")
    assert "Chỉ cán bộ phụ trách bảo vệ dữ liệu cá nhân được xem nhật ký truy cập." in refused
    lan = Chat(app, "demo-nguoidan")
    refused = await lan.press_id("m.pv.log")
    assert "Nhật ký truy cập dữ liệu cá nhân" not in refused and "không" in refused.lower()
    async with app.sessions() as session:
        assert not (await session.scalars(select(AuditLog).where(AuditLog.action == "audit_read"))).all()
