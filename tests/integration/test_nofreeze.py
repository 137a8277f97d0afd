"""The app never freezes: other people are answered while a long summary, a digest run, a slow file
store, a `units import` in another process or another process holding SQLite's write lock is busy;
a second `totruong run` on the same SQLite file is refused. Bounded in time: every wait has a limit."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select

from handlers.summaries import summary as summary_module
from models.db import create_engine, session_factory
from models.files import LocalFileStore
from models.tables import Unit
from tests.helpers import Chat
from tests.images import png

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT = Path(__file__).resolve().parents[2]
ANSWER_LIMIT = 1.0  # seconds: what "answered" means here
PNG = png()  # a real image: photos are decoded and re-encoded before they are stored


def _slow(function: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    """The same function, `seconds` slower (it runs in a thread: the sleep blocks only that thread)."""

    def slowed(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return function(*args, **kwargs)

    return slowed


async def chat_while(busy: Awaitable[Any], chats: list[Chat], *, at_least: int) -> tuple[Any, list[float]]:
    """Other people keep writing to the bot (each answer is a write) while `busy` runs; returns
    what `busy` returned and how long each answer took."""
    task = asyncio.ensure_future(busy)
    times: list[float] = []
    await asyncio.sleep(0.2)  # let the long work begin
    while not task.done():
        for chat in chats:
            started = time.perf_counter()
            answer = await asyncio.wait_for(chat.send("/menu"), 30)
            times.append(time.perf_counter() - started)
            assert "Xin lỗi" not in answer, answer
        await asyncio.sleep(0.05)
    assert len(times) >= at_least, f"only {len(times)} answers while the work ran"
    return await task, times


def chatters(app: Any) -> list[Chat]:
    return [Chat(app, "demo-totruong-2"), Chat(app, "demo-nguoidan"), Chat(app, "demo-topho")]


async def unit_id(app: Any, code: str) -> int:
    async with app.sessions() as session:
        found = await session.scalar(select(Unit.id).where(Unit.code == code))
    assert found is not None
    return int(found)


async def a_report_this_week(app: Any) -> None:
    """One report in Thạch Thang 3, so that the ward's summary has charts to draw."""
    from models.repos import Repo

    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        reporter = await repo.find_who("sim", "demo-topho")
        await repo.add_report(form_key="an_ninh_vu_viec", form_version=1, task="an_ninh",
                              unit=await repo.unit_by_code("HC-TT3"), reporter_id=reporter.person_id,
                              data={"loai": "trom_cap"}, at=app.clock.now())


async def test_users_are_answered_while_a_summary_with_a_slow_chart_runs(app: Any, monkeypatch: Any) -> None:
    # The social-duty official's summary has the household sheet, written to the audit log.
    await a_report_this_week(app)
    monkeypatch.setattr(summary_module, "draw_charts", _slow(summary_module.draw_charts, 2.0))
    monkeypatch.setattr(summary_module, "workbook_xlsx", _slow(summary_module.workbook_xlsx, 2.0))
    official = Chat(app, "demo-canbo-xh")
    ward = await unit_id(app, "20242")
    answer, times = await chat_while(official.press_id(f"m.sum.p.{ward}.m"), chatters(app), at_least=10)
    assert "Phường Hải Châu" in answer
    headline, *charts, document = official.replies  # each chart its own photo
    assert not headline.photo_id and charts and all(r.photo_id for r in charts) and document.document_id
    assert max(times) < ANSWER_LIMIT, f"slowest answer {max(times):.2f} s"


async def test_users_are_answered_while_a_slow_file_store_saves_a_summary_and_a_photo(
    app: Any, monkeypatch: Any
) -> None:
    await a_report_this_week(app)
    monkeypatch.setattr(LocalFileStore, "_write", staticmethod(_slow(LocalFileStore._write, 1.5)))
    official = Chat(app, "demo-canbo")
    ward = await unit_id(app, "20242")
    answer, times = await chat_while(official.press_id(f"m.sum.p.{ward}.w"), chatters(app), at_least=8)
    assert "Phường Hải Châu" in answer and official.replies[1].photo_id
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    await resident.press("Gửi phản ánh")
    await resident.send("Đèn đường hỏng ở kiệt 42")
    answer, more = await chat_while(resident.photo(PNG, "image/png"), chatters(app)[:1], at_least=3)
    assert "Đã có: nội dung, ảnh." in answer
    assert max(times + more) < ANSWER_LIMIT, f"slowest answer {max(times + more):.2f} s"


