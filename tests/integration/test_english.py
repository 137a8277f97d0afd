"""English is complete: people who chose English read no Vietnamese in the bot's own words, only in
what people typed and in the names of places and people. Every reply of the journeys below (menus,
help, each task's sub-menu, whole forms, lists, a notice, feedback and its answer, an official's
lists, summaries and the campaign wizard) is checked; counts agree with their noun; months have
their English names."""

from __future__ import annotations

import re

from sqlalchemy import select

from handlers.text import shorten
from models.tables import Person, Unit
from tests import images
from tests.helpers import Chat

# Vietnamese letters that English never uses (with their diacritics, and đ).
VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]",
                        re.IGNORECASE)
TYPED = ["Đèn đường kiệt 15 Lê Duẩn hỏng một tuần nay.", "Đã báo điện lực, mai thay bóng.",
         "Tối nay 19:30 họp tổ tại nhà văn hóa.", "Cống trước nhà số 8 bị nghẹt"]
NAVIGATION = ("Cancel", "Back", "Skip", "Menu", "Previous", "Next", "Discard", "Edit")
CURRENCY = re.compile(r"(?<=\d) đ\b")  # "1,500,000 đ": the đồng's sign
SENT = re.compile(r"^(✅|🚨)[^\n]*(\n[^\n]*)?\b[A-Z0-9]{6}\b")  # "✅ Report … sent.\nReport code: 4A9FTJ"
PNG = images.png(color=(30, 120, 200, 128))


class EnglishChat(Chat):
    """A chat in English that keeps every reply it was given."""

    seen: list[tuple[str, str]]

    async def _send(self, **what: object) -> str:
        text = await super()._send(**what)
        for reply in self.replies:
            self.seen.append((str(what), reply.text))
            self.seen += [(str(what), button.label) for button in reply.flat_buttons]
        return text


async def english(app, user: str, seen: list[tuple[str, str]]) -> EnglishChat:
    chat = EnglishChat(app, user)
    chat.seen = seen
    await chat.send("/lang en")
    return chat


async def fill(chat: Chat, limit: int = 40) -> str:
    """Answers whatever a form asks, as a person would, until the report is sent."""
    for _ in range(limit):
        if SENT.search(chat.text):
            return chat.text
        labels = chat.labels
        if any("Send report" in label for label in labels):
            return await chat.press("Send report")
        if any("Today" in label for label in labels):
            await chat.press("Today")
            continue
        if any(label.startswith("☑️") or label.startswith("✅") for label in labels) or "Done" in " ".join(labels):
            options = [label for label in labels if not any(word in label for word in (*NAVIGATION, "Done"))]
            await chat.press(options[0])
            await chat.press("Done")
            continue
        options = [label for label in labels if not any(word in label for word in NAVIGATION)]
        if options:
            await chat.press(options[0])
            continue
        question = chat.replies[-1].text
        for answer in ("12", "Cống trước nhà số 8 bị nghẹt", PNG, (16.0678, 108.2208)):
            if isinstance(answer, str):
                await chat.send(answer)
            elif isinstance(answer, bytes):
                await chat.photo(answer)
            else:
                await chat.location(*answer)
            if chat.replies[-1].text != question:  # a refusal repeats the question
                break
    raise AssertionError(f"the form did not end: {chat.text}")


async def allowed_words(app) -> list[str]:
    """Names of units and people and what the test typed: Vietnamese that stays Vietnamese."""
    async with app.sessions() as session:
        names = [*(await session.scalars(select(Unit.name))).all(), *(await session.scalars(select(Person.name))).all()]
    whole = {*names, *TYPED, "“Tổ trưởng”"}  # the assistant's name
    cut = {shorten(word, n) for word in whole for n in range(8, len(word))}  # names in lists: "Tổ dân phố Thạch…"
    return sorted(whole | cut, key=len, reverse=True)


