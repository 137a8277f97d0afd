"""Reading Zalo's updates defensively, and what a failed Zalo call means for the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.channels.zalo.client import ZaloError
from handlers.ports import Ambiguous, BlockedByUser, Refused, RetryLater, SendError, Unavailable

TEXT = "message.text.received"
IMAGE = "message.image.received"
STICKER = "message.sticker.received"
UNSUPPORTED = "message.unsupported.received"
EVENTS = (TEXT, IMAGE, STICKER, UNSUPPORTED)


def send_error(error: ZaloError, sent: list[str]) -> SendError:
    """What a failed Zalo call means for the outbox: wait, retry later, or give up on the row."""
    if error.code == 403:
        return BlockedByUser(str(error), sent=sent)
    if error.code == 429:
        return RetryLater(error.retry_after if error.retry_after is not None else 5.0, sent=sent)
    if error.maybe_sent:
        return Ambiguous(str(error), sent=sent)
    if error.code == 400:
        return Refused(str(error), sent=sent)
    return Unavailable(str(error), sent=sent)  # 5xx, network, other ok:false answers


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one: updates are read defensively."""
    return value if isinstance(value, dict) else {}


def user_id(message: dict[str, Any]) -> str:
    return str(as_dict(message.get("from")).get("id") or "")


def chat_id(message: dict[str, Any]) -> str:
    return str(as_dict(message.get("chat")).get("id") or "")


def moment(milliseconds: Any) -> datetime | None:
    """Zalo's `date`, in milliseconds since 1970, as an aware UTC moment."""
    if isinstance(milliseconds, int | float) and milliseconds > 0:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    return None
