"""Text messages sent without python-telegram-bot's request machinery: one JSON POST, one small read.

PTB's `send_message` builds its parameter objects, form-encodes them through `RequestData`, and
reads the answer into a whole `Message` (`Message.de_json`), of which the sender keeps only the
message id; at 200 users on webhooks that path was about half of the app's CPU per step
(docs/benchmarks.md). `LeanText` sends `sendMessage`, `editMessageText`, `editMessageReplyMarkup`
and `answerCallbackQuery` as a JSON body over `Wire` (wire.py: keep-alive connections of asyncio's
streams, with the bot's client's timeouts) and through the bot's rate limiter
(`PerChatRateLimiter`), reads only `result.message_id`, and raises for each answer the exception
PTB raises (`error_for` mirrors `BaseRequest._request_wrapper`, `timed_out`/`network_error`
mirror `HTTPXRequest.do_request`), so the retry rules in send.py and the outbox stay as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.channels.telegram.wire import Wire

HEADERS = "".join(f"{name}: {value}\r\n" for name, value in {
    "User-Agent": HTTPXRequest.USER_AGENT, "Content-Type": "application/json"}.items())
POOL_TIMEOUT = ("Pool timeout: All connections in the connection pool are occupied. Request was *not* sent to "
                "Telegram. Consider adjusting the connection pool size or the pool timeout.")


@dataclass(frozen=True, slots=True)
class Sent:
    """What the sender reads of a sent message."""

    message_id: int


def _chat(chat_id: int | str) -> int | str:
    """A numeric chat id as a JSON number (as Telegram documents it), a @channel name as it is."""
    if isinstance(chat_id, str):
        try:
            return int(chat_id)
        except ValueError:
            return chat_id
    return chat_id


def _parse(payload: bytes) -> Any:
    """`BaseRequest.parse_json_payload`."""
    try:
        return json.loads(payload.decode("utf-8", "replace"))
    except ValueError as exc:
        raise TelegramError("Invalid server response") from exc


def error_for(code: int, payload: bytes) -> TelegramError:
    """The exception PTB raises for a non-2xx answer (`BaseRequest._request_wrapper`)."""
    try:
        message = f"{HTTPStatus(code).phrase} ({code})"
    except ValueError:
        message = f"Unknown HTTPError ({code})"
    parsing: TelegramError | None = None
    try:
        data = _parse(payload)
    except TelegramError as exc:
        message += f". Parsing the server response {payload!r} failed"
        parsing = exc
    else:
        message = data.get("description") or message
        parameters = data.get("parameters")
        if parameters:
            if migrate_to := parameters.get("migrate_to_chat_id"):
                return ChatMigrated(migrate_to)
            if retry_after := parameters.get("retry_after"):
                return RetryAfter(retry_after)
            message += f". The server response contained unknown parameters: {parameters}"
    exception: TelegramError
    if code == HTTPStatus.FORBIDDEN:
        exception = Forbidden(message)
    elif code in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        exception = InvalidToken(message)
    elif code == HTTPStatus.BAD_REQUEST:
        exception = BadRequest(message)
    elif code == HTTPStatus.CONFLICT:
        exception = Conflict(message)
    else:  # 502 and every other status
        exception = NetworkError(message)
    if parsing is not None:
        exception.__cause__ = parsing
    return exception


class LeanText:
    """sendMessage, editMessageText, editMessageReplyMarkup and answerCallbackQuery for one bot,
    with its client's timeouts and its rate limiter, over `Wire` connections of its own (up to
    `connections`). No proxy, as before: httpx ignores HTTPS_PROXY and the like for a client given
    its own transport, as the bot's is (transport.bot_request)."""

    def __init__(self, bot: Bot, *, connections: int = 8) -> None:
        self.bot = bot
        self.connections = connections
        self._wire: Wire | None = None
        self._wire_of: httpx.AsyncClient | None = None  # the client whose settings it has

    async def send_message(self, chat_id: int | str, text: str, *, reply_markup: Any = None) -> Sent:
        """As `Bot.send_message(chat_id, text, reply_markup=...)`; returns only the message id."""
        body: dict[str, Any] = {"chat_id": _chat(chat_id), "text": text}
        if reply_markup is not None:
            body["reply_markup"] = reply_markup.to_dict()
        result = await self._post("sendMessage", body)
        return Sent(int(result["message_id"]))

    async def edit_message_text(self, text: str, chat_id: int | str, message_id: int, *,
                                reply_markup: Any = None) -> None:
        """As `Bot.edit_message_text(text, chat_id, message_id, reply_markup=...)`; the answer is not read."""
        body: dict[str, Any] = {"chat_id": _chat(chat_id), "message_id": message_id, "text": text}
        if reply_markup is not None:
            body["reply_markup"] = reply_markup.to_dict()
        await self._post("editMessageText", body)

    async def edit_message_reply_markup(self, chat_id: int | str, message_id: int, *, reply_markup: Any = None) -> None:
        """As `Bot.edit_message_reply_markup(chat_id, message_id, reply_markup=...)` (none: the
        buttons are taken away); the answer is not read."""
        body: dict[str, Any] = {"chat_id": _chat(chat_id), "message_id": message_id}
        if reply_markup is not None:
            body["reply_markup"] = reply_markup.to_dict()
        await self._post("editMessageReplyMarkup", body)

    async def answer_callback_query(self, callback_query_id: str) -> None:
        """As `CallbackQuery.answer()`: stops the button's spinner."""
        await self._post("answerCallbackQuery", {"callback_query_id": callback_query_id})

    async def aclose(self) -> None:
        """Closes its idle connections (the bot's own client is PTB's to close)."""
        if self._wire is not None:
            self._wire.close()

    async def _post(self, endpoint: str, body: dict[str, Any]) -> Any:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        limiter = getattr(self.bot, "rate_limiter", None)  # an ExtBot has one
        if limiter is None:
            return await self._request(endpoint, content)
        return await limiter.process_request(self._request, (endpoint, content), {}, endpoint, body, None)

    async def _request(self, endpoint: str, content: bytes) -> Any:
        """One POST (`HTTPXRequest.do_request`, then `BaseRequest.post`): the answer's `result`."""
        request = self.bot.request
        client: httpx.AsyncClient = request._client  # type: ignore[attr-defined]  # PTB's own, rebuilt on initialize
        if client.is_closed:
            raise NetworkError(f"Unknown error in HTTP implementation: "
                               f"{RuntimeError('This HTTPXRequest is not initialized!')!r}")
        try:
            code, payload = await self._wire_for(client).post(f"/{endpoint}", content, HEADERS)
        except httpx.TimeoutException as err:
            if isinstance(err, httpx.PoolTimeout):
                raise TimedOut(message=POOL_TIMEOUT) from err
            raise TimedOut from err
        except httpx.HTTPError as err:
            raise NetworkError(f"httpx.{err.__class__.__name__}: {err}") from err
        except Exception as exc:
            raise NetworkError(f"Unknown error in HTTP implementation: {exc!r}") from exc
        if not HTTPStatus.OK <= code <= 299:
            raise error_for(code, payload)
        return _parse(payload)["result"]

    def _wire_for(self, client: httpx.AsyncClient) -> Wire:
        """The connections for this client's timeouts (PTB builds a new client on initialize after
        a shutdown: the connections are made anew with it)."""
        if self._wire is None or client is not self._wire_of:
            if self._wire is not None:
                self._wire.close()
            self._wire = Wire(self.bot.base_url, connections=self.connections, timeout=client.timeout)
            self._wire_of = client
        return self._wire
