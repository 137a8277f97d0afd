"""The authorization matrix (issue 12): every entry point, as every kind of person, with payloads
that point at another area's data. A refused press says why and changes nothing in the database;
an allowed one works.

Chat buttons are not listed by hand: the test iterates the route table (handlers/routes.py), so a
new route is checked the day it is added. It fails when a route states no role rule, and when one
of its codec's fields has no forged value below (add one: the test must know what a forged payload
of that field points at).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from bot.web import create_web
from handlers import buttons as b
from handlers.routes import EVERYONE, ROUTES, Route
from models.repos import Repo
from models.tables import Campaign, Feedback, Notice, Report
from models.units import import_units, parse_csv
from tests.helpers import Chat

# What a refusal may say: each names the reason, never a generic apology.
REFUSALS = (
    "Chức năng này",  # not for your account / only for leaders
    "không thuộc",  # «… không thuộc địa bàn / tổ của bạn»
    "Không tìm thấy",
    "Nút này không hợp lệ.",
    "không có quyền",
    "Bạn chưa đăng ký",
    "Bạn chỉ",  # «Bạn chỉ sửa được báo cáo do chính mình gửi.»
)
APOLOGY = "Xin lỗi, hệ thống đang gặp sự cố"
# Tables whose rows may change on any press: the person's conversation, the log of who saw what,
# what the simulator shows, the record of handled updates.
VOLATILE = {"conversation", "audit_log", "sim_message", "inbound_update", "pushed_buttons", "invite_attempt",
            "outbox_instance"}

# Fields of the codecs that point at data of an area: a forged payload names the other area's row.
OBJECTS = {"report", "feedback", "notice", "campaign", "unit", "person", "invite"}
# Fields that only choose among the person's own options: a plausible value.
CHOICES: dict[str, Any] = {"page": 0, "status": "resolved", "sure": 1, "period": "m", "toggle": "weekly",
                           "code": "en", "key": "an_ninh", "form": "ve_sinh_chu_nhat_xanh", "day": "20261129",
                           "duty": "on_duty", "grant": 1}
# The same field name meaning something else in one codec.
CHOICE_OF: dict[tuple[str, str], Any] = {("OpenForm", "key"): "an_ninh_vu_viec",
                                         ("NilReport", "key"): "an_ninh_vu_viec",
                                         ("SummaryDetails", "period"): "2026-11"}

# The people who press: each holds a role somewhere else than the area the forged payloads point at
# (Phường Sơn Trà, 20263, and its group Tổ dân phố Mân Thái 6, ST-MT6).
OUTSIDERS = {
    "demo-totruong": set(),  # not registered
    "demo-nguoidan": {"resident"},  # a resident of another group (Thạch Thang 3, Hải Châu)
    "demo-totruong-2": {"leader"},  # the leader of another group (Xuân Hà 9, Thanh Khê)
    "demo-canbo": {"official"},  # an official of another ward (Hải Châu)
}
# The people of the area itself, who may do what their role allows.
# (An official of the ward itself, and the city's, who assigns the ward's officials their duties.)
OWNERS = {"official": ("canbo-st", "demo-thanhpho"), "leader": ("totruong-st",), "deputy": ("totruong-st",),
          "resident": ("dan-st",)}


@dataclasses.dataclass
class Area:
    """The other area's rows the forged payloads point at."""

    ids: dict[str, int]


async def person(app: Any, user: str, unit_code: str, role: str, duties: str = "") -> int:
    chat = Chat(app, user, name=user)
    await chat.send("/start")
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        who = await repo.find_who("sim", user)
        unit = await repo.unit_by_code(unit_code)
        await repo.grant_role(person_id=who.person_id, unit_id=unit.id, role=role)
        if duties:
            from models.duties import set_duty
            for duty in duties.split(","):
                await set_duty(session, person_id=who.person_id, unit_id=unit.id, duty=duty, granted=True)
        return who.person_id


