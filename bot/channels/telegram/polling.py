"""Long polling that confirms an update to Telegram only once it was handled.

PTB's Updater moves the getUpdates offset past a batch as soon as it has fetched it, so the
updates not yet handled when the app stops or crashes are lost (issue 11: 296 of 400 on a
SIGTERM). Here the offset sent to Telegram stays at the oldest update still in hand: Telegram
keeps the rest and sends them again after a restart, and the engine's stored update keys make
handling one a second time a no-op. Updates fetched again while still in hand are not started
twice. Per-chat order and concurrency stay with PTB's update processor (ChatOrderedProcessor).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError, TimedOut

from bot.channels.telegram.transport import LenientBot, seconds_of

log = logging.getLogger(__name__)

BATCH = 100  # Telegram's most updates per getUpdates
# While updates are in hand, Telegram answers at once (it still holds them): poll again when half
# of them are finished, or after this long, so that newer updates are not kept waiting by a slow one.
REPOLL_SECONDS = 0.2
MAX_BACKOFF = 30.0


class UpdatePoller:
    """Fetches updates with getUpdates and hands each to `handle`; confirms them once handled."""

    def __init__(self, bot: LenientBot, handle: Callable[[Update], Awaitable[None]], *, timeout: int,
                 allowed_updates: Sequence[str], on_error: Callable[[TelegramError], None]) -> None:
        self.bot = bot
        self.handle = handle
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        self.on_error = on_error
        self._in_hand: dict[int, asyncio.Task[None]] = {}
        self._done_above: set[int] = set()  # finished, but an older update is still in hand
        self._highest = 0  # the newest update id started (or skipped as unreadable)
        self._confirmed = 0  # the offset Telegram was last sent
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def offset(self) -> int:
        """The offset to send: everything below it was handled (0 before the first update)."""
        if self._in_hand:
            return min(self._in_hand)
        return self._highest + 1 if self._highest else 0

    def start(self) -> None:
        self.stopping = False
        self._task = asyncio.create_task(self._run(), name="telegram-polling")

    async def stop(self, within: float = 10.0) -> None:
        """Takes no new updates, finishes those in hand (at most `within` seconds), confirms them."""
        self.stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._in_hand:
            log.info("finishing %d Telegram updates in hand before stopping", len(self._in_hand))
            await asyncio.wait(list(self._in_hand.values()), timeout=within)
        left = list(self._in_hand.values())
        if left:
            # Telegram keeps these (the offset stays below them) and sends them again after the restart.
            log.warning("stopping with %d Telegram updates unfinished; they will be handled after the restart",
                        len(left))
        if self.offset > self._confirmed:
            try:
                await self.bot.fetch_updates(offset=self.offset, wait=0, limit=1,
                                             allowed_updates=self.allowed_updates)
                self._confirmed = self.offset
            except TelegramError as error:
                log.warning("could not confirm the handled Telegram updates (%s): they come again after the "
                            "restart and are recognised as handled", error)
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while not self.stopping:
            offset = self.offset
            try:
                batch = await self.bot.fetch_updates(offset=offset, wait=0 if self._in_hand else self.timeout,
                                                     limit=BATCH, allowed_updates=self.allowed_updates)
            except InvalidToken:
                log.error("Telegram refused the bot token (TOTRUONG_TELEGRAM__TOKEN): polling stopped")
                return
            except RetryAfter as error:
                await asyncio.sleep(seconds_of(error))
                continue
            except TimedOut:
                continue  # a long poll that outlived its read timeout: ask again at once
            except TelegramError as error:
                # Conflict (another poller on this token), 5xx, a lost connection: back off and retry.
                failures += 1
                if not isinstance(error, Conflict) or failures == 1:
                    self.on_error(error)
                await asyncio.sleep(min(MAX_BACKOFF, 1.5 ** (failures - 1)))
                continue
            failures = 0
            self._confirmed = max(self._confirmed, offset)
            for raw in batch:
                self._take(raw)
            if self._in_hand:
                await self._wait_for_progress(len(self._in_hand) // 2)

    def _take(self, raw: Any) -> None:
        """Starts handling one fetched update, unless it is already in hand or finished."""
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if not isinstance(update_id, int):
            log.error("skipped an update without an update_id: %.500r", raw)
            return
        if update_id < self.offset or update_id in self._in_hand or update_id in self._done_above:
            return
        self._highest = max(self._highest, update_id)
        update = self.bot.read_update(raw)
        self._in_hand[update_id] = asyncio.create_task(self._handle(update_id, update))

    async def _handle(self, update_id: int, update: Update) -> None:
        try:
            await self.handle(update)
        except Exception:
            # PTB's error handler has already seen handler errors; this is a failure around them.
            log.exception("could not handle Telegram update %s", update_id)
        finally:
            # Finished, well or not: an update that always fails must not be fetched forever.
            del self._in_hand[update_id]
            low = self.offset
            self._done_above = {n for n in self._done_above if n >= low}
            if self._in_hand and update_id > low:
                self._done_above.add(update_id)
            self._progress.set()

    async def _wait_for_progress(self, until_at_most: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPOLL_SECONDS
        while len(self._in_hand) > until_at_most and not self.stopping:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
