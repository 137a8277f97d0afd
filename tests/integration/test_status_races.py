"""One status change wins: two officials pressing at once on the same incident, resolve against
return, two leaders closing (or closing and passing on) the same feedback, and escalation against
an acknowledgement. The loser is told who did what and when; nothing is recorded or sent twice.

On both engines the race is made certain by holding the first official's request just after it
read the report (a stale read) while the second official's request runs to the end; on
PostgreSQL twenty incidents are also acknowledged by two officials really at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.repo_reports import ReportQueries
from models.repos import Repo
from models.tables import Feedback, Report, ReportEvent
from tests.helpers import Chat
from tests.integration.test_reports import PNG, URGENT, button, inbox, leader_files_an_incident

FEEDBACK = "«Rác tồn đọng đầu kiệt 42 ba ngày nay.»"  # the feedback named by its first words

TUAN, HA = "Anh Phạm Minh Tuấn", "Chị Đặng Thu Hà"  # two officials of Phường Hải Châu


class Gate:
    """Holds the next call of a query method after it has read, until the test lets it go."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: type, name: str,
                 when: Callable[..., bool] = lambda *args: True) -> None:
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.armed = False
        original = getattr(cls, name)
        gate = self

        async def held(repo: Any, *args: Any, **kwargs: Any) -> Any:
            found = await original(repo, *args, **kwargs)
            if gate.armed and when(*args):
                gate.armed = False
                gate.reached.set()
                await gate.release.wait()
            return found

        monkeypatch.setattr(cls, name, held)

    async def interleave(self, first: Awaitable[Any], second: Awaitable[Any]) -> tuple[Any, Any]:
        """Runs `first` until its read, then all of `second`, then the rest of `first`."""
        self.armed = True
        task = asyncio.ensure_future(first)
        await asyncio.wait_for(self.reached.wait(), 10)
        try:
            second_result = await asyncio.wait_for(second, 30)
        finally:
            self.release.set()
        return await asyncio.wait_for(task, 30), second_result


async def report_and_events(app: Any, code: str) -> tuple[Report, list[str]]:
    async with app.sessions() as session:
        report = (await session.scalars(select(Report).where(Report.code == code))).one()
        events = (await session.scalars(select(ReportEvent.status).where(ReportEvent.report_id == report.id)
                                        .order_by(ReportEvent.id))).all()
    return report, list(events)


def told_about(messages: list[dict], code: str, words: str) -> list[str]:
    return [m["text"] for m in messages if code in m["text"] and words in m["text"]]


async def test_two_officials_acknowledge_at_once_one_wins_the_other_is_told_who_and_when(
        app, clock, monkeypatch) -> None:
    _leader, code = await leader_files_an_incident(app)
    alert = (await inbox(app, "demo-canbo"))[0]
    ack = button(alert, "Đã tiếp nhận")
    clock.advance(minutes=3)
    tuan, ha = Chat(app, "demo-canbo"), Chat(app, "demo-canbo-xh")
    gate = Gate(monkeypatch, ReportQueries, "report")
    late, first = await gate.interleave(tuan.press_id(ack), ha.press_id(ack))
    assert f"{URGENT}: đã tiếp nhận. Người gửi đã được báo." in first
    assert late == f"{URGENT} đã được {HA} tiếp nhận lúc 08:33 22/11/2026."
    assert "🔧 Đang xử lý" in tuan.labels and "✔️ Đã xử lý" in tuan.labels and "🔎 Xem báo cáo" in tuan.labels
    report, events = await report_and_events(app, code)
    assert events == ["sent", "received"]
    assert report.status == "received" and report.acknowledged_at is not None
    async with app.sessions() as session:  # the winner is the one kept as acknowledging
        assert await Repo(session).person_name(report.acknowledged_by) == HA
    told = told_about(await inbox(app, "demo-totruong"), code, "tiếp nhận")
    assert told == [f"✅ {HA} (Phường Hải Châu) đã tiếp nhận báo cáo {URGENT} lúc 08:33 22/11/2026. (Mã {code})"]


