"""The port between the messenger adapters and the app, both ways.

`Channel` is what every adapter offers the app (start, stop, send, routes). `ChannelHost` is all an
adapter may ask of the app: run a message through the core, a translator, an attachment's bytes,
marking a chat blocked, and the buttons a chat saw last. Adapters import neither the composition
root nor the tables nor SQLAlchemy (import-linter checks it); bot/host.py implements the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fastapi import FastAPI

from handlers.engine import RESUME_WORDS, STOP_WORDS, Handled
from handlers.i18n import Translator
from handlers.messages import Incoming, Reply
from handlers.ports import BlockedByUser, Clock, RetryLater
from handlers.text import fold
from models.settings import Settings

__all__ = ["BlockedByUser", "Channel", "ChannelHost", "File", "LastShown", "RetryLater", "is_control_word"]

Buttons = tuple[tuple[str, str], ...]


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


@dataclass(frozen=True, slots=True)
class File:
    """An attachment's content, as a channel uploads it."""

    content: bytes
    mime: str
    name: str


@dataclass(frozen=True, slots=True)
class LastShown:
    """The buttons a chat saw last, as (id, label) pairs, and its person's language ("" if unknown).

    `pushed`: they came with a delivery (a notice, a reminder), not with a reply to the chat's turn.
    """

    buttons: Buttons = ()
    language: str = ""
    pushed: bool = False


class ChannelHost(Protocol):
    """What an adapter may ask of the app."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    async def receive(self, msg: Incoming) -> Handled:
        """Runs one incoming message through the core; the replies in `Handled` are the caller's to send."""
        ...

    def translator(self, language: str = "") -> Translator:
        """The translator for a language ("": the app's default)."""
        ...

    async def attachment(self, attachment_id: int) -> File | None:
        """A stored attachment's bytes, type and file name; None when it is gone."""
        ...

    async def set_blocked(self, channel: str, chat_id: str, blocked: bool) -> int:
        """Marks the chat's identities blocked (nothing more is sent) or unblocked; returns how
        many changed (0, writing nothing, when they already were)."""
        ...

    async def last_shown(self, channel: str, user_id: str, chat_id: str) -> LastShown:
        """The buttons the chat saw last: those pushed to it by a delivery since its last message
        (forgotten by this call: they count for one message), else those of the reply to its
        last turn."""
        ...

    async def remember_pushed(self, channel: str, chat_id: str, buttons: Buttons) -> None:
        """Keeps the buttons of a delivery to the chat until its next message (shared by instances)."""
        ...


def is_control_word(text: str) -> bool:
    """A typed word that stops or resumes messages: never taken as a button's words.

    The one place channels read the engine's stop and resume words.
    """
    folded = fold(text)
    return folded in STOP_WORDS or folded in RESUME_WORDS
