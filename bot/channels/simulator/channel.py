"""The simulator channel: messages to simulator users are rows that the web page reads after an id."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from handlers.messages import Reply
from handlers.ports import Clock, SystemClock

CHANNEL = "sim"


class MessageStore(Protocol):
    """Where the simulator's messages are kept (bot/host.py: a table the page reads after an id)."""

    async def store(self, external_id: str, payloads: Sequence[dict[str, Any]], at: datetime) -> list[int]:
        """Stores the messages for the user; returns their ids, in order."""
        ...

    async def after(self, external_id: str, after: int) -> list[tuple[int, dict[str, Any], datetime]]:
        """The user's messages with an id above `after`, oldest first: (id, payload, stored at)."""
        ...


class SimulatorChannel:
    """Messages to simulator users are rows; the page reads them with a long poll.

    Each step of a conversation wakes the user's long poll, and the page polls again at once: at
    200 users that was three requests and three reads per step. The poll now gets the new
    messages from the delivery itself, a poll that asks after the newest id this process
    stored for the user waits without reading, and one that comes back a step late (the page
    polled again before it saw the last delivery) gets that delivery from memory
    (bench/bench_load.py). Rows another instance stored are read when a poll times out.
    """

    def __init__(self, store: MessageStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self._changed: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        # Per user, an id at or above the newest of their rows (this process's knowledge).
        self._newest: dict[str, int] = {}
        # Per user, the last messages delivered here, and what was newest before them: a poll that
        # asks from there (the page polled again before it saw them) is answered without a read.
        self._last: dict[str, tuple[int, list[dict[str, Any]]]] = {}

    async def deliver(self, external_id: str, replies: Sequence[Reply]) -> list[dict[str, Any]]:
        """Stores the replies for the user and wakes any page waiting for them."""
        if not replies:
            return []
        now = self.clock.now()  # the app's clock: the demonstration clock when one runs
        payloads = [reply.to_json() for reply in replies]
        ids = await self.store.store(external_id, payloads, now)
        return self._delivered(external_id, payloads, ids, now)

    def delivered(self, external_id: str, replies: Sequence[Reply], ids: Sequence[int],
                  at: datetime) -> list[dict[str, Any]]:
        """Replies stored already (in the step's own transaction, committed: Engine.handle's keep_replies),
        with their ids: wakes any page waiting for them."""
        if not replies:
            return []
        return self._delivered(external_id, [reply.to_json() for reply in replies], ids, at)

    def _delivered(self, external_id: str, payloads: Sequence[dict[str, Any]], ids: Sequence[int],
                   now: datetime) -> list[dict[str, Any]]:
        stored = [_as_json(external_id, row_id, payload, now)
                  for row_id, payload in zip(ids, payloads, strict=True)]
        before = self._newest.get(external_id, 0)
        self._newest[external_id] = max(before, stored[-1]["id"])
        self._last[external_id] = (before, stored)
        waiter = self._changed.pop(external_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(stored)
        return stored

    async def send(self, chat_id: str, replies: Sequence[Reply], *, skip: int = 0) -> list[str]:
        """The outbox dispatcher's way in: stores the messages (after the first `skip`, stored by an
        earlier attempt) for the page to read."""
        stored = await self.deliver(chat_id, replies[skip:])
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
            last = self._last.get(external_id)
            if last is not None and last[0] <= after and last[1][-1]["id"] == newest:
                # All this process knows above `after` is the last delivery: the same knowledge as
                # a poll woken by that delivery, without reading it back.
                return [message for message in last[1] if message["id"] > after]
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
        rows = await self.store.after(external_id, after)
        found = [_as_json(external_id, row_id, payload, created_at) for row_id, payload, created_at in rows]
        if found:
            self._newest[external_id] = max(self._newest.get(external_id, 0), found[-1]["id"])
        return found


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
