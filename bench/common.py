"""What several benchmarks need: a scratch PostgreSQL database, `totruong run` in a subprocess, and a
fresh in-process app with the demo data."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bot.bootstrap import App, build, load_demo, prepare_database
from models.db import upgrade, upgrade_sync
from models.settings import PROJECT_ROOT, load_settings


@contextmanager
def scratch_postgres(*, migrate: bool = True) -> Iterator[str | None]:
    """A new PostgreSQL database (TOTRUONG_BENCH_POSTGRES_URL's server, default the local one),
    migrated by this checkout unless `migrate` is false, dropped afterwards; None, with a line
    saying why, when no server answers. Leave it unmigrated for another checkout's code (see
    baseline_tree): `totruong run` migrates it with that code's own migrations, where this
    checkout's newer head would stop an older app at start ("Can't locate revision")."""
    admin = os.environ.get("TOTRUONG_BENCH_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
    plain = admin.replace("postgresql+psycopg://", "postgresql://")
    name = f"totruong_bench_{uuid.uuid4().hex[:8]}"
    try:
        import psycopg

        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as error:  # no server here: say so rather than fail the whole bench run
        print(f"PostgreSQL skipped: {error}")
        yield None
        return
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        if migrate:
            asyncio.run(upgrade(url))
        yield url
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def baseline_tree(ref: str) -> Iterator[Path]:
    """A checkout of `ref` (a commit, a branch) beside this one (`git worktree add`), removed after:
    the code a benchmark compares with, measured in the same run."""
    root = Path(__file__).resolve().parent.parent
    folder = Path(tempfile.mkdtemp(prefix="totruong-base-"))
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--quiet", "--detach", str(folder), ref], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def running_app(
    folder: Path, *, url: str | None = None, code: Path | None = None, env: dict[str, str] | None = None,
    unlimited_telegram: bool = False,
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`totruong run` on a free port with its own SQLite file (or the database at `url`), up
    (healthz answers); stopped after. `code`: run that checkout's code instead (see baseline_tree),
    with this environment's packages. An app that exits or never answers raises RuntimeError with
    the end of its log, rather than leaving the benchmark to fail on a refused connection. `env`:
    more settings (TOTRUONG_...); `unlimited_telegram`: without the Telegram channel's overall
    limit of 30 messages/s (bench/serve_unlimited.py), for a fake Bot API that has none."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    root = Path(__file__).resolve().parent.parent
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")},
                   "TOTRUONG_DATABASE__URL": url or f"sqlite+aiosqlite:///{folder}/app.db",
                   "TOTRUONG_APP__DATA_DIR": f"{folder}/data", **(CONSENT_COLLECTED if _asks_consent(code) else {}),
                   **(env or {})}
    command = [str(Path(sys.executable).parent / "totruong")]
    if code is not None:  # its folder first on the path, ahead of this checkout's editable install
        command = [sys.executable, "-c", "from bot.cli import main; main()"]
    if unlimited_telegram:
        command = [sys.executable, str(Path(__file__).resolve().parent / "serve_unlimited.py")]
    log = folder / "app.log"
    with log.open("wb") as output:
        process = subprocess.Popen([*command, "run", "--port", str(port)], cwd=code or root, env=environment,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            if process.poll() is not None or time.time() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"totruong run ({code or 'this checkout'}) did not start "
                                   f"(exit code {process.returncode}):\n{tail}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=20)


# The benchmarks' people agreed to the privacy notice outside the chat: their steps are the
# journeys, not the notice. For every checkout that has the setting (an older one has none), so
# that both sides of a same-run comparison walk the same steps.
CONSENT_COLLECTED = {"TOTRUONG_PRIVACY__ASK_CONSENT": "false"}


def _asks_consent(code: Path | None) -> bool:
    """Whether the checkout at `code` (None: this one) has the privacy notice setting."""
    settings = (code or Path(__file__).resolve().parent.parent) / "models" / "settings.py"
    return "ask_consent" in settings.read_text(encoding="utf-8")


async def demo_app(workdir: Path, channel: dict[str, str]) -> App:
    """A fresh app on a migrated SQLite file in workdir, with the demo data (asked for: beside a
    channel token it is not loaded by itself); channel holds the channel's TOTRUONG_ variables."""
    database = workdir / "bench.db"
    await asyncio.to_thread(upgrade_sync, f"sqlite+aiosqlite:///{database}")
    settings = load_settings({
        "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{database}",
        "TOTRUONG_DATABASE__AUTO_MIGRATE": "false",
        "TOTRUONG_APP__DATA_DIR": str(workdir / "data"),
        "TOTRUONG_PRIVACY__ASK_CONSENT": "false",
        **channel,
    }, PROJECT_ROOT / "config.toml")
    app = build(settings)
    await prepare_database(app)
    await load_demo(app)
    return app

