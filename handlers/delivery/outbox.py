"""Queuing messages for later delivery: every message to someone other than the sender goes
through the outbox, written in the same transaction as what caused it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from handlers.messages import Delivery, Reply
from models import outbox as rows
from models.repos import Repo
from models.settings import Settings


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def after_quiet_hours(now: datetime, settings: Settings) -> datetime:
    """`now`, or the end of the quiet hours (local time) when `now` falls inside them."""
    tz = settings.app.tz
    local = now.astimezone(tz)
    start, end = _clock(settings.notices.quiet_start), _clock(settings.notices.quiet_end)
    current = local.timetz().replace(tzinfo=None)
    overnight = start > end
    inside = (current >= start or current < end) if overnight else (start <= current < end)
    if not inside:
        return now
    wake = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if wake <= local:
        wake += timedelta(days=1)
    return wake.astimezone(now.tzinfo)


async def enqueue(
    repo: Repo,
    deliveries: Sequence[Delivery],
    *,
    now: datetime,
    settings: Settings,
    key: str | None = None,
    broadcast: bool = False,
) -> int:
    """Queues replies for people. Direct messages (alerts, answers) go at once; broadcast ones
    (reminders, digests) respect opt-outs and wait for the end of the quiet hours."""
    queued = 0
    due = after_quiet_hours(now, settings) if broadcast else now
    for number, delivery in enumerate(deliveries):
        base = f"{key}:{number}" if key else f"msg:{uuid.uuid4().hex}"
        queued += await rows.enqueue_identities(
            repo.session, person_ids=[delivery.person_id], key=base, payload=[delivery.reply.to_json()],
            due_at=due, kind="broadcast" if broadcast else "direct")
    return queued


def payload(replies: Sequence[Reply]) -> list[dict[str, object]]:
    return [reply.to_json() for reply in replies]
