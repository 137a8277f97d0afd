"""Concurrent Telegram users against `totruong run` in webhook mode (issue 11 item 6): N leaders each
file 20 form steps at once, each step an update POSTed to the webhook with the secret header as
Telegram posts it; the bot's replies go to a fake Bot API (tests/fakes/telegram_api.py) in this
process. On SQLite and on PostgreSQL, for 20 and 200 users: steps/s, and p50/p99 of two times per
step, both from the update's POST: the last reply arriving at the fake (what the person sees) and
the webhook's 200 (sent after the commit and the replies). A user sends the next step when the 200
came, as Telegram sends a chat's next update after the previous one was answered.

Run: .venv/bin/python -m bench webhook. TOTRUONG_BENCH_LOAD_USERS="20,200" chooses the sizes,
TOTRUONG_BENCH_LOAD_DATABASES="sqlite,postgres" the databases, and TOTRUONG_BENCH_BASE=<git ref>
measures that commit's code first, in the same run (bench/bench_load.py says how).

The app runs with its overall limit of 30 messages per second to Telegram switched off
(bench/serve_unlimited.py), as `python -m bench telegram` does: the fake has no flood limit and
the point is what the code costs. Against the real Telegram that limit holds, and 200 people
answered at once would wait for it (200 replies take 7 s at 30/s) whatever the app's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_load import SCRIPT, STEPS, Http, _cpu_seconds
from bench.common import baseline_tree, running_app, scratch_postgres
from tests.fakes.telegram_api import TOKEN, Call, FakeTelegram

SECRET = "bench-webhook-secret"
WEBHOOK_PATH = "/telegram/webhook"
DEADLINE_SECONDS = 300  # the whole measured phase of one configuration, at most
ANSWERS = {"sendMessage", "editMessageText", "sendPhoto", "sendDocument"}


class TimedFake(FakeTelegram):
    """The fake Bot API, noting when each chat last received a message and its last message."""

    def __init__(self) -> None:
        super().__init__(TOKEN, record=False)
        self.last_answer: dict[int, float] = {}
        self.last_message: dict[int, dict[str, Any]] = {}

    async def _m_sendmessage(self, params: dict[str, Any], files: Any) -> Any:
        result = await super()._m_sendmessage(params, files)
        if isinstance(result, dict) and isinstance(params.get("chat_id"), int):
            self.last_message[params["chat_id"]] = result
        return result

    def _note(self, call: Call) -> None:
        super()._note(call)
        if call.status == 200 and call.method in ANSWERS and call.chat_id is not None:
            self.last_answer[call.chat_id] = time.perf_counter()


class Leader:
    """One Telegram user writing to the bot: builds the updates Telegram would post."""

    update_ids = itertools.count(1)
    message_ids = itertools.count(1)

    def __init__(self, user_id: int) -> None:
        self.user = {"id": user_id, "is_bot": False, "first_name": f"Tổ trưởng {user_id % 1000}",
                     "language_code": "vi"}
        self.chat = {"id": user_id, "type": "private", "first_name": self.user["first_name"]}

    def text(self, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": next(self.message_ids), "from": self.user, "chat": self.chat,
                                   "date": int(time.time()), "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}]
        return {"update_id": next(self.update_ids), "message": message}

    def press(self, data: str, under: dict[str, Any] | None) -> dict[str, Any]:
        message = under or {"message_id": 1, "from": {"id": 123456, "is_bot": True, "first_name": "Tổ trưởng"},
                            "chat": self.chat, "date": int(time.time()), "text": "…"}
        query = {"id": f"q{next(self.update_ids)}", "from": self.user, "chat_instance": f"ci{self.user['id']}",
                 "message": message, "data": data}
        return {"update_id": next(self.update_ids), "callback_query": query}


async def _request(http: Http, update: dict[str, Any]) -> int:
    """POSTs one update as Telegram does (with the secret header); the HTTP status."""
    if http.writer is None:
        http.reader, http.writer = await asyncio.open_connection("127.0.0.1", http.port)
    assert http.reader is not None
    data = json.dumps(update).encode()
    head = (f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nContent-Length: {len(data)}\r\n\r\n")
    http.writer.write(head.encode() + data)
    status = int((await http.reader.readline()).split()[1])
    length = 0
    while (line := await http.reader.readline()) not in (b"\r\n", b""):
        name, _sep, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await http.reader.readexactly(length)
    return status


async def _user(port: int, fake: TimedFake, leader: Leader, replies: list[float], answers: list[float]) -> int:
    """One person filing the form: each step posted once the previous one was answered."""
    http = Http(port)
    chat = int(leader.user["id"])
    try:
        for step in range(STEPS):
            action = SCRIPT[step % len(SCRIPT)]
            update = (leader.press(action["button"], fake.last_message.get(chat)) if "button" in action
                      else leader.text(action["text"]))
            fake.last_answer.pop(chat, None)
            started = time.perf_counter()
            status = await _request(http, update)
            answered = time.perf_counter()
            replied = fake.last_answer.get(chat)
            if status != 200 or replied is None:
                raise RuntimeError(f"user {chat} step {step}: HTTP {status}, {'no reply' if replied is None else ''}")
            replies.append(replied - started)
            answers.append(answered - started)
    finally:
        await http.close()
    return STEPS


async def _register(port: int, leaders: list[Leader]) -> None:
    """Every user becomes a leader of the demo group with its unlimited code (not measured)."""
    gate = asyncio.Semaphore(20)

    async def one(leader: Leader) -> None:
        async with gate:
            http = Http(port)
            status = await _request(http, leader.text("/start HUNG05"))
            await http.close()
            assert status == 200, status

    await asyncio.gather(*(one(leader) for leader in leaders))


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _measure(port: int, fake: TimedFake, users: int) -> dict[str, float]:
    leaders = [Leader(7_000_000 + users * 1000 + n) for n in range(users)]
    await _register(port, leaders)
    replies: list[float] = []
    answers: list[float] = []
    started = time.perf_counter()
    done = await asyncio.wait_for(asyncio.gather(*(_user(port, fake, leader, replies, answers)
                                                   for leader in leaders)), DEADLINE_SECONDS)
    seconds = time.perf_counter() - started
    return {"steps": sum(done), "rate": sum(done) / seconds, "p50": statistics.median(replies), "p99": _p99(replies),
            "answer_p50": statistics.median(answers), "answer_p99": _p99(answers)}


def _prepare(url: str, folder: Path, code: Path | None) -> None:
    """Migrates the database and loads the demo data (invite HUNG05) with that checkout's code:
    beside a channel token the app loads no demo data by itself."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")},
           "TOTRUONG_DATABASE__URL": url, "TOTRUONG_APP__DATA_DIR": f"{folder}/data"}
    command = ([sys.executable, "-c", "from bot.cli import main; main()"] if code is not None
               else [str(Path(sys.executable).parent / "totruong")])
    subprocess.run([*command, "demo"], cwd=code, env=env, check=True, stdout=subprocess.DEVNULL)


