"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL, and go
down and up again."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from models import tables  # noqa: F401  (registers the tables)
from models.db import alembic_config, create_engine, upgrade_sync


def _differences(url: str) -> list[object]:
    async def run() -> list[object]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              SQLModel.metadata))
        await engine.dispose()
        return list(diff)

    return asyncio.run(run())


def test_migrations_match_the_models_and_downgrade(database_url: str) -> None:
    assert _differences(database_url) == []
    command.downgrade(alembic_config(database_url), "base")
    upgrade_sync(database_url)
    assert _differences(database_url) == []
