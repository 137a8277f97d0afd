"""The Bot API's small JSON calls over keep-alive HTTP/1.1 connections of asyncio's own streams.

At 200 people answered at once on webhooks, httpx and httpcore were two fifths of the app's CPU,
most of it work per request that a bot's calls do not need: the pool goes over every connection
and polls each idle socket whenever a request comes or goes, and each answer passes through
several layers of stream objects (docs/benchmarks.md, "webhook"). `Wire` keeps what those calls
use: one origin, at most `connections` connections (the rest wait their turn within the pool
timeout), the head and body in one write, an answer read by Content-Length or chunks, and the
connection kept for the next call unless the server said otherwise.

Its failures are httpx's own exceptions, chosen as httpx would raise them, so `LeanText` maps
them to python-telegram-bot's errors as before and send.py still knows a request that was never
written (ConnectError, ConnectTimeout, PoolTimeout: safe to send again) from one that may have
arrived (a write or read failure, a read timeout: not sent again blindly).

A connection the server closed while it was idle is seen without a system call: asyncio reads the
end of the stream as soon as it comes, and such a connection is dropped before use. One closed at
the very moment a request goes out fails as "may have arrived", as it does with httpx.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field

import httpx

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed rather than used (httpx's default)
MAX_HEAD = 64 * 1024  # an answer's status line and headers, at most


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self, now: float) -> bool:
        """Open, not closed by the server meanwhile, and not idle for too long."""
        return (not self.writer.is_closing() and not self.reader.at_eof() and self.reader.exception() is None
                and now - self.idle_since < KEEPALIVE_SECONDS)

    def close(self) -> None:
        self.writer.close()


def default_tls() -> ssl.SSLContext:
    """Certificates checked against certifi's authorities, as httpx checks them."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class Wire:
    """POSTs to one origin (`base_url`'s scheme, host and port) over at most `connections`
    connections, within `timeout` (httpx's: connect, write, read, pool)."""

    def __init__(self, base_url: str, *, connections: int, timeout: httpx.Timeout,
                 tls: ssl.SSLContext | None = None) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_path = url.raw_path.decode("ascii").rstrip("/")
        self._host = url.host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = (tls or default_tls()) if url.scheme == "https" else None
        default_port = self._port == (443 if url.scheme == "https" else 80)
        authority = f"[{url.host}]" if ":" in url.host else url.host
        self._host_header = authority if default_port else f"{authority}:{self._port}"
        self._timeout = timeout
        self._connections = connections
        self._idle: list[_Connection] = []  # the most recently used last: it is taken first
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate = asyncio.Semaphore(connections)

    def _bind(self) -> None:
        """Connections and the gate belong to one event loop; another loop (a restart in the same
        process, a test) starts afresh rather than touch the old loop's sockets."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._idle = []
            self._gate = asyncio.Semaphore(self._connections)

    async def post(self, path: str, content: bytes, headers: str) -> tuple[int, bytes]:
        """One POST of `content` to `path` (under the base URL's path) with the extra header lines
        `headers` ("Name: value\r\n" each); the answer's status and body."""
        self._bind()
        gate = self._gate
        if gate.locked():  # every connection busy: wait for one within the pool timeout
            try:
                async with asyncio.timeout(self._timeout.pool):
                    await gate.acquire()
            except TimeoutError as error:
                raise self._error(httpx.PoolTimeout, "no connection came free within the pool timeout", path) from error
        else:
            await gate.acquire()
        try:
            connection = await self._connection(path)
            try:
                status, body, keep = await self._exchange(connection, path, content, headers)
            except BaseException:  # failed, timed out or cancelled: the connection is in no known state
                connection.close()
                raise
            log.debug("Bot API POST %s: %d", path, status)  # the path after the base, without the token
            if keep:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return status, body
        finally:
            gate.release()

    async def _exchange(self, connection: _Connection, path: str, content: bytes,
                        headers: str) -> tuple[int, bytes, bool]:
        """Writes the request (head and body in one write) and reads its answer, within the timeouts."""
        head = (f"POST {self.base_path}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n{headers}"
                f"Content-Length: {len(content)}\r\n\r\n").encode("latin-1")
        writer = connection.writer
        try:
            writer.write(head + content)
            if writer.transport.get_write_buffer_size():  # not all taken by the socket at once
                async with asyncio.timeout(self._timeout.write):
                    await writer.drain()
        except TimeoutError as error:
            raise self._error(httpx.WriteTimeout, "writing timed out", path) from error
        except OSError as error:
            raise self._error(httpx.WriteError, str(error) or type(error).__name__, path) from error
        try:
            async with asyncio.timeout(self._timeout.read):
                return await self._answer(connection.reader, path)
        except TimeoutError as error:
            raise self._error(httpx.ReadTimeout, "reading the answer timed out", path) from error

    def _error(self, kind: type[httpx.TransportError], message: str, path: str) -> httpx.TransportError:
        """httpx's exception of that kind, with the request it was about (built only on failure; its
        URL without the base path, which holds the bot's token)."""
        return kind(message, request=httpx.Request("POST", f"http://{self._host_header}{path}"))

    def close(self) -> None:
        """Closes the idle connections (one in use is closed or kept when its call ends)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _connection(self, path: str) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        try:
            async with asyncio.timeout(self._timeout.connect):
                # No happy_eyeballs_delay: uvloop's loop (`totruong run`'s) takes no such argument
                # (a TypeError on every connect: the crash tests lost every reply). Addresses are
                # tried in turn, each within the connect timeout.
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._tls, server_hostname=self._host if self._tls else None,
                    limit=MAX_HEAD)
        except TimeoutError as error:
            raise self._error(httpx.ConnectTimeout, "connecting timed out", path) from error
        except ssl.SSLError as error:
            raise self._error(httpx.ConnectError, str(error) or type(error).__name__, path) from error
        except OSError as error:  # in httpx's (anyio's) words, the reason kept as the cause
            raise self._error(httpx.ConnectError, "All connection attempts failed", path) from error
        return _Connection(reader, writer)

    async def _answer(self, reader: asyncio.StreamReader, path: str) -> tuple[int, bytes, bool]:
        """The status, the body, and whether the connection may carry another request."""
        try:
            line = await reader.readline()
            if not line:
                raise self._error(httpx.RemoteProtocolError, "Server disconnected without sending a response.", path)
            version, _sep, rest = line.partition(b" ")
            try:
                status = int(rest[:3])
            except ValueError as error:
                raise self._error(httpx.RemoteProtocolError, f"not an HTTP status line: {line[:80]!r}", path) from error
            length: int | None = None
            chunked = False
            keep = version == b"HTTP/1.1"
            while (line := await reader.readline()) not in (b"\r\n", b"\n"):
                if not line:
                    raise self._error(httpx.RemoteProtocolError, "Server disconnected in the answer's headers.", path)
                name, _sep, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    keep = b"close" not in value.lower() and (keep or b"keep-alive" in value.lower())
            if chunked:
                parts = []
                while True:
                    size_line = await reader.readline()
                    if not size_line.endswith(b"\n"):  # the stream ended before the last chunk
                        raise asyncio.IncompleteReadError(size_line, None)
                    if (size := int(size_line.split(b";")[0].strip(), 16)) == 0:
                        break
                    parts.append(await reader.readexactly(size))
                    await reader.readexactly(2)
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                body = b"".join(parts)
            elif length is not None:
                body = await reader.readexactly(length)
            elif status in (204, 304) or 100 <= status < 200:
                body = b""
            else:  # neither length nor chunks: the body runs to the end of the stream
                body, keep = await reader.read(), False
        except asyncio.IncompleteReadError as error:
            raise self._error(httpx.RemoteProtocolError, "Server disconnected in the middle of the answer.",
                              path) from error
        except (ValueError, asyncio.LimitOverrunError) as error:
            raise self._error(httpx.RemoteProtocolError, f"unreadable answer: {error}", path) from error
        except OSError as error:
            raise self._error(httpx.ReadError, str(error) or type(error).__name__, path) from error
        return status, body, keep
