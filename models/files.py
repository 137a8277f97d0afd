"""Files on disk: each photo stored once under data/files, found again by its SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models.private import FILE_MODE, private_dir
from models.repos import Repo
from models.tables import Attachment

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
              "application/json": ".json"}


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file written to disk, not yet recorded in the database."""

    sha256: str
    path: str
    mime: str
    size: int


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def save(self, repo: Repo, *, content: bytes, mime: str, uploader: int | None) -> int:
        """Stores the content unless the same bytes are stored already; returns the Attachment id.

        The file is written before the row, so the transaction holds no write lock while a thread
        writes the file (a crash in between leaves a file that the next save of it reuses)."""
        return await self.record(repo, await self.put(content, mime), uploader=uploader)

    async def put(self, content: bytes, mime: str) -> StoredFile:
        """Writes the file under its SHA-256 (in a thread), unless it is there already."""
        digest = hashlib.sha256(content).hexdigest()
        relative = Path(digest[:2]) / (digest + EXTENSIONS.get(mime, ".bin"))
        await asyncio.to_thread(self._write, self.root / relative, content)
        return StoredFile(sha256=digest, path=str(relative), mime=mime, size=len(content))

    async def record(self, repo: Repo, stored: StoredFile, *, uploader: int | None) -> int:
        """The Attachment of a file already written: the existing row for the same bytes, or a new one."""
        existing = await repo.attachment_by_hash(stored.sha256)
        if existing is not None and existing.id is not None:
            return existing.id
        attachment = await repo.add_attachment(
            Attachment(sha256=stored.sha256, path=stored.path, mime=stored.mime, size=stored.size,
                       uploaded_by=uploader)
        )
        assert attachment.id is not None
        return attachment.id

    async def remove(self, paths: Sequence[str]) -> int:
        """Deletes these stored files from disk (a thread); returns how many were there."""
        return await asyncio.to_thread(self._remove, [self.root / path for path in paths])

    @staticmethod
    def _remove(paths: list[Path]) -> int:
        removed = 0
        for path in paths:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def path_of(self, attachment: Attachment) -> Path:
        return self.root / attachment.path

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        private_dir(path.parent)
        if not path.exists():
            tmp = path.with_suffix(".part")
            try:
                tmp.touch(mode=FILE_MODE)  # created 0600 (the umask only removes bits), then filled
                tmp.write_bytes(content)
                tmp.replace(path)
            except OSError:  # disk full: leave no partial file taking the little room there is
                tmp.unlink(missing_ok=True)
                raise
