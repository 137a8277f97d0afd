"""The web simulator's channel: messages stored for the browser page to read (see channel.py)."""

from bot.channels.simulator.channel import CHANNEL, MessageStore, SimulatorChannel

__all__ = ["CHANNEL", "MessageStore", "SimulatorChannel"]
