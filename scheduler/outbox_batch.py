"""What the dispatcher uses within one batch: a token bucket for each channel's rate, and the
group commit that marks rows `sending` just before their requests go out."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ports import Clock
from models import outbox as rows


class Dispatcher(Protocol):
    """What a batch writer uses of the dispatcher (scheduler/dispatcher.py), which uses it."""

    @property
    def writing(self) -> asyncio.Lock: ...

    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def instance(self) -> str: ...


class TokenBucket:
    """At most `rate` acquisitions a second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def set_rate(self, rate: float) -> None:
        """Changes the rate (this instance's share changed), keeping the tokens earned so far."""
        self.rate = rate
        self.capacity = max(1.0, rate / 10)
        self.tokens = min(self.tokens, self.capacity)

    def try_take(self) -> bool:
        """Takes a token if one is there now (and nobody is waiting for one)."""
        if self._lock.locked():
            return False
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class BatchWriter:
    """Group commit for one batch: marks rows `sending` just before their requests go out and
    records finished outcomes in the same short transaction.

    Each write also marks the next few rows of the batch (`ahead`, in the order they will go), so
    that the sends that follow need no write of their own: after a crash the possible duplicates
    are the rows in flight and those few about to go, never the whole batch.
    """

    def __init__(self, dispatcher: Dispatcher, upcoming: Sequence[int] = (), ahead: int = 0) -> None:
        self.dispatcher = dispatcher
        self.upcoming = deque(upcoming)
        self.ahead = ahead
        self.marks: list[int] = []
        self.outcomes: list[rows.Outcome] = []
        self.marked: set[int] = set()
        self._next: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self.last = time.monotonic()

    async def mark(self, row_id: int) -> None:
        """Returns once the row is marked in the database (with whoever else starts now)."""
        if row_id in self.marked:
            return
        self.marks.append(row_id)
        while self.upcoming and len(self.marks) <= self.ahead:
            following = self.upcoming.popleft()
            if following not in self.marked and following not in self.marks:
                self.marks.append(following)
        waiter = self._next
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        await asyncio.shield(waiter)

    async def _loop(self) -> None:
        while self.marks:
            marks, self.marks = self.marks, []
            waiter, self._next = self._next, asyncio.get_running_loop().create_future()
            try:
                await self._write(marks)
            except Exception as error:  # those rows are not sent: their senders see the error
                waiter.set_exception(error)
                return
            self.marked.update(marks)
            waiter.set_result(None)

    async def flush(self) -> None:
        """Records the outcomes finished so far."""
        if self.outcomes:
            await self._write([])

    async def _write(self, marks: list[int]) -> None:
        d = self.dispatcher
        try:
            async with d.writing:  # one write at a time: on SQLite a second would wait for the lock
                outcomes, self.outcomes = self.outcomes, []
                self.last = time.monotonic()
                # A bare connection: this runs for every few sends, and an ORM session costs double.
                async with d.engine.begin() as conn:
                    if outcomes:
                        await rows.record(conn, outcomes, now=d.clock.now(), instance=d.instance)
                    await rows.mark_sending(conn, marks, instance=d.instance)
        except BaseException:
            self.outcomes = outcomes + self.outcomes  # kept for the final attempt to record them
            raise
