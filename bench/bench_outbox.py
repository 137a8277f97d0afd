"""The outbox dispatcher (issue 6), as ratios to the configured cap:

1. cap R = 1,000 messages/s, a fake Zalo Bot API (separate process) that answers at once:
   20,000 recipients, achieved rate / R (target ≥ 90%);
2. the default Telegram cap, 25 messages/s, for one minute against the same fake: achieved / 25
   (target ≥ 95%) — the token bucket is the same for every channel;
3. the dispatcher's memory growth over 100,000 recipients with an in-process sender (target < 50 MB).

Run: .venv/bin/python -m bench outbox
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bot.bootstrap import App, build, load_demo, prepare_database
from handlers.delivery import notices
from handlers.messages import Reply
from models.repos import Repo
from models.settings import PROJECT_ROOT, load_settings
from models.tables import Identity, Person, RoleAssignment
from tests.fakes.zalo_api import TOKEN


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024


async def make_app(folder: Path, env: dict[str, str]) -> App:
    base = {"TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{folder}/outbox.db",
            "TOTRUONG_APP__DATA_DIR": str(folder / "data"),
            "TOTRUONG_PRIVACY__ASK_CONSENT": "false"}
    app = build(load_settings({**base, **env}, PROJECT_ROOT / "config.toml"))
    await prepare_database(app)
    await load_demo(app)  # beside a channel token: only when asked for
    return app


async def queue(app: App, count: int, channel: str) -> None:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        group = await repo.unit_by_code("HC-TT3")
        assert group is not None
        sender = await repo.find_who("sim", "demo-topho")
        assert sender is not None
        for start in range(0, count, 5000):
            people = [Person(name=f"Cư dân {n}") for n in range(start, min(count, start + 5000))]
            session.add_all(people)
            await session.flush()
            session.add_all([Identity(person_id=p.id, channel=channel, external_id=f"c{p.id}", chat_id=f"c{p.id}")
                             for p in people])
            session.add_all([RoleAssignment(person_id=p.id or 0, unit_id=group.id or 0, role="resident")
                             for p in people])
        await notices.create(repo, sender_id=sender.person_id, sender_name="Bench", unit=group, audience="residents",
                             text="Thông báo thử tốc độ gửi.", photo_id=None, urgent=True, send_at=app.clock.now(),
                             settings=app.settings, translate=app.engine.translator)


async def timed_delivery(app: App, count: int, seconds_cap: float | None = None) -> tuple[int, float]:
    """Runs the dispatcher until `count` rows are sent (or for `seconds_cap`); returns (sent, seconds)."""
    from sqlalchemy import func, select

    from models.tables import Outbox

    async def sent_so_far() -> int:
        async with app.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.status == "sent", Outbox.channel != "sim")) or 0)

    started = time.perf_counter()
    app.dispatcher.start()
    try:
        while True:
            await asyncio.sleep(0.2)
            done = await sent_so_far()
            elapsed = time.perf_counter() - started
            if done >= count or (seconds_cap is not None and elapsed >= seconds_cap):
                return done, elapsed
    finally:
        await app.dispatcher.stop()


def start_fake() -> tuple[subprocess.Popen[str], int]:
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.zalo_api", "--port", "0"], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert fake.stdout is not None
    return fake, int(fake.stdout.readline().split()[1])


async def against_fake(rate: float, count: int, seconds_cap: float | None) -> tuple[int, float]:
    fake, port = start_fake()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = await make_app(Path(tmp), {
                "TOTRUONG_ZALO__TOKEN": TOKEN, "TOTRUONG_ZALO__API_URL": f"http://127.0.0.1:{port}",
                "TOTRUONG_OUTBOX__RATES": f'{{"zalo": {rate}, "sim": 1000}}',
                "TOTRUONG_OUTBOX__PER_CHAT_SECONDS": '{"zalo": 1, "sim": 0}'})
            await queue(app, count, "zalo")
            zalo = app.channels["zalo"]
            await zalo.start()  # the client; its polling loop only sees 408s from the fake
            try:
                return await timed_delivery(app, count, seconds_cap)
            finally:
                await app.stop()
    finally:
        fake.kill()


class InstantSender:
    async def send(self, chat_id: str, replies: Sequence[Reply]) -> list[str]:
        return ["1"]


async def memory_growth(count: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        app = await make_app(Path(tmp), {"TOTRUONG_OUTBOX__RATES": '{"fake": 100000, "sim": 100000}',
                                         "TOTRUONG_OUTBOX__PER_CHAT_SECONDS": '{"fake": 0, "sim": 0}'})
        try:
            app.dispatcher.senders["fake"] = InstantSender()
            await queue(app, count, "fake")
            before = rss_mb()
            started = time.perf_counter()
            handled = await app.dispatcher.drain(rounds=10_000)
            seconds = time.perf_counter() - started
            assert handled >= count, handled
            return before, rss_mb(), seconds
        finally:
            await app.stop()


def main() -> None:
    os.environ.pop("TOTRUONG_CONFIG", None)
    sent, seconds = asyncio.run(against_fake(1000, 20_000, None))
    print(f"cap R = 1,000/s, 20,000 recipients via the fake Zalo API: {sent:,} in {seconds:.1f} s = "
          f"{sent / seconds:,.0f}/s = {sent / seconds / 1000:.0%} of R (target ≥ 90%)")
    sent, seconds = asyncio.run(against_fake(25, 3_000, 60))
    print(f"cap 25/s (Telegram's default) for {seconds:.0f} s: {sent:,} sent = {sent / seconds:.2f}/s = "
          f"{sent / seconds / 25:.0%} of the cap (target ≥ 95%)")
    before, after, seconds = asyncio.run(memory_growth(100_000))
    print(f"dispatcher over 100,000 recipients (in-process sender): RSS {before:.0f} → {after:.0f} MB, "
          f"growth {after - before:.0f} MB (target < 50 MB), {100_000 / seconds:,.0f} rows/s")
