"""The simulator channel: messages to simulator users are rows that the web page reads after an id."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.messages import Reply
from handlers.ports import Clock, SystemClock
from models.tables import SimMessage

CHANNEL = "sim"


class SimulatorChannel:
    """Messages to simulator users are rows; the page reads them with a long poll.

    Each step of a conversation wakes the user's long poll, and the page polls again at once: at
    200 users that was three requests and three reads per step. The poll now gets the new
    messages from the delivery itself, and a poll that asks after the newest id this process
    stored for the user waits without reading (bench/bench_load.py). Rows another instance
    stored are read when a poll times out.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock | None = None) -> None:
        self.sessions = sessions
        self.clock = clock or SystemClock()
        self._changed: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        # Per user, an id at or above the newest of their rows (this process's knowledge).
        self._newest: dict[str, int] = {}

    async def deliver(self, external_id: str, replies: Sequence[Reply]) -> list[dict[str, Any]]:
        """Stores the replies for the user and wakes any page waiting for them."""
        if not replies:
            return []
        now = self.clock.now()  # the app's clock: the demonstration clock when one runs
        payloads = [reply.to_json() for reply in replies]
        rows = [{"external_id": external_id, "payload": payload, "created_at": now} for payload in payloads]
        async with self.sessions() as session:
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                # One statement is atomic by itself: without BEGIN and COMMIT, one round trip
                # instead of three.
                conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                ids = (await conn.execute(_INSERT, rows)).scalars().all()
            else:
                async with session.begin():
                    ids = (await session.execute(_INSERT, rows)).scalars().all()
        stored = [_as_json(external_id, int(row_id), payload, now)
                  for row_id, payload in zip(ids, payloads, strict=True)]
        self._newest[external_id] = max(self._newest.get(external_id, 0), stored[-1]["id"])
        waiter = self._changed.pop(external_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(stored)
        return stored

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> list[str]:
        """The outbox dispatcher's way in: stores the messages for the page to read."""
        stored = await self.deliver(chat_id, replies)
        return [str(message["id"]) for message in stored]

    async def messages_after(self, external_id: str, after: int, *, wait: float = 0) -> list[dict[str, Any]]:
        """The user's messages with an id above `after`; waits up to `wait` seconds for one."""
        if wait <= 0:
            return await self._read(external_id, after)
        # Register before reading: a message delivered between the read and the wait still wakes us.
        waiter = self._changed.get(external_id)
        if waiter is None or waiter.done():
            waiter = self._changed[external_id] = asyncio.get_running_loop().create_future()
        newest = self._newest.get(external_id)
        if newest is None or newest > after:
            found = await self._read(external_id, after)
            if found:
                return found
            self._newest.setdefault(external_id, after)  # nothing above `after` is stored
        try:
            delivered = await asyncio.wait_for(asyncio.shield(waiter), timeout=wait)
        except TimeoutError:
            return await self._read(external_id, after)  # what another instance may have stored
        return [message for message in delivered if message["id"] > after]

    def wake_all(self) -> None:
        """Ends every long poll now (the app is stopping)."""
        for waiter in self._changed.values():
            if not waiter.done():
                waiter.set_result([])
        self._changed.clear()

    async def _read(self, external_id: str, after: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.execute(_READ, {"external_id": external_id, "after": after})).all()
        found = [_as_json(external_id, row_id, payload, created_at) for row_id, payload, created_at in rows]
        if found:
            self._newest[external_id] = max(self._newest.get(external_id, 0), found[-1]["id"])
        return found


# Core rather than the ORM's bulk insert: one of these for every step of a conversation.
_INSERT = insert(SimMessage.__table__).returning(  # type: ignore[attr-defined]
    SimMessage.__table__.c.id, sort_by_parameter_order=True)  # type: ignore[attr-defined]
# Columns rather than ORM objects: the page reads after every message it gets.
_READ = (
    select(SimMessage.id, SimMessage.payload, SimMessage.created_at)  # type: ignore[call-overload]
    .where(SimMessage.external_id == bindparam("external_id"), SimMessage.id > bindparam("after"))
    .order_by(SimMessage.id)
    .limit(200)
)


def _as_json(external_id: str, row_id: int, stored: dict[str, Any], created_at: datetime) -> dict[str, Any]:
    payload = dict(stored)
    photo = payload.pop("photo_id", None)
    document = payload.pop("document_id", None)
    return {
        "id": row_id,
        **payload,
        # Files are served to the user they were sent to: the URL names that user (bot/web.py checks it).
        "photo_url": f"/api/files/{photo}?user={external_id}" if photo else None,
        "document_url": f"/api/files/{document}?user={external_id}" if document else None,
        "at": created_at.isoformat(),
    }
