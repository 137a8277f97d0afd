"""The web app: the simulator page and its JSON API, health checks (and later the webhooks)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot import demo, gate, metrics
from bot.bootstrap import App
from bot.channels.simulator.channel import CHANNEL
from handlers.i18n import _
from handlers.messages import Incoming, Location, PhotoIn, split_command
from models.faults import DATABASE_UNAVAILABLE, DISK_FULL, PLATFORM_FAULTS, platform_fault
from models.settings import SettingsError, simulator_exposure
from models.tables import Attachment, Identity, SimMessage

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
USER_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
READY_TIMEOUT = 2.0  # seconds the readiness check waits for the database
# What the page shows when the platform fails outside the engine (reading messages, storing the
# replies): it cannot say whether the message itself was recorded, so it does not claim either.
UNAVAILABLE = {
    DATABASE_UNAVAILABLE: _("Hệ thống tạm thời không kết nối được cơ sở dữ liệu. Vui lòng thử lại sau ít phút."),
    DISK_FULL: _("Máy chủ tạm thời hết chỗ lưu dữ liệu. Vui lòng thử lại sau ít phút."),
}


class Unavailable(Exception):
    """The platform underneath failed: the API answers 503 with the reason and a message to show."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


def unavailable(reason: str, message: str) -> JSONResponse:
    """The 503 answer: a JSON body the simulator page (and scripts) can show, and a hint when to retry."""
    return JSONResponse({"error": reason, "message": message}, status_code=503, headers={"Retry-After": "30"})


class LocationIn(BaseModel):
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)  # NaN compares false with every bound
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)


class SendIn(BaseModel):
    """One action of a simulated user: exactly one of text, button or location."""

    user: str = Field(pattern=USER_PATTERN)
    name: str = Field(default="", max_length=200)
    text: str | None = Field(default=None, max_length=10_000)
    button: str | None = Field(default=None, max_length=64)
    location: LocationIn | None = None


