"""A person chatting with the bot through the fake Telegram server, for transcript tests."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes.telegram_api import FakeTelegram


class TelegramUser:
    """A person chatting with the bot through the fake server; each action waits for the answer.

    After each action `messages` holds what the bot sent or edited in answer. `settle(update_id)`
    returns once the bot has handled that update (the test knows how).
    """

    def __init__(self, fake: FakeTelegram, user_id: int, first_name: str, *,
                 settle: Callable[[int], Awaitable[None]], language_code: str = "vi") -> None:
        self.fake = fake
        self.user = fake.user(user_id, first_name, language_code=language_code)
        self.id = user_id
        self.settle = settle
        self.messages: list[dict[str, Any]] = []  # what the bot sent or edited after the last action

    async def _do(self, update_id: int) -> str:
        before = {m["message_id"]: json.dumps(m, sort_keys=True) for m in self.fake.sent_to(self.id)}
        await self.settle(update_id)
        self.messages = [m for m in self.fake.sent_to(self.id)
                         if before.get(m["message_id"]) != json.dumps(m, sort_keys=True)]
        return self.text

    async def send(self, text: str) -> str:
        return await self._do(self.fake.send_text(self.user, text))

    async def photo(self, content: bytes, **kwargs: Any) -> str:
        return await self._do(self.fake.send_photo(self.user, content, **kwargs))

    async def location(self, latitude: float, longitude: float) -> str:
        return await self._do(self.fake.send_location(self.user, latitude, longitude))

    async def contact(self, phone: str) -> str:
        return await self._do(self.fake.send_contact(self.user, phone))

    async def press(self, label: str) -> str:
        """Presses the newest inline button whose text contains `label`."""
        for message in reversed(self.fake.sent_to(self.id)):
            for row in message.get("reply_markup", {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        return await self._do(self.fake.press(self.user, dict(message), button["callback_data"]))
        raise AssertionError(f"no inline button {label!r}; the chat shows {self.inline_labels}")

    async def tap(self, label: str) -> str:
        """Taps a reply-keyboard button: Telegram sends its text as a message."""
        markup = self.reply_keyboard
        labels = [button["text"] for row in markup.get("keyboard", []) for button in row]
        match = next((text for text in labels if label in text), None)
        if match is None:
            raise AssertionError(f"no keyboard button {label!r}; the keyboard shows {labels}")
        return await self.send(match)

    @property
    def text(self) -> str:
        return "\n".join(m.get("text") or m.get("caption") or "" for m in self.messages)

    @property
    def inline_labels(self) -> list[str]:
        return [b["text"] for m in self.messages for row in m.get("reply_markup", {}).get("inline_keyboard", [])
                for b in row]

    @property
    def reply_keyboard(self) -> dict[str, Any]:
        """The reply keyboard the bot last sent to this chat ({} if none)."""
        for call in reversed(self.fake.calls):
            if call.chat_id == self.id and call.method in ("sendMessage", "sendPhoto", "sendDocument"):
                markup = call.params.get("reply_markup")
                if isinstance(markup, dict) and ("keyboard" in markup or "remove_keyboard" in markup):
                    return markup
        return {}
