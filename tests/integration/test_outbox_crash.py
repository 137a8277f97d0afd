"""Kill the app with SIGKILL in the middle of a 2,000-recipient delivery on SQLite and start it
again: every recipient receives the notice, as counted at a fake Zalo server, exactly once except
the few messages really in flight at the kill (marked `sending` just before their requests went
out), which the restarted app logs as possible duplicates. The rest of the claimed batch is sent
again within seconds of the restart, not after the lease."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from bot.bootstrap import build, load_demo, prepare_database
from handlers.delivery import notices
from models.repos import Repo
from models.settings import PROJECT_ROOT, load_settings
from models.tables import Identity, Person, RoleAssignment
from tests.fakes.zalo_api import TOKEN

RECIPIENTS = 2_000
CONCURRENCY = 8
LEASE = 120
TEXT = "Thông báo: ngày 30/11 phun thuốc diệt muỗi phòng sốt xuất huyết."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_fake() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.zalo_api", "--port", "0"], cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, int(line.split()[1])


async def prepare(env: dict[str, str]) -> None:
    """The demo data, 2,000 Zalo residents of one group, and one notice to them, queued."""
    app = build(load_settings(env, PROJECT_ROOT / "config.toml"))
    await prepare_database(app)
    await load_demo(app)  # beside a channel token the demo is only loaded when asked for
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        group = await repo.unit_by_code("HC-TT3")
        sender = await repo.find_who("sim", "demo-topho")
        people = [Person(name=f"Cư dân {n}") for n in range(RECIPIENTS)]
        session.add_all(people)
        await session.flush()
        session.add_all([Identity(person_id=p.id, channel="zalo", external_id=f"z{n:05}", chat_id=f"z{n:05}")
                         for n, p in enumerate(people)])
        session.add_all([RoleAssignment(person_id=p.id, unit_id=group.id, role="resident") for p in people])
        await session.flush()
        notice = await notices.create(repo, sender_id=sender.person_id, sender_name="Ông Hồ Văn Sáu", unit=group,
                                      audience="residents", text=TEXT, photo_id=None, urgent=True,
                                      send_at=app.clock.now(), settings=app.settings,
                                      translate=app.engine.translator)
        assert notice.total == RECIPIENTS + 1  # and the demo resident, on the simulator
    await app.stop()


def start_app(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "totruong"), "run", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)


def waiting(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE status IN ('pending','retry','claimed',"
                                "'sending')").fetchone()[0])


def test_sigkill_mid_delivery_then_restart_delivers_each_notice_once(tmp_path: Path) -> None:
    fake, fake_port = start_fake()
    db = tmp_path / "crash.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")}
    env.update({
        "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{db}",
        "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"),
        "TOTRUONG_ZALO__TOKEN": TOKEN,
        "TOTRUONG_ZALO__API_URL": f"http://127.0.0.1:{fake_port}",
        "TOTRUONG_OUTBOX__RATES": '{"zalo": 300, "sim": 500}',
        "TOTRUONG_OUTBOX__PER_CHAT_SECONDS": '{"zalo": 0, "sim": 0}',
        "TOTRUONG_OUTBOX__LEASE_SECONDS": str(LEASE),
        "TOTRUONG_OUTBOX__CONCURRENCY": str(CONCURRENCY),
        "TOTRUONG_OUTBOX__BATCH": "500",
    })
    log = tmp_path / "app.log"
    control = f"http://127.0.0.1:{fake_port}/_fake"
    app: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(prepare(env))
        app = start_app(env, free_port(), log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sent = httpx.post(f"{control}/wait", json={"sent": 700, "within": 1}, timeout=5).json()["sent"]
            if sent >= 700:
                break
        app.send_signal(signal.SIGKILL)
        app.wait(timeout=10)
        before = len(httpx.post(f"{control}/sent", json=None, timeout=30).json())
        assert 700 <= before < RECIPIENTS - 500, before  # killed in the middle of a claimed batch
        restarted = time.monotonic()
        app = start_app(env, free_port(), log)
        deadline = restarted + 60
        while waiting(db) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert waiting(db) == 0
        # Everything was sent again well within the lease: the restart took up the dead run's rows.
        assert time.monotonic() - restarted < LEASE / 4
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=20)
        sent = httpx.post(f"{control}/sent", json=None, timeout=30).json()
    finally:
        if app is not None and app.poll() is None:  # a failed assertion must not leave the app running
            app.kill()
            app.wait(timeout=10)
        fake.kill()
    counts = Counter(item["chat_id"] for item in sent if TEXT in (item["text"] or ""))
    assert set(counts) == {f"z{n:05}" for n in range(RECIPIENTS)}
    duplicated = {chat for chat, n in counts.items() if n > 1}
    assert all(n <= 2 for n in counts.values())
    # Every duplicate was announced in the log of the restarted app as a possible duplicate.
    announced_identities = {int(m) for m in re.findall(r"possible duplicate: outbox \d+ \(notice:\d+:i(\d+)\)",
                                                       log.read_text(errors="replace"))}
    with sqlite3.connect(db) as conn:
        chat_of = dict(conn.execute("SELECT id, chat_id FROM identity WHERE channel = 'zalo'").fetchall())
    announced = {chat_of[i] for i in announced_identities if i in chat_of}
    assert duplicated <= announced, (len(duplicated), len(announced))
    # Only rows whose requests were going out, not the whole claimed batch (~400 here before): those
    # in flight (≤ CONCURRENCY), the few marked just ahead of their turn (≤ CONCURRENCY + 1) and those
    # answered since the last write (each write records what finished meanwhile; ≤ 2 × CONCURRENCY + 1).
    assert len(announced) <= 4 * CONCURRENCY + 2, len(announced)
    with sqlite3.connect(db) as conn:
        unsent = conn.execute("SELECT count(*) FROM outbox WHERE channel = 'zalo' AND (status != 'sent' "
                              "OR message_id = '')").fetchone()[0]
    assert unsent == 0  # and every row is sent with Zalo's message id
