"""Button codecs: ids pack and unpack to the same typed values, old ids still parse, and nothing
longer than Telegram's 64 bytes or outside ASCII is ever packed."""

from __future__ import annotations

import dataclasses

import pytest

from handlers import buttons as b


def sample(codec: type[b.Code]) -> b.Code:
    values = {f.name: (7 if f.type in ("int", int) else "x_1") for f in dataclasses.fields(codec)}
    return codec(**values)


@pytest.mark.parametrize("codec", b.Code.codecs(), ids=lambda codec: codec.__name__)
def test_every_codec_round_trips(codec: type[b.Code]) -> None:
    code = sample(codec)
    assert b.parse(code.pack()) == code
    assert codec.unpack(code.pack()) == code


def test_the_ids_people_still_have_in_their_chats_parse() -> None:
    assert b.parse("m.rv.12") == b.ViewReport(12)
    assert b.parse("m.st.5.resolved") == b.SetStatus(5, "resolved")
    assert b.parse("m.my") == b.MyReports(0) and b.parse("m.oi.2") == b.OpenIncidents(2)
    assert b.parse("m.sum.c.3.0") == b.SummaryUnits(3, 0) and b.parse("m.sum") == b.SummaryStart()
    assert b.parse("m.sum.p.3.pm") == b.SummaryShow(3, "pm")
    assert b.parse("m.fu.ve_sinh_chu_nhat_xanh.20261122") == b.FollowUp("ve_sinh_chu_nhat_xanh", "20261122")
    assert b.parse("m.lang.en") == b.Language("en") and b.parse("m.lang") == b.Language()
    assert b.parse("m.dg.weekly") == b.Digests("weekly")


@pytest.mark.parametrize("forged", ["m.rv", "m.rv.x", "m.rv.1.2", "m.zzz", "m.", "v1.send", "", "m.st.1",
                                    "m.rv.99999999999999999"])
def test_forged_or_garbled_ids_do_not_parse(forged: str) -> None:
    assert b.parse(forged) is None


def test_ids_are_checked_for_telegrams_limit() -> None:
    with pytest.raises(b.CodecError):
        b.OpenForm("x" * 70).pack()
    with pytest.raises(b.CodecError):
        b.OpenForm("dấu").pack()
    with pytest.raises(b.CodecError):
        b.SetStatus(1, "a.b").pack()  # a field may not hold the separator


def test_step_buttons_carry_the_version() -> None:
    packed = b.Step(46, b.step_action("o", "tot")).pack()
    assert packed == "v1a.o.tot"
    assert b.Step.unpack(packed) == ("v1a", "o.tot")
    assert b.action_args("o.tot", "o") == "tot" and b.action_args("send", "o") is None
    assert b.Step.unpack("m.rv.1") is None
