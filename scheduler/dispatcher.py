"""The outbox dispatcher: claims due rows, sends them through the channels within each channel's
rate, and records what happened. Several instances can run on PostgreSQL (rows are locked with
SKIP LOCKED and carry a lease); on SQLite one runs.

A row is `sent` only with the platform's message ids in hand. Just before its request goes out a
row is marked `sending` (one write for every row starting at that moment, which also records the
outcomes finished meanwhile), so after a crash only rows really in flight are possible duplicates;
the rest of a claimed batch is simply sent again. Instances heartbeat into `outbox_instance`: the
rows of one that went silent (or stopped) are taken up within seconds, and each live instance
sends at its share of the channel's rate, so the bot as a whole keeps the configured rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handlers.messages import Button, Keyboard, Reply
from handlers.ports import Ambiguous, BlockedByUser, Clock, Refused, RetryLater, SendError
from models import outbox as rows
from models.settings import OutboxSettings
from scheduler.outbox_batch import BatchWriter, TokenBucket

log = logging.getLogger(__name__)
RECORD_EVERY = 50  # outcomes
RECORD_SECONDS = 0.25
FINAL = ("failed", "blocked")


class Sender(Protocol):
    async def send(self, chat_id: str, replies: Sequence[Reply], *, skip: int = 0) -> list[str]:
        """Sends the replies (after the first `skip` pieces, sent by an earlier attempt); returns
        the platform's message id of every piece, or raises a SendError."""
        ...


Undelivered = Callable[[list[tuple[rows.Claimed, rows.Outcome]]], Awaitable[None]]


def reply_from_json(data: dict[str, Any]) -> Reply:
    buttons = tuple(tuple(Button(b["id"], b["label"]) for b in row) for row in data.get("buttons", []))
    return Reply(text=data.get("text", ""), buttons=buttons, keyboard=Keyboard(data.get("keyboard", "inline")),
                 photo_id=data.get("photo_id"), document_id=data.get("document_id"))


