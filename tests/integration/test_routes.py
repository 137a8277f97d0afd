"""The route table: every button codec has exactly one route, every route's roles are enforced (a
person without one of them is refused before anything runs), and over every combination of roles
the first screen has at most seven buttons, 🚨 alone first, and no two buttons share an icon."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from handlers import buttons as b
from handlers.routes import EVERYONE, ROUTES, TABLE
from models.repos import Repo
from tests.helpers import Chat

REFUSALS = ("Chức năng này không dành cho tài khoản của bạn.", "Chức năng này chỉ dành cho tổ trưởng, tổ phó.")
# A demo person for each role (demo-totruong has none until registering).
HOLDS = {"demo-totruong-2": {"leader"}, "demo-canbo": {"official"}, "demo-nguoidan": {"resident"},
         "demo-totruong": set()}


def test_every_codec_has_one_route() -> None:
    assert set(TABLE) == set(b.Code.codecs())
    assert len(ROUTES) == len(TABLE)


def sample(codec: type[b.Code]) -> b.Code:
    return codec(**{f.name: (1 if f.type in ("int", int) else "x") for f in dataclasses.fields(codec)})


@pytest.mark.parametrize("route", [r for r in ROUTES if r.roles not in (None, EVERYONE)],
                         ids=lambda r: r.codec.__name__)
async def test_a_person_without_the_role_is_refused(app, route) -> None:
    user = next(user for user, held in HOLDS.items() if not held & route.roles)
    chat = Chat(app, user)
    answer = await chat.press_id(sample(route.codec).pack())
    assert any(refusal in answer for refusal in REFUSALS), (route.codec.__name__, user, answer)


def icon(label: str) -> str:
    return label.split()[0]


async def person_with(app, roles: tuple[str, ...], index: int) -> Chat:
    chat = Chat(app, f"combo-{index}", name=f"Người {index}")
    await chat.send("/start")
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        who = await repo.find_who("sim", f"combo-{index}")
        group, ward = await repo.unit_by_code("HC-TT3"), await repo.unit_by_code("20242")
        for role in roles:
            unit = ward if role == "official" else group
            await repo.grant_role(person_id=who.person_id, unit_id=unit.id, role=role)
    return chat


async def test_menus_over_every_combination_of_roles(app) -> None:
    combos = [c for n in range(1, 5) for c in itertools.combinations(("leader", "deputy", "official", "resident"), n)]
    for index, roles in enumerate(combos):
        chat = await person_with(app, roles, index)
        await chat.send("/menu")
        first = chat.labels
        assert len(first) <= 7, (roles, first)
        if {"leader", "deputy"} & set(roles):
            assert [button.label for button in chat.replies[-1].buttons[0]] == ["🚨 Báo tin khẩn"]
        more: list[str] = []
        if chat.has("☰ Thêm…"):
            await chat.press("☰ Thêm…")
            more = [label for label in chat.labels if label != "☰ Menu"]
        everything = [label for label in first if label != "☰ Thêm…"] + more
        icons = [icon(label) for label in everything]
        assert len(icons) == len(set(icons)), (roles, everything)
        assert len(everything) == len(set(everything)), (roles, everything)
