"""Database tables. Times are aware UTC (SQLModel's UTCDateTime); the UI shows local time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# JSON on SQLite, JSONB on PostgreSQL.
JsonType = JSON().with_variant(JSONB(), "postgresql")
# The unit path is compared byte-wise (prefix ranges): PostgreSQL needs the "C" collation for that.
PathType = String(512).with_variant(String(512, collation="C"), "postgresql")
# A column that copies its unit's path (so "everything under this ward" needs no join) is marked
# with this key: moving a unit rewrites every marked column in the same transaction (models/units.py).
COPIES_UNIT_PATH = "copies_unit_path"


def unit_path_column(**options: object) -> Column[str]:
    """A copy of the unit's path: rewritten when the unit moves, so scope follows the unit."""
    return Column(PathType, nullable=False, info={COPIES_UNIT_PATH: True}, **options)  # type: ignore[arg-type]

ROLES = ("leader", "deputy", "official", "resident")


def utcnow() -> datetime:
    """The current time in UTC, the form every timestamp is stored in."""
    return datetime.now(UTC)


class Unit(SQLModel, table=True):
    """An administrative unit: the city, a ward or commune, a residential group."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    level: str = Field(max_length=16)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    # Materialised path of ids, "/1/4/17/": everything under a unit is one prefix range.
    path: str = Field(default="", sa_column=Column(PathType, nullable=False, index=True))
    households: int | None = Field(default=None)
    # The official type from the national list (phường, xã, đặc khu, tỉnh...): "" for groups.
    kind: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=200)
    language: str = Field(default="vi", max_length=8)
    # "DỪNG": the person asked for no more messages.
    opted_out: bool = Field(default=False)
    # The scheduled digests an official receives (comma separated: daily, weekly, monthly).
    digests: str = Field(default="daily,weekly,monthly", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Identity(SQLModel, table=True):
    """One person's account on one channel (simulator, Telegram, Zalo)."""

    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    chat_id: str = Field(default="", max_length=64)
    display_name: str = Field(default="", max_length=200)
    blocked: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class RoleAssignment(SQLModel, table=True):
    """A role held by a person over a unit and everything under it."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("person_id", "unit_id", "role", name="uq_role_person_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: str = Field(max_length=16)
    # Extra duties of an official, comma separated: "on_duty" (receives urgent incidents),
    # "social" (may see household-level poverty data).
    duties: str = Field(default="", max_length=64)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)


class Invite(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: str = Field(max_length=16)
    max_uses: int = Field(default=1)  # 0: unlimited
    used: int = Field(default=0)
    expires_at: datetime | None = Field(default=None)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    # Set when a leader revoked the code: it no longer registers anyone.
    revoked_at: datetime | None = Field(default=None)


class InviteAttempt(SQLModel, table=True):
    """A `/start CODE` that did not work: counted per identity and per network address to stop
    guessing (handlers/invite_limits.py). `address` is "" where the channel gives none."""

    __tablename__ = "invite_attempt"
    __table_args__ = (
        Index("ix_invite_attempt_identity", "channel", "external_id", "at"),
        Index("ix_invite_attempt_address", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    address: str = Field(default="", max_length=64)
    at: datetime = Field(default_factory=utcnow)


class Conversation(SQLModel, table=True):
    """Where one identity is in a conversation; survives restarts and is shared by instances."""

    identity_id: int = Field(foreign_key="identity.id", primary_key=True)
    flow: str = Field(default="", max_length=32)
    step: str = Field(default="", max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    version: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow)


class Report(SQLModel, table=True):
    """A filled form. A correction is a new row that supersedes the old one, which is kept."""

    __table_args__ = (
        Index("ix_report_unit_created", "unit_id", "created_at"),
        Index("ix_report_task_created", "task", "created_at"),
        Index("ix_report_path_status", "unit_path", "status", "created_at"),
        Index("ix_report_urgent_status", "urgent", "status", "unit_path"),
        # Summaries (models/summary_queries.py): a period's reports under a unit, and one form's.
        Index("ix_report_created_path", "created_at", "unit_path"),
        Index("ix_report_form_created", "form_key", "created_at", "unit_path", "superseded"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    form_key: str = Field(max_length=64)
    form_version: int = Field(default=1)
    task: str = Field(max_length=32)
    unit_id: int = Field(foreign_key="unit.id")
    # The unit's path, copied so that "everything under this ward" needs no join.
    unit_path: str = Field(default="", sa_column=unit_path_column(server_default=""))
    reporter_id: int = Field(foreign_key="person.id", index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    status: str = Field(default="sent", max_length=16)
    status_reason: str = Field(default="", max_length=500)
    urgent: bool = Field(default=False)
    acknowledged_at: datetime | None = Field(default=None)
    acknowledged_by: int | None = Field(default=None, foreign_key="person.id")
    # Urgent incidents not acknowledged by this time go one level up.
    escalation_level: int = Field(default=0)
    escalate_at: datetime | None = Field(default=None, index=True)
    supersedes_id: int | None = Field(default=None, foreign_key="report.id")
    superseded: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReportEvent(SQLModel, table=True):
    """Every change of a report's status: when, who, what, and why."""

    __tablename__ = "report_event"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    status: str = Field(max_length=16)
    note: str = Field(default="", max_length=500)


