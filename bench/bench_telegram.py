"""Updates per second end to end through a fake Telegram Bot API, against a bare PTB echo bot.

The whole stack: python-telegram-bot polling (getUpdates), the adapter, the engine, SQLite, and
sendMessage back. Leaders registered beforehand alternate "/menu" and "/help"; each update gets
exactly one answer (the menu comes with nine buttons). In the same run a bare python-telegram-bot
echo bot (one MessageHandler that replies with the text) handles as many updates from the same
fake server, with the same number of updates in flight (bot.channels.telegram.channel.CONCURRENCY), the same
number of connections (CONNECTIONS) and the same kind of rate limiter; the ratio compares those
two. Both limiters are raised far above Telegram's 30 messages/s: the fake has no flood limit,
and the point is what the code costs. For reference the echo bot also runs with PTB's defaults
(one update at a time, up to 256 connections), and the bot process's CPU time per update is
shown beside each rate, which varies less than rates on a shared machine.

The fake server runs in its own process (tests/fakes/telegram_api.py), so its work is not counted
against either bot. The clock runs from queuing the backlog to the last answer received.

Run: python -m bench telegram   (TOTRUONG_BENCH_UPDATES, TOTRUONG_BENCH_RUNS to change the size)
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bench.common import demo_app
from bot.channels.telegram.channel import CONCURRENCY, CONNECTIONS, TelegramChannel
from models.settings import PROJECT_ROOT
from tests.fakes.telegram_api import TOKEN

USERS = 50
WARM_UP = 200
TARGET_RATE = 300.0
TARGET_RATIO = 0.5
UNLIMITED = 1_000_000.0  # messages per second: the limiter stays in the path but never waits


class FakeServer:
    """The fake Bot API in a child process, driven through its /_fake/ control routes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0"],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the fake Telegram server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        self.next_message_id = 1

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def texts(self, texts: list[tuple[int, str]]) -> list[dict[str, Any]]:
        updates = []
        for user_id, text in texts:
            user = {"id": user_id, "is_bot": False, "first_name": f"Tổ trưởng {user_id % 1000}", "language_code": "vi"}
            message: dict[str, Any] = {"message_id": self.next_message_id, "from": user, "date": int(time.time()),
                                       "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
                                       "text": text}
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            self.next_message_id += 1
            updates.append({"message": message})
        return updates

    async def push_and_wait(self, client: httpx.AsyncClient, texts: list[tuple[int, str]]) -> Measure:
        """Queues the updates and measures until each one got its answer."""
        before = (await client.get(f"{self.url}/_fake/counts")).json().get("sendMessage", 0)
        body = self.texts(texts)
        cpu, started = _cpu(), time.perf_counter()
        await client.post(f"{self.url}/_fake/updates", json=body)
        answer = (await client.get(f"{self.url}/_fake/wait", params={
            "method": "sendMessage", "count": before + len(texts), "timeout": 300}, timeout=310)).json()
        measure = Measure(len(texts), time.perf_counter() - started, _cpu() - cpu)
        if not answer["ok"]:
            raise RuntimeError(f"not every update was answered: {answer['counts']}")
        return measure


class Measure:
    def __init__(self, updates: int, seconds: float, cpu_seconds: float) -> None:
        self.rate = updates / seconds
        self.cpu_ms = cpu_seconds / updates * 1000

    def __str__(self) -> str:
        return f"{self.rate:,.0f} updates/s ({self.cpu_ms:.2f} ms CPU each)"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads: aiosqlite's count too
    return usage.ru_utime + usage.ru_stime


