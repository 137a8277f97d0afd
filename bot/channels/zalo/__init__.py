"""The Zalo channel: the Zalo Bot Platform, with buttons as numbered text menus (see channel.py)."""

from bot.channels.zalo.channel import ZaloChannel

__all__ = ["ZaloChannel"]
