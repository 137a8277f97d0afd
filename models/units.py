"""Units from CSV (code,name,level,parent_code,households): checked whole, then written (in one
transaction, or in short chunks that a re-run completes: see bot/cli.py)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Column, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import SQLModel

from models.codes import subtree_range
from models.tables import COPIES_UNIT_PATH, Unit

COLUMNS = ["code", "name", "level", "parent_code", "households"]
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class UnitImportError(Exception):
    """A line of the file is wrong; nothing was imported."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}" if line else problem)
        self.line = line
        self.problem = problem


@dataclass(frozen=True, slots=True)
class UnitRow:
    code: str
    name: str
    level: str
    parent_code: str
    households: int | None
    line: int = 0
    kind: str = ""  # the official type (phường, xã, đặc khu...); "" keeps the stored one


def parse_csv(text: str) -> list[UnitRow]:
    """Reads the CSV text; the first line must name the columns."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise UnitImportError(1, f"missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    rows = []
    for number, raw in enumerate(reader, start=2):
        values = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        if not any(values.values()):
            continue
        households_text = values.get("households", "")
        try:
            households = int(households_text) if households_text else None
        except ValueError:
            raise UnitImportError(number, f"households must be a whole number, not {households_text!r}") from None
        if households is not None and households < 0:
            raise UnitImportError(number, "households cannot be negative")
        rows.append(UnitRow(values["code"], values["name"], values["level"], values.get("parent_code", ""),
                            households, number, values.get("kind", "")))
    return rows


def _check(rows: list[UnitRow], levels: list[str]) -> None:
    seen: dict[str, int] = {}
    for row in rows:
        if not CODE.match(row.code):
            raise UnitImportError(row.line, f"code {row.code!r} must be 1-32 letters, digits, '-', '_' or '.'")
        if row.code in seen:
            raise UnitImportError(row.line, f"code {row.code!r} already appears on line {seen[row.code]}")
        seen[row.code] = row.line
        if not row.name or len(row.name) > 200:
            raise UnitImportError(row.line, "name must be 1-200 characters")
        if row.level not in levels:
            raise UnitImportError(row.line, f"level {row.level!r} is not one of {', '.join(levels)}")
        if row.parent_code == row.code:
            raise UnitImportError(row.line, "a unit cannot be its own parent")


async def import_units(
    session: AsyncSession,
    rows: list[UnitRow],
    *,
    levels: list[str],
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Adds new units and updates existing ones (by code); returns (added, updated).

    Runs inside the caller's transaction: on any error the caller rolls back and nothing is kept.
    """
    await check_units(session, rows, levels=levels)
    return await apply_units(session, in_order(rows, levels), levels=levels, progress=progress)


def in_order(rows: list[UnitRow], levels: list[str]) -> list[UnitRow]:
    """The rows parents first (by level, then by line), the order `apply_units` needs."""
    rank = {level: index for index, level in enumerate(levels)}
    return sorted(rows, key=lambda r: (rank[r.level], r.line))


async def check_units(session: AsyncSession, rows: list[UnitRow], *, levels: list[str]) -> None:
    """Checks the whole file against itself and the stored units, writing nothing: any problem
    raises UnitImportError naming the line, before anything is imported."""
    _check(rows, levels)
    rank = {level: index for index, level in enumerate(levels)}
    by_code = {row.code: row for row in rows}
    wanted = sorted({row.parent_code for row in rows if row.parent_code and row.parent_code not in by_code})
    stored: dict[str, str] = {}
    for chunk in _chunks(wanted, 500):
        for code, level in (await session.execute(
                select(Unit.code, Unit.level).where(Unit.code.in_(chunk)))).all():  # type: ignore[attr-defined]
            stored[code] = level
    for row in rows:
        if not row.parent_code:
            continue
        parent_level = by_code[row.parent_code].level if row.parent_code in by_code else stored.get(row.parent_code)
        if parent_level is None:
            raise UnitImportError(row.line, f"parent code {row.parent_code!r} is neither in the file nor stored")
        if rank.get(parent_level, -1) >= rank[row.level]:
            raise UnitImportError(row.line, f"a {row.level} cannot be under a {parent_level} "
                                            f"({row.parent_code!r}); levels go {' > '.join(levels)}")


