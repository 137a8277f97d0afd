"""Zalo's HTTP routes: the signed links Zalo fetches photos from, and the webhook."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from bot.channels.port import ChannelHost

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Bot-Api-Secret-Token"
FILES_PATH = "/zalo/files"


class FileLinks:
    """Links to attachments that only this bot can make (an HMAC of the id under the token)."""

    def __init__(self, token: str, public_url: str) -> None:
        self._key = hashlib.sha256(b"totruong-zalo-files:" + token.encode()).digest()
        self._public = public_url.rstrip("/")

    def signature(self, attachment_id: int) -> str:
        return hmac.new(self._key, str(attachment_id).encode(), hashlib.sha256).hexdigest()[:32]

    def url(self, attachment_id: int) -> str | None:
        """A URL Zalo can fetch the attachment from, when the app has a public address."""
        if not self._public:
            return None
        return f"{self._public}{FILES_PATH}/{attachment_id}/{self.signature(attachment_id)}"


class Receiver(Protocol):
    """The channel as its webhook sees it."""

    closing: bool
    dead: bool
    webhook_answer_seconds: float

    async def accept(self, update: dict[str, Any], *, within: float | None = None) -> bool: ...


def mount_files(web: FastAPI, links: FileLinks, host: ChannelHost) -> None:
    @web.get(FILES_PATH + "/{attachment_id}/{signature}", include_in_schema=False)
    async def zalo_file(attachment_id: int, signature: str) -> Response:
        if not hmac.compare_digest(signature.encode(), links.signature(attachment_id).encode()):
            raise HTTPException(404, "no such file")
        file = await host.attachment(attachment_id)
        if file is None:
            raise HTTPException(404, "no such file")
        return Response(file.content, media_type=file.mime)


def mount_webhook(web: FastAPI, path: str, secret: str, receiver: Receiver) -> None:
    """The route Zalo posts updates to: answered once the message was handled and answered."""

    @web.post(path, include_in_schema=False)
    async def zalo_webhook(request: Request) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("refused a Zalo webhook call without the right secret")
            return JSONResponse({"ok": False, "description": "forbidden"}, status_code=403)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "description": "not JSON"}, status_code=400)
        # The documentation wraps the update like getUpdates; real traffic may not.
        update = body.get("result") if isinstance(body, dict) and "result" in body else body
        if not isinstance(update, dict):
            return JSONResponse({"ok": False, "description": "no update"}, status_code=400)
        if receiver.closing:  # shutting down: Zalo sends it again later, to the restarted app
            return JSONResponse({"ok": False, "description": "restarting"}, status_code=503)
        if not receiver.dead and not await receiver.accept(update, within=receiver.webhook_answer_seconds):
            return JSONResponse({"ok": False, "description": "still handling"}, status_code=500)
        return JSONResponse({"ok": True})
