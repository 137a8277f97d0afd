"""Telegram's webhook: each request is answered only once its update was handled and answered.

A `200` tells Telegram the update is done with, so it comes only after the handling committed and
the replies went out. An update that takes longer than `answer_seconds` gets a `500` and goes on
being handled; Telegram sends it again later, and the repeat waits for the first delivery (or,
after a restart, finds it stored by the engine) instead of being handled twice. While the app is
stopping, requests get `503` and Telegram delivers them to the restarted app.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from telegram import Bot, Update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ANSWER_SECONDS = 50.0
ANSWERED_LIMIT = 20_000  # update ids this process remembers having answered


class TelegramWebhook:
    """The webhook route, and the updates it is handling now or has answered."""

    def __init__(self, bot: Bot, process: Callable[[Update], Awaitable[None]], *, secret: str) -> None:
        self.bot = bot
        self.process = process
        self.secret = secret.encode()
        self.answer_seconds = ANSWER_SECONDS
        self.closing = False
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._answered: OrderedDict[int, None] = OrderedDict()

    def answered(self, update_id: int) -> bool:
        """True when this process already handled and answered the update."""
        return update_id in self._answered

    def mount(self, web: FastAPI, path: str) -> None:
        """Adds the route Telegram posts updates to."""

        @web.post(path, include_in_schema=False)
        async def telegram_webhook(request: Request) -> Response:
            """Handles one update from Telegram and answers once it is done; a wrong secret is refused."""
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, self.secret):
                return Response(status_code=403)
            if self.closing:  # shutting down: Telegram sends it again later, to the restarted app
                return Response(status_code=503)
            try:
                data = await request.json()
            except ValueError:
                return Response(status_code=400)
            try:
                update = Update.de_json(data, self.bot)
            except Exception:
                # Answer 200 anyway: an error would make Telegram send the same update again and again.
                log.error("skipped an update from the webhook that cannot be read: %.500r", data, exc_info=True)
                return Response(status_code=200)
            return Response(status_code=await self.deliver(update))

    async def deliver(self, update: Update) -> int:
        """Handles a webhook update (once, even if Telegram sends it again meanwhile); the HTTP status."""
        update_id = update.update_id
        if update_id in self._answered:
            return 200
        task = self._tasks.get(update_id)
        if task is None:
            task = self._tasks[update_id] = asyncio.create_task(self.process(update))
            task.add_done_callback(lambda _task: self._done(update_id))
        # Not wait_for: a slow update is not cancelled, only answered 500 so that Telegram retries.
        done, _pending = await asyncio.wait({task}, timeout=self.answer_seconds)
        return 200 if done else 500

    def _done(self, update_id: int) -> None:
        self._tasks.pop(update_id, None)
        self._answered[update_id] = None
        if len(self._answered) > ANSWERED_LIMIT:
            self._answered.popitem(last=False)

    async def drain(self, within: float) -> None:
        """Refuses new requests (503) and waits for the updates in hand, at most `within` seconds."""
        self.closing = True
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=within)
