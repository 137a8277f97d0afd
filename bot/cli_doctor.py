"""`totruong doctor`: checks the configuration, the database and its migrations, each bot token
(getMe), the units, forms and campaigns, and the public URL, and says what to fix, in the
operator's language (app.language, or --lang). It changes nothing.

Exit status 0 when nothing needs fixing (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import httpx
import typer
from sqlalchemy.engine import make_url

from handlers.i18n import Catalogs, Translator
from models.settings import PROJECT_ROOT, ChannelSettings, Settings, SettingsError, load_settings, simulator_exposure
from models.tables import Campaign

OK, WARN, FAIL = "✓", "!", "✗"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Finding:
    mark: str  # OK, WARN or FAIL
    text: str
    fix: str = ""


def _hidden(url: str) -> str:
    """The database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


async def _database(settings: Settings, t: Translator) -> tuple[list[Finding], bool]:
    """Reachable, and at the newest migration; True when the tables can be read."""
    from alembic.script import ScriptDirectory

    from models.backup import revision
    from models.db import alembic_config

    url = settings.database_url
    try:
        current = await asyncio.to_thread(revision, url)
    except Exception as error:
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return [Finding(FAIL, t("Không kết nối được cơ sở dữ liệu {url}: {reason}", url=_hidden(url), reason=reason),
                        t("Kiểm tra database.url (biến TOTRUONG_DATABASE__URL), máy chủ và mật khẩu."))], False
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    if current in heads:
        return [Finding(OK, t("Cơ sở dữ liệu {url}: đã ở phiên bản mới nhất ({revision}).", url=_hidden(url),
                              revision=current))], True
    if not current:
        mark = WARN if settings.database.auto_migrate else FAIL
        return [Finding(mark, t("Cơ sở dữ liệu {url} chưa có bảng nào.", url=_hidden(url)),
                        t("Chạy: totruong db upgrade (hoặc để `totruong run` tự làm khi "
                          "database.auto_migrate = true)."))], False
    # Units and campaigns are checked only at the newest migration (older tables lack columns).
    mark = WARN if settings.database.auto_migrate else FAIL
    return [Finding(mark, t("Cơ sở dữ liệu ở phiên bản {current}, phần mềm cần {head}.", current=current,
                            head=", ".join(sorted(heads))),
                    t("Sao lưu (totruong backup FILE.tar.gz) rồi chạy: totruong db upgrade."))], False


