"""The messenger adapters: one package per channel, all behind the port in bot/channels/port.py.

Adding a channel is a package here (a class taking a `ChannelHost`, offering `Channel`), a
settings section of the same name with a `token`, and one line in `REGISTRY`. A channel is
started when its token is configured; its package is imported only then.
"""

from __future__ import annotations

import importlib

from bot.channels.port import Channel, ChannelHost
from models.settings import Settings

# Channel name (the identity's channel column and the settings section) -> "module:class".
REGISTRY: dict[str, str] = {
    "telegram": "bot.channels.telegram:TelegramChannel",
    "zalo": "bot.channels.zalo:ZaloChannel",
}


def configured(settings: Settings) -> list[str]:
    """The channels with a token configured: real people may write to the bot through them."""
    return [name for name in REGISTRY if getattr(settings, name).token]


def build_channels(host: ChannelHost) -> dict[str, Channel]:
    """An adapter for every configured channel (nothing is started yet)."""
    channels: dict[str, Channel] = {}
    for name in configured(host.settings):
        module, _sep, factory = REGISTRY[name].partition(":")
        channels[name] = getattr(importlib.import_module(module), factory)(host)
    return channels
