"""A chat driver for transcript tests: send what the user types, read what the bot answered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from handlers.messages import Incoming, Location, PhotoIn, Reply, split_command
from models.tables import Report, Unit


class Chat:
    def __init__(self, app: Any, user: str, *, channel: str = "sim", name: str = "") -> None:
        self.app = app
        self.user = user
        self.channel = channel
        self.name = name
        self.replies: list[Reply] = []

    async def _send(self, **what: Any) -> str:
        msg = Incoming(channel=self.channel, user_id=self.user, chat_id=self.user, display_name=self.name,
                       at=self.app.clock.now(), **what)
        handled = await self.app.receive(msg)
        self.replies = handled.replies
        return self.text

    async def send(self, text: str) -> str:
        """Types a text (a leading slash makes it a command) and returns the bot's answer."""
        command = split_command(text)
        if command:
            return await self._send(command=command[0], argument=command[1])
        return await self._send(text=text)

    async def press(self, label: str) -> str:
        """Presses the button whose label contains `label` in the last answer. When it is not on
        screen, goes where a person would look for it first: "☰ Thêm…" (the menu's second screen),
        then "☰ Menu" and its "☰ Thêm…"."""
        if not self.has(label):
            for way in ("☰ Thêm", "☰ More", "☰ Menu", "☰ Thêm", "☰ More"):
                if self.has(way) and not self.has(label):
                    await self._send(button=self.button_id(way))
        return await self._send(button=self.button_id(label))

    def has(self, label: str) -> bool:
        return any(label in button.label for button in self.buttons)

    @property
    def buttons(self) -> list[Any]:
        return [button for reply in self.replies for button in reply.flat_buttons]

    async def open_form(self, task: str, title: str) -> str:
        """Presses the task's menu button, then the form's title when the task lists several forms."""
        answer = await self.press(task)
        if f"📝 {title}" not in answer:
            answer = await self.press(title)
        return answer

    async def press_id(self, button_id: str) -> str:
        return await self._send(button=button_id)

    async def photo(self, content: bytes, mime: str = "image/jpeg") -> str:
        return await self._send(photo=PhotoIn(content=content, mime=mime))

    async def location(self, latitude: float, longitude: float) -> str:
        return await self._send(location=Location(latitude, longitude))

    def button_id(self, label: str) -> str:
        for reply in reversed(self.replies):
            for button in reply.flat_buttons:
                if label in button.label:
                    return button.id
        raise AssertionError(f"no button {label!r} in {self.labels}")

    @property
    def text(self) -> str:
        return "\n".join(reply.text for reply in self.replies)

    @property
    def labels(self) -> list[str]:
        return [button.label for reply in self.replies for button in reply.flat_buttons]


async def saved_reports(app: Any) -> list[tuple[Report, Unit]]:
    """Every report in the database with its unit."""
    async with app.sessions() as session:
        rows = (await session.execute(select(Report, Unit).join(Unit, Unit.id == Report.unit_id))).all()
    return [(row[0], row[1]) for row in rows]