async def _data(settings: Settings, t: Translator) -> list[Finding]:
    """Units, and the campaigns of the configuration on them."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from handlers.campaigns.campaigns import default_unit
    from handlers.campaigns.schedules import ScheduleError, validate
    from models import db
    from models.repos import Repo
    from models.tables import Unit

    found: list[Finding] = []
    engine = db.create_engine(settings.database_url, lock_wait_seconds=settings.database.lock_wait_seconds)
    try:
        async with db.session_factory(engine)() as session:
            level = col(Unit.level)
            counts: dict[str, int] = {str(name): int(number) for name, number in (
                await session.execute(select(level, func.count()).group_by(level))).all()}
            tops = await Repo(session).top_units()
            if not tops:
                found.append(Finding(FAIL, t("Chưa có đơn vị hành chính nào."),
                                     t("Chạy: totruong units import --province 48 (mã hoặc tên tỉnh, thành phố), "
                                       "rồi totruong units import to-dan-pho.csv cho các tổ dân phố, thôn.")))
            else:
                levels = ", ".join(f"{counts[level]} {settings.units.labels.get(level, level)}"
                                   for level in settings.units.levels if counts.get(level))
                found.append(Finding(OK, t("Đơn vị: {top} ({code}); {levels}.", top=tops[0].name, code=tops[0].code,
                                           levels=levels)))
                group = settings.units.levels[-1]
                if not counts.get(group):
                    found.append(Finding(WARN, t("Chưa có tổ dân phố, thôn nào: chưa ai được mời vào tổ."),
                                         t("Chạy: totruong units import to-dan-pho.csv (parent_code là mã phường, "
                                           "xã chính thức, ví dụ 20242).")))
            for number, default in enumerate(settings.campaigns.defaults):
                key = f"campaigns.defaults[{number}]"
                try:
                    validate(default.schedule)
                    unit = await default_unit(Repo(session), default.unit, f"{key}.unit ({default.key})")
                except (ScheduleError, SettingsError) as error:
                    found.append(Finding(FAIL, t("Chiến dịch “{name}”: {error}", name=default.name, error=str(error)),
                                         t("Sửa {key} trong config.toml.", key=key)))
                    continue
                if unit is None:
                    continue
                stored_id = await Repo(session).campaign_with_config_key(default.key)
                stored = await session.get(Campaign, stored_id) if stored_id is not None else None
                if stored is None:
                    found.append(Finding(WARN, t("Chiến dịch “{name}” chưa được tạo.", name=default.name),
                                         t("Khởi động lại ứng dụng (totruong run) để tạo.")))
                    continue
                found.append(Finding(OK, t("Chiến dịch “{name}”: áp dụng cho {unit}; {next}.", name=default.name,
                                           unit=unit.name, next=_next_reminder(stored, settings, t))))
    finally:
        await engine.dispose()
    return found


def _next_reminder(campaign: Campaign, settings: Settings, t: Translator) -> str:
    """"lần nhắc tới: 05/12/2026 19:00" (local time), or why there is none."""
    from handlers.campaigns.schedules import moments

    if campaign.status != "active":
        return t("đang tạm dừng hoặc đã kết thúc")
    now = datetime.now(UTC)
    ahead = moments(campaign.schedule, campaign.reminders, campaign.follow_up, after=now,
                    until=now + timedelta(days=400), tz=settings.app.tz, ends_on=campaign.ends_on)
    reminder = next((m for m in ahead if m.step == "reminder"), None)
    if reminder is None:
        return t("không còn lần nhắc nào")
    return t("lần nhắc tới: {when}", when=f"{reminder.due_at.astimezone(settings.app.tz):%d/%m/%Y %H:%M}")


async def _token(name: str, channel: ChannelSettings, t: Translator) -> Finding:
    """getMe against the configured API: the token is accepted and the API is reachable."""
    variable = f"TOTRUONG_{name.upper()}__TOKEN"
    label = name.capitalize()
    root = channel.api_url.rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            answer = await client.post(f"{root}/bot{channel.token}/getMe", json={})
        body = answer.json()
    except (httpx.HTTPError, ValueError) as error:
        return Finding(FAIL, t("{channel}: không gọi được {url} ({reason}).", channel=label, url=root,
                               reason=type(error).__name__),
                       t("Kiểm tra mạng của máy chủ và {name}.api_url.", name=name))
    if isinstance(body, dict) and body.get("ok"):
        result = body.get("result") or {}
        who = result.get("username") or result.get("account_name") or result.get("id") or "?"
        return Finding(OK, t("{channel}: mã bot hợp lệ ({who}).", channel=label, who=who))
    description = str(body.get("description", "")) if isinstance(body, dict) else ""
    return Finding(FAIL, t("{channel}: mã bot bị từ chối ({reason}).", channel=label,
                           reason=description or answer.status_code),
                   t("Đặt lại mã bot đúng trong biến môi trường {variable}.", variable=variable))


def _addresses(settings: Settings, t: Translator) -> list[Finding]:
    found: list[Finding] = []
    exposure = simulator_exposure(settings.web)
    if exposure:
        found.append(Finding(FAIL, t("Trình mô phỏng: {problem}", problem=exposure),
                             t("Trên máy chủ thật: TOTRUONG_WEB__SIMULATOR=false.")))
    public = settings.web.public_url
    if public and urlsplit(public).scheme != "https":
        found.append(Finding(FAIL, t("web.public_url = {url} không dùng https.", url=public),
                             t("Dùng địa chỉ https (Caddy trong compose.yaml tự lấy chứng chỉ).")))
    for name, channel in (("telegram", settings.telegram), ("zalo", settings.zalo)):
        if not channel.token or channel.mode != "webhook":
            continue
        # Zalo falls back on web.public_url (bot/channels/zalo/channel.py); Telegram needs its own.
        hook = channel.webhook_url or (public.rstrip("/") + "/zalo/webhook" if public and name == "zalo" else "")
        if not hook:
            found.append(Finding(FAIL, t("{channel}: chế độ webhook mà chưa có địa chỉ công khai.",
                                         channel=name.capitalize()),
                                 t("Đặt {name}.webhook_url là địa chỉ https mà {channel} gọi tới.",
                                   name=name, channel=name.capitalize())))
        elif urlsplit(hook).scheme != "https":
            found.append(Finding(FAIL, t("{channel}: webhook {url} không dùng https.", channel=name.capitalize(),
                                         url=hook), t("Dùng địa chỉ https: nền tảng không gọi http.")))
        if not channel.webhook_secret:
            found.append(Finding(FAIL, t("{channel}: webhook chưa có mã bí mật.", channel=name.capitalize()),
                                 t("Đặt biến môi trường TOTRUONG_{upper}__WEBHOOK_SECRET (một chuỗi ngẫu nhiên dài).",
                                   upper=name.upper())))
    if public:
        found.append(Finding(OK, t("Địa chỉ công khai: {url}.", url=public)))
    return found


async def diagnose(settings: Settings, t: Translator) -> list[Finding]:
    """Every check after the configuration was read."""
    from handlers.forms import load_forms

    found = [Finding(OK, t("Cấu hình đọc được."))]
    try:
        forms = load_forms(settings.forms_dir, {task.key for task in settings.tasks})
        found.append(Finding(OK, t("Biểu mẫu: {count} mẫu trong {folder}.", count=len(forms),
                                   folder=settings.forms_dir)))
    except SettingsError as error:
        found.append(Finding(FAIL, t("Biểu mẫu: {error}", error=str(error)),
                             t("Sửa tệp biểu mẫu đã nêu (xem forms/README.md).")))
    database, readable = await _database(settings, t)
    found += database
    if readable:
        found += await _data(settings, t)
    tokens = [(name, channel) for name, channel in (("telegram", settings.telegram), ("zalo", settings.zalo))
              if channel.token]
    if not tokens:
        found.append(Finding(WARN, t("Chưa có mã bot nào: chỉ trình mô phỏng nhận tin."),
                             t("Đặt TOTRUONG_TELEGRAM__TOKEN hoặc TOTRUONG_ZALO__TOKEN.")))
    found += await asyncio.gather(*(_token(name, channel, t) for name, channel in tokens))
    found += _addresses(settings, t)
    return found


def _translator(language: str, locales_dir: Path) -> Translator:
    from zoneinfo import ZoneInfo

    return Catalogs(locales_dir).translator(language, ZoneInfo("Asia/Ho_Chi_Minh"))


def doctor(
    config: Annotated[Path | None, typer.Option("--config", help="Another config file (or TOTRUONG_CONFIG).")] = None,
    language: Annotated[str | None, typer.Option("--lang", help="vi or en (default: app.language).")] = None,
) -> None:
    """Check the setup (configuration, database, migrations, bot tokens, units, forms, campaigns,
    public URL) and print what to fix. Changes nothing."""
    try:
        settings: Settings | None = load_settings(os.environ, config)
        error = ""
    except SettingsError as refused:
        settings, error = None, " ".join(line.strip() for line in str(refused).splitlines())
    chosen = language or (settings.app.language if settings else "vi")
    t = _translator(chosen, settings.locales_dir if settings else PROJECT_ROOT / "locales")
    if settings is None:
        found = [Finding(FAIL, t("Cấu hình: {error}", error=error),
                         t("Sửa khóa đã nêu trong config.toml hoặc biến môi trường của nó, "
                           "rồi chạy lại totruong doctor."))]
    else:
        found = asyncio.run(diagnose(settings, t))
    for finding in found:
        typer.echo(f"{finding.mark} {finding.text}")
        if finding.fix and finding.mark != OK:
            typer.echo(f"    → {finding.fix}")
    failures = sum(1 for f in found if f.mark == FAIL)
    warnings = sum(1 for f in found if f.mark == WARN)
    if failures:
        typer.echo(t("{failures} lỗi cần sửa, {warnings} cảnh báo.", failures=failures, warnings=warnings))
        raise typer.Exit(1)
    typer.echo(t("Sẵn sàng: không có lỗi, {warnings} cảnh báo.", warnings=warnings))
