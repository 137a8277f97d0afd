"""The simulator's replies are stored in the step's own transaction (issue 11 item 6): the page gets
the same rows it reads later, a step handled again after a conflict stores its replies once, and
a step that fails stores only the apology."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from models.repos import Repo, StaleConversation
from models.tables import SimMessage
from tests.integration.test_outages import LEADER, client_for, send


async def rows_of(app: Any, user: str) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(SimMessage)
                                        .where(SimMessage.external_id == user)) or 0)


async def test_the_replies_returned_are_the_rows_the_page_reads(app) -> None:
    async with client_for(app) as client:
        sent = (await send(client, LEADER, text="/start HUNG05")).json()["messages"]
        sent += (await send(client, LEADER, text="/menu")).json()["messages"]
        read = (await client.get("/api/messages", params={"user": LEADER, "after": 0})).json()["messages"]
    assert sent and [m["id"] for m in sent] == sorted(m["id"] for m in sent)
    assert [(m["id"], m["text"], m["buttons"]) for m in read] == [(m["id"], m["text"], m["buttons"]) for m in sent]
    assert await rows_of(app, LEADER) == len(sent)


async def test_a_step_handled_again_after_a_conflict_stores_its_replies_once(app, monkeypatch) -> None:
    stored = Repo.store_sim_messages
    calls: list[list[int]] = []

    async def conflicting_once(self: Repo, *args: Any) -> list[int]:
        ids = await stored(self, *args)
        calls.append(ids)
        if len(calls) == 1:  # stored, then the transaction is rolled back: handled again
            raise StaleConversation(0)
        return ids

    monkeypatch.setattr(Repo, "store_sim_messages", conflicting_once)
    async with client_for(app) as client:
        sent = (await send(client, LEADER, text="/start HUNG05")).json()["messages"]
        read = (await client.get("/api/messages", params={"user": LEADER, "after": 0})).json()["messages"]
    assert len(calls) == 2 and [m["id"] for m in sent] == calls[1]
    assert [m["id"] for m in read] == calls[1] and await rows_of(app, LEADER) == len(sent)


async def test_a_step_that_fails_stores_only_the_apology(app, monkeypatch) -> None:
    stored = Repo.store_sim_messages
    calls = 0

    async def failing(self: Repo, *args: Any) -> list[int]:
        nonlocal calls
        calls += 1
        ids = await stored(self, *args)
        if calls == 1:  # the step's replies, in its transaction; the apology after it is stored
            raise RuntimeError("after the replies were stored")
        return ids

    monkeypatch.setattr(Repo, "store_sim_messages", failing)
    async with client_for(app) as client:
        sent = (await send(client, LEADER, text="/start HUNG05")).json()["messages"]
        read = (await client.get("/api/messages", params={"user": LEADER, "after": 0})).json()["messages"]
    assert len(sent) == 1 and "Xin lỗi" in sent[0]["text"]
    assert [m["id"] for m in read] == [sent[0]["id"]] and await rows_of(app, LEADER) == 1


async def test_a_poll_a_step_late_gets_that_step_from_memory_and_one_further_behind_reads(app, monkeypatch) -> None:
    reads: list[int] = []
    after = app.simulator.store.after

    async def counted(external_id: str, since: int) -> Any:
        reads.append(since)
        return await after(external_id, since)

    monkeypatch.setattr(app.simulator.store, "after", counted)
    async with client_for(app) as client:
        first = (await send(client, LEADER, text="/start HUNG05")).json()["messages"]
        second = (await send(client, LEADER, text="/menu")).json()["messages"]
        late = (await client.get("/api/messages", params={"user": LEADER, "after": first[-1]["id"],
                                                          "wait": 5})).json()["messages"]
        assert [(m["id"], m["text"]) for m in late] == [(m["id"], m["text"]) for m in second]
        assert reads == []  # the last delivery, from memory
        behind = (await client.get("/api/messages", params={"user": LEADER, "after": 0, "wait": 5})).json()["messages"]
    assert [m["id"] for m in behind] == [m["id"] for m in first + second]
    assert reads == [0]  # further behind than the last delivery: read from the store
