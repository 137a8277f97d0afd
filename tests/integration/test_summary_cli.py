"""`totruong summary`: the text of a unit's summary for a period written as 2026-11, 2026-W47,
2026-Q4, 2026 or 2026-11-26, with the Excel file and the chart when asked; on both engines."""

from __future__ import annotations

import asyncio
import io
import os
import struct
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli
from models.db import create_engine, session_factory
from models.repos import Repo
from models.tables import AuditLog


def _seed(url: str) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                repo = Repo(session)
                group = await repo.unit_by_code("HC-TT3")
                who = await repo.find_who("sim", "demo-topho")
                for form, task, data, at in (
                    ("bao_cao_thang", "dan_chu", {"_month": "2026-11"}, datetime(2026, 11, 20, 3, tzinfo=UTC)),
                    ("an_ninh_vu_viec", "an_ninh", {"loai": "ma_tuy"}, datetime(2026, 11, 18, 3, tzinfo=UTC)),
                    ("giam_ngheo_ho_tro", "giam_ngheo", {"ma_ho": "HN07", "dien": "ho_ngheo", "nguon": "mtq",
                                                         "gia_tri": 750_000}, datetime(2026, 10, 2, 3, tzinfo=UTC)),
                ):
                    await repo.add_report(form_key=form, form_version=1, task=task, unit=group,
                                          reporter_id=who.person_id, data=data, at=at)
        finally:
            await engine.dispose()

    asyncio.run(go())


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    variables = {**os.environ, "TOTRUONG_DATABASE__URL": database_url, "TOTRUONG_APP__DATA_DIR": str(tmp_path / "d"),
                 "TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY": "false"}
    assert CliRunner().invoke(cli, ["demo"], env=variables).exit_code == 0
    _seed(database_url)
    return variables


def test_the_summary_command_prints_the_text_and_writes_the_files(env: dict[str, str], tmp_path: Path,
                                                                   database_url: str) -> None:
    runner = CliRunner()
    book, chart = tmp_path / "hc.xlsx", tmp_path / "hc.png"
    result = runner.invoke(cli, ["summary", "--unit", "20242", "--period", "2026-11", "--xlsx", str(book),
                                 "--chart", str(chart)], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("📊 Tóm tắt: Phường Hải Châu\nTháng 11/2026\nSo với: Tháng 10/2026\n")
    assert "• Đã nộp: 1/4 tổ" in result.stdout and "  – Ma túy: 1" in result.stdout
    assert "• Hộ được hỗ trợ: 0 (▼ 1)" in result.stdout
    assert f"Excel file written to {book}" in result.stderr
    workbook = openpyxl.load_workbook(book)
    assert "Chi tiết hộ" not in workbook.sheetnames
    assert [c.value for c in workbook["Nộp báo cáo"][2]][:5] == ["HC-TT3", "Tổ dân phố Thạch Thang 3",
                                                                "Phường Hải Châu", 1, 1]
    # The charts, one file each: hc.png, hc-2.png… (each 1080 pixels wide).
    written = sorted(tmp_path.glob("hc*.png"))
    assert chart in written and len(written) >= 2
    for path in written:
        png = path.read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24])[0] == 1080
        assert f"Chart written to {path}" in result.stderr
    # Household rows only when asked, and the export is audited.
    result = runner.invoke(cli, ["summary", "--unit", "HC-TT3", "--period", "2026-10", "--xlsx", str(book),
                                 "--households", "--lang", "en"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("📊 Summary: Tổ dân phố Thạch Thang 3\n")
    rows = list(openpyxl.load_workbook(io.BytesIO(book.read_bytes()))["Households"].iter_rows(values_only=True))
    assert [row[4] for row in rows[1:]] == ["HN07"]

    async def audits() -> list[AuditLog]:
        engine = create_engine(database_url)
        async with session_factory(engine)() as session:
            found = (await session.scalars(select(AuditLog).where(AuditLog.action == "export_sensitive"))).all()
        await engine.dispose()
        return list(found)

    [audit] = asyncio.run(audits())
    assert audit.person_id is None and audit.detail == {"period": "2026-10", "rows": 1, "via": "cli"}


@pytest.mark.parametrize(("period", "first_lines"), [
    ("2026-W47", "Tuần 16/11–22/11/2026\nSo với: Tuần 09/11–15/11/2026"),
    ("2026-Q4", "Quý 4/2026\nSo với: Quý 3/2026"),
    ("2026", "Năm 2026\nSo với: Năm 2025"),
    ("2026-11-18", "Ngày 18/11/2026\nSo với: Ngày 17/11/2026"),
])
def test_every_kind_of_period(env: dict[str, str], period: str, first_lines: str) -> None:
    result = CliRunner().invoke(cli, ["summary", "--unit", "48", "--period", period], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"📊 Tóm tắt: Thành phố Đà Nẵng\n{first_lines}\n")


def test_a_bad_period_or_unit_is_named(env: dict[str, str]) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["summary", "--unit", "20242", "--period", "11/2026"], env=env)
    assert result.exit_code == 2 and "not a period: '11/2026'" in result.stderr
    result = runner.invoke(cli, ["summary", "--unit", "NOPE", "--period", "2026-11"], env=env)
    assert result.exit_code == 1 and "no unit with code 'NOPE'" in result.stderr
    assert "--xlsx" in runner.invoke(cli, ["summary", "--help"], env=env).stdout
