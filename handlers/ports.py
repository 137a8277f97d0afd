"""Ports: what the core needs from the outside world, passed in by the composition root."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from models.files import StoredFile
from models.repos import Repo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ScaledClock:
    """A demonstration clock: starts at `start` and runs `speed` times faster than real time,
    so that a week of reminders can be watched in the simulator in minutes."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)


class FileStore(Protocol):
    async def save(self, repo: Repo, *, content: bytes, mime: str, uploader: int | None) -> int:
        """Stores a file (once per content) and returns its Attachment id."""
        ...

    async def put(self, content: bytes, mime: str) -> StoredFile:
        """Writes the file to disk only: slow work to do before the transaction writes anything."""
        ...

    async def record(self, repo: Repo, stored: StoredFile, *, uploader: int | None) -> int:
        """The Attachment row of a file already put (no I/O but the database); returns its id."""
        ...

    async def remove(self, paths: Sequence[str]) -> int:
        """Deletes stored files from disk (their rows are gone); returns how many were there."""
        ...


class SendError(Exception):
    """A delivery did not wholly happen. `sent` holds the message ids of the pieces that did go out
    before it (a retry starts after them, so nobody gets a piece twice)."""

    def __init__(self, reason: str = "", *, sent: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = list(sent or [])


class BlockedByUser(SendError):
    """The user blocked the bot (Telegram or Zalo 403): stop sending to this identity."""


class RetryLater(SendError):
    """The channel asks us to wait (429 `retry_after`) before sending again."""

    def __init__(self, seconds: float, *, sent: list[str] | None = None) -> None:
        super().__init__(f"retry after {seconds} s", sent=sent)
        self.seconds = seconds


class Unavailable(SendError):
    """The platform could not take the message now (5xx, a network failure before the request
    went out, a retryable `ok: false`): nothing was sent, so it is tried again after a backoff."""


class Ambiguous(SendError):
    """The request went out but no answer came (a timeout after sending): the message may have
    arrived. It is tried again only after a pause, and logged as a possible duplicate."""


class Refused(SendError):
    """The platform refused the message for good (400: bad photo, text it will not take), after
    the channel's own fallbacks: the row ends `failed`."""
