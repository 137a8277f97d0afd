"""Keeping personal data no longer than the settings say, and reading the audit log (part of Repo).

Each purge deletes one batch (at most `limit` rows) and returns how many it took, so the daily
job (scheduler/jobs.py) runs batch after batch in short transactions. Closed feedback keeps its
row (status, unit, dates: the summaries still count it), without its text, photo, place or person.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, exists, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.codes import subtree_range
from models.repo_privacy import removed_photo
from models.tables import Attachment, AuditLog, Feedback, Notice, Person, Report, RoleAssignment, SimMessage, Unit

# Audit actions that concern personal data: what an official reading the log is shown.
PERSONAL_DATA_ACTIONS = ("view_sensitive", "export_sensitive", "view_feedback", "data_export", "data_erased",
                         "consent", "register", "duty_granted", "duty_revoked", "audit_read")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    who: str  # the person's name ("" when the row names nobody)
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(slots=True)
class Purged:
    """One batch of the purge: rows changed and files to delete from disk."""

    rows: int = 0
    files: list[str] | None = None


class RetentionQueries:
    session: AsyncSession
    # From PrivacyQueries (Repo has both): the placeholder person kept rows point at.
    tombstone: Callable[[], Awaitable[int]]

    async def purge_sim_messages(self, before: datetime, *, limit: int) -> int:
        """Deletes simulator messages older than `before` (one batch)."""
        ids = select(col(SimMessage.id)).where(col(SimMessage.created_at) < before).order_by(
            col(SimMessage.id)).limit(limit)
        return await self._deleted(delete(SimMessage).where(col(SimMessage.id).in_(ids.scalar_subquery())))

    async def purge_audit(self, before: datetime, *, limit: int) -> int:
        """Deletes audit rows older than `before` (one batch)."""
        ids = select(col(AuditLog.id)).where(col(AuditLog.at) < before).order_by(col(AuditLog.id)).limit(limit)
        return await self._deleted(delete(AuditLog).where(col(AuditLog.id).in_(ids.scalar_subquery())))

    async def purge_closed_feedback(self, before: datetime, *, limit: int) -> Purged:
        """Empties feedback closed before `before`: text, answer, photo, place and person go."""
        tomb = await self.tombstone()
        rows = (await self.session.execute(select(col(Feedback.id), col(Feedback.photo_id)).where(
            col(Feedback.status) == "closed", col(Feedback.updated_at) < before,
            col(Feedback.resident_id) != tomb).order_by(col(Feedback.id)).limit(limit))).all()
        if not rows:
            return Purged()
        ids = [row[0] for row in rows]
        await self.session.execute(update(Feedback).where(col(Feedback.id).in_(ids)).values(
            text="", answer="", location=null(), photo_id=None, resident_id=tomb)
            .execution_options(synchronize_session=False))
        files = await self._drop_attachments({int(row[1]) for row in rows if row[1] is not None})
        return Purged(len(ids), files)

    async def purge_report_photos(self, before: datetime, statuses: Sequence[str], *, after_id: int,
                                  limit: int) -> tuple[Purged, int | None]:
        """Takes the photos out of reports closed before `before`, `limit` reports from `after_id`
        on; returns what was purged and the id to go on from (None: no report left to look at)."""
        rows = (await self.session.execute(select(col(Report.id), col(Report.data)).where(
            col(Report.status).in_(statuses), col(Report.updated_at) < before, col(Report.id) > after_id)
            .order_by(col(Report.id)).limit(limit))).all()
        if not rows:
            return Purged(), None
        photos: set[int] = set()
        changed = 0
        for report_id, data in rows:
            ids = {int(v["attachment"]) for v in data.values() if isinstance(v, dict) and v.get("attachment")}
            if ids:
                photos |= ids
                changed += 1
                kept = {key: removed_photo(value, ids) for key, value in data.items()}
                await self.session.execute(update(Report).where(col(Report.id) == report_id).values(data=kept)
                                           .execution_options(synchronize_session=False))
        files = await self._drop_attachments(photos)
        return Purged(changed, files), int(rows[-1][0])

    async def _drop_attachments(self, ids: set[int]) -> list[str]:
        """Deletes the attachment rows no notice or feedback still shows; returns their files."""
        if not ids:
            return []
        shown = select(col(Notice.photo_id)).where(col(Notice.photo_id).in_(ids)).union(
            select(col(Feedback.photo_id)).where(col(Feedback.photo_id).in_(ids)))
        still = {int(value) for value in (await self.session.scalars(shown)).all() if value is not None}
        gone = ids - still
        if not gone:
            return []
        paths = [str(p) for p in (await self.session.scalars(select(col(Attachment.path)).where(
            col(Attachment.id).in_(gone)))).all()]
        await self.session.execute(delete(Attachment).where(col(Attachment.id).in_(gone)))
        return paths

    async def _deleted(self, statement: Any) -> int:
        result = await self.session.execute(statement.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)

    async def audit_entries(self, path: str, *, limit: int, offset: int = 0) -> list[AuditEntry]:
        """The audit log about personal data within a unit's subtree, newest first: rows by someone
        holding a role there, or about a unit or report there."""
        low, high = subtree_range(path)
        in_area = (col(Unit.path) >= low) & (col(Unit.path) < high)
        actor_there = exists().where(col(RoleAssignment.person_id) == col(AuditLog.person_id),
                                     col(Unit.id) == col(RoleAssignment.unit_id), in_area)
        unit_there = exists().where(col(AuditLog.target) == literal("unit:") + cast(col(Unit.id), String), in_area)
        report_there = exists().where(col(AuditLog.target) == literal("report:") + cast(col(Report.id), String),
                                      col(Report.unit_path) >= low, col(Report.unit_path) < high)
        rows = (await self.session.execute(
            select(AuditLog, col(Person.name)).outerjoin(Person, col(Person.id) == col(AuditLog.person_id))
            .where(col(AuditLog.action).in_(PERSONAL_DATA_ACTIONS), or_(actor_there, unit_there, report_there))
            .order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc()).offset(offset).limit(limit))).all()
        return [AuditEntry(row[0].at, row[1] or "", row[0].action, row[0].target, dict(row[0].detail or {}))
                for row in rows]
