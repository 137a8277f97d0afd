"""Stop the app with SIGTERM, or kill it with SIGKILL, while 400 people's messages arrive by
Telegram long polling, then start it again: every message is handled exactly once and everyone
is answered. The app and the fake Bot API run as separate processes, as in production."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bot.bootstrap import build, load_demo, prepare_database
from handlers.messages import Incoming
from models.settings import PROJECT_ROOT, load_settings
from tests.conftest import CONSENT_COLLECTED
from tests.fakes.telegram_api import TOKEN
from tests.integration.test_outbox_crash import free_port

USERS = 400
BOT = {"id": int(TOKEN.split(":")[0]), "is_bot": True, "first_name": "Tổ trưởng", "username": "totruong_test_bot"}
WELCOME = "Đăng ký thành công"
FORM = "m.f.ve_sinh_chu_nhat_xanh"
# Four kinds of people, a hundred each: new people registering with a demo code, residents tapping
# /menu, leaders pressing a report form's menu button, leaders answering the form's first question.
NEW, MENU, PRESS, ANSWER = range(4)


def kind(user_id: int) -> int:
    return user_id % 4


def update_of(user_id: int) -> dict[str, Any]:
    """The one message this person sends while the app is interrupted."""
    user = {"id": user_id, "is_bot": False, "first_name": f"Người {user_id % 1000}", "language_code": "vi"}
    chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
    if kind(user_id) == PRESS:
        menu = {"message_id": 900_000 + user_id, "from": BOT, "chat": chat, "date": int(time.time()), "text": "Menu"}
        return {"callback_query": {"id": f"q{user_id}", "from": user, "chat_instance": f"ci{user_id}",
                                   "message": menu, "data": FORM}}
    words = {NEW: "/start HUNG05" if user_id % 8 == 0 else "/start TT3DAN", MENU: "/menu", ANSWER: "hôm nay"}
    message: dict[str, Any] = {"message_id": 1, "from": user, "chat": chat, "date": int(time.time()),
                               "text": words[kind(user_id)]}
    if message["text"].startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(message["text"].split()[0])}]
    return {"message": message}


async def prepare(env: dict[str, str], users: list[int]) -> None:
    """The demo data, and everyone but the new people registered (leaders with the form open)."""
    app = build(load_settings(env, PROJECT_ROOT / "config.toml"))
    await prepare_database(app)
    await load_demo(app)  # asked for: beside a token it is not loaded by itself
    for user in users:
        who = {"channel": "telegram", "user_id": str(user), "chat_id": str(user)}
        if kind(user) == MENU:
            await app.engine.handle(Incoming(**who, command="start", argument="TT3DAN"))
        elif kind(user) in (PRESS, ANSWER):
            await app.engine.handle(Incoming(**who, command="start", argument="HUNG05"))
            if kind(user) == ANSWER:
                await app.engine.handle(Incoming(**who, button=FORM))
    await app.stop()


class Fake:
    """The fake Telegram Bot API in its own process, driven through its /_fake/ routes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0"],
                                        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline().split()[1])}"

    def get(self, name: str, **params: Any) -> Any:
        return httpx.get(f"{self.url}/_fake/{name}", params=params, timeout=70).json()

    def push(self, updates: list[dict[str, Any]]) -> list[int]:
        return list(httpx.post(f"{self.url}/_fake/updates", json=updates, timeout=30).json()["ids"])


def start_app(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "totruong"), "run", "--port", str(free_port())],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)


def sync_url(database_url: str) -> str:
    return database_url.replace("sqlite+aiosqlite", "sqlite")


def effects(database_url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per Telegram user, the conversation's version (one per message handled); uses per invite."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            versions = dict(conn.execute(text(
                "SELECT identity.external_id, conversation.version FROM identity JOIN conversation "
                "ON conversation.identity_id = identity.id WHERE identity.channel = 'telegram'")).all())
            uses = dict(conn.execute(text("SELECT code, used FROM invite WHERE code IN ('HUNG05', 'TT3DAN')")).all())
    finally:
        engine.dispose()
    return {str(k): int(v) for k, v in versions.items()}, {str(k): int(v) for k, v in uses.items()}


def run_interrupted(database_url: str, tmp_path: Path, sig: signal.Signals) -> None:
    fake = Fake()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")}
    env.update({"TOTRUONG_DATABASE__URL": database_url, "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"),
                "TOTRUONG_TELEGRAM__TOKEN": TOKEN, "TOTRUONG_TELEGRAM__API_URL": fake.url, **CONSENT_COLLECTED})
    log = tmp_path / "app.log"
    users = [9_100_000 + n for n in range(USERS)]
    try:
        asyncio.run(prepare(env, users))
        versions_before, uses_before = effects(database_url)
        owner = dict(zip(fake.push([update_of(user) for user in users]), users, strict=True))
        last = max(owner)
        app = start_app(env, log)
        assert fake.get("wait", method="sendMessage", count=100, timeout=60)["ok"]
        app.send_signal(sig)
        code = app.wait(timeout=30)
        if sig == signal.SIGTERM:  # the app's own stop ran to its end, and the exit was clean
            assert code == 0 and "bot.server: stopped" in log.read_text(), log.read_text(errors="replace")[-3000:]
        confirmed = fake.get("state")["confirmed"]
        versions, _uses = effects(database_url)
        handled = {user for user in users if versions.get(str(user), 0) > versions_before.get(str(user), 0)}
        assert len(handled) < USERS, "stopped after everything was handled: the test proves nothing"
        # What Telegram was told is handled, is handled: its effects are in the database.
        unhandled = [update_id for update_id, user in owner.items() if update_id < confirmed and user not in handled]
        assert not unhandled, f"{len(unhandled)} updates confirmed to Telegram but never handled"

        app = start_app(env, log)
        deadline = time.monotonic() + 60
        while fake.get("state")["confirmed"] <= last and time.monotonic() < deadline:
            time.sleep(0.3)
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=30) == 0, log.read_text(errors="replace")[-3000:]
        state = fake.get("state")
        answers = fake.get("answers")
    finally:
        fake.process.kill()
        fake.process.wait()
    assert state["confirmed"] > last
    versions, uses = effects(database_url)
    # Every message handled exactly once: one more conversation version per message, one use per /start.
    assert versions == {str(user): versions_before.get(str(user), 0) + 1 for user in users}
    new = [user for user in users if kind(user) == NEW]
    assert uses == {"HUNG05": uses_before["HUNG05"] + sum(1 for user in new if user % 8 == 0),
                    "TT3DAN": uses_before["TT3DAN"] + sum(1 for user in new if user % 8 != 0)}
    assert {a["chat_id"] for a in answers} == set(users)  # everyone was answered
    repeats = Counter((a["chat_id"], a["text"]) for a in answers)
    welcomes = Counter(a["chat_id"] for a in answers if WELCOME in a["text"])
    assert set(welcomes) == set(new)
    if sig == signal.SIGTERM:
        assert max(repeats.values()) == 1  # and nobody got the same answer twice
    else:
        # Only the updates in flight at the kill may be answered again (their replies are stored).
        assert max(repeats.values()) <= 2


def test_sigterm_while_messages_arrive_by_polling_loses_none(database_url: str, tmp_path: Path) -> None:
    run_interrupted(database_url, tmp_path, signal.SIGTERM)


def test_sigkill_while_messages_arrive_by_polling_loses_none_and_doubles_none(
        database_url: str, tmp_path: Path) -> None:
    run_interrupted(database_url, tmp_path, signal.SIGKILL)
