"""How the Zalo adapter takes updates in: each chat's updates one after another, in order;
different chats side by side; at most `max_in_flight` waiting, so a backlog slows polling down
instead of piling up; and a message delivered again while this process knows it (in hand or
recently finished) waits for the first delivery and is then dropped. Repeats this process does
not know (after a restart) are recognised by the engine's stored update keys.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 256
SEEN_LIMIT = 20_000  # message ids remembered, to drop repeats without asking the database

Update = dict[str, Any]


class ChatQueues:
    """Hands each update to `handle` in its chat's order; `done` futures tell when it is finished."""

    def __init__(self, handle: Callable[[Update], Awaitable[None]], *, concurrency: int,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.handle = handle
        self._slots = asyncio.Semaphore(max_in_flight)
        self._running = asyncio.Semaphore(concurrency)
        self._queues: dict[str, deque[tuple[Update, asyncio.Future[None]]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        # message id -> done when its first delivery was handled (and answered)
        self._seen: OrderedDict[str, asyncio.Future[None]] = OrderedDict()
        self.processed = 0  # updates finished (handled, ignored or dropped as repeats)

    async def put(self, update: Update) -> asyncio.Future[None]:
        """Queues the update once there is room; the future is done when it was handled."""
        await self._slots.acquire()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(update, done)
        return done

    def _enqueue(self, update: Update, done: asyncio.Future[None]) -> None:
        message = _dict(update.get("message"))
        message_id = str(message.get("message_id") or "")
        if message_id:
            first = self._seen.get(message_id)
            if first is not None:
                # The same message again in this process: finished when the first one is.
                log.info("dropping a repeated Zalo update %s", message_id)
                if first.done():
                    self._finish(done)
                else:
                    first.add_done_callback(lambda _first: self._finish(done))
                return
            self._seen[message_id] = done
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
        key = str(_dict(message.get("chat")).get("id") or _dict(message.get("from")).get("id") or "")
        self._queues.setdefault(key, deque()).append((update, done))
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._drain(key))

    def _finish(self, done: asyncio.Future[None]) -> None:
        self.processed += 1
        self._slots.release()
        if not done.done():
            done.set_result(None)

    async def _drain(self, key: str) -> None:
        """Handles one chat's updates in order until its queue is empty."""
        queue = self._queues[key]
        try:
            while queue:
                update, done = queue.popleft()
                try:
                    async with self._running:
                        await self.handle(update)
                except Exception:
                    log.exception("could not handle a Zalo %s in chat %s", update.get("event_name"), key)
                finally:
                    self._finish(done)
        finally:
            del self._queues[key]
            del self._workers[key]

    async def wait(self, within: float) -> None:
        """Waits for the updates in hand, at most `within` seconds."""
        workers = list(self._workers.values())
        if workers:
            await asyncio.wait(workers, timeout=within)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
