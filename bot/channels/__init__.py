"""The messenger adapters: one package per channel behind the port in bot/channels/port.py."""
