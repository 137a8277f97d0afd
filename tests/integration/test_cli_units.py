"""The command line: importing units from CSV (all or nothing), invites, demo data, --help."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app as cli
from models.codes import CODE_ALPHABET
from models.repos import Repo
from models.tables import Invite, Unit
from models.units import UnitImportError, import_units, parse_csv

LEVELS = ["city", "district", "ward", "group"]
CSV = """code,name,level,parent_code,households
QN,Thành phố Đà Nẵng (mới),city,,
Q-HA,Phường Hội An,ward,QN,
Q-HA-1,Khối phố Sơn Phong 1,group,Q-HA,120
Q-HA-2,Khối phố Sơn Phong 2,group,Q-HA,95
Q-TB,Xã Tam Bình,ward,QN,
Q-TB-1,Thôn Ngọc Mỹ,group,Q-TB,210
"""


async def test_import_builds_the_tree_and_reimport_updates_and_moves(app) -> None:
    async with app.sessions() as session, session.begin():
        added, updated = await import_units(session, parse_csv(CSV), levels=LEVELS)
    assert (added, updated) == (6, 0)
    moved = CSV.replace("Q-HA-2,Khối phố Sơn Phong 2,group,Q-HA,95", "Q-HA-2,Khối phố Sơn Phong II,group,Q-TB,97")
    async with app.sessions() as session, session.begin():
        assert await import_units(session, parse_csv(moved), levels=LEVELS) == (0, 6)
    async with app.sessions() as session:
        repo = Repo(session)
        tam_binh = await repo.unit_by_code("Q-TB")
        hoi_an = await repo.unit_by_code("Q-HA")
        under_tb = {u.code for u in await repo.units_under(tam_binh, level="group")}
        under_ha = {u.code for u in await repo.units_under(hoi_an, level="group")}
        city = await repo.unit_by_code("QN")
        everything = {u.code for u in await repo.units_under(city)}
        two = await repo.unit_by_code("Q-HA-2")
    assert under_tb == {"Q-TB-1", "Q-HA-2"} and under_ha == {"Q-HA-1"}
    assert everything == {"QN", "Q-HA", "Q-HA-1", "Q-HA-2", "Q-TB", "Q-TB-1"}
    assert two.name == "Khối phố Sơn Phong II" and two.households == 97 and two.path.startswith(tam_binh.path)


async def test_moving_a_ward_moves_its_groups(app) -> None:
    async with app.sessions() as session, session.begin():
        await import_units(session, parse_csv(CSV + "QX,Đặc khu Hoàng Sa,city,,\n"), levels=LEVELS)
    async with app.sessions() as session, session.begin():
        await import_units(session, parse_csv("code,name,level,parent_code,households\nQ-HA,Phường Hội An,ward,QX,\n"),
                           levels=LEVELS)
    async with app.sessions() as session:
        repo = Repo(session)
        qx = await repo.unit_by_code("QX")
        assert {u.code for u in await repo.units_under(qx)} == {"QX", "Q-HA", "Q-HA-1", "Q-HA-2"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Q-X,Tổ 9,group,NOPE,10", "line 8: parent code 'NOPE' is neither in the file nor stored"),
        ("Q-X,Tổ 9,village,Q-HA,10", "line 8: level 'village' is not one of"),
        ("Q-X,Tổ 9,group,Q-HA,nhiều", "line 8: households must be a whole number"),
        ("Q-HA-1,Tổ 9,group,Q-HA,10", "line 8: code 'Q-HA-1' already appears on line 4"),
        ("Q-X,Tổ 9,ward,Q-HA-1,", "line 8: a ward cannot be under a group"),
        ("Q X,Tổ 9,group,Q-HA,", "line 8: code 'Q X' must be"),
    ],
)
async def test_a_bad_line_is_named_and_nothing_is_imported(app, line: str, expected: str) -> None:
    async with app.sessions() as session:
        before = await session.scalar(select(func.count()).select_from(Unit))
    with pytest.raises(UnitImportError) as error:
        async with app.sessions() as session, session.begin():
            await import_units(session, parse_csv(CSV + line + "\n"), levels=LEVELS)
    assert expected in str(error.value)
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Unit)) == before


def env_for(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
            "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data")}


def test_cli_import_invite_demo_and_help(tmp_path: Path) -> None:
    runner = CliRunner()
    env = env_for(tmp_path)
    good = tmp_path / "units.csv"
    good.write_text(CSV, encoding="utf-8")
    result = runner.invoke(cli, ["units", "import", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "Imported 6 units: 6 added, 0 updated." in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.replace("QN,Thành phố", "QN2,Thành phố") + "Z-1,Tổ 1,group,Z,5\n", encoding="utf-8")
    result = runner.invoke(cli, ["units", "import", str(bad)], env=env)
    assert result.exit_code == 1
    assert "line 3: parent code 'QN' is neither in the file nor stored" not in result.output  # QN is stored
    assert "line 8: parent code 'Z' is neither in the file nor stored; nothing was imported" in result.output
    result = runner.invoke(cli, ["invite", "create", "--unit", "Q-HA-1", "--role", "leader", "--uses", "2"], env=env)
    assert result.exit_code == 0, result.output
    code = result.stdout.strip().splitlines()[0]
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)  # invite codes: 8 characters (issue 12)
    result = runner.invoke(cli, ["invite", "create", "--unit", "NOPE", "--role", "leader"], env=env)
    assert result.exit_code == 1 and "no unit with code 'NOPE'" in result.output
    result = runner.invoke(cli, ["invite", "create", "--unit", "Q-HA-1", "--role", "mayor"], env=env)
    assert result.exit_code == 2
    result = runner.invoke(cli, ["demo"], env=env)
    assert result.exit_code == 0 and "HUNG05" in result.output
    result = runner.invoke(cli, ["demo"], env=env)  # idempotent
    assert result.exit_code == 0
    for command in ([], ["run"], ["db", "upgrade"], ["demo"], ["units", "import"], ["invite", "create"]):
        helped = runner.invoke(cli, [*command, "--help"], env=env)
        assert helped.exit_code == 0 and "Usage" in helped.output, command

    import asyncio

    from models.db import create_engine, session_factory

    async def count() -> tuple[int, int, int]:
        engine = create_engine(env["TOTRUONG_DATABASE__URL"])
        async with session_factory(engine)() as session:
            invite = (await session.scalars(select(Invite).where(Invite.code == code))).one()
            units = await session.scalar(select(func.count()).select_from(Unit))
        await engine.dispose()
        return invite.max_uses, units, 0

    uses, units, _ = asyncio.run(count())
    assert uses == 2 and units == 6 + 14  # the good file and the demo; nothing of the bad file


def test_bad_settings_stop_the_cli_with_the_key_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={**env_for(tmp_path), "TOTRUONG_WEB__PORT": "x"})
    assert result.exit_code == 2
    assert "web.port (from environment variable TOTRUONG_WEB__PORT)" in result.output
