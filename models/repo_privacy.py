"""A person's rights over their data (part of Repo): what the system holds about them, a copy of
it, and its deletion. Law 91/2025/QH15 and Decree 356/2025; what goes and what stays is in
docs/privacy.md.

Deleting a person keeps the reports the ward must keep: every row that points at the person is
pointed at one shared placeholder person, "Người dùng đã xoá" (`tombstone`), so nothing links the
kept rows to each other or to whoever they were. The foreign keys to `person` are found in the
models' metadata, so a table added later is covered without a change here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, null, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from models.tables import (
    Attachment,
    AuditLog,
    Conversation,
    Feedback,
    Identity,
    Notice,
    Outbox,
    Person,
    PushedButtons,
    Report,
    RoleAssignment,
    SimMessage,
    Unit,
)

# The placeholder that kept rows point at once their person is deleted; marked by its consent
# version (no person can agree to a notice of that name).
TOMBSTONE_MARK = "erased"
TOMBSTONE_NAME = "Người dùng đã xoá"
# Rows that are the person themself: deleted, not pointed elsewhere.
_OWN_ROWS = {"identity", "role_assignment"}


@dataclass(slots=True)
class Holdings:
    """What the system holds about one person, as they are shown it."""

    name: str
    language: str
    consented_at: datetime | None
    created_at: datetime | None
    channels: list[tuple[str, str]]  # (channel, display name)
    roles: list[tuple[str, str]]  # (role, unit name)
    reports: int = 0
    feedback: int = 0
    notices: int = 0
    photos: int = 0
    messages: int = 0


@dataclass(slots=True)
class Erased:
    """What a deletion removed, in counts (the audit line holds these and nothing personal), and
    the files to delete from disk."""

    counts: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def removed_photo(value: Any, ids: set[int]) -> Any:
    """A report's answer with the photo taken out when it is one of `ids`."""
    if isinstance(value, dict) and value.get("attachment") in ids:
        return {"removed": True}
    return value


