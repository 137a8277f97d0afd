"""The Bot API client under LeanText (bot/channels/telegram/wire.py) against servers on loopback that
answer as HTTP servers may: kept-alive or closed connections, chunked answers, answers cut off or
late, too many calls at once, TLS."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.channels.telegram.lean import POOL_TIMEOUT, LeanText
from bot.channels.telegram.send import went_out
from bot.channels.telegram.transport import bot_request
from bot.channels.telegram.wire import Wire

TLS = Path(__file__).resolve().parent.parent / "fakes" / "tls"  # a self-signed certificate for 127.0.0.1
OK = b'{"ok":true,"result":{"message_id":%d}}'
Answer = Callable[[int, bytes], Awaitable[bytes | None]]  # request number, request -> raw answer (None: hang up)


def plain(number: int, extra: bytes = b"") -> bytes:
    body = OK % number
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s" % (
        extra, len(body), body)


class Server:
    """An HTTP/1.1 server on loopback whose answers `answer` writes, counting connections, requests,
    and how many requests it holds at once."""

    def __init__(self, answer: Answer | None = None, *, tls: ssl.SSLContext | None = None, delay: float = 0.0) -> None:
        self.answer = answer or self._plain
        self.tls = tls
        self.delay = delay
        self.connections = 0
        self.requests: list[bytes] = []
        self.inside = 0
        self.most = 0

    async def _plain(self, number: int, request: bytes) -> bytes:
        return plain(number)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                number = len(self.requests)
                self.inside += 1
                self.most = max(self.most, self.inside)
                try:
                    await asyncio.sleep(self.delay)
                    raw = await self.answer(number, request)
                finally:
                    self.inside -= 1
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                if b"Connection: close" in raw:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0, ssl=self.tls)
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/bot1:secret"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def wire(url: str, *, connections: int = 2, read: float = 2.0, pool: float = 2.0,
         tls: ssl.SSLContext | None = None) -> Wire:
    return Wire(url, connections=connections, timeout=httpx.Timeout(2.0, read=read, pool=pool), tls=tls)


async def test_one_connection_carries_call_after_call_with_the_head_and_body_as_telegram_reads_them() -> None:
    server = Server()
    async with server as url:
        client = wire(url)
        answers = [await client.post("/sendMessage", '{"chat_id":5,"text":"Chào"}'.encode(),
                                     "Content-Type: application/json\r\n") for _ in range(5)]
        client.close()
    assert [status for status, _body in answers] == [200] * 5
    assert [body for _status, body in answers] == [OK % n for n in range(1, 6)]
    assert server.connections == 1
    body = '{"chat_id":5,"text":"Chào"}'.encode()
    assert server.requests[0] == (b"POST /bot1:secret/sendMessage HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                  % (int(url.split(":")[2].split("/")[0]), len(body), body))


async def test_a_server_that_hangs_up_after_each_answer_without_saying_so_costs_no_call() -> None:
    class HangUp(Server):
        async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            self.requests.append(head + await reader.readexactly(length))
            writer.write(plain(len(self.requests)))  # no "Connection: close", and then closed
            await writer.drain()
            writer.close()

    server = HangUp()
    async with server as url:
        client = wire(url)
        for n in range(1, 4):
            assert await client.post("/sendMessage", b"{}", "") == (200, OK % n)
            await asyncio.sleep(0.05)  # the close reaches the client while the connection is idle
    assert server.connections == 3 and len(server.requests) == 3  # each call once, on a fresh connection


async def test_connection_close_and_http_1_0_answers_end_the_connection() -> None:
    async def closing(number: int, request: bytes) -> bytes:
        return plain(number, b"Connection: close\r\n") if number % 2 else plain(number).replace(
            b"HTTP/1.1", b"HTTP/1.0", 1)

    server = Server(closing)
    async with server as url:
        client = wire(url)
        for n in range(1, 5):
            assert await client.post("/sendMessage", b"{}", "") == (200, OK % n)
    assert server.connections == 4


async def test_a_chunked_answer_is_read_whole() -> None:
    async def chunked(number: int, request: bytes) -> bytes:
        body = OK % number
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:]))

    server = Server(chunked)
    async with server as url:
        client = wire(url)
        assert await client.post("/sendMessage", b"{}", "") == (200, OK % 1)
        assert await client.post("/sendMessage", b"{}", "") == (200, OK % 2)  # same connection, still in step
    assert server.connections == 1


@pytest.mark.parametrize("cut", [
    b"",  # hung up before answering
    b"HTTP/1.1 200 OK\r\nContent-Len",  # in the headers
    b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"ok\":tr",  # in the body
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ok\"\r\n",  # before the last chunk
])
async def test_an_answer_cut_off_is_a_call_that_may_have_arrived_never_a_short_success(cut: bytes) -> None:
    class Cutting(Server):
        async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            writer.write(cut)
            await writer.drain()
            writer.close()

    async with Cutting() as url:
        bot = Bot("1:secret", base_url=url.rsplit("/bot", 1)[0] + "/bot", request=bot_request(2, read_timeout=2.0))
        with pytest.raises(NetworkError) as failed:
            await LeanText(bot).send_message(5, "x")
    assert isinstance(failed.value.__cause__, httpx.RemoteProtocolError)
    assert went_out(failed.value)  # not sent again blindly
    await bot.request.shutdown()


async def test_a_late_answer_is_a_timeout_that_may_have_arrived_and_the_connection_is_dropped() -> None:
    async def late(number: int, request: bytes) -> bytes:
        if number == 1:
            await asyncio.sleep(1.0)
        return plain(number)

    server = Server(late)
    async with server as url:
        bot = Bot("1:secret", base_url=url.rsplit("/bot", 1)[0] + "/bot",
                  request=bot_request(2, read_timeout=0.2, write_timeout=0.2))
        lean = LeanText(bot)
        with pytest.raises(TimedOut) as late_answer:
            await lean.send_message(5, "một")
        assert isinstance(late_answer.value.__cause__, httpx.ReadTimeout) and went_out(late_answer.value)
        assert (await lean.send_message(5, "hai")).message_id == 2  # on a new connection
        await bot.request.shutdown()
    assert server.connections == 2


async def test_many_calls_at_once_go_a_few_at_a_time_and_a_call_that_waits_too_long_is_not_sent() -> None:
    server = Server(delay=0.02)
    async with server as url:
        client = wire(url, connections=3)
        answers = await asyncio.gather(*(client.post("/sendMessage", b"{}", "") for _ in range(40)))
        assert sorted(body for _status, body in answers) == sorted(OK % n for n in range(1, 41))
        assert server.most == 3 and server.connections == 3
        server.delay = 0.5
        bot = Bot("1:secret", base_url=url.rsplit("/bot", 1)[0] + "/bot",
                  request=bot_request(1, pool_timeout=0.1, read_timeout=5.0))
        lean = LeanText(bot, connections=1)
        first = asyncio.create_task(lean.send_message(5, "một"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimedOut) as waited:
            await lean.send_message(5, "hai")
        assert waited.value.message == POOL_TIMEOUT and not went_out(waited.value)  # PTB's words: not sent
        assert (await first).message_id == 41
        assert len(server.requests) == 41  # the second never went out
        await bot.request.shutdown()


async def test_nothing_listening_is_a_call_that_never_went_out() -> None:
    async with Server() as url:
        pass  # closed: nothing listens on that port any more
    bot = Bot("1:secret", base_url=url.rsplit("/bot", 1)[0] + "/bot", request=bot_request(2))
    with pytest.raises(NetworkError) as refused:
        await LeanText(bot).send_message(5, "x")
    assert isinstance(refused.value.__cause__, httpx.ConnectError) and not went_out(refused.value)
    await bot.request.shutdown()


async def test_https_checks_the_certificate_and_then_carries_the_calls() -> None:
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    server = Server(tls=served)
    async with server as url:
        trusting = ssl.create_default_context(cafile=str(TLS / "cert.pem"))
        client = wire(url, tls=trusting)
        assert await client.post("/sendMessage", b"{}", "") == (200, OK % 1)
        assert await client.post("/sendMessage", b"{}", "") == (200, OK % 2)
        with pytest.raises(httpx.ConnectError):  # certifi's authorities do not know this certificate
            await wire(url).post("/sendMessage", b"{}", "")
    assert len(server.requests) == 2 and server.connections == 1  # the refused one sent nothing


def test_the_same_client_serves_one_event_loop_after_another() -> None:
    async def once(url: str, client: Wire) -> tuple[int, bytes]:
        return await client.post("/getMe", b"{}", "")

    async def both() -> None:
        server = Server()
        async with server as url:
            client = wire(url)
            assert await once(url, client) == (200, OK % 1)
            await asyncio.to_thread(lambda: asyncio.run(once(url, client)))  # another loop, in a thread
            assert await once(url, client) == (200, OK % 3)

    asyncio.run(both())


def test_telegrams_own_address_is_read_as_telegram_expects_it() -> None:
    client = Wire("https://api.telegram.org/bot123:AAE-x_y", connections=8, timeout=httpx.Timeout(5.0))
    assert (client._host, client._port, client._host_header, client.base_path) == (
        "api.telegram.org", 443, "api.telegram.org", "/bot123:AAE-x_y")
    assert client._tls is not None and client._tls.verify_mode == ssl.CERT_REQUIRED and client._tls.check_hostname
    local = Wire("http://127.0.0.1:8081/bot1:x/", connections=1, timeout=httpx.Timeout(5.0))
    assert (local._host_header, local.base_path, local._tls) == ("127.0.0.1:8081", "/bot1:x", None)
    with pytest.raises(ValueError):
        Wire("ftp://api.telegram.org/bot1", connections=1, timeout=httpx.Timeout(5.0))


def test_on_uvloop_as_totruong_run_serves() -> None:
    """`totruong run` runs on uvloop, whose loop differs from asyncio's in what it takes."""
    uvloop = pytest.importorskip("uvloop")

    async def calls() -> None:
        served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        served.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
        for tls in (None, served):
            server = Server(tls=tls)
            async with server as url:
                client = wire(url, tls=ssl.create_default_context(cafile=str(TLS / "cert.pem")) if tls else None)
                assert await client.post("/sendMessage", b"{}", "") == (200, OK % 1)
                assert await client.post("/sendMessage", b"{}", "") == (200, OK % 2)
                client.close()
            assert server.connections == 1
        with pytest.raises(httpx.ConnectError):
            await wire(url).post("/sendMessage", b"{}", "")  # nothing listens there now

    uvloop.run(calls())
