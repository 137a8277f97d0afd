"""The outbox dispatcher: claims due rows, sends them through the channels within each channel's
rate, and records what happened. Several instances can run on PostgreSQL (rows are locked with
SKIP LOCKED and carry a lease); on SQLite one runs.

Messages in flight when an instance dies are sent again when their lease runs out: they are
logged as possible duplicates. Outcomes are recorded every few dozen sends, so that window stays
small.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.messages import Button, Keyboard, Reply
from handlers.ports import BlockedByUser, Clock, RetryLater
from models import outbox as rows
from models.settings import OutboxSettings

log = logging.getLogger(__name__)
RECORD_EVERY = 50  # outcomes
RECORD_SECONDS = 0.25


class Sender(Protocol):
    async def send(self, chat_id: str, replies: Sequence[Reply]) -> list[str]: ...


def reply_from_json(data: dict[str, Any]) -> Reply:
    buttons = tuple(tuple(Button(b["id"], b["label"]) for b in row) for row in data.get("buttons", []))
    return Reply(text=data.get("text", ""), buttons=buttons, keyboard=Keyboard(data.get("keyboard", "inline")),
                 photo_id=data.get("photo_id"), document_id=data.get("document_id"))


class TokenBucket:
    """At most `rate` acquisitions a second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

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


@dataclass
class Dispatcher:
    sessions: async_sessionmaker[AsyncSession]
    senders: dict[str, Sender]
    clock: Clock
    settings: OutboxSettings
    # Called after each recorded batch with the notices it touched (progress reports to senders).
    on_recorded: Callable[[set[int]], Awaitable[None]] | None = None
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{random.randrange(1 << 30)}")
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _next_for_chat: dict[tuple[str, str], float] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Looks at the outbox now rather than at the next idle tick."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox dispatcher failed; trying again shortly")
                sent = 0
            if not sent:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.idle_seconds)
                except TimeoutError:
                    pass

    async def drain(self, *, rounds: int = 1000) -> int:
        """Sends everything that is due now (tests and the CLI); returns how many rows were handled."""
        total = 0
        for _ in range(rounds):
            handled = await self.run_once()
            if not handled:
                break
            total += handled
        return total

    async def run_once(self) -> int:
        """Claims one batch of due rows, sends them and records the outcomes."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            claimed = await rows.claim(session, now=now, limit=self.settings.batch,
                                       lease_seconds=self.settings.lease_seconds, instance=self.instance,
                                       channels=list(self.senders))
        if not claimed:
            return 0
        for row in claimed:
            if row.was_sending:
                log.warning("possible duplicate: outbox %s (%s) was being sent by an instance that stopped",
                            row.id, row.key)
        pending: list[rows.Outcome] = []
        notices: set[int] = set()
        last_record = time.monotonic()
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def flush() -> None:
            nonlocal pending, last_record
            batch, pending = pending, []
            last_record = time.monotonic()
            if batch:
                async with self.sessions() as session, session.begin():
                    await rows.record(session, batch, now=self.clock.now())

        async def one(row: rows.Claimed) -> None:
            async with gate:
                outcome = await self._send(row)
            pending.append(outcome)
            if row.notice_id:
                notices.add(row.notice_id)
            if len(pending) >= RECORD_EVERY or time.monotonic() - last_record > RECORD_SECONDS:
                await flush()

        async def chat(queue: list[rows.Claimed]) -> None:
            for row in queue:  # one chat's messages in the order they were queued
                await one(row)

        by_chat: dict[tuple[str, str], list[rows.Claimed]] = {}
        for row in claimed:
            by_chat.setdefault((row.channel, row.chat_id), []).append(row)
        await asyncio.gather(*(chat(queue) for queue in by_chat.values()))
        await flush()
        if notices and self.on_recorded is not None:
            await self.on_recorded(notices)
        return len(claimed)

    async def _send(self, row: rows.Claimed) -> rows.Outcome:
        if row.skip:
            return rows.Outcome(row.id, "skipped", error=row.skip)
        sender = self.senders[row.channel]
        await self._bucket(row.channel).acquire()
        await self._chat_gap(row.channel, row.chat_id)
        try:
            ids = await sender.send(row.chat_id, [reply_from_json(item) for item in row.payload])
        except BlockedByUser:
            return rows.Outcome(row.id, "blocked", error="blocked by the user", identity_id=row.identity_id)
        except RetryLater as wait:
            return rows.Outcome(row.id, "retry", error=str(wait), retry_at=self._later(wait.seconds))
        except Exception as error:  # 5xx, network: back off, then give up
            reason = f"{type(error).__name__}: {error}"
            if row.attempts >= self.settings.max_attempts:
                log.warning("outbox %s failed after %d attempts: %s", row.id, row.attempts, reason)
                return rows.Outcome(row.id, "failed", error=reason)
            backoff = min(600.0, 2.0 ** row.attempts) * random.uniform(0.5, 1.5)
            return rows.Outcome(row.id, "retry", error=reason, retry_at=self._later(backoff))
        return rows.Outcome(row.id, "sent", message_id=",".join(ids))

    def _later(self, seconds: float) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)

    def _bucket(self, channel: str) -> TokenBucket:
        if channel not in self._buckets:
            self._buckets[channel] = TokenBucket(self.settings.rates.get(channel, 10.0))
        return self._buckets[channel]

    async def _chat_gap(self, channel: str, chat_id: str) -> None:
        gap = self.settings.per_chat_seconds.get(channel, 0.0)
        if gap <= 0:
            return
        key = (channel, chat_id)
        now = time.monotonic()
        ready = self._next_for_chat.get(key, 0.0)
        self._next_for_chat[key] = max(now, ready) + gap
        if ready > now:
            await asyncio.sleep(ready - now)
        if len(self._next_for_chat) > 100_000:  # forget chats long past their gap
            self._next_for_chat = {k: v for k, v in self._next_for_chat.items() if v > now}
