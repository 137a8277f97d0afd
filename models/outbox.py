"""The outbox in the database: writing rows with unique keys in the caller's transaction, and the
dispatcher's claim and record queries (FOR UPDATE SKIP LOCKED on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from models.codes import subtree_range
from models.tables import Identity, Notice, Outbox, OutboxInstance, Person, RoleAssignment, utcnow

AUDIENCE_ROLES = {"residents": ("resident",), "leaders": ("leader", "deputy"),
                  "both": ("resident", "leader", "deputy")}


def _insert(session: AsyncSession) -> Any:
    """An INSERT that skips rows whose unique key exists (a message is never queued twice)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(Outbox)


async def enqueue_identities(
    session: AsyncSession,
    *,
    person_ids: Sequence[int],
    key: str,
    payload: list[dict[str, Any]],
    due_at: datetime,
    kind: str = "direct",
    notice_id: int | None = None,
) -> int:
    """Queues one message for every reachable identity of the people; `key` gets ":i<identity>"."""
    query = select(Identity.id, Identity.channel, Identity.chat_id, Identity.external_id).where(
        Identity.person_id.in_(person_ids), Identity.blocked.is_(False))
    if kind == "broadcast":
        query = query.join(Person, Person.id == Identity.person_id).where(Person.opted_out.is_(False))
    rows = (await session.execute(query)).all()
    values = [{"key": f"{key}:i{row[0]}", "identity_id": row[0], "channel": row[1], "chat_id": row[2] or row[3],
               "payload": payload, "kind": kind, "notice_id": notice_id, "status": "pending", "due_at": due_at,
               "attempts": 0, "claimed_by": "", "message_id": "", "error": "", "created_at": utcnow()}
              for row in rows]
    if not values:
        return 0
    before = await _count(session, key)
    await session.execute(_insert(session).values(values).on_conflict_do_nothing())
    # rowcount of a multi-row INSERT … ON CONFLICT is not reported by every driver: count.
    return await _count(session, key) - before


def _recipients(unit_path: str, audience: str) -> Any:
    low, high = subtree_range(unit_path)
    from models.tables import Unit

    return (
        select(Identity.id, Identity.channel, Identity.chat_id, Identity.external_id, Person.language)
        .join(Person, Person.id == Identity.person_id)
        .where(
            Identity.blocked.is_(False),
            Person.opted_out.is_(False),
            Identity.person_id.in_(
                select(RoleAssignment.person_id)
                .join(Unit, Unit.id == RoleAssignment.unit_id)
                .where(RoleAssignment.active.is_(True), RoleAssignment.role.in_(AUDIENCE_ROLES[audience]),
                       Unit.path >= low, Unit.path < high)
            ),
        )
    )


async def count_recipients(session: AsyncSession, unit_path: str, audience: str) -> dict[str, int]:
    """How many identities a notice would reach, by channel."""
    inner = _recipients(unit_path, audience).subquery()
    rows = (await session.execute(select(inner.c.channel, func.count()).group_by(inner.c.channel))).all()
    return {row[0]: int(row[1]) for row in rows}


async def enqueue_audience(
    session: AsyncSession, *, key: str, unit_path: str, audience: str, payloads: dict[str, list[dict[str, Any]]],
    due_at: datetime, notice_id: int | None = None,
) -> int:
    """Queues a message for everyone of the audience under the unit, in one INSERT … SELECT per
    language (a person whose language has no payload gets the Vietnamese one); returns how many."""
    before = await _count(session, key)
    for language, payload in payloads.items():
        inner = _recipients(unit_path, audience)
        if language == "vi":
            inner = inner.where(or_(Person.language == "vi", Person.language.not_in(list(payloads))))
        else:
            inner = inner.where(Person.language == language)
        inner = inner.subquery()
        chosen = select(
            literal(f"{key}:i") + cast(inner.c.id, String),
            inner.c.id,
            inner.c.channel,
            case((inner.c.chat_id == "", inner.c.external_id), else_=inner.c.chat_id),
            literal(payload, Outbox.__table__.c.payload.type),  # type: ignore[attr-defined]
            literal("broadcast"),
            literal(notice_id, Outbox.__table__.c.notice_id.type),  # type: ignore[attr-defined]
            literal("pending"),
            literal(due_at, Outbox.__table__.c.due_at.type),  # type: ignore[attr-defined]
            literal(0),
            literal(""),
            literal(""),
            literal(""),
            literal(utcnow(), Outbox.__table__.c.created_at.type),  # type: ignore[attr-defined]
        ).where(true())  # SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT
        statement = _insert(session).from_select(
            ["key", "identity_id", "channel", "chat_id", "payload", "kind", "notice_id", "status", "due_at",
             "attempts", "claimed_by", "message_id", "error", "created_at"], chosen).on_conflict_do_nothing()
        await session.execute(statement)
    # rowcount of INSERT … SELECT is not reported by every driver: count what is there.
    return await _count(session, key) - before


