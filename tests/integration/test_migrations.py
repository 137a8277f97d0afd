"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL, and go
down and up again."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from models import tables  # noqa: F401  (registers the tables)
from models.db import alembic_config, create_engine, upgrade_sync


def _differences(url: str) -> list[object]:
    async def run() -> list[object]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              SQLModel.metadata))
        await engine.dispose()
        return list(diff)

    return asyncio.run(run())


def test_migrations_match_the_models_and_downgrade(database_url: str) -> None:
    assert _differences(database_url) == []
    command.downgrade(alembic_config(database_url), "base")
    upgrade_sync(database_url)
    assert _differences(database_url) == []


def test_the_event_day_of_existing_reports_comes_from_their_answers(database_url: str) -> None:
    """Migration 0012: a monthly report's month, a nil report's month, the form's date of the event,
    else the local day it was filed (23:30 on 30/11 in Đà Nẵng is 16:30 UTC; 00:30 on 1/12 is 30/11
    in UTC but December here)."""
    import sqlalchemy as sa

    command.downgrade(alembic_config(database_url), "0011")
    engine = sa.create_engine(database_url.replace("+aiosqlite", ""))
    rows = [
        ("bao_cao_thang", '{"_month": "2026-10"}', "2026-11-03 02:00:00"),
        ("an_ninh_khong_vu_viec", '{"form": "an_ninh_vu_viec", "month": "2026-11"}', "2026-12-02 02:00:00"),
        ("ve_sinh_chu_nhat_xanh", '{"ngay": "2026-11-29"}', "2026-12-02 02:00:00"),
        ("ve_sinh_chu_nhat_xanh", '{"ngay": "not a day"}', "2026-11-30 16:30:00"),
        ("ve_sinh_diem_den", '{}', "2026-11-30 17:30:00"),
    ]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO unit (code, name, level, path, kind, created_at) "
                             "VALUES ('G1', 'Tổ 1', 'group', '/1/', '', '2026-01-01 00:00:00')"))
        conn.execute(sa.text("INSERT INTO person (name, language, opted_out, digests, created_at) "
                             "VALUES ('A', 'vi', false, '', '2026-01-01 00:00:00')"))
        unit = conn.execute(sa.text("SELECT id FROM unit")).scalar()
        person = conn.execute(sa.text("SELECT id FROM person")).scalar()
        for n, (form, data, at) in enumerate(rows):
            conn.execute(sa.text(
                "INSERT INTO report (code, form_key, form_version, task, unit_id, unit_path, reporter_id, data, "
                "status, status_reason, urgent, escalation_level, superseded, created_at, updated_at) VALUES "
                "(:code, :form, 1, 'x', :unit, '/1/', :person, :data, 'sent', '', false, 0, false, :at, :at)"),
                {"code": f"C{n}", "form": form, "unit": unit, "person": person, "data": data, "at": at})
        # A report's history points at it: the migration must not rebuild the table (SQLite).
        conn.execute(sa.text("INSERT INTO report_event (report_id, at, status, note) "
                             "SELECT id, created_at, 'sent', '' FROM report"))
    upgrade_sync(database_url)
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT code, event_day, out_of_date FROM report ORDER BY code")).all()
    engine.dispose()
    days = [str(day)[:10] for _code, day, _stale in found]
    assert days == ["2026-10-01", "2026-11-01", "2026-11-29", "2026-11-30", "2026-12-01"]
    assert not any(stale for _code, _day, stale in found)
    assert _differences(database_url) == []
    assert _differences(database_url) == []