@pytest.mark.parametrize("winner", ["resolve", "return"])
async def test_resolve_and_return_at_once_one_wins_and_the_other_is_told(app, clock, monkeypatch, winner) -> None:
    _leader, code = await leader_files_an_incident(app)
    alert = (await inbox(app, "demo-canbo"))[0]
    rid = int(button(alert, "Đã tiếp nhận").rsplit(".", 1)[1])
    clock.advance(minutes=5)
    tuan, ha = Chat(app, "demo-canbo"), Chat(app, "demo-canbo-xh")
    assert "Vì sao trả lại báo cáo" in await tuan.press_id(f"m.ret.{rid}")
    gate = Gate(monkeypatch, ReportQueries, "report")
    returning = tuan.send("Không đúng địa bàn, chuyển phường khác")
    resolving = ha.press_id(f"m.st.{rid}.resolved")
    if winner == "resolve":
        late, first = await gate.interleave(returning, resolving)
        assert f"{URGENT}: đã xử lý" in first
        assert late.startswith(f"{URGENT} đã được {HA} chuyển sang «Đã xử lý» lúc 08:35 22/11/2026.")
        assert "🔁 Mở lại" in tuan.labels and "🔎 Xem báo cáo" in tuan.labels
        expected_status, loser = "resolved", tuan
    else:
        late, first = await gate.interleave(resolving, returning)
        assert f"{URGENT}: trả lại" in first
        assert late == (f"{URGENT} đã được {TUAN} chuyển sang «Trả lại» lúc 08:35 22/11/2026.\n"
                        "Lý do: Không đúng địa bàn, chuyển phường khác")
        expected_status, loser = "returned", ha
    assert "✔️ Đã xử lý" not in loser.labels and "↩️ Trả lại" not in loser.labels
    report, events = await report_and_events(app, code)
    assert report.status == expected_status and events == ["sent", expected_status]
    changes = [m["text"] for m in await inbox(app, "demo-totruong") if "«Báo tin khẩn» 22/11" in m["text"]]
    assert len(changes) == 1, changes  # the reporter is told once, of what really happened
    # The one who lost is not left in the middle of anything: the menu opens at once.
    assert "Bạn đang làm dở" not in await loser.send("/menu")


async def test_a_finished_report_cannot_be_acknowledged_again_nor_a_returned_one_resolved(app, clock) -> None:
    _leader, code = await leader_files_an_incident(app)
    rid = int(button((await inbox(app, "demo-canbo"))[0], "Đã tiếp nhận").rsplit(".", 1)[1])
    tuan, ha = Chat(app, "demo-canbo"), Chat(app, "demo-canbo-xh")
    await tuan.press_id(f"m.ret.{rid}")
    await tuan.send("Thiếu mô tả")
    clock.advance(minutes=1)
    resolved = await ha.press_id(f"m.st.{rid}.resolved")
    assert f"đã được {TUAN} chuyển sang «Trả lại» lúc 08:30 22/11/2026." in resolved
    acked = await ha.press_id(f"m.ack.{rid}")
    assert f"đã được {TUAN} tiếp nhận lúc 08:30 22/11/2026.\nTrạng thái hiện tại: Trả lại." in acked
    assert "đã được" in await ha.press_id(f"m.ret.{rid}")  # not even asked for a reason
    assert "Vì sao" not in ha.text
    _report, events = await report_and_events(app, code)
    assert events == ["sent", "returned"]


async def test_escalation_does_not_take_up_an_incident_acknowledged_meanwhile(app, clock, monkeypatch) -> None:
    if app.settings.database_url.startswith("postgresql"):
        pytest.skip("on PostgreSQL the job's FOR UPDATE SKIP LOCKED makes the acknowledgement wait: "
                    "this interleaving cannot happen there")
    _leader, code = await leader_files_an_incident(app)
    ack = button((await inbox(app, "demo-canbo"))[0], "Đã tiếp nhận")
    clock.advance(minutes=16)
    gate = Gate(monkeypatch, ReportQueries, "due_escalations")
    sent, answer = await gate.interleave(app.escalate_incidents(), Chat(app, "demo-canbo").press_id(ack))
    assert "Người gửi đã được báo." in answer and sent == 0
    assert await inbox(app, "demo-thanhpho") == []
    assert not told_about(await inbox(app, "demo-totruong"), code, "chuyển lên")
    _report, events = await report_and_events(app, code)
    assert events == ["sent", "received"]


async def resident_sends_feedback(app: Any) -> tuple[int, str]:
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    await resident.press("Gửi phản ánh")
    await resident.send("Rác tồn đọng đầu kiệt 42 ba ngày nay.")
    await resident.photo(PNG)
    done = await resident.press("Gửi phản ánh")
    code = done.split("(Mã ")[1].split(")")[0]
    async with app.sessions() as session:
        feedback = (await session.scalars(select(Feedback).where(Feedback.code == code))).one()
    return feedback.id, code