async def test_users_are_answered_while_the_weekly_digests_are_built(app: Any, clock: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(summary_module, "draw_charts", _slow(summary_module.draw_charts, 1.0))
    clock.current = datetime(2026, 11, 23, 7, 31, tzinfo=TZ).astimezone(UTC)  # Monday, after 07:30
    queued, times = await chat_while(app.run_digests(), chatters(app), at_least=10)
    assert queued > 0
    assert max(times) < ANSWER_LIMIT, f"slowest answer {max(times):.2f} s"


# --- other processes ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(folder: Path, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")},
            "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{folder}/app.db",
            "TOTRUONG_APP__DATA_DIR": str(folder / "data"), **extra}


def _totruong(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bot.cli import main; main()", *args]


@contextmanager
def running_app(folder: Path, **extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`totruong run` on its own SQLite file with the demo data, answering /healthz; stopped after."""
    port = _free_port()
    log = (folder / "app.log").open("wb")
    process = subprocess.Popen(_totruong("run", "--port", str(port)), cwd=ROOT, env=_env(folder, **extra),
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (folder / "app.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def send(url: str, user: str, **what: Any) -> tuple[float, list[dict[str, Any]]]:
    started = time.perf_counter()
    response = httpx.post(f"{url}/api/send", json={"user": user, **what}, timeout=60)
    response.raise_for_status()
    return time.perf_counter() - started, response.json()["messages"]


def _units_csv(count: int) -> str:
    lines = ["code,name,level,parent_code,households", "IMP,Phường Nhập Thử,ward,48,"]
    lines += [f"IMP-{n},Tổ dân phố Nhập {n},group,IMP,{100 + n % 50}" for n in range(count)]
    return "\n".join(lines) + "\n"


def test_users_are_answered_while_units_are_imported_by_another_process(tmp_path: Path) -> None:
    csv = tmp_path / "units.csv"
    csv.write_text(_units_csv(2500), encoding="utf-8")
    with running_app(tmp_path) as (url, _app):
        send(url, "demo-totruong-2", text="/menu")
        importer = subprocess.Popen(_totruong("units", "import", str(csv)), cwd=ROOT, env=_env(tmp_path),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        times: list[float] = []
        try:
            deadline = time.monotonic() + 120
            while importer.poll() is None and time.monotonic() < deadline:
                for user in ("demo-totruong-2", "demo-nguoidan"):
                    seconds, messages = send(url, user, text="/menu")
                    assert messages and "Xin lỗi" not in messages[0]["text"]
                    times.append(seconds)
                time.sleep(0.05)
            output = importer.communicate(timeout=120)[0].decode()
        finally:
            if importer.poll() is None:
                importer.kill()
                importer.wait()
    assert importer.returncode == 0, output
    assert "Imported 2501 units: 2501 added, 0 updated." in output
    assert len(times) >= 6, f"only {len(times)} answers during the import"
    assert max(times) < ANSWER_LIMIT, f"slowest answer {max(times):.2f} s during the import"

    async def count() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/app.db")
        async with session_factory(engine)() as session:
            found = await session.scalar(select(func.count()).select_from(Unit).where(Unit.code.like("IMP%")))
        await engine.dispose()
        return int(found or 0)

    assert asyncio.run(count()) == 2501


HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE person SET name = name")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@contextmanager
def write_lock_held(database: Path, seconds: float) -> Iterator[subprocess.Popen[bytes]]:
    """Another process that takes SQLite's write lock and keeps it for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(database), str(seconds)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"holding"
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()


def _start_form(url: str, user: str) -> str:
    _seconds, messages = send(url, user, button="m.f.ve_sinh_chu_nhat_xanh")
    return messages[-1]["text"]


def test_health_and_reads_answer_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    with running_app(tmp_path) as (url, _app):
        question = _start_form(url, "demo-totruong-2")
        with write_lock_held(tmp_path / "app.db", 6) as holder, httpx.Client(timeout=5) as client, \
                ThreadPoolExecutor(1) as pool:
            # The chat message waits (asynchronously) for the lock while health checks go on.
            waiting = pool.submit(send, url, "demo-totruong-2", text="hôm nay")
            health: list[float] = []
            while holder.poll() is None:
                started = time.perf_counter()
                assert client.get(f"{url}/healthz").status_code == 200
                assert client.get(f"{url}/api/messages", params={"user": "demo-nguoidan"}).status_code == 200
                health.append(time.perf_counter() - started)
                time.sleep(0.2)
            seconds, messages = waiting.result(timeout=30)
        assert len(health) >= 10 and max(health) < ANSWER_LIMIT, f"health/read answers took up to {max(health):.2f} s"
        assert seconds > 3, "the step should have waited for the lock"
        next_question = messages[-1]["text"]
        assert next_question != question and "Xin lỗi" not in next_question  # the form went on one step


def test_a_step_that_waits_too_long_is_apologised_for_and_the_form_stays_where_it_was(tmp_path: Path) -> None:
    with running_app(tmp_path, TOTRUONG_DATABASE__LOCK_WAIT_SECONDS="1.5") as (url, _app):
        question = _start_form(url, "demo-totruong-2")
        with write_lock_held(tmp_path / "app.db", 3) as holder:
            # The step gives up after 1.5 s: the simulator API answers 503 with the apology in its body
            # (it cannot be stored while the lock is held; a messenger channel sends it at once).
            started = time.perf_counter()
            response = httpx.post(f"{url}/api/send", json={"user": "demo-totruong-2", "text": "hôm nay"}, timeout=60)
            seconds = time.perf_counter() - started
            assert holder.wait(timeout=10) == 0
        assert response.status_code == 503, response.text
        assert response.json()["message"].startswith("Xin lỗi"), response.text
        assert 1.5 < seconds < 8, seconds
        _seconds, messages = send(url, "demo-totruong-2", text="/help")  # the form is still open, at its step
        assert question in "\n".join(m["text"] for m in messages)
        _seconds, messages = send(url, "demo-totruong-2", text="hôm nay")
        assert "Xin lỗi" not in messages[-1]["text"] and messages[-1]["text"] != question


def test_a_second_run_on_the_same_sqlite_file_is_refused_and_cli_commands_still_work(tmp_path: Path) -> None:
    with running_app(tmp_path) as (url, _app):
        second = subprocess.run(_totruong("run", "--port", str(_free_port())), cwd=ROOT, env=_env(tmp_path),
                                capture_output=True, timeout=60)
        message = second.stderr.decode()
        assert second.returncode != 0
        assert f"{tmp_path}/app.db" in message
        assert "SQLite chỉ phục vụ một phiên" in message and "PostgreSQL" in message
        assert "SQLite serves one instance" in message
        upgrade = subprocess.run(_totruong("db", "upgrade"), cwd=ROOT, env=_env(tmp_path), capture_output=True,
                                 timeout=60)
        assert upgrade.returncode == 0 and b"up to date" in upgrade.stdout
        summary = subprocess.run(_totruong("summary", "--unit", "20242"), cwd=ROOT, env=_env(tmp_path),
                                 capture_output=True, timeout=60)
        assert summary.returncode == 0 and "Phường Hải Châu" in summary.stdout.decode()
        assert httpx.get(f"{url}/healthz", timeout=1).status_code == 200


def test_an_import_cut_short_is_finished_by_running_it_again(tmp_path: Path) -> None:
    """Chunks are upserts: rows already written by a first run are updated, the rest added."""
    csv = tmp_path / "units.csv"
    csv.write_text(_units_csv(300), encoding="utf-8")
    half = tmp_path / "half.csv"
    half.write_text("\n".join(_units_csv(300).splitlines()[:151]) + "\n", encoding="utf-8")
    env = _env(tmp_path, TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY="true")
    subprocess.run(_totruong("demo"), cwd=ROOT, env=env, capture_output=True, timeout=60, check=True)
    first = subprocess.run(_totruong("units", "import", str(half)), cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(_totruong("units", "import", str(csv)), cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "Imported 301 units: 151 added, 150 updated." in again.stdout.decode()
