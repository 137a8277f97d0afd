"""Real units: `totruong units import --province` from the national list (vietnam-provinces), groups
from a CSV under the official ward codes, campaigns on the top unit, and a configured campaign unit
that does not exist stopping start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app as cli
from models.db import create_engine, session_factory
from models.provinces import ProvinceError, find
from models.settings import PROJECT_ROOT, SettingsError
from models.tables import Campaign, Unit

ROOT = Path(__file__).resolve().parents[2]
GROUPS = """code,name,level,parent_code,households
HC-TT3,Tổ dân phố Thạch Thang 3,group,20242,142
HC-HC7,Tổ dân phố Hải Châu 7,group,20242,118
HV-T1,Thôn Tà Lang,group,20194,60
"""


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")},
            "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/units.db",
            "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"), **extra}


def stored(url: str) -> dict[str, Unit]:
    import asyncio

    async def go() -> dict[str, Unit]:
        engine = create_engine(url)
        async with session_factory(engine)() as session:
            units = {u.code: u for u in (await session.scalars(select(Unit))).all()}
        await engine.dispose()
        return units

    return asyncio.run(go())


def test_province_by_code_or_name() -> None:
    assert find("48").name == find("Đà Nẵng").name == find("da nang").name == "Thành phố Đà Nẵng"
    assert find("Thành phố Hồ Chí Minh").code == "79"
    with pytest.raises(ProvinceError, match="no province has the code 99"):
        find("99")
    with pytest.raises(ProvinceError, match="no province is called 'Atlantis'"):
        find("Atlantis")


def test_import_da_nang_then_groups_then_again(tmp_path: Path) -> None:
    runner = CliRunner()
    env = env_for(tmp_path)
    result = runner.invoke(cli, ["units", "import", "--province", "Đà Nẵng"], env=env)
    assert result.exit_code == 0, result.output
    assert "Imported 48 Thành phố Đà Nẵng: 95 units (1 thành phố trung ương, 70 xã, 23 phường, 1 đặc khu" in (
        result.output)
    assert "95 added, 0 updated." in result.output
    units = stored(env["TOTRUONG_DATABASE__URL"])
    city = units["48"]
    wards = [u for u in units.values() if u.parent_id == city.id]
    assert len(units) == 95 and len(wards) == 94 and city.parent_id is None and city.level == "city"
    assert Counter(u.kind for u in wards) == {"xã": 70, "phường": 23, "đặc khu": 1}
    assert (units["20242"].name, units["20242"].kind, units["20242"].level) == ("Phường Hải Châu", "phường", "ward")
    assert (units["20333"].name, units["20333"].kind) == ("Đặc khu Hoàng Sa", "đặc khu")
    assert units["20194"].name == "Phường Hải Vân" and units["20209"].name == "Phường Thanh Khê"
    assert all(u.path.startswith(city.path) for u in wards)
    assert "Created 4 campaigns of the configuration on the imported units." in result.output  # Green Sunday…

    groups = tmp_path / "groups.csv"
    groups.write_text(GROUPS, encoding="utf-8")
    result = runner.invoke(cli, ["units", "import", str(groups)], env=env)
    assert result.exit_code == 0, result.output
    assert "Imported 3 units: 3 added, 0 updated." in result.output

    # Re-importing: a name changed by hand goes back to the official one; groups and households stay.
    import sqlite3
    with sqlite3.connect(tmp_path / "units.db") as connection:
        connection.execute("UPDATE unit SET name = 'P. Hải Châu (cũ)', households = 5400 WHERE code = '20242'")
    result = runner.invoke(cli, ["units", "import", "--province", "48"], env=env)
    assert result.exit_code == 0, result.output
    assert "0 added, 95 updated." in result.output
    again = stored(env["TOTRUONG_DATABASE__URL"])
    assert len(again) == 95 + 3
    assert again["20242"].name == "Phường Hải Châu" and again["20242"].households == 5400
    assert again["HC-TT3"].path.startswith(again["20242"].path) and again["HC-TT3"].households == 142
    assert again["HV-T1"].path.startswith(again["20194"].path)

    result = runner.invoke(cli, ["units", "import", "--province", "Atlantis"], env=env)
    assert result.exit_code == 1 and "no province is called 'Atlantis'" in result.output
    result = runner.invoke(cli, ["units", "import"], env=env)
    assert result.exit_code == 2 and "give a CSV file, --province" in result.output


async def test_shipped_campaigns_attach_to_the_top_unit(app) -> None:
    async with app.sessions() as session:
        campaigns = (await session.scalars(select(Campaign))).all()
        city = (await session.scalars(select(Unit).where(Unit.code == "48"))).one()
    keys = {c.config_key for c in campaigns}
    assert {"chu_nhat_xanh", "han_bao_cao_thang"} <= keys
    assert all(c.unit_id == city.id for c in campaigns)


async def test_a_configured_campaign_unit_that_does_not_exist_stops_start_up(settings, clock) -> None:
    from bot.bootstrap import build, load_demo, prepare_database

    settings.campaigns.defaults[0].unit = "DNG"
    application = build(settings, clock=clock)
    try:
        await load_demo(application)
        with pytest.raises(SettingsError) as error:
            await prepare_database(application)
    finally:
        await application.stop()
    message = str(error.value)
    assert "campaigns.defaults[0].unit (chu_nhat_xanh) = 'DNG'" in message
    assert "totruong units import --province 48" in message and "\n" not in message
    async with application.sessions() as session:
        assert not await session.scalar(select(func.count()).select_from(Campaign))


def test_totruong_run_refuses_an_unknown_campaign_unit_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text((PROJECT_ROOT / "config.toml").read_text(encoding="utf-8").replace(
        'key = "han_bao_cao_thang"\n', 'key = "han_bao_cao_thang"\nunit = "DNG"\n'), encoding="utf-8")
    env = env_for(tmp_path, TOTRUONG_CONFIG=str(config), TOTRUONG_WEB__PORT="0",
                  TOTRUONG_APP__FORMS_DIR=str(ROOT / "forms"), TOTRUONG_APP__LOCALES_DIR=str(ROOT / "locales"))
    done = subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", "run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("setting campaigns.defaults[3].unit (han_bao_cao_thang) = 'DNG': no unit has this code")
    assert "Traceback" not in done.stderr
