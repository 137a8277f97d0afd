"""`/metrics` for Prometheus and the JSON logs (issue 15, item 5): what an operator's Prometheus
reads after people wrote to the bot through the simulator and Telegram, the outbox's rows after a
delivery Telegram refused (403: blocked, 400: failed), and that neither the figures nor the log
lines ever show a token, a chat id or what a person wrote."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import logs
from bot.channels.telegram.channel import TelegramChannel
from bot.web import create_web
from models.settings import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest_telegram import person, point_at, running
from tests.integration.test_campaigns import REMINDERS, SUNDAY, add_campaign, local, pause_config_campaigns
from tests.integration.test_outbox_telegram import queue_for_everyone, telegram_residents
from tests.integration.test_reports import leader_files_an_incident

TEXT = "Đèn đường kiệt 42 Lê Duẩn bị hỏng, gọi tôi 0905 123 456"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return point_at(settings, fake)


@pytest.fixture
async def telegram(app, fake: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    async with running(app) as channel:
        yield channel


def client(app) -> httpx.AsyncClient:
    app.metrics.database.cache_seconds = 0  # every scrape reads the database again
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_web(app)), base_url="http://bot.local")


async def scrape(web: httpx.AsyncClient, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of /metrics by name and labels."""
    answer = await web.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def test_metrics_count_the_updates_of_each_channel_and_their_latency(
        app, fake: FakeTelegram, telegram: TelegramChannel) -> None:
    async with client(app) as web:
        for text in ("/start", "/menu", "xin chào"):  # Chị Lan, a resident, on the simulator
            answer = await web.post("/api/send", json={"user": "demo-nguoidan", "text": text})
            assert answer.status_code == 200
        hung = person(fake, telegram, 5021, "Hùng")
        await hung.send("/start HUNG05")
        await hung.send("/menu")

        samples = await scrape(web)
    assert value(samples, "totruong_updates_total", channel="sim", outcome="handled", fault="") == 3
    assert value(samples, "totruong_updates_total", channel="telegram", outcome="handled", fault="") == 2
    assert value(samples, "totruong_reply_latency_seconds_count", channel="sim") == 3
    assert value(samples, "totruong_reply_latency_seconds_count", channel="telegram") == 2
    assert 0 < value(samples, "totruong_reply_latency_seconds_sum", channel="telegram") < 10
    assert value(samples, "totruong_reply_latency_seconds_bucket", channel="sim", le="+Inf") == 3
    # The process itself, and the database's figures read at the scrape.
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "totruong_database_figures_up") == 1
    assert value(samples, "totruong_escalations_total") == 0


async def test_a_failed_update_is_counted_with_its_fault(app) -> None:
    async def broken(_msg):
        raise RuntimeError("boom")

    async with client(app) as web:
        app.engine._handle = broken  # a bug in the core: the person gets the apology
        answer = await web.post("/api/send", json={"user": "demo-nguoidan", "text": "/menu"})
        assert answer.status_code == 200
        samples = await scrape(web)
    assert value(samples, "totruong_updates_total", channel="sim", outcome="failed", fault="error") == 1


async def test_outbox_gauges_after_a_delivery_telegram_refused(app, fake: FakeTelegram, telegram: TelegramChannel,
                                                               clock) -> None:
    blocked, refused, fine = await telegram_residents(app, 3, first=7100)
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=blocked)
    fake.fail("sendMessage", 400, "Bad Request: chat not found", chat_id=refused, times=2)
    await queue_for_everyone(app, [blocked, refused, fine], "Thông báo: họp tổ lúc 19:30 tối nay.")
    async with client(app) as web:
        clock.advance(seconds=42)  # nothing sent yet: the oldest due row waits
        waiting = await scrape(web)
        assert value(waiting, "totruong_outbox_messages", channel="telegram", kind="direct", status="pending") == 3
        assert value(waiting, "totruong_outbox_lag_seconds", channel="telegram") == pytest.approx(42, abs=1)

        await app.dispatcher.drain()
        after = await scrape(web)
    assert value(after, "totruong_outbox_messages", channel="telegram", kind="direct", status="blocked") == 1
    assert value(after, "totruong_outbox_messages", channel="telegram", kind="direct", status="failed") == 1
    assert value(after, "totruong_outbox_messages", channel="telegram", kind="direct", status="sent") == 1
    assert value(after, "totruong_outbox_messages", channel="telegram", kind="direct", status="pending") is None
    assert value(after, "totruong_outbox_lag_seconds", channel="telegram") == 0


async def test_campaign_occurrences_are_read_from_the_database(app, clock) -> None:
    # A Sunday clean-up whose Saturday reminder was missed while the bot was down (skipped) and
    # whose Sunday reminder went out 40 minutes late (sent): tests/integration/test_campaigns.py.
    await pause_config_campaigns(app)
    clock.current = local(2026, 12, 4, 12, 0)
    await add_campaign(app, clock, audience="residents", schedule=SUNDAY, reminders=REMINDERS)
    await app.run_campaigns()
    clock.current = local(2026, 12, 6, 7, 10)
    await app.run_campaigns()
    async with client(app) as web:
        samples = await scrape(web)
    assert value(samples, "totruong_campaign_occurrences_total", step="reminder", status="sent") == 1
    assert value(samples, "totruong_campaign_occurrences_total", step="reminder", status="skipped") == 1