class Attachment(SQLModel, table=True):
    """A stored file (a photo); the same content is stored once, found by its hash."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    path: str = Field(max_length=300)
    # Up to 128: the Excel type alone is 65 characters.
    mime: str = Field(max_length=128)
    size: int
    uploaded_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    action: str = Field(max_length=32)
    target: str = Field(default="", max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))


class Notice(SQLModel, table=True):
    """A notice from a leader or an official to the residents and/or leaders of a unit subtree."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    sender_id: int = Field(foreign_key="person.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    unit_path: str = Field(default="", sa_column=unit_path_column(index=True))
    audience: str = Field(default="residents", max_length=16)  # residents | leaders | both
    text: str = Field(max_length=4000)
    photo_id: int | None = Field(default=None, foreign_key="attachment.id")
    urgent: bool = Field(default=False)
    send_at: datetime = Field(default_factory=utcnow)
    total: int = Field(default=0)
    # Progress told to the sender so far: the last tenth reported and when.
    progress_tenths: int = Field(default=0)
    progress_at: datetime | None = Field(default=None)
    finished_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    """A resident's feedback (phản ánh) to their group's leader, and what became of it."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    resident_id: int = Field(foreign_key="person.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    unit_path: str = Field(default="", sa_column=unit_path_column(index=True))
    text: str = Field(default="", max_length=4000)
    photo_id: int | None = Field(default=None, foreign_key="attachment.id")
    location: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))
    status: str = Field(default="new", max_length=16)  # new | answered | passed | closed
    answer: str = Field(default="", max_length=2000)
    handled_by: int | None = Field(default=None, foreign_key="person.id")
    report_id: int | None = Field(default=None, foreign_key="report.id")  # when passed to the ward
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Outbox(SQLModel, table=True):
    """One message to one identity, written in the transaction that caused it; the dispatcher
    claims due rows, sends them within each channel's limits and records what happened."""

    __table_args__ = (
        Index("ix_outbox_due", "status", "due_at"),
        Index("ix_outbox_notice_status", "notice_id", "status"),
        Index("ix_outbox_chat", "channel", "chat_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=96, unique=True)  # what it is and for whom: sending it twice is impossible
    identity_id: int = Field(foreign_key="identity.id", index=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    payload: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    kind: str = Field(default="direct", max_length=16)  # direct | broadcast (opt-out applies)
    notice_id: int | None = Field(default=None, foreign_key="notice.id")
    # pending → claimed (by an instance) → sending (its request is going out) → sent | retry → … |
    # blocked | failed | skipped. After a crash only `sending` rows may have arrived already.
    status: str = Field(default="pending", max_length=16)
    due_at: datetime = Field(default_factory=utcnow)
    attempts: int = Field(default=0)
    lease_until: datetime | None = Field(default=None)
    claimed_by: str = Field(default="", max_length=64)
    sent_at: datetime | None = Field(default=None)
    message_id: str = Field(default="", max_length=255)  # the platform's ids of every piece sent
    # Pieces of the message already sent (a numbered menu split in parts, a photo then its text):
    # a retry starts after them.
    progress: int = Field(default=0)
    error: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class OutboxInstance(SQLModel, table=True):
    """A running dispatcher and when it last said it was alive: rows claimed by one that went
    silent are taken up at once, and the channels' rates are shared among the live ones."""

    __tablename__ = "outbox_instance"

    name: str = Field(primary_key=True, max_length=64)
    seen_at: datetime = Field(default_factory=utcnow)


class Campaign(SQLModel, table=True):
    """A recurring or dated campaign: reminders before each event and a follow-up after it."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    # Campaigns from config.toml are kept in step with it by this key; chat-made ones have none.
    config_key: str | None = Field(default=None, max_length=64, unique=True)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    kind: str = Field(default="event", max_length=24)  # event | report_deadline
    unit_id: int = Field(foreign_key="unit.id")
    unit_path: str = Field(default="", sa_column=unit_path_column(index=True))
    audience: str = Field(default="both", max_length=16)  # residents | leaders | both
    # {"kind": "weekly", "weekday": 6, "time": "07:00"}, monthly {"day": 5} or {"rule": "last", "weekday": 6},
    # yearly {"month": 6, "day": 5}, once {"dates": ["2026-12-01"]}
    schedule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    # [{"days_before": 1, "time": "19:00"}, {"days_before": 0, "time": "06:00"}]
    reminders: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    # {"hours_after": 3, "form": "ve_sinh_chu_nhat_xanh"}; for report deadlines the days of each step
    follow_up: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    status: str = Field(default="active", max_length=16)  # active | paused | ended
    ends_on: date | None = Field(default=None)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Occurrence(SQLModel, table=True):
    """One moment of a campaign that was due: sent (to how many) or skipped (and why). Its unique
    key makes a second instance or a restart unable to send it twice."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=96, unique=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    step: str = Field(max_length=24)  # reminder | follow_up | deadline | nudge | late
    due_at: datetime = Field(index=True)
    event_at: datetime
    status: str = Field(max_length=16)  # sent | skipped
    reason: str = Field(default="", max_length=300)
    recipients: int = Field(default=0)
    processed_at: datetime = Field(default_factory=utcnow)


class SimMessage(SQLModel, table=True):
    """A message the bot sent to a simulator user, kept so the page can read it after any id."""

    __tablename__ = "sim_message"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=64, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class InboundUpdate(SQLModel, table=True):
    """An update from a messenger that was handled, keyed by the platform's id: the same update
    fetched again after a restart, or a replayed webhook, is recognised and has no effect twice.
    The replies are kept so that they can still be sent when the app stopped before sending them.
    Ids grow with time, so old rows are found from the start of the primary key (no index on
    `handled_at`: one index fewer to write for every update)."""

    __tablename__ = "inbound_update"
    __table_args__ = (UniqueConstraint("channel", "key", name="uq_inbound_update_channel_key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    key: str = Field(max_length=96)  # e.g. "<bot id>:<update_id>", a Zalo message_id
    replies: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    handled_at: datetime = Field(default_factory=utcnow)


class PushedButtons(SQLModel, table=True):
    """The buttons of the last delivery (a notice, a reminder) to a chat of a text-only channel,
    whose numbers the user may type back: kept until the chat's next message, across restarts
    and for every instance (the buttons of a reply live in the conversation row)."""

    __tablename__ = "pushed_buttons"

    channel: str = Field(primary_key=True, max_length=16)
    chat_id: str = Field(primary_key=True, max_length=64)
    # [[button id, label], ...] in the order they were shown.
    buttons: list[list[str]] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    pushed_at: datetime = Field(default_factory=utcnow)
