"""People's rights over their data (Law 91/2025/QH15, Decree 356/2025), through the engine: the
privacy notice at joining (nothing stored before "Đồng ý", "Không" stores nothing), asking the
people who were there before it, /dulieu with its file, deletion (reports kept and anonymised,
the person, photos and messages gone, audited)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update

from handlers.flows import consent
from models.settings import Settings
from models.tables import (
    Attachment,
    AuditLog,
    Identity,
    Invite,
    Person,
    Report,
    RoleAssignment,
    SimMessage,
)
from tests.conftest import FakeClock
from tests.helpers import Chat
from tests.integration.test_english import assert_english, english
from tests.integration.test_reports import PNG, inbox, leader_files_an_incident

NOTICE = "🔒 Trước khi tham gia, xin bạn đọc và đồng ý:"


@pytest.fixture
async def asking(settings: Settings, clock: FakeClock) -> AsyncIterator[object]:
    """The application as shipped: the privacy notice is asked in the chat (privacy.ask_consent)."""
    from bot.bootstrap import build, load_demo, prepare_database

    settings.privacy = settings.privacy.model_copy(update={"ask_consent": True})
    application = build(settings, clock=clock)
    await prepare_database(application)
    await load_demo(application)
    try:
        yield application
    finally:
        await application.stop()


async def identity_of(app, user: str) -> tuple[Identity, Person] | None:
    async with app.sessions() as session:
        row = (await session.execute(select(Identity, Person).join(Person, Person.id == Identity.person_id)
                                     .where(Identity.channel == "sim", Identity.external_id == user))).first()
    return None if row is None else (row[0], row[1])


async def rows_about(app, person_id: int) -> dict[str, int]:
    async with app.sessions() as session:
        return {
            "roles": await session.scalar(select(func.count()).select_from(RoleAssignment)
                                          .where(RoleAssignment.person_id == person_id)),
            "audit": await session.scalar(select(func.count()).select_from(AuditLog)
                                          .where(AuditLog.person_id == person_id)),
            "invite_uses": await session.scalar(select(Invite.used).where(Invite.code == "TT3DAN")),
        }


async def test_a_person_joining_reads_the_notice_and_nothing_is_stored_before_they_agree(asking, clock) -> None:
    lan = Chat(asking, "new-lan", name="Chị Lê Thị Lan")
    notice = await lan.send("/start TT3DAN")
    assert NOTICE in notice
    assert "• Lưu gì: tên, số điện thoại (nếu bạn gửi), tin nhắn và ảnh bạn gửi cho trợ lý, các báo cáo." in notice
    assert "để tổ trưởng và phường nhận báo cáo, phản ánh của bạn và gửi thông báo cho bạn" in notice
    assert "ảnh của báo cáo đã xử lý xong 365 ngày, phản ánh đã đóng 730 ngày" in notice
    assert "tổ trưởng của tổ, cán bộ phường và thành phố phụ trách địa bàn" in notice
    assert "Dữ liệu hộ nghèo chỉ cán bộ phụ trách xã hội được xem." in notice
    assert "/dulieu" in notice
    assert lan.labels == ["✅ Đồng ý", "❌ Không đồng ý"]
    identity, person = await identity_of(asking, "new-lan")
    # Only the chat account: no name, no role, the code not used, nothing in the audit log.
    assert (person.name, identity.display_name, person.consented_at, person.consent_version) == ("", "", None, "")
    assert await rows_about(asking, person.id) == {"roles": 0, "audit": 0, "invite_uses": 0}

    declined = await lan.press("Không đồng ý")
    assert "Bạn chưa tham gia, và trợ lý không lưu gì về bạn ngoài tài khoản trò chuyện này." in declined
    assert "hãy gửi lại mã mời TT3DAN" in declined
    assert lan.labels == ["✅ Tôi đồng ý"]
    identity, person = await identity_of(asking, "new-lan")
    assert (person.name, identity.display_name, person.consented_at) == ("", "", None)
    assert await rows_about(asking, person.id) == {"roles": 0, "audit": 0, "invite_uses": 0}

    assert NOTICE in await lan.send("/start TT3DAN")  # coming back as the reply said
    joined = await lan.press("Đồng ý")
    assert "Cảm ơn bạn đã đồng ý." in joined
    assert "✅ Đăng ký thành công! Bạn là người dân của Tổ dân phố Thạch Thang 3" in joined
    assert "💬 Gửi phản ánh" in lan.labels
    identity, person = await identity_of(asking, "new-lan")
    assert (person.name, identity.display_name) == ("Chị Lê Thị Lan", "Chị Lê Thị Lan")
    assert (person.consented_at, person.consent_version) == (clock.now(), consent.VERSION)
    assert await rows_about(asking, person.id) == {"roles": 1, "audit": 2, "invite_uses": 1}  # consent, register
    # Agreed once: a later code goes straight in.
    assert NOTICE not in await lan.send("/menu")


async def test_a_code_typed_without_the_command_asks_the_same_notice(asking) -> None:
    hung = Chat(asking, "new-hung", name="Ông Hùng")
    assert NOTICE in await hung.send("HUNG05")
    assert "Bạn là tổ trưởng của Tổ dân phố Thạch Thang 3" in await hung.press("Đồng ý")


async def test_someone_there_before_the_notice_is_asked_once_before_anything_else(asking) -> None:
    async with asking.sessions() as session, session.begin():  # as the migration leaves them
        await session.execute(update(Person).where(Person.name == "Chị Lê Thị Lan")
                              .values(consent_version="", consented_at=None))
    lan = Chat(asking, "demo-nguoidan")
    asked = await lan.send("Cống trước nhà số 8 bị nghẹt, nước tràn ra đường.")
    assert NOTICE in asked and "Gửi nội dung này" not in asked
    declined = await lan.press("Không đồng ý")
    assert "Bạn chưa đồng ý nên trợ lý chưa thể tiếp tục phục vụ bạn." in declined
    assert lan.labels == ["✅ Tôi đồng ý", "🔒 Dữ liệu của tôi"]
    assert "Tên: Chị Lê Thị Lan" in await lan.press("Dữ liệu của tôi")  # her rights work before agreeing
    assert NOTICE in await lan.send("/menu")
    assert "Cảm ơn bạn đã đồng ý." in await lan.press("Đồng ý")
    assert "💬 Gửi phản ánh" in lan.labels
    assert NOTICE not in await lan.send("/menu")


async def test_dulieu_shows_what_is_held_and_the_file_holds_their_data_and_nobody_elses(app) -> None:
    lan = Chat(app, "demo-nguoidan")
    await lan.send("/menu")
    await lan.press("Gửi phản ánh")
    await lan.send("Đèn đường kiệt 15 Lê Duẩn hỏng một tuần nay.")
    await lan.photo(PNG)
    await lan.press("Gửi phản ánh")
    alert = (await inbox(app, "demo-topho"))[-1]
    deputy = Chat(app, "demo-topho")
    await deputy.press_id(next(b["id"] for row in alert["buttons"] for b in row if "Trả lời" in b["label"]))
    await deputy.send("Đã báo điện lực, mai thay bóng.")
    await leader_files_an_incident(app)  # someone else's report, photo and messages

    shown = await lan.press("Dữ liệu của tôi")  # under "☰ Thêm…"
    assert "🔒 Dữ liệu của bạn trong hệ thống" in shown
    for line in ("Tên: Chị Lê Thị Lan", "Vai trò: Người dân — Tổ dân phố Thạch Thang 3", "Tài khoản: Mô phỏng",
                 "Báo cáo đã gửi: 0", "Phản ánh đã gửi: 1", "Ảnh và tệp đã gửi: 1"):
        assert line in shown
    assert lan.labels[:2] == ["📄 Gửi file", "🗑️ Xoá dữ liệu của tôi"]
    assert "Ông Nguyễn Văn Hùng" not in shown

    sent = await lan.press("Gửi file")
    assert "📄 Đây là toàn bộ dữ liệu của bạn" in sent
    document = lan.replies[0].document_id
    async with app.sessions() as session:
        attachment = await session.get(Attachment, document)
        exported = (await session.scalars(select(AuditLog).where(AuditLog.action == "data_export"))).one()
    data = json.loads(app.files.path_of(attachment).read_text(encoding="utf-8"))
    assert data["person"]["name"] == "Chị Lê Thị Lan"
    assert [f["text"] for f in data["feedback"]] == ["Đèn đường kiệt 15 Lê Duẩn hỏng một tuần nay."]
    assert data["roles"][0]["unit"] == "Tổ dân phố Thạch Thang 3" and data["reports"] == []
    assert len(data["photos"]) == 1
    assert any("Đã báo điện lực, mai thay bóng." in m["text"] for m in data["messages_sent_to_you"])
    everything = json.dumps(data, ensure_ascii=False)
    assert "Hùng" not in everything and "Cháy, nổ" not in everything  # the leader's report, name and photo
    assert exported.target == f"person:{exported.person_id}" and "Lan" not in json.dumps(exported.detail)
    # The file is served to her and nobody else on the simulator.
    async with app.sessions() as session:
        assert attachment.uploaded_by == (await identity_of(app, "demo-nguoidan"))[1].id


async def test_deleting_keeps_the_reports_anonymised_and_the_person_photos_and_messages_go(app, clock) -> None:
    hung, code = await leader_files_an_incident(app)
    async with app.sessions() as session:
        report = (await session.scalars(select(Report).where(Report.code == code))).one()
        photo = await session.get(Attachment, next(v["attachment"] for v in report.data.values()
                                                   if isinstance(v, dict) and "attachment" in v))
    photo_file = app.files.path_of(photo)
    assert photo_file.exists()

    asked = await hung.press("Dữ liệu của tôi")
    assert "Báo cáo đã gửi: 1" in asked
    confirm = await hung.press("Xoá dữ liệu của tôi")
    assert "Xoá dữ liệu của bạn?" in confirm
    assert "Sẽ xoá: tên, tài khoản trò chuyện, vai trò trong tổ" in confirm and "1 ảnh và tệp" in confirm
    assert "Được giữ lại, không còn tên bạn: 1 báo cáo đã gửi (phường phải lưu)" in confirm
    assert "Việc này không làm lại được." in confirm
    assert hung.labels == ["🗑️ Xoá hết", "Không, giữ lại"]
    done = await hung.press("Xoá hết")
    assert "🗑️ Đã xoá dữ liệu của bạn." in done and "hãy nhập mã mời" in done
    assert hung.labels == ["🔑 Tham gia lại"]

    assert await identity_of(app, "demo-totruong") is None
    async with app.sessions() as session:
        assert not (await session.scalars(select(Person).where(Person.name == "Ông Nguyễn Văn Hùng"))).all()
        kept = (await session.scalars(select(Report).where(Report.code == code))).one()
        reporter = await session.get(Person, kept.reporter_id)
        assert await session.get(Attachment, photo.id) is None
        assert not (await session.scalars(select(SimMessage).where(SimMessage.external_id == "demo-totruong"))).all()
        audit = (await session.scalars(select(AuditLog).where(AuditLog.action == "data_erased"))).one()
    assert reporter.name == "Người dùng đã xoá" and kept.status == "sent"
    assert {"removed": True} in kept.data.values()
    assert not photo_file.exists()
    assert audit.person_id is None and audit.detail["reports"] == 1 and audit.detail["photos"] == 1
    assert "Hùng" not in json.dumps(audit.detail, ensure_ascii=False)
    # The ward still reads the report, without the person or the photo.
    shown = await Chat(app, "demo-canbo").press_id(f"m.rv.{kept.id}")
    assert "Cháy, nổ" in shown and "📷 ảnh đã xoá" in shown and "Hùng" not in shown
    # And they can join again, as a new person.
    assert "hãy nhập mã mời" in await hung.press("Tham gia lại")
    again = Chat(app, "demo-totruong", name="Ông Hùng")
    assert "Bạn là tổ trưởng của Tổ dân phố Thạch Thang 3" in await again.send("/start HUNG05")


async def test_in_english_the_notice_the_data_and_its_deletion_read_no_vietnamese(asking) -> None:
    seen: list[tuple[str, str]] = []
    lan = await english(asking, "new-en", seen)
    lan.name = "Lan Le"
    assert "🔒 Before you join, please read and agree:" in await lan.send("/start TT3DAN")
    await lan.press("Do not agree")
    await lan.press("I agree")
    await lan.send("/dulieu")
    await lan.press("Send file")
    await lan.press("Delete my data")
    await lan.press("No, keep it")
    await lan.press("Delete my data")
    await assert_english(asking, seen)  # before the name goes: it is allowed as a name
    assert "Your data has been deleted." in await lan.press("Delete everything")
    await assert_english(asking, seen[-2:])
