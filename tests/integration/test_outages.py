"""Clear answers when the platform underneath fails: PostgreSQL unreachable (a TCP proxy on
127.0.0.1 between the app and the server, cut and restored by the test), SQLite full (PRAGMA
max_page_count), no room for a photo (ENOSPC). The user gets the apology, the simulator API a 503
with a JSON body, /healthz stays 200 while /readyz says why the app is not ready, the form in
progress survives, and nothing half-written stays."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.web import create_web
from handlers.delivery import outbox
from models import sqlite_inloop
from models.tables import Attachment, Conversation, Feedback, Identity, Outbox, Report, ReportEvent
from tests import images
from tests.conftest import CONSENT_COLLECTED, POSTGRES_URL, FakeClock, _truncate_postgres
from tests.helpers import Chat
from tests.integration.test_reports import PNG
from tests.integration.test_status_races import Gate

APOLOGY_TEXT = ("Xin lỗi, hệ thống đang gặp sự cố nên chưa ghi nhận được tin nhắn vừa rồi: chưa có gì được lưu "
                "hay gửi đi. Những gì bạn làm trước đó vẫn còn. Vui lòng thử lại sau ít phút.")
LEADER = "demo-totruong"


def client_for(app: Any) -> httpx.AsyncClient:
    """The simulator API as the page sees it; an unhandled error becomes a 500, as on a real server."""
    transport = httpx.ASGITransport(app=create_web(app), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://sim.test", timeout=30)


def button_of(messages: list[dict], label: str) -> str:
    for message in reversed(messages):
        for row in message["buttons"]:
            for b in row:
                if label in b["label"]:
                    return str(b["id"])
    raise AssertionError(f"no {label!r} in {[m['text'][:60] for m in messages]}")


async def send(client: httpx.AsyncClient, user: str, **body: Any) -> httpx.Response:
    return await client.post("/api/send", json={"user": user, **body})


async def leader_at_the_last_question(client: httpx.AsyncClient) -> None:
    """The leader opens an urgent incident and answers two of its three questions."""
    answer = await send(client, LEADER, text="/start HUNG05")
    answer = await send(client, LEADER, button=button_of(answer.json()["messages"], "Báo tin khẩn"))
    answer = await send(client, LEADER, button=button_of(answer.json()["messages"], "Cháy, nổ"))
    answer = await send(client, LEADER, location={"latitude": 16.0718, "longitude": 108.2204})
    assert answer.status_code == 200 and "Mô tả ngắn, hoặc gửi một ảnh." in answer.json()["messages"][-1]["text"]


def assert_unavailable(response: httpx.Response, reason: str, message: str = APOLOGY_TEXT) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": reason, "message": message}


async def counts(app: Any) -> dict[str, int]:
    """How many rows the tables a message could half-write hold."""
    async with app.sessions() as session:
        return {table.__name__: await session.scalar(select(func.count()).select_from(table))
                for table in (Report, ReportEvent, Outbox, Attachment, Feedback)}


async def step_of(app: Any, user: str) -> tuple[str, str]:
    """The flow the user is in and the question they are at (the form's field, or the flow's step)."""
    async with app.sessions() as session:
        row = (await session.execute(select(Conversation.flow, Conversation.step, Conversation.data)
                                     .join(Identity, Identity.id == Conversation.identity_id)
                                     .where(Identity.external_id == user))).one()
    return row[0], row[2].get("cur") or row[1]


# --- PostgreSQL unreachable --------------------------------------------------------------------

class Proxy:
    """A TCP proxy on 127.0.0.1 between the app and PostgreSQL; `cut` drops every connection and
    refuses new ones (as a stopped server does), `restore` listens on the same port again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.streams: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.streams |= {writer, upstream}
        await asyncio.gather(self._pump(reader, upstream), self._pump(upstream_reader, writer))

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for stream in self.streams:
            stream.transport.abort()
        self.streams.clear()
        await self.server.wait_closed()

    async def restore(self) -> None:
        await self.start()