async def _count(session: AsyncSession, key: str) -> int:
    low = f"{key}:i"
    return int(await session.scalar(select(func.count()).select_from(Outbox).where(
        Outbox.key >= low, Outbox.key < low[:-1] + "j")) or 0)


async def enqueue_notice(
    session: AsyncSession, notice: Notice, payloads: dict[str, list[dict[str, Any]]], due_at: datetime
) -> int:
    """Queues the notice for every recipient."""
    return await enqueue_audience(session, key=f"notice:{notice.id}", unit_path=notice.unit_path,
                                  audience=notice.audience, payloads=payloads, due_at=due_at, notice_id=notice.id)


@dataclass(slots=True)
class Claimed:
    id: int
    key: str
    identity_id: int
    channel: str
    chat_id: str
    payload: list[dict[str, Any]]
    notice_id: int | None
    attempts: int  # requests already made for it (this one not counted)
    was_sending: bool  # its request was going out when the instance that had it stopped: maybe sent
    skip: str  # why it must not be sent after all ("" to send)
    progress: int = 0  # pieces already sent by an earlier attempt
    sent_ids: str = ""  # their message ids


CLAIMED, SENDING = "claimed", "sending"
HELD = (CLAIMED, SENDING)


def _alive(alive_since: datetime) -> Any:
    return select(OutboxInstance.name).where(OutboxInstance.seen_at >= alive_since)


CLAIM_LOCK_KEY = 0x746F7472  # "totr": PostgreSQL advisory lock taken by claims when several instances run


async def claim(session: AsyncSession, *, now: datetime, limit: int, lease_seconds: int, instance: str,
                channels: Sequence[str], alive_since: datetime | None = None,
                chat_gaps: dict[str, float] | None = None) -> list[Claimed]:
    """Takes up to `limit` due rows for this instance (rows locked by another are skipped).

    Rows held by an instance that stopped heartbeating (none before `alive_since`) are taken up at
    once, not only when their lease ends. With `chat_gaps` (several instances running), a chat that
    another live instance is sending to, or sent to within the chat's gap, is left to it.
    """
    held_by_dead = Outbox.lease_until < now
    if alive_since is not None:
        held_by_dead = or_(held_by_dead, Outbox.claimed_by.not_in(_alive(alive_since)))
    due = or_(
        and_(Outbox.status.in_(("pending", "retry")), Outbox.due_at <= now),
        and_(Outbox.status.in_(HELD), held_by_dead),
    )
    query = (
        select(Outbox.id, Outbox.key, Outbox.identity_id, Outbox.channel, Outbox.chat_id, Outbox.payload,
               Outbox.notice_id, Outbox.attempts, Outbox.status, Outbox.kind, Identity.blocked, Person.opted_out,
               Outbox.progress, Outbox.message_id)
        .join(Identity, Identity.id == Outbox.identity_id)
        .join(Person, Person.id == Identity.person_id)
        .where(due, Outbox.channel.in_(channels))
    )
    if chat_gaps is not None and alive_since is not None:
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            # Claims of several instances one after the other (the claim is one short SELECT and
            # UPDATE): otherwise two claiming at the same instant both miss the other's uncommitted
            # claim and take rows of the same chat, breaking its gap.
            await session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY)))
        other = aliased(Outbox)
        recently = [and_(other.channel == channel, other.sent_at > now - timedelta(seconds=gap))
                    for channel, gap in chat_gaps.items() if gap > 0]
        busy = select(literal(1)).select_from(other).where(
            other.channel == Outbox.channel, other.chat_id == Outbox.chat_id, other.claimed_by != instance,
            or_(and_(other.status.in_(HELD), other.lease_until >= now,
                     other.claimed_by.in_(_alive(alive_since))),
                and_(other.status == "sent", or_(*recently)) if recently else false()))
        query = query.where(~exists(busy))
    query = query.order_by(Outbox.due_at, Outbox.id).limit(limit).with_for_update(skip_locked=True, of=Outbox)
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    await session.execute(
        update(Outbox).where(Outbox.id.in_([row[0] for row in rows]))
        .values(status=CLAIMED, lease_until=now + timedelta(seconds=lease_seconds), claimed_by=instance)
        .execution_options(synchronize_session=False)
    )
    claimed = []
    for row in rows:
        skip = "blocked" if row[10] else ("opted_out" if row[9] == "broadcast" and row[11] else "")
        claimed.append(Claimed(id=row[0], key=row[1], identity_id=row[2], channel=row[3], chat_id=row[4],
                               payload=row[5], notice_id=row[6], attempts=row[7],
                               was_sending=row[8] == SENDING, skip=skip, progress=row[12] or 0,
                               sent_ids=row[13] or ""))
    return claimed