async def _run(url: str | None, folder: Path, users: int, code: Path | None) -> dict[str, float]:
    database = url or f"sqlite+aiosqlite:///{folder}/app.db"
    await asyncio.to_thread(_prepare, database, folder, code)
    fake = await TimedFake().start()
    settings = {"TOTRUONG_TELEGRAM__TOKEN": TOKEN, "TOTRUONG_TELEGRAM__API_URL": fake.url,
                "TOTRUONG_TELEGRAM__MODE": "webhook", "TOTRUONG_TELEGRAM__WEBHOOK_URL": f"https://bench.invalid{WEBHOOK_PATH}",
                "TOTRUONG_TELEGRAM__WEBHOOK_SECRET": SECRET}
    with contextlib.ExitStack() as stack:
        try:
            # Started from a thread: running_app waits for the app by blocking, and the app's start
            # needs the fake (getMe, setWebhook), which this loop serves meanwhile.
            process, port = await asyncio.to_thread(stack.enter_context, running_app(
                folder, url=database, code=code, env=settings, unlimited_telegram=True))
            before = _cpu_seconds(process.pid)
            result = await _measure(port, fake, users)
            # The server's CPU per step (registration included), steadier than the rate.
            result["cpu_ms"] = (_cpu_seconds(process.pid) - before) * 1000 / (result["steps"] * (STEPS + 1) / STEPS)
            return result
        finally:
            await asyncio.to_thread(stack.close)
            await fake.stop()


def _sizes() -> list[int]:
    return [int(n) for n in os.environ.get("TOTRUONG_BENCH_LOAD_USERS", "20,200").split(",") if n.strip()]


def _one_code(label: str, code: Path | None, sizes: list[int], databases: list[str]) -> None:
    results: dict[tuple[str, int], dict[str, float]] = {}
    for database in databases:
        for users in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                if database == "sqlite":
                    results[(database, users)] = asyncio.run(_run(None, Path(tmp), users, code))
                else:
                    with scratch_postgres(migrate=False) as url:  # `totruong demo` migrates it, with its own code
                        if url is None:
                            break
                        results[(database, users)] = asyncio.run(_run(url, Path(tmp), users, code))
            r = results[(database, users)]
            ok = f"200 OK p50 {r['answer_p50'] * 1000:.0f}, p99 {r['answer_p99'] * 1000:.0f} ms"
            print(f"  {label:6} {database:8} {users:4} users: {r['rate']:5.0f} steps/s   "
                  f"reply p50 {r['p50'] * 1000:6.0f} ms   p99 {r['p99'] * 1000:6.0f} ms   ({ok})   "
                  f"server CPU {r['cpu_ms']:.2f} ms/step   load {os.getloadavg()[0]:.2f}", flush=True)
        if len(sizes) >= 2 and (database, sizes[0]) in results and (database, sizes[-1]) in results:
            ratio = results[(database, sizes[-1])]["rate"] / results[(database, sizes[0])]["rate"]
            print(f"  {label:6} {database:8} {sizes[-1]}/{sizes[0]} users: {ratio:.2f}× the rate (target ≥ 0.90), "
                  f"reply p99 at {sizes[-1]}: {results[(database, sizes[-1])]['p99'] * 1000:.0f} ms (target < 1,000)",
                  flush=True)


def main() -> None:
    sizes = _sizes()
    databases = os.environ.get("TOTRUONG_BENCH_LOAD_DATABASES", "sqlite,postgres").split(",")
    base = os.environ.get("TOTRUONG_BENCH_BASE", "")
    print(f"webhook: Telegram webhook, {STEPS} form steps per user, replies to a fake Bot API; one app process"
          + (f"; baseline {base} measured in the same run" if base else ""))
    if base:
        with baseline_tree(base) as tree:
            _one_code("base", tree, sizes, databases)
    _one_code("this", None, sizes, databases)
    print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
