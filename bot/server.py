"""Runs everything in one event loop: the web server (simulator, health), the ticker, the channels.

SIGTERM and SIGINT stop the app in order: no new updates are taken (polling stops, webhooks
answer 503 so the platform retries later), the updates in hand are finished within a bound and
their replies sent, Telegram is told which updates were handled, then the web server and the
app stop (dispatcher, ticker, database), and the process exits 0. uvicorn's own signal handling
is left out: it re-raises the signal after serving, which killed the process before the app's
stop could run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn

from bot.bootstrap import build, prepare_database
from bot.memory import settle_after_start
from bot.web import create_web
from handlers.ports import Clock
from models.settings import Settings, SettingsError, simulator_exposure

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0  # what the updates in hand get to finish after SIGTERM
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: serve() below handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, *, clock: Clock | None = None) -> None:
    """Starts the app and serves until interrupted (Ctrl+C or SIGTERM), then stops it in order."""
    problem = simulator_exposure(settings.web)  # before anything starts: nothing to undo
    if problem:
        raise SettingsError(problem)
    app = build(settings, clock=clock)
    await prepare_database(app)
    await app.start()
    web = create_web(app)
    settle_after_start()
    # Open long polls of the simulator would hold a shutdown for up to 30 s: give them 3.
    # JSON logs (bot/logs.py) format uvicorn's lines too: no logging config of its own then.
    logging_config: dict[str, Any] = {"log_config": None} if settings.app.log_format == "json" else {}
    config = uvicorn.Config(web, host=settings.web.host, port=settings.web.port, log_level="warning",
                            access_log=False, lifespan="off", timeout_graceful_shutdown=3, **logging_config)
    server = _Server(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stopping.is_set():
            log.info("%s again: already stopping", sig.name)
            return
        log.info("%s: finishing the messages in hand, then stopping", sig.name)
        stopping.set()

    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    address = f"http://{settings.web.host}:{settings.web.port}"
    if settings.web.simulator:
        print(f"Tổ trưởng is running. Simulator: {address}  (Ctrl+C to stop)", flush=True)
    else:
        print(f"Tổ trưởng is running on {address}  (Ctrl+C to stop)", flush=True)
    serving = asyncio.create_task(server.serve())
    signalled = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({serving, signalled}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.is_set():
            # While the web server still answers: webhook requests in hand get their answers.
            await app.close_intake(DRAIN_SECONDS)
        app.simulator.wake_all()
        server.should_exit = True
        await serving
    finally:
        signalled.cancel()
        await app.stop()
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
        log.info("stopped")
