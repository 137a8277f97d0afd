"""Runs everything in one event loop: the web server (simulator, health), the ticker, the channels."""

from __future__ import annotations

import logging

import uvicorn

from bot.bootstrap import build, prepare_database
from bot.web import create_web
from models.settings import Settings

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    """Starts the app and serves until interrupted (Ctrl+C or SIGTERM)."""
    app = build(settings)
    await prepare_database(app)
    await app.start()
    web = create_web(app)
    config = uvicorn.Config(web, host=settings.web.host, port=settings.web.port, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
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