@pytest.fixture
async def proxied_app(postgres_database: str, tmp_path: Path) -> AsyncIterator[tuple[Any, Proxy]]:
    """The app on the run's PostgreSQL database, reached through a proxy the test can cut."""
    from bot.bootstrap import build, prepare_database
    from models.settings import PROJECT_ROOT, load_settings

    _truncate_postgres(postgres_database)
    url = make_url(postgres_database)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = load_settings({"TOTRUONG_DATABASE__URL": proxied, "TOTRUONG_DATABASE__AUTO_MIGRATE": "false",
                              "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"), "TOTRUONG_WEB__PORT": "0",
                              **CONSENT_COLLECTED},
                             PROJECT_ROOT / "config.toml")
    app = build(settings, clock=FakeClock())
    await prepare_database(app)
    try:
        yield app, proxy
    finally:
        await app.stop()
        if proxy.server is not None:
            proxy.server.close()
        for stream in proxy.streams:
            stream.transport.abort()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="needs TOTRUONG_TEST_POSTGRES_URL")
async def test_postgres_unreachable_answers_503_with_the_apology_and_recovers(proxied_app, monkeypatch) -> None:
    app, proxy = proxied_app
    async with client_for(app) as client:
        await leader_at_the_last_question(client)
        assert (await client.get("/readyz")).json() == {"status": "ready", "database": "ok"}
        before = await counts(app)
        # The connection drops while the incident is being saved: everything of it is rolled back.
        gate = Gate(monkeypatch, outbox, "enqueue")
        gate.armed = True
        saving = asyncio.ensure_future(send(client, LEADER, text="Khói bốc lên từ tầng hai"))
        await asyncio.wait_for(gate.reached.wait(), 10)
        await proxy.cut()
        gate.release.set()
        assert_unavailable(await saving, "database_unavailable")
        # While it is down: every request gets a clear answer, none a bare 500.
        for _ in range(5):
            assert_unavailable(await send(client, LEADER, text="Khói bốc lên từ tầng hai"), "database_unavailable")
        polled = await client.get("/api/messages", params={"user": LEADER})
        assert_unavailable(polled, "database_unavailable",
                           "Hệ thống tạm thời không kết nối được cơ sở dữ liệu. Vui lòng thử lại sau ít phút.")
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["reason"] == "database_unavailable"
        # Back: ready again, nothing of the failed attempts was kept, and the form goes on.
        await proxy.restore()
        assert (await client.get("/readyz")).status_code == 200
        assert await counts(app) == before
        assert await step_of(app, LEADER) == ("form", "mo_ta")
        done = await send(client, LEADER, text="Khói bốc lên từ tầng hai")
        assert done.status_code == 200
        assert "🚨 Đã chuyển tin khẩn tới 1 cán bộ trực" in done.json()["messages"][0]["text"]
        after = await counts(app)
    assert after["Report"] == before["Report"] + 1 and after["ReportEvent"] == before["ReportEvent"] + 1
    assert after["Outbox"] == before["Outbox"] + 1  # the one alert to the official on duty



@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="needs TOTRUONG_TEST_POSTGRES_URL")
async def test_a_postgres_restart_while_the_app_is_idle_costs_no_message(proxied_app) -> None:
    """The pool's connections die with the server between two messages; the next message gets its
    answer (no apology): a dead pooled connection is noticed before it is used (models/db.py)."""
    app, proxy = proxied_app
    async with client_for(app) as client:
        await leader_at_the_last_question(client)
        await proxy.cut()  # the server goes away while nobody writes...
        await proxy.restore()  # ...and is back before the next message
        done = await send(client, LEADER, text="Khói bốc lên từ tầng hai")
        assert done.status_code == 200, done.text
        assert "🚨 Đã chuyển tin khẩn tới 1 cán bộ trực" in done.json()["messages"][0]["text"]
        assert (await client.get("/readyz")).status_code == 200

# --- disk full ---------------------------------------------------------------------------------

def sqlite_path(app: Any) -> str:
    return app.settings.database_url.split("///", 1)[1]


