"""One unit of work: a session, one transaction, and the repository on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.repos import Repo


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Repo]:
    """`async with unit_of_work(sessions) as repo:` commits when the block ends, rolls back on an error."""
    async with sessions() as session, session.begin():
        yield Repo(session)
