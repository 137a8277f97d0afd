"""A fake Zalo Bot Platform API on 127.0.0.1, speaking the real wire format with its quirks.

- `POST /bot{token}/{method}` with a JSON body; every answer is HTTP 200 with `{"ok": true,
  "result": ...}` or `{"ok": false, "error_code": N, "description": "..."}` (a wrong token: 401).
- `getUpdates` hands out ONE update (not a list) and no offset; an empty long poll ends with
  `error_code` 408. Ids are strings, `date` is in milliseconds.
- `sendMessage` refuses texts over 2000 characters; `sendPhoto` takes a URL (and fetches it, as
  Zalo does, when `fetch_photos` is on).
- Failures are injected per method: `fail("sendMessage", 429, times=20)`, 401, 5xx; for a stretch
  of time: `outage("sendMessage", 500, seconds=3, http_status=500)`; slow answers:
  `slow("sendMessage", 7, times=5)` (the message is sent, the answer comes late).
- Webhook updates are pushed to the app with the `X-Bot-Api-Secret-Token` header.
- `GET /photos/{name}` serves the photos that image events point to.

Every call is recorded in `calls`; the messages that got through are in `sent`. Tests run it in
their own event loop (`async with FakeZaloApi() as fake`); the benchmark runs it as a process,
`python -m tests.fakes.zalo_api --port 0`, and drives it through control routes under `/_fake/`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx

TEXT_LIMIT = 2000
TOKEN = "2717009425160581513:FakeZaloBotTokenForTests"
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(slots=True)
class Call:
    method: str
    params: dict[str, Any]
    error: int = 0  # the error_code answered, 0 when it succeeded


@dataclass(slots=True)
class Sent:
    chat_id: str
    text: str = ""
    photo: str = ""
    message_id: str = ""


@dataclass(slots=True)
class Failure:
    code: int
    http_status: int = 200
    retry_after: float | None = None
    description: str = ""


@dataclass(slots=True)
class FetchedPhoto:
    url: str
    status: int
    size: int


@dataclass
class FakeZaloApi:
    token: str = TOKEN
    fetch_photos: bool = False
    max_poll_wait: float | None = None  # cap on getUpdates' long poll, in seconds
    control: bool = False  # the /_fake/ routes, for driving the server from another process
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    fetched: list[FetchedPhoto] = field(default_factory=list)
    webhook: dict[str, str] = field(default_factory=dict)
    delivered: int = 0  # updates handed out by getUpdates

    def __post_init__(self) -> None:
        self._updates: deque[dict[str, Any]] = deque()
        self._arrived = asyncio.Event()
        self._failures: dict[str, deque[Failure]] = {}
        self._outages: list[tuple[str, float, Failure]] = []  # (method, until (monotonic), answer)
        self._slow: dict[str, deque[float]] = {}
        self._photos: dict[str, tuple[bytes, str]] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._sent_changed = asyncio.Event()
        self.port = 0

    # --- running ------------------------------------------------------------------------------

    async def start(self) -> FakeZaloApi:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Closing the connections ends their handlers (cancelling them makes asyncio log errors).
            for writer in list(self._writers):
                writer.close()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> FakeZaloApi:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The API base URL to configure as zalo.api_url."""
        return f"http://127.0.0.1:{self.port}"

    # --- what the test does ------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queues an update for getUpdates."""
        self._updates.append(update)
        self._arrived.set()
        return update

    @property
    def pending(self) -> int:
        return len(self._updates)

    def fail(self, method: str, code: int, times: int = 1, *, http_status: int = 200,
             retry_after: float | None = None, description: str = "") -> None:
        """The next `times` calls of `method` ("*" for any) answer with this error."""
        queue = self._failures.setdefault(method, deque())
        queue.extend(Failure(code, http_status, retry_after, description or f"injected {code}")
                     for _ in range(times))

    def outage(self, method: str, code: int, *, seconds: float, http_status: int = 200,
               retry_after: float | None = None, description: str = "") -> None:
        """For the next `seconds`, every call of `method` ("*" for any) answers with this error."""
        self._outages.append((method, time.monotonic() + seconds,
                              Failure(code, http_status, retry_after, description or f"injected {code}")))

    def slow(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls of `method` are carried out, but answered after `seconds`."""
        self._slow.setdefault(method, deque()).extend([seconds] * times)

    def add_photo(self, content: bytes, mime: str = "image/jpeg") -> str:
        """Serves the bytes at a URL, as Zalo serves the photos users send; returns the URL."""
        name = secrets.token_hex(8) + (".png" if mime == "image/png" else ".jpg")
        self._photos[name] = (content, mime)
        return f"{self.url}/photos/{name}"

    async def push_webhook(self, url: str, update: dict[str, Any], *, secret: str | None,
                           wrap: bool = False) -> httpx.Response:
        """POSTs an update to the app's webhook as Zalo does (with the secret header when given)."""
        headers = {"X-Bot-Api-Secret-Token": secret} if secret is not None else {}
        body = {"ok": True, "result": update} if wrap else update
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(url, json=body, headers=headers)

    def texts_to(self, chat_id: str) -> list[str]:
        return [s.text for s in self.sent if s.chat_id == chat_id and s.text]

    async def wait_sent(self, count: int, within: float = 10) -> None:
        """Waits until at least `count` messages got through."""
        async with asyncio.timeout(within):
            while len(self.sent) < count:
                self._sent_changed.clear()
                await self._sent_changed.wait()

    # --- updates as Zalo sends them ----------------------------------------------------------

    @staticmethod
    def update(event: str, user: str, *, name: str = "", chat: str | None = None,
               message_id: str | None = None, **fields: Any) -> dict[str, Any]:
        message = {
            "from": {"id": user, "display_name": name or user, "is_bot": False},
            "chat": {"id": chat or user, "chat_type": "PRIVATE"},
            "message_id": message_id or secrets.token_hex(10),
            "date": int(time.time() * 1000),
            **fields,
        }
        return {"event_name": event, "message": message}

    def text(self, user: str, text: str, **kw: Any) -> dict[str, Any]:
        return self.update("message.text.received", user, text=text, **kw)

    def image(self, user: str, photo_url: str, caption: str = "", **kw: Any) -> dict[str, Any]:
        return self.update("message.image.received", user, photo_url=photo_url, caption=caption, **kw)

    def sticker(self, user: str, **kw: Any) -> dict[str, Any]:
        return self.update("message.sticker.received", user, sticker="bfe458bf64fa8da4d4eb",
                           url="https://zalo-api.zadn.vn/api/emoticon/sticker/webpc?eid=1", **kw)

    def unsupported(self, user: str, **kw: Any) -> dict[str, Any]:
        return self.update("message.unsupported.received", user, **kw)

    # --- HTTP ---------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:  # one write per answer, but a delayed ACK must never hold a request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                verb, target, _version = lines[0].split(" ", 2)
                pairs = (line.partition(":") for line in lines[1:] if line)
                headers = {name.strip().lower(): value.strip() for name, _colon, value in pairs}
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                status, payload, ctype = await self._route(verb, unquote(target), body, reader)
                if status == 0:  # the client went away during a long poll
                    return
                reason = REASONS.get(status, "OK")
                writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                             f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _route(self, verb: str, target: str, body: bytes,
                     reader: asyncio.StreamReader) -> tuple[int, bytes, str]:
        path = target.split("?", 1)[0]
        if verb == "GET" and path.startswith("/photos/"):
            photo = self._photos.get(path[len("/photos/"):])
            if photo is None:
                return 404, b"not found", "text/plain"
            return 200, photo[0], photo[1]
        if path.startswith("/_fake/") and self.control:
            return await self._control(path[len("/_fake/"):], body)
        if verb != "POST" or not path.startswith("/bot") or path.count("/") != 2:
            return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}', "application/json"
        token, method = path[len("/bot"):].split("/", 1)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        answer, status = await self._api(token, method, params if isinstance(params, dict) else {}, reader)
        if answer is None:
            return 0, b"", ""
        return status, json.dumps(answer, ensure_ascii=False).encode(), "application/json"

    async def _api(self, token: str, method: str, params: dict[str, Any],
                   reader: asyncio.StreamReader) -> tuple[dict[str, Any] | None, int]:
        call = Call(method, params)
        self.calls.append(call)
        if token != self.token:
            call.error = 401
            return _error(401, "Unauthorized"), 200
        failure = self._next_failure(method)
        if failure is not None:
            call.error = failure.code
            error = _error(failure.code, failure.description)
            if failure.retry_after is not None:
                error["parameters"] = {"retry_after": failure.retry_after}
            return error, failure.http_status
        handler = getattr(self, "_m_" + method, None)
        if handler is None:
            call.error = 404
            return _error(404, f"Method {method} not found"), 200
        result = await handler(params, reader) if method == "getUpdates" else await handler(params)
        delays = self._slow.get(method)
        if delays:
            await asyncio.sleep(delays.popleft())
        if result is None:
            return None, 0
        if "error_code" in result:
            call.error = int(result["error_code"])
        return result, 200

    def _next_failure(self, method: str) -> Failure | None:
        now = time.monotonic()
        for name, until, failure in self._outages:
            if name in (method, "*") and now < until:
                return failure
        for key in (method, "*"):
            queue = self._failures.get(key)
            if queue:
                return queue.popleft()
        return None

    async def _control(self, name: str, body: bytes) -> tuple[int, bytes, str]:
        """/_fake/push (a JSON list of updates), /_fake/wait ({"sent": N}), /_fake/sent, /_fake/reset."""
        data = json.loads(body or b"null")
        if name == "push":
            for update in data:
                self.push(update)
            answer: Any = {"pending": self.pending}
        elif name == "wait":
            try:
                await self.wait_sent(int(data["sent"]), within=float(data.get("within", 120)))
            except TimeoutError:
                pass
            answer = {"sent": len(self.sent)}
        elif name == "sent":
            answer = [{"chat_id": s.chat_id, "text": s.text, "photo": s.photo} for s in self.sent]
        elif name == "reset":
            self.sent.clear()
            self.calls.clear()
            answer = {"ok": True}
        else:
            return 404, b"no such control", "text/plain"
        return 200, json.dumps(answer, ensure_ascii=False).encode(), "application/json"

    # --- the methods --------------------------------------------------------------------------

    async def _m_getMe(self, _params: dict[str, Any]) -> dict[str, Any]:
        return _ok({"id": self.token.split(":", 1)[0], "account_name": "bot.ToTruongFake",
                    "account_type": "BASIC", "can_join_groups": False})

    async def _m_getUpdates(self, params: dict[str, Any], reader: asyncio.StreamReader) -> dict[str, Any] | None:
        try:
            wait = float(params.get("timeout", 30))
        except (TypeError, ValueError):
            wait = 30.0
        if self.max_poll_wait is not None:
            wait = min(wait, self.max_poll_wait)
        deadline = time.monotonic() + wait
        gone = asyncio.ensure_future(reader.read(1))  # the client closes the connection to give up
        try:
            while not self._updates:
                self._arrived.clear()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return _error(408, "Request timeout")
                arrived = asyncio.ensure_future(self._arrived.wait())
                await asyncio.wait({arrived, gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                arrived.cancel()
                if gone.done():
                    return None
        finally:
            if not gone.done():
                gone.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gone  # the reader must be free again before the next request is read
        self.delivered += 1
        return _ok(self._updates.popleft())

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, text = params.get("chat_id"), params.get("text")
        if not isinstance(chat_id, str) or not chat_id:
            return _error(400, "chat_id must be a non-empty string")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "text must not be empty")
        if len(text) > TEXT_LIMIT:
            return _error(400, f"text is longer than {TEXT_LIMIT} characters")
        return self._record(Sent(chat_id, text=text))

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, photo = params.get("chat_id"), params.get("photo")
        if not isinstance(chat_id, str) or not isinstance(photo, str) or not photo.startswith("http"):
            return _error(400, "chat_id and a photo URL are needed")
        if self.fetch_photos:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(photo)
            self.fetched.append(FetchedPhoto(photo, response.status_code, len(response.content)))
            if response.status_code != 200:
                return _error(400, "could not fetch the photo")
        return self._record(Sent(chat_id, photo=photo, text=str(params.get("caption") or "")))

    async def _m_sendChatAction(self, params: dict[str, Any]) -> dict[str, Any]:
        return _ok(True)

    async def _m_setWebhook(self, params: dict[str, Any]) -> dict[str, Any]:
        self.webhook = {"url": str(params.get("url", "")), "secret_token": str(params.get("secret_token", ""))}
        return _ok({"url": self.webhook["url"], "updated_at": int(time.time() * 1000)})

    async def _m_deleteWebhook(self, _params: dict[str, Any]) -> dict[str, Any]:
        self.webhook = {}
        return _ok({"url": "", "updated_at": int(time.time() * 1000)})

    async def _m_getWebhookInfo(self, _params: dict[str, Any]) -> dict[str, Any]:
        return _ok({"url": self.webhook.get("url", ""), "updated_at": int(time.time() * 1000)})

    def _record(self, sent: Sent) -> dict[str, Any]:
        sent.message_id = secrets.token_hex(10)
        self.sent.append(sent)
        self._sent_changed.set()
        return _ok({"message_id": sent.message_id, "date": int(time.time() * 1000)})


def _ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def _error(code: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": code, "description": description}


async def _serve(port: int) -> None:
    fake = FakeZaloApi(control=True)
    fake._server = await asyncio.start_server(fake._connection, "127.0.0.1", port)
    fake.port = fake._server.sockets[0].getsockname()[1]
    print(f"PORT {fake.port}", flush=True)
    await fake._server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A fake Zalo Bot API server on 127.0.0.1 (token: " + TOKEN + ").")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port; the port is printed as PORT n")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args().port))