async def assert_english(app, seen: list[tuple[str, str]]) -> None:
    allowed = await allowed_words(app)
    leaks = []
    for sent, text in seen:
        for word in allowed:
            text = text.replace(word, "")
        text = CURRENCY.sub("", text)
        if VIETNAMESE.search(text):
            leaks.append(f"{sent} → {text!r}")
    assert not leaks, f"{len(leaks)} Vietnamese leaks in English:\n" + "\n".join(leaks[:30])


async def test_a_leader_in_english_reads_no_vietnamese(app, clock) -> None:
    seen: list[tuple[str, str]] = []
    leader = await english(app, "demo-totruong-2", seen)
    await leader.send("/menu")
    await leader.send("/help")
    tasks = [label for label in (await leader.send("/menu") and leader.labels)][1:5]
    for task in tasks:
        await leader.send("/menu")
        await leader.press(task)
        assert "Choose a kind of report:" in leader.text
    await leader.send("/menu")
    await leader.press("Sanitation")
    await leader.press("Green-Clean-Beautiful Sunday results")
    done = await fill(leader)
    assert "Report code" in done or "code" in done
    await leader.send("/menu")
    await leader.press("Report an emergency")
    await fill(leader)
    await leader.send("/menu")
    await leader.press("My reports")
    await leader.press(leader.labels[0])
    await leader.send("/menu")
    await leader.press("Monthly report")
    assert "November 2026" in leader.text
    await fill(leader)
    await leader.press_id("m.nw")
    await leader.send("Tối nay 19:30 họp tổ tại nhà văn hóa.")
    await leader.press("No photo")
    await leader.press("Send now")
    await leader.press("Cancel")  # nobody has joined Bà Mai's group yet
    await leader.press_id("m.ns")
    await leader.press_id("m.inv")
    await assert_english(app, seen)


async def test_a_resident_and_a_deputy_in_english_read_no_vietnamese(app, clock) -> None:
    seen: list[tuple[str, str]] = []
    deputy = await english(app, "demo-topho", seen)
    resident = await english(app, "demo-nguoidan", seen)
    await resident.send("/menu")
    await resident.send("/help")
    await resident.send("/menu")
    await resident.press("Send feedback")
    await resident.send("Đèn đường kiệt 15 Lê Duẩn hỏng một tuần nay.")
    await resident.photo(PNG)
    await resident.press("Send feedback")
    await resident.press_id("m.nt")
    await app.dispatcher.drain()
    alert = (await app.simulator.messages_after("demo-topho", 0))[-1]
    seen.append(("alert", alert["text"]))
    answer = next(b["id"] for row in alert["buttons"] for b in row if "Reply" in b["label"])
    await deputy.press_id(answer)
    await deputy.send("Đã báo điện lực, mai thay bóng.")
    await app.dispatcher.drain()
    seen += [("to resident", m["text"]) for m in await app.simulator.messages_after("demo-nguoidan", 0)]
    await deputy.send("/menu")
    await deputy.send("/stop")
    await deputy.send("START")
    await assert_english(app, seen)


async def test_an_official_in_english_reads_no_vietnamese(app, clock) -> None:
    seen: list[tuple[str, str]] = []
    leader = await english(app, "demo-topho", seen)  # the deputy of Thạch Thang 3, in Hải Châu
    await leader.send("/menu")
    await leader.press("Report an emergency")
    await fill(leader)
    official = await english(app, "demo-canbo", seen)
    await official.send("/menu")
    await official.send("/help")
    await official.send("/menu")
    await official.press("Open urgent")
    await official.press(official.labels[0])
    await official.press("Acknowledge")
    await official.press_id("m.nr.0")
    for label in [label for label in official.labels if "Summary" in label or "summary" in label][:1]:
        await official.press(label)
    await official.send("/menu")
    await official.press_id("m.sm")
    for label in list(official.labels)[:3]:
        await official.send("/menu")
        await official.press_id("m.sm")
        await official.press(label)
    await assert_english(app, seen)
