"""The app side of the channels' port (bot/channels/port.py): the queries adapters must not run.

`Host` is what every adapter is given instead of the app: it runs messages through the engine and
reads and writes the few rows a channel needs (attachments, blocked identities, the buttons a chat
saw last). `SimulatorStore` keeps the simulator's messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from bot import logs
from bot.channels.port import Buttons, File, LastShown
from bot.metrics import Metrics
from handlers.engine import Engine, Handled
from handlers.i18n import Translator
from handlers.messages import Incoming
from handlers.ports import Clock
from models.files import LocalFileStore
from models.repos import Repo
from models.settings import Settings
from models.tables import Attachment, Conversation, Identity, Person, PushedButtons, SimMessage

# The buttons last shown to a chat (the engine keeps them in the conversation row, "_buttons"),
# those pushed to it by a delivery, and the person's language: one query for most typed texts.
_SHOWN_QUERY = (
    select(Conversation.data, Person.language, PushedButtons.buttons)  # type: ignore[call-overload]
    .select_from(Identity)
    .join(Person, Person.id == Identity.person_id)
    .outerjoin(Conversation, Conversation.identity_id == Identity.id)
    .outerjoin(PushedButtons, and_(col(PushedButtons.channel) == col(Identity.channel),
                                   col(PushedButtons.chat_id) == bindparam("chat")))
    .where(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("user"))
)
_FORGET_PUSHED = delete(PushedButtons).where(
    col(PushedButtons.channel) == bindparam("channel"), col(PushedButtons.chat_id) == bindparam("chat"))


class Host:
    """Implements `ChannelHost` for the adapters; built by bot/bootstrap.py."""

    def __init__(self, *, settings: Settings, clock: Clock, engine: Engine, db_engine: AsyncEngine,
                 sessions: async_sessionmaker[AsyncSession], files: LocalFileStore,
                 wake: Callable[[], None], metrics: Metrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._engine = engine
        self._db_engine = db_engine
        self._sessions = sessions
        self._files = files
        self._wake = wake

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def clock(self) -> Clock:
        return self._clock

    async def receive(self, msg: Incoming, *, keep_replies: bool = False) -> Handled:
        started = time.perf_counter()
        logs.begin(msg.channel)  # a request id for every log line of this update
        handled = await self._engine.handle(msg, keep_replies=keep_replies)
        if self._metrics is not None:
            self._metrics.handled(msg.channel, handled, time.perf_counter() - started)
        if handled.deliveries:
            self._wake()
        return handled

    def translator(self, language: str = "") -> Translator:
        return self._engine.translator(language or self._settings.app.language)

    async def attachment(self, attachment_id: int) -> File | None:
        async with self._sessions() as session:
            attachment = await session.get(Attachment, attachment_id)
        if attachment is None:
            return None
        try:
            content = await asyncio.to_thread(self._files.path_of(attachment).read_bytes)
        except FileNotFoundError:
            return None
        return File(content=content, mime=attachment.mime, name=Path(attachment.path).name)

    async def set_blocked(self, channel: str, chat_id: str, blocked: bool) -> int:
        # Only the identities not yet in that state: a second 403 for a blocked user writes nothing.
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Identity)
                .where(col(Identity.channel) == channel, col(Identity.chat_id) == chat_id,
                       col(Identity.blocked) != blocked)
                .values(blocked=blocked))
        return int(getattr(result, "rowcount", 0) or 0)

    async def last_shown(self, channel: str, user_id: str, chat_id: str) -> LastShown:
        # A bare connection, not an ORM session: this runs for most texts, and a session costs double.
        async with self._db_engine.connect() as connection:
            row = (await connection.execute(_SHOWN_QUERY, {"channel": channel, "user": user_id,
                                                           "chat": chat_id})).first()
            if row is None:
                return LastShown()
            data, language, pushed = row
            if pushed is not None:
                await connection.execute(_FORGET_PUSHED, {"channel": channel, "chat": chat_id})
                await connection.commit()
                return LastShown(_pairs(pushed), language or "", pushed=True)
        return LastShown(_pairs((data or {}).get("_buttons") or []), language or "")

    async def remember_pushed(self, channel: str, chat_id: str, buttons: Buttons) -> None:
        values = {"channel": channel, "chat_id": chat_id, "buttons": [list(pair) for pair in buttons],
                  "pushed_at": self._clock.now()}
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            upsert: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PushedButtons)
            await session.execute(upsert.values(**values).on_conflict_do_update(
                index_elements=["channel", "chat_id"],
                set_={"buttons": values["buttons"], "pushed_at": values["pushed_at"]}))


def _pairs(stored: Sequence[Any]) -> Buttons:
    return tuple((str(pair[0]), str(pair[1])) for pair in stored if len(pair) == 2)


class SimulatorStore:
    """The simulator's messages: rows the page reads after an id (bot/channels/simulator/)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def store(self, external_id: str, payloads: Sequence[dict[str, Any]], at: datetime) -> list[int]:
        """Messages outside a step's transaction (an apology, a replay, the outbox's): stored by
        the same statement as a step's replies (Repo.store_sim_messages)."""
        async with self._sessions() as session:
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                # One statement is atomic by itself: without BEGIN and COMMIT, one round trip
                # instead of three.
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                return await Repo(session).store_sim_messages(external_id, list(payloads), at)
            async with session.begin():
                return await Repo(session).store_sim_messages(external_id, list(payloads), at)

    async def after(self, external_id: str, after: int) -> list[tuple[int, dict[str, Any], datetime]]:
        async with self._sessions() as session:
            rows = (await session.execute(_READ, {"external_id": external_id, "after": after})).all()
        return [(int(row_id), payload, created_at) for row_id, payload, created_at in rows]


# Columns rather than ORM objects: the page reads after every message it gets.
_READ = (
    select(SimMessage.id, SimMessage.payload, SimMessage.created_at)  # type: ignore[call-overload]
    .where(SimMessage.external_id == bindparam("external_id"), SimMessage.id > bindparam("after"))
    .order_by(SimMessage.id)
    .limit(200)
)
