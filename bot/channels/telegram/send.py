"""Sending the core's replies to a Telegram chat: texts, buttons, keyboards, photos, edits.

Text goes out without a parse mode, so nothing needs escaping; texts too long for one message are
split at paragraphs. A question whose button was pressed gets the choice written under it, or is
replaced by the reply when the same question is asked again.

Deliveries (`deliver`, for the outbox) are pieces: each photo or file and each text chunk is one
request. A refused photo becomes its text with a note, a refused text is cleaned and cut; an error
carries the ids of the pieces already sent, so a retry sends only the rest. A request that went
out without an answer (a read timeout, a dropped connection) is never re-sent here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from telegram import Bot, CallbackQuery, Message, ReplyKeyboardRemove
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.channels.port import ChannelHost
from bot.channels.send_fallbacks import PHOTO_NOTE, clean_text, sendable, shorter_limit, text_refusal
from bot.channels.telegram import render
from bot.channels.telegram.lean import LeanText
from bot.channels.telegram.transport import seconds_of
from handlers.i18n import _
from handlers.messages import Keyboard, Reply
from handlers.ports import Ambiguous, BlockedByUser, Refused, RetryLater, Unavailable

log = logging.getLogger(__name__)

LOCATION_LABEL = _("📍 Gửi vị trí hiện tại")
CONTACT_LABEL = _("📱 Chia sẻ số điện thoại")
T = TypeVar("T")
# Failures before the request was written: nothing reached Telegram, trying again is safe.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
Piece = Callable[[], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class _Upload:
    """An attachment to send: its bytes, or Telegram's file_id once it was uploaded."""

    attachment_id: int
    content: str | bytes
    filename: str | None


def went_out(error: NetworkError) -> bool:
    """Whether the request may have reached Telegram although no answer came."""
    cause = error.__cause__
    if isinstance(cause, NOT_SENT):
        return False
    # A 5xx answer (no httpx cause) came from Telegram, which did not send the message.
    return isinstance(error, TimedOut) or isinstance(cause, httpx.TransportError)


