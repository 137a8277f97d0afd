"""The simulator channel: messages to simulator users are rows that the web page reads after an id."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.messages import Reply
from handlers.ports import Clock, SystemClock
from models.tables import SimMessage

CHANNEL = "sim"


class SimulatorChannel:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock | None = None) -> None:
        self.sessions = sessions
        self.clock = clock or SystemClock()
        self._changed: dict[str, asyncio.Event] = {}

    async def deliver(self, external_id: str, replies: Sequence[Reply]) -> list[dict[str, Any]]:
        """Stores the replies for the user and wakes any page waiting for them."""
        if not replies:
            return []
        async with self.sessions() as session, session.begin():
            now = self.clock.now()  # the app's clock: the demonstration clock when one runs
            rows = [SimMessage(external_id=external_id, payload=reply.to_json(), created_at=now) for reply in replies]
            session.add_all(rows)
            await session.flush()
            stored = [_as_json(row) for row in rows]
        event = self._changed.pop(external_id, None)
        if event is not None:
            event.set()
        return stored

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> list[str]:
        """The outbox dispatcher's way in: stores the messages for the page to read."""
        stored = await self.deliver(chat_id, replies)
        return [str(message["id"]) for message in stored]

    async def messages_after(self, external_id: str, after: int, *, wait: float = 0) -> list[dict[str, Any]]:
        """The user's messages with an id above `after`; waits up to `wait` seconds for one."""
        # Register before reading: a message delivered between the read and the wait still wakes us.
        event = self._changed.setdefault(external_id, asyncio.Event()) if wait > 0 else None
        found = await self._read(external_id, after)
        if found or event is None:
            return found
        try:
            await asyncio.wait_for(event.wait(), timeout=wait)
        except TimeoutError:
            return []
        return await self._read(external_id, after)

    def wake_all(self) -> None:
        """Ends every long poll now (the app is stopping)."""
        for event in self._changed.values():
            event.set()
        self._changed.clear()

    async def _read(self, external_id: str, after: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.scalars(
                select(SimMessage)
                .where(SimMessage.external_id == external_id, SimMessage.id > after)  # type: ignore[operator]
                .order_by(SimMessage.id)  # type: ignore[arg-type]
                .limit(200)
            )).all()
        return [_as_json(row) for row in rows]


def _as_json(row: SimMessage) -> dict[str, Any]:
    payload = dict(row.payload)
    photo = payload.pop("photo_id", None)
    document = payload.pop("document_id", None)
    return {
        "id": row.id,
        **payload,
        # Files are served to the user they were sent to: the URL names that user (bot/web.py checks it).
        "photo_url": f"/api/files/{photo}?user={row.external_id}" if photo else None,
        "document_url": f"/api/files/{document}?user={row.external_id}" if document else None,
        "at": row.created_at.isoformat(),
    }
