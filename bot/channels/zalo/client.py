"""A thin async client for the Zalo Bot Platform API, on httpx (no third-party Zalo SDK).

Every method is `POST {api_url}/bot{token}/{method}` with a JSON body. The answer is HTTP 200 even
for errors: `{"ok": true, "result": ...}` or `{"ok": false, "error_code": N, "description": "..."}`.
401 is fatal, 429 pauses every call of this client, 5xx and network errors are retried with
exponential backoff. A send whose request went out but got no answer (a read timeout, a dropped
connection) is never retried here: it may have arrived (`ZaloError.maybe_sent`). Deliveries pass
`patience`, the most they may wait in-line: past it the error goes back to the outbox, which retries
the row later instead of holding its batch. The token is part of every URL, so nothing here logs a
URL (and the calls bypass httpx's client layer, whose INFO log line names each URL).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "totruong"}
POLL_TIMEOUT_CODE = 408  # getUpdates: the long poll ended without an update; normal
SENDS = frozenset({"sendMessage", "sendPhoto", "sendSticker"})
# Failures before the request was written: nothing reached Zalo, so trying again is safe.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ZaloError(Exception):
    """The Zalo API refused a call (`ok: false`) or could not be reached."""

    def __init__(self, method: str, code: int, description: str, retry_after: float | None = None, *,
                 maybe_sent: bool = False) -> None:
        super().__init__(f"{method}: {code} {description}".strip())
        self.method = method
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent  # the request went out, no answer came: it may have been done

    @property
    def retryable(self) -> bool:
        """5xx, 429, a network failure or an answer that is not JSON: worth trying again later."""
        return self.code == 0 or self.code == 429 or self.code >= 500


class ZaloUnauthorized(ZaloError):
    """The token was rejected (401): nothing will work until the operator fixes it."""


@dataclass(slots=True)
class Backoff:
    """How long to wait between attempts: base · 2^attempt, at most `cap`, with jitter."""

    base: float = 0.5
    cap: float = 30.0
    attempts: int = 6  # retries of a 5xx or network error before giving up
    rate_limited_for: float = 600.0  # how long 429 answers are waited out before giving up

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.base * 2 ** min(attempt, 20)) * random.uniform(0.75, 1.0))


class ZaloClient:
    def __init__(self, token: str, api_url: str, *, backoff: Backoff | None = None,
                 timeout: float = 15.0, send_timeout: float = 30.0) -> None:
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._urls: dict[str, httpx.URL] = {}  # parsed once per method: httpx parses a str URL every time
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self.send_timeout = send_timeout  # generous: a late answer must not look like a failure
        # API calls go straight to httpx's transport: they need none of the client layer (cookies,
        # redirects, auth, URL merging), which costs about as much as the HTTP exchange itself.
        # httpcore's pool does work for every connection on every request: a few busy connections
        # cost far less CPU than many (bench/bench_outbox.py: 64 connections halved the send rate).
        self.transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8))
        # Photos users send are fetched from Zalo's file servers, not through the bot URL.
        self.downloads = httpx.AsyncClient(timeout=30, follow_redirects=True)
        # After a 429 every call waits until then (monotonic seconds): the limit is the bot's, not a chat's.
        self._resume_at = 0.0

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.downloads.aclose()

    async def _post(self, method: str, params: dict[str, Any], seconds: float) -> tuple[int, bytes]:
        url = self._urls.get(method) or self._urls.setdefault(method, httpx.URL(self._base + method))
        request = httpx.Request("POST", url, content=json.dumps(params, ensure_ascii=False).encode(),
                                headers=_HEADERS, extensions={"timeout": httpx.Timeout(seconds).as_dict()})
        response = await self.transport.handle_async_request(request)
        try:
            return response.status_code, await response.aread()
        finally:
            await response.aclose()

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   http_timeout: float | None = None, retry: bool = True, patience: float | None = None) -> Any:
        """Calls one API method and returns its `result`; retries what is worth retrying.

        With `retry=False` (for calls that do not matter, like a typing indicator) any failure
        raises at once. With `patience`, waiting in-line (backoffs, 429 pauses) stops at that many
        seconds and the error is raised for the caller to retry later.
        """
        started = time.monotonic()
        limit = self.backoff.rate_limited_for if patience is None else patience
        attempt = 0  # 5xx and network failures so far
        limited = 0  # 429 answers so far
        timeout = http_timeout or (self.send_timeout if method in SENDS else self.timeout)
        while True:
            pause = self._resume_at - time.monotonic()
            if pause > 0:
                if patience is not None and time.monotonic() + pause - started > patience:
                    raise ZaloError(method, 429, "rate limited", retry_after=pause)
                await asyncio.sleep(pause)
            try:
                status, content = await self._post(method, params or {}, timeout)
            except httpx.TransportError as exc:
                # The message of a transport error holds no URL, so no token.
                maybe = method in SENDS and not isinstance(exc, NOT_SENT)
                error = ZaloError(method, 0, f"network error: {type(exc).__name__} {exc}".strip(), maybe_sent=maybe)
                if not retry or maybe:
                    raise error from exc
                attempt = await self._retry_or_raise(error, attempt, started, patience)
                continue
            try:
                body = json.loads(content)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                error = _error_from(method, {"description": "the answer is not a JSON object"}, status)
                if retry and (error.code >= 500 or error.code == 429):
                    attempt = await self._retry_or_raise(error, attempt, started, patience)
                    continue
                raise error
            if body.get("ok") is True:
                return body.get("result")
            error = _error_from(method, body, status)
            if not retry:
                raise error
            if error.code == 429:
                wait = error.retry_after if error.retry_after is not None else self.backoff.delay(limited)
                self._resume_at = max(self._resume_at, time.monotonic() + wait)
                if time.monotonic() + wait - started > limit:
                    raise error
                log.info("Zalo asks to slow down (429 on %s); waiting %.1f s", method, wait)
                limited += 1
                continue
            if error.code >= 500:
                attempt = await self._retry_or_raise(error, attempt, started, patience)
                continue
            raise error

    async def _retry_or_raise(self, error: ZaloError, attempt: int, started: float, patience: float | None) -> int:
        wait = self.backoff.delay(attempt)
        if attempt >= self.backoff.attempts or (patience is not None and
                                                 time.monotonic() + wait - started > patience):
            raise error
        log.info("Zalo %s failed (%s); retrying in %.1f s", error.method, error, wait)
        await asyncio.sleep(wait)
        return attempt + 1

    # --- the API methods ----------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        return dict(await self.call("getMe") or {})

    async def get_updates(self, wait: int = 30) -> dict[str, Any] | None:
        """Waits up to `wait` seconds for ONE update; None when the long poll ends empty (408)."""
        try:
            # Zalo's documentation passes the timeout as a string.
            result = await self.call("getUpdates", {"timeout": str(wait)}, http_timeout=wait + 10)
        except ZaloError as error:
            if error.code == POLL_TIMEOUT_CODE:
                return None
            raise
        if isinstance(result, list):  # tolerate a list, should the API ever batch
            return result[0] if result else None
        return result if isinstance(result, dict) and result else None

    async def set_webhook(self, url: str, secret_token: str) -> Any:
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        return await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        return dict(await self.call("getWebhookInfo") or {})

    async def send_message(self, chat_id: str, text: str, *, patience: float | None = None) -> dict[str, Any]:
        result = await self.call("sendMessage", {"chat_id": chat_id, "text": text}, patience=patience)
        return dict(result or {}) if isinstance(result, dict) else {}

    async def send_photo(self, chat_id: str, photo_url: str, caption: str = "", *,
                         patience: float | None = None) -> dict[str, Any]:
        params = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            params["caption"] = caption
        result = await self.call("sendPhoto", params, patience=patience)
        return dict(result or {}) if isinstance(result, dict) else {}

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> Any:
        return await self.call("sendChatAction", {"chat_id": chat_id, "action": action}, retry=False)


    async def download(self, url: str, max_bytes: int) -> tuple[bytes, str] | None:
        """Fetches a photo (at most `max_bytes` of it) and its type; None when it cannot be had."""
        try:
            async with self.downloads.stream("GET", url) as response:
                if response.status_code != 200:
                    log.warning("a Zalo photo download answered %s", response.status_code)
                    return None
                mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) >= max_bytes:
                        break
        except httpx.HTTPError as error:
            log.warning("could not download a Zalo photo: %s", type(error).__name__)
            return None
        data = bytes(content[:max_bytes])
        return data, mime if mime.startswith("image/") else _sniff(data)


def _sniff(data: bytes) -> str:
    """The image type from the first bytes, when the server did not say."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


def _error_from(method: str, body: dict[str, Any], status: int) -> ZaloError:
    try:
        code = int(body.get("error_code") or status)
    except (TypeError, ValueError):
        code = status
    description = str(body.get("description") or "")
    parameters = body.get("parameters")
    retry_after = None
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
        retry_after = float(parameters["retry_after"])
    kind = ZaloUnauthorized if code == 401 else ZaloError
    return kind(method, code, description, retry_after)
