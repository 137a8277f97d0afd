"""Scope follows the unit: moving a group to another ward moves every row that copies its path,
so the new ward's officials see its reports, feedback, notices and campaigns and the old ward's
no longer do (issue 12, item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import SQLModel

from models.repos import Repo
from models.tables import (
    COPIES_UNIT_PATH,
    Campaign,
    Feedback,
    Notice,
    Occurrence,
    PathType,
    Person,
    Report,
    RoleAssignment,
    Unit,
)
from models.units import copied_unit_paths, import_units, parse_csv

LEVELS = ["city", "district", "ward", "group"]
TREE = """code,name,level,parent_code,households
MV,Thành phố Thử,city,,
MV-A,Phường An Hải,ward,MV,
MV-A-1,Tổ dân phố 1,group,MV-A,40
MV-B,Phường Bình Hiên,ward,MV,
"""
MOVE = "code,name,level,parent_code,households\nMV-A-1,Tổ dân phố 1,group,MV-B,40\n"


def _row(table: type[SQLModel], unit: Unit, person_id: int) -> SQLModel:
    """One row of `table` that belongs to the group `unit`."""
    common: dict[str, Any] = {"code": f"MV{table.__name__[:4].upper()}", "unit_id": unit.id, "unit_path": unit.path}
    if table is Report:
        return Report(form_key="an_ninh_vu_viec", task="an_ninh", reporter_id=person_id, data={}, **common)
    if table is Feedback:
        return Feedback(resident_id=person_id, text="Cống trước nhà số 8 bị nghẹt", **common)
    if table is Notice:
        return Notice(sender_id=person_id, text="Họp tổ tối thứ Sáu", **common)
    if table is Campaign:
        return Campaign(name="Ngày Chủ nhật Xanh - Sạch - Đẹp", schedule={"kind": "weekly", "weekday": 6}, **common)
    raise AssertionError(f"no sample row for {table.__name__}: add one so the move is tested for it")


def test_every_copied_path_is_marked() -> None:
    """A table that copies a unit's path must mark it, or a move would leave its rows behind."""
    paths = {(c.table.name, c.name) for t in SQLModel.metadata.sorted_tables for c in t.columns
             if c.type is PathType or (c.name.endswith("unit_path"))}
    marked = {(c.table.name, c.name) for c in copied_unit_paths()}
    assert paths - {("unit", "path")} == marked
    assert {name for name, _column in marked} == {"report", "feedback", "notice", "campaign"}
    # Occurrences copy no path: they reach the campaign's area through the campaign.
    assert "campaign_id" in Occurrence.__table__.columns


@pytest.mark.parametrize("column", copied_unit_paths(), ids=lambda c: c.table.name)
async def test_moving_a_group_moves_its_rows_to_the_new_ward(app, column) -> None:
    table = next(m.class_ for m in SQLModel._sa_registry.mappers if m.local_table is column.table)
    async with app.sessions() as session, session.begin():
        await import_units(session, parse_csv(TREE), levels=LEVELS)
        repo = Repo(session)
        group, ward_a, ward_b = [await repo.unit_by_code(c) for c in ("MV-A-1", "MV-A", "MV-B")]
        person = Person(name="Chị Lan")
        officials = [Person(name="Anh Tuấn (An Hải)"), Person(name="Chị Mai (Bình Hiên)")]
        session.add_all([person, *officials])
        await session.flush()
        session.add_all([RoleAssignment(person_id=officials[0].id, unit_id=ward_a.id, role="official"),
                         RoleAssignment(person_id=officials[1].id, unit_id=ward_b.id, role="official")])
        row = _row(table, group, person.id)
        session.add(row)
        await session.flush()
        row_id, old_a, old_b = row.id, officials[0].id, officials[1].id
    async with app.sessions() as session, session.begin():
        await import_units(session, parse_csv(MOVE), levels=LEVELS)
    async with app.sessions() as session:
        repo = Repo(session)
        moved = await session.get(table, row_id)
        group = await repo.unit_by_code("MV-A-1")
        path = getattr(moved, COPIES_UNIT_PATH.removeprefix("copies_"))
        assert path == group.path
        ward_a_official = await repo.roles_of(old_a)
        ward_b_official = await repo.roles_of(old_b)
        assert any(held.covers(path) for held in ward_b_official), "the new ward's official must see it"
        assert not any(held.covers(path) for held in ward_a_official), "the old ward's official must not"