async def fill_the_disk(app: Any) -> Any:
    """Makes SQLite answer "database or disk is full" to anything that needs a new page."""
    await app.db_engine.dispose()
    with sqlite3.connect(sqlite_path(app)) as packed:  # no free pages left inside the file either
        packed.execute("VACUUM")

    def no_room(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    event.listen(app.db_engine.sync_engine, "connect", no_room)
    return no_room


async def make_room(app: Any, no_room: Any) -> None:
    event.remove(app.db_engine.sync_engine, "connect", no_room)
    await app.db_engine.dispose()


async def test_sqlite_full_gives_the_apology_and_a_503_and_the_feedback_in_progress_survives(app) -> None:
    if not app.settings.database_url.startswith("sqlite"):
        pytest.skip("PRAGMA max_page_count is SQLite's")
    resident = "demo-nguoidan"
    long_text = "Cống ở đầu kiệt 42 bị vỡ, nước thải tràn ra đường, mùi hôi thối suốt ba ngày. " * 24
    async with client_for(app) as client:
        answer = await send(client, resident, text="/menu")
        answer = await send(client, resident, button=button_of(answer.json()["messages"], "Gửi phản ánh"))
        assert "Gửi phản ánh tới tổ trưởng" in answer.json()["messages"][-1]["text"]
        before = await counts(app)
        no_room = await fill_the_disk(app)
        try:
            assert_unavailable(await send(client, resident, text=long_text), "disk_full")
            assert APOLOGY_TEXT in await Chat(app, resident).send(long_text)  # on Telegram and Zalo too
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/api/messages", params={"user": resident})).status_code == 200  # reads work
        finally:
            await make_room(app, no_room)
        assert await counts(app) == before
        assert await step_of(app, resident) == ("feedback", "collect")
        answer = await send(client, resident, text=long_text)
        assert answer.status_code == 200 and "Đã có: nội dung." in answer.json()["messages"][-1]["text"]
        done = await send(client, resident, button=button_of(answer.json()["messages"], "✅ Gửi phản ánh"))
        assert done.status_code == 200 and "✅ Đã gửi phản ánh" in done.json()["messages"][0]["text"]
    after = await counts(app)
    assert after["Feedback"] == before["Feedback"] + 1


async def test_no_room_for_a_photo_gives_the_apology_and_leaves_no_partial_file(app, monkeypatch) -> None:
    files = Path(app.settings.data_dir) / "files"
    async with client_for(app) as client:
        await leader_at_the_last_question(client)
        before = await counts(app)
        original = Path.write_bytes

        def disk_full(path: Path, data: bytes) -> int:
            original(path, data[: len(data) // 2])  # half of it fits, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        with monkeypatch.context() as patched:
            patched.setattr(Path, "write_bytes", disk_full)
            photo = await client.post("/api/photo", data={"user": LEADER}, files={"file": ("a.png", PNG, "image/png")})
        assert_unavailable(photo, "disk_full")
        assert [p for p in files.rglob("*") if p.is_file()] == []  # no partial file takes the room
        assert await counts(app) == before and await step_of(app, LEADER) == ("form", "mo_ta")
        photo = await client.post("/api/photo", data={"user": LEADER}, files={"file": ("a.png", PNG, "image/png")})
        assert photo.status_code == 200
        assert "🚨 Đã chuyển tin khẩn tới 1 cán bộ trực" in photo.json()["messages"][0]["text"]
    after = await counts(app)
    assert after["Report"] == before["Report"] + 1 and after["Attachment"] == before["Attachment"] + 1
    async with app.sessions() as session:
        attachment = (await session.scalars(select(Attachment))).one()
    assert images.pixels(app.files.path_of(attachment).read_bytes()) == images.pixels(PNG)  # stored re-encoded


async def test_healthz_is_liveness_and_readyz_says_when_the_database_does_not_answer(app, monkeypatch,
                                                                                      tmp_path) -> None:
    # A SQLite file that cannot be opened (its folder is gone), through the app's own SQLite adapter.
    gone = create_async_engine("sqlite+aiosqlite://",
                               async_creator=sqlite_inloop.creator(str(tmp_path / "gone" / "t.db")))
    async with client_for(app) as client:
        assert (await client.get("/readyz")).json() == {"status": "ready", "database": "ok"}
        monkeypatch.setattr(app, "db_engine", gone)
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "reason": "database_unavailable", "detail": "OperationalError"}
        assert (await client.get("/healthz")).json() == {"status": "ok"}
    await gone.dispose()


async def test_readyz_gives_up_after_a_short_timeout(app, monkeypatch) -> None:
    import bot.web

    class Hanging:
        def connect(self) -> Any:
            return self

        async def __aenter__(self) -> Any:
            await asyncio.sleep(60)

        async def __aexit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(bot.web, "READY_TIMEOUT", 0.2)
    async with client_for(app) as client:
        monkeypatch.setattr(app, "db_engine", Hanging())
        ready = await asyncio.wait_for(client.get("/readyz"), 5)
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reason": "database_unavailable",
                            "detail": "no answer within 0.2 s"}


async def test_a_bug_is_still_a_500_not_an_outage(app, monkeypatch) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> list[dict]:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "forms/missing.toml")

    monkeypatch.setattr(app.simulator, "messages_after", broken)
    async with client_for(app) as client:
        answer = await client.get("/api/messages", params={"user": LEADER})
    assert answer.status_code == 500
