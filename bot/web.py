"""The web app: the simulator page and its JSON API, health checks (and later the webhooks)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from bot import demo
from bot.bootstrap import App
from bot.simulator import CHANNEL
from handlers.messages import Incoming, Location, PhotoIn, split_command
from models.tables import Attachment

STATIC = Path(__file__).resolve().parent / "static"
USER_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class LocationIn(BaseModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class SendIn(BaseModel):
    """One action of a simulated user: exactly one of text, button or location."""

    user: str = Field(pattern=USER_PATTERN)
    name: str = Field(default="", max_length=200)
    text: str | None = Field(default=None, max_length=10_000)
    button: str | None = Field(default=None, max_length=64)
    location: LocationIn | None = None


def create_web(app: App) -> FastAPI:
    web = FastAPI(title="Tổ trưởng", docs_url="/api/docs" if app.settings.web.simulator else None,
                  redoc_url=None, openapi_url="/api/openapi.json" if app.settings.web.simulator else None)

    @web.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for channel in app.channels.values():
        channel.mount(web)  # webhooks

    if not app.settings.web.simulator:
        return web

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
        handled = await app.receive(msg)
        stored = await app.simulator.deliver(msg.user_id, handled.replies)
        return {"messages": stored}

    @web.post("/api/send")
    async def send(body: SendIn) -> dict[str, Any]:
        """Sends a text, a button press or a location as the given user; returns the bot's replies."""
        given = [body.text is not None, body.button is not None, body.location is not None]
        if sum(given) != 1:
            raise HTTPException(422, "send exactly one of text, button, location")
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": body.user, "chat_id": body.user,
                                "display_name": body.name, "at": app.clock.now()}
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
        mime = file.content_type or "application/octet-stream"
        if not mime.startswith("image/"):
            raise HTTPException(415, "only images can be sent as photos")
        return await run(Incoming(channel=CHANNEL, user_id=user, chat_id=user, display_name=name,
                                  photo=PhotoIn(content=content, mime=mime, filename=file.filename or ""),
                                  at=app.clock.now()))

    @web.get("/api/messages")
    async def messages(user: str = Query(pattern=USER_PATTERN), after: int = Query(0, ge=0),
                       wait: float = Query(0, ge=0, le=30)) -> dict[str, Any]:
        """The messages sent to the user after the given id; `wait` seconds of long polling."""
        return {"messages": await app.simulator.messages_after(user, after, wait=wait)}

    @web.get("/api/files/{attachment_id}")
    async def files(attachment_id: int) -> FileResponse:
        async with app.sessions() as session:
            attachment = await session.get(Attachment, attachment_id)
        if attachment is None:
            raise HTTPException(404, "no such file")
        return FileResponse(app.files.path_of(attachment), media_type=attachment.mime)

    return web