async def test_an_escalation_is_counted_and_the_incident_shows_as_waiting(app, clock) -> None:
    await leader_files_an_incident(app)  # Ông Hùng reports a fire; the ward does not acknowledge it
    async with client(app) as web:
        before = await scrape(web)
        clock.advance(minutes=16)
        await app.escalate_incidents()  # it goes up to the city
        after = await scrape(web)
    assert value(before, "totruong_incidents_unacknowledged", level="0") == 1
    assert value(before, "totruong_escalations_total") == 0
    assert value(after, "totruong_escalations_total") == 1
    assert value(after, "totruong_incidents_unacknowledged", level="1") == 1
    assert value(after, "totruong_incidents_unacknowledged", level="0") is None


async def test_metrics_ask_for_the_token_when_one_is_set_even_without_the_simulator(app) -> None:
    app.settings.web.simulator = False
    app.settings.web.metrics_token = "m" * 24
    async with client(app) as web:
        assert (await web.get("/api/personas")).status_code == 404  # no simulator here
        refused = await web.get("/metrics")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert (await web.get("/metrics", headers={"Authorization": "Bearer wrong-token-of-24-chars"})).status_code \
            == 401
        samples = await scrape(web, Authorization="Bearer " + "m" * 24)
    assert value(samples, "totruong_database_figures_up") == 1


def test_a_short_metrics_token_is_refused() -> None:
    from pydantic import ValidationError

    from models.settings import WebSettings

    with pytest.raises(ValidationError, match="at least 16 characters"):
        WebSettings(metrics_token="short")


async def test_a_database_that_does_not_answer_leaves_its_figures_out(app, monkeypatch) -> None:
    import asyncio

    from bot import metrics

    async def stuck(*_args, **_kwargs):
        await asyncio.sleep(60)

    monkeypatch.setattr(metrics, "READ_TIMEOUT", 0.2)
    monkeypatch.setattr(metrics, "read", stuck)
    async with client(app) as web:
        samples = await scrape(web)
    assert value(samples, "totruong_database_figures_up") == 0
    assert not any(name.startswith("totruong_outbox") for name, _labels in samples)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The app's JSON logs (as `app.log_format = "json"` sets them up) into a buffer."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    logs.configure("json", secrets=[FakeTelegram().token], stream=stream)
    try:
        yield stream
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        logs.configure("text")


async def test_json_logs_carry_a_request_id_and_never_a_token_a_chat_id_or_a_text(
        app, fake: FakeTelegram, telegram: TelegramChannel, json_logs: io.StringIO) -> None:
    chat = 700123456  # a Telegram id as long as real ones
    lan = person(fake, telegram, chat, "Lan")
    await lan.send("/start")
    await lan.send(TEXT)
    # A line that would carry the token and the chat id in clear (a careless log call, an httpx URL).
    logging.getLogger("bot.test").warning("calling https://api.telegram.org/bot%s/sendMessage?chat_id=%s",
                                          fake.token, chat)
    async with client(app) as web:
        exposed = (await web.get("/metrics")).text

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    updates = [line for line in lines if line["logger"] == "totruong.updates"]
    assert len(updates) == 2
    assert all(u["channel"] == "telegram" and u["outcome"] == "handled" and u["latency_ms"] > 0 for u in updates)
    assert len({u["request_id"] for u in updates}) == 2  # one id per update
    careless = next(line for line in lines if line["logger"] == "bot.test")
    assert "[secret]" in careless["message"] and "chat_id=#" in careless["message"]
    everything = json_logs.getvalue() + exposed
    for private in (fake.token, fake.token.split(":")[1], str(chat), "Lê Duẩn", "0905 123 456", "Lan"):
        assert private not in everything, private


def test_the_scrubber_hides_tokens_numbers_and_sql_parameters() -> None:
    scrub = logs.Scrubber(["s3cret-simulator-key"], key=b"k" * 16)
    line = scrub("token 987654321:AAH-abcdefghijklmnopqrstuvwxyz012345 key s3cret-simulator-key "
                 "phone +84 905 123 456 zalo 1234567890123456789 outbox 4521\n"
                 "[SQL: INSERT INTO person (name) VALUES (?)]\n[parameters: ('Nguyễn Văn Hùng',)]\n"
                 "(Background on this error at: https://sqlalche.me/e/20/gkpj)")
    assert "AAH-" not in line and "[token]" in line and "s3cret" not in line
    assert "905" not in line and "1234567890123456789" not in line and "outbox 4521" in line
    assert "Nguyễn" not in line and "[parameters hidden]" in line and "INSERT INTO person" in line
    raw = scrub("""skipped update 5: {'message': {'text': 'Nhà tôi ở 12 Lê Lợi', 'from': {'first_name': "Lan's"}}}""")
    assert "Lê Lợi" not in raw and "Lan" not in raw and "'text': '[hidden]'" in raw
    assert "Tuấn" not in scrub('{"display_name": "Anh Tuấn \\"Cán bộ\\"", "id": 5}')
    assert scrub("chat 700123456") == scrub("chat 700123456")  # the same chat, the same pseudonym


async def test_a_request_id_reaches_every_line_of_its_update() -> None:
    import asyncio

    record: list[str] = []

    async def handle(channel: str) -> None:
        logs.begin(channel)
        await asyncio.sleep(0)
        record.append(logs.REQUEST_ID.get())
        await asyncio.sleep(0)
        record.append(logs.REQUEST_ID.get())

    await asyncio.gather(asyncio.create_task(handle("telegram")), asyncio.create_task(handle("zalo")))
    assert len(set(record)) == 2 and all(len(r) == 12 for r in record)
