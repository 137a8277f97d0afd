"""Queries about invite codes, the wrong codes people typed, and officials' duties (part of Repo)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import duties
from models.codes import INVITE_CODE_LENGTH, new_code, subtree_range
from models.tables import Invite, InviteAttempt, RoleAssignment, Unit


class InviteQueries:
    session: AsyncSession

    async def invite_by_code(self, code: str) -> Invite | None:
        return (await self.session.scalars(select(Invite).where(Invite.code == code))).first()

    async def create_invite(
        self,
        *,
        unit_id: int,
        role: str,
        max_uses: int,
        expires_at: datetime | None,
        created_by: int | None = None,
        code: str | None = None,
    ) -> Invite:
        for _ in range(10):
            candidate = code or new_code(INVITE_CODE_LENGTH)
            if await self.invite_by_code(candidate) is None:
                break
            if code:
                raise ValueError(f"invite code {code} exists")
        invite = Invite(
            code=candidate,
            unit_id=unit_id,
            role=role,
            max_uses=max_uses,
            expires_at=expires_at,
            created_by=created_by,
        )
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def use_invite(self, invite_id: int) -> bool:
        """Counts one use if any is left (atomically, so two people cannot take the last one)."""
        result = await self.session.execute(
            update(Invite)
            .where(
                Invite.id == invite_id,  # type: ignore[arg-type]
                (Invite.max_uses == 0) | (Invite.used < Invite.max_uses),  # type: ignore[arg-type,operator]
            )
            .values(used=Invite.used + 1)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    async def group_invite(self, unit_id: int, *, created_by: int, now: datetime, days: int) -> Invite:
        """The group's unlimited resident code still working (a new one, valid `days`, when none is)."""
        found = (await self.session.scalars(
            select(Invite).where(Invite.unit_id == unit_id, Invite.role == "resident", Invite.max_uses == 0,
                                 Invite.revoked_at.is_(None),
                                 Invite.expires_at.is_(None) | (Invite.expires_at > now))
            .order_by(Invite.id.desc())
        )).first()
        if found is not None:
            return found
        return await self.create_invite(unit_id=unit_id, role="resident", max_uses=0,
                                        expires_at=now + timedelta(days=days), created_by=created_by)

    async def invites_of(self, unit_ids: Sequence[int], *, limit: int = 10) -> list[Invite]:
        """The codes of these units not revoked and with uses left (expired ones too: they can be renewed)."""
        return list((await self.session.scalars(
            select(Invite).where(Invite.unit_id.in_(unit_ids), Invite.revoked_at.is_(None),
                                 (Invite.max_uses == 0) | (Invite.used < Invite.max_uses))
            .order_by(Invite.id.desc()).limit(limit)
        )).all())

    async def invite(self, invite_id: int) -> Invite | None:
        return await self.session.get(Invite, invite_id)

    async def revoke_invite(self, invite_id: int, *, now: datetime) -> bool:
        """Revokes a code (once: False when it was revoked already)."""
        result = await self.session.execute(
            update(Invite).where(Invite.id == invite_id, Invite.revoked_at.is_(None)).values(revoked_at=now)
            .execution_options(synchronize_session=False))
        return getattr(result, "rowcount", 0) == 1

    async def renew_invite(self, invite_id: int, *, until: datetime) -> bool:
        result = await self.session.execute(
            update(Invite).where(Invite.id == invite_id, Invite.revoked_at.is_(None)).values(expires_at=until)
            .execution_options(synchronize_session=False))
        return getattr(result, "rowcount", 0) == 1

    async def invite_failures(self, *, channel: str, external_id: str, address: str,
                              since: datetime) -> tuple[int, int]:
        """Failed invite codes since `since`: (by this identity, from this address; 0 without one)."""
        by_identity = await self.session.scalar(
            select(func.count()).select_from(InviteAttempt).where(
                InviteAttempt.channel == channel, InviteAttempt.external_id == external_id,
                InviteAttempt.at > since))
        by_address = 0
        if address:
            by_address = await self.session.scalar(
                select(func.count()).select_from(InviteAttempt).where(
                    InviteAttempt.address == address, InviteAttempt.at > since)) or 0
        return by_identity or 0, by_address

    async def record_invite_failure(self, *, channel: str, external_id: str, address: str, at: datetime,
                                    forget_before: datetime) -> None:
        """Counts one failed invite code; this identity's attempts older than the window go."""
        await self.session.execute(
            delete(InviteAttempt).where(InviteAttempt.channel == channel, InviteAttempt.external_id == external_id,
                                        InviteAttempt.at <= forget_before)
            .execution_options(synchronize_session=False))
        self.session.add(InviteAttempt(channel=channel, external_id=external_id, address=address[:64], at=at))
        await self.session.flush()

    # --- duties of officials (models/duties.py) --------------------------------------------

    async def unit_officials(self, unit_id: int) -> list[duties.OfficialDuties]:
        return await duties.officials(self.session, unit_id)

    async def set_duty(self, *, person_id: int, unit_id: int, duty: str, granted: bool, by: int) -> tuple[str, ...]:
        """Grants or removes a duty of an official of the unit (audited); their duties after."""
        return await duties.set_duty(self.session, person_id=person_id, unit_id=unit_id, duty=duty, granted=granted,
                                     by=by)

    async def units_with_officials_under(self, path: str, *, limit: int = 40) -> list[Unit]:
        """The units strictly under `path` that have an active official, by name."""
        low, high = subtree_range(path)
        has_official = select(RoleAssignment.id).where(RoleAssignment.unit_id == Unit.id,
                                                       RoleAssignment.role == "official",
                                                       RoleAssignment.active.is_(True)).exists()
        return list((await self.session.scalars(
            select(Unit).where(Unit.path > low, Unit.path < high, has_official).order_by(Unit.path).limit(limit)
        )).all())
