"""The Telegram channel end to end: the real app, polling a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from bot.channels.port import BlockedByUser, RetryLater
from bot.channels.telegram.channel import TelegramChannel
from bot.cli import app as cli
from handlers.messages import Button, Keyboard, Reply
from models.repos import Repo
from models.settings import Settings
from models.tables import Attachment, Identity, Report
from tests import images
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest_telegram import person, point_at, running

PNG = images.png(color=(50, 120, 200, 128))  # a real image: photos are decoded


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


async def identity(app, user_id: int) -> Identity:
    async with app.sessions() as session:
        return (await session.scalars(select(Identity).where(
            Identity.channel == "telegram", Identity.external_id == str(user_id)))).one()


async def test_leader_registers_by_deep_link_and_files_a_report_with_photo_and_location(
        app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    commands = {c["command"]: c["description"] for c in fake.commands[""]}
    assert commands == {"start": "Bắt đầu, đăng ký bằng mã mời", "menu": "Về menu chính",
                        "help": "Hướng dẫn sử dụng", "huy": "Hủy việc đang làm", "lang": "Đổi ngôn ngữ",
                        "stop": "Dừng nhận mọi tin nhắn", "dulieu": "Xem, tải về hoặc xoá dữ liệu của tôi"}
    hung = person(fake, telegram, 5001, "Hùng")
    # https://t.me/totruong_test_bot?start=HUNG05 makes Telegram send "/start HUNG05".
    answer = await hung.send("/start HUNG05")
    assert "✅ Đăng ký thành công! Bạn là tổ trưởng của Tổ dân phố Thạch Thang 3, Phường Hải Châu" in answer
    assert "🌿 Vệ sinh môi trường, nếp sống văn minh" in hung.inline_labels

    menu_id = fake.sent_to(hung.id)[-1]["message_id"]
    answer = await hung.press("Vệ sinh môi trường")
    menu = fake.messages[(hung.id, menu_id)]
    assert menu["text"].endswith("👉 🌿 Vệ sinh môi trường, nếp sống văn minh")  # the choice stays readable
    assert "reply_markup" not in menu  # and the old buttons are gone
    if "Chọn loại báo cáo" in answer:  # the task has several forms
        answer = await hung.press("Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp")
    assert "Câu 1. Tổ mình ra quân ngày nào?" in answer
    assert "Có bao nhiêu người tham gia?" in await hung.press("Hôm nay")
    assert "Bao nhiêu hộ gia đình tham gia?" in await hung.send("35")
    assert "Tổ đã làm những việc gì?" in await hung.send("20")
    question = fake.sent_to(hung.id)[-1]
    await hung.press("Quét dọn")
    assert "✅ Quét dọn đường, kiệt hẻm" in hung.inline_labels
    assert [m["message_id"] for m in hung.messages] == [question["message_id"]]  # ticked in place
    assert "Thu gom được khoảng bao nhiêu ký rác?" in await hung.press("Xong")
    assert "Còn điểm rác tồn đọng" in await hung.send("120,5")
    assert "Điểm rác tồn đọng ở đâu?" in await hung.press("Có")
    keyboard = hung.reply_keyboard
    assert keyboard["keyboard"][0][0] == {"text": "📍 Gửi vị trí hiện tại", "request_location": True}
    assert "✖️ Hủy" in [button["text"] for row in keyboard["keyboard"] for button in row]
    assert "Còn điểm rác tồn đọng" in await hung.tap("Quay lại")  # a key sends its label, read as the button
    assert "Điểm rác tồn đọng ở đâu?" in await hung.press("Có")
    assert "Tổ tự đánh giá" in await hung.location(16.0718, 108.2204)
    assert "Gửi một ảnh" in await hung.press("Tốt")
    assert "Ghi chú thêm" in await hung.photo(PNG)
    summary = await hung.send("<b>Cảm ơn</b> bà con & các cháu 🌿")
    assert "• Vị trí điểm rác: 📍 16.07180, 108.22040" in summary
    assert "• Ảnh sau khi dọn: 📷 đã gửi ảnh" in summary
    assert "• Ghi chú: <b>Cảm ơn</b> bà con & các cháu 🌿" in summary  # plain text: nothing escaped or lost
    assert "✅ Đã gửi báo cáo «Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp»." in await hung.press("Gửi báo cáo")

    async with app.sessions() as session:
        report = (await session.scalars(select(Report))).one()
        attachment = await session.get(Attachment, report.data["anh"]["attachment"])
    assert report.data["vi_tri_diem_rac"]["lat"] == 16.0718 and report.data["nguoi_tham_gia"] == 35
    # the largest size, fetched with getFile (stored re-encoded: the same picture, not the same bytes)
    assert images.pixels(app.files.path_of(attachment).read_bytes()) == images.pixels(PNG)
    assert fake.answered == set(fake.pressed)  # every button press was answered: no spinning buttons
    assert all("parse_mode" not in c.params for c in fake.calls_of("sendMessage"))


async def test_blocked_user_is_marked_and_skipped_until_they_write_again(
        app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    lan = person(fake, telegram, 5002, "Lan")
    await lan.send("/start TT3DAN")
    fake.fail("sendMessage", 403, chat_id=lan.id)
    await lan.send("xin chào")
    blocked = await identity(app, lan.id)
    assert blocked.blocked
    sent = len(fake.calls_of("sendMessage", chat_id=lan.id))
    await app.deliver_to_person(blocked.person_id, [Reply("Thông báo: cắt nước ngày mai.")])
    await app.dispatcher.drain()
    assert len(fake.calls_of("sendMessage", chat_id=lan.id)) == sent  # nothing sent to a blocked chat

    fake.fail("sendMessage", 403, chat_id=lan.id)
    with pytest.raises(BlockedByUser):
        await telegram.send(str(lan.id), [Reply("Xin chào")])

    assert await lan.send("/menu")  # writing again unblocks
    assert not (await identity(app, lan.id)).blocked


async def test_flood_wait_holds_up_only_that_chat(app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    lan, mai = person(fake, telegram, 5003, "Lan"), person(fake, telegram, 5004, "Mai")
    fake.flood("sendMessage", retry_after=1, chat_id=lan.id)
    lan_update = fake.send_text(lan.user, "xin chào")
    await asyncio.sleep(0.2)  # Lan's answer is now waiting out the flood limit
    mai_answer = await mai.send("xin chào")
    assert "nhập mã mời" in mai_answer
    await lan.settle(lan_update)
    lan_calls = fake.calls_of("sendMessage", chat_id=lan.id)
    mai_calls = fake.calls_of("sendMessage", chat_id=mai.id)
    assert [c.status for c in lan_calls] == [429, 200]
    assert mai_calls[0].at < lan_calls[1].at  # Mai was answered while Lan's chat waited
    assert lan_calls[1].at - lan_calls[0].at >= 1.0  # Lan's waited the full retry_after


async def test_server_errors_and_lost_connections_are_retried(app, fake: FakeTelegram,
                                                               telegram: TelegramChannel) -> None:
    hoa = person(fake, telegram, 5005, "Hoa")
    fake.fail("sendMessage", 500, chat_id=hoa.id)
    assert "nhập mã mời" in await hoa.send("xin chào")
    assert [c.status for c in fake.calls_of("sendMessage", chat_id=hoa.id)] == [500, 200]

    fake.disconnect("getUpdates")  # the next long poll gets no answer at all
    assert "nhập mã mời" in await hoa.send("còn đó không?")
    assert "nhập mã mời" in await hoa.send("alo")  # polling came back by itself
    assert [c.status for c in fake.calls_of("getUpdates")].count(-1) == 1


async def test_a_bad_update_is_logged_and_skipped(app, fake: FakeTelegram, telegram: TelegramChannel,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    tuan = person(fake, telegram, 5006, "Tuấn")
    fake.push({"message": {"text": "no chat, no date, no id"}})
    fake.push({"callback_query": {"id": "x", "data": "m.menu"}})
    fake.push({"message": {"message_id": 1, "date": 0, "chat": {"id": -100, "type": "supergroup", "title": "Tổ 3"},
                           "from": tuan.user, "text": "/menu"}})  # a group: not for this bot
    assert "nhập mã mời" in await tuan.send("xin chào")
    assert "cannot be read" in caplog.text
    assert not fake.calls_of("sendMessage", chat_id=-100)

    fake.fail("getFile", 400, "Bad Request: wrong file_id")
    assert "Xin lỗi, đã có lỗi xảy ra" in await tuan.photo(PNG)  # an error handling it: an apology
    assert "nhập mã mời" in await tuan.send("xin chào")  # and the next update is fine


async def test_photo_sizes_within_the_limit(app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    limit = app.settings.limits.photo_max_bytes
    sau = person(fake, telegram, 5007, "Sáu")
    await sau.send("/start HUNG05")
    assert "Ảnh quá lớn (12 MB). Giới hạn là 10 MB; hãy gửi ảnh nhỏ hơn." in await sau.photo(
        PNG, file_sizes=(limit + 1, 12_000_000))
    assert not fake.calls_of("getFile")
    await sau.photo(PNG, file_sizes=(500, limit + 1))  # the big size is over the limit: the smaller one is taken
    file_calls = fake.calls_of("getFile")
    assert len(file_calls) == 1
    assert fake.files[file_calls[0].params["file_id"]][1].startswith("photos/thumb")


async def test_long_texts_are_split_at_paragraphs_and_buttons_go_last(fake: FakeTelegram,
                                                                       telegram: TelegramChannel) -> None:
    paragraphs = [f"Đoạn {n}: " + ("rác thải sinh hoạt được thu gom " * 6).strip() for n in range(50)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 4096 * 2
    ids = await telegram.send("5008", [Reply(text, ((Button("m.menu", "Menu"),),))])
    messages = fake.sent_to(5008)
    assert len(ids) == len(messages) == 3
    assert all(len(m["text"]) <= 4096 for m in messages)
    assert "\n\n".join(m["text"] for m in messages) == text  # cut between paragraphs, nothing lost
    assert [("reply_markup" in m) for m in messages] == [False, False, True]


async def test_contacts_and_locations_reach_the_core(app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    mai = person(fake, telegram, 5009, "Mai")
    assert await mai.contact("+84905123456")
    assert await mai.location(16.06, 108.22)
    assert (await identity(app, mai.id)).display_name == "Mai"


async def test_invite_create_prints_the_deep_link_and_writes_its_qr_code(
        app, fake: FakeTelegram, telegram: TelegramChannel, settings: Settings, tmp_path: Path) -> None:
    env = {"TOTRUONG_DATABASE__URL": settings.database.url, "TOTRUONG_DATABASE__AUTO_MIGRATE": "false",
           "TOTRUONG_APP__DATA_DIR": str(settings.app.data_dir), "TOTRUONG_TELEGRAM__TOKEN": fake.token,
           "TOTRUONG_TELEGRAM__API_URL": fake.url}
    qr = tmp_path / "moi-to-truong.png"
    arguments = ["invite", "create", "--unit", "HC-HC7", "--role", "leader", "--qr", str(qr)]
    # The command runs its own event loop: in a thread, so that the fake server keeps answering.
    result = await asyncio.to_thread(CliRunner().invoke, cli, arguments, env=env)
    assert result.exit_code == 0, result.output
    code, link = result.stdout.splitlines()
    assert link == f"https://t.me/totruong_test_bot?start={code}"
    with Image.open(qr) as image:
        assert image.format == "PNG" and image.size[0] >= 100
    # Tapping the link sends "/start CODE".
    ba_tu = person(fake, telegram, 5010, "Tư")
    assert "Bạn là tổ trưởng của Tổ dân phố Hải Châu 7" in await ba_tu.send("/start " + link.split("?start=")[1])


async def test_photos_go_out_once_and_keyboards_ask_for_a_phone_number(
        app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    async with app.sessions() as session, session.begin():
        photo_id = await app.files.save(Repo(session), content=PNG, mime="image/png", uploader=None)
    chart = Reply("📊 Tỷ lệ báo cáo tháng 11", photo_id=photo_id)
    await telegram.send("5011", [chart])
    await telegram.send("5011", [Reply("Biểu đồ chi tiết. " * 80, photo_id=photo_id)])  # too long for a caption
    first, second = fake.calls_of("sendPhoto", chat_id=5011)
    assert first.files["photo"][1] == PNG and first.params["caption"] == chart.text
    assert not second.files and "caption" not in second.params  # the file_id Telegram gave, not a new upload
    assert fake.sent_to(5011)[-1]["text"].startswith("Biểu đồ chi tiết.")

    ask = Reply("Chia sẻ số điện thoại để cán bộ phường liên hệ?", ((Button("m.menu", "⬅️ Để sau"),),),
                keyboard=Keyboard.REQUEST_CONTACT)
    await telegram.send("5011", [ask])
    keyboard = fake.calls_of("sendMessage", chat_id=5011)[-1].params["reply_markup"]
    assert keyboard["keyboard"] == [[{"text": "📱 Chia sẻ số điện thoại", "request_contact": True}],
                                    [{"text": "⬅️ Để sau"}]]
    await telegram.send("5011", [Reply("Cảm ơn bạn.")])
    assert fake.calls_of("sendMessage", chat_id=5011)[-1].params["reply_markup"] == {"remove_keyboard": True}


async def test_deliveries_reach_telegram_and_blocking_in_the_app_is_noticed(
        app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    lan = person(fake, telegram, 5012, "Lan")
    await lan.send("/start TT3DAN")
    lan_identity = await identity(app, lan.id)
    await app.deliver_to_person(lan_identity.person_id, [Reply("Thông báo: họp tổ lúc 19:30 tối nay.")])
    await app.dispatcher.drain()  # the outbox sends through the Telegram channel
    assert fake.sent_to(lan.id)[-1]["text"] == "Thông báo: họp tổ lúc 19:30 tối nay."

    fake.flood("sendMessage", retry_after=300, chat_id=lan.id)  # too long to wait for: the outbox retries later
    with pytest.raises(RetryLater):
        await telegram.send(str(lan.id), [Reply("Nhắc lịch họp tổ.")])

    kicked = {"chat": {"id": lan.id, "type": "private", "first_name": "Lan"}, "from": lan.user, "date": 0,
              "old_chat_member": {"status": "member", "user": fake._bot_user()},
              "new_chat_member": {"status": "kicked", "user": fake._bot_user(), "until_date": 0}}
    await lan.settle(fake.push({"my_chat_member": kicked}))
    assert (await identity(app, lan.id)).blocked


async def test_an_officials_chat_receives_an_urgent_incident_with_working_buttons(
        app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    if app.forms.get("khan_cap") is None:
        pytest.skip("urgent incidents come with the reporting issue")
    # Anh Tuấn, the ward official on duty in the demo, uses Telegram too.
    async with app.sessions() as session, session.begin():
        official = (await session.scalars(select(Identity).where(Identity.external_id == "demo-canbo"))).one()
        session.add(Identity(person_id=official.person_id, channel="telegram", external_id="5020", chat_id="5020",
                             display_name="Tuấn"))
    tuan, hung = person(fake, telegram, 5020, "Tuấn"), person(fake, telegram, 5021, "Hùng")
    await hung.send("/start HUNG05")
    await hung.press("Báo tin khẩn")
    await hung.press("Cháy, nổ")
    await hung.location(16.0718, 108.2204)
    assert "🚨" in await hung.photo(PNG)  # the photo is the description; the incident goes at once
    await app.dispatcher.drain()

    incident = fake.sent_to(tuan.id)[-1]
    assert "TIN KHẨN" in incident["caption"] and "Cháy, nổ" in incident["caption"]
    assert incident["photo"] and incident["reply_markup"]["inline_keyboard"]
    await tuan.press("Đã tiếp nhận")
    await app.dispatcher.drain()
    async with app.sessions() as session:
        report = (await session.scalars(select(Report).where(Report.form_key == "khan_cap"))).one()
    assert report.status == "received"
    told = fake.sent_to(hung.id)[-1]["text"]
    assert report.code in told and "tiếp nhận" in told
    assert "reply_markup" not in fake.messages[(tuan.id, incident["message_id"])]  # no second acknowledgement


async def test_one_chat_is_handled_in_order_and_its_backlog_holds_up_no_other(
        app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    hung, mai = person(fake, telegram, 5015, "Hùng"), person(fake, telegram, 5016, "Mai")
    await hung.send("/start HUNG05")
    if "Chọn loại báo cáo" in await hung.press("Vệ sinh môi trường"):
        await hung.press("Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp")
    fake.slow("sendMessage", 0.1, chat_id=hung.id, times=20)
    before = len(fake.calls_of("sendMessage", chat_id=hung.id))
    burst = ["hôm nay", "35", "20", *["?"] * 17]  # typed faster than the bot answers, more than it handles at once
    last = [fake.send_text(hung.user, text) for text in burst][-1]
    mai_answer = await mai.send("xin chào")
    await hung.settle(last)
    replies = fake.calls_of("sendMessage", chat_id=hung.id)[before:]
    assert "nhập mã mời" in mai_answer
    assert fake.calls_of("sendMessage", chat_id=mai.id)[0].at < replies[2].at  # not after Hùng's backlog
    assert [r.params["text"].split(".")[0] for r in replies[:3]] == ["Câu 2", "Câu 3", "Câu 4"]  # in order


async def test_the_token_stays_out_of_the_logs(app, fake: FakeTelegram, telegram: TelegramChannel,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    await person(fake, telegram, 5017, "Lan").send("xin chào")
    assert "sendMessage" in caplog.text and fake.token not in caplog.text
