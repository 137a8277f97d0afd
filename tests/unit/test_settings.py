"""Settings: config.toml, environment overrides, and clear errors naming the key and its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.settings import PROJECT_ROOT, SettingsError, load_settings

CONFIG = PROJECT_ROOT / "config.toml"


def test_shipped_config_is_valid_and_vietnamese_first() -> None:
    settings = load_settings({}, CONFIG)
    assert settings.app.timezone == "Asia/Ho_Chi_Minh"
    assert settings.app.language == "vi"
    assert settings.web.host == "127.0.0.1" and settings.web.port == 8080
    assert [task.key for task in settings.tasks] == ["an_ninh", "ve_sinh", "giam_ngheo", "dan_chu"]
    assert settings.units.labels["group"] == "Tổ dân phố/Thôn"
    assert settings.telegram.token == "" and settings.zalo.token == ""  # no secrets in the file
    assert settings.database_url == f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'totruong.db'}"


def test_environment_overrides_any_key() -> None:
    settings = load_settings(
        {"TOTRUONG_WEB__PORT": "9090", "TOTRUONG_TELEGRAM__TOKEN": "123:abc",
         "TOTRUONG_DATABASE__URL": "postgresql+psycopg://u@h/db", "TOTRUONG_APP__AREA_BBOX": "[1, 2, 3, 4]"},
        CONFIG,
    )
    assert settings.web.port == 9090
    assert settings.telegram.token == "123:abc"
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.app.area_bbox == (1, 2, 3, 4)


def test_totruong_config_points_to_another_file(tmp_path: Path) -> None:
    other = tmp_path / "ward.toml"
    other.write_text('[web]\nport = 8181\n[app]\nlanguage = "en"\n', encoding="utf-8")
    settings = load_settings({"TOTRUONG_CONFIG": str(other)})
    assert settings.web.port == 8181 and settings.app.language == "en"
    assert settings.data_dir == tmp_path / "data"  # relative paths follow the config file


def test_bad_environment_value_names_the_key_and_the_variable() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"TOTRUONG_WEB__PORT": "tám nghìn"}, CONFIG)
    message = str(error.value)
    assert "web.port" in message and "environment variable TOTRUONG_WEB__PORT" in message


def test_bad_file_value_names_the_key_and_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[app]\ntimezone = "Asia/Da_Nang"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as error:
        load_settings({}, bad)
    assert "app.timezone" in str(error.value) and str(bad) in str(error.value)


def test_unknown_key_and_missing_file_are_refused(tmp_path: Path) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text("[web]\nprot = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"web\.prot"):
        load_settings({}, typo)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings({"TOTRUONG_CONFIG": str(tmp_path / "nowhere.toml")})


def test_database_url_must_name_an_async_driver() -> None:
    with pytest.raises(SettingsError, match=r"database\.url"):
        load_settings({"TOTRUONG_DATABASE__URL": "mysql://root@localhost/x"}, CONFIG)
