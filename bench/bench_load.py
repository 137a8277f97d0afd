"""Concurrent simulated users against `totruong run` over HTTP (issue 11 item 6): N leaders each
file 20 form steps at once through the simulator API, each with the page's long poll open, on
SQLite and on PostgreSQL; steps/s, p50 and p99 of an answer, for 20 and 200 users, and the ratio.

Run: .venv/bin/python -m bench load. TOTRUONG_BENCH_LOAD_USERS="20,200" chooses the sizes,
TOTRUONG_BENCH_LOAD_DATABASES="sqlite,postgres" the databases, and TOTRUONG_BENCH_BASE=<git ref>
measures that commit's code first, in the same run (a `git worktree`, with this environment).

The client is a few lines of HTTP/1.1 over asyncio streams rather than httpx, so that the load
generator, which shares the machine's two cores with the server, costs as little as possible.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import baseline_tree, running_app, scratch_postgres

STEPS = 20
# The sample form as a leader answers it (13 steps), cycled to make 20 steps per user.
SCRIPT: list[dict[str, str]] = [
    {"button": "m.f.ve_sinh_chu_nhat_xanh"}, {"text": "hôm nay"}, {"text": "35"}, {"text": "20"},
    {"text": "1, 2"}, {"text": "120,5"}, {"text": "có"}, {"text": "Kiệt 42 Lê Duẩn"}, {"text": "tốt"},
    {"text": "bỏ qua"}, {"text": "Cần thêm xe thu gom"}, {"text": "gửi báo cáo"}, {"text": "/menu"},
]
LONG_POLL_SECONDS = 25
DEADLINE_SECONDS = 300  # the whole measured phase of one configuration, at most


class Http:
    """One keep-alive HTTP/1.1 connection to the app on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n")
        self.writer.write(head.encode() + data)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _sep, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return status, json.loads(payload) if payload else None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass


async def _register(port: int, users: list[str]) -> None:
    """Every user becomes a leader of the demo group with its unlimited code (not measured)."""
    gate = asyncio.Semaphore(20)

    async def one(user: str) -> None:
        async with gate:
            http = Http(port)
            status, _body = await http.request("POST", "/api/send", {"user": user, "name": user,
                                                                     "text": "/start HUNG05"})
            await http.close()
            assert status == 200, status

    await asyncio.gather(*(one(user) for user in users))


async def _user(port: int, user: str, latencies: list[float], stop: asyncio.Event) -> int:
    """One person with the simulator page open: a long poll running, and 20 steps sent in turn."""
    sender, poller = Http(port), Http(port)
    last = 0

    async def poll() -> None:
        nonlocal last
        while not stop.is_set():
            status, body = await poller.request("GET", f"/api/messages?user={user}&after={last}"
                                                       f"&wait={LONG_POLL_SECONDS}")
            if status == 200 and body["messages"]:
                last = max(last, max(int(m["id"]) for m in body["messages"]))

    polling = asyncio.create_task(poll())
    done = 0
    try:
        for step in range(STEPS):
            started = time.perf_counter()
            status, body = await sender.request("POST", "/api/send", {"user": user, **SCRIPT[step % len(SCRIPT)]})
            latencies.append(time.perf_counter() - started)
            if status != 200 or not body["messages"]:
                raise RuntimeError(f"{user} step {step}: HTTP {status} {body}")
            last = max(last, max(int(m["id"]) for m in body["messages"]))
            done += 1
    finally:
        polling.cancel()
        await sender.close()
        await poller.close()
    return done


async def _measure(port: int, users: int) -> dict[str, float]:
    names = [f"load{users}-{n}" for n in range(users)]
    await _register(port, names)
    latencies: list[float] = []
    stop = asyncio.Event()
    started = time.perf_counter()
    done = await asyncio.wait_for(asyncio.gather(*(_user(port, name, latencies, stop) for name in names)),
                                  DEADLINE_SECONDS)
    seconds = time.perf_counter() - started
    stop.set()
    ordered = sorted(latencies)
    return {"steps": sum(done), "rate": sum(done) / seconds, "p50": statistics.median(ordered),
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(url: str | None, folder: Path, users: int, code: Path | None) -> dict[str, float]:
    with running_app(folder, url=url, code=code) as (process, port):
        before = _cpu_seconds(process.pid)
        result = asyncio.run(_measure(port, users))
        # The server's CPU per step (registration included) is steadier than the rate on a
        # machine shared with other work.
        result["cpu_ms"] = (_cpu_seconds(process.pid) - before) * 1000 / (result["steps"] * (STEPS + 1) / STEPS)
        return result


def _sizes() -> list[int]:
    return [int(n) for n in os.environ.get("TOTRUONG_BENCH_LOAD_USERS", "20,200").split(",") if n.strip()]


def _one_code(label: str, code: Path | None, sizes: list[int], databases: list[str]) -> None:
    results: dict[tuple[str, int], dict[str, float]] = {}
    for database in databases:
        for users in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                if database == "sqlite":
                    results[(database, users)] = _run(None, Path(tmp), users, code)
                else:
                    with scratch_postgres(migrate=False) as url:  # the app migrates it, with its own code
                        if url is None:
                            break
                        results[(database, users)] = _run(url, Path(tmp), users, code)
            r = results[(database, users)]
            print(f"  {label:6} {database:8} {users:4} users: {r['rate']:5.0f} steps/s   "
                  f"p50 {r['p50'] * 1000:6.0f} ms   p99 {r['p99'] * 1000:6.0f} ms   "
                  f"server CPU {r['cpu_ms']:.2f} ms/step   load {os.getloadavg()[0]:.2f}", flush=True)
        if len(sizes) >= 2 and (database, sizes[0]) in results and (database, sizes[-1]) in results:
            ratio = results[(database, sizes[-1])]["rate"] / results[(database, sizes[0])]["rate"]
            print(f"  {label:6} {database:8} {sizes[-1]}/{sizes[0]} users: {ratio:.2f}× the rate (target ≥ 0.90), "
                  f"p99 at {sizes[-1]}: {results[(database, sizes[-1])]['p99'] * 1000:.0f} ms (target < 1,000)",
                  flush=True)


def main() -> None:
    sizes = _sizes()
    databases = os.environ.get("TOTRUONG_BENCH_LOAD_DATABASES", "sqlite,postgres").split(",")
    base = os.environ.get("TOTRUONG_BENCH_BASE", "")
    print(f"load: simulator API, {STEPS} form steps per user, every user with a long poll open; one app process"
          + (f"; baseline {base} measured in the same run" if base else ""))
    if base:
        with baseline_tree(base) as tree:
            _one_code("base", tree, sizes, databases)
    _one_code("this", None, sizes, databases)
    print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
