"""Files only the app's own user can read: the data folder 0700, the database and stored files 0600."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Creates the folder (and missing parents) readable by the app's user only; tightens one that exists."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode goes through the umask
    if path not in missing and path.stat().st_uid == os.getuid():
        os.chmod(path, DIR_MODE)


def private_file(path: Path) -> None:
    """Creates the file empty if missing, readable and writable by the app's user only."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    if path.stat().st_uid == os.getuid():
        os.chmod(path, FILE_MODE)


def sqlite_file(path: str) -> None:
    """Before SQLite opens it: the database file exists and is 0600 (SQLite gives its -wal and -shm the same)."""
    if path in ("", ":memory:") or path.startswith("file:"):
        return
    file = Path(path)
    if not file.parent.exists():
        private_dir(file.parent)
    private_file(file)
