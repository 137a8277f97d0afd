"""Rates and gaps of the outbox are checked at start-up: a bad one stops the app with a message
naming the key and where it came from, instead of a dispatcher that fails or spins."""

from __future__ import annotations

import pytest

from models.settings import PROJECT_ROOT, SettingsError, load_settings


@pytest.mark.parametrize("rates", ['{"zalo": 0}', '{"zalo": -5}', '{"telegram": 25, "zalo": "nhanh"}'])
def test_a_rate_that_is_not_a_positive_number_is_refused(rates: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"TOTRUONG_OUTBOX__RATES": rates}, PROJECT_ROOT / "config.toml")
    message = str(refused.value)
    assert "outbox.rates" in message and "TOTRUONG_OUTBOX__RATES" in message
    if "nhanh" not in rates:
        assert "outbox.rates.zalo must be a positive number (got " in message


def test_a_negative_gap_is_refused_and_good_values_pass() -> None:
    with pytest.raises(SettingsError, match=r"outbox.per_chat_seconds.telegram must be a number of seconds"):
        load_settings({"TOTRUONG_OUTBOX__PER_CHAT_SECONDS": '{"telegram": -1}'}, PROJECT_ROOT / "config.toml")
    settings = load_settings({"TOTRUONG_OUTBOX__RATES": '{"zalo": 2.5}'}, PROJECT_ROOT / "config.toml")
    assert settings.outbox.rates == {"zalo": 2.5}
