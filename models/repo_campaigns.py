"""Queries about campaigns, their occurrences and the groups a monthly deadline still waits for
(part of Repo)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.codes import subtree_range
from models.tables import Campaign, Occurrence, Report, Unit


class CampaignQueries:
    session: AsyncSession

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
        """Groups under the unit with no current report of `form_key` about the month ("2026-11"):
        none whose event day is in that month (a monthly report's day is the first of its month)."""
        low, high = subtree_range(path)
        first = date(int(month_key[:4]), int(month_key[5:7]), 1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        groups = (await self.session.scalars(select(Unit).where(
            Unit.path >= low, Unit.path < high, Unit.level == "group").order_by(Unit.path))).all()
        filed = set((await self.session.scalars(select(Report.unit_id).where(
            Report.form_key == form_key, Report.superseded.is_(False), Report.event_day >= first,
            Report.event_day < following, Report.unit_path >= low, Report.unit_path < high))).all())
        return [g for g in groups if g.id not in filed]