async def apply_units(
    session: AsyncSession,
    rows: list[UnitRow],
    *,
    levels: list[str],
    progress: Callable[[int], None] | None = None,
    done_before: int = 0,
    keep_households: bool = False,
) -> tuple[int, int]:
    """Writes checked rows, parents first (see `in_order`): a unit whose code is stored is updated,
    another is added. Applying the same rows again changes nothing more, so an import cut short
    (a crash between two chunks) is finished by running it again. With keep_households (rows from
    the official list, which has no households), a stored unit keeps its count. Returns (added, updated)."""
    wanted = {row.code for row in rows} | {row.parent_code for row in rows if row.parent_code}
    existing: dict[str, Unit] = {}
    for chunk in _chunks(sorted(wanted), 500):
        for unit in (await session.scalars(select(Unit).where(Unit.code.in_(chunk)))).all():  # type: ignore[attr-defined]
            existing[unit.code] = unit
    added = updated = 0
    for done, row in enumerate(rows, start=done_before + 1):
        parent = existing.get(row.parent_code) if row.parent_code else None
        if row.parent_code and parent is None:
            raise UnitImportError(row.line, f"parent code {row.parent_code!r} is neither in the file nor stored")
        unit = existing.get(row.code)
        if unit is None:
            unit = Unit(code=row.code, name=row.name, level=row.level, households=row.households,
                        parent_id=parent.id if parent else None, kind=row.kind)
            session.add(unit)
            await session.flush()
            unit.path = f"{parent.path if parent else '/'}{unit.id}/"
            existing[row.code] = unit
            added += 1
        else:
            unit.name, unit.level = row.name, row.level
            if not keep_households:
                unit.households = row.households
            if row.kind:
                unit.kind = row.kind
            new_parent_id = parent.id if parent else None
            if new_parent_id != unit.parent_id:
                if parent is not None and parent.path.startswith(unit.path):
                    raise UnitImportError(row.line, f"{row.parent_code!r} is under {row.code!r}: that is a loop")
                await _move(session, unit, parent, existing.values())
            updated += 1
        if progress:
            progress(done)
    await session.flush()
    return added, updated


async def _move(session: AsyncSession, unit: Unit, parent: Unit | None, loaded: Iterable[Unit]) -> None:
    """Re-parents a unit and rewrites the paths of everything under it (stored and loaded)."""
    old = unit.path
    new = f"{parent.path if parent else '/'}{unit.id}/"
    low, high = subtree_range(old)
    await session.flush()
    await session.execute(
        update(Unit)
        .where(Unit.path >= low, Unit.path < high)  # type: ignore[arg-type]
        .values(path=new + func.substr(Unit.path, len(old) + 1))
        .execution_options(synchronize_session=False)
    )
    for column in copied_unit_paths():
        # Reports, feedback, notices, campaigns (and any table added later with a marked column):
        # the new area's officials see them, the old area's no longer do.
        await session.execute(
            update(column.table)
            .where(column >= low, column < high)
            .values({column.name: new + func.substr(column, len(old) + 1)})
            .execution_options(synchronize_session=False)
        )
    for other in loaded:
        if other is not unit and other.path.startswith(old):
            set_committed_value(other, "path", new + other.path[len(old):])
    unit.parent_id = parent.id if parent else None
    set_committed_value(unit, "path", new)


def copied_unit_paths() -> list[Column[str]]:
    """Every column that copies a unit's path, found by its mark (models.tables.unit_path_column)."""
    return [column for table in SQLModel.metadata.sorted_tables for column in table.columns
            if column.info.get(COPIES_UNIT_PATH)]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
