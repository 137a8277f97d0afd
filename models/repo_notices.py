"""Queries about notices leaders and officials send (part of Repo)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.codes import subtree_range
from models.tables import Notice


class NoticeQueries:
    session: AsyncSession

    async def notice(self, notice_id: int, *, lock: bool = False) -> Notice | None:
        """The notice; with `lock`, held until the transaction ends (FOR UPDATE on PostgreSQL)."""
        return await self.session.get(Notice, notice_id, with_for_update=lock)

    async def notices_for(self, paths: Sequence[str], audiences: Sequence[str], *, now: datetime,
                          limit: int = 5) -> Sequence[Notice]:
        """The latest notices sent to any of these units (a group and the units above it)."""
        return (await self.session.scalars(
            select(Notice).where(Notice.unit_path.in_(paths), Notice.audience.in_(audiences),
                                 Notice.send_at <= now)
            .order_by(Notice.send_at.desc(), Notice.id.desc()).limit(limit)
        )).all()

    async def notices_under(self, path: str, *, sender_id: int | None = None, limit: int = 10) -> Sequence[Notice]:
        low, high = subtree_range(path)
        query = select(Notice).where(Notice.unit_path >= low, Notice.unit_path < high)
        if sender_id is not None:
            query = query.where(Notice.sender_id == sender_id)
        return (await self.session.scalars(query.order_by(Notice.id.desc()).limit(limit))).all()