class TelegramSender:
    """Turns replies into Bot API calls for one bot, retrying when the network fails."""

    def __init__(self, bot: Bot, host: ChannelHost, *, retry_delay: float = 0.5) -> None:
        self.bot = bot
        self.lean = LeanText(bot)  # texts and edits: one JSON POST each, PTB's errors (lean.py)
        self.host = host
        self.retry_delay = retry_delay  # the first pause before trying a failed call again
        self._file_ids: dict[int, str] = {}  # Attachment id -> Telegram file_id, to upload each file once
        self._request_keyboards: set[str] = set()  # chats showing a "send my location" keyboard

    async def send_all(self, chat_id: str, replies: Sequence[Reply], *, pressed: CallbackQuery | None) -> list[str]:
        """Sends the replies in order (`pressed`: the button press they answer); returns message ids."""
        ids: list[str] = []
        target = pressed.message if pressed is not None and isinstance(pressed.message, Message) else None
        # The same question asked again (a multiple choice with one more ✅) replaces the pressed one.
        in_place = [reply.edit or (n == 0 and target is not None and reply.text == target.text)
                    for n, reply in enumerate(replies)]
        if target is not None and pressed is not None and not any(in_place):
            await self._show_choice(target, pressed.data or "")
        for reply, replace in zip(replies, in_place, strict=True):
            if replace and target is not None and (edited := await self._edit(target, reply)):
                ids.append(edited)
                target = None
                continue
            ids += await self._send_one(chat_id, reply)
        return ids

    async def deliver(self, chat_id: str, replies: Sequence[Reply], *, skip: int = 0) -> list[str]:
        """Sends a delivery piece by piece after the first `skip`; returns the ids or raises a SendError."""
        pieces = [piece for reply in sendable(replies) for piece in self._pieces(chat_id, reply)]
        ids: list[str] = []
        for piece in pieces[skip:]:
            try:
                ids.append(await piece())
            except Forbidden as error:
                raise BlockedByUser(chat_id, sent=ids) from error
            except RetryAfter as error:
                raise RetryLater(seconds_of(error), sent=ids) from error
            except BadRequest as error:
                raise Refused(error.message, sent=ids) from error
            except NetworkError as error:
                kind = Ambiguous if went_out(error) else Unavailable
                raise kind(f"{type(error).__name__}: {error}", sent=ids) from error
        return ids

    def _pieces(self, chat_id: str, reply: Reply) -> list[Piece]:
        """The requests one reply needs, each returning its message id (fallbacks included)."""
        markup = self._markup(chat_id, reply)
        attachment_id = reply.photo_id or reply.document_id
        fits = render.utf16_len(reply.text) <= render.CAPTION_LIMIT
        chunks = render.split_text(reply.text) if not attachment_id or not fits else []
        if not any(chunk.strip() for chunk in chunks):
            chunks = ["…"] if not attachment_id and markup is not None else []
        pieces: list[Piece] = []
        if attachment_id:
            pieces.append(lambda: self._file_piece(chat_id, reply, attachment_id, markup if fits else None,
                                                   text_follows=bool(chunks)))
        for number, chunk in enumerate(chunks, 1):
            last = markup if number == len(chunks) else None
            pieces.append(lambda chunk=chunk, last=last: self._text_piece(chat_id, chunk, last))  # type: ignore[misc]
        return pieces

    async def _text_piece(self, chat_id: str, text: str, markup: Any) -> str:
        try:
            message = await self._once(self.lean.send_message, chat_id, text, reply_markup=markup)
        except BadRequest as error:
            cleaned = clean_text(text, shorter_limit(error.message, text, render.TEXT_LIMIT))
            if cleaned == text and not text_refusal(error.message):
                raise
            log.warning("Telegram refused a text for chat %s (%s); sending it cleaned", chat_id, error.message)
            message = await self._once(self.lean.send_message, chat_id, cleaned, reply_markup=markup)
        return str(message.message_id)

    async def _file_piece(self, chat_id: str, reply: Reply, attachment_id: int, markup: Any, *,
                          text_follows: bool) -> str:
        """The photo or file with its caption; refused, the text goes alone with a note."""
        attachment = await self._attachment(attachment_id)
        caption = reply.text if not text_follows and reply.text.strip() else None
        t = self.host.translator()
        if attachment is not None:
            try:
                sent = await self._send_file(chat_id, attachment, photo=reply.photo_id is not None, caption=caption,
                                             markup=markup, once=True)
                return str(sent.message_id)
            except BadRequest as error:
                log.warning("Telegram refused attachment %s for chat %s (%s); sending the text alone",
                            attachment_id, chat_id, error.message)
        else:
            log.warning("attachment %s is gone; sending the text only", attachment_id)
        note = t(PHOTO_NOTE)
        text = f"{caption}\n\n{note}" if caption else note
        return await self._text_piece(chat_id, text, markup)

    async def _once(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """One Bot API call of a delivery: retried in-line only when it surely did not go out."""
        for attempt in range(1, 3):
            try:
                return await method(*args, **kwargs)
            except BadRequest:
                raise
            except NetworkError as error:
                if attempt == 2 or went_out(error):
                    raise
                await asyncio.sleep(self.retry_delay)
        raise AssertionError("unreachable")

    async def _send_one(self, chat_id: str, reply: Reply) -> list[str]:
        markup = self._markup(chat_id, reply)
        attachment_id = reply.photo_id or reply.document_id
        attachment = await self._attachment(attachment_id) if attachment_id else None
        if attachment is None:
            if attachment_id:
                log.warning("attachment %s is gone; sending the text only", attachment_id)
            return await self._send_text(chat_id, reply.text, markup)
        fits = render.utf16_len(reply.text) <= render.CAPTION_LIMIT
        caption = reply.text if fits and reply.text.strip() else None
        sent = await self._send_file(chat_id, attachment, photo=reply.photo_id is not None, caption=caption,
                                     markup=markup if fits else None)
        ids = [str(sent.message_id)]
        if not fits:
            ids += await self._send_text(chat_id, reply.text, markup)
        return ids

    async def _send_text(self, chat_id: str, text: str, markup: Any) -> list[str]:
        chunks = render.split_text(text)
        if not any(chunk.strip() for chunk in chunks):
            if markup is None:
                return []
            chunks = ["…"]  # Telegram refuses an empty message, and the buttons need one
        ids = []
        for number, chunk in enumerate(chunks, 1):
            message = await self.call(self.lean.send_message, chat_id, chunk,
                                       reply_markup=markup if number == len(chunks) else None)
            ids.append(str(message.message_id))
        return ids

    async def _send_file(self, chat_id: str, upload: _Upload, *, photo: bool, caption: str | None,
                         markup: Any, once: bool = False) -> Message:
        content = upload.content
        call = self._once if once else self.call
        try:
            await call(self.bot.send_chat_action, chat_id, "upload_photo" if photo else "upload_document")
        except BadRequest:
            pass  # the typing indicator does not matter
        if photo:
            message = await call(self.bot.send_photo, chat_id, content, caption=caption, reply_markup=markup)
            file_id = message.photo[-1].file_id if message.photo else None
        else:
            message = await call(self.bot.send_document, chat_id, content, caption=caption,
                                 reply_markup=markup, filename=upload.filename)
            file_id = message.document.file_id if message.document else None
        if file_id:
            self._file_ids[upload.attachment_id] = file_id
        return message

    def _markup(self, chat_id: str, reply: Reply) -> Any:
        if reply.keyboard in (Keyboard.REQUEST_LOCATION, Keyboard.REQUEST_CONTACT, Keyboard.MENU):
            if reply.keyboard is not Keyboard.MENU:
                self._request_keyboards.add(chat_id)
            t = self.host.translator()
            return render.reply_keyboard(reply, location_label=t(LOCATION_LABEL), contact_label=t(CONTACT_LABEL))
        if reply.buttons:
            return render.inline_keyboard(reply)
        if chat_id in self._request_keyboards:
            # The question that wanted a location is over: put the letters back.
            self._request_keyboards.discard(chat_id)
            return ReplyKeyboardRemove()
        return None

    async def _show_choice(self, message: Message, data: str) -> None:
        """Writes the pressed button under the question and takes its buttons away (no double press)."""
        if message.reply_markup is None:
            return
        label = render.pressed_label(message, data)
        text = f"{message.text}\n\n👉 {label}" if message.text and label else None
        try:
            if text is not None and render.utf16_len(text) <= render.TEXT_LIMIT:
                await self.call(self.lean.edit_message_text, text, message.chat.id, message.message_id)
            else:
                await self.call(self.lean.edit_message_reply_markup, message.chat.id, message.message_id)
        except BadRequest as error:  # too old to edit, already edited: nothing is lost
            log.debug("could not mark the pressed button in chat %s: %s", message.chat.id, error)

    async def _edit(self, message: Message, reply: Reply) -> str | None:
        """Replaces the pressed message with the reply when it is plain text with inline buttons."""
        if (reply.photo_id or reply.document_id or reply.keyboard is not Keyboard.INLINE
                or not reply.text.strip() or render.utf16_len(reply.text) > render.TEXT_LIMIT):
            return None
        try:
            await self.call(self.lean.edit_message_text, reply.text, message.chat.id, message.message_id,
                             reply_markup=render.inline_keyboard(reply))
        except BadRequest as error:
            if "not modified" not in str(error):
                log.debug("could not edit message %s: %s; sending a new one", message.message_id, error)
                return None
        return str(message.message_id)

    async def call(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Calls the Bot API, trying again with growing pauses when the network fails."""
        attempts = 4
        for attempt in range(1, attempts + 1):
            try:
                return await method(*args, **kwargs)
            except BadRequest:
                raise
            except NetworkError as error:  # includes timeouts and 5xx answers
                if attempt == attempts or (went_out(error) and _is_send(method)):
                    raise  # a send that may have arrived is not sent again blindly
                delay = self.retry_delay * 2 ** (attempt - 1)
                log.warning("Telegram call failed (%s); trying again in %.1f s", error, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _attachment(self, attachment_id: int) -> _Upload | None:
        file_id = self._file_ids.get(attachment_id)
        if file_id is not None:  # uploaded before: Telegram has it
            return _Upload(attachment_id, file_id, None)
        file = await self.host.attachment(attachment_id)
        return None if file is None else _Upload(attachment_id, file.content, file.name)


def _is_send(method: Callable[..., Any]) -> bool:
    return getattr(method, "__name__", "").startswith(("send_", "edit_"))
