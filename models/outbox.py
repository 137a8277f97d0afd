"""The outbox in the database: writing rows with unique keys in the caller's transaction, and the
dispatcher's claim and record queries (FOR UPDATE SKIP LOCKED on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, bindparam, case, cast, func, literal, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models.codes import subtree_range
from models.tables import Identity, Notice, Outbox, Person, RoleAssignment, utcnow

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
    attempts: int
    was_sending: bool  # taken over from an instance whose lease ran out: maybe sent already
    skip: str  # why it must not be sent after all ("" to send)


async def claim(session: AsyncSession, *, now: datetime, limit: int, lease_seconds: int, instance: str,
                channels: Sequence[str]) -> list[Claimed]:
    """Takes up to `limit` due rows for this instance (rows locked by another are skipped)."""
    due = or_(
        and_(Outbox.status.in_(("pending", "retry")), Outbox.due_at <= now),
        and_(Outbox.status == "sending", Outbox.lease_until < now),
    )
    query = (
        select(Outbox.id, Outbox.key, Outbox.identity_id, Outbox.channel, Outbox.chat_id, Outbox.payload,
               Outbox.notice_id, Outbox.attempts, Outbox.status, Outbox.kind, Identity.blocked, Person.opted_out)
        .join(Identity, Identity.id == Outbox.identity_id)
        .join(Person, Person.id == Identity.person_id)
        .where(due, Outbox.channel.in_(channels))
        .order_by(Outbox.due_at, Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Outbox)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    await session.execute(
        update(Outbox).where(Outbox.id.in_([row[0] for row in rows]))
        .values(status="sending", lease_until=now + timedelta(seconds=lease_seconds), claimed_by=instance,
                attempts=Outbox.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    claimed = []
    for row in rows:
        skip = "blocked" if row[10] else ("opted_out" if row[9] == "broadcast" and row[11] else "")
        claimed.append(Claimed(id=row[0], key=row[1], identity_id=row[2], channel=row[3], chat_id=row[4],
                               payload=row[5], notice_id=row[6], attempts=row[7] + 1,
                               was_sending=row[8] == "sending", skip=skip))
    return claimed


@dataclass(slots=True)
class Outcome:
    id: int
    status: str  # sent | retry | blocked | failed | skipped
    message_id: str = ""
    error: str = ""
    retry_at: datetime | None = None
    identity_id: int = 0


_RECORD = (
    update(Outbox)
    .where(Outbox.id == bindparam("row_id"))
    .values(status=bindparam("new_status"), error=bindparam("reason"), lease_until=None,
            sent_at=bindparam("when_sent"), message_id=bindparam("channel_id"), due_at=bindparam("next_due"))
)


async def record(session: AsyncSession, outcomes: Sequence[Outcome], *, now: datetime) -> None:
    """Writes what happened to each row (one executemany); a blocked user's identity is marked."""
    if not outcomes:
        return
    conn = await session.connection()
    await conn.execute(_RECORD, [
        {"row_id": o.id, "new_status": o.status, "reason": o.error[:300],
         "when_sent": now if o.status == "sent" else None, "channel_id": o.message_id[:64],
         "next_due": o.retry_at if o.status == "retry" and o.retry_at else now}
        for o in outcomes
    ])
    blocked = {o.identity_id for o in outcomes if o.status == "blocked" and o.identity_id}
    if blocked:
        await session.execute(update(Identity).where(Identity.id.in_(blocked)).values(blocked=True)
                              .execution_options(synchronize_session=False))


async def notice_counts(session: AsyncSession, notice_id: int) -> dict[str, int]:
    rows = (await session.execute(
        select(Outbox.status, func.count()).where(Outbox.notice_id == notice_id).group_by(Outbox.status)
    )).all()
    return {row[0]: int(row[1]) for row in rows}


async def pending_count(session: AsyncSession, now: datetime) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Outbox).where(Outbox.status.in_(("pending", "retry", "sending")),
                                                       Outbox.due_at <= now)) or 0)
