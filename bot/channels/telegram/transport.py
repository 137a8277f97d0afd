"""How the Telegram adapter talks to the Bot API robustly: flood limits, update order, bad updates.

Small pieces plugged into python-telegram-bot's extension points:

- `PerChatRateLimiter` keeps within Telegram's flood limits and, unlike PTB's `AIORateLimiter`
  (which halts *every* request on a 429), makes only the chat that got the 429 wait `retry_after`.
- `ChatOrderedProcessor` handles updates of different chats at the same time and those of one
  chat strictly in order, without letting one busy chat take every place.
- `LenientBot` hands the poller (bot/channels/telegram/polling.py) a `getUpdates` batch unread and reads
  each update on its own, so one bad update is logged and skipped; reading the batch as a whole,
  one bad update would fail it and the same updates would be fetched again forever.
- `bot_request` is PTB's httpx request with the head and body of each call sent in one write
  (`CoalescingBackend`): httpcore writes them apart, two system calls and two packets per call;
  those writes were a fifth of py-spy's samples on the webhook path at 200 users (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpcore
import httpx
from aiolimiter import AsyncLimiter
from telegram import Update
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor, ExtBot
from telegram.request import HTTPXRequest

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
OVERALL_RATE = 30.0  # messages per second for the whole bot
GROUP_RATE_PER_MINUTE = 20.0
# A longer wait is not slept through: RetryAfter goes to the caller (the outbox then tries the row
# again later, rather than holding it past its lease).
MAX_WAIT = 30.0


class PerChatRateLimiter(BaseRateLimiter[int]):
    """Spaces requests within Telegram's limits; a 429 pauses only the chat it was about."""

    def __init__(self, *, overall_rate: float = OVERALL_RATE, group_rate_per_minute: float = GROUP_RATE_PER_MINUTE,
                 max_retries: int = 3, max_wait: float = MAX_WAIT) -> None:
        self._overall = AsyncLimiter(overall_rate, 1) if overall_rate > 0 else None
        self._group_rate = group_rate_per_minute
        self._groups: dict[int | str, AsyncLimiter] = {}
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._paused_until: dict[str, float] = {}  # chat id ("" for requests about no chat) -> loop time

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Sends one request when its chat may be written to, retrying after a 429."""
        chat_id = data.get("chat_id")
        key = "" if chat_id is None else str(chat_id)
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        attempt = 0
        while True:
            await self._wait_until_allowed(key)
            try:
                if chat_id is None:
                    return await callback(*args, **kwargs)
                async with _maybe(self._group_limiter(chat_id)), _maybe(self._overall):
                    return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = seconds_of(error) + 0.1
                if attempt >= retries or wait > self._max_wait:
                    raise
                attempt += 1
                log.info("Telegram asked to wait %.1f s before %s to chat %s (retry %d of %d)",
                         wait, endpoint, key or "-", attempt, retries)
                loop = asyncio.get_running_loop()
                self._paused_until[key] = max(self._paused_until.get(key, 0.0), loop.time() + wait)

    async def _wait_until_allowed(self, key: str) -> None:
        while (until := self._paused_until.get(key)) is not None:
            remaining = until - asyncio.get_running_loop().time()
            if remaining <= 0:
                del self._paused_until[key]
                return
            if remaining > self._max_wait:
                raise RetryAfter(int(remaining) + 1)
            await asyncio.sleep(remaining)

    def _group_limiter(self, chat_id: object) -> AsyncLimiter | None:
        """Groups and channels (negative ids, @names) get their own per-minute limit."""
        if self._group_rate <= 0:
            return None
        try:
            key: int | str = int(str(chat_id))
        except ValueError:
            key = str(chat_id)
        if isinstance(key, int) and key > 0:
            return None
        if len(self._groups) > 512:
            for old, limiter in list(self._groups.items()):
                if old != key and limiter.has_capacity(limiter.max_rate):
                    del self._groups[old]
        if key not in self._groups:
            self._groups[key] = AsyncLimiter(self._group_rate, 60)
        return self._groups[key]


class _Nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _maybe(limiter: AsyncLimiter | None) -> AsyncLimiter | _Nothing:
    return limiter if limiter is not None else _Nothing()


def seconds_of(error: RetryAfter) -> float:
    value = error._retry_after  # a timedelta; the public `retry_after` may warn about its int form
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(slots=True)
class _ChatQueue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Runs updates of different chats concurrently and updates of one chat one after the other.

    At most `concurrency` updates are worked on at once. An update waiting for an earlier one of
    its chat does not take one of those places, so a chat that sends fifty messages in a row
    does not hold up everyone else.
    """

    def __init__(self, concurrency: int = 16, *, backlog: int = 1024) -> None:
        super().__init__(max(backlog, concurrency))  # PTB's limit: updates taken off the queue at once
        self._working = asyncio.Semaphore(concurrency)
        self._chats: dict[int, _ChatQueue] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Waits for the earlier updates of the same chat and for a free place, then handles this one."""
        key = _chat_key(update)
        if key is None:
            async with self._working:
                await coroutine
            return
        # Count the waiters so the lock is dropped only when nobody queues on it: a lock that is
        # merely released may already be promised to the next update of the chat.
        queue = self._chats.get(key)
        if queue is None:
            queue = self._chats[key] = _ChatQueue()
        queue.waiting += 1
        try:
            async with queue.lock, self._working:
                await coroutine
        finally:
            queue.waiting -= 1
            if queue.waiting == 0 and self._chats.get(key) is queue:
                del self._chats[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


def _chat_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


class _CoalescingStream(httpcore.AsyncNetworkStream):
    """A connection that holds what httpcore writes (a request's head, then its body) until it
    reads the answer, and sends it then in one write. Only the timing of the bytes changes: the
    same bytes go out in the same order before anything is read, and a failed write raises the
    same httpcore error (httpx's WriteError: a request that may have gone out)."""

    FLUSH_AT = 64 * 1024  # a bigger upload is sent as it comes rather than held whole

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._pending: list[bytes] = []
        self._size = 0
        self._timeout: float | None = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 (httpcore's)
        if not buffer:
            return
        self._pending.append(buffer)
        self._size += len(buffer)
        self._timeout = timeout
        if self._size >= self.FLUSH_AT:
            await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            await self._stream.write(data, self._timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        await self._flush()
        return await self._stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        self._pending.clear()
        await self._stream.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:  # noqa: ASYNC109
        await self._flush()
        return _CoalescingStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class CoalescingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own network backend (anyio), its connections wrapped in `_CoalescingStream`."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None, socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _CoalescingStream(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _CoalescingStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def coalescing_transport(connections: int) -> httpx.AsyncHTTPTransport:
    """httpx's transport with PTB's limits (`connections` at most, HTTP/1.1), its connections made
    by `CoalescingBackend`. httpx takes no network backend, so it is set on its pool before the
    first connection; if a later httpx keeps its pool elsewhere, the plain transport is used."""
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=connections), http1=True, http2=False)
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = CoalescingBackend()
    else:  # pragma: no cover - another httpx
        log.warning("httpx keeps no httpcore pool where expected: Telegram calls are sent in two writes")
    return transport


def bot_request(connections: int, **kwargs: Any) -> HTTPXRequest:
    """PTB's HTTPXRequest (`kwargs`: its timeouts) over `coalescing_transport(connections)`."""
    return HTTPXRequest(connection_pool_size=connections, httpx_kwargs={"transport": coalescing_transport(connections)},
                        **kwargs)


class LenientBot(ExtBot[None]):
    """A bot whose getUpdates hands back raw updates, read one at a time: a bad one is skipped."""

    __slots__ = ()

    def __init__(self, token: str, **kwargs: Any) -> None:
        super().__init__(token, get_updates_request=HTTPXRequest(connection_pool_size=2), **kwargs)

    async def fetch_updates(self, *, offset: int, wait: float, limit: int,
                            allowed_updates: list[str]) -> list[JSONDict]:
        """One getUpdates call, unread: the poller reads only the updates it has not seen yet."""
        # As Bot.get_updates does: a long poll may stay open `wait` seconds beyond the usual read timeout.
        read_timeout = (self._request[0].read_timeout or 0) + wait
        data: JSONDict = {"timeout": wait, "offset": offset, "limit": limit, "allowed_updates": allowed_updates}
        result = await self._post("getUpdates", data, read_timeout=read_timeout)
        return list(result) if isinstance(result, list) else []

    def read_update(self, raw: Any) -> Update:
        """The update, or an empty one with its id when it cannot be read (the handler skips it)."""
        try:
            update = Update.de_json(raw, self)
        except Exception:
            update = None
        if update is None:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            log.error("skipped update %s: it cannot be read: %.500r", update_id, raw, exc_info=True)
            return Update(update_id=update_id if isinstance(update_id, int) else 0)
        return update
