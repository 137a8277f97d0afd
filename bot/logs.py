"""Logs: the ordinary text lines, or (`app.log_format = "json"`) one JSON object per line that a
log collector can read, each carrying the id of the update it belongs to.

Where an update enters (App.receive) it gets a request id in a context variable: every line logged
while it is handled, and after (the adapter sending its replies runs in the same task), carries it.
With JSON logs one line per update says its channel, outcome and latency.

No personal data and no secrets: a JSON line never holds a configured token or secret, anything that
looks like a bot token, SQL parameters, or a long number (chat and user ids, phone numbers) in
clear; those are replaced by a short keyed hash, so one chat's lines can still be followed without
its id being readable. The core's own lines name no texts or names.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import random
import re
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
CHANNEL: contextvars.ContextVar[str] = contextvars.ContextVar("channel", default="")
updates = logging.getLogger("totruong.updates")  # one line per update; INFO only with JSON logs

# A Telegram or Zalo bot token: digits, a colon, a long secret.
TOKEN_LIKE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}")
# Chat and user ids of Telegram and Zalo, phone numbers (+84 905 123 456, 0905123456).
LONG_NUMBER = re.compile(r"(?<![\w.:/-])\+?\d(?:[ .-]?\d){7,}(?![\w.])")
# SQLAlchemy puts a statement's parameters (a person's text, a name) in its errors.
SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*(?:\n|\(Background|$))", re.DOTALL)
# An update dumped whole (one that could not be read): what the person wrote and who they are.
PERSONAL_FIELD = re.compile(r"""(['"](?:text|caption|first_name|last_name|username|phone_number|display_name|name|"""
                            r"""title|address|description)['"]\s*:\s*)(['"])(?:\\.|(?!\2).)*\2""")
# The record's own attributes: anything else (extra=...) is a field of the JSON object.
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def begin(channel: str) -> None:
    """Gives the update entering now a request id (its log lines carry it, with its channel)."""
    REQUEST_ID.set(f"{random.getrandbits(48):012x}")  # an id to follow, not a secret: no system call
    CHANNEL.set(channel)


def handled(channel: str, outcome: str, seconds: float, fault: str = "") -> None:
    """The update's one JSON line: its channel, outcome and latency (nothing when logs are text)."""
    if updates.isEnabledFor(logging.INFO):
        extra: dict[str, Any] = {"outcome": outcome, "latency_ms": round(seconds * 1000, 2)}
        if fault:
            extra["fault"] = fault
        updates.info("update %s", outcome, extra=extra)


class Scrubber:
    """Takes secrets and personal numbers out of a log line."""

    def __init__(self, secrets: Iterable[str] = (), *, key: bytes | None = None) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        self.key = key or os.urandom(16)

    def pseudonym(self, value: str) -> str:
        digits = re.sub(r"\D", "", value)
        return "#" + hashlib.blake2b(digits.encode(), key=self.key, digest_size=4).hexdigest()

    def __call__(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, "[secret]")
        line = TOKEN_LIKE.sub("[token]", line)
        line = SQL_PARAMETERS.sub("[parameters hidden]", line)
        line = PERSONAL_FIELD.sub(r"\1'[hidden]'", line)
        return LONG_NUMBER.sub(lambda match: self.pseudonym(match.group(0)), line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, channel, and the
    fields passed with `extra=`; the traceback of an error as `exc`."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.scrub(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            data["request_id"] = request_id
            data["channel"] = CHANNEL.get()
        for key, value in vars(record).items():
            if key not in STANDARD and key not in data:
                data[key] = value if isinstance(value, int | float | bool) or value is None else self.scrub(str(value))
        if record.exc_info:
            data["exc"] = self.scrub("".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            data["exc"] = self.scrub(record.exc_text)
        return json.dumps(data, ensure_ascii=False)


def configure(log_format: str, *, secrets: Iterable[str] = (), stream: Any = None) -> None:
    """Sets the root logger's format: "text" (as before) or "json" (this module's lines)."""
    if log_format != "json":
        updates.setLevel(logging.WARNING)
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(Scrubber(secrets)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    updates.setLevel(logging.INFO)


def secrets_of(settings: Any) -> list[str]:
    """The configured tokens and secrets, which no log line may show."""
    return [value for value in (settings.telegram.token, settings.telegram.webhook_secret,
                                getattr(settings.zalo, "token", ""), getattr(settings.zalo, "webhook_secret", ""),
                                settings.web.simulator_secret, getattr(settings.web, "metrics_token", ""))
            if isinstance(value, str) and value]


# Text logs (the default): no per-update line.
updates.setLevel(logging.WARNING)
