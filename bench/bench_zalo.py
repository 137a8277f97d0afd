"""Updates per second end to end through the fake Zalo Bot API: poll, numbers, engine, reply.

The whole stack: the Zalo adapter's long polling (`getUpdates`, one update per call), the lookup
that turns a typed number into a button, the engine, SQLite, and `sendMessage` back. Leaders
registered beforehand alternate "/menu" and the number of «❓ Hướng dẫn» in their menu, so half the
updates go through the numbered-menu lookup; each update gets exactly one answer, which is checked.

The fake server runs in its own process (tests/fakes/zalo_api.py), so its work is not counted.
The clock runs from queuing the backlog to the last answer received.

Run: python -m bench zalo   (TOTRUONG_BENCH_UPDATES, TOTRUONG_BENCH_RUNS to change the size)
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import demo_app
from bot.channels.zalo.channel import ZaloChannel
from models.settings import PROJECT_ROOT
from tests.fakes.zalo_api import TOKEN, FakeZaloApi

USERS = 50
WARM_UP = 200
TARGET = 300.0


class FakeServer:
    """The fake Zalo Bot API in a child process, driven through its /_fake/ control routes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.fakes.zalo_api", "--port", "0"],
                                        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the fake Zalo server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    async def control(self, name: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(timeout=300, verify=False) as client:  # plain HTTP: skip loading CAs
            response = await client.post(f"{self.url}/_fake/{name}", json=body)
            response.raise_for_status()
            return response.json()

    async def send_and_wait(self, updates: list[dict[str, Any]], expected: int) -> list[dict[str, Any]]:
        await self.control("reset")
        await self.control("push", updates)
        await self.control("wait", {"sent": expected, "within": 300})
        sent: list[dict[str, Any]] = await self.control("sent")
        return sent

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def texts(users: list[str], count: int) -> list[dict[str, Any]]:
    """`count` updates: each leader in turn, alternating "/menu" and "/help" (as bench telegram does;
    «Hướng dẫn» is no longer on the first page of the menu, which has at most seven entries)."""
    return [FakeZaloApi.update("message.text.received", users[n % len(users)],
                               text="/menu" if (n // len(users)) % 2 == 0 else "/help")
            for n in range(count)]


async def one_run(workdir: Path, fake: FakeServer, updates: int) -> tuple[float, float, int]:
    """Updates per second of wall time and of this process's CPU time, and how many answers were
    wrong or missing, for one fresh app."""
    app = await demo_app(workdir, {"TOTRUONG_ZALO__TOKEN": TOKEN, "TOTRUONG_ZALO__API_URL": fake.url})
    assert isinstance(app.channels["zalo"], ZaloChannel)
    await app.start()
    try:
        users = [f"{n:020x}" for n in range(USERS)]
        register = [FakeZaloApi.update("message.text.received", user, text="/start HUNG05") for user in users]
        await fake.send_and_wait(register, USERS)
        await fake.send_and_wait(texts(users, WARM_UP), WARM_UP)
        backlog = texts(users, updates)
        started, cpu = time.perf_counter(), time.process_time()
        sent = await fake.send_and_wait(backlog, updates)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await app.stop()
    helped = sum(1 for s in sent if s["text"].startswith("Hướng dẫn sử dụng"))
    wrong = abs(updates - len(sent)) + abs(helped - updates // 2)
    return updates / elapsed, updates / cpu, wrong


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    updates = int(os.environ.get("TOTRUONG_BENCH_UPDATES", "3000"))
    runs = int(os.environ.get("TOTRUONG_BENCH_RUNS", "3"))
    print("command: .venv/bin/python -m bench zalo")
    print(f"{updates} updates from {USERS} leaders per run (after {WARM_UP} to warm up), {runs} runs, SQLite, "
          "fake Zalo API in its own process on 127.0.0.1")
    fake = FakeServer()
    rates: list[float] = []
    cpu_rates: list[float] = []
    try:
        for run in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-zalo-") as workdir:
                rate, cpu_rate, wrong = asyncio.run(one_run(Path(workdir), fake, updates))
            rates.append(rate)
            cpu_rates.append(cpu_rate)
            problem = f"  ({wrong} wrong or missing answers!)" if wrong else ""
            print(f"  run {run + 1}: {rate:,.0f} updates/s ({cpu_rate:,.0f} per CPU second of the app){problem}",
                  flush=True)
    finally:
        fake.close()
    median = statistics.median(rates)
    print(f"median: {median:,.0f} updates/s (target ≥ {TARGET:.0f}/s: {'ok' if median >= TARGET else 'BELOW TARGET'}); "
          f"{statistics.median(cpu_rates):,.0f} per CPU second of the app (what a quiet machine would give)")