class PrivacyQueries:
    session: AsyncSession

    async def record_consent(self, person_id: int, identity_id: int, *, version: str, at: datetime,
                             name: str) -> None:
        """Stores the consent (when, which notice) and, from then on, the person's name."""
        values: dict[str, Any] = {"consented_at": at, "consent_version": version}
        if name:
            values["name"] = name[:200]
            await self.session.execute(update(Identity).where(col(Identity.id) == identity_id)
                                       .values(display_name=name[:200]))
        await self.session.execute(update(Person).where(col(Person.id) == person_id).values(**values))

    async def holdings(self, person_id: int) -> Holdings | None:
        """The person's main fields and how many of each kind of row is theirs."""
        person = await self.session.get(Person, person_id)
        if person is None:
            return None
        identities = (await self.session.scalars(select(Identity).where(col(Identity.person_id) == person_id)
                                                 .order_by(col(Identity.id)))).all()
        roles = (await self.session.execute(
            select(col(RoleAssignment.role), col(Unit.name)).join(Unit, col(Unit.id) == col(RoleAssignment.unit_id))
            .where(col(RoleAssignment.person_id) == person_id, col(RoleAssignment.active).is_(True))
            .order_by(col(RoleAssignment.id)))).all()
        found = Holdings(name=person.name, language=person.language, consented_at=person.consented_at,
                         created_at=person.created_at,
                         channels=[(identity.channel, identity.display_name) for identity in identities],
                         roles=[(row[0], row[1]) for row in roles])
        found.reports = await self._count(Report, col(Report.reporter_id) == person_id)
        found.feedback = await self._count(Feedback, col(Feedback.resident_id) == person_id)
        found.notices = await self._count(Notice, col(Notice.sender_id) == person_id)
        found.photos = await self._count(Attachment, col(Attachment.uploaded_by) == person_id)
        found.messages = await self._messages(identities)
        return found

    async def _count(self, table: type[SQLModel], condition: Any) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(table).where(condition)) or 0)

    async def _messages(self, identities: Sequence[Identity]) -> int:
        """Messages kept for the person: the simulator's copies and the outbox rows to them."""
        ids = [identity.id for identity in identities]
        sim = [identity.external_id for identity in identities if identity.channel == "sim"]
        count = await self._count(Outbox, col(Outbox.identity_id).in_(ids)) if ids else 0
        if sim:
            count += await self._count(SimMessage, col(SimMessage.external_id).in_(sim))
        return count

    async def export_of(self, person_id: int) -> dict[str, Any]:
        """Everything the system holds about the person, as plain JSON values (nobody else's)."""
        person = await self.session.get(Person, person_id)
        if person is None:
            return {}
        identities = (await self.session.scalars(select(Identity).where(col(Identity.person_id) == person_id)
                                                 .order_by(col(Identity.id)))).all()
        roles = (await self.session.execute(
            select(col(RoleAssignment.role), col(RoleAssignment.duties), col(RoleAssignment.created_at),
                   col(Unit.code), col(Unit.name))
            .join(Unit, col(Unit.id) == col(RoleAssignment.unit_id))
            .where(col(RoleAssignment.person_id) == person_id, col(RoleAssignment.active).is_(True)))).all()
        reports = (await self.session.scalars(select(Report).where(col(Report.reporter_id) == person_id)
                                              .order_by(col(Report.id)))).all()
        feedback = (await self.session.scalars(select(Feedback).where(col(Feedback.resident_id) == person_id)
                                               .order_by(col(Feedback.id)))).all()
        notices = (await self.session.scalars(select(Notice).where(col(Notice.sender_id) == person_id)
                                              .order_by(col(Notice.id)))).all()
        photos = (await self.session.scalars(select(Attachment).where(col(Attachment.uploaded_by) == person_id)
                                             .order_by(col(Attachment.id)))).all()
        sim = [identity.external_id for identity in identities if identity.channel == "sim"]
        messages = (await self.session.scalars(select(SimMessage).where(col(SimMessage.external_id).in_(sim))
                                               .order_by(col(SimMessage.id)))).all() if sim else []
        ids = [identity.id for identity in identities]
        queued = (await self.session.scalars(select(Outbox).where(col(Outbox.identity_id).in_(ids))
                                             .order_by(col(Outbox.id)))).all() if ids else []
        return {
            "person": {"name": person.name, "language": person.language, "opted_out": person.opted_out,
                       "digests": person.digests, "consented_at": _iso(person.consented_at),
                       "consent_version": person.consent_version, "created_at": _iso(person.created_at)},
            "accounts": [{"channel": i.channel, "display_name": i.display_name, "created_at": _iso(i.created_at)}
                         for i in identities],
            "roles": [{"role": r[0], "duties": r[1], "since": _iso(r[2]), "unit_code": r[3], "unit": r[4]}
                      for r in roles],
            "reports": [{"code": r.code, "form": r.form_key, "status": r.status, "created_at": _iso(r.created_at),
                         "answers": r.data} for r in reports],
            "feedback": [{"code": f.code, "text": f.text, "status": f.status, "answer": f.answer,
                          "location": f.location, "created_at": _iso(f.created_at)} for f in feedback],
            "notices": [{"code": n.code, "text": n.text, "audience": n.audience, "created_at": _iso(n.created_at)}
                        for n in notices],
            "photos": [{"id": a.id, "type": a.mime, "bytes": a.size, "created_at": _iso(a.created_at)}
                       for a in photos],
            "messages_to_you": [{"at": _iso(m.created_at), "text": str(m.payload.get("text", ""))}
                                for m in messages],
            "messages_sent_to_you": [{"at": _iso(o.created_at), "channel": o.channel, "status": o.status,
                                      "text": "\n".join(str(piece.get("text", "")) for piece in o.payload)}
                                     for o in queued],
        }

    async def tombstone(self) -> int:
        """The id of the placeholder person kept rows point at (made the first time it is needed)."""
        found = await self.session.scalar(select(col(Person.id)).where(col(Person.consent_version) == TOMBSTONE_MARK)
                                          .order_by(col(Person.id)).limit(1))
        if found is not None:
            return int(found)
        person = Person(name=TOMBSTONE_NAME, consent_version=TOMBSTONE_MARK, opted_out=True, digests="")
        self.session.add(person)
        await self.session.flush()
        assert person.id is not None
        return person.id

    async def erase_person(self, person_id: int, *, at: datetime) -> Erased:
        """Deletes the person, their accounts, messages, photos and the text of their feedback; their
        reports (and every other row that must stay) point at the placeholder instead. Audited."""
        erased = Erased()
        counts = erased.counts
        tomb = await self.tombstone()
        identities = (await self.session.scalars(select(Identity).where(col(Identity.person_id) == person_id))).all()
        identity_ids = [identity.id for identity in identities]
        chats = [(identity.channel, identity.chat_id) for identity in identities]
        sim_users = [identity.external_id for identity in identities if identity.channel == "sim"]
        first_unit = await self.session.scalar(select(col(RoleAssignment.unit_id)).where(
            col(RoleAssignment.person_id) == person_id).order_by(col(RoleAssignment.id)).limit(1))

        photos = (await self.session.execute(select(col(Attachment.id), col(Attachment.path)).where(
            col(Attachment.uploaded_by) == person_id))).all()
        photo_ids = {int(row[0] or 0) for row in photos}
        if photo_ids:
            await self._unlink_photos(person_id, photo_ids)
            await self.session.execute(delete(Attachment).where(col(Attachment.id).in_(photo_ids)))
            erased.files = [str(row[1]) for row in photos]
        counts["photos"] = len(photo_ids)
        counts["feedback"] = await self._rowcount(
            update(Feedback).where(col(Feedback.resident_id) == person_id)
            .values(text="", location=null(), photo_id=None, resident_id=tomb))
        if identity_ids:
            counts["messages"] = await self._rowcount(delete(Outbox).where(col(Outbox.identity_id).in_(identity_ids)))
            await self.session.execute(delete(Conversation).where(col(Conversation.identity_id).in_(identity_ids)))
            for table, column in _references("identity", skip={"outbox", "conversation"}):
                await self.session.execute(delete(table).where(table.c[column].in_(identity_ids)))
            await self.session.execute(delete(PushedButtons).where(
                tuple_(col(PushedButtons.channel), col(PushedButtons.chat_id)).in_(chats)))
        if sim_users:
            counts["messages"] = counts.get("messages", 0) + await self._rowcount(
                delete(SimMessage).where(col(SimMessage.external_id).in_(sim_users)))
        counts["reports"] = await self._count(Report, col(Report.reporter_id) == person_id)
        counts["roles"] = await self._rowcount(delete(RoleAssignment).where(col(RoleAssignment.person_id) == person_id))
        counts["accounts"] = await self._rowcount(delete(Identity).where(col(Identity.person_id) == person_id))
        for table, column in _references("person", skip=_OWN_ROWS):
            await self.session.execute(update(table).where(table.c[column] == person_id).values({column: tomb}))
        await self.session.execute(delete(Person).where(col(Person.id) == person_id))
        target = f"unit:{first_unit}" if first_unit is not None else ""
        self.session.add(AuditLog(at=at, person_id=None, action="data_erased", target=target, detail=dict(counts)))
        await self.session.flush()
        return erased

    async def _unlink_photos(self, person_id: int, photo_ids: set[int]) -> None:
        """Takes the person's photos out of every row that shows them: notices, feedback, and the
        answers of their reports and of reports made from their feedback."""
        await self.session.execute(update(Notice).where(col(Notice.photo_id).in_(photo_ids)).values(photo_id=None))
        await self.session.execute(update(Feedback).where(col(Feedback.photo_id).in_(photo_ids)).values(photo_id=None))
        from_feedback = select(col(Feedback.report_id)).where(col(Feedback.resident_id) == person_id,
                                                              col(Feedback.report_id).is_not(None))
        reports = (await self.session.scalars(select(Report).where(
            (col(Report.reporter_id) == person_id) | col(Report.id).in_(from_feedback)))).all()
        for report in reports:
            data = {key: removed_photo(value, photo_ids) for key, value in report.data.items()}
            if data != report.data:
                await self.session.execute(update(Report).where(col(Report.id) == report.id).values(data=data))

    async def _rowcount(self, statement: Any) -> int:
        result = await self.session.execute(statement.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)


def _references(target: str, *, skip: set[str]) -> list[tuple[Table, str]]:
    """Every (table, column) with a foreign key to `target`.id, but the tables in `skip`."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in skip or table.name == target:
            continue
        for key in table.foreign_keys:
            if key.column.table.name == target and key.column.name == "id":
                found.append((table, key.parent.name))
    return found


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
