"""The statements every message runs, sent straight to the driver's connection of the transaction.

SQLAlchemy's execution path (compiling the cache key, the async adapter's greenlet hops, result
processing) cost several times the database work for them: ten times on SQLite, and most of the
app's CPU per step on PostgreSQL (bench/bench_load.py). They run on the same connection, in the same
transaction, as everything else the message does, with the same SQL, values and results as the Core
statements in models/repos.py (which remain for any other driver).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection

from models.sqlite_inloop import InLoopConnection

# A row of find_who: identity id, person id, name, language, opted out, blocked, flow, step,
# data (a dict or None), version, consent version, replies of the update if it was handled (a list or None).
WhoRow = tuple[Any, ...]

_FIND_WHO = (
    "SELECT identity.id, identity.person_id, person.name, person.language, person.opted_out, identity.blocked, "
    "conversation.flow, conversation.step, conversation.data, conversation.version, person.consent_version"
    "{handled} "
    "FROM identity JOIN person ON person.id = identity.person_id "
    "LEFT OUTER JOIN conversation ON conversation.identity_id = identity.id "
    "WHERE identity.channel = {p} AND identity.external_id = {p}"
)
_HANDLED = ", (SELECT replies FROM inbound_update WHERE channel = {p} AND key = {p})"
_SAVE_CONVERSATION = ("UPDATE conversation SET flow = {p}, step = {p}, data = {j}, version = {p}, updated_at = {p} "
                      "WHERE identity_id = {p} AND version = {p}")
_RECORD_UPDATE = "INSERT INTO inbound_update (channel, key, replies, handled_at) VALUES ({p}, {p}, {j}, {p})"


def _sql(template: str, p: str, j: str = "", handled: str = "") -> str:
    """The statement with `p` for a parameter, `j` for a JSON one, and the handled-update column if asked."""
    return template.format(p=p, j=j, handled=handled.format(p=p))


class Direct:
    """The hot path's three statements on one driver connection (SQLite's or psycopg's)."""

    async def find_who(self, channel: str, external_id: str, update_key: str | None) -> WhoRow | None:
        raise NotImplementedError

    async def save_conversation(self, identity_id: int, flow: str, step: str, data: dict[str, Any],
                                new_version: int, expected_version: int, now: datetime) -> int:
        """Returns how many rows changed (0: someone saved the conversation meanwhile)."""
        raise NotImplementedError

    async def record_update(self, channel: str, key: str, replies: list[dict[str, Any]], now: datetime) -> None:
        """Raises SQLAlchemy's IntegrityError when the update is recorded already."""
        raise NotImplementedError

    async def store_sim_messages(self, external_id: str, payloads: list[dict[str, Any]],
                                 at: datetime) -> list[int] | None:
        """Stores the simulator's messages; returns their ids in order (None: not on this driver)."""
        return None


class SqliteDirect(Direct):
    """On SQLite: the in-loop sqlite3 connection (models/sqlite_inloop.py); booleans are 0/1, JSON
    is text, times are stored as SQLAlchemy stores them on SQLite."""

    FIND = _sql(_FIND_WHO, "?")
    FIND_KEYED = _sql(_FIND_WHO, "?", handled=_HANDLED)
    SAVE = _sql(_SAVE_CONVERSATION, "?", "?")
    RECORD = _sql(_RECORD_UPDATE, "?", "?")

    def __init__(self, raw: InLoopConnection) -> None:
        self.raw = raw

    async def find_who(self, channel: str, external_id: str, update_key: str | None) -> WhoRow | None:
        if update_key is None:
            row = (await self.raw.run(self.FIND, (channel, external_id))).fetchone()
            return None if row is None else (*row[:8], json.loads(row[8]) if row[8] else None, row[9], row[10], None)
        row = (await self.raw.run(self.FIND_KEYED, (channel, update_key, channel, external_id))).fetchone()
        if row is None:
            return None
        return (*row[:8], json.loads(row[8]) if row[8] else None, row[9], row[10],
                json.loads(row[11]) if row[11] is not None else None)

    async def save_conversation(self, identity_id: int, flow: str, step: str, data: dict[str, Any],
                                new_version: int, expected_version: int, now: datetime) -> int:
        stamp = _sqlite_time(now)
        return (await self.raw.run(self.SAVE, (flow, step, json.dumps(data), new_version, stamp, identity_id,
                                               expected_version))).rowcount

    async def record_update(self, channel: str, key: str, replies: list[dict[str, Any]], now: datetime) -> None:
        try:
            await self.raw.run(self.RECORD, (channel, key, json.dumps(replies), _sqlite_time(now)))
        except sqlite3.IntegrityError as error:
            raise exc.IntegrityError(self.RECORD, (channel, key), error) from error


