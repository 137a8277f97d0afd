"""Translating between Telegram and the core's message model: updates in, replies out.

Text is sent without a parse mode, so whatever a user or a form wrote ("<b>", "&", "*") arrives
exactly as written and nothing needs escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    PhotoSize,
    ReplyKeyboardMarkup,
    Update,
)

from handlers.messages import Contact, Incoming, Keyboard, Location, Reply, split_command

CHANNEL = "telegram"
TEXT_LIMIT = 4096  # characters of a message, counted as Telegram does (UTF-16 code units)
CAPTION_LIMIT = 1024


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cuts a long text into messages that fit, at paragraph breaks, else line breaks, else spaces."""
    chunks: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        end = _fitting_prefix(rest, limit)
        for separator in ("\n\n", "\n", " "):
            cut = rest.rfind(separator, 0, end)
            if cut > 0:
                head, rest = rest[:cut], rest[cut + len(separator):]
                break
        else:
            head, rest = rest[:end], rest[end:]
        if head.strip():
            chunks.append(head.rstrip())
    if rest.strip() or not chunks:
        chunks.append(rest)
    return chunks


def _fitting_prefix(text: str, limit: int) -> int:
    """The length (in characters) of the longest start of `text` within `limit` UTF-16 units."""
    end = min(len(text), limit)
    while (excess := utf16_len(text[:end]) - limit) > 0:
        end -= max(1, excess // 2)
    return end


def inline_keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons under the message; a button's id is its callback data."""
    rows = [[InlineKeyboardButton(b.label, callback_data=b.id) for b in row] for row in reply.buttons if row]
    return InlineKeyboardMarkup(rows) if rows else None


def reply_keyboard(reply: Reply, *, location_label: str, contact_label: str) -> ReplyKeyboardMarkup:
    """A keyboard in place of the letters: "send my location" or "share my phone number" on top,
    then the reply's buttons, whose labels come back as text (the core reads a label as the button)."""
    rows: list[list[KeyboardButton]] = []
    if reply.keyboard is Keyboard.REQUEST_LOCATION:
        rows.append([KeyboardButton(location_label, request_location=True)])
    elif reply.keyboard is Keyboard.REQUEST_CONTACT:
        rows.append([KeyboardButton(contact_label, request_contact=True)])
    rows += [[KeyboardButton(b.label) for b in row] for row in reply.buttons if row]
    menu = reply.keyboard is Keyboard.MENU
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=not menu, is_persistent=menu)


def pressed_label(message: Message, data: str) -> str | None:
    """The label of the inline button with callback `data` under `message`."""
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote: a person in their private chat with the bot."""

    user_id: str
    chat_id: str
    display_name: str
    language: str  # "vi", "en"… as the user's Telegram app reports it, or ""

    def incoming(self, at: datetime, **what: Any) -> Incoming:
        """The core's message from this person: what they did (`text`, `button`, `photo`…)."""
        return Incoming(channel=CHANNEL, user_id=self.user_id, chat_id=self.chat_id,
                        display_name=self.display_name, language=self.language, at=at, **what)


def author(update: Update) -> Author | None:
    """Who wrote; None for bots, groups and updates from no one."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or user.is_bot or (chat is not None and chat.type != "private"):
        return None
    return Author(user_id=str(user.id), chat_id=str(chat.id if chat is not None else user.id),
                  display_name=user.full_name[:200], language=(user.language_code or "")[:2].lower())


def content(message: Message) -> dict[str, Any]:
    """What a message says, as the core's fields (photos are fetched by the channel)."""
    if message.text is not None:
        command = split_command(message.text)
        if command is not None:
            return {"command": command[0], "argument": command[1]}
        return {"text": message.text}
    if message.venue is not None:
        venue = message.venue
        address = ", ".join(part for part in (venue.title, venue.address) if part)
        return {"location": Location(venue.location.latitude, venue.location.longitude, address=address)}
    if message.location is not None:
        return {"location": Location(message.location.latitude, message.location.longitude)}
    if message.contact is not None:
        contact = message.contact
        name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
        return {"contact": Contact(phone=contact.phone_number, name=name)}
    return {}  # a sticker, a voice note…: the core says it cannot read it


def pick_photo(sizes: Sequence[PhotoSize], limit: int) -> PhotoSize | None:
    """The largest size of a photo that is within `limit` bytes (None: even the smallest is not)."""
    fitting = [size for size in sizes if (size.file_size or 0) <= limit]
    return max(fitting, key=lambda size: (size.width * size.height, size.file_size or 0), default=None)
