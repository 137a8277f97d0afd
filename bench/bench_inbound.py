"""What handling each update once costs the engine: form steps per second with and without an
update key (one lookup and one insert into `inbound_update` in each step's transaction), in the
same app and the same run, rounds alternating, on SQLite and PostgreSQL.

`python -m bench engine` sends no update keys (the simulator has none), so it measures the engine
without the dedupe; the channels (Telegram, Zalo) always send one, and this measures that.

Run: .venv/bin/python -m bench inbound
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_engine import LEADERS, SCRIPT
from bench.common import scratch_postgres
from bot.bootstrap import App, build, prepare_database
from handlers.messages import Incoming
from models.repos import Repo
from models.settings import PROJECT_ROOT, load_settings
from models.tables import Identity, Person, RoleAssignment

ROUNDS = 4  # pairs of rounds: one without keys, one with
TARGET = 0.95
_keys = itertools.count(1)


async def setup(folder: Path, database_url: str | None) -> App:
    """The app with the demo data and LEADERS leaders of one group (as bench/bench_engine.py)."""
    settings = load_settings({"TOTRUONG_DATABASE__URL": database_url or f"sqlite+aiosqlite:///{folder}/bench.db",
                              "TOTRUONG_APP__DATA_DIR": str(folder / "data"),
                              "TOTRUONG_PRIVACY__ASK_CONSENT": "false"}, PROJECT_ROOT / "config.toml")
    app = build(settings)
    await prepare_database(app)
    async with app.sessions() as session, session.begin():
        group = await Repo(session).unit_by_code("HC-TT3")
        assert group is not None
        for n in range(LEADERS):
            person = Person(name=f"Tổ trưởng {n}")
            session.add(person)
            await session.flush()
            assert person.id is not None
            session.add(Identity(person_id=person.id, channel="bench", external_id=f"l{n}"))
            session.add(RoleAssignment(person_id=person.id, unit_id=group.id, role="leader"))
    return app


async def one_round(app: App, *, keyed: bool) -> tuple[float, float]:
    """Every leader files one whole form; steps per second, and CPU milliseconds per step."""
    steps = 0
    cpu, started = time.process_time(), time.perf_counter()
    for n in range(LEADERS):
        for step in SCRIPT:
            key = f"1:{next(_keys)}" if keyed else None
            handled = await app.receive(Incoming(channel="bench", user_id=f"l{n}", update_key=key, **step))
            assert handled.replies and not handled.replay
            steps += 1
    return steps / (time.perf_counter() - started), (time.process_time() - cpu) / steps * 1000


Measures = list[tuple[float, float]]


async def compare(folder: Path, database_url: str | None) -> tuple[Measures, Measures]:
    app = await setup(folder, database_url)
    try:
        await one_round(app, keyed=False)  # warm up
        await one_round(app, keyed=True)
        plain: Measures = []
        keyed: Measures = []
        for pair in range(ROUNDS):
            order = (False, True) if pair % 2 == 0 else (True, False)  # neither always goes first
            for with_keys in order:
                (keyed if with_keys else plain).append(await one_round(app, keyed=with_keys))
        return plain, keyed
    finally:
        await app.stop()


def report(engine: str, plain: Measures, keyed: Measures) -> None:
    ratio = statistics.median(k[0] / p[0] for p, k in zip(plain, keyed, strict=True))
    cpu_ratio = statistics.median(p[1] / k[1] for p, k in zip(plain, keyed, strict=True))
    for name, rates in (("without keys", plain), ("with keys", keyed)):
        print(f"  {engine} {name}: {statistics.median(r for r, _c in rates):,.0f} steps/s "
              f"({', '.join(f'{r:,.0f}' for r, _c in rates)}), "
              f"{statistics.median(c for _r, c in rates):.3f} ms CPU per step")
    print(f"  {engine}: ratio with/without {ratio:.3f} by rate, {cpu_ratio:.3f} by CPU per step "
          f"(target ≥ {TARGET}: {'ok' if ratio >= TARGET else 'BELOW'})")


def main() -> None:
    print(f"inbound: form steps/s with and without update keys, {LEADERS} leaders, {ROUNDS} rounds of each")
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite", *asyncio.run(compare(Path(tmp), None)))
    with scratch_postgres() as url, tempfile.TemporaryDirectory() as tmp:
        if url is not None:
            report("PostgreSQL", *asyncio.run(compare(Path(tmp), url)))