_MARK = (
    update(Outbox)
    .where(Outbox.id.in_(bindparam("row_ids", expanding=True)), Outbox.claimed_by == bindparam("holder"))
    .values(status=SENDING, attempts=Outbox.attempts + 1)
)


async def mark_sending(conn: AsyncConnection, ids: Sequence[int], *, instance: str) -> None:
    """Marks rows whose request is about to go out (one UPDATE for all): after a crash, only these
    may have arrived already; the rest are simply sent again."""
    if ids:
        await conn.execute(_MARK, {"row_ids": list(ids), "holder": instance})


async def release(session: AsyncSession, ids: Sequence[int], *, instance: str) -> None:
    """Gives rows this instance holds but did not send back to the queue at once (it is stopping,
    or its batch failed); a row marked ahead of its send gets its attempt back."""
    if ids:
        await session.execute(
            update(Outbox).where(Outbox.id.in_(list(ids)), Outbox.claimed_by == instance,
                                 Outbox.status.in_(HELD))
            .values(status="pending", lease_until=None, claimed_by="",
                    attempts=case((Outbox.status == SENDING, Outbox.attempts - 1), else_=Outbox.attempts))
            .execution_options(synchronize_session=False))


async def heartbeat(session: AsyncSession, *, instance: str, at: datetime, alive_since: datetime) -> int:
    """Says this instance is alive; returns how many instances are (itself included)."""
    done = await session.execute(update(OutboxInstance).where(OutboxInstance.name == instance).values(seen_at=at))
    if not done.rowcount:
        await session.execute(_insert_instance(session).values(name=instance, seen_at=at).on_conflict_do_nothing())
    # Instances silent for a day are forgotten (their rows were taken up long ago).
    await session.execute(delete(OutboxInstance).where(OutboxInstance.seen_at < at - timedelta(days=1)))
    live = await session.scalar(select(func.count()).select_from(OutboxInstance).where(
        OutboxInstance.seen_at >= alive_since))
    return max(1, int(live or 0))


async def leave(session: AsyncSession, *, instance: str) -> None:
    """This instance stops: others take up whatever it still holds at once."""
    await session.execute(delete(OutboxInstance).where(OutboxInstance.name == instance))


async def forget_others(session: AsyncSession, *, instance: str) -> None:
    """SQLite serves one instance: any other one recorded is a previous run, gone; its rows are
    taken up now (those it was sending as possible duplicates), not after their lease."""
    await session.execute(delete(OutboxInstance).where(OutboxInstance.name != instance))
    await session.execute(
        update(Outbox).where(Outbox.status == CLAIMED, Outbox.claimed_by != instance)
        .values(status="pending", lease_until=None, claimed_by="")
        .execution_options(synchronize_session=False))


def _insert_instance(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql if dialect == "postgresql" else sqlite).insert(OutboxInstance)


@dataclass(slots=True)
class Outcome:
    id: int
    status: str  # sent | retry | blocked | failed | skipped
    message_id: str = ""
    error: str = ""
    retry_at: datetime | None = None
    identity_id: int = 0
    progress: int = 0  # pieces sent so far, this attempt's included


_RECORD = (
    update(Outbox)
    .where(Outbox.id == bindparam("row_id"), Outbox.claimed_by == bindparam("holder"))
    .values(status=bindparam("new_status"), error=bindparam("reason"), lease_until=None,
            sent_at=bindparam("when_sent"), message_id=bindparam("channel_id"), due_at=bindparam("next_due"),
            progress=bindparam("pieces"))
)


async def record(conn: AsyncConnection, outcomes: Sequence[Outcome], *, now: datetime, instance: str) -> None:
    """Writes what happened to each row this instance holds (one executemany); a blocked user's
    identity is marked."""
    if not outcomes:
        return
    await conn.execute(_RECORD, [
        {"row_id": o.id, "holder": instance, "new_status": o.status, "reason": o.error[:300],
         "when_sent": now if o.status == "sent" else None, "channel_id": o.message_id[:255],
         "next_due": o.retry_at if o.status == "retry" and o.retry_at else now, "pieces": o.progress}
        for o in outcomes
    ])
    blocked = {o.identity_id for o in outcomes if o.status == "blocked" and o.identity_id}
    if blocked:
        await conn.execute(update(Identity).where(Identity.id.in_(blocked)).values(blocked=True))


async def notice_counts(session: AsyncSession, notice_id: int) -> dict[str, int]:
    rows = (await session.execute(
        select(Outbox.status, func.count()).where(Outbox.notice_id == notice_id).group_by(Outbox.status)
    )).all()
    counts: dict[str, int] = {}
    for status, n in rows:  # a claimed row is waiting to be sent, as a sending one is
        key = SENDING if status == CLAIMED else status
        counts[key] = counts.get(key, 0) + int(n)
    return counts


async def pending_count(session: AsyncSession, now: datetime) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Outbox).where(Outbox.status.in_(("pending", "retry", *HELD)),
                                                       Outbox.due_at <= now)) or 0)
