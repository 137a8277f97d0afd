"""Queuing messages in the outbox (part of Repo): the core's side of models/outbox.py, in this
transaction. The dispatcher's side (claiming, recording outcomes) calls models/outbox.py itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import outbox
from models.tables import Notice, Outbox


class QueueQueries:
    session: AsyncSession

    async def enqueue_identities(
        self, *, person_ids: Sequence[int], key: str, payload: list[dict[str, Any]], due_at: datetime,
        kind: str = "direct", notice_id: int | None = None,
    ) -> int:
        """One message for every reachable identity of the people; returns how many were queued."""
        return await outbox.enqueue_identities(self.session, person_ids=person_ids, key=key, payload=payload,
                                               due_at=due_at, kind=kind, notice_id=notice_id)

    async def enqueue_audience(
        self, *, key: str, unit_path: str, audience: str, payloads: dict[str, list[dict[str, Any]]],
        due_at: datetime, notice_id: int | None = None,
    ) -> int:
        """One message for everyone of the audience under the unit, in their language."""
        return await outbox.enqueue_audience(self.session, key=key, unit_path=unit_path, audience=audience,
                                             payloads=payloads, due_at=due_at, notice_id=notice_id)

    async def enqueue_notice(self, notice: Notice, payloads: dict[str, list[dict[str, Any]]], due_at: datetime) -> int:
        return await outbox.enqueue_notice(self.session, notice, payloads, due_at)

    async def count_recipients(self, unit_path: str, audience: str) -> dict[str, int]:
        """How many identities a notice would reach, by channel."""
        return await outbox.count_recipients(self.session, unit_path, audience)

    async def notice_counts(self, notice_id: int) -> dict[str, int]:
        """The notice's messages by status."""
        return await outbox.notice_counts(self.session, notice_id)

    async def queued_under(self, key: str) -> bool:
        """True when an outbox row with this key prefix exists (the message was queued before)."""
        return bool(await self.session.scalar(select(Outbox.id).where(
            Outbox.key >= key + ":", Outbox.key < key + ";").limit(1)))
