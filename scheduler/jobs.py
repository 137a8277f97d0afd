"""Jobs the ticker runs. Each is thin: it claims due rows in one transaction, then delivers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers import reporting
from handlers.engine import Engine
from handlers.messages import Reply
from handlers.ports import Clock
from models.repos import Repo

log = logging.getLogger(__name__)

Deliver = Callable[[int, list[Reply]], Awaitable[None]]


async def escalate_incidents(
    *, sessions: async_sessionmaker[AsyncSession], engine: Engine, clock: Clock, deliver: Deliver
) -> int:
    """Sends urgent incidents nobody acknowledged in time to the next level; returns messages sent."""
    async with sessions() as session, session.begin():
        deliveries = await reporting.escalate_due(Repo(session), forms=engine.forms, settings=engine.settings,
                                                  now=clock.now(), translate=engine.translator)
    for delivery in deliveries:
        await deliver(delivery.person_id, [delivery.reply])
    if deliveries:
        log.info("escalated urgent incidents: %d messages", len(deliveries))
    return len(deliveries)
