"""The PostgreSQL engine's connection pool hands connections out first come, first served
(models/db.FairQueuePool): under many users at once nobody waits for a connection much longer than
the others, and a connection is never lost to a waiter that stopped waiting. On the database of the
run (SQLite or PostgreSQL); the pool is the same code for any async driver."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from models.db import FairQueue, FairQueuePool, create_engine


def _one_connection(url: str, *, timeout: float = 5.0) -> AsyncEngine:
    return create_async_engine(url, poolclass=FairQueuePool, pool_size=1, max_overflow=0, pool_timeout=timeout)


async def _wait_until_queued(engine: AsyncEngine, waiting: int) -> None:
    queue = engine.sync_engine.pool._pool  # type: ignore[attr-defined]
    for _ in range(500):
        # FairQueue's line of waiters (or, for comparison, asyncio.Queue's in SQLAlchemy's own pool)
        line = queue._waiters if isinstance(queue, FairQueue) else queue._queue._getters
        if sum(not waiter.done() for waiter in line) >= waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {waiting} requests are waiting for a connection")


async def test_a_connection_given_back_goes_to_the_first_waiter_not_to_whoever_asks_next(database_url: str) -> None:
    engine = _one_connection(database_url)
    served: list[str] = []

    async def request(name: str) -> None:
        async with engine.connect() as conn:
            served.append(name)
            await conn.execute(text("SELECT 1"))

    try:
        holder = await engine.connect()
        await holder.execute(text("SELECT 1"))
        first = asyncio.create_task(request("first waiter"))
        await _wait_until_queued(engine, 1)
        second = asyncio.create_task(request("second waiter"))
        await _wait_until_queued(engine, 2)
        # The holder gives its connection back and at once asks for one again, before the woken
        # waiter has run: with asyncio.Queue it took the connection back, and the waiter it had
        # woken went to the end of the line.
        await holder.close()
        async with engine.connect() as again:
            served.append("holder again")
            await again.execute(text("SELECT 1"))
        await asyncio.gather(first, second)
        assert served == ["first waiter", "second waiter", "holder again"]
    finally:
        await engine.dispose()


async def test_a_request_waiting_too_long_for_a_connection_gets_the_pools_timeout(database_url: str) -> None:
    engine = _one_connection(database_url, timeout=0.3)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("SELECT 1"))
            with pytest.raises(exc.TimeoutError):
                async with engine.connect():
                    pass
        async with engine.connect() as conn:  # the pool still works afterwards
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_cancelled_waiter_does_not_take_a_connection_with_it(database_url: str) -> None:
    engine = _one_connection(database_url)
    try:
        holder = await engine.connect()
        await holder.execute(text("SELECT 1"))
        cancelled = asyncio.create_task(engine.connect().start())
        await _wait_until_queued(engine, 1)
        patient = asyncio.create_task(engine.connect().start())
        await _wait_until_queued(engine, 2)
        # The connection is handed to the first waiter, which is cancelled before it runs.
        await holder.close()
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        conn = await asyncio.wait_for(patient, 5)
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        await conn.close()
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


def test_the_postgres_engine_uses_the_fair_pool() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert isinstance(engine.sync_engine.pool, FairQueuePool)
    assert engine.sync_engine.pool.size() == 25
