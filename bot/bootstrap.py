"""The composition root: the one place that builds the database, engine, channels and scheduler."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.simulator import SimulatorChannel
from handlers.engine import Engine, Handled
from handlers.forms import FormRegistry, load_forms
from handlers.i18n import Catalogs
from handlers.messages import Incoming
from handlers.ports import Clock, SystemClock
from models import db
from models.files import LocalFileStore
from models.settings import Settings
from scheduler.ticker import Ticker

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db_engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    forms: FormRegistry
    catalogs: Catalogs
    files: LocalFileStore
    engine: Engine
    simulator: SimulatorChannel
    ticker: Ticker
    clock: Clock
    extras: dict[str, Any] = field(default_factory=dict)

    async def receive(self, msg: Incoming) -> Handled:
        """Runs one incoming message through the core and delivers what it produced."""
        handled = await self.engine.handle(msg)
        for delivery in handled.deliveries:
            await self.simulator.deliver_to_person(delivery.person_id, [delivery.reply])
        return handled

    async def start(self) -> None:
        self.ticker.start()

    async def stop(self) -> None:
        self.ticker.shutdown()
        await self.db_engine.dispose()


def build(settings: Settings, *, clock: Clock | None = None) -> App:
    """Builds the whole application from validated settings (nothing is started yet)."""
    forms = load_forms(settings.forms_dir, {task.key for task in settings.tasks})
    catalogs = Catalogs(settings.locales_dir)
    db_engine = db.create_engine(settings.database_url, echo=settings.database.echo)
    sessions = db.session_factory(db_engine)
    files = LocalFileStore(settings.data_dir / "files")
    clock = clock or SystemClock()
    engine = Engine(sessions=sessions, settings=settings, forms=forms, catalogs=catalogs, files=files, clock=clock)
    simulator = SimulatorChannel(sessions)
    ticker = Ticker(settings.app.timezone)
    return App(settings=settings, db_engine=db_engine, sessions=sessions, forms=forms, catalogs=catalogs,
               files=files, engine=engine, simulator=simulator, ticker=ticker, clock=clock)


async def prepare_database(app: App) -> None:
    """Applies the migrations (when configured) and loads the demo data into an empty database."""
    from bot import demo

    if app.settings.database.auto_migrate:
        await db.upgrade(app.settings.database_url)
    if app.settings.app.load_demo_when_empty:
        async with app.sessions() as session, session.begin():
            if await demo.is_empty(session):
                await demo.load(session, app.settings)
                log.info("loaded the demo data")
