"""The zalo channel adapter."""
