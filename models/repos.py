"""Queries: one `Repo` per transaction, with a method for each thing the core asks of the data."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Attachment,
    AuditLog,
    Conversation,
    Identity,
    Invite,
    Person,
    Report,
    RoleAssignment,
    Unit,
    utcnow,
)

# Codes people type or read aloud: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_code(length: int = 6) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def subtree_range(path: str) -> tuple[str, str]:
    """The [low, high) range of paths under `path` ("/1/4/" → "/1/4/" .. "/1/40")."""
    return path, path[:-1] + "0"


@dataclass(slots=True)
class Who:
    """The identity and person behind an incoming message."""

    identity: Identity
    person: Person
    created: bool = False


@dataclass(frozen=True, slots=True)
class HeldRole:
    role: str
    unit: Unit


class StaleConversation(Exception):
    """Someone else saved this conversation first (another instance or a parallel message)."""


class Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- people and identities -------------------------------------------------------------

    async def find_who(self, channel: str, external_id: str) -> Who | None:
        row = (
            await self.session.execute(
                select(Identity, Person)
                .join(Person, Person.id == Identity.person_id)  # type: ignore[arg-type]
                .where(Identity.channel == channel, Identity.external_id == external_id)
            )
        ).first()
        return Who(identity=row[0], person=row[1]) if row else None

    async def create_who(
        self, *, channel: str, external_id: str, chat_id: str, display_name: str, language: str
    ) -> Who:
        person = Person(name=display_name[:200], language=language)
        self.session.add(person)
        await self.session.flush()
        assert person.id is not None
        identity = Identity(
            person_id=person.id,
            channel=channel,
            external_id=external_id,
            chat_id=chat_id or external_id,
            display_name=display_name[:200],
        )
        self.session.add(identity)
        await self.session.flush()
        return Who(identity=identity, person=person, created=True)

    async def set_person(self, person_id: int, **values: Any) -> None:
        await self.session.execute(update(Person).where(Person.id == person_id).values(**values))  # type: ignore[arg-type]

    async def set_identity_blocked(self, identity_id: int, blocked: bool) -> None:
        await self.session.execute(
            update(Identity).where(Identity.id == identity_id).values(blocked=blocked)  # type: ignore[arg-type]
        )

    async def identities_of(self, person_id: int) -> Sequence[Identity]:
        return (
            await self.session.scalars(select(Identity).where(Identity.person_id == person_id))
        ).all()

    # --- conversation state ----------------------------------------------------------------

    async def conversation(self, identity_id: int) -> Conversation | None:
        return await self.session.get(Conversation, identity_id)

    async def save_conversation(
        self, identity_id: int, *, flow: str, step: str, data: dict[str, Any], expected_version: int
    ) -> int:
        """Saves the state if nobody saved it since `expected_version`; returns the new version."""
        new_version = expected_version + 1
        if expected_version == 0:
            existing = await self.session.get(Conversation, identity_id)
            if existing is None:
                self.session.add(
                    Conversation(
                        identity_id=identity_id, flow=flow, step=step, data=data, version=new_version
                    )
                )
                await self.session.flush()
                return new_version
        result = await self.session.execute(
            update(Conversation)
            .where(
                Conversation.identity_id == identity_id,  # type: ignore[arg-type]
                Conversation.version == expected_version,  # type: ignore[arg-type]
            )
            .values(flow=flow, step=step, data=data, version=new_version, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 1) != 1:
            raise StaleConversation(identity_id)
        return new_version

    # --- units and roles -------------------------------------------------------------------

    async def unit(self, unit_id: int) -> Unit | None:
        return await self.session.get(Unit, unit_id)

    async def unit_by_code(self, code: str) -> Unit | None:
        return (await self.session.scalars(select(Unit).where(Unit.code == code))).first()

    async def ancestors(self, unit: Unit) -> list[Unit]:
        """The units above `unit`, from the top down."""
        ids = [int(part) for part in unit.path.strip("/").split("/")[:-1] if part]
        if not ids:
            return []
        found = {u.id: u for u in (await self.session.scalars(select(Unit).where(Unit.id.in_(ids)))).all()}  # type: ignore[union-attr]
        return [found[i] for i in ids if i in found]

    async def units_under(self, unit: Unit, *, level: str | None = None) -> Sequence[Unit]:
        low, high = subtree_range(unit.path)
        query = select(Unit).where(Unit.path >= low, Unit.path < high)
        if level:
            query = query.where(Unit.level == level)
        return (await self.session.scalars(query.order_by(Unit.path))).all()

    async def roles_of(self, person_id: int) -> list[HeldRole]:
        rows = (
            await self.session.execute(
                select(RoleAssignment.role, Unit)
                .join(Unit, Unit.id == RoleAssignment.unit_id)  # type: ignore[arg-type]
                .where(RoleAssignment.person_id == person_id, RoleAssignment.active.is_(True))  # type: ignore[attr-defined]
                .order_by(RoleAssignment.id)
            )
        ).all()
        return [HeldRole(role=row[0], unit=row[1]) for row in rows]

    async def grant_role(self, *, person_id: int, unit_id: int, role: str) -> None:
        """Gives the role; a resident belongs to one group at a time, so older groups end."""
        if role == "resident":
            await self.session.execute(
                update(RoleAssignment)
                .where(
                    RoleAssignment.person_id == person_id,  # type: ignore[arg-type]
                    RoleAssignment.role == "resident",  # type: ignore[arg-type]
                    RoleAssignment.unit_id != unit_id,  # type: ignore[arg-type]
                )
                .values(active=False)
            )
        existing = (
            await self.session.scalars(
                select(RoleAssignment).where(
                    RoleAssignment.person_id == person_id,
                    RoleAssignment.unit_id == unit_id,
                    RoleAssignment.role == role,
                )
            )
        ).first()
        if existing:
            existing.active = True
        else:
            self.session.add(RoleAssignment(person_id=person_id, unit_id=unit_id, role=role))
        await self.session.flush()

    # --- invites ---------------------------------------------------------------------------

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
            candidate = code or new_code(6)
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

    # --- reports and attachments -----------------------------------------------------------

    async def add_report(
        self,
        *,
        form_key: str,
        form_version: int,
        task: str,
        unit_id: int,
        reporter_id: int,
        data: dict[str, Any],
        at: datetime,
    ) -> Report:
        for _ in range(10):
            code = new_code(6)
            clash = await self.session.scalar(select(func.count()).select_from(Report).where(Report.code == code))
            if not clash:
                break
        report = Report(
            code=code,
            form_key=form_key,
            form_version=form_version,
            task=task,
            unit_id=unit_id,
            reporter_id=reporter_id,
            data=data,
            created_at=at,
            updated_at=at,
        )
        self.session.add(report)
        await self.session.flush()
        return report

    async def reports_by(self, reporter_id: int, *, limit: int = 10) -> Sequence[Report]:
        return (
            await self.session.scalars(
                select(Report)
                .where(Report.reporter_id == reporter_id)
                .order_by(Report.created_at.desc(), Report.id.desc())  # type: ignore[attr-defined,union-attr]
                .limit(limit)
            )
        ).all()

    async def reports_under(self, unit: Unit, *, limit: int = 10) -> Sequence[tuple[Report, Unit]]:
        low, high = subtree_range(unit.path)
        rows = (
            await self.session.execute(
                select(Report, Unit)
                .join(Unit, Unit.id == Report.unit_id)  # type: ignore[arg-type]
                .where(Unit.path >= low, Unit.path < high)
                .order_by(Report.created_at.desc(), Report.id.desc())  # type: ignore[attr-defined,union-attr]
                .limit(limit)
            )
        ).all()
        return [(row[0], row[1]) for row in rows]

    async def attachment_by_hash(self, sha256: str) -> Attachment | None:
        return (await self.session.scalars(select(Attachment).where(Attachment.sha256 == sha256))).first()

    async def add_attachment(self, attachment: Attachment) -> Attachment:
        self.session.add(attachment)
        await self.session.flush()
        return attachment

    async def attachment(self, attachment_id: int) -> Attachment | None:
        return await self.session.get(Attachment, attachment_id)

    # --- audit -----------------------------------------------------------------------------

    async def audit(self, *, person_id: int | None, action: str, target: str = "", **detail: Any) -> None:
        self.session.add(AuditLog(person_id=person_id, action=action, target=target, detail=detail))
