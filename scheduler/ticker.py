"""The in-process ticker: APScheduler 3 with an in-memory job store. It only runs jobs on time;
what must happen later lives in database rows that the jobs claim."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, timezone: str) -> None:
        self.scheduler = AsyncIOScheduler(timezone=timezone)
        self.jobs: list[tuple[str, Callable[[], Awaitable[object]], float]] = []

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        """Runs `job` every `seconds`; one run at a time, missed runs merged into one."""
        self.jobs.append((name, job, seconds))

    def start(self) -> None:
        """Starts ticking (needs a running event loop)."""
        if not self.jobs:
            return
        for name, job, seconds in self.jobs:
            self.scheduler.add_job(job, "interval", seconds=seconds, id=name, max_instances=1,
                                   coalesce=True, misfire_grace_time=max(1, int(seconds)))
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
