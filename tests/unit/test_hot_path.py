"""The shortcuts of the per-message path (issue 13's performance) give what the general code gives:
a reply's buttons swapped without `dataclasses.replace`, step ids packed without a `Step`, and the
update counters written as prometheus-client's Counter and Histogram would write them."""

from __future__ import annotations

import dataclasses
import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from bot.metrics import LATENCY_BUCKETS, Metrics
from handlers import buttons as b
from handlers.engine import Handled
from handlers.messages import Button, Keyboard, Reply


def test_a_reply_with_other_buttons_keeps_everything_else() -> None:
    reply = Reply("Câu 3.", ((Button("v1.o.1", "Có"),),), keyboard=Keyboard.REQUEST_PHOTO, photo_id=4,
                  document_id=5, edit=True)
    buttons = ((Button("m.menu", "☰ Menu"),),)
    assert reply.with_buttons(buttons) == dataclasses.replace(reply, buttons=buttons)
    # Every field is set by name in the test reply: a field added later fails here until
    # with_buttons passes it on.
    assert {f.name for f in dataclasses.fields(Reply)} == {"text", "buttons", "keyboard", "photo_id",
                                                            "document_id", "edit"}


@pytest.mark.parametrize("version", [0, 1, 35, 36, 1295, 10**9])
def test_a_step_id_is_what_its_codec_packs(version: int) -> None:
    assert b.Step.id_of(version, "o.3") == b.Step(version, "o.3").pack() == f"{b.version_tag(version)}.o.3"
    assert b.Step.unpack(b.Step.id_of(version, b.step_action("e", "ngay"))) == (b.version_tag(version), "e.ngay")


def test_a_button_id_past_telegrams_limit_is_refused() -> None:
    with pytest.raises(b.CodecError):
        b.Step(1, "x" * 70).pack()
    with pytest.raises(b.CodecError):
        b.Step(1, "ô").pack()
    with pytest.raises(ValueError, match="short ASCII"):  # what Context.button makes of an id
        Button(b.Step.id_of(1, "x" * 70), "Có")
    with pytest.raises(b.CodecError):
        b.OpenForm("x" * 70).button("Mở")
    with pytest.raises(b.CodecError):
        b.OpenForm("x" * 70).pack()


def test_codecs_without_fields_pack_as_their_prefix() -> None:
    assert b.Menu().pack() == "m.menu" and b.More().pack() == "m.more"
    assert b.parse(b.Menu().pack()) == b.Menu()


def test_the_update_figures_read_as_prometheus_clients_counter_and_histogram() -> None:
    metrics = Metrics()
    registry = CollectorRegistry(auto_describe=False)
    counter = Counter("totruong_updates", "Updates from people handled, by channel and outcome "
                      "(handled, replay, failed) and, when failed, the fault",
                      ["channel", "outcome", "fault"], registry=registry)
    histogram = Histogram("totruong_reply_latency_seconds", "From an update reaching the core to its "
                          "replies being ready (the messenger's send excluded), by channel",
                          ["channel"], buckets=LATENCY_BUCKETS, registry=registry)
    chance = random.Random(13)
    for _ in range(300):
        channel = chance.choice(["sim", "telegram", "zalo"])
        handled = Handled([], failed=chance.choice(["", "", "error", "database_unavailable"]),
                          replay=chance.random() < 0.1)
        seconds = chance.choice([0.0, 0.005, 0.01, 1.0, 10.0, 25.0, chance.random() / 10])
        metrics.handled(channel, handled, seconds)
        outcome = "failed" if handled.failed else "replay" if handled.replay else "handled"
        counter.labels(channel, outcome, handled.failed).inc()
        histogram.labels(channel).observe(seconds)
    ours = [line for line in generate_latest(metrics.registry).decode().splitlines()
            if _name(line).startswith(("totruong_updates", "totruong_reply_latency"))]
    theirs = generate_latest(registry).decode().splitlines()
    samples = [line for line in theirs if not line.startswith("#")]
    assert len(samples) > 40
    assert sorted(_rounded(line) for line in ours) == sorted(_rounded(line) for line in theirs)


def _name(line: str) -> str:
    """The metric a line of the exposition is about ("# HELP name …", "name{labels} value")."""
    return line.split(" ")[2] if line.startswith("#") else line.split("{")[0].split(" ")[0]


def _rounded(line: str) -> str:
    """A sample line with its value rounded (sums may differ in the last bit by the order of adding)."""
    if line.startswith("#"):
        return line
    name, value = line.rsplit(" ", 1)
    return f"{name} {float(value):.9f}"