async def stack_rate(fake: FakeServer, workdir: Path, updates: int) -> Measure:
    """Updates per second through the whole app."""
    app = await demo_app(workdir, {"TOTRUONG_TELEGRAM__TOKEN": TOKEN, "TOTRUONG_TELEGRAM__API_URL": fake.url})
    channel = app.channels["telegram"] = TelegramChannel(app.host, overall_rate=UNLIMITED)
    await channel.start()
    users = [7_000_000 + n for n in range(USERS)]
    try:
        async with httpx.AsyncClient() as client:
            await fake.push_and_wait(client, [(user, "/start HUNG05") for user in users])
            await fake.push_and_wait(client, [(users[n % USERS], "/menu") for n in range(WARM_UP)])
            work = [(users[n % USERS], "/menu" if (n // USERS) % 2 == 0 else "/help") for n in range(updates)]
            return await fake.push_and_wait(client, work)
    finally:
        await app.stop()


async def echo_rate(fake: FakeServer, updates: int, *, concurrency: int | None) -> Measure:
    """Updates per second through a bare python-telegram-bot echo bot (None: PTB's defaults)."""

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    builder = ApplicationBuilder().token(TOKEN).base_url(f"{fake.url}/bot").base_file_url(f"{fake.url}/file/bot")
    if concurrency is not None:
        builder = (builder.rate_limiter(AIORateLimiter(overall_max_rate=UNLIMITED)).concurrent_updates(concurrency)
                   .connection_pool_size(CONNECTIONS).pool_timeout(10.0))
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=20)
    users = [8_000_000 + n for n in range(USERS)]
    try:
        async with httpx.AsyncClient() as client:
            await fake.push_and_wait(client, [(users[n % USERS], "/menu") for n in range(WARM_UP)])
            work = [(users[n % USERS], "/menu" if (n // USERS) % 2 == 0 else "/help") for n in range(updates)]
            return await fake.push_and_wait(client, work)
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    updates = int(os.environ.get("TOTRUONG_BENCH_UPDATES", "3000"))
    runs = max(3, int(os.environ.get("TOTRUONG_BENCH_RUNS", "3")))
    print("command: python -m bench telegram   (.venv/bin/python -m bench telegram)")
    print(f"{updates} updates from {USERS} leaders per run, {runs} runs, SQLite, {CONCURRENCY} updates in flight, "
          f"{CONNECTIONS} connections, fake Bot API in its own process on 127.0.0.1, {os.cpu_count()} CPUs")
    fake = FakeServer()
    stack: list[Measure] = []
    echo: list[Measure] = []
    plain: list[Measure] = []
    try:
        for run in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-telegram-") as workdir:
                stack.append(asyncio.run(stack_rate(fake, Path(workdir), updates)))
            echo.append(asyncio.run(echo_rate(fake, updates, concurrency=CONCURRENCY)))
            plain.append(asyncio.run(echo_rate(fake, updates, concurrency=None)))
            print(f"  run {run + 1}: whole stack {stack[-1]}; echo bot {echo[-1]}; "
                  f"ratio {stack[-1].rate / echo[-1].rate:.2f}; echo bot with PTB defaults {plain[-1]}")
    finally:
        fake.close()
    rate = statistics.median(m.rate for m in stack)
    ratio = statistics.median(s.rate / e.rate for s, e in zip(stack, echo, strict=True))
    cpu_ratio = statistics.median(e.cpu_ms / s.cpu_ms for s, e in zip(stack, echo, strict=True))
    print(f"median: whole stack {rate:,.0f} updates/s ({statistics.median(m.cpu_ms for m in stack):.2f} ms CPU each; "
          f"target ≥ {TARGET_RATE:.0f}: {'ok' if rate >= TARGET_RATE else 'BELOW TARGET'})")
    print(f"        echo bot {statistics.median(m.rate for m in echo):,.0f} updates/s "
          f"({statistics.median(m.cpu_ms for m in echo):.2f} ms CPU each); "
          f"ratio {ratio:.2f} (target ≥ {TARGET_RATIO}: {'ok' if ratio >= TARGET_RATIO else 'BELOW TARGET'}); "
          f"CPU per update, echo / stack: {cpu_ratio:.2f}")
    print(f"        echo bot with PTB defaults {statistics.median(m.rate for m in plain):,.0f} updates/s "
          f"({statistics.median(m.cpu_ms for m in plain):.2f} ms CPU each)")
