"""Ports: what the core needs from the outside world, passed in by the composition root."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from models.repos import Repo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileStore(Protocol):
    async def save(self, repo: Repo, *, content: bytes, mime: str, uploader: int | None) -> int:
        """Stores a file (once per content) and returns its Attachment id."""
        ...
