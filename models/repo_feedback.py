"""Queries about residents' feedback (part of Repo)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Feedback


class FeedbackQueries:
    session: AsyncSession

    async def feedback(self, feedback_id: int) -> Feedback | None:
        return await self.session.get(Feedback, feedback_id)

    async def open_feedback(self, unit_ids: Sequence[int], *, limit: int) -> Sequence[Feedback]:
        """The groups' feedback not yet passed on or closed, newest first."""
        return (await self.session.scalars(
            select(Feedback).where(Feedback.unit_id.in_(unit_ids), Feedback.status.in_(("new", "answered")))
            .order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(limit))).all()

    async def set_feedback_status(
        self, feedback: Feedback, *, status: str, expected: str, person_id: int, at: datetime, **values: Any
    ) -> bool:
        """Changes a feedback's status only if it is still `expected` (compare-and-set)."""
        result = await self.session.execute(
            update(Feedback).where(Feedback.id == feedback.id, Feedback.status == expected)
            .values(status=status, handled_by=person_id, updated_at=at, **values)
            .execution_options(synchronize_session=False))
        won: bool = result.rowcount == 1
        await self.session.refresh(feedback)
        return won
