"""A fake Telegram Bot API server: real HTTP on 127.0.0.1, the real wire format, no network.

The bot under test talks to it exactly as to https://api.telegram.org: `POST /bot<TOKEN>/<method>`
with a JSON, form or multipart body, answered `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": N, "description": "..."}` with the matching HTTP status; files are
fetched from `GET /file/bot<TOKEN>/<path>`. A test injects updates (messages, commands, button
presses, photos, locations, contacts, raw dicts) and faults (403, 429 with `retry_after`, 500,
dropped connections, slow answers), and reads back every call the bot made.

Started per test on a random port (`await FakeTelegram().start()`), or as a process for the
benchmarks (`python -m tests.fakes.telegram_api`), which adds control routes under `/_fake/`.
The methods are in telegram_methods.py, the HTTP and body formats in telegram_wire.py, and a
chat driver for transcript tests in telegram_user.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes.telegram_methods import BotApiMethods
from tests.fakes.telegram_wire import (
    REASONS,
    ApiError,
    Response,
    coerce,
    decode_body,
    error_response,
    json_response,
    read_request,
)

TOKEN = "123456:TEST-token_for-the-fake-server"


@dataclass
class Call:
    """One request the bot made: the method, its decoded parameters and any uploaded files."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    status: int = 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int) else None


@dataclass
class Fault:
    """What to do instead of answering normally, for the next `times` matching calls."""

    method: str  # lower case, or "*"
    status: int = 0  # 0: answer normally (after `delay`); -1: drop the connection
    description: str = ""
    retry_after: int | None = None
    delay: float = 0.0
    times: int = 1
    chat_id: int | None = None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.times <= 0 or self.method not in ("*", method):
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id


