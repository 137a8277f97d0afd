"""`/metrics` for Prometheus (prometheus-client).

Two kinds of figures:
- this process's, counted on the hot path (in plain dicts, `_Updates`: an increment and a bisect
  per update): updates by channel and outcome, reply latency by channel, and the process itself
  (CPU, memory, open files, garbage collection);
- the database's, read at scrape time on the read engine by `DatabaseCollector` (models/
  metrics_queries.py): outbox rows by channel, kind and status, the dispatcher's lag, campaign
  occurrences, escalations. Every instance reports the same figures (aggregate them with max, not
  sum). The read is bounded by READ_TIMEOUT and its result kept for CACHE_SECONDS, so a scrape never
  holds an answer up and several scrapers cost one read; when the database does not answer in
  time, `totruong_database_figures_up` is 0 and the database's figures are left out.

No personal data: labels are channel names, kinds, statuses and fault kinds only.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import logs
from handlers.engine import Handled
from handlers.ports import Clock
from models.metrics_queries import Figures, read
from models.settings import WebSettings

log = logging.getLogger(__name__)
READ_TIMEOUT = 2.0  # seconds a scrape waits for the database's figures
CACHE_SECONDS = 5.0  # a scrape within this of the last read reuses its figures
# Reply latency: a form step takes milliseconds, a busy database seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The buckets' `le` labels, written as prometheus-client's Histogram writes them ("0.005", "1.0", "+Inf").
_BOUNDS = (*(floatToGoString(bound) for bound in LATENCY_BUCKETS), "+Inf")  # type: ignore[no-untyped-call]
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: twice the lines for a timestamp nobody graphs


class _Process(Collector):
    """The process collectors of prometheus-client (one set per process, whatever the registry)."""

    def collect(self) -> Iterator[Metric]:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            yield from collector.collect()


class DatabaseCollector(Collector):
    """Yields the figures of the last read (see `refresh`)."""

    def __init__(self) -> None:
        self.figures: Figures | None = None
        self.read_at = 0.0
        self.read_seconds = 0.0
        self.cache_seconds = CACHE_SECONDS
        self._lock = asyncio.Lock()

    async def refresh(self, reads: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        """Reads the figures again unless the last read is recent; never waits past READ_TIMEOUT."""
        async with self._lock:
            if self.figures is not None and time.monotonic() - self.read_at < self.cache_seconds:
                return
            started = time.monotonic()
            try:
                self.figures = await asyncio.wait_for(self._read(reads, clock), READ_TIMEOUT)
            except Exception as error:  # a scrape says the database did not answer; it never fails
                log.warning("metrics: the database's figures could not be read (%s)", type(error).__name__)
                self.figures = None
            self.read_at = time.monotonic()
            self.read_seconds = self.read_at - started

    async def _read(self, reads: async_sessionmaker[AsyncSession], clock: Clock) -> Figures:
        async with reads() as session, session.begin():
            return await read(session, now=clock.now(), timeout_seconds=READ_TIMEOUT)

    def collect(self) -> Iterator[Metric]:
        figures = self.figures
        yield GaugeMetricFamily("totruong_database_figures_up",
                                "1 when the database's figures below were read at this scrape's time",
                                value=1 if figures is not None else 0)
        yield GaugeMetricFamily("totruong_database_figures_read_seconds", "How long reading them took",
                                value=self.read_seconds)
        if figures is None:
            return
        outbox = GaugeMetricFamily("totruong_outbox_messages", "Outbox rows by channel, kind and status "
                                   "(pending, claimed, sending, retry, sent, failed, blocked, skipped)",
                                   labels=["channel", "kind", "status"])
        for (channel, kind, status), count in sorted(figures.outbox.items()):
            outbox.add_metric([channel, kind, status], count)
        yield outbox
        lag = GaugeMetricFamily("totruong_outbox_lag_seconds", "Age of the oldest due, unsent outbox row "
                                "(0 when none waits)", labels=["channel"])
        channels = sorted({channel for channel, _kind, _status in figures.outbox} | set(figures.lag))
        for channel in channels:
            lag.add_metric([channel], figures.lag.get(channel, 0.0))
        yield lag
        occurrences = CounterMetricFamily("totruong_campaign_occurrences", "Campaign moments that were due, "
                                          "by step and status (sent, skipped)", labels=["step", "status"])
        for (step, status), count in sorted(figures.occurrences.items()):
            occurrences.add_metric([step, status], count)
        yield occurrences
        yield CounterMetricFamily("totruong_escalations", "Times an urgent incident nobody acknowledged went one "
                                  "level up", value=figures.escalations)
        waiting = GaugeMetricFamily("totruong_incidents_unacknowledged", "Urgent incidents waiting for an "
                                    "acknowledgement, by escalation level", labels=["level"])
        for level, count in sorted(figures.open_incidents.items()):
            waiting.add_metric([str(level)], count)
        yield waiting


class _Updates(Collector):
    """Updates by channel, outcome and fault, and the reply latency by channel, counted in plain
    dicts: the hot path pays a dict lookup, an increment and a bisect (prometheus-client's Counter
    and Histogram take a lock per increment, a dozen per update); the families are built at scrape
    time, with the same names, labels and buckets as a Counter and a Histogram would have."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        # Per channel: the count in each bucket (not cumulative; the last one is +Inf) and the sum.
        self.latency: dict[str, tuple[list[int], list[float]]] = {}

    def add(self, key: tuple[str, str, str], seconds: float) -> None:
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        channel = self.latency.get(key[0])
        if channel is None:
            channel = self.latency[key[0]] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
        channel[0][bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: a value on a bound counts in it
        channel[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        updates = CounterMetricFamily("totruong_updates", "Updates from people handled, by channel and outcome "
                                      "(handled, replay, failed) and, when failed, the fault",
                                      labels=["channel", "outcome", "fault"])
        for key, count in list(self.counts.items()):
            updates.add_metric(list(key), count)
        yield updates
        latency = HistogramMetricFamily("totruong_reply_latency_seconds", "From an update reaching the core to "
                                        "its replies being ready (the messenger's send excluded), by channel",
                                        labels=["channel"])
        for channel, (buckets, total) in list(self.latency.items()):
            cumulative = list(accumulate(buckets))
            latency.add_metric([channel], list(zip(_BOUNDS, cumulative, strict=True)), total[0])
        yield latency


class Metrics:
    """The app's metrics, in a registry of its own (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Process())
        self.updates = _Updates()
        self.registry.register(self.updates)
        self.database = DatabaseCollector()
        self.registry.register(self.database)

    def handled(self, channel: str, handled: Handled, seconds: float) -> None:
        """One update went through the core: counted, its latency observed, its JSON log line written."""
        outcome = "failed" if handled.failed else "replay" if handled.replay else "handled"
        self.updates.add((channel, outcome, handled.failed), seconds)
        logs.handled(channel, outcome, seconds, handled.failed)

    async def render(self, reads: async_sessionmaker[AsyncSession], clock: Clock) -> bytes:
        await self.database.refresh(reads, clock)
        return generate_latest(self.registry)


def authorized(request: Request, token: str) -> bool:
    """Without a token, anyone who reaches the port; with one, `Authorization: Bearer TOKEN` only."""
    if not token:
        return True
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(value.strip().encode(), token.encode())


def mount(web: FastAPI, metrics: Metrics, *, settings: WebSettings, reads: async_sessionmaker[AsyncSession],
          clock: Clock) -> None:
    """Adds `/metrics` to the app's web server (whether the simulator is served or not)."""
    if not settings.metrics:
        return
    token = settings.metrics_token

    @web.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        if not authorized(request, token):
            return Response("unauthorized\n", status_code=401, media_type="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
        return Response(await metrics.render(reads, clock), media_type=CONTENT_TYPE_LATEST)
