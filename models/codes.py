"""Short codes people read aloud, and the range of materialised paths under a unit."""

from __future__ import annotations

import secrets

# Codes people type or read aloud: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# Invite codes: 31^8 ≈ 8.5 × 10^11 codes, against the guesses the limiter allows in a code's
# lifetime (docs/security.md, "Invites resist guessing"). Report and notice codes stay at 6: they
# open nothing.
INVITE_CODE_LENGTH = 8


def new_code(length: int = 6) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def subtree_range(path: str) -> tuple[str, str]:
    """The [low, high) range of paths under `path` ("/1/4/" → "/1/4/" .. "/1/40")."""
    return path, path[:-1] + "0"