async def other_area(app: Any) -> Area:
    """Sơn Trà's official, a leader and a resident of Mân Thái 6, and one row of each kind there."""
    official = await person(app, "canbo-st", "20263", "official", "on_duty,social")
    leader = await person(app, "totruong-st", "ST-MT6", "leader")
    resident = await person(app, "dan-st", "ST-MT6", "resident")
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        ward, group = await repo.unit_by_code("20263"), await repo.unit_by_code("ST-MT6")
        report = Report(code="STREP1", form_key="an_ninh_vu_viec", task="an_ninh", unit_id=group.id,
                        unit_path=group.path, reporter_id=leader, data={"mo_ta": "Trộm xe máy"},
                        created_at=app.clock.now())
        urgent = Report(code="STKHAN", form_key="khan_cap", task="an_ninh", unit_id=group.id, unit_path=group.path,
                        reporter_id=leader, data={"loai": "chay_no"}, urgent=True, created_at=app.clock.now())
        feedback = Feedback(code="STFB01", resident_id=resident, unit_id=group.id, unit_path=group.path,
                            text="Cống trước nhà số 8 bị nghẹt")
        notice = Notice(code="STNT01", sender_id=official, unit_id=ward.id, unit_path=ward.path,
                        text="Họp dân tối thứ Sáu")
        campaign = Campaign(code="STCP01", name="Tổng vệ sinh kiệt hẻm", unit_id=ward.id, unit_path=ward.path,
                            schedule={"kind": "weekly", "weekday": 6, "time": "07:00"}, created_by=official)
        for row in (report, urgent, feedback, notice, campaign):
            session.add(row)
        await session.flush()
        invite = await repo.create_invite(unit_id=group.id, role="resident", max_uses=0, expires_at=None)
        ids = {"report": report.id, "urgent": urgent.id, "feedback": feedback.id, "notice": notice.id,
               "campaign": campaign.id, "unit": ward.id, "group": group.id, "person": official,
               "invite": invite.id}
    return Area(ids)


def forged(codec: type[b.Code], area: Area) -> b.Code:
    """The codec with every field pointing at the other area (or a plausible choice)."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(codec):
        name = item.name
        if name in OBJECTS:
            values[name] = area.ids["urgent"] if codec is b.Acknowledge else area.ids[name]
        elif (codec.__name__, name) in CHOICE_OF:
            values[name] = CHOICE_OF[(codec.__name__, name)]
        elif name in CHOICES:
            values[name] = CHOICES[name]
        else:
            raise AssertionError(f"no forged value for {codec.__name__}.{name}: add it to OBJECTS or CHOICES")
    return codec(**values)


def points_at_data(codec: type[b.Code]) -> bool:
    return any(item.name in OBJECTS for item in dataclasses.fields(codec))


async def snapshot(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that a press must not change when it is refused."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with app.sessions() as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in VOLATILE:
                continue
            found = (await session.execute(select(table))).all()
            rows[table.name] = sorted(tuple(map(repr, row)) for row in found)
    return rows


def changed(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def test_every_route_states_who_may_use_it() -> None:
    unstated = [route.codec.__name__ for route in ROUTES if route.roles is None]
    assert not unstated, f"routes without a role rule (say roles=...; EVERYONE for anyone): {unstated}"


def _refused(answer: str) -> bool:
    return any(refusal in answer for refusal in REFUSALS)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.codec.__name__)
async def test_a_forged_button_from_another_area_is_refused_and_changes_nothing(app, route: Route) -> None:
    area = await other_area(app)
    code = forged(route.codec, area).pack()
    for user, held in OUTSIDERS.items():
        chat = Chat(app, user)
        await chat.send("/menu")  # at idle: a press is not held up by a form's question
        before = await snapshot(app)
        answer = await chat.press_id(code)
        assert APOLOGY not in answer, (route.codec.__name__, user, answer)
        may = route.roles is EVERYONE or bool(held & (route.roles or set()))
        if may and not points_at_data(route.codec):
            continue  # the person's own menus and settings: allowed (checked below for owners)
        if route.roles is EVERYONE:
            continue
        assert _refused(answer), (route.codec.__name__, user, answer)
        assert changed(before, await snapshot(app)) == [], (route.codec.__name__, user, answer)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.roles not in (None, EVERYONE) and points_at_data(r.codec)],
                         ids=lambda route: route.codec.__name__)
async def test_the_areas_own_people_may_use_the_same_button(app, route: Route) -> None:
    area = await other_area(app)
    code = forged(route.codec, area).pack()
    owners = {user for role in route.roles or () for user in OWNERS.get(role, ())}
    assert owners, route.codec.__name__
    allowed = []
    for user in sorted(owners):
        chat = Chat(app, user)
        await chat.send("/menu")
        answer = await chat.press_id(code)
        assert APOLOGY not in answer, (route.codec.__name__, user, answer)
        allowed.append(not _refused(answer))
    assert any(allowed), (route.codec.__name__, owners, answer)


# --- After a unit move: scope follows the group. ---

MOVED = "code,name,level,parent_code,households\nST-MT6,Tổ dân phố Mân Thái 6,group,20209,176\n"


def moves_with_the_group(route: Route) -> bool:
    """Official routes pointing at the group's own rows (reports, feedback, the group as a unit)."""
    fields = {item.name for item in dataclasses.fields(route.codec)}
    return "official" in (route.roles or ()) and bool(fields & {"report", "feedback", "unit"}) \
        and not fields & {"notice", "campaign", "person"}


