"""Queries about campaigns, their occurrences, digests and escalations (part of Repo)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.codes import subtree_range
from models.tables import (
    Campaign,
    Occurrence,
    Outbox,
    Person,
    Report,
    RoleAssignment,
    Unit,
)


class ActivityQueries:
    session: AsyncSession

    # --- campaigns -------------------------------------------------------------------------

    async def campaign(self, campaign_id: int) -> Campaign | None:
        return await self.session.get(Campaign, campaign_id)

    async def active_campaigns(self) -> Sequence[Campaign]:
        return (await self.session.scalars(select(Campaign).where(Campaign.status == "active")
                                           .order_by(Campaign.id))).all()

    async def campaign_with_config_key(self, key: str) -> int | None:
        return await self.session.scalar(select(Campaign.id).where(Campaign.config_key == key))

    async def campaigns_under(self, path: str) -> Sequence[Campaign]:
        """Campaigns of this unit, of the units under it, and of the units above it (they reach it too)."""
        parts = [p for p in path.strip("/").split("/") if p]
        above = ["/" + "/".join(parts[: n + 1]) + "/" for n in range(len(parts))]
        low, high = subtree_range(path)
        return (await self.session.scalars(select(Campaign).where(
            (Campaign.unit_path.in_(above)) | ((Campaign.unit_path >= low) & (Campaign.unit_path < high)))
            .order_by(Campaign.status, Campaign.id))).all()

    async def occurrence_exists(self, key: str) -> bool:
        return bool(await self.session.scalar(select(Occurrence.id).where(Occurrence.key == key)))

    async def occurrences_of(self, campaign_id: int, *, limit: int = 5) -> Sequence[Occurrence]:
        return (await self.session.scalars(
            select(Occurrence).where(Occurrence.campaign_id == campaign_id)
            .order_by(Occurrence.due_at.desc(), Occurrence.id.desc()).limit(limit))).all()

    async def groups_without_monthly_report(self, path: str, month_key: str, form_key: str) -> list[Unit]:
        """Groups under the unit with no current report of `form_key` for the month ("2026-11")."""
        low, high = subtree_range(path)
        groups = (await self.session.scalars(select(Unit).where(
            Unit.path >= low, Unit.path < high, Unit.level == "group").order_by(Unit.path))).all()
        filed = {row[0] for row in (await self.session.execute(select(Report.unit_id, Report.data).where(
            Report.form_key == form_key, Report.superseded.is_(False), Report.unit_path >= low,
            Report.unit_path < high))).all() if row[1].get("_month") == month_key}
        return [g for g in groups if g.id not in filed]

    async def officials_with_digest(self, kind: str) -> list[tuple[int, str]]:
        """(person id, language) of every active official who has this digest turned on."""
        rows = (await self.session.execute(
            select(Person.id, Person.language, Person.digests).distinct()
            .join(RoleAssignment, RoleAssignment.person_id == Person.id)
            .where(RoleAssignment.role == "official", RoleAssignment.active.is_(True), Person.opted_out.is_(False))
            .order_by(Person.id)
        )).all()
        return [(row[0], row[1]) for row in rows if kind in row[2].split(",")]

    async def queued_under(self, key: str) -> bool:
        """True when an outbox row with this key prefix exists (the message was queued before)."""
        return bool(await self.session.scalar(select(Outbox.id).where(
            Outbox.key >= key + ":", Outbox.key < key + ";").limit(1)))

    async def due_escalations(self, now: datetime, *, limit: int = 50) -> Sequence[Report]:
        """Urgent reports still unacknowledged past their deadline, locked for this instance."""
        return (await self.session.scalars(
            select(Report)
            .where(Report.urgent.is_(True), Report.status == "sent", Report.escalate_at <= now)
            .order_by(Report.escalate_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )).all()

    async def person_name(self, person_id: int) -> str:
        return (await self.session.scalar(select(Person.name).where(Person.id == person_id))) or ""

    async def person_language(self, person_id: int) -> str:
        return (await self.session.scalar(select(Person.language).where(Person.id == person_id))) or "vi"