# The types a stored file is served as. Anything else (a file stored before photos were re-encoded,
# say an SVG) is a download, never a page the browser would render or run on our origin.
SERVED_INLINE = {"image/jpeg", "image/png", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def served_as(attachment: Attachment) -> tuple[str, dict[str, str]]:
    """The type and headers that make the browser take a stored file for exactly its stored type."""
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
    if attachment.mime in SERVED_INLINE:
        return attachment.mime, headers
    return "application/octet-stream", {**headers, "Content-Disposition": "attachment"}


async def may_see_file(session: AsyncSession, user: str, attachment: Attachment) -> bool:
    """The chat's rule for files: a message to this simulator user carried it, or they sent it."""
    payloads = await session.scalars(select(col(SimMessage.payload)).where(col(SimMessage.external_id) == user))
    if any(attachment.id in (p.get("photo_id"), p.get("document_id")) for p in payloads):
        return True
    if attachment.uploaded_by is None:
        return False
    sender = await session.scalar(select(col(Identity.person_id)).where(col(Identity.channel) == CHANNEL,
                                                                        col(Identity.external_id) == user))
    return sender is not None and sender == attachment.uploaded_by


def create_web(app: App) -> FastAPI:
    """The web app for these settings; refuses a simulator that other machines could reach unprotected."""
    problem = simulator_exposure(app.settings.web)
    if problem:
        raise SettingsError(problem)
    web = FastAPI(title="Tổ trưởng", docs_url="/api/docs" if app.settings.web.simulator else None,
                  redoc_url=None, openapi_url="/api/openapi.json" if app.settings.web.simulator else None)

    t = app.engine.translator(app.settings.app.language)

    @web.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422 echoes the input, and a NaN in it cannot be written as JSON: a 500.
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @web.exception_handler(Unavailable)
    async def on_unavailable(_request: Request, error: Unavailable) -> JSONResponse:
        return unavailable(error.reason, error.message)

    async def on_platform_error(request: Request, error: Exception) -> JSONResponse:
        fault = platform_fault(error)
        if fault is None:
            raise error  # a bug: the ordinary 500, with its traceback in the log
        log.error("%s %s: %s (%s)", request.method, request.url.path, fault, error)
        return unavailable(fault, t(UNAVAILABLE[fault]))

    for kind in (SQLAlchemyError, sqlite3.Error, OSError):
        web.add_exception_handler(kind, on_platform_error)

    @web.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process runs and answers (whatever the database does)."""
        return {"status": "ok"}

    @web.get("/readyz", response_model=None)
    async def readyz() -> dict[str, str] | JSONResponse:
        """Readiness: 200 when the database answers within READY_TIMEOUT, else 503 with the reason."""
        try:
            await asyncio.wait_for(_ping(), READY_TIMEOUT)
        except Exception as error:
            fault = platform_fault(error)
            if fault is None and not isinstance(error, SQLAlchemyError):
                raise
            detail = f"no answer within {READY_TIMEOUT:g} s" if isinstance(error, TimeoutError) and not str(error) \
                else type(error).__name__
            log.warning("not ready: %s (%s)", fault or "database_error", error)
            return JSONResponse({"status": "unavailable", "reason": fault or "database_error", "detail": detail},
                                status_code=503)
        return {"status": "ready", "database": "ok"}

    async def _ping() -> None:
        # A read of a real table: SQLite opens its file lazily, and this also proves the schema is there.
        async with app.db_engine.connect() as connection:
            await connection.execute(text("SELECT version_num FROM alembic_version"))

    for channel in app.channels.values():
        channel.mount(web)  # webhooks
    metrics.mount(web, app.metrics, settings=app.settings.web, reads=app.reads, clock=app.clock)

    if not app.settings.web.simulator:
        return web
    if app.settings.web.simulator_public:
        gate.protect(web, app.settings.web.simulator_secret)

    @web.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @web.get("/api/personas")
    async def personas() -> dict[str, Any]:
        """The demo personas and invite codes, plus a fresh id for a new anonymous user."""
        return {
            "personas": [dict(p) for p in demo.PERSONAS],
            "invites": [dict(i) for i in demo.INVITES],
            "new_user": "khach-" + secrets.token_hex(4),
            "area_bbox": list(app.settings.app.area_bbox),
        }

    async def run(msg: Incoming) -> dict[str, Any]:
        handled = await app.receive(msg, keep_replies=True)  # stored in the step's transaction
        if handled.failed in PLATFORM_FAULTS:
            # The engine's apology is the answer; it cannot be stored for the page while the
            # database is down or full, so it travels in the 503 body.
            raise Unavailable(handled.failed, "\n".join(reply.text for reply in handled.replies))
        if handled.kept is not None and handled.kept_at is not None:  # stored in the step's transaction
            return {"messages": app.simulator.delivered(msg.user_id, handled.replies, handled.kept, handled.kept_at)}
        stored = await app.simulator.deliver(msg.user_id, handled.replies)  # the apology after a conflict
        return {"messages": stored}

    @web.post("/api/send")
    async def send(body: SendIn, request: Request) -> dict[str, Any]:
        """Sends a text, a button press or a location as the given user; returns the bot's replies."""
        given = [body.text is not None, body.button is not None, body.location is not None]
        if sum(given) != 1:
            raise HTTPException(422, "send exactly one of text, button, location")
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": body.user, "chat_id": body.user,
                                "display_name": body.name, "at": app.clock.now(),
                                "address": request.client.host if request.client else ""}
        if body.location is not None:
            return await run(Incoming(**base, location=Location(body.location.latitude, body.location.longitude)))
        if body.button is not None:
            return await run(Incoming(**base, button=body.button))
        text = body.text or ""
        command = split_command(text)
        if command is not None:
            return await run(Incoming(**base, command=command[0], argument=command[1]))
        return await run(Incoming(**base, text=text))

    @web.post("/api/photo")
    async def photo(user: str = Form(pattern=USER_PATTERN), name: str = Form(""),
                    file: UploadFile = File(...)) -> dict[str, Any]:
        """Sends a photo (multipart upload) as the given user."""
        limit = app.settings.limits.photo_max_bytes
        content = await file.read(limit + 1)
        # Whatever type the upload claims, the core decodes it: anything that is not a photo gets
        # the chat's Vietnamese answer, as it would on Telegram or Zalo.
        mime = file.content_type or "application/octet-stream"
        return await run(Incoming(channel=CHANNEL, user_id=user, chat_id=user, display_name=name,
                                  photo=PhotoIn(content=content, mime=mime, filename=file.filename or ""),
                                  at=app.clock.now()))

    @web.get("/api/messages")
    async def messages(user: str = Query(pattern=USER_PATTERN), after: int = Query(0, ge=0),
                       wait: float = Query(0, ge=0, le=30)) -> dict[str, Any]:
        """The messages sent to the user after the given id; `wait` seconds of long polling."""
        return {"messages": await app.simulator.messages_after(user, after, wait=wait)}

    @web.get("/api/files/{attachment_id}")
    async def files(attachment_id: int, user: str = Query(pattern=USER_PATTERN)) -> FileResponse:
        """A stored file, for the simulator user it was sent to (or who sent it), and nobody else."""
        async with app.sessions() as session:
            attachment = await session.get(Attachment, attachment_id)
            allowed = attachment is not None and await may_see_file(session, user, attachment)
        if attachment is None or not allowed:
            # The same answer for "no such file" and "not yours": ids cannot be probed.
            raise HTTPException(404, "no such file")
        media_type, headers = served_as(attachment)
        return FileResponse(app.files.path_of(attachment), media_type=media_type, headers=headers)

    return web
