"""The composition root: the one place that builds the database, engine, channels and scheduler."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import logs
from bot.channels.port import Channel
from bot.channels.simulator.channel import CHANNEL as SIM_CHANNEL
from bot.channels.simulator.channel import SimulatorChannel
from bot.metrics import Metrics
from handlers.campaigns import campaigns
from handlers.delivery import notices, outbox
from handlers.engine import Engine, Handled
from handlers.forms import FormRegistry, load_forms
from handlers.i18n import Catalogs
from handlers.messages import Delivery, Incoming, Reply
from handlers.ports import Clock, SystemClock
from handlers.reports import undelivered
from handlers.summaries import digests
from models import db
from models.files import LocalFileStore
from models.outbox import Claimed, Outcome
from models.private import private_dir
from models.repos import Repo
from models.settings import Settings
from scheduler import jobs
from scheduler.dispatcher import Dispatcher, Sender
from scheduler.ticker import Ticker

log = logging.getLogger(__name__)

# How long a handled update's key is kept: Telegram and Zalo resend an update for hours at most, and
# Telegram may reuse update ids after a week without updates.
HANDLED_UPDATES_DAYS = 7


@dataclass
class App:
    settings: Settings
    db_engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Long reads (summaries, digests, exports): on SQLite a second engine whose queries run on a
    # thread (models/db.py); on PostgreSQL the same engine as `sessions`.
    read_engine: AsyncEngine
    reads: async_sessionmaker[AsyncSession]
    forms: FormRegistry
    catalogs: Catalogs
    files: LocalFileStore
    engine: Engine
    simulator: SimulatorChannel
    ticker: Ticker
    clock: Clock
    dispatcher: Dispatcher
    # Per campaign, the moment up to which this process has looked (a restart looks back two days).
    campaign_marks: dict[int, datetime] = field(default_factory=dict)
    digest_mark: datetime | None = None
    # Messenger adapters by channel name ("telegram", "zalo"), started with the app.
    channels: dict[str, Channel] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)  # /metrics (bot/metrics.py)

    async def receive(self, msg: Incoming) -> Handled:
        """Runs one incoming message through the core; what it produced for others is in the outbox.

        The replies to the sender are the caller's (the adapter that received the message).
        """
        started = time.perf_counter()
        logs.begin(msg.channel)  # a request id for every log line of this update
        handled = await self.engine.handle(msg)
        self.metrics.handled(msg.channel, handled, time.perf_counter() - started)
        if handled.deliveries:
            self.dispatcher.wake()
        return handled

    async def deliver_to_person(self, person_id: int, replies: list[Reply], *, broadcast: bool = False) -> None:
        """Queues messages for every identity of the person, on whichever channel it is."""
        async with self.sessions() as session, session.begin():
            await outbox.enqueue(Repo(session), [Delivery(person_id, reply) for reply in replies],
                                 now=self.clock.now(), settings=self.settings, broadcast=broadcast)
        self.dispatcher.wake()

    async def notice_progress(self, notice_ids: set[int]) -> None:
        """After each recorded batch: tell the senders of these notices how far delivery got."""
        async with self.sessions() as session, session.begin():
            repo = Repo(session)
            told = await notices.progress(repo, notice_ids, now=self.clock.now(), translate=self.engine.translator)
            await outbox.enqueue(repo, told, now=self.clock.now(), settings=self.settings)
        if told:
            self.dispatcher.wake()

    async def undelivered(self, failed: list[tuple[Claimed, Outcome]]) -> None:
        """Rows that finally failed or found the user blocked: an urgent incident goes to the next
        official up, and its reporter is told it did not get through."""
        for row, _outcome in failed:
            if undelivered.incident_of(row.payload) is None:
                continue
            async with self.sessions() as session, session.begin():
                repo = Repo(session)
                told = await undelivered.alert_next(
                    repo, undelivered.Undelivered(row.id, row.identity_id, row.payload), forms=self.forms,
                    settings=self.settings, now=self.clock.now(), translate=self.engine.translator)
                await outbox.enqueue(repo, told, now=self.clock.now(), settings=self.settings,
                                     key=f"undelivered:{row.id}")
            if told:
                log.warning("urgent message %s did not reach its official; %d messages queued instead",
                            row.key, len(told))
                self.dispatcher.wake()

    async def run_campaigns(self) -> int:
        """The ticker's job: campaign moments that are due become occurrences and queued messages."""
        async with self.sessions() as session, session.begin():
            queued = await campaigns.run_due(Repo(session), now=self.clock.now(), settings=self.settings,
                                             translate=self.engine.translator, since=self.campaign_marks)
        if queued:
            self.dispatcher.wake()
        return queued

    async def run_digests(self) -> int:
        """The ticker's job: officials' daily, weekly and monthly digests when they are due."""
        now = self.clock.now()
        after = self.digest_mark or now - timedelta(minutes=self.settings.campaigns.grace_minutes)
        queued = await digests.run_due(sessions=self.sessions, reads=self.reads, after=after, now=now,
                                       settings=self.settings, translate=self.engine.translator, files=self.files)
        self.digest_mark = now
        if queued:
            self.dispatcher.wake()
        return queued

    async def escalate_incidents(self) -> int:
        """The ticker's job: urgent incidents nobody acknowledged go one level up."""
        return await jobs.escalate_incidents(sessions=self.sessions, engine=self.engine, clock=self.clock,
                                             wake=self.dispatcher.wake)

    async def forget_handled_updates(self) -> int:
        """The ticker's job: drops the keys of updates handled more than a week ago."""
        before = self.clock.now() - timedelta(days=HANDLED_UPDATES_DAYS)
        async with self.sessions() as session, session.begin():
            return await Repo(session).forget_updates(before)

    async def close_intake(self, within: float = 10.0) -> None:
        """Takes no new messages from the messengers; finishes those in hand (at most `within` seconds)."""
        closing = [channel.close_intake(within) for channel in self.channels.values()
                   if hasattr(channel, "close_intake")]
        for result in await asyncio.gather(*closing, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("closing a channel's intake failed", exc_info=result)

    async def start(self) -> None:
        self.ticker.start()
        self.dispatcher.start()
        for channel in self.channels.values():
            await channel.start()

    async def stop(self) -> None:
        # The dispatcher first: its sends in flight still need the channels' connections.
        await self.dispatcher.stop()
        for channel in self.channels.values():
            try:
                await channel.stop()
            except Exception:
                log.exception("stopping channel %s", channel.name)
        self.ticker.shutdown()
        await self.metrics.close()
        await self.db_engine.dispose()
        if self.read_engine is not self.db_engine:
            await self.read_engine.dispose()


def build(settings: Settings, *, clock: Clock | None = None) -> App:
    """Builds the whole application from validated settings (nothing is started yet)."""
    forms = load_forms(settings.forms_dir, {task.key for task in settings.tasks})
    catalogs = Catalogs(settings.locales_dir)
    db_engine = db.create_engine(settings.database_url, echo=settings.database.echo,
                                 lock_wait_seconds=settings.database.lock_wait_seconds)
    sessions = db.session_factory(db_engine)
    private_dir(settings.data_dir)  # photos, exports and (by default) the database: the app's user only
    read_engine = db.create_read_engine(settings.database_url, db_engine, echo=settings.database.echo)
    reads = sessions if read_engine is db_engine else db.session_factory(read_engine)
    files = LocalFileStore(settings.data_dir / "files")
    clock = clock or SystemClock()
    engine = Engine(sessions=sessions, settings=settings, forms=forms, catalogs=catalogs, files=files, clock=clock,
                    reads=reads)
    simulator = SimulatorChannel(sessions, clock)
    ticker = Ticker(settings.app.timezone)
    senders: dict[str, Sender] = {SIM_CHANNEL: simulator}
    dispatcher = Dispatcher(sessions=sessions, senders=senders, clock=clock, settings=settings.outbox)
    app = App(settings=settings, db_engine=db_engine, sessions=sessions, read_engine=read_engine, reads=reads,
              forms=forms, catalogs=catalogs,
              files=files, engine=engine, simulator=simulator, ticker=ticker, clock=clock, dispatcher=dispatcher)
    _add_channels(app)
    senders.update(app.channels)
    dispatcher.on_recorded = app.notice_progress
    dispatcher.on_undelivered = app.undelivered
    ticker.every("escalate-incidents", settings.incidents.check_seconds, app.escalate_incidents)
    ticker.every("campaigns", settings.campaigns.check_seconds, app.run_campaigns)
    ticker.every("digests", settings.campaigns.check_seconds, app.run_digests)
    ticker.every("forget-handled-updates", 3600, app.forget_handled_updates)
    return app


def _add_channels(app: App) -> None:
    """Adds a messenger adapter for every channel that has a token configured."""
    # Each adapter registers itself here, e.g.:
    #   if app.settings.telegram.token: app.channels["telegram"] = TelegramChannel(app)
    if app.settings.telegram.token:
        from bot.channels.telegram.channel import TelegramChannel

        app.channels["telegram"] = TelegramChannel(app)
    if app.settings.zalo.token:
        from bot.channels.zalo.channel import ZaloChannel

        app.channels["zalo"] = ZaloChannel(app)


def configured_channels(settings: Settings) -> list[str]:
    """The messengers with a token configured: real people may write to the bot through them."""
    return [name for name, channel in (("telegram", settings.telegram), ("zalo", settings.zalo)) if channel.token]


async def load_demo(app: App) -> None:
    """Loads the demo data whatever is configured (`totruong demo`, tests); idempotent."""
    from bot import demo

    async with app.sessions() as session, session.begin():
        await demo.load(session, app.settings)


async def prepare_database(app: App) -> None:
    """Applies the migrations (when configured) and loads the demo data into an empty database
    when no messenger is configured."""
    from bot import demo

    if app.settings.database.auto_migrate:
        await db.upgrade(app.settings.database_url)
    tokens = configured_channels(app.settings)
    if app.settings.app.load_demo_when_empty and tokens:
        # Demo personas, units and unlimited codes beside a real messenger would let anyone who
        # types a README code become a leader: the demo is for the simulator only.
        log.info("demo data not loaded: a %s token is configured (run `totruong demo` to load it anyway)",
                 " and ".join(tokens))
    elif app.settings.app.load_demo_when_empty:
        async with app.sessions() as session, session.begin():
            if await demo.is_empty(session):
                await demo.load(session, app.settings)
                log.info("loaded the demo data")
    async with app.sessions() as session, session.begin():
        created = await campaigns.sync_defaults(Repo(session), app.settings, now=app.clock.now())
        if created:
            log.info("created %d campaigns from config.toml", created)
