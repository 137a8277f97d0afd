"""Duties granted in chat (issue 12, item 1): an official of a higher unit opens «🛡️ Phân công cán
bộ», picks a ward and one of its officials, and grants or removes a duty after confirming; the change
is audited, the official is told, and an urgent incident then reaches them."""

from __future__ import annotations

from sqlalchemy import select

from models.tables import AuditLog, Person, RoleAssignment
from tests.helpers import Chat
from tests.integration.test_reports import inbox, leader_files_an_incident
from tests.integration.test_security_demo import register_official


async def duties_of(app, name: str) -> str:
    async with app.sessions() as session:
        return (await session.scalars(select(RoleAssignment.duties).join(Person, Person.id == RoleAssignment.person_id)
                                      .where(Person.name == name, RoleAssignment.role == "official"))).one()


async def test_a_city_official_gives_a_real_ward_official_the_duty_and_the_incident_reaches_them(app) -> None:
    await register_official(app, "real-official", "Nguyễn Thị Trực")
    city = Chat(app, "demo-thanhpho")
    await city.send("/menu")
    assert "Chọn đơn vị:" in await city.press("🛡️ Phân công cán bộ")
    assert "Phường Hải Châu" in city.labels
    answer = await city.press("Phường Hải Châu")
    assert "👮 Cán bộ của Phường Hải Châu" in answer
    assert "Anh Phạm Minh Tuấn — trực tin khẩn" in city.labels
    assert "Nguyễn Thị Trực — chưa có nhiệm vụ" in city.labels
    answer = await city.press("Nguyễn Thị Trực")
    assert "Nhiệm vụ: chưa có nhiệm vụ." in answer
    answer = await city.press("➕ Giao «trực tin khẩn»")
    assert answer.startswith("Giao cho Nguyễn Thị Trực nhiệm vụ «trực tin khẩn» ở Phường Hải Châu?")
    assert await duties_of(app, "Nguyễn Thị Trực") == ""  # asked first: nothing changed yet
    assert "Đã giao nhiệm vụ «trực tin khẩn» cho Nguyễn Thị Trực." in await city.press("✅ Giao nhiệm vụ")
    assert await duties_of(app, "Nguyễn Thị Trực") == "on_duty"
    [told] = await inbox(app, "real-official")
    assert "Bà Võ Thị Hoa đã giao cho bạn nhiệm vụ «trực tin khẩn» ở Phường Hải Châu." in told["text"]
    assert "Từ nay bạn nhận tin khẩn của Phường Hải Châu" in told["text"]

    # The demo official's duty is removed the same way.
    await city.press("⬅️ Cán bộ của đơn vị")
    await city.press("Anh Phạm Minh Tuấn")
    assert "Bỏ nhiệm vụ «trực tin khẩn» của Anh Phạm Minh Tuấn" in await city.press("➖ Bỏ «trực tin khẩn»")
    assert "Đã bỏ nhiệm vụ" in await city.press("➖ Bỏ nhiệm vụ")
    [removed] = await inbox(app, "demo-canbo")
    assert "đã bỏ nhiệm vụ «trực tin khẩn» của bạn ở Phường Hải Châu" in removed["text"]

    _leader, code = await leader_files_an_incident(app)
    alerts = await inbox(app, "real-official")
    assert f"🚨 TIN KHẨN {code}" in alerts[-1]["text"]
    assert len(await inbox(app, "demo-canbo")) == 1  # only the message that the duty was removed
    async with app.sessions() as session:
        audits = (await session.execute(select(AuditLog.action, AuditLog.person_id, AuditLog.detail)
                                        .where(AuditLog.action.like("duty_%")).order_by(AuditLog.id))).all()
        city_id = (await session.scalars(select(Person.id).where(Person.name == "Bà Võ Thị Hoa"))).one()
    assert [(action, by, detail["duty"]) for action, by, detail in audits] == [
        ("duty_granted", city_id, "on_duty"), ("duty_revoked", city_id, "on_duty")]


async def test_a_ward_official_has_no_such_menu_and_cannot_assign_their_own_ward(app) -> None:
    ward = Chat(app, "demo-canbo")
    await ward.send("/menu")
    await ward.press("☰ Thêm…")
    assert not ward.has("Phân công cán bộ")
    async with app.sessions() as session:
        hai_chau = (await session.scalars(select(RoleAssignment.unit_id).join(Person).where(
            Person.name == "Anh Phạm Minh Tuấn"))).one()
    answer = await ward.press_id(f"m.ofl.{hai_chau}")
    assert "Đơn vị này không thuộc địa bàn bạn phân công được." in answer