def _sqlite_time(now: datetime) -> str:
    # As SQLAlchemy stores an aware time on SQLite (UTC, no offset); isoformat is far cheaper than strftime.
    return now.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class PostgresDirect(Direct):
    """On PostgreSQL: psycopg's AsyncConnection, with server-side prepared statements; JSON goes
    as text cast to JSONB (as SQLAlchemy serialises it), times as aware UTC datetimes."""

    FIND = _sql(_FIND_WHO, "%s")
    FIND_KEYED = _sql(_FIND_WHO, "%s", handled=_HANDLED)
    SAVE = _sql(_SAVE_CONVERSATION, "%s", "%s::jsonb")
    RECORD = _sql(_RECORD_UPDATE, "%s", "%s::jsonb")
    STORE_SIM = ("INSERT INTO sim_message (external_id, created_at, payload) "
                 "SELECT %s, %s, message.payload::jsonb FROM unnest(%s::text[]) WITH ORDINALITY AS message(payload, n) "
                 "ORDER BY message.n RETURNING id")

    def __init__(self, raw: Any) -> None:
        self.raw = raw  # psycopg.AsyncConnection

    async def _run(self, sql: str, values: tuple[Any, ...]) -> Any:
        try:
            return await self.raw.execute(sql, values, prepare=True)
        except self.raw.Error as error:  # as SQLAlchemy would raise it (IntegrityError, OperationalError...)
            raise exc.DBAPIError.instance(sql, values, error, self.raw.Error) from error

    async def find_who(self, channel: str, external_id: str, update_key: str | None) -> WhoRow | None:
        if update_key is None:
            row = await (await self._run(self.FIND, (channel, external_id))).fetchone()
            return None if row is None else (*row, None)
        row = await (await self._run(self.FIND_KEYED, (channel, update_key, channel, external_id))).fetchone()
        return None if row is None else tuple(row)

    async def save_conversation(self, identity_id: int, flow: str, step: str, data: dict[str, Any],
                                new_version: int, expected_version: int, now: datetime) -> int:
        cursor = await self._run(self.SAVE, (flow, step, json.dumps(data), new_version, now.astimezone(UTC),
                                             identity_id, expected_version))
        return int(cursor.rowcount)

    async def record_update(self, channel: str, key: str, replies: list[dict[str, Any]], now: datetime) -> None:
        await self._run(self.RECORD, (channel, key, json.dumps(replies), now.astimezone(UTC)))

    async def store_sim_messages(self, external_id: str, payloads: list[dict[str, Any]],
                                 at: datetime) -> list[int] | None:
        # One prepared statement for any number of messages; ids are drawn in the ORDER BY's order
        # (as SQLAlchemy's sort_by_parameter_order relies on), so sorted they are the messages' order.
        cursor = await self._run(self.STORE_SIM, (external_id, at, [json.dumps(payload) for payload in payloads]))
        return sorted(int(row[0]) for row in await cursor.fetchall())


def direct_of(conn: AsyncConnection) -> Direct | None:
    """The direct path for this transaction's connection, or None for a driver without one
    (aiosqlite on the read engine: SQLAlchemy's path)."""
    # Already checked out for this transaction: reading it needs no I/O.
    assert conn.sync_connection is not None
    driver = conn.sync_connection.connection.driver_connection
    if isinstance(driver, InLoopConnection):
        return SqliteDirect(driver) if driver._conn else None
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return PostgresDirect(driver)
    return None