class FakeTelegram(BotApiMethods):
    """The fake server's state: pending updates, sent messages, files, webhook, faults, calls."""

    def __init__(self, token: str = TOKEN, *, username: str = "totruong_test_bot", record: bool = True) -> None:
        self.token = token
        self.username = username
        self.bot_id = int(token.split(":", 1)[0])
        self.record = record
        self.calls: list[Call] = []
        self.counts: dict[str, int] = {}
        self.pending: list[dict[str, Any]] = []
        self.confirmed = 0  # every update below this id was fetched and confirmed by an offset
        self.offsets: list[int] = []  # each offset that confirmed updates, in order
        # Every message the bot sent or edited successfully: (chat id, method, text), kept even
        # when `record` is off, so a test in another process can count the answers per chat.
        self.answers: list[tuple[int, str, str]] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}  # file_id -> (content, file_path)
        self.webhook: dict[str, Any] | None = None
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.faults: list[Fault] = []
        self.pressed: list[str] = []  # ids of the callback queries the tests sent
        self.answered: set[str] = set()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        # Woken when an update arrives, an offset is confirmed or a call is made. One future per
        # waiter, not a shared Event that each waiter clears: clearing could swallow a wake-up
        # meant for another waiter.
        self._waiters: list[asyncio.Future[None]] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    # --- running ---------------------------------------------------------------------------

    async def start(self, port: int = 0) -> FakeTelegram:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        self._server = None

    @property
    def url(self) -> str:
        """The Bot API root to configure as `[telegram] api_url`."""
        return f"http://127.0.0.1:{self.port}"

    # --- injecting updates -----------------------------------------------------------------

    def user(self, user_id: int, first_name: str, *, last_name: str = "", language_code: str = "vi") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if language_code:
            user["language_code"] = language_code
        return user

    def push(self, update: dict[str, Any]) -> int:
        """Queues a raw update (an `update_id` is added when missing) and returns its id."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self.pending.append(update)
        self._changed()
        return int(update["update_id"])

    def _user_message(self, user: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        message = {"message_id": next(self._message_ids), "from": user, "chat": chat, "date": int(time.time()),
                   **content}
        self.messages[(user["id"], message["message_id"])] = message
        return message

    def send_text(self, user: dict[str, Any], text: str) -> int:
        """The user types a text; a leading "/word" is marked as a command, as Telegram does."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push({"message": self._user_message(user, **content)})

    def send_photo(self, user: dict[str, Any], content: bytes, *, caption: str = "",
                   file_sizes: tuple[int, int] | None = None) -> int:
        """The user sends a photo: a small thumbnail and `content` as the largest size.

        `file_sizes` overrides the sizes Telegram reports for (thumbnail, photo).
        """
        thumb_id = self.add_file(b"thumbnail:" + content[:50], "photos/thumb.jpg")
        big_id = self.add_file(content, "photos/photo.jpg")
        thumb_size, big_size = file_sizes or (len(self.files[thumb_id][0]), len(content))
        sizes = [
            {"file_id": thumb_id, "file_unique_id": "u" + thumb_id, "width": 90, "height": 67,
             "file_size": thumb_size},
            {"file_id": big_id, "file_unique_id": "u" + big_id, "width": 1280, "height": 960,
             "file_size": big_size},
        ]
        extra: dict[str, Any] = {"caption": caption} if caption else {}
        return self.push({"message": self._user_message(user, photo=sizes, **extra)})

    def send_location(self, user: dict[str, Any], latitude: float, longitude: float) -> int:
        return self.push({"message": self._user_message(user, location={"latitude": latitude,
                                                                         "longitude": longitude})})

    def send_contact(self, user: dict[str, Any], phone: str, *, own: bool = True) -> int:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": user["first_name"]}
        if own:
            contact["user_id"] = user["id"]
        return self.push({"message": self._user_message(user, contact=contact)})

    def press(self, user: dict[str, Any], message: dict[str, Any], data: str) -> int:
        """The user presses an inline button with callback `data` under the bot's `message`."""
        query = {"id": f"q{next(self._query_ids)}", "from": user, "chat_instance": f"ci{user['id']}",
                 "message": message, "data": data}
        self.pressed.append(query["id"])
        return self.push({"callback_query": query})

    def add_file(self, content: bytes, path: str) -> str:
        file_id = f"F{next(self._file_ids):05d}"
        stem, dot, ext = path.rpartition(".")
        self.files[file_id] = (content, f"{stem}_{file_id}.{ext}" if dot else f"{path}_{file_id}")
        return file_id

    # --- faults ----------------------------------------------------------------------------

    def fail(self, method: str, status: int, description: str = "", *, times: int = 1,
             chat_id: int | None = None, retry_after: int | None = None, delay: float = 0.0) -> Fault:
        """Makes the next `times` calls of `method` (or "*") fail with an HTTP status."""
        fault = Fault(method.lower(), status, description, retry_after, delay, times, chat_id)
        self.faults.append(fault)
        return fault

    def flood(self, method: str, retry_after: int, *, chat_id: int | None = None, times: int = 1) -> Fault:
        """A 429 "Too Many Requests" with `parameters.retry_after`."""
        return self.fail(method, 429, times=times, chat_id=chat_id, retry_after=retry_after)

    def slow(self, method: str, seconds: float, *, times: int = 1, chat_id: int | None = None) -> Fault:
        return self.fail(method, 0, times=times, chat_id=chat_id, delay=seconds)

    def disconnect(self, method: str, *, times: int = 1) -> Fault:
        """Closes the connection without an answer: a network error for the bot."""
        return self.fail(method, -1, times=times)

    def _fault_for(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, params):
                fault.times -= 1
                return fault
        return None

    # --- reading what the bot did ----------------------------------------------------------

    def calls_of(self, method: str, *, chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (chat_id is None or c.chat_id == chat_id)]

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """The messages the bot sent to the chat, oldest first, as they are now (after edits)."""
        return [m for (chat, _id), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
                if chat == chat_id and m.get("from", {}).get("id") == self.bot_id]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Waits until `predicate()` holds (it is checked after every change), at most `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("the fake Telegram server did not see what the test waited for")
            await self._next_change(remaining)

    async def delivered(self, update_id: int, within: float = 5.0) -> None:
        """Waits until the bot fetched the update and confirmed it (a later offset)."""
        await self.wait_for(lambda: self.confirmed > update_id, within)

    async def wait_calls(self, method: str, count: int = 1, *, chat_id: int | None = None,
                         within: float = 5.0) -> list[Call]:
        await self.wait_for(lambda: len(self.calls_of(method, chat_id=chat_id)) >= count, within)
        return self.calls_of(method, chat_id=chat_id)

    # --- HTTP --------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Headers and body go out in one write, but keep the ~40 ms delayed-ACK stall away anyway.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                verb, target, headers, body = request
                response = await self._route(verb, target, headers, body)
                if response is None:  # a fault that drops the connection
                    break
                reason = REASONS.get(response.status, "Error")
                head = (f"HTTP/1.1 {response.status} {reason}\r\nContent-Type: {response.content_type}\r\n"
                        f"Content-Length: {len(response.body)}\r\n\r\n").encode("latin-1")
                writer.write(head + response.body)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # stop() closes idle connections; ending quietly keeps asyncio from logging it
        finally:
            self._connections.discard(task)
            writer.close()

    async def _route(self, verb: str, target: str, headers: dict[str, str], body: bytes) -> Response | None:
        parts = urlsplit(target)
        path = unquote(parts.path)
        if path.startswith("/_fake/"):
            return await self._control(path[len("/_fake/"):], dict(parse_qsl(parts.query)), body)
        if path.startswith("/file/bot"):
            token, _sep, file_path = path[len("/file/bot"):].partition("/")
            found = next((content for content, p in self.files.values() if p == file_path), None)
            self._note(Call("file", {"path": file_path}))
            if token != self.token or found is None:
                return error_response(404, "Not Found")
            return Response(200, found, "application/octet-stream")
        if not path.startswith("/bot"):
            return error_response(404, "Not Found")
        token, _sep, method_name = path[len("/bot"):].partition("/")
        if token != self.token:
            return error_response(401, "Unauthorized")
        try:
            params, files = decode_body(headers.get("content-type", ""), body)
        except ValueError:
            return error_response(400, "Bad Request: can't parse request body")
        params.update({k: coerce(k, v) for k, v in parse_qsl(parts.query)})
        method = method_name.lower()
        call = Call(method_name, params, files)
        fault = self._fault_for(method, params)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status == -1:
                call.status = -1
                self._note(call)
                return None
            if fault.status:
                call.status = fault.status
                self._note(call)
                return error_response(fault.status, fault.description, fault.retry_after)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            call.status = 404
            self._note(call)
            return error_response(404, "Not Found: method not found")
        try:
            result = await handler(params, files)
        except ApiError as error:
            call.status = error.status
            self._note(call)
            return error_response(error.status, error.description, error.retry_after)
        self._note(call)
        return Response(200, json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode())

    def _note(self, call: Call) -> None:
        self.counts[call.method] = self.counts.get(call.method, 0) + 1
        if call.status == 200 and call.method in ("sendMessage", "editMessageText", "sendPhoto", "sendDocument"):
            text = call.params.get("text") or call.params.get("caption") or ""
            self.answers.append((call.chat_id or 0, call.method, str(text)))
        if self.record:
            self.calls.append(call)
        self._changed()

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _next_change(self, within: float) -> None:
        """Waits for the next change, at most `within` seconds."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, within)
        except TimeoutError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # --- control routes for a fake running in another process (benchmarks) -------------------

    async def _control(self, name: str, query: dict[str, str], body: bytes) -> Response:
        if name == "updates":
            ids = [self.push(update) for update in json.loads(body or b"[]")]
            return json_response({"ids": ids})
        if name == "counts":
            return json_response(self.counts)
        if name == "state":
            last = max((u["update_id"] for u in self.pending), default=0)
            return json_response({"confirmed": self.confirmed, "offsets": self.offsets, "pending": len(self.pending),
                                  "last_pending": last, "counts": self.counts})
        if name == "answers":
            return json_response([{"chat_id": c, "method": m, "text": t} for c, m, t in self.answers])
        if name == "wait":
            method, count = query.get("method", "sendMessage"), int(query.get("count", "1"))
            try:
                await self.wait_for(lambda: self.counts.get(method, 0) >= count, float(query.get("timeout", "60")))
            except TimeoutError:
                return json_response({"ok": False, "counts": self.counts})
            return json_response({"ok": True, "counts": self.counts})
        if name == "reset":
            self.calls.clear()
            self.counts.clear()
            self.messages.clear()
            self.pending.clear()
            return json_response({"ok": True})
        return error_response(404, "Not Found")


async def _main(port: int, token: str) -> None:
    fake = await FakeTelegram(token, record=False).start(port)
    print(f"PORT {fake.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A fake Telegram Bot API server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=TOKEN)
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(arguments.port, arguments.token))
