"""Runs everything in one event loop: the web server (simulator, health), the ticker, the channels."""

from __future__ import annotations

import logging

import uvicorn

from bot.bootstrap import build, prepare_database
from bot.web import create_web
from handlers.ports import Clock
from models.settings import Settings, SettingsError, simulator_exposure

log = logging.getLogger(__name__)


async def serve(settings: Settings, *, clock: Clock | None = None) -> None:
    """Starts the app and serves until interrupted (Ctrl+C or SIGTERM)."""
    problem = simulator_exposure(settings.web)  # before anything starts: nothing to undo
    if problem:
        raise SettingsError(problem)
    app = build(settings, clock=clock)
    await prepare_database(app)
    await app.start()
    web = create_web(app)
    # Open long polls of the simulator would hold a shutdown for up to 30 s: give them 3.
    config = uvicorn.Config(web, host=settings.web.host, port=settings.web.port, log_level="warning",
                            access_log=False, lifespan="off", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    original_exit = server.handle_exit

    def handle_exit(sig: int, frame: object) -> None:
        app.simulator.wake_all()
        original_exit(sig, frame)  # type: ignore[arg-type]

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    address = f"http://{settings.web.host}:{settings.web.port}"
    if settings.web.simulator:
        print(f"Tổ trưởng is running. Simulator: {address}  (Ctrl+C to stop)", flush=True)
    else:
        print(f"Tổ trưởng is running on {address}  (Ctrl+C to stop)", flush=True)
    try:
        await server.serve()
    finally:
        await app.stop()
        log.info("stopped")
