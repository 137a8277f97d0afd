"""Taking up a killed instance's rows (issue 11): `totruong run` on SQLite is killed with SIGKILL in
the middle of a 2,000-recipient Zalo delivery (a fake Zalo Bot API in another process) and started
again at once. Measured: the time from the SIGKILL to the first re-sent row of those the killed run
had claimed, as a ratio to the lease (before: about the lease, the rows waited for it to run out),
the time until everything is sent, and the possible duplicates the restart announced.

Run: .venv/bin/python -m bench outbox_crash
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from models.settings import PROJECT_ROOT
from tests.fakes.zalo_api import TOKEN
from tests.integration.test_outbox_crash import RECIPIENTS, prepare, start_fake

LEASE = 30  # seconds; shorter than the default 120 so that the "before" run ends sooner


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def held(db: Path) -> set[int]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM outbox WHERE status IN ('sending', 'claimed')")}


def sent_among(db: Path, ids: set[int]) -> int:
    with sqlite3.connect(db) as conn:
        found = {row[0] for row in conn.execute("SELECT id FROM outbox WHERE status = 'sent'")}
    return len(found & ids)


def waiting(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE status NOT IN ('sent', 'failed', 'blocked', "
                                "'skipped')").fetchone()[0])


def run_once(folder: Path) -> tuple[float, float, int, int]:
    fake, port = start_fake()
    db = folder / "crash.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")}
    env.update({"TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{db}", "TOTRUONG_APP__DATA_DIR": str(folder / "data"),
                "TOTRUONG_PRIVACY__ASK_CONSENT": "false",
                "TOTRUONG_ZALO__TOKEN": TOKEN, "TOTRUONG_ZALO__API_URL": f"http://127.0.0.1:{port}",
                "TOTRUONG_OUTBOX__RATES": '{"zalo": 300, "sim": 500}',
                "TOTRUONG_OUTBOX__PER_CHAT_SECONDS": '{"zalo": 0, "sim": 0}',
                "TOTRUONG_OUTBOX__LEASE_SECONDS": str(LEASE), "TOTRUONG_OUTBOX__BATCH": "500"})
    log = folder / "app.log"
    totruong = str(Path(sys.executable).parent / "totruong")
    try:
        asyncio.run(prepare(env))
        with log.open("ab") as out:
            app = subprocess.Popen([totruong, "run", "--port", str(free_port())], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        control = f"http://127.0.0.1:{port}/_fake"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if httpx.post(f"{control}/wait", json={"sent": 600, "within": 1}, timeout=5).json()["sent"] >= 600:
                break
        app.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        app.wait(timeout=10)
        dead_rows = held(db)
        with log.open("ab") as out:
            app = subprocess.Popen([totruong, "run", "--port", str(free_port())], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        first = everything = float("nan")
        deadline = time.monotonic() + LEASE * 3
        while time.monotonic() < deadline:
            now = time.monotonic()
            if first != first and sent_among(db, dead_rows):
                first = now - killed
            if not waiting(db):
                everything = now - killed
                break
            time.sleep(0.05)
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)
    finally:
        fake.kill()
    text = log.read_text(errors="replace")
    return first, everything, len(dead_rows), text.count("possible duplicate")


def main() -> None:
    os.environ.pop("TOTRUONG_CONFIG", None)
    with tempfile.TemporaryDirectory() as tmp:
        first, everything, dead, duplicates = run_once(Path(tmp))
    print(f"SIGKILL during a {RECIPIENTS:,}-recipient delivery, restart at once, lease {LEASE} s: "
          f"{dead} rows held by the killed run; first of them re-sent {first:.1f} s after the kill = "
          f"{first / LEASE:.2f} × the lease; everything sent after {everything:.1f} s; "
          f"{duplicates} possible-duplicate warnings")
