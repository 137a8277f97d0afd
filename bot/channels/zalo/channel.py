"""The Zalo channel: updates from the Zalo Bot Platform in, numbered-menu messages out.

Updates arrive by long polling (`getUpdates`, one update per call) or by webhook, and go through
`ChatQueues` (bot/channels/zalo/intake.py): each chat's in order, different chats side by side.

Each message is handled once: its `message_id` is the update key the engine stores with the
effects, so the same message delivered again (by polling and the webhook, or after a restart)
changes nothing; within one process a repeat waits for the first and is then dropped. The webhook
is answered only after the message was handled and answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import bindparam, select

from bot.channels.send_fallbacks import PHOTO_NOTE, clean_text, sendable, shorter_limit, text_refusal
from bot.channels.text_menus import TEXT_LIMIT, Piece, Shown, render
from bot.channels.zalo.client import ZaloClient, ZaloError, ZaloUnauthorized
from bot.channels.zalo.intake import ChatQueues
from handlers.i18n import Translator, _
from handlers.messages import Incoming, PhotoIn, Reply, split_command
from handlers.ports import Ambiguous, BlockedByUser, Refused, RetryLater, SendError, Unavailable
from models.settings import SettingsError
from models.tables import Attachment, Conversation, Identity, Person

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)

CHANNEL = "zalo"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/zalo/webhook"
FILES_PATH = "/zalo/files"
# A webhook call is answered when its message was handled; a slower one gets a 500 so Zalo retries.
WEBHOOK_ANSWER_SECONDS = 50.0
DRAIN_SECONDS = 10.0  # what the messages in hand get to finish on SIGTERM
LOOKUP_MAX_CHARS = 80  # longer texts are answers, never a button's number or words
# A delivery waits in-line (short retries, a short 429 pause) at most this long; past it the row
# goes back to the outbox to be retried later, so one bad moment does not hold a claimed batch.
DELIVERY_PATIENCE = 3.0
DEAD_RETRY_SECONDS = 60.0

TEXT = "message.text.received"
IMAGE = "message.image.received"
STICKER = "message.sticker.received"
UNSUPPORTED = "message.unsupported.received"

# The buttons last shown to a Zalo user (the engine keeps them in the conversation row) and their language.
_SHOWN_QUERY = (
    select(Conversation.data, Person.language)  # type: ignore[call-overload]
    .select_from(Identity)
    .join(Person, Person.id == Identity.person_id)
    .outerjoin(Conversation, Conversation.identity_id == Identity.id)
    .where(Identity.channel == CHANNEL, Identity.external_id == bindparam("user"))
)

STICKER_REPLY = _("Cảm ơn bạn! 😊 Tôi chưa hiểu được nhãn dán. Hãy gõ chữ hoặc số, hoặc gõ /menu để xem các việc "
                  "tôi giúp được.")
UNSUPPORTED_REPLY = _("Xin lỗi, Zalo không chuyển nội dung tin nhắn này cho tôi (Zalo ẩn nội dung của một số tài "
                      "khoản và một số loại tin như vị trí, tệp, tin thoại). Vui lòng gõ chữ hoặc gửi ảnh; "
                      "vị trí thì gõ địa chỉ hoặc tọa độ.")
PHOTO_FAILED = _("Xin lỗi, tôi không tải được ảnh bạn gửi từ Zalo. Vui lòng gửi lại ảnh.")


class ZaloChannel:
    """The Zalo messenger adapter (see bot/channels/port.py for what every channel offers)."""

    name = CHANNEL

    def __init__(self, app: App, *, client: ZaloClient | None = None, poll_timeout: int = 30,
                 concurrency: int = 16) -> None:
        self.app = app
        self.settings = app.settings.zalo
        self.mode = self.settings.mode
        self.secret = self.settings.webhook_secret
        self.webhook_url = self.settings.webhook_url or (
            f"{app.settings.web.public_url.rstrip('/')}{WEBHOOK_PATH}" if app.settings.web.public_url else "")
        if self.mode == "webhook":
            if not 8 <= len(self.secret) <= 256:
                raise SettingsError("zalo.webhook_secret (TOTRUONG_ZALO__WEBHOOK_SECRET) must have 8 to 256 "
                                    "characters in webhook mode")
            if not self.webhook_url:
                raise SettingsError("zalo webhook mode needs zalo.webhook_url or web.public_url")
        self.client = client or ZaloClient(self.settings.token, self.settings.api_url,
                                           send_timeout=app.settings.outbox.send_timeout_seconds)
        self.poll_timeout = poll_timeout
        self._files_key = hashlib.sha256(b"totruong-zalo-files:" + self.settings.token.encode()).digest()
        self.intake = ChatQueues(self._process, concurrency=concurrency)
        self._languages: dict[str, str] = {}
        # Buttons sent to a chat outside its own turn (a delivery): the conversation row does not
        # hold them, so their numbers are remembered here until that chat's next message.
        self._delivered: dict[str, Shown] = {}
        self._runner: asyncio.Task[None] | None = None
        self.dead = False
        self.webhook_answer_seconds = WEBHOOK_ANSWER_SECONDS
        self.closing = False

    # --- start and stop -----------------------------------------------------------------------

    async def start(self) -> None:
        """Starts receiving in the background: long polling, or registering the webhook."""
        self._runner = asyncio.create_task(self._run(), name="zalo")

    async def close_intake(self, within: float = DRAIN_SECONDS) -> None:
        """Takes no new messages (polling stops, the webhook answers 503); finishes those in hand."""
        self.closing = True
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        await self.intake.wait(within)

    async def stop(self) -> None:
        await self.close_intake()
        await self.client.aclose()

    async def _run(self) -> None:
        try:
            await self._connect()
            if self.mode == "polling":
                await self._poll()
        except ZaloUnauthorized as error:
            self._fatal(error)

    async def _connect(self) -> None:
        """Checks the token and sets up the webhook (or removes it, to poll); waits out outages."""
        failures = 0
        while True:
            try:
                me = await self.client.get_me()
                if self.mode == "webhook":
                    await self.client.set_webhook(self.webhook_url, self.secret)
                else:
                    await self.client.delete_webhook()
            except ZaloUnauthorized:
                raise
            except ZaloError as error:
                failures += 1
                wait = self.client.backoff.delay(failures)
                log.warning("Zalo is not ready (%s); trying again in %.0f s", error, wait)
                await asyncio.sleep(wait)
                continue
            name = me.get("account_name") or me.get("display_name") or me.get("id")
            where = f"webhook {self.webhook_url}" if self.mode == "webhook" else "long polling"
            log.info("Zalo bot %s connected (%s)", name, where)
            return

    async def _poll(self) -> None:
        failures = 0
        while not self.dead:
            try:
                update = await self.client.get_updates(self.poll_timeout)
            except ZaloUnauthorized:
                raise
            except ZaloError as error:
                failures += 1
                wait = self.client.backoff.delay(failures)
                log.warning("Zalo getUpdates failed (%s); polling again in %.0f s", error, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            if update is not None:
                await self.intake.put(update)

    def _fatal(self, error: ZaloError) -> None:
        if not self.dead:
            self.dead = True
            log.error("Zalo rejected the bot token (401 on %s): the Zalo channel is stopped. "
                      "Check TOTRUONG_ZALO__TOKEN and restart.", error.method)
        if self._runner is not None and self._runner is not asyncio.current_task():
            self._runner.cancel()

    # --- receiving ----------------------------------------------------------------------------

    @property
    def processed(self) -> int:
        """Updates finished (handled, ignored or dropped as repeats)."""
        return self.intake.processed

    async def accept(self, update: dict[str, Any], *, within: float | None = None) -> bool:
        """Handles one update (from the webhook) in its chat's order; True once it is done,
        False if it took longer than `within` seconds (it goes on being handled)."""
        done = await self.intake.put(update)
        finished, _pending = await asyncio.wait({done}, timeout=within)
        return bool(finished)

    async def _process(self, update: dict[str, Any]) -> None:
        event = str(update.get("event_name") or "")
        message = _dict(update.get("message"))
        sender = _dict(message.get("from"))
        user_id, chat_id = _user_id(message), _chat_id(message) or _user_id(message)
        if event not in (TEXT, IMAGE, STICKER, UNSUPPORTED):
            log.info("ignoring a Zalo %s event", event or "nameless")
            return
        if not user_id or sender.get("is_bot"):
            return
        if _dict(message.get("chat")).get("chat_type") == "GROUP":
            # Replies and later notices would go to everyone in the group: only private chats.
            log.info("ignoring a Zalo message in a group chat")
            return
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": user_id, "chat_id": chat_id,
                                "display_name": str(sender.get("display_name") or sender.get("name") or ""),
                                "at": _moment(message.get("date")) or self.app.clock.now(),
                                "update_key": str(message.get("message_id") or "") or None}
        if event == STICKER:
            await self._send(chat_id, [Reply(self._t(chat_id)(STICKER_REPLY))])
            return
        if event == UNSUPPORTED:
            await self._send(chat_id, [Reply(self._t(chat_id)(UNSUPPORTED_REPLY))])
            return
        if event == IMAGE:
            photo = await self._download(message, chat_id)
            if photo is None:
                await self._send(chat_id, [Reply(self._t(chat_id)(PHOTO_FAILED))])
                return
            msg = Incoming(**base, photo=photo)
        else:
            msg = await self._text_message(str(message.get("text") or ""), base)
        handled = await self.app.receive(msg)
        # A replay (handled before a restart) sends the stored replies: the process that handled
        # it may have stopped before answering. Repeats within this process never get here.
        await self._send(chat_id, handled.replies)

    async def _text_message(self, text: str, base: dict[str, Any]) -> Incoming:
        """A text as a command, as the button its number or words select, or as plain text."""
        command = split_command(text)
        if command is not None:
            return Incoming(**base, command=command[0], argument=command[1])
        if len(text) <= LOOKUP_MAX_CHARS:
            shown = await self._shown(base["user_id"], base["chat_id"])
            button = shown.select(text)
            if button is not None:
                return Incoming(**base, button=button)
        return Incoming(**base, text=text)

    async def _shown(self, user_id: str, chat_id: str) -> Shown:
        """The buttons this chat saw last: from a delivery, else from the conversation row."""
        delivered = self._delivered.pop(chat_id, None)
        # A bare connection, not an ORM session: this runs for most texts, and a session costs double.
        async with self.app.db_engine.connect() as connection:
            row = (await connection.execute(_SHOWN_QUERY, {"user": user_id})).first()
        if row is None:
            return delivered or Shown()
        data, language = row
        self._languages[chat_id] = language
        if delivered is not None:
            return delivered
        pairs = (data or {}).get("_buttons") or []
        return Shown(tuple((str(pair[0]), str(pair[1])) for pair in pairs if len(pair) == 2))

    async def _download(self, message: dict[str, Any], chat_id: str) -> PhotoIn | None:
        """Fetches the photo of an image event, keeping at most one byte over the size limit."""
        url = message.get("photo_url") or message.get("photo") or message.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            log.warning("a Zalo image event without a photo URL")
            return None
        with contextlib.suppress(ZaloError):
            await self.client.send_chat_action(chat_id, "typing")
        fetched = await self.client.download(url, self.app.settings.limits.photo_max_bytes + 1)
        if fetched is None:
            return None
        content, mime = fetched
        return PhotoIn(content=content, mime=mime, filename=urlsplit(url).path.rsplit("/", 1)[-1][:100])

    # --- sending ------------------------------------------------------------------------------

    async def send(self, chat_id: str, replies: Sequence[Reply], *, skip: int = 0) -> list[str]:
        """Sends replies to a chat outside its own turn (deliveries); remembers their numbering.

        Returns the Zalo message id of every piece after the first `skip`, or raises a SendError
        (handlers/ports.py) carrying the ids of the pieces that did go out: never a silent success.
        """
        if self.dead:  # the token was rejected: wait for the operator, without using up the row's attempts
            raise RetryLater(DEAD_RETRY_SECONDS)
        replies = sendable(replies)
        shown = Shown.of(replies)
        if shown.buttons:
            self._delivered[chat_id] = shown
        t = self._t(chat_id)
        ids: list[str] = []
        for piece in render(replies, t, file_url=self.file_url)[skip:]:
            try:
                ids.append(await self._deliver_piece(chat_id, piece, t))
            except ZaloUnauthorized as error:
                self._fatal(error)
                raise RetryLater(DEAD_RETRY_SECONDS, sent=ids) from error
            except ZaloError as error:
                raise _send_error(error, ids) from error
        return ids

    async def _deliver_piece(self, chat_id: str, piece: Piece, t: Translator) -> str:
        """One piece of a delivery; a refused photo becomes a note, a refused text is cleaned."""
        try:
            return await self._send_piece(chat_id, piece, patience=DELIVERY_PATIENCE)
        except ZaloError as error:
            if error.code != 400:
                raise
            if piece.photo_url:
                log.warning("Zalo refused a photo for chat %s (%s); sending a note instead", chat_id,
                            error.description)
                fallback = Piece(text=t(PHOTO_NOTE))
            else:
                cleaned = clean_text(piece.text, shorter_limit(error.description, piece.text, TEXT_LIMIT))
                if cleaned == piece.text and not text_refusal(error.description):
                    raise
                log.warning("Zalo refused a text for chat %s (%s); sending it cleaned", chat_id, error.description)
                fallback = Piece(text=cleaned)
        return await self._send_piece(chat_id, fallback, patience=DELIVERY_PATIENCE)

    async def _send(self, chat_id: str, replies: Sequence[Reply], *, deliveries: bool = False) -> list[str]:
        """Sends the replies of a chat's own turn; a failure is logged (the user may write again)."""
        if self.dead or not replies:
            return []
        ids: list[str] = []
        for piece in render(replies, self._t(chat_id), file_url=self.file_url):
            try:
                ids.append(await self._send_piece(chat_id, piece))
            except ZaloUnauthorized as error:
                self._fatal(error)
                return ids
            except ZaloError as error:
                if error.code == 403 and deliveries:
                    raise BlockedByUser(chat_id) from error
                log.warning("could not send a Zalo message to chat %s: %s", chat_id, error)
        return ids

    async def _send_piece(self, chat_id: str, piece: Piece, *, patience: float | None = None) -> str:
        if piece.photo_url:
            result = await self.client.send_photo(chat_id, piece.photo_url, patience=patience)
        else:
            result = await self.client.send_message(chat_id, piece.text, patience=patience)
        message_id = str(result.get("message_id") or "")
        if not message_id:  # "ok" without an id: it probably arrived, but that is not known
            raise ZaloError("sendPhoto" if piece.photo_url else "sendMessage", 0, "an answer without a message id",
                            maybe_sent=True)
        return message_id

    def _t(self, chat_id: str) -> Translator:
        language = self._languages.get(chat_id) or self.app.settings.app.language
        return self.app.catalogs.translator(language, self.app.settings.app.tz)

    # --- files and webhook --------------------------------------------------------------------

    def _signature(self, attachment_id: int) -> str:
        return hmac.new(self._files_key, str(attachment_id).encode(), hashlib.sha256).hexdigest()[:32]

    def file_url(self, attachment_id: int) -> str | None:
        """A URL Zalo can fetch the attachment from, when the app has a public address."""
        public = self.app.settings.web.public_url.rstrip("/")
        if not public:
            return None
        return f"{public}{FILES_PATH}/{attachment_id}/{self._signature(attachment_id)}"

    def mount(self, web: FastAPI) -> None:
        """Adds the signed file route (photos Zalo fetches) and, in webhook mode, the webhook."""

        @web.get(FILES_PATH + "/{attachment_id}/{signature}", include_in_schema=False)
        async def zalo_file(attachment_id: int, signature: str) -> FileResponse:
            if not hmac.compare_digest(signature.encode(), self._signature(attachment_id).encode()):
                raise HTTPException(404, "no such file")
            async with self.app.sessions() as session:
                attachment = await session.get(Attachment, attachment_id)
            if attachment is None:
                raise HTTPException(404, "no such file")
            return FileResponse(self.app.files.path_of(attachment), media_type=attachment.mime)

        if self.mode != "webhook":
            return
        path = urlsplit(self.settings.webhook_url).path or WEBHOOK_PATH

        @web.post(path, include_in_schema=False)
        async def zalo_webhook(request: Request) -> JSONResponse:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
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
            if self.closing:  # shutting down: Zalo sends it again later, to the restarted app
                return JSONResponse({"ok": False, "description": "restarting"}, status_code=503)
            if not self.dead and not await self.accept(update, within=self.webhook_answer_seconds):
                return JSONResponse({"ok": False, "description": "still handling"}, status_code=500)
            return JSONResponse({"ok": True})


def _send_error(error: ZaloError, sent: list[str]) -> SendError:
    """What a failed Zalo call means for the outbox: wait, retry later, or give up on the row."""
    if error.code == 403:
        return BlockedByUser(str(error), sent=sent)
    if error.code == 429:
        return RetryLater(error.retry_after if error.retry_after is not None else 5.0, sent=sent)
    if error.maybe_sent:
        return Ambiguous(str(error), sent=sent)
    if error.code == 400:
        return Refused(str(error), sent=sent)
    return Unavailable(str(error), sent=sent)  # 5xx, network, other ok:false answers


def _dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one: updates are read defensively."""
    return value if isinstance(value, dict) else {}


def _user_id(message: dict[str, Any]) -> str:
    return str(_dict(message.get("from")).get("id") or "")


def _chat_id(message: dict[str, Any]) -> str:
    return str(_dict(message.get("chat")).get("id") or "")


def _moment(milliseconds: Any) -> datetime | None:
    """Zalo's `date`, in milliseconds since 1970, as an aware UTC moment."""
    if isinstance(milliseconds, int | float) and milliseconds > 0:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    return None
