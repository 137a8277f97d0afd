"""A Babel extractor for the TOML files whose text users read: forms (titles, labels, prompts,
options) and config.toml (task labels)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import IO, Any

TRANSLATABLE = {"title", "description", "label", "prompt", "hint", "unit", "pattern_message", "nil_report"}


def extract_toml(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str | tuple[str, str], list[str]]]:
    """Yields every user-facing string of a TOML file as (line, function, message, comments); a
    unit ("buổi", "hộ") is a plural message, shown after a count ("1 session", "2 sessions")."""
    text = fileobj.read().decode("utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()
    units = {field["unit"] for field in data.get("fields", []) if isinstance(field, dict) and field.get("unit")}
    for message in _walk(data, ""):
        number = next((i + 1 for i, line in enumerate(lines) if message in line), 0)
        if message in units:
            yield number, "ngettext", (message, message), []
        else:
            yield number, "_", message, []


CAMPAIGN_TEXT = {"name", "description"}


def _walk(node: Any, key: str, wanted: set[str] = TRANSLATABLE) -> Iterator[str]:
    if isinstance(node, dict):
        for child_key, value in node.items():
            if child_key in ("telegram", "zalo", "database", "web", "units", "schedule", "reminders", "follow_up"):
                continue
            # config.toml's campaigns: their name and description are shown; "unit" is a unit code.
            yield from _walk(value, child_key, CAMPAIGN_TEXT if child_key == "campaigns" else wanted)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key, wanted)
    elif isinstance(node, str) and key in wanted and node.strip():
        yield node
