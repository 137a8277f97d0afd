"""The Zalo channel end to end: the real app against a fake Zalo Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from bot.bootstrap import App, build, load_demo, prepare_database
from bot.channels.zalo.channel import ZaloChannel
from bot.channels.zalo.client import Backoff, ZaloClient, ZaloError
from bot.web import create_web
from handlers.messages import Button, Reply, rows
from handlers.ports import RetryLater
from models.settings import PROJECT_ROOT, Settings, load_settings
from models.tables import Attachment, Identity, Person, Report
from tests import images
from tests.conftest import CONSENT_COLLECTED
from tests.fakes.zalo_api import FakeZaloApi

PNG = images.png(color=(90, 120, 200, 128))  # a real image: photos are decoded
SECRET = "bi-mat-webhook-1234"
FAST = Backoff(base=0.005, cap=0.05, attempts=6, rate_limited_for=30)


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as server:
        yield server


def zalo_settings(database_url: str, tmp_path: Path, fake: FakeZaloApi, **env: str) -> Settings:
    base = {
        "TOTRUONG_DATABASE__URL": database_url,
        "TOTRUONG_DATABASE__AUTO_MIGRATE": "false",
        "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"),
        "TOTRUONG_WEB__PORT": "0",
        "TOTRUONG_ZALO__TOKEN": fake.token,
        "TOTRUONG_ZALO__API_URL": fake.url,
        **CONSENT_COLLECTED,
    }
    return load_settings({**base, **env}, PROJECT_ROOT / "config.toml")


@asynccontextmanager
async def running(settings: Settings, clock: Any, *, sock: socket.socket | None = None) -> AsyncIterator[App]:
    """The whole app, started; with its web server on `sock` when given."""
    app = build(settings, clock=clock)
    await prepare_database(app)
    await load_demo(app)  # beside a channel token the demo is only loaded when asked for
    channel = app.channels["zalo"]
    assert isinstance(channel, ZaloChannel)
    channel.client.backoff = FAST
    server = None
    task = None
    try:
        await app.start()
        if sock is not None:
            web = create_web(app)
            server = uvicorn.Server(uvicorn.Config(web, log_level="warning", access_log=False, lifespan="off"))
            task = asyncio.create_task(server.serve(sockets=[sock]))
            await eventually(lambda: server.started)
        yield app
    finally:
        if server is not None and task is not None:
            server.should_exit = True
            await task
        await app.stop()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    """Waits until `check()` holds, looking every 2 ms."""
    for _ in range(int(within / 0.002)):
        if check():
            return
        await asyncio.sleep(0.002)
    raise AssertionError(f"still not true after {within} s")


async def settle(fake: FakeZaloApi, channel: ZaloChannel) -> None:
    """Waits until every queued update was fetched and fully handled."""
    await eventually(lambda: not fake.pending and channel.processed >= fake.delivered)


def number_of(text: str, label: str) -> str:
    """The number shown beside `label` in a numbered list ("3. ❓ Hướng dẫn" → "3")."""
    for line in text.splitlines():
        number, dot, rest = line.partition(". ")
        if dot and number.isdecimal() and rest.startswith(label):
            return number
    raise AssertionError(f"no {label!r} in {text!r}")


class ZaloUser:
    """Someone chatting with the bot in Zalo: what they type, what the bot answered."""

    def __init__(self, app: App, fake: FakeZaloApi, user_id: str, name: str = "") -> None:
        self.fake = fake
        self.channel = app.channels["zalo"]
        assert isinstance(self.channel, ZaloChannel)
        self.user_id = user_id
        self.name = name

    async def _push(self, update: dict[str, Any]) -> str:
        before = len(self.fake.texts_to(self.user_id))
        self.fake.push(update)
        await settle(self.fake, self.channel)
        return "\n".join(self.fake.texts_to(self.user_id)[before:])

    async def say(self, text: str) -> str:
        return await self._push(self.fake.text(self.user_id, text, name=self.name))

    async def photo(self, content: bytes, mime: str = "image/png") -> str:
        return await self._push(self.fake.image(self.user_id, self.fake.add_photo(content, mime), name=self.name))


async def test_leader_registers_and_files_the_sample_form_with_numbers(
        database_url: str, tmp_path: Path, fake: FakeZaloApi, clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        hung = ZaloUser(app, fake, "6ede9afa66b88fe6d6a9", "Ông Hùng")
        assert "nhập mã mời" in await hung.say("Xin chào")
        menu = await hung.say("/start HUNG05")
        assert "Đăng ký thành công! Bạn là tổ trưởng của Tổ dân phố Thạch Thang 3" in menu
        assert "\n\n1. " in menu and number_of(menu, "☰ Thêm…")  # the menu, numbered
        assert "👉 Trả lời bằng số (ví dụ: 1), hoặc gõ tên mục." in menu

        date = await hung.say(number_of(menu, "🌿 Vệ sinh môi trường"))
        if "Chọn loại báo cáo:" in date:  # the task has several forms
            date = await hung.say(number_of(date, "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp"))
        assert "Câu 1. Tổ mình ra quân ngày nào?" in date
        assert "1. Hôm nay\n2. Hôm qua\n3. ✖️ Hủy" in date
        people = await hung.say("1")
        assert "Câu 2. Có bao nhiêu người tham gia?" in people
        assert "Hoặc gõ: «Quay lại», «Hủy»." in people  # a number question: digits are the answer
        assert "Câu 3. Bao nhiêu hộ gia đình tham gia?" in await hung.say("35")
        activities = await hung.say("20")
        assert "Câu 4. Tổ đã làm những việc gì?" in activities
        assert "1. ▫️ Quét dọn đường, kiệt hẻm" in activities
        assert "6. ✔️ Xong\n7. ✖️ Hủy\n0. ⬅️ Quay lại" in activities
        assert "Câu 3. Bao nhiêu hộ" in await hung.say("0")  # 0 goes back
        await hung.say("0")  # …where 0 is an answer: no household came
        assert "1. ✅ Quét dọn đường, kiệt hẻm" in await hung.say("1")
        assert "2. ✅ Khơi thông cống rãnh" in await hung.say("khoi thong")  # words, no diacritics
        assert "Câu 5. Thu gom được khoảng bao nhiêu ký rác?" in await hung.say("6")
        assert "Câu 6. Còn điểm rác tồn đọng" in await hung.say("120,5")
        where = await hung.say("1")
        assert "(7/10) Điểm rác tồn đọng ở đâu?" in where
        assert "Zalo chưa chuyển vị trí chia sẻ cho bot. Hãy gõ địa chỉ, hoặc gõ tọa độ" in where
        rating = await hung.say("16.0718, 108.2204")
        assert "1. Tốt\n2. Khá\n3. Cần cố gắng thêm" in rating
        ask_photo = await hung.say("2")
        assert "(9/10) Gửi một ảnh khu vực sau khi dọn" in ask_photo
        assert "🖼 Trên Zalo: bấm biểu tượng hình ảnh" in ask_photo
        assert "(10/10) Ghi chú thêm" in await hung.photo(PNG)
        summary = await hung.say("Cần thêm xe thu gom rác ở kiệt 42")
        for line in ["• Ngày ra quân: 22/11/2026", "• Số người tham gia: 35 người", "• Số hộ tham gia: 0 hộ",
                     "• Hoạt động: Quét dọn đường, kiệt hẻm, Khơi thông cống rãnh",
                     "• Rác thu gom (kg): 120,5 kg", "• Còn điểm rác tồn đọng: Có",
                     "• Vị trí điểm rác: 📍 16.07180, 108.22040", "• Tự đánh giá: Khá",
                     "• Ảnh sau khi dọn: 📷 đã gửi ảnh", "1. ✅ Gửi báo cáo\n2. ✏️ Sửa một câu\n3. ✖️ Hủy"]:
            assert line in summary
        done = await hung.say("1")
        assert "✅ Đã gửi báo cáo «Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp»." in done

    assert all(len(s.text) <= 2000 for s in fake.sent)
    assert {c.method for c in fake.calls} >= {"getMe", "deleteWebhook", "getUpdates", "sendMessage",
                                               "sendChatAction"}
    async with app.sessions() as session:
        report = (await session.scalars(select(Report))).one()
        attachment = await session.get(Attachment, report.data["anh"]["attachment"])
        identity = (await session.scalars(select(Identity).where(Identity.channel == "zalo"))).one()
    assert f"Mã báo cáo: {report.code}" in done
    assert report.data["so_ho"] == 0 and report.data["nguoi_tham_gia"] == 35
    assert report.data["hoat_dong"] == ["quet_don", "khoi_thong"]
    assert report.data["danh_gia"] == "kha"
    assert attachment is not None and attachment.mime == "image/png"  # transparent: kept as PNG, re-encoded
    assert images.pixels(app.files.path_of(attachment).read_bytes()) == images.pixels(PNG)
    assert identity.external_id == "6ede9afa66b88fe6d6a9" and identity.display_name == "Ông Hùng"


async def test_resident_opts_out_with_dung(database_url: str, tmp_path: Path, fake: FakeZaloApi, clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        lan = ZaloUser(app, fake, "a1b2c3d4e5f60718293a", "Chị Lan")
        assert "Bạn là người dân của Tổ dân phố Thạch Thang 3" in await lan.say("TT3DAN")
        asked = await lan.say("DỪNG")
        assert "Tắt thông báo và lời nhắc?" in asked
        stopped = await lan.say(number_of(asked, "🔕 Tắt"))
        assert "Bạn đã tắt thông báo và lời nhắc." in stopped and "gõ BẮT ĐẦU" in stopped
        async with app.sessions() as session:
            person = (await session.scalars(
                select(Person).join(Identity, Identity.person_id == Person.id)
                .where(Identity.external_id == "a1b2c3d4e5f60718293a"))).one()
        assert person.opted_out


async def test_stickers_unsupported_unknown_and_repeated_updates(
        database_url: str, tmp_path: Path, fake: FakeZaloApi, clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        user = ZaloUser(app, fake, "0f0f0f0f0f0f0f0f0f0f")
        assert "Tôi chưa hiểu được nhãn dán" in await user._push(fake.sticker(user.user_id))
        assert "Zalo không chuyển nội dung tin nhắn này" in await user._push(fake.unsupported(user.user_id))
        assert await user._push(fake.update("message.reaction.received", user.user_id)) == ""
        in_group = fake.text(user.user_id, "/help", chat="9999999999")
        in_group["message"]["chat"]["chat_type"] = "GROUP"
        fake.push(in_group)
        assert await user._push(fake.text(user.user_id, "xin chào")) and not fake.texts_to("9999999999")
        repeated = fake.text(user.user_id, "/help")
        assert "Hướng dẫn sử dụng" in await user._push(repeated)
        assert await user._push(repeated) == ""  # the same message_id again: dropped
        photo_failed = await user._push(fake.image(user.user_id, f"{fake.url}/photos/missing.jpg"))
        assert "không tải được ảnh" in photo_failed
    assert caplog.records and fake.token.split(":")[1] not in caplog.text  # the token is never logged


async def test_a_wrong_webhook_secret_is_rejected(database_url: str, tmp_path: Path, fake: FakeZaloApi,
                                                  clock: Any) -> None:
    sock = free_socket()
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = zalo_settings(database_url, tmp_path, fake, TOTRUONG_ZALO__MODE="webhook",
                             TOTRUONG_ZALO__WEBHOOK_SECRET=SECRET, TOTRUONG_WEB__PUBLIC_URL=public)
    fake.fetch_photos = True
    async with running(settings, clock, sock=sock) as app:
        await eventually(lambda: bool(fake.webhook))
        assert fake.webhook == {"url": f"{public}/zalo/webhook", "secret_token": SECRET}
        hook = fake.webhook["url"]
        hello = fake.text("9a9a9a9a9a9a9a9a9a9a", "/start TT3DAN")
        assert (await fake.push_webhook(hook, hello, secret="sai-bi-mat")).status_code == 403
        assert (await fake.push_webhook(hook, hello, secret=None)).status_code == 403
        assert not [c for c in fake.calls if c.method == "sendMessage"]
        async with app.sessions() as session:
            assert not (await session.scalars(select(Identity).where(Identity.channel == "zalo"))).all()

        answer = await fake.push_webhook(hook, hello, secret=SECRET, wrap=True)
        assert answer.status_code == 200 and answer.json() == {"ok": True}
        assert "Bạn là người dân" in fake.texts_to("9a9a9a9a9a9a9a9a9a9a")[-1]
        assert (await fake.push_webhook(hook, fake.text("9a9a9a9a9a9a9a9a9a9a", "/help"),
                                        secret=SECRET)).status_code == 200
        assert "Hướng dẫn sử dụng" in fake.texts_to("9a9a9a9a9a9a9a9a9a9a")[-1]

        # A photo reply goes out by URL: a signed link that Zalo fetches from the app.
        async with app.sessions() as session, session.begin():
            from models.repos import Repo
            photo_id = await app.files.save(Repo(session), content=PNG, mime="image/png", uploader=None)
        await app.channels["zalo"].send("9a9a9a9a9a9a9a9a9a9a", [Reply("Biểu đồ tuần này", photo_id=photo_id)])
        assert fake.sent[-2].photo.startswith(f"{public}/zalo/files/{photo_id}/")
        assert fake.fetched[-1].status == 200 and fake.fetched[-1].size == len(PNG)
        assert fake.sent[-1].text == "Biểu đồ tuần này"
        import httpx
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{public}/zalo/files/{photo_id}/{'0' * 32}")).status_code == 404


async def test_a_429_storm_is_survived_with_nothing_lost(database_url: str, tmp_path: Path, fake: FakeZaloApi,
                                                         clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        channel = app.channels["zalo"]
        assert isinstance(channel, ZaloChannel)
        fake.fail("sendMessage", 429, times=10, retry_after=0.02, description="Too many requests")
        fake.fail("sendMessage", 429, times=30, description="Too many requests")
        fake.fail("sendMessage", 502, times=3, http_status=502)
        fake.fail("getUpdates", 500, times=2)
        users = [f"{n:020x}" for n in range(12)]
        for round_ in range(6):
            for user in users:
                fake.push(fake.text(user, f"/x{round_}"))
        await settle(fake, channel)
    assert sum(1 for c in fake.calls if c.error == 429) == 40
    for user in users:
        texts = fake.texts_to(user)
        # Every update got its answer exactly once, in the order the user wrote.
        assert texts == [f"Không có lệnh /x{n}. Gõ /help để xem hướng dẫn." for n in range(6)], texts


async def test_long_texts_are_split_at_paragraphs(database_url: str, tmp_path: Path, fake: FakeZaloApi,
                                                  clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        paragraphs = [(f"Đoạn {n}: " + "bà con tổ dân phố " * 40).strip() for n in range(8)]
        ids = await app.channels["zalo"].send("c0ffee", [Reply("\n\n".join(paragraphs))])
    texts = fake.texts_to("c0ffee")
    assert len(ids) == len(texts) > 1 and all(len(t) <= 2000 for t in texts)
    assert "\n\n".join(texts) == "\n\n".join(paragraphs)  # cut only between paragraphs


async def test_a_rejected_token_stops_the_channel(database_url: str, tmp_path: Path, fake: FakeZaloApi,
                                                  clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings = zalo_settings(database_url, tmp_path, fake, TOTRUONG_ZALO__TOKEN="123:revoked")
    with caplog.at_level(logging.INFO, logger="bot.channels.zalo.channel"):
        async with running(settings, clock) as app:
            channel = app.channels["zalo"]
            assert isinstance(channel, ZaloChannel)
            await eventually(lambda: channel.dead)
            with pytest.raises(RetryLater):  # a delivery is never taken for sent: the outbox retries it later
                await channel.send("someone", [Reply("Xin chào")])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "401" in errors[0].getMessage() and "TOTRUONG_ZALO__TOKEN" in errors[0].getMessage()
    assert [c.method for c in fake.calls] == ["getMe"]


async def test_numbers_survive_a_restart_and_follow_deliveries(database_url: str, tmp_path: Path,
                                                                fake: FakeZaloApi, clock: Any) -> None:
    settings = zalo_settings(database_url, tmp_path, fake)
    async with running(settings, clock) as app:
        hung = ZaloUser(app, fake, "6ede9afa66b88fe6d6a9", "Ông Hùng")
        menu = await hung.say("/start HUNG05")
    fake.delivered = 0  # counted again for the new process
    async with running(settings, clock) as app:  # a new process: nothing in memory
        hung = ZaloUser(app, fake, "6ede9afa66b88fe6d6a9", "Ông Hùng")
        assert "Các mục khác:" in await hung.say(number_of(menu, "☰ Thêm…"))
        # A message from someone else (a delivery) with its own list: its numbers win next.
        notice = Reply("📢 Thông báo của phường", rows([Button("m.help", "❓ Hướng dẫn")]))
        await app.channels["zalo"].send(hung.user_id, [notice])
        assert "1. ❓ Hướng dẫn" in fake.texts_to(hung.user_id)[-1]
        assert "Hướng dẫn sử dụng" in await hung.say("1")
        assert "Hướng dẫn sử dụng" not in await hung.say("1")  # that list is gone: "1" is text again


async def test_the_client_reads_zalo_answers(fake: FakeZaloApi) -> None:
    client = ZaloClient(fake.token, fake.url, backoff=FAST)
    try:
        assert (await client.get_me())["account_name"] == "bot.ToTruongFake"
        fake.max_poll_wait = 0.05
        assert await client.get_updates(wait=30) is None  # 408: the long poll ended empty
        fake.push(fake.text("u1", "Xin chào"))
        update = await client.get_updates(wait=30)
        assert update is not None and update["message"]["text"] == "Xin chào"
        assert isinstance(update["message"]["date"], int) and isinstance(update["message"]["message_id"], str)
        with pytest.raises(ZaloError) as too_long:
            await client.send_message("u1", "x" * 2001)
        assert too_long.value.code == 400
        big = fake.add_photo(b"\xff\xd8" + b"0" * 5000, "image/jpeg")
        assert await client.download(big, 1001) == (b"\xff\xd8" + b"0" * 999, "image/jpeg")
        assert await client.download(f"{fake.url}/photos/none.jpg", 1001) is None
    finally:
        await client.aclose()
    unreachable = ZaloClient(fake.token, "http://127.0.0.1:9", backoff=FAST)
    with pytest.raises(ZaloError) as down:
        await unreachable.get_me()
    assert down.value.code == 0 and "network error" in str(down.value)
    await unreachable.aclose()


async def test_an_official_on_zalo_acknowledges_an_urgent_incident_by_number(
        database_url: str, tmp_path: Path, fake: FakeZaloApi, clock: Any) -> None:
    async with running(zalo_settings(database_url, tmp_path, fake), clock) as app:
        # The ward's official on duty (a demo persona) also uses Zalo: deliveries reach every identity.
        async with app.sessions() as session, session.begin():
            official_id = (await session.scalars(select(Identity.person_id).where(
                Identity.channel == "sim", Identity.external_id == "demo-canbo"))).one()
            session.add(Identity(person_id=official_id, channel="zalo", external_id="0ff1c1a10ff1c1a10ff1",
                                 chat_id="0ff1c1a10ff1c1a10ff1", display_name="Anh Tuấn"))
        leader = ZaloUser(app, fake, "6ede9afa66b88fe6d6a9", "Ông Hùng")
        official = ZaloUser(app, fake, "0ff1c1a10ff1c1a10ff1", "Anh Tuấn")
        menu = await leader.say("/start HUNG05")
        what = await leader.say(number_of(menu, "🚨 Báo tin khẩn"))
        assert "Chuyện gì đang xảy ra?" in what and "1. Cháy, nổ" in what
        assert "Ở đâu?" in await leader.say("1")
        assert "Mô tả ngắn, hoặc gửi một ảnh." in await leader.say("Kiệt 42 Lê Duẩn")
        done = await leader.photo(PNG)
        assert "🚨 Đã chuyển tin khẩn tới 1 cán bộ trực của Phường Hải Châu" in done
        code = done.split("Mã: ")[1].split(".")[0]
        for _ in range(100):  # the alert goes through the outbox too
            if fake.texts_to(official.user_id) and "TIN KHẨN" in fake.texts_to(official.user_id)[-1]:
                break
            await asyncio.sleep(0.05)
        alert = fake.texts_to(official.user_id)[-1]
        assert f"🚨 TIN KHẨN {code}" in alert and "1. ✅ Đã tiếp nhận\n2. ✔️ Đã xử lý" in alert
        assert "«Báo tin khẩn» 22/11 «Cháy, nổ»: đã tiếp nhận" in await official.say("1")
        acknowledged = f"đã tiếp nhận báo cáo «Báo tin khẩn» 22/11 «Cháy, nổ» lúc 08:30 22/11/2026. (Mã {code})"
        for _ in range(100):  # the leader is told through the outbox, by the running dispatcher
            if acknowledged in fake.texts_to(leader.user_id)[-1]:
                break
            await asyncio.sleep(0.05)
        assert acknowledged in fake.texts_to(leader.user_id)[-1]


async def test_a_resident_agrees_to_the_privacy_notice_by_number_and_reads_their_data(
        database_url: str, tmp_path: Path, fake: FakeZaloApi, clock: Any) -> None:
    settings = zalo_settings(database_url, tmp_path, fake, TOTRUONG_PRIVACY__ASK_CONSENT="true")
    async with running(settings, clock) as app:
        lan = ZaloUser(app, fake, "7f7f7f7f7f7f7f7f7f7f", "Lan Zalo")
        notice = await lan.say("/start TT3DAN")
        assert "🔒 Trước khi tham gia, xin bạn đọc và đồng ý:" in notice
        assert "Đăng ký thành công" not in notice
        declined = await lan.say(number_of(notice, "❌ Không đồng ý"))
        assert "hãy gửi lại mã mời TT3DAN" in declined
        joined = await lan.say(number_of(declined, "✅ Tôi đồng ý"))
        assert "Cảm ơn bạn đã đồng ý." in joined and "Bạn là người dân của Tổ dân phố Thạch Thang 3" in joined
        mine = await lan.say("/dulieu")
        assert "Tên: Lan Zalo" in mine and "Tài khoản: Zalo (Lan Zalo)" in mine
        assert number_of(mine, "🗑️ Xoá dữ liệu của tôi")
