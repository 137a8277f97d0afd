"""Shared fixtures: settings on a temporary folder, a migrated database (SQLite, and PostgreSQL when
TOTRUONG_TEST_POSTGRES_URL is set), the application with an injected clock, and a chat driver."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.db import upgrade_sync
from models.settings import PROJECT_ROOT, Settings, load_settings

POSTGRES_URL = os.environ.get("TOTRUONG_TEST_POSTGRES_URL", "")
# The journeys of the other tests start from people who agreed to the privacy notice outside the
# chat (privacy.ask_consent = false, as where consent is collected on paper); the notice itself is
# tested with it on, in tests/integration/test_data_rights.py and its neighbours.
CONSENT_COLLECTED = {"TOTRUONG_PRIVACY__ASK_CONSENT": "false"}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 22, 1, 30, tzinfo=UTC)  # Sunday 08:30 in Đà Nẵng

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need TOTRUONG_TEST_POSTGRES_URL (e.g. postgresql+psycopg://root@127.0.0.1/test)")
    import psycopg

    admin_url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"totruong_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade_sync(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of an empty, migrated database: a SQLite file, or the run's PostgreSQL database."""
    if request.param == "sqlite":
        target = tmp_path / "totruong.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_database")
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    env = {
        "TOTRUONG_DATABASE__URL": database_url,
        "TOTRUONG_DATABASE__AUTO_MIGRATE": "false",
        "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"),
        "TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY": "true",
        "TOTRUONG_WEB__PORT": "0",
        **CONSENT_COLLECTED,
    }
    return load_settings(env, PROJECT_ROOT / "config.toml")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[object]:
    """The whole application on a migrated database with the demo data loaded."""
    from bot.bootstrap import build, load_demo, prepare_database

    application = build(settings, clock=clock)
    await prepare_database(application)
    await load_demo(application)  # asked for explicitly: with a channel token it is not loaded by itself
    try:
        yield application
    finally:
        await application.stop()