@pytest.mark.parametrize("route", [r for r in ROUTES if moves_with_the_group(r)],
                         ids=lambda route: route.codec.__name__)
async def test_after_a_unit_move_the_old_wards_official_is_refused_and_the_new_wards_allowed(app, route) -> None:
    area = await other_area(app)
    await person(app, "canbo-tk", "20209", "official", "on_duty,social")
    async with app.sessions() as session, session.begin():
        await import_units(session, parse_csv(MOVED), levels=app.settings.units.levels)
    area.ids["unit"] = area.ids["group"]  # the group itself now lies under Thanh Khê
    code = forged(route.codec, area).pack()
    old = Chat(app, "canbo-st")
    await old.send("/menu")
    before = await snapshot(app)
    answer = await old.press_id(code)
    assert _refused(answer), (route.codec.__name__, answer)
    assert changed(before, await snapshot(app)) == [], route.codec.__name__
    new = Chat(app, "canbo-tk")
    await new.send("/menu")
    answer = await new.press_id(code)
    assert APOLOGY not in answer and not _refused(answer), (route.codec.__name__, answer)


# --- The simulator's API and its file URLs. ---

SECRET = "s3cret-for-the-training-room"


def public_simulator(app: Any) -> tuple[Any, httpx.AsyncClient]:
    app.settings.web.host = "0.0.0.0"
    app.settings.web.simulator_public = True
    app.settings.web.simulator_secret = SECRET
    web = create_web(app)
    transport = httpx.ASGITransport(app=web, raise_app_exceptions=False)
    return web, httpx.AsyncClient(transport=transport, base_url="http://sim.example.vn", timeout=30)


async def test_every_simulator_route_needs_the_secret_and_changes_nothing_without_it(app) -> None:
    from bot.gate import is_simulator_path

    web, client = public_simulator(app)
    routes = [(method, route.path) for route in web.routes if is_simulator_path(getattr(route, "path", ""))
              for method in sorted(getattr(route, "methods", None) or {"GET"})]
    assert ("POST", "/api/send") in routes and ("GET", "/api/files/{attachment_id}") in routes
    before = await snapshot(app)
    async with client:
        for method, path in routes:
            url = path.replace("{attachment_id}", "1")
            body = {"user": "demo-canbo", "text": "/menu"} if method == "POST" else None
            answer = await client.request(method, url, json=body)
            assert answer.status_code == 401, (method, path, answer.status_code)
    assert changed(before, await snapshot(app)) == []


