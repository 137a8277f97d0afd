"""Queries: one `Repo` per transaction, with a method for each thing the core asks of the data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import SQLModel

from models.codes import subtree_range
from models.repo_campaigns import CampaignQueries
from models.repo_direct import Direct, direct_of
from models.repo_feedback import FeedbackQueries
from models.repo_invites import InviteQueries
from models.repo_notices import NoticeQueries
from models.repo_outbox import QueueQueries
from models.repo_people import PeopleQueries
from models.repo_privacy import PrivacyQueries
from models.repo_reports import ReportQueries
from models.repo_retention import RetentionQueries
from models.roles import HeldRole, UnitRef
from models.summary_queries import SummaryQueries
from models.tables import (
    Attachment,
    AuditLog,
    Conversation,
    Identity,
    InboundUpdate,
    Person,
    RoleAssignment,
    SimMessage,
    Unit,
    utcnow,
)

__all__ = ["HeldRole", "Repo", "StaleConversation", "UnitRef", "Who"]


@dataclass(slots=True)
class Who:
    """The identity and person behind an incoming message, with where their conversation is."""

    identity_id: int
    person_id: int
    name: str
    language: str
    opted_out: bool
    blocked: bool
    created: bool = False
    flow: str = ""
    step: str = ""
    data: dict[str, Any] | None = None
    version: int = 0
    # With an update key: the replies stored when that update was handled, None if it was not.
    handled: list[dict[str, Any]] | None = None
    # The version of the privacy notice the person agreed to ("" when they have not).
    consent_version: str = ""


_identity = Identity.__table__  # type: ignore[attr-defined]
_person = Person.__table__  # type: ignore[attr-defined]
_conversation = Conversation.__table__  # type: ignore[attr-defined]

# The hot path of every message, built once: who wrote and where their conversation is.
_FIND_WHO = (
    select(_identity.c.id, _identity.c.person_id, _person.c.name, _person.c.language, _person.c.opted_out,
           _identity.c.blocked, _conversation.c.flow, _conversation.c.step, _conversation.c.data,
           _conversation.c.version, _person.c.consent_version)
    .select_from(_identity.join(_person, _person.c.id == _identity.c.person_id)
                 .outerjoin(_conversation, _conversation.c.identity_id == _identity.c.id))
    .where(_identity.c.channel == bindparam("channel"), _identity.c.external_id == bindparam("external_id"))
)
_role = RoleAssignment.__table__  # type: ignore[attr-defined]
_unit = Unit.__table__  # type: ignore[attr-defined]
_ROLES_OF = (
    select(_role.c.role, _unit.c.id, _unit.c.code, _unit.c.name, _unit.c.level, _unit.c.parent_id, _unit.c.path,
           _unit.c.households, _role.c.duties)
    .select_from(_role.join(_unit, _unit.c.id == _role.c.unit_id))
    .where(_role.c.person_id == bindparam("person_id"), _role.c.active.is_(True))
    .order_by(_role.c.id)
)
_SAVE_CONVERSATION = (
    update(_conversation)
    .where(_conversation.c.identity_id == bindparam("key"), _conversation.c.version == bindparam("expected"))
    .values(flow=bindparam("flow"), step=bindparam("step"), data=bindparam("data"),
            version=bindparam("new_version"), updated_at=bindparam("now"))
)
# Updates already handled (see InboundUpdate). The lookup rides along with find_who (no extra
# round trip); the insert is the one more statement each update from a messenger costs.
_inbound = InboundUpdate.__table__  # type: ignore[attr-defined]
_HANDLED_UPDATE = select(_inbound.c.replies).where(_inbound.c.channel == bindparam("channel"),
                                                   _inbound.c.key == bindparam("key"))
_FIND_WHO_KEYED = _FIND_WHO.add_columns(_HANDLED_UPDATE.scalar_subquery())
_RECORD_UPDATE = insert(_inbound)
# The simulator's replies, stored in the message's transaction (Engine.handle's keep_replies), ids in order.
_sim = SimMessage.__table__  # type: ignore[attr-defined]
_INSERT_SIM = insert(_sim).returning(_sim.c.id, sort_by_parameter_order=True)



_HOUSEHOLDS = select(Unit.households).where(Unit.id == bindparam("unit_id"))  # type: ignore[call-overload]


class StaleConversation(Exception):
    """Someone else saved this conversation first (another instance or a parallel message)."""


class Repo(ReportQueries, PeopleQueries, FeedbackQueries, NoticeQueries, CampaignQueries, QueueQueries, InviteQueries,
           PrivacyQueries, RetentionQueries):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._conn: AsyncConnection | None = None
        self._raw: Direct | Literal[False] | None = None

    async def _direct(self) -> Direct | None:
        """The driver connection of this transaction, for the statements every message runs
        (find_who, save_conversation, record_update): see models/repo_direct.py."""
        if self._raw is None:
            self._raw = direct_of(await self._connection()) or False
        return self._raw or None

    async def _connection(self) -> AsyncConnection:
        """The session's connection, for the prebuilt Core statements of the hot path."""
        if self._conn is None:
            self._conn = await self.session.connection()
        return self._conn

    @property
    def summaries(self) -> SummaryQueries:
        """The aggregate queries of the summaries, in this transaction (models/summary_queries.py)."""
        return SummaryQueries(self.session)

    # --- new rows --------------------------------------------------------------------------

    async def add(self, *rows: SQLModel) -> None:
        """Saves new rows in this transaction; their ids are set when this returns."""
        self.session.add_all(rows)
        await self.session.flush()

    async def add_once(self, row: SQLModel) -> bool:
        """Saves a row whose unique key another transaction may have taken first; False then, and the
        rest of this transaction goes on."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError:
            return False
        return True

    # --- people and identities -------------------------------------------------------------

    async def find_who(self, channel: str, external_id: str, *, update_key: str | None = None) -> Who | None:
        """The identity, person and conversation state behind a channel's user id, in one query;
        with `update_key`, also the replies stored if that update was handled already."""
        direct = await self._direct()
        row: Any
        if direct is not None:
            row = await direct.find_who(channel, external_id, update_key)
        else:
            conn = await self._connection()
            if update_key is None:
                found = (await conn.execute(_FIND_WHO, {"channel": channel, "external_id": external_id})).first()
                row = None if found is None else (*found, None)
            else:
                row = (await conn.execute(_FIND_WHO_KEYED, {"channel": channel, "external_id": external_id,
                                                            "key": update_key})).first()
        if row is None:
            return None
        return Who(identity_id=row[0], person_id=row[1], name=row[2], language=row[3], opted_out=bool(row[4]),
                   blocked=bool(row[5]), flow=row[6] or "", step=row[7] or "", data=row[8], version=row[9] or 0,
                   consent_version=row[10] or "", handled=list(row[11]) if row[11] is not None else None)

    async def create_who(
        self, *, channel: str, external_id: str, chat_id: str, display_name: str, language: str
    ) -> Who:
        """The identity and person of someone writing for the first time. Pass `display_name` = ""
        while they have not agreed to the privacy notice: only the account is stored then."""
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
        assert identity.id is not None
        return Who(identity_id=identity.id, person_id=person.id, name=person.name, language=person.language,
                   opted_out=False, blocked=False, created=True)

    async def person_digests(self, person_id: int) -> str:
        return (await self.session.scalar(select(Person.digests).where(Person.id == person_id))) or ""

    async def set_person(self, person_id: int, **values: Any) -> None:
        await self.session.execute(update(Person).where(Person.id == person_id).values(**values))  # type: ignore[arg-type]

    async def set_identity_blocked(self, identity_id: int, blocked: bool) -> None:
        await self.session.execute(
            update(Identity).where(Identity.id == identity_id).values(blocked=blocked)  # type: ignore[arg-type]
        )

    async def identity(self, identity_id: int) -> Identity | None:
        return await self.session.get(Identity, identity_id)

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
        if expected_version == 0:  # versions start at 1: there is no row yet
            if not await self.add_once(Conversation(identity_id=identity_id, flow=flow, step=step, data=data,
                                                    version=new_version)):
                raise StaleConversation(identity_id)
            return new_version
        direct = await self._direct()
        if direct is not None:
            changed = await direct.save_conversation(identity_id, flow, step, data, new_version, expected_version,
                                                     utcnow())
        else:
            conn = await self._connection()
            changed = (await conn.execute(_SAVE_CONVERSATION, {
                "key": identity_id, "expected": expected_version, "flow": flow, "step": step, "data": data,
                "new_version": new_version, "now": utcnow(),
            })).rowcount
        if changed != 1:
            raise StaleConversation(identity_id)
        return new_version

    async def store_sim_messages(self, external_id: str, payloads: list[dict[str, Any]], at: datetime) -> list[int]:
        """The simulator's messages to a user, stored in this transaction (kept iff it commits);
        their ids, in order."""
        direct = await self._direct()
        if direct is not None:
            ids = await direct.store_sim_messages(external_id, payloads, at)
            if ids is not None:
                return ids
        rows = [{"external_id": external_id, "payload": payload, "created_at": at} for payload in payloads]
        conn = await self._connection()
        return [int(row_id) for row_id in (await conn.execute(_INSERT_SIM, rows)).scalars().all()]

    # --- updates handled once -------------------------------------------------------------

    async def record_update(self, channel: str, key: str, replies: list[dict[str, Any]], *, now: datetime) -> None:
        """Marks the update handled in this transaction, with its replies.

        Raises IntegrityError when another transaction recorded it meanwhile (the engine then
        handles the message again, and finds it handled).
        """
        direct = await self._direct()
        if direct is not None:
            await direct.record_update(channel, key, replies, now)
            return
        conn = await self._connection()
        await conn.execute(_RECORD_UPDATE, {"channel": channel, "key": key, "replies": replies, "handled_at": now})

    async def forget_updates(self, before: datetime) -> int:
        """Deletes the records of updates handled before `before` (platforms stop resending long before)."""
        # Ids grow with time: the first row young enough to keep is found from the start of the
        # primary key, and everything below it goes (no index on handled_at to maintain).
        keep = await self.session.scalar(select(InboundUpdate.id).where(
            InboundUpdate.handled_at >= before).order_by(InboundUpdate.id).limit(1))  # type: ignore[arg-type]
        old = (InboundUpdate.id < keep) if keep is not None else (InboundUpdate.handled_at < before)  # type: ignore[operator]
        result = await self.session.execute(delete(InboundUpdate).where(old))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- units and roles -------------------------------------------------------------------

    async def unit(self, unit_id: int) -> Unit | None:
        return await self.session.get(Unit, unit_id)

    async def households_of(self, unit_id: int) -> int | None:
        """The unit's household count (None when unknown or no such unit): one column on the
        transaction's connection, without an ORM object (form checks read it on answers)."""
        conn = await self._connection()
        return (await conn.execute(_HOUSEHOLDS, {"unit_id": unit_id})).scalar()

    async def set_households(self, unit_id: int, households: int) -> None:
        """The group's household count, as its leader gave it in a report."""
        await self.session.execute(update(Unit).where(Unit.id == unit_id).values(households=households))

    async def unit_by_code(self, code: str) -> Unit | None:
        return (await self.session.scalars(select(Unit).where(Unit.code == code))).first()

    async def top_units(self) -> Sequence[Unit]:
        """The units with no parent (normally one: the province or city), oldest first."""
        return (await self.session.scalars(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))).all()

    async def ancestors(self, unit: Unit | UnitRef) -> list[Unit]:
        """The units above `unit`, from the top down."""
        ids = [int(part) for part in unit.path.strip("/").split("/")[:-1] if part]
        if not ids:
            return []
        found = {u.id: u for u in (await self.session.scalars(select(Unit).where(Unit.id.in_(ids)))).all()}  # type: ignore[union-attr]
        return [found[i] for i in ids if i in found]

    async def units_under(self, unit: Unit | UnitRef, *, level: str | None = None) -> Sequence[Unit]:
        low, high = subtree_range(unit.path)
        query = select(Unit).where(Unit.path >= low, Unit.path < high)
        if level:
            query = query.where(Unit.level == level)
        return (await self.session.scalars(query.order_by(Unit.path))).all()

    async def roles_of(self, person_id: int) -> list[HeldRole]:
        conn = await self._connection()
        rows = (await conn.execute(_ROLES_OF, {"person_id": person_id})).all()
        return [HeldRole(role=row[0], unit=UnitRef(id=row[1], code=row[2], name=row[3], level=row[4],
                                                   parent_id=row[5], path=row[6], households=row[7]),
                         duties=frozenset(filter(None, row[8].split(","))))
                for row in rows]

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

    # --- attachments -----------------------------------------------------------------------

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
