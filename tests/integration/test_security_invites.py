"""Invites resist guessing (issue 12, item 4): wrong `/start CODE` attempts are limited per identity
and per network address and logged without the code; new codes are 8 characters; a leader sees and
revokes the group's codes; a resident group code expires unless renewed."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select

from bot.web import create_web
from models.codes import CODE_ALPHABET
from models.repos import Repo
from models.settings import SettingsError, load_settings
from models.tables import AuditLog, Identity, Invite, InviteAttempt, RoleAssignment
from tests.helpers import Chat

TOO_MANY = "Anh/chị đã nhập sai mã quá nhiều lần. Vui lòng thử lại sau 15 phút hoặc hỏi tổ trưởng mã mới."


async def roles_of(app, channel: str, user: str) -> list[str]:
    async with app.sessions() as session:
        found = (await session.scalars(
            select(RoleAssignment.role).join(Identity, Identity.person_id == RoleAssignment.person_id)
            .where(Identity.channel == channel, Identity.external_id == user))).all()
    return list(found)


async def test_five_wrong_codes_and_even_the_right_one_is_not_checked_until_the_window_passes(app, caplog) -> None:
    guesser = Chat(app, "khach-doan-ma", channel="telegram")
    caplog.set_level(logging.INFO)
    for guess in ("AAAA2222", "BBBB3333", "CCCC4444", "DDDD5555", "EEEE6666"):
        assert "không đúng" in await guesser.send(f"/start {guess}")
    assert await guesser.send("/start TT3DAN") == TOO_MANY  # the right code: refused unchecked
    assert await guesser.send("TT3DAN") == TOO_MANY  # typed without /start: the same
    assert await roles_of(app, "telegram", "khach-doan-ma") == []
    async with app.sessions() as session:
        attempts = (await session.scalars(select(InviteAttempt))).all()
    assert [(a.channel, a.external_id, a.address) for a in attempts] == [("telegram", "khach-doan-ma", "")] * 5
    # Logged as a warning, without the code in clear.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "invite code" in r.message]
    assert len(warnings) == 7 and "too many wrong codes" in warnings[-1]
    assert not any("AAAA2222" in line or "TT3DAN" in line for line in warnings)
    assert any("AA…#" in line for line in warnings)
    # Another person is not held up by this one.
    assert "Đăng ký thành công" in await Chat(app, "khach-khac", channel="telegram").send("/start TT3DAN")
    app.clock.advance(minutes=15)
    assert "Đăng ký thành công" in await guesser.send("/start TT3DAN")
    assert await roles_of(app, "telegram", "khach-doan-ma") == ["resident"]


async def test_twenty_wrong_codes_from_one_address_stop_the_next_person_from_it(app) -> None:
    transport = httpx.ASGITransport(app=create_web(app), client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test", timeout=30) as client:
        for n in range(20):  # four guesses each from five personas: each under their own limit
            answer = await client.post("/api/send", json={"user": f"khach-{n // 4}", "text": f"/start ZZZZ{n:04d}"})
            assert "không đúng" in answer.json()["messages"][-1]["text"]
        answer = await client.post("/api/send", json={"user": "khach-moi", "text": "/start TT3DAN"})
        assert answer.json()["messages"][-1]["text"] == TOO_MANY
    # The same code from another address still works.
    other = httpx.ASGITransport(app=create_web(app), client=("198.51.100.7", 50000))
    async with httpx.AsyncClient(transport=other, base_url="http://sim.test", timeout=30) as client:
        answer = await client.post("/api/send", json={"user": "khach-nha-ben", "text": "/start TT3DAN"})
        assert "Đăng ký thành công" in answer.json()["messages"][-1]["text"]


async def test_someone_registered_typing_code_like_text_is_counted_but_not_refused_loudly(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    for _n in range(6):
        answer = await resident.send("cam on to truong")
    assert TOO_MANY not in answer  # the sixth is simply text again, never the limiter's message


async def test_new_invite_codes_have_eight_characters_from_the_unambiguous_alphabet(app) -> None:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        unit = await repo.unit_by_code("HC-TT3")
        codes = [(await repo.create_invite(unit_id=unit.id, role="resident", max_uses=1, expires_at=None)).code
                 for _n in range(20)]
    assert all(len(code) == 8 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert not set("01OIL") & set(CODE_ALPHABET)


@pytest.mark.parametrize("key", ["INVITE_WRONG_PER_IDENTITY", "INVITE_WRONG_PER_ADDRESS", "INVITE_WRONG_MINUTES",
                                 "RESIDENT_CODE_DAYS"])
def test_the_invite_limits_are_validated(key: str) -> None:
    with pytest.raises(SettingsError, match=f"limits.{key.lower()}"):
        load_settings({f"TOTRUONG_LIMITS__{key}": "0"})


async def group_code(leader: Chat) -> str:
    answer = await leader.press_id("m.inv")
    assert "👥 Mã để người dân tham gia Tổ dân phố Xuân Hà 9:" in answer
    return answer.split(": ")[1].split()[0]


async def test_a_resident_group_code_expires_unless_the_leader_renews_it(app) -> None:
    leader = Chat(app, "demo-totruong-2")  # Xuân Hà 9 has no code yet: a new one is made
    code = await group_code(leader)
    assert len(code) == 8
    assert "Mã dùng được nhiều lần, đến hết ngày 20/02/2027." in leader.text  # 90 days from 22/11/2026
    assert leader.has("🔑 Mã mời của tổ")
    assert "Bạn là người dân của Tổ dân phố Xuân Hà 9" in await Chat(app, "dan-som").send(code)

    app.clock.advance(days=91)
    late = Chat(app, "dan-muon")
    answer = await late.send(f"/start {code}")
    assert f"Mã mời «{code}» của Tổ dân phố Xuân Hà 9 đã hết hạn từ ngày 20/02/2027. Hãy hỏi tổ trưởng" in answer
    answer = await leader.press("🔑 Mã mời của tổ")
    assert f"• {code} — người dân, dùng nhiều lần, đã hết hạn từ ngày 20/02/2027" in answer
    answer = await leader.press(f"🔄 Gia hạn {code}")
    assert f"Đã gia hạn mã «{code}»: dùng được đến hết ngày 22/05/2027." in answer  # 90 days from today
    assert "Bạn là người dân của Tổ dân phố Xuân Hà 9" in await late.send(f"/start {code}")


async def test_an_expired_group_code_is_replaced_when_the_leader_asks_for_the_code_again(app) -> None:
    leader = Chat(app, "demo-totruong-2")
    first = await group_code(leader)
    app.clock.advance(days=91)
    second = await group_code(leader)
    assert second != first


async def test_a_leader_revokes_a_code_after_confirming_and_who_joined_stays(app) -> None:
    leader = Chat(app, "demo-totruong-2")
    code = await group_code(leader)
    joined = Chat(app, "dan-da-vao")
    await joined.send(code)
    await leader.press("🔑 Mã mời của tổ")
    answer = await leader.press(f"🗑 Thu hồi {code}")
    assert answer.startswith(f"Thu hồi mã «{code}»? Sau đó không ai tham gia bằng mã này được nữa")
    assert leader.labels == ["🗑 Thu hồi mã", "Không"]  # a question: no other way on
    assert "Bạn là người dân" in await Chat(app, "dan-truoc").send(code)  # not revoked before confirming
    assert f"Đã thu hồi mã «{code}»" in await leader.press("🗑 Thu hồi mã")
    assert f"Mã mời «{code}» đã bị thu hồi." in await Chat(app, "dan-sau").send(f"/start {code}")
    assert await roles_of(app, "sim", "dan-da-vao") == ["resident"]  # who joined stays
    answer = await leader.press("🔑 Mã mời của tổ")
    assert code not in answer
    async with app.sessions() as session:
        actions = (await session.scalars(select(AuditLog.action).where(AuditLog.action == "invite_revoked"))).all()
    assert actions == ["invite_revoked"]
    assert await group_code(leader) != code  # asking for the code again makes a new one


async def test_a_leader_cannot_revoke_or_renew_another_groups_code(app) -> None:
    async with app.sessions() as session:
        demo = (await session.scalars(select(Invite).where(Invite.code == "TT3DAN"))).one()
    leader = Chat(app, "demo-totruong-2")  # Xuân Hà 9, not Thạch Thang 3
    for button in (f"m.icr.{demo.id}.1", f"m.icn.{demo.id}"):
        assert "Mã mời này không thuộc tổ của bạn." in await leader.press_id(button)
    assert "Đăng ký thành công" in await Chat(app, "khach-tt3").send("/start TT3DAN")
