"""Typed settings: config.toml, overridden by TOTRUONG_<SECTION>__<KEY> environment variables.

Settings are read once at start-up. A bad value stops start-up with a message that names the
key and where the value came from (the file or the environment variable).
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "TOTRUONG_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting is missing or has a bad value; the message says which and where from."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppSettings(_Section):
    timezone: str = "Asia/Ho_Chi_Minh"
    language: Literal["vi", "en"] = "vi"
    data_dir: Path = Path("data")
    forms_dir: Path = Path("forms")
    locales_dir: Path = Path("locales")
    load_demo_when_empty: bool = True
    area_name: str = "Thành phố Đà Nẵng"
    area_bbox: tuple[float, float, float, float] = (15.35, 107.20, 16.25, 108.75)
    # "text": the ordinary lines; "json": one JSON object per line with a request id (bot/logs.py).
    log_format: Literal["text", "json"] = "text"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///data/totruong.db"
    auto_migrate: bool = True
    echo: bool = False
    # SQLite: how long a write waits for a lock held by another process before the user gets an
    # apology (the wait is asynchronous: everyone else keeps being answered).
    lock_wait_seconds: float = Field(default=20.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError(
                "use sqlite+aiosqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    simulator: bool = True
    public_url: str = ""
    # The simulator lets anyone act as any persona: on an address other machines reach, only when
    # asked for explicitly and behind a secret every request carries (docs/security.md).
    simulator_public: bool = False
    simulator_secret: str = ""
    # /metrics for Prometheus (bot/metrics.py); with a token, only for `Authorization: Bearer TOKEN`.
    metrics: bool = True
    metrics_token: str = ""

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < SECRET_MIN_CHARS:
            raise ValueError(f"a metrics token needs at least {SECRET_MIN_CHARS} characters "
                             "(TOTRUONG_WEB__METRICS_TOKEN)")
        return value


SECRET_MIN_CHARS = 16


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a public address


def simulator_exposure(web: WebSettings) -> str | None:
    """Why the simulator may not be served on this address (naming the keys to change), or None."""
    if not web.simulator or is_loopback(web.host):
        return None
    if not web.simulator_public:
        return (f"setting web.host = {web.host!r} is reachable from other machines and web.simulator = true: "
                "anyone reaching it could act as any persona and read every inbox. Set web.simulator = false "
                "on a public server, or web.simulator_public = true with a secret in "
                "TOTRUONG_WEB__SIMULATOR_SECRET.")
    if len(web.simulator_secret) < SECRET_MIN_CHARS:
        return (f"setting web.simulator_secret: web.simulator_public = true needs a secret of at least "
                f"{SECRET_MIN_CHARS} characters in the environment variable TOTRUONG_WEB__SIMULATOR_SECRET.")
    return None


class LimitSettings(_Section):
    text_max_chars: int = Field(default=4000, ge=10, le=100_000)
    photo_max_bytes: int = Field(default=10_000_000, ge=1000)
    # Pixels, read from the header before decoding: 50 MP is above any phone's default photo, and a
    # decompression bomb (a few kB that decode to gigabytes) is far above it. Pillow's own limit is 89 MP.
    photo_max_pixels: int = Field(default=50_000_000, ge=10_000, le=89_000_000)
    correction_window_hours: int = Field(default=24, ge=0)
    invite_default_days: int = Field(default=30, ge=1)
    # Failed `/start CODE` attempts allowed within invite_wrong_minutes, per identity (channel and
    # user id) and per network address (the simulator's client; messengers give none): over
    # either, no code is checked until the window has passed. Arithmetic: docs/security.md.
    invite_wrong_per_identity: int = Field(default=5, ge=1, le=100)
    invite_wrong_per_address: int = Field(default=20, ge=1, le=1000)
    invite_wrong_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # A group's code for residents works this long after it was made or last renewed.
    resident_code_days: int = Field(default=90, ge=1, le=3660)


class IncidentSettings(_Section):
    ack_minutes: int = Field(default=15, ge=1, le=24 * 60)  # unacknowledged this long: next level up
    check_seconds: int = Field(default=30, ge=1, le=3600)  # how often the ticker looks for them


class NoticeSettings(_Section):
    quiet_start: str = Field(default="21:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # local time
    quiet_end: str = Field(default="06:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    max_chars: int = Field(default=2000, ge=10, le=4000)


class OutboxSettings(_Section):
    """How the dispatcher sends: per-channel rates (messages per second, for the bot as a whole,
    shared by every running instance) and spacing per chat."""

    rates: dict[str, float] = {"telegram": 25.0, "zalo": 10.0, "sim": 500.0}
    per_chat_seconds: dict[str, float] = {"telegram": 1.0, "zalo": 1.0, "sim": 0.0}
    batch: int = Field(default=500, ge=1, le=10_000)
    concurrency: int = Field(default=8, ge=1, le=1000)  # sends in flight: matches the HTTP pools
    lease_seconds: int = Field(default=120, ge=1)
    max_attempts: int = Field(default=8, ge=1)
    idle_seconds: float = Field(default=1.0, gt=0, le=60)
    # A send whose answer is late is not re-sent blindly: the platform gets this long to answer.
    send_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # A send with no answer (it may have arrived) is tried again only after this pause.
    ambiguous_retry_seconds: float = Field(default=60.0, ge=0, le=3600)
    # Instances write a heartbeat this often; one silent for `dead_after_seconds` is taken as gone
    # and its rows are taken up at once, without waiting for the lease.
    heartbeat_seconds: float = Field(default=2.0, gt=0, le=60)
    dead_after_seconds: float = Field(default=10.0, gt=0, le=600)
    # SIGTERM: sends in flight get this long to finish before the rest is released.
    stop_seconds: float = Field(default=5.0, ge=0, le=60)

    @field_validator("rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, float]) -> dict[str, float]:
        for channel, rate in value.items():
            if not isinstance(rate, int | float) or not rate > 0 or rate != rate or rate == float("inf"):
                raise ValueError(f"outbox.rates.{channel} must be a positive number (got {rate})")
        return value

    @field_validator("per_chat_seconds")
    @classmethod
    def _gaps(cls, value: dict[str, float]) -> dict[str, float]:
        for channel, gap in value.items():
            if not isinstance(gap, int | float) or not 0 <= gap <= 3600:
                raise ValueError(f"outbox.per_chat_seconds.{channel} must be a number of seconds from 0 to 3600 "
                                 f"(got {gap})")
        return value


class CampaignDefault(_Section):
    """A campaign config.toml ships; created in the database when missing (chat edits then win)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: str
    description: str = ""
    kind: Literal["event", "report_deadline"] = "event"
    # Unit code: the campaign covers it and everything under it; "" = the top unit (the province).
    unit: str = Field(default="", max_length=32)
    audience: Literal["residents", "leaders", "both"] = "both"
    schedule: dict[str, Any]
    reminders: list[dict[str, Any]] = []
    follow_up: dict[str, Any] = {}