async def test_two_leaders_close_the_same_feedback_at_once(app, clock, monkeypatch) -> None:
    fid, _code = await resident_sends_feedback(app)
    hung, sau = Chat(app, "demo-totruong"), Chat(app, "demo-topho")
    await hung.send("/start HUNG05")
    clock.advance(minutes=10)
    gate = Gate(monkeypatch, AsyncSession, "get", when=lambda entity, *_: entity is Feedback)
    assert f"Đóng phản ánh {FEEDBACK}?" in await hung.press_id(f"m.fc.{fid}")  # asked first
    assert f"Đóng phản ánh {FEEDBACK}?" in await sau.press_id(f"m.fc.{fid}")
    late, first = await gate.interleave(hung.press("Đóng phản ánh"), sau.press("Đóng phản ánh"))
    assert f"Đã đóng phản ánh {FEEDBACK}." in first
    assert f"Phản ánh {FEEDBACK} đã được xử lý (Đã đóng) — Ông Hồ Văn Sáu, lúc 08:40 22/11/2026." in late
    async with app.sessions() as session:
        feedback = await session.get(Feedback, fid)
    assert feedback.status == "closed"
    closed = [m for m in await inbox(app, "demo-nguoidan") if "ghi nhận và đóng" in m["text"]]
    assert len(closed) == 1


async def test_closing_and_passing_on_at_once_files_no_report_for_the_loser(app, clock, monkeypatch) -> None:
    fid, _code = await resident_sends_feedback(app)
    hung, sau = Chat(app, "demo-totruong"), Chat(app, "demo-topho")
    await hung.send("/start HUNG05")
    gate = Gate(monkeypatch, AsyncSession, "get", when=lambda entity, *_: entity is Feedback)
    assert f"Chuyển phản ánh {FEEDBACK} lên Phường Hải Châu?" in await hung.press_id(f"m.fp.{fid}")
    await sau.press_id(f"m.fc.{fid}")
    late, first = await gate.interleave(hung.press("Chuyển lên phường"), sau.press("Đóng phản ánh"))
    assert f"Đã đóng phản ánh {FEEDBACK}." in first
    assert f"Phản ánh {FEEDBACK} đã được xử lý (Đã đóng) — Ông Hồ Văn Sáu" in late
    async with app.sessions() as session:
        feedback = await session.get(Feedback, fid)
        passed = (await session.scalars(select(Report).where(Report.form_key == "dan_chu_phan_anh"))).all()
    assert feedback.status == "closed" and feedback.report_id is None and passed == []
    told = [m["text"] for m in await inbox(app, "demo-nguoidan") if FEEDBACK in m["text"] and "Đã gửi" not in m["text"]]
    assert told == [f"✔️ Phản ánh {FEEDBACK} của bạn đã được tổ phó ghi nhận và đóng."]


@pytest.mark.postgres
async def test_twenty_incidents_acknowledged_by_two_officials_really_at_once(app, clock) -> None:
    if not app.settings.database_url.startswith("postgresql"):
        pytest.skip("real concurrency is tested on PostgreSQL; on SQLite the interleaved tests above make the race")
    leader = Chat(app, "demo-totruong")
    await leader.send("/start HUNG05")
    codes = []
    for _ in range(20):
        await leader.send("/menu")
        await leader.press("Báo tin khẩn")
        await leader.press("Cháy, nổ")
        await leader.location(16.0718, 108.2204)
        done = await leader.send("Khói bốc lên từ tầng hai")
        codes.append(done.split("Mã: ")[1].split(".")[0])
    alerts = {m["text"].split("TIN KHẨN ")[1].split()[0]: m for m in await inbox(app, "demo-canbo")}
    clock.advance(minutes=2)
    answers = await asyncio.gather(*(
        Chat(app, user).press_id(button(alerts[code], "Đã tiếp nhận"))
        for code in codes for user in ("demo-canbo", "demo-canbo-xh")))
    told = await inbox(app, "demo-totruong")
    for n, code in enumerate(codes):
        pair = answers[2 * n : 2 * n + 2]
        assert sum("Người gửi đã được báo." in a for a in pair) == 1, pair
        assert sum("«Báo tin khẩn» 22/11 «Khói bốc lên từ tầng hai» đã được" in a
                   and "tiếp nhận lúc 08:32 22/11/2026." in a for a in pair) == 1, pair
        _report, events = await report_and_events(app, code)
        assert events == ["sent", "received"], (code, events)
        assert len(told_about(told, code, "đã tiếp nhận báo cáo")) == 1
