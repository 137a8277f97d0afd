"""The composition root: the one place that builds the database, engine, channels and scheduler."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels import build_channels, configured
from bot.channels.port import Channel
from bot.channels.simulator import CHANNEL as SIM_CHANNEL
from bot.channels.simulator import SimulatorChannel
from bot.host import Host, SimulatorStore
from bot.metrics import Metrics
from handlers.campaigns import campaigns
from handlers.engine import Engine, Handled
from handlers.forms import FormRegistry, load_forms
from handlers.i18n import Catalogs
from handlers.messages import Incoming, Reply
from handlers.ports import Clock, SystemClock
from models import db
from models.files import LocalFileStore
from models.outbox import Claimed, Outcome
from models.private import private_dir
from models.settings import Settings
from scheduler.dispatcher import Dispatcher, Sender
from scheduler.jobs import Jobs
from scheduler.ticker import Ticker
from scheduler.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

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
    # What the messenger adapters see of the app (bot/channels/port.py).
    host: Host
    jobs: Jobs
    # Messenger adapters by channel name ("telegram", "zalo"), started with the app.
    channels: dict[str, Channel] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)  # /metrics (bot/metrics.py)

    async def receive(self, msg: Incoming, *, keep_replies: bool = False) -> Handled:
        """Runs one incoming message through the core; what it produced for others is in the outbox.

        The replies to the sender are the caller's (the adapter that received the message);
        `keep_replies`: stored as simulator messages in the step's transaction (Engine.handle).
        """
        return await self.host.receive(msg, keep_replies=keep_replies)

    # The jobs' bodies live in scheduler/jobs.py; these are the app's handles on them.
    async def deliver_to_person(self, person_id: int, replies: list[Reply], *, broadcast: bool = False) -> None:
        await self.jobs.deliver_to_person(person_id, replies, broadcast=broadcast)

    async def notice_progress(self, notice_ids: set[int]) -> None:
        await self.jobs.notice_progress(notice_ids)

    async def undelivered(self, failed: list[tuple[Claimed, Outcome]]) -> None:
        await self.jobs.undelivered(failed)

    async def run_campaigns(self) -> int:
        return await self.jobs.run_campaigns()

    async def run_digests(self) -> int:
        return await self.jobs.run_digests()

    async def escalate_incidents(self) -> int:
        return await self.jobs.escalate_incidents()

    async def forget_handled_updates(self) -> int:
        return await self.jobs.forget_handled_updates()

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
    simulator = SimulatorChannel(SimulatorStore(sessions), clock)
    ticker = Ticker(settings.app.timezone)
    senders: dict[str, Sender] = {SIM_CHANNEL: simulator}
    dispatcher = Dispatcher(sessions=sessions, senders=senders, clock=clock, settings=settings.outbox)
    metrics = Metrics()
    host = Host(settings=settings, clock=clock, engine=engine, db_engine=db_engine, sessions=sessions, files=files,
                wake=dispatcher.wake, metrics=metrics)
    jobs = Jobs(sessions=sessions, reads=reads, settings=settings, forms=forms, files=files, clock=clock,
                translate=engine.translator, wake=dispatcher.wake)
    app = App(settings=settings, db_engine=db_engine, sessions=sessions, read_engine=read_engine, reads=reads,
              forms=forms, catalogs=catalogs, files=files, engine=engine, simulator=simulator, ticker=ticker,
              clock=clock, dispatcher=dispatcher, host=host, jobs=jobs, channels=build_channels(host),
              metrics=metrics)
    senders.update(app.channels)
    dispatcher.on_recorded = jobs.notice_progress
    dispatcher.on_undelivered = jobs.undelivered
    ticker.every("escalate-incidents", settings.incidents.check_seconds, jobs.escalate_incidents)
    ticker.every("campaigns", settings.campaigns.check_seconds, jobs.run_campaigns)
    ticker.every("digests", settings.campaigns.check_seconds, jobs.run_digests)
    ticker.every("forget-handled-updates", 3600, jobs.forget_handled_updates)
    # Hourly, so that a restart never skips a day; the job purges once a day (scheduler/retention.py).
    ticker.every("purge-expired", 3600, jobs.purge_expired)
    return app


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
    tokens = configured(app.settings)
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
    async with unit_of_work(app.sessions) as repo:
        created = await campaigns.sync_defaults(repo, app.settings, now=app.clock.now())
        if created:
            log.info("created %d campaigns from config.toml", created)