def _wall() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dispatcher:
    sessions: async_sessionmaker[AsyncSession]
    senders: dict[str, Sender]
    clock: Clock
    settings: OutboxSettings
    # Called after each recorded batch with the notices it touched (progress reports to senders).
    on_recorded: Callable[[set[int]], Awaitable[None]] | None = None
    # Called with rows that finally failed or found the user blocked (urgent ones alert someone else).
    on_undelivered: Undelivered | None = None
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{random.randrange(1 << 30)}")
    # Heartbeats are real time, whatever clock drives the outbox (a demonstration clock runs faster).
    wall: Callable[[], datetime] = _wall
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _next_for_chat: dict[tuple[str, str], float] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _beating: asyncio.Task[None] | None = None
    _live: int = 1  # live instances, this one included: each sends at rate / _live
    _stopping: bool = False
    _stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    _joined: bool = False
    # The dispatcher's own writes (claims, marks, outcomes, heartbeats) go one at a time: SQLite
    # takes one writer, and a second transaction of this process would wait for the lock.
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wake(self) -> None:
        """Looks at the outbox now rather than at the next idle tick."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._stop_event.clear()
            self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Finishes the sends in flight (within `stop_seconds`), records them, gives the rest of the
        claimed rows back at once and leaves, so that another instance or a restart takes them up."""
        self._stopping = True
        self._stop_event.set()
        self._wake.set()
        if self._task is not None:
            done, _pending = await asyncio.wait({self._task}, timeout=self.settings.stop_seconds)
            if not done:
                log.warning("outbox: sends still in flight after %.0f s; leaving them to be taken up",
                            self.settings.stop_seconds)
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None
        if self._joined:
            try:
                async with self.writing, self.sessions() as session, session.begin():
                    await rows.leave(session, instance=self.instance)
            except Exception:
                log.exception("outbox: could not say this instance stopped; its rows wait for the heartbeat")
            self._joined = False

    async def _run(self) -> None:
        await self._join(at_start=True)
        while not self._stopping:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox dispatcher failed; trying again shortly")
                sent = 0
            if not sent and not self._stopping:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.idle_seconds)
                except TimeoutError:
                    pass

    async def drain(self, *, rounds: int = 1000) -> int:
        """Sends everything that is due now (tests and the CLI); returns how many rows were handled."""
        self._stopping = False
        self._stop_event.clear()
        total = 0
        for _ in range(rounds):
            handled = await self.run_once()
            if not handled:
                break
            total += handled
        return total

    # --- instances ----------------------------------------------------------------------------

    def _alive_since(self) -> datetime:
        return self.wall() - timedelta(seconds=self.settings.dead_after_seconds)

    async def _join(self, *, at_start: bool = False) -> None:
        """Writes the first heartbeat and keeps beating in the background. On SQLite, which serves
        one instance, whatever an earlier run left claimed is taken up now."""
        if self._joined:
            return
        if at_start and self._dialect() == "sqlite":
            async with self.writing, self.sessions() as session, session.begin():
                await rows.forget_others(session, instance=self.instance)
        await self._beat()
        self._joined = True
        if self._beating is None:
            self._beating = asyncio.create_task(self._heartbeats(), name="outbox-heartbeat")

    def _several(self) -> bool:
        """Whether another instance may be sending now. On PostgreSQL always: two instances that
        start together can each count one live instance (their heartbeats commit at the same time)
        and would then both take rows of one chat."""
        return self._live > 1 or self._dialect() == "postgresql"

    def _dialect(self) -> str:
        return str(self.engine.dialect.name)

    @property
    def engine(self) -> AsyncEngine:
        bind = self.sessions.kw.get("bind")
        assert isinstance(bind, AsyncEngine), "the dispatcher's sessions are bound to one engine"
        return bind

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self._beat()
            except Exception:
                log.warning("outbox: could not write the heartbeat; trying again", exc_info=True)

    async def _beat(self) -> None:
        async with self.writing, self.sessions() as session, session.begin():
            live = await rows.heartbeat(session, instance=self.instance, at=self.wall(),
                                        alive_since=self._alive_since())
        if live != self._live:
            log.info("outbox: %d instance(s) sending; this one takes 1/%d of each channel's rate", live, live)
            self._live = live
            for channel, bucket in self._buckets.items():
                bucket.set_rate(self._rate(channel))

    # --- one batch ----------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claims one batch of due rows, sends them and records the outcomes."""
        await self._join()
        now = self.clock.now()
        async with self.writing, self.sessions() as session, session.begin():
            claimed = await rows.claim(
                session, now=now, limit=self.settings.batch, lease_seconds=self.settings.lease_seconds,
                instance=self.instance, channels=list(self.senders), alive_since=self._alive_since(),
                chat_gaps=dict(self.settings.per_chat_seconds) if self._several() else None)
        if not claimed:
            return 0
        for row in claimed:
            if row.was_sending:
                log.warning("possible duplicate: outbox %s (%s) was being sent by an instance that stopped",
                            row.id, row.key)
        writer = BatchWriter(self, [row.id for row in claimed if not row.skip], ahead=self.settings.concurrency)
        finished: set[int] = set()
        started: set[int] = set()  # rows whose requests went out (marked ahead is not enough)
        notices: set[int] = set()
        undelivered: list[tuple[rows.Claimed, rows.Outcome]] = []
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(row: rows.Claimed) -> bool:
            async with gate:
                if row.skip:
                    outcome = rows.Outcome(row.id, "skipped", error=row.skip)
                else:
                    if self._stopping or not await self._paced(row):
                        return False  # stopping: given back below, unsent
                    await writer.mark(row.id)
                    started.add(row.id)
                    self._chat_sending(row.channel, row.chat_id)
                    outcome = await self._send(row)
            writer.outcomes.append(outcome)
            finished.add(row.id)
            if row.notice_id:
                notices.add(row.notice_id)
            if outcome.status in FINAL:
                undelivered.append((row, outcome))
            if len(writer.outcomes) >= RECORD_EVERY or time.monotonic() - writer.last > RECORD_SECONDS:
                await writer.flush()
            return True

        async def chat(queue: list[rows.Claimed]) -> None:
            for row in queue:  # one chat's messages in the order they were queued
                if not await one(row):
                    return

        by_chat: dict[tuple[str, str], list[rows.Claimed]] = {}
        for row in claimed:
            by_chat.setdefault((row.channel, row.chat_id), []).append(row)
        try:
            # Every chat runs to its end even when one fails, so nothing is still sending when the
            # unsent rows are given back below.
            results = await asyncio.gather(*(chat(queue) for queue in by_chat.values()), return_exceptions=True)
        finally:
            await self._wind_up(writer, [r.id for r in claimed if r.id not in finished and r.id not in started])
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise failures[0]
        if undelivered and self.on_undelivered is not None:
            try:
                await self.on_undelivered(undelivered)
            except Exception:
                log.exception("outbox: could not act on %d undelivered rows", len(undelivered))
        if notices and self.on_recorded is not None:
            await self.on_recorded(notices)
        return len(finished)

    async def _paced(self, row: rows.Claimed) -> bool:
        """Waits for the channel's rate and the chat's gap; False when the dispatcher stops meanwhile."""
        bucket = self._bucket(row.channel)
        if not bucket.try_take() and not await self._unless_stopped(bucket.acquire()):
            return False
        wait = self._chat_wait(row.channel, row.chat_id)
        if wait > 0 and not await self._unless_stopped(asyncio.sleep(wait)):
            return False
        return not self._stopping

    async def _unless_stopped(self, waiting: Awaitable[None]) -> bool:
        """Awaits `waiting`, cut short (False) when the dispatcher is told to stop."""
        task = asyncio.ensure_future(waiting)
        stop = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    async def _wind_up(self, writer: BatchWriter, unsent: list[int]) -> None:
        """Records what was done and gives back at once what was claimed but never sent."""
        try:
            await writer.flush()
            if unsent:
                async with self.writing, self.sessions() as session, session.begin():
                    await rows.release(session, unsent, instance=self.instance)
                log.info("outbox: released %d claimed rows that were not sent", len(unsent))
        except Exception:
            log.exception("outbox: could not record a batch; its rows will be taken up again")

    async def _send(self, row: rows.Claimed) -> rows.Outcome:
        sender = self.senders[row.channel]
        attempt = row.attempts + 1
        before = [i for i in row.sent_ids.split(",") if i] if row.sent_ids else []
        replies = [reply_from_json(item) for item in row.payload]
        try:
            if row.progress:
                ids = await sender.send(row.chat_id, replies, skip=row.progress)
            else:
                ids = await sender.send(row.chat_id, replies)
        except SendError as error:
            return self._failure(row, attempt, error, before + error.sent)
        except Exception as error:  # a channel bug or an unexpected failure: back off, then give up
            return self._failure(row, attempt, error, before)
        if not ids:
            return rows.Outcome(row.id, "skipped", error="nothing to send")
        if not all(ids):  # a channel that lost an id must never pass for a delivery
            return self._failure(row, attempt, RuntimeError("the channel returned no message id"), before)
        return rows.Outcome(row.id, "sent", message_id=",".join(before + ids), progress=row.progress + len(ids))

    def _failure(self, row: rows.Claimed, attempt: int, error: Exception, sent: list[str]) -> rows.Outcome:
        message_id, progress = ",".join(sent), len(sent) if sent else row.progress
        if isinstance(error, BlockedByUser):
            return rows.Outcome(row.id, "blocked", error="blocked by the user", identity_id=row.identity_id,
                                message_id=message_id, progress=progress)
        if isinstance(error, Refused):
            log.warning("outbox %s refused by %s: %s", row.id, row.channel, error.reason)
            return rows.Outcome(row.id, "failed", error=f"refused: {error.reason}", message_id=message_id,
                                progress=progress)
        if isinstance(error, RetryLater):
            return rows.Outcome(row.id, "retry", error=str(error), retry_at=self._later(error.seconds),
                                message_id=message_id, progress=progress)
        reason = f"{type(error).__name__}: {error}"
        if attempt >= self.settings.max_attempts:
            log.warning("outbox %s failed after %d attempts: %s", row.id, attempt, reason)
            return rows.Outcome(row.id, "failed", error=reason, message_id=message_id, progress=progress)
        if isinstance(error, Ambiguous):
            # The request went out and no answer came: it may have arrived. Never again at once.
            pause = self.settings.ambiguous_retry_seconds * random.uniform(1.0, 1.5)
            log.warning("possible duplicate: outbox %s (%s) got no answer (%s); trying again in %.0f s",
                        row.id, row.key, error, pause)
            return rows.Outcome(row.id, "retry", error=reason, retry_at=self._later(pause), message_id=message_id,
                                progress=progress)
        backoff = min(600.0, 2.0 ** attempt) * random.uniform(0.5, 1.5)
        return rows.Outcome(row.id, "retry", error=reason, retry_at=self._later(backoff), message_id=message_id,
                            progress=progress)

    def _later(self, seconds: float) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)

    def _rate(self, channel: str) -> float:
        return self.settings.rates.get(channel, 10.0) / max(1, self._live)

    def _bucket(self, channel: str) -> TokenBucket:
        if channel not in self._buckets:
            self._buckets[channel] = TokenBucket(self._rate(channel))
        return self._buckets[channel]

    def _chat_sending(self, channel: str, chat_id: str) -> None:
        """The chat's next moment counts from this send's start, not from when its moment was reserved:
        marking the row as sending (a database write) may take a while on a busy machine, and the
        gap is between two sends as the platform sees them."""
        gap = self.settings.per_chat_seconds.get(channel, 0.0)
        if gap > 0:
            key = (channel, chat_id)
            self._next_for_chat[key] = max(self._next_for_chat.get(key, 0.0), time.monotonic() + gap)

    def _chat_wait(self, channel: str, chat_id: str) -> float:
        """Reserves the chat's next moment to send; returns how long to wait for it."""
        gap = self.settings.per_chat_seconds.get(channel, 0.0)
        if gap <= 0:
            return 0.0
        key = (channel, chat_id)
        now = time.monotonic()
        ready = self._next_for_chat.get(key, 0.0)
        self._next_for_chat[key] = max(now, ready) + gap
        if len(self._next_for_chat) > 100_000:  # forget chats long past their gap
            self._next_for_chat = {k: v for k, v in self._next_for_chat.items() if v > now}
        return max(0.0, ready - now)