async def test_a_file_of_another_area_is_not_served_to_anyone_else(app) -> None:
    from tests import images

    _web, client = public_simulator(app)
    async with client:
        client.headers["X-Simulator-Secret"] = SECRET
        await client.post("/api/send", json={"user": "demo-nguoidan", "text": "/menu"})
        async with app.sessions() as session, session.begin():
            photo_id = await app.files.save(Repo(session), content=images.jpeg(), mime="image/jpeg",
                                            uploader=(await Repo(session).find_who("sim", "demo-nguoidan")).person_id)
        assert (await client.get(f"/api/files/{photo_id}", params={"user": "demo-nguoidan"})).status_code == 200
        for user in [*OUTSIDERS, "demo-thanhpho", "canbo-st", "khach-la"]:
            if user == "demo-nguoidan":
                continue
            answer = await client.get(f"/api/files/{photo_id}", params={"user": user})
            assert answer.status_code == 404, user


# --- The messengers' webhooks and the Zalo file links. ---

HOOK_SECRET = "s3cret_token-for-the-webhook"


async def test_a_webhook_with_a_wrong_secret_changes_nothing_and_a_forged_press_through_it_is_refused(
        settings, clock) -> None:
    from bot.bootstrap import build, load_demo, prepare_database
    from tests.fakes.telegram_api import FakeTelegram
    from tests.integration.conftest_telegram import point_at, running

    fake = await FakeTelegram().start()
    point_at(settings, fake, mode="webhook", webhook_url="https://totruong.example.org/hooks/telegram",
             webhook_secret=HOOK_SECRET)
    application = build(settings, clock=clock)
    try:
        await prepare_database(application)
        await load_demo(application)
        area = await other_area(application)
        async with running(application) as telegram:
            transport = httpx.ASGITransport(app=create_web(application))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                stranger = fake.user(7001, "Người lạ")
                message = {"message_id": 1, "chat": {"id": 7001, "type": "private"}, "date": 0, "text": "…"}
                fake.press(stranger, message, b.Acknowledge(area.ids["urgent"]).pack())
                update = fake.pending.pop()
                before = await snapshot(application)
                for secret in (None, "", "wrong", HOOK_SECRET[:-1]):
                    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
                    answer = await client.post("/hooks/telegram", json=update, headers=headers)
                    assert answer.status_code == 403, secret
                await telegram.application.update_queue.join()
                assert changed(before, await snapshot(application)) == []
                assert not fake.calls_of("sendMessage")
                # With the right secret the press reaches the engine, which refuses it: nothing changes.
                answer = await client.post("/hooks/telegram", json=update,
                                           headers={"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET})
                assert answer.status_code == 200
                await telegram.application.update_queue.join()
                after = await snapshot(application)
                assert set(changed(before, after)) <= {"person", "identity"}  # the stranger's first message
                async with application.sessions() as session:
                    report = await session.get(Report, area.ids["urgent"])
                assert report is not None and report.status == "sent"
    finally:
        await application.stop()
        await fake.stop()


# --- The command line. ---

async def test_the_role_command_refuses_a_person_who_is_not_an_official_of_the_unit(app, settings) -> None:
    import asyncio

    from tests.integration.test_security_demo import role

    area = await other_area(app)
    before = await snapshot(app)
    for unit, who in (("20263", "Chị Lê Thị Lan"), ("20263", "Anh Phạm Minh Tuấn"), ("ST-MT6", "totruong-st")):
        answer = await asyncio.to_thread(role, settings, "grant", "--unit", unit, "--person", who, "--duty", "on_duty")
        assert answer.exit_code == 1, (unit, who, answer.output)
    assert changed(before, await snapshot(app)) == []
    granted = await asyncio.to_thread(role, settings, "grant", "--unit", "20263", "--person", str(area.ids["person"]),
                                      "--duty", "on_duty")
    assert granted.exit_code == 0, granted.output
