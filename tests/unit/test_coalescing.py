"""The Telegram adapter's httpx connections send a request's head and body in one write, the same
bytes in the same order, before the answer is read (bot/channels/telegram/transport.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpcore
import httpx
import pytest

from bot.channels.telegram.transport import CoalescingBackend, _CoalescingStream, bot_request, coalescing_transport


class Recording(httpcore.AsyncNetworkStream):
    def __init__(self, fail: bool = False) -> None:
        self.writes: list[bytes] = []
        self.reads = 0
        self.fail = fail

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if self.fail:
            raise httpcore.WriteError("connection reset")
        self.writes.append(buffer)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        self.reads += 1
        return b"HTTP/1.1 200 OK\r\n"

    async def aclose(self) -> None:
        pass

    def get_extra_info(self, info: str) -> Any:
        return f"extra {info}"


async def test_head_and_body_go_out_in_one_write_before_the_answer_is_read() -> None:
    inner = Recording()
    stream = _CoalescingStream(inner)
    await stream.write(b"POST /bot1/sendMessage HTTP/1.1\r\nContent-Length: 2\r\n\r\n")
    await stream.write(b"")
    await stream.write(b"{}")
    assert inner.writes == []
    assert await stream.read(65536) == b"HTTP/1.1 200 OK\r\n"
    assert inner.writes == [b"POST /bot1/sendMessage HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"]
    await stream.read(65536)
    assert len(inner.writes) == 1 and inner.reads == 2  # nothing written twice
    assert stream.get_extra_info("is_readable") == "extra is_readable"


async def test_a_big_upload_is_written_as_it_comes() -> None:
    inner = Recording()
    stream = _CoalescingStream(inner)
    await stream.write(b"x" * (_CoalescingStream.FLUSH_AT + 1))
    assert len(inner.writes) == 1


async def test_a_failed_write_raises_httpcores_write_error_when_the_answer_is_awaited() -> None:
    stream = _CoalescingStream(Recording(fail=True))
    await stream.write(b"POST / HTTP/1.1\r\n\r\n")
    with pytest.raises(httpcore.WriteError):
        await stream.read(65536)


async def test_the_bots_requests_reach_a_server_through_the_coalescing_backend() -> None:
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        received.append(head + await reader.readexactly(length))
        body = b'{"ok":true,"result":true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = coalescing_transport(4)
    assert isinstance(transport._pool._network_backend, CoalescingBackend)
    async with httpx.AsyncClient(transport=transport) as client:
        answer = await client.post(f"http://127.0.0.1:{port}/bot1:x/sendMessage", json={"chat_id": 5, "text": "Chào"})
    assert answer.json() == {"ok": True, "result": True}
    assert received[0].startswith(b"POST /bot1:x/sendMessage HTTP/1.1\r\n") and b'"chat_id":5' in received[0]
    server.close()
    await server.wait_closed()
    request = bot_request(4, read_timeout=5.0)
    assert isinstance(request._client._transport._pool._network_backend, CoalescingBackend)  # type: ignore[attr-defined]
