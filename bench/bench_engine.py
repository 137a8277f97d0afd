"""Form steps per second through the whole engine on SQLite, every step persisted (issue 2),
against a baseline commit measured in the same run, and the resident memory of the idle app.

Run: make bench  (or .venv/bin/python -m bench engine). TOTRUONG_BENCH_BASE=<git ref> (default
main; "" for none) is checked out with `git worktree add` and measured by the same function in a
subprocess, alternating with this checkout (also in a subprocess), so both see the same machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import baseline_tree, running_app
from bot.bootstrap import build, prepare_database
from handlers.messages import Incoming
from models.repos import Repo
from models.settings import PROJECT_ROOT, load_settings
from models.tables import Identity, Person, RoleAssignment

LEADERS = 50
ROUNDS = 3
# One whole sample form, as a leader answers it: 13 steps.
SCRIPT: list[dict[str, str]] = [
    {"button": "m.f.ve_sinh_chu_nhat_xanh"},
    {"text": "hôm nay"},
    {"text": "35"},
    {"text": "20"},
    {"text": "1, 2"},
    {"text": "120,5"},
    {"text": "có"},
    {"text": "Kiệt 42 Lê Duẩn"},
    {"text": "tốt"},
    {"text": "bỏ qua"},
    {"text": "Cần thêm xe thu gom"},
    {"text": "gửi báo cáo"},
    {"text": "/menu"},
]


async def setup(folder: Path) -> object:
    settings = load_settings({"TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{folder}/bench.db",
                              "TOTRUONG_APP__DATA_DIR": str(folder / "data"),
                              "TOTRUONG_PRIVACY__ASK_CONSENT": "false"}, PROJECT_ROOT / "config.toml")
    app = build(settings)
    await prepare_database(app)
    async with app.sessions() as session, session.begin():
        group = await Repo(session).unit_by_code("HC-TT3")
        for n in range(LEADERS):
            person = Person(name=f"Tổ trưởng {n}")
            session.add(person)
            await session.flush()
            session.add(Identity(person_id=person.id, channel="bench", external_id=f"l{n}"))
            session.add(RoleAssignment(person_id=person.id, unit_id=group.id, role="leader"))
    return app


async def one_round(app: object, forms_per_leader: int) -> tuple[int, float]:
    steps = 0
    started = time.perf_counter()
    for _ in range(forms_per_leader):
        for n in range(LEADERS):
            for step in SCRIPT:
                handled = await app.receive(Incoming(channel="bench", user_id=f"l{n}", **step))  # type: ignore[attr-defined]
                assert handled.replies
                steps += 1
    return steps, time.perf_counter() - started


async def steps_per_second() -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        app = await setup(Path(tmp))
        try:
            await one_round(app, 1)  # warm up
            rates = []
            for _ in range(ROUNDS):
                steps, seconds = await one_round(app, 3)
                rates.append(steps / seconds)
            async with app.sessions() as session:  # type: ignore[attr-defined]
                from sqlalchemy import func, select

                from models.tables import Report
                reports = await session.scalar(select(func.count()).select_from(Report))
            assert reports == LEADERS * (1 + 3 * ROUNDS), reports
            return rates
        finally:
            await app.stop()  # type: ignore[attr-defined]


def idle_rss_mb(seconds: float = 8.0) -> float:
    with tempfile.TemporaryDirectory() as tmp, running_app(Path(tmp)) as (process, port):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        time.sleep(seconds)
        status = Path(f"/proc/{process.pid}/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024


MEASURE = "import asyncio, json; from bench.bench_engine import steps_per_second; " \
          "print(json.dumps(asyncio.run(steps_per_second())))"


def _rates_in(code: Path) -> list[float]:
    """steps_per_second() of the checkout at `code`, in a subprocess of its own."""
    done = subprocess.run([sys.executable, "-c", MEASURE], cwd=code, capture_output=True, text=True, check=True,
                          timeout=600)
    return [float(rate) for rate in json.loads(done.stdout.strip().splitlines()[-1])]


def main() -> None:
    base = os.environ.get("TOTRUONG_BENCH_BASE", "main")
    here = Path(__file__).resolve().parent.parent
    print(f"engine: form steps/s on SQLite, every step persisted, {LEADERS} leaders, one process")
    mine: list[float] = []
    theirs: list[float] = []
    if base and subprocess.run(["git", "-C", str(here), "rev-parse", "--verify", "--quiet", base],
                               capture_output=True).returncode == 0:
        with baseline_tree(base) as tree:
            for _turn in range(2):  # alternating, so that a change of load hits both alike
                theirs += _rates_in(tree)
                mine += _rates_in(here)
        print(f"  {base}: runs {', '.join(f'{r:,.0f}' for r in theirs)}   median {statistics.median(theirs):,.0f}")
    else:
        mine = _rates_in(here)
        if base:
            print(f"  no baseline: {base!r} is not a git ref here")
    print(f"  this: runs {', '.join(f'{r:,.0f}' for r in mine)}   median: {statistics.median(mine):,.0f} steps/s "
          f"(target ≥ 2,000)")
    if theirs:
        print(f"  ratio this/{base}: {statistics.median(mine) / statistics.median(theirs):.2f} (target ≥ 0.95)   "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rss = idle_rss_mb()
    print(f"idle app (totruong run, simulator, demo data): RSS {rss:.0f} MB (target < 150 MB)")
