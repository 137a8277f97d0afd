"""The Telegram channel: python-telegram-bot as a thin adapter around the core.

One handler receives every update, turns it into an `Incoming`, runs it through the app and sends
the replies back. No ConversationHandler, persistence or JobQueue: the conversation lives in the
core and its database. Long polling by default (bot/channels/telegram/polling.py); webhook mode adds a route
to the app's web server. Either way an update is confirmed to Telegram (a later offset, the HTTP
answer) only after it was handled and its replies were sent; an update that comes again is
recognised by its stored key (handlers/engine.py) and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI
from telegram import Bot, BotCommand, CallbackQuery, ChatMemberUpdated, Message, Update
from telegram.error import Forbidden, InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.channels.port import BlockedByUser, ChannelHost
from bot.channels.telegram import render
from bot.channels.telegram.polling import UpdatePoller
from bot.channels.telegram.send import TelegramSender
from bot.channels.telegram.transport import ChatOrderedProcessor, LenientBot, PerChatRateLimiter, bot_request
from bot.channels.telegram.webhook import TelegramWebhook
from handlers.i18n import Translator, _
from handlers.messages import Incoming, PhotoIn, Reply
from models.settings import ChannelSettings, SettingsError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
POLL_TIMEOUT = 20  # seconds a getUpdates long poll stays open
# Updates of different chats handled at once. Telegram lets a bot send ~30 messages a second; with
# ~0.1-0.3 s per Bot API round trip, 16 at a time keeps up with that, and more only costs CPU.
CONCURRENCY = 16
# Connections to the Bot API. httpx's pool does work for every connection on every request, so a
# few busy connections cost far less CPU than many (measured in bench/bench_telegram.py); requests
# beyond them wait their turn, which at ~0.1 s a call still allows ~80 calls a second.
CONNECTIONS = 8
# On SIGTERM, updates in hand get this long to finish before the app stops anyway.
DRAIN_SECONDS = 10.0
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
COMMANDS = [
    ("start", _("Bắt đầu, đăng ký bằng mã mời")),
    ("menu", _("Về menu chính")),
    ("help", _("Hướng dẫn sử dụng")),
    ("huy", _("Hủy việc đang làm")),
    ("lang", _("Đổi ngôn ngữ")),
    ("stop", _("Dừng nhận mọi tin nhắn")),
    ("dulieu", _("Xem, tải về hoặc xoá dữ liệu của tôi")),
]
PHOTO_TOO_BIG = _("Ảnh quá lớn ({size} MB). Giới hạn là {limit} MB; hãy gửi ảnh nhỏ hơn.")
APOLOGY = _("Xin lỗi, đã có lỗi xảy ra. Vui lòng thử lại sau ít phút, hoặc gõ /menu.")


def api_root(settings: ChannelSettings) -> str:
    return (settings.api_url or DEFAULT_API_URL).rstrip("/")


def deep_link(username: str, code: str) -> str:
    """The link that opens the bot and sends "/start CODE" in one tap."""
    return f"https://t.me/{username}?start={code}"


async def bot_username(settings: ChannelSettings) -> str:
    """Asks the Bot API (getMe) for the bot's @username."""
    root = api_root(settings)
    async with Bot(settings.token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot") as bot:
        return str(bot.username)


def write_qr(text: str, path: Path) -> None:
    """Writes a QR code PNG of `text` (a deep link) for printing on a notice board."""
    import qrcode  # type: ignore[import-untyped]

    qrcode.make(text, border=2).save(str(path))


def webhook_path(settings: ChannelSettings) -> str:
    return urlsplit(settings.webhook_url).path or DEFAULT_WEBHOOK_PATH


class _HideToken(logging.Filter):
    """Keeps the bot token, which is part of every Bot API URL, out of httpx's request log lines."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.forms = [token, quote(token, safe="")]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(form in message for form in self.forms):
            for form in self.forms:
                message = message.replace(form, "<token>")
            record.msg, record.args = message, None
        return True


def _hide_in_logs(token: str) -> None:
    httpx_log = logging.getLogger("httpx")  # httpx logs each request with its URL, at INFO
    if not any(isinstance(f, _HideToken) and token in f.forms for f in httpx_log.filters):
        httpx_log.addFilter(_HideToken(token))


def _check(settings: ChannelSettings) -> None:
    """Refuses a webhook set-up that Telegram would reject or that anyone could post to."""
    if settings.mode != "webhook":
        return
    if not settings.webhook_url.startswith("https://"):
        raise SettingsError("telegram.webhook_url (TOTRUONG_TELEGRAM__WEBHOOK_URL) must be the public https:// "
                            "address of the webhook in webhook mode")
    if not SECRET_PATTERN.match(settings.webhook_secret):
        raise SettingsError("telegram.webhook_secret (TOTRUONG_TELEGRAM__WEBHOOK_SECRET) must be set in webhook "
                            "mode: 1-256 characters A-Z, a-z, 0-9, _ and -")


class TelegramChannel:
    """Receives updates from Telegram and sends the core's replies as Telegram messages."""

    name = render.CHANNEL

    def __init__(self, host: ChannelHost, *, overall_rate: float = 30.0, concurrency: int = CONCURRENCY,
                 retry_delay: float = 0.5) -> None:
        _check(host.settings.telegram)
        self.host = host
        self.settings = host.settings.telegram
        _hide_in_logs(self.settings.token)
        root = api_root(self.settings)
        bot = LenientBot(self.settings.token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot",
                         request=bot_request(CONNECTIONS, pool_timeout=10.0,
                                             # A late answer must not look like a failure (and be sent again).
                                             read_timeout=host.settings.outbox.send_timeout_seconds,
                                             write_timeout=host.settings.outbox.send_timeout_seconds,
                                             media_write_timeout=max(20.0, host.settings.outbox.send_timeout_seconds)),
                         rate_limiter=PerChatRateLimiter(overall_rate=overall_rate))
        # No Updater: it confirms updates as soon as it fetched them. UpdatePoller polls instead.
        builder = (ApplicationBuilder().bot(bot).concurrent_updates(ChatOrderedProcessor(concurrency))
                   .job_queue(None).updater(None))
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.bot = self.application.bot
        self.sender = TelegramSender(self.bot, host, retry_delay=retry_delay)
        self._connecting: asyncio.Task[None] | None = None
        self.poller = UpdatePoller(bot, self._process, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES,
                                   on_error=self._polling_error)
        self.webhook = TelegramWebhook(bot, self._process, secret=self.settings.webhook_secret)
        self._key_prefix = self.settings.token.split(":", 1)[0] + ":"  # update ids are per bot
        self.closing = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connects and starts receiving; while Telegram is unreachable, keeps trying in the background."""
        try:
            await self._connect()
        except InvalidToken:
            log.error("Telegram refused the bot token (TOTRUONG_TELEGRAM__TOKEN)")
            raise
        except TelegramError as error:
            log.warning("Telegram is not reachable yet (%s); retrying in the background", error)
            self._connecting = asyncio.create_task(self._connect_until_done())

    async def _connect_until_done(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
                log.info("connected to Telegram")
                return
            except InvalidToken:
                log.error("Telegram refused the bot token (TOTRUONG_TELEGRAM__TOKEN); giving up")
                return
            except TelegramError as error:
                delay = min(delay * 2, 60.0)
                log.warning("Telegram is still not reachable (%s); next try in %.0f s", error, delay)

    async def _connect(self) -> None:
        application = self.application
        await application.initialize()  # getMe
        await self._set_commands()
        if not application.running:
            await application.start()
        if self.settings.mode == "webhook":
            await self.bot.set_webhook(self.settings.webhook_url, secret_token=self.settings.webhook_secret,
                                       allowed_updates=ALLOWED_UPDATES)
            log.info("Telegram webhook set to %s as @%s", self.settings.webhook_url, self.bot.username)
        elif not self.poller.running and not self.closing:
            await self.bot.delete_webhook()  # getUpdates is refused while a webhook is set
            self.poller.start()
            log.info("polling Telegram as @%s", self.bot.username)

    async def _set_commands(self) -> None:
        """The command menu beside the text box, in Vietnamese (and in English for English users)."""
        try:
            for language in ("vi", "en"):
                t = self.host.translator(language)
                commands = [BotCommand(name, t(description)) for name, description in COMMANDS]
                if language == "vi":
                    await self.bot.set_my_commands(commands)
                elif all(t(d) != d for _n, d in COMMANDS):  # only once the menu is fully translated
                    await self.bot.set_my_commands(commands, language_code=language)
        except TelegramError as error:
            log.warning("could not set the command menu: %s", error)

    def _polling_error(self, error: TelegramError) -> None:
        # The poller backs off and polls again by itself; this only says what happened.
        log.warning("polling Telegram failed: %s; trying again", error)

    async def close_intake(self, within: float = DRAIN_SECONDS) -> None:
        """Takes no new updates and finishes those in hand (at most `within` seconds), replies included."""
        self.closing = True
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        await self.poller.stop(within)
        await self.webhook.drain(within)

    async def stop(self) -> None:
        """Stops receiving (finishing the updates in hand) and closes the connections (safe to call twice)."""
        await self.close_intake()
        application = self.application
        if application.running:
            await application.stop()
        await application.shutdown()
        await self.sender.lean.aclose()

    # --- webhook ---------------------------------------------------------------------------

    def mount(self, web: FastAPI) -> None:
        """In webhook mode, adds the route Telegram posts updates to (bot/channels/telegram/webhook.py)."""
        if self.settings.mode == "webhook":
            self.webhook.mount(web, webhook_path(self.settings))

    # --- receiving -------------------------------------------------------------------------

    async def _process(self, update: Update) -> None:
        """Runs one update through PTB's handlers, in its chat's order (ChatOrderedProcessor)."""
        application = self.application
        await application.update_processor.process_update(update, application.process_update(update))

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Passes one update to the core and sends its replies back to the chat."""
        query = update.callback_query
        if query is not None:
            await self._answer(query)
        if update.my_chat_member is not None:
            await self._membership_changed(update.my_chat_member)
            return
        who = render.author(update)
        if who is None:
            log.debug("skipped update %s: not from a person in a private chat", update.update_id)
            return
        try:
            msg = await self._incoming(update, who)
            if msg is None:
                return
            handled = await self.host.receive(msg)
            if handled.replay and self.webhook.answered(update.update_id):
                return  # handled and answered by this process before: nothing to do
            # A replay this process did not answer (it stopped after the commit, before the
            # replies went out): the stored replies are sent, so the person still gets them.
            await self.sender.send_all(who.chat_id, handled.replies, pressed=query)
        except Forbidden:
            await self._set_blocked(who.chat_id, True)

    async def _incoming(self, update: Update, who: render.Author) -> Incoming | None:
        at = self.host.clock.now()
        key = self._key_prefix + str(update.update_id)
        if update.callback_query is not None:
            data = update.callback_query.data
            return who.incoming(at, button=data, update_key=key) if data else None
        message = update.message
        if message is None:  # edited messages and the like: the core reads each message once
            return None
        if message.photo or (message.document and (message.document.mime_type or "").startswith("image/")):
            photo = await self._photo(message, who)
            return who.incoming(at, photo=photo, update_key=key) if photo is not None else None
        return who.incoming(at, update_key=key, **render.content(message))

    async def _photo(self, message: Message, who: render.Author) -> PhotoIn | None:
        """Fetches the largest size of the photo that is within the limit, or says it is too big."""
        limit = self.host.settings.limits.photo_max_bytes
        if message.photo:
            size = render.pick_photo(message.photo, limit)
            file_id, mime, name = (size.file_id, "image/jpeg", "") if size else ("", "", "")
            too_big = max((s.file_size or 0) for s in message.photo)
        else:
            document = message.document
            assert document is not None
            fits = (document.file_size or 0) <= limit
            file_id, mime, name = document.file_id if fits else "", document.mime_type or "", document.file_name or ""
            too_big = document.file_size or 0
        content = None
        if file_id:
            file = await self.sender.call(self.bot.get_file, file_id)
            if file.file_size is None or file.file_size <= limit:
                content = bytes(await self.sender.call(file.download_as_bytearray))
                too_big = len(content)
        if content is None or len(content) > limit:
            t = self._translator(who.language)
            text = t(PHOTO_TOO_BIG, size=t.number(round(too_big / 1e6, 1)), limit=t.number(round(limit / 1e6, 1)))
            await self.sender.send_all(who.chat_id, [Reply(text)], pressed=None)
            return None
        return PhotoIn(content=content, mime=mime, filename=name)

    async def _answer(self, query: CallbackQuery) -> None:
        """Stops the button's spinner (always, even when handling the press fails)."""
        try:
            await self.sender.call(self.sender.lean.answer_callback_query, query.id)
        except TelegramError as error:
            log.info("could not answer button press %s: %s", query.id, error)

    async def _membership_changed(self, change: ChatMemberUpdated) -> None:
        """A user blocked (or unblocked) the bot in their private chat."""
        if change.chat.type != "private":
            return
        status = change.new_chat_member.status
        await self._set_blocked(str(change.chat.id), status in ("kicked", "left"))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Logs a failed update with who sent it, then apologises to them."""
        chat = update.effective_chat if isinstance(update, Update) else None
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("could not handle update %s from chat %s", update_id, chat.id if chat else "-",
                  exc_info=context.error)
        if chat is not None and chat.type == "private":
            user = update.effective_user if isinstance(update, Update) else None
            t = self._translator((user.language_code or "")[:2] if user else "")
            try:
                await self.bot.send_message(chat.id, t(APOLOGY))
            except TelegramError:
                log.info("could not apologise to chat %s either", chat.id)

    # --- sending ---------------------------------------------------------------------------

    async def send(self, chat_id: str, replies: Sequence[Reply], *, skip: int = 0) -> list[str]:
        """Sends a delivery to the chat in order (after the first `skip` pieces) and returns the
        message id of every piece, or raises a SendError (handlers/ports.py): BlockedByUser (after
        marking the identity blocked), RetryLater, Refused (after the fallbacks), Unavailable or
        Ambiguous (the request went out, no answer came)."""
        try:
            return await self.sender.deliver(chat_id, replies, skip=skip)
        except BlockedByUser:
            await self._set_blocked(chat_id, True)
            raise

    # --- data ------------------------------------------------------------------------------

    async def _set_blocked(self, chat_id: str, blocked: bool) -> None:
        """Marks the chat's identities blocked, so nothing more is sent to them (or unblocked)."""
        if await self.host.set_blocked(self.name, chat_id, blocked):
            log.info("the user of chat %s %s the bot", chat_id, "blocked" if blocked else "unblocked")

    def _translator(self, language: str) -> Translator:
        return self.host.translator(language)
