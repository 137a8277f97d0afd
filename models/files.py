"""Files on disk: each photo stored once under data/files, found again by its SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from models.private import FILE_MODE, private_dir
from models.repos import Repo
from models.tables import Attachment

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx"}


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def save(self, repo: Repo, *, content: bytes, mime: str, uploader: int | None) -> int:
        """Stores the content unless the same bytes are stored already; returns the Attachment id."""
        digest = hashlib.sha256(content).hexdigest()
        existing = await repo.attachment_by_hash(digest)
        if existing is not None and existing.id is not None:
            return existing.id
        relative = Path(digest[:2]) / (digest + EXTENSIONS.get(mime, ".bin"))
        await asyncio.to_thread(self._write, self.root / relative, content)
        attachment = await repo.add_attachment(
            Attachment(sha256=digest, path=str(relative), mime=mime, size=len(content), uploaded_by=uploader)
        )
        assert attachment.id is not None
        return attachment.id

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
