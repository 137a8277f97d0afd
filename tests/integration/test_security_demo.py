"""Demo only where it belongs: no demo data (nor its codes) beside a real messenger; duties granted
and removed with `totruong role`, so that a real official on duty receives the ward's urgent
incidents; a ward with officials but nobody on duty sends them to all, with a warning."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.bootstrap import build, prepare_database
from bot.cli import app as cli
from models.repos import Repo
from models.settings import PROJECT_ROOT, load_settings
from models.tables import AuditLog, Identity, Invite, Person, RoleAssignment, Unit
from tests.helpers import Chat
from tests.integration.test_reports import inbox, leader_files_an_incident

NOBODY = "⚠️ Phường Hải Châu chưa có cán bộ trực: tin này được gửi tới mọi cán bộ của Phường Hải Châu."


async def counts(app) -> dict[str, int]:
    async with app.sessions() as session:
        return {table.__name__: int(await session.scalar(select(func.count()).select_from(table)) or 0)
                for table in (Unit, Person, Identity, Invite)}


async def test_with_a_telegram_token_a_fresh_install_has_no_demo_and_no_working_demo_code(tmp_path: Path) -> None:
    settings = load_settings({"TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/t.db",
                              "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"),
                              "TOTRUONG_TELEGRAM__TOKEN": "123456:real-token-from-botfather"},
                             PROJECT_ROOT / "config.toml")
    assert settings.app.load_demo_when_empty  # the shipped default
    app = build(settings)
    try:
        await prepare_database(app)
        assert await counts(app) == {"Unit": 0, "Person": 0, "Identity": 0, "Invite": 0}
        stranger = Chat(app, "777001", channel="telegram", name="Kẻ lạ")
        for code in ("HUNG05", "TT3DAN"):
            answer = await stranger.send(f"/start {code}")
            assert f"Mã mời «{code}» không đúng." in answer
        async with app.sessions() as session:
            assert not await session.scalar(select(func.count()).select_from(RoleAssignment))  # nobody is a leader
    finally:
        await app.stop()


async def test_without_a_channel_token_the_demo_is_loaded_into_an_empty_database(tmp_path: Path) -> None:
    settings = load_settings({"TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/t.db",
                              "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data")}, PROJECT_ROOT / "config.toml")
    app = build(settings)
    try:
        await prepare_database(app)
        assert (await counts(app))["Invite"] == 2
    finally:
        await app.stop()


def role(settings, *arguments: str):
    env = {**os.environ, "TOTRUONG_DATABASE__URL": settings.database.url, "TOTRUONG_DATABASE__AUTO_MIGRATE": "false",
           "TOTRUONG_APP__DATA_DIR": str(settings.app.data_dir)}
    return CliRunner().invoke(cli, ["role", *arguments], env=env)


async def register_official(app, user: str, name: str) -> None:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        ward = await repo.unit_by_code("20242")
        invite = await repo.create_invite(unit_id=ward.id, role="official", max_uses=1, expires_at=None)
        code = invite.code
    assert "Phường Hải Châu" in await Chat(app, user, name=name).send(f"/start {code}")


async def test_a_real_official_given_the_duty_receives_the_wards_urgent_incidents(app, settings) -> None:
    await register_official(app, "real-official", "Nguyễn Thị Trực")
    listed = await asyncio.to_thread(role, settings, "list", "--unit", "20242")
    assert listed.exit_code == 0 and "Anh Phạm Minh Tuấn\ton_duty" in listed.output
    assert "Nguyễn Thị Trực\t-" in listed.output
    granted = await asyncio.to_thread(role, settings, "grant", "--unit", "20242", "--person", "Nguyễn Thị Trực",
                                      "--duty", "on_duty")
    assert granted.exit_code == 0, granted.output
    assert "Nguyễn Thị Trực (Phường Hải Châu): duties on_duty" in granted.output
    revoked = await asyncio.to_thread(role, settings, "revoke", "--unit", "20242", "--person", "Anh Phạm Minh Tuấn",
                                      "--duty", "on_duty")
    assert revoked.exit_code == 0 and "duties none" in revoked.output

    _leader, code = await leader_files_an_incident(app)
    [alert] = await inbox(app, "real-official")
    assert f"🚨 TIN KHẨN {code}" in alert["text"] and NOBODY not in alert["text"]
    assert await inbox(app, "demo-canbo") == []  # no longer on duty
    async with app.sessions() as session:
        audits = (await session.scalars(select(AuditLog.action).where(AuditLog.action.like("duty_%")))).all()
    assert sorted(audits) == ["duty_granted", "duty_revoked"]


async def test_a_ward_with_nobody_on_duty_alerts_all_its_officials_and_warns_them(app, settings) -> None:
    revoked = await asyncio.to_thread(role, settings, "revoke", "--unit", "20242", "--person", "Anh Phạm Minh Tuấn",
                                      "--duty", "on_duty")
    assert revoked.exit_code == 0
    leader = Chat(app, "demo-totruong")
    await leader.send("/start HUNG05")
    await leader.press("Báo tin khẩn")
    await leader.press("Cháy, nổ")
    await leader.location(16.0718, 108.2204)
    done = await leader.send("Cháy bếp nhà số 12")
    assert "🚨 Đã chuyển tin khẩn tới 2 cán bộ trực của Phường Hải Châu" in done
    for official in ("demo-canbo", "demo-canbo-xh"):
        [alert] = await inbox(app, official)
        assert "🚨 TIN KHẨN" in alert["text"] and NOBODY in alert["text"], official
        assert "nhờ cán bộ cấp trên phân công cán bộ trực (mục «🛡️ Phân công cán bộ» trong menu)" in alert["text"]


async def test_the_role_command_names_what_is_wrong(app, settings) -> None:
    unknown = await asyncio.to_thread(role, settings, "grant", "--unit", "20242", "--person", "Anh Phạm Minh Tuấn",
                                      "--duty", "boss")
    assert unknown.exit_code == 1 and "unknown duty 'boss': use one of on_duty, social, privacy" in unknown.output
    leader = await asyncio.to_thread(role, settings, "grant", "--unit", "HC-TT3", "--person", "Ông Hồ Văn Sáu",
                                     "--duty", "on_duty")
    assert leader.exit_code == 1 and "names 0 officials of HC-TT3" in leader.output
    nowhere = await asyncio.to_thread(role, settings, "list", "--unit", "XX")
    assert nowhere.exit_code == 1 and "no unit with code 'XX'" in nowhere.output
