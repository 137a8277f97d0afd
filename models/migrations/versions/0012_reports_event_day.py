"""report: the day the event happened (event_day, indexed with the unit path) and the out-of-date
mark of monthly and nil reports

Existing reports get their day from their answers: a monthly report (`_month`) and a nil report
(`month`) the first day of their month, the forms with a date of the event their `ngay` answer,
the others the local day (Asia/Ho_Chi_Minh) they were filed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:00:00.000000
"""
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The forms' `event_field` when this migration was written (forms change; a migration must not).
EVENT_FIELDS = {"an_ninh_vu_viec": "ngay", "dan_chu_hop_to": "ngay", "giam_ngheo_ho_tro": "ngay",
                "giam_ngheo_thoat_ngheo": "ngay", "ve_sinh_chu_nhat_xanh": "ngay"}
NIL_FORM = "an_ninh_khong_vu_viec"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
BATCH = 2000


def _month_start(value: Any) -> date | None:
    try:
        year, month = str(value).split("-")[:2]
        return date(int(year), int(month), 1)
    except (TypeError, ValueError):
        return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return None


def event_day(form_key: str, data: Any, created_at: Any) -> date:
    """The day a stored report is about (see the module's docstring)."""
    answers = data if isinstance(data, dict) else {}
    found = None
    if "_month" in answers:
        found = _month_start(answers["_month"])
    elif form_key == NIL_FORM:
        found = _month_start(answers.get("month"))
    elif form_key in EVENT_FIELDS:
        found = _day(answers.get(EVENT_FIELDS[form_key]))
    if found is not None:
        return found
    if isinstance(created_at, str):
        created_at = datetime.fromisoformat(created_at)
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return created_at.astimezone(TZ).date()


def upgrade() -> None:
    # Added NOT NULL with a placeholder default and filled below, never by rebuilding the table: on
    # SQLite a batch rebuild drops `report`, which report_event and feedback point at (foreign keys
    # are on), so it fails on any database that has reports.
    op.add_column('report', sa.Column('event_day', sa.Date(), server_default=sa.text("'1970-01-01'"),
                                      nullable=False))
    op.add_column('report', sa.Column('out_of_date', sa.Boolean(), server_default=sa.false(), nullable=False))

    bind = op.get_bind()
    report = sa.table('report', sa.column('id', sa.Integer()), sa.column('form_key', sa.String()),
                      sa.column('data', sa.JSON()), sa.column('created_at', sa.DateTime(timezone=True)),
                      sa.column('event_day', sa.Date()))
    last = 0
    while True:
        rows = bind.execute(sa.select(report.c.id, report.c.form_key, report.c.data, report.c.created_at)
                            .where(report.c.id > last).order_by(report.c.id).limit(BATCH)).all()
        if not rows:
            break
        bind.execute(sa.update(report).where(report.c.id == sa.bindparam('rid'))
                     .values(event_day=sa.bindparam('day')),
                     [{"rid": row[0], "day": event_day(row[1], row[2], row[3])} for row in rows])
        last = rows[-1][0]

    if bind.dialect.name != 'sqlite':  # SQLite cannot drop a default without a rebuild; the app always sets it
        op.alter_column('report', 'event_day', server_default=None, existing_type=sa.Date(), existing_nullable=False)
    op.create_index('ix_report_event_path', 'report', ['event_day', 'created_at', 'unit_path'], unique=False)
    op.create_index('ix_report_form_event', 'report', ['form_key', 'event_day', 'created_at', 'unit_path', 'superseded'],
                    unique=False)
    op.create_index('ix_report_path_event', 'report', ['unit_path', 'event_day'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_report_path_event', table_name='report')
    op.drop_index('ix_report_form_event', table_name='report')
    op.drop_index('ix_report_event_path', table_name='report')
    if op.get_bind().dialect.name == 'sqlite':  # SQLite 3.35+ drops a column in place (no rebuild)
        op.execute('ALTER TABLE report DROP COLUMN out_of_date')
        op.execute('ALTER TABLE report DROP COLUMN event_day')
    else:
        op.drop_column('report', 'out_of_date')
        op.drop_column('report', 'event_day')
