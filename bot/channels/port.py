"""What every messenger adapter offers the app: start, stop, send replies to a chat, and routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fastapi import FastAPI

from handlers.messages import Reply
from handlers.ports import BlockedByUser, RetryLater

__all__ = ["BlockedByUser", "Channel", "RetryLater"]


class Channel(Protocol):
    """A messenger adapter. `name` is the identity's channel column ("telegram", "zalo", "sim")."""

    name: str

    async def start(self) -> None:
        """Starts receiving (long polling task, or registers the webhook)."""
        ...

    async def stop(self) -> None: ...

    async def send(self, chat_id: str, replies: Sequence[Reply], *, skip: int = 0) -> list[str]:
        """Sends the replies to the chat after the first `skip` pieces; returns the channel's
        message id of every piece sent.

        Never returns a partial or id-less success: raises a SendError from handlers/ports.py
        (BlockedByUser, RetryLater, Unavailable, Ambiguous, Refused) with the ids sent before it.
        """
        ...

    def mount(self, web: FastAPI) -> None:
        """Adds the channel's HTTP routes (webhooks) to the web app; may add none."""
        ...
