"""The Telegram channel: python-telegram-bot as a thin adapter around the core (see channel.py)."""

from bot.channels.telegram.channel import TelegramChannel

__all__ = ["TelegramChannel"]