class CampaignSettings(_Section):
    check_seconds: int = Field(default=30, ge=1, le=3600)
    # A reminder missed while the app was down is sent late within this many minutes, else skipped.
    grace_minutes: int = Field(default=60, ge=0)
    # The monthly report is for the previous month until this day of the month.
    monthly_deadline_day: int = Field(default=5, ge=1, le=28)
    defaults: list[CampaignDefault] = []


class DigestSettings(_Section):
    """When officials receive their scheduled digests (local time); each official can turn theirs off."""

    daily_time: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    weekly_weekday: int = Field(default=0, ge=0, le=6)  # Monday
    weekly_time: str = Field(default="07:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    monthly_day: int = Field(default=1, ge=1, le=28)
    monthly_time: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class UnitSettings(_Section):
    levels: list[str] = ["city", "district", "ward", "group"]
    # The first day a group's reports may be about ("unit.since" in a form's checks): the units as
    # they are since the reform of 1 July 2025. The unit rows' own dates are when they were
    # imported, not when the groups began (docs/decisions.md).
    since: date = date(2025, 7, 1)
    labels: dict[str, str] = {
        "city": "Thành phố",
        "district": "Quận/Huyện",
        "ward": "Phường/Xã",
        "group": "Tổ dân phố/Thôn",
    }


class TaskSetting(_Section):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: str
    icon: str = ""


class ChannelSettings(_Section):
    token: str = ""
    api_url: str = ""
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_secret: str = ""


DEFAULT_TASKS = [
    TaskSetting(key="an_ninh", label="An ninh trật tự", icon="🛡️"),
    TaskSetting(key="ve_sinh", label="Vệ sinh môi trường, nếp sống văn minh", icon="🌿"),
    TaskSetting(key="giam_ngheo", label="Hỗ trợ giảm nghèo", icon="🤝"),
    TaskSetting(key="dan_chu", label="Dân chủ cơ sở và phản ánh", icon="🗳️"),
]


class Settings(_Section):
    app: AppSettings = AppSettings()
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    limits: LimitSettings = LimitSettings()
    incidents: IncidentSettings = IncidentSettings()
    notices: NoticeSettings = NoticeSettings()
    campaigns: CampaignSettings = CampaignSettings()
    digests: DigestSettings = DigestSettings()
    outbox: OutboxSettings = OutboxSettings()
    units: UnitSettings = UnitSettings()
    tasks: list[TaskSetting] = DEFAULT_TASKS
    telegram: ChannelSettings = ChannelSettings(api_url="https://api.telegram.org")
    zalo: ChannelSettings = ChannelSettings(api_url="https://bot-api.zaloplatforms.com")
    # Where relative paths are resolved from: the folder of the config file.
    base_dir: Path = PROJECT_ROOT

    def path(self, relative: Path) -> Path:
        """Resolves a configured path against the config file's folder."""
        return relative if relative.is_absolute() else self.base_dir / relative

    @property
    def data_dir(self) -> Path:
        return self.path(self.app.data_dir)

    @property
    def forms_dir(self) -> Path:
        return self.path(self.app.forms_dir)

    @property
    def locales_dir(self) -> Path:
        return self.path(self.app.locales_dir)

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute."""
        url = self.database.url
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.base_dir / url[len(prefix):])
        return url

    @field_validator("tasks")
    @classmethod
    def _unique_tasks(cls, value: list[TaskSetting]) -> list[TaskSetting]:
        keys = [task.key for task in value]
        if len(set(keys)) != len(keys):
            raise ValueError("task keys must be unique")
        if not value:
            raise ValueError("at least one task is needed")
        return value


def _parse_env_value(raw: str) -> Any:
    """Reads an environment value as JSON when it looks like JSON, else as a plain string."""
    text = raw.strip()
    if text[:1] in "[{" or text in ("true", "false") or _is_number(text):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_settings(
    environ: Mapping[str, str], config_file: Path | None = None
) -> Settings:
    """Reads config.toml (or TOTRUONG_CONFIG) and the environment into validated settings."""
    sources: dict[tuple[str, ...], str] = {}
    if config_file is None:
        named = environ.get(ENV_PREFIX + "CONFIG")
        config_file = Path(named) if named else PROJECT_ROOT / "config.toml"
    config_file = config_file.resolve()
    data: dict[str, Any] = {}
    if config_file.exists():
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_file}: not valid TOML: {exc}") from exc
        _remember(data, (), str(config_file), sources)
    elif environ.get(ENV_PREFIX + "CONFIG"):
        raise SettingsError(f"TOTRUONG_CONFIG names {config_file}, which does not exist")

    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG" or "__" not in name:
            continue
        if name.startswith(ENV_PREFIX + "TEST_"):
            continue
        parts = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        target = data
        for part in parts[:-1]:
            node = target.setdefault(part, {})
            if not isinstance(node, dict):
                raise SettingsError(f"{name}: {'.'.join(parts[:-1])} is not a section")
            target = node
        target[parts[-1]] = _parse_env_value(raw)
        for replaced in [known for known in sources if known[: len(parts)] == parts]:
            del sources[replaced]  # the file's values under this key are replaced, not merged
        sources[parts] = f"environment variable {name}"

    data["base_dir"] = config_file.parent
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(str(part) for part in error["loc"])
            where = _source_of(loc, sources) or "defaults"
            key = ".".join(loc)
            problems.append(f"setting {key} (from {where}): {error['msg']}")
        raise SettingsError("Bad settings:\n  " + "\n  ".join(problems)) from None


def _remember(
    node: Any, prefix: tuple[str, ...], where: str, sources: dict[tuple[str, ...], str]
) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _remember(value, (*prefix, str(key)), where, sources)
    else:
        sources[prefix] = where


def _source_of(loc: tuple[str, ...], sources: dict[tuple[str, ...], str]) -> str | None:
    for size in range(len(loc), 0, -1):
        if loc[:size] in sources:
            return sources[loc[:size]]
    # A nested value from a file (e.g. a list element) is remembered under a longer key.
    for key, where in sources.items():
        if key[: len(loc)] == loc:
            return where
    return None
