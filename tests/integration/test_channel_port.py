"""The channels' port (bot/channels/port.py) as the adapters see it: the numbers of buttons pushed
to a Zalo chat live in the database, and a blocked chat is recorded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.bootstrap import build
from bot.channels.zalo import ZaloChannel
from handlers.messages import Button, Reply, rows
from models.tables import Identity
from tests.fakes.zalo_api import FakeZaloApi
from tests.integration.test_zalo import ZaloUser, eventually, fake, running, zalo_settings

__all__ = ["fake"]
HUNG = "6ede9afa66b88fe6d6a9"
NOTICE = Reply("📢 Thông báo của phường: tối thứ sáu họp tổ dân phố tại nhà văn hóa.",
               rows([Button("m.help", "❓ Hướng dẫn")]))


async def person_of(app: Any, user_id: str) -> int:
    async with app.sessions() as session:
        person_id = await session.scalar(select(Identity.person_id).where(Identity.external_id == user_id))
    assert person_id is not None
    return int(person_id)


async def test_a_pushed_buttons_number_works_after_a_restart(database_url: str, tmp_path: Path,
                                                            fake: FakeZaloApi, clock: Any) -> None:
    settings = zalo_settings(database_url, tmp_path, fake)
    async with running(settings, clock) as app:
        hung = ZaloUser(app, fake, HUNG, "Ông Hùng")
        menu = await hung.say("/start HUNG05")
        assert "1. ❓ Hướng dẫn" not in menu  # in the menu "1" is something else
        # The ward's notice goes out through the outbox, with its own numbered list.
        await app.deliver_to_person(await person_of(app, HUNG), [NOTICE])
        await eventually(lambda: "1. ❓ Hướng dẫn" in fake.texts_to(HUNG)[-1])
    fake.delivered = 0  # counted again for the new process
    async with running(settings, clock) as app:  # a new process: nothing in memory
        hung = ZaloUser(app, fake, HUNG, "Ông Hùng")
        assert "Hướng dẫn sử dụng" in await hung.say("1")  # the notice's 1, not the menu's
        assert "Hướng dẫn sử dụng" not in await hung.say("1")  # counted once: "1" is the reply's own list now


async def test_two_instances_share_the_numbers_of_pushed_buttons(database_url: str, tmp_path: Path,
                                                                 fake: FakeZaloApi, clock: Any) -> None:
    settings = zalo_settings(database_url, tmp_path, fake)
    async with running(settings, clock) as app:
        hung = ZaloUser(app, fake, HUNG, "Ông Hùng")
        await hung.say("/start HUNG05")
        other = build(settings, clock=clock)  # a second instance on the same database, not receiving
        channel = other.channels["zalo"]
        assert isinstance(channel, ZaloChannel)
        try:
            await channel.send(HUNG, [NOTICE])
        finally:
            await channel.client.aclose()
            await other.db_engine.dispose()
        assert "1. ❓ Hướng dẫn" in fake.texts_to(HUNG)[-1]
        # Hùng's answer reaches the first instance, which knows what the second one pushed.
        assert "Hướng dẫn sử dụng" in await hung.say("1")


async def test_a_blocked_chat_is_recorded_once(app: Any) -> None:
    async with app.sessions() as session, session.begin():
        person = (await session.scalars(select(Identity).where(Identity.external_id == "demo-nguoidan"))).one()
        person.chat_id = "demo-nguoidan"
    assert await app.host.set_blocked("sim", "demo-nguoidan", True) == 1
    assert await app.host.set_blocked("sim", "demo-nguoidan", True) == 0  # a second 403 writes nothing
    assert await app.host.set_blocked("sim", "demo-nguoidan", False) == 1  # they wrote again
    async with app.sessions() as session:
        resident = (await session.scalars(select(Identity).where(Identity.external_id == "demo-nguoidan"))).one()
    assert not resident.blocked
