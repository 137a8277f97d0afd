"""The neutral message model: what a channel adapter hands the core and what it gets back.

Text is plain: adapters escape it for whatever their channel renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    address: str = ""


@dataclass(frozen=True, slots=True)
class PhotoIn:
    """A photo a user sent: its bytes, already fetched by the adapter."""

    content: bytes
    mime: str = "image/jpeg"
    filename: str = ""


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a user did: typed text, a command, pressed a button, sent a photo or location."""

    channel: str
    user_id: str
    chat_id: str = ""
    display_name: str = ""
    text: str | None = None
    command: str | None = None  # without the slash, lower case: "start", "menu"
    argument: str = ""
    button: str | None = None  # the id of the pressed button
    photo: PhotoIn | None = None
    location: Location | None = None
    contact: Contact | None = None
    language: str = ""  # the language the channel reports for the user, if any
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The platform's id of the update this came in ("<bot id>:<update_id>", a Zalo message_id):
    # the engine records it with the effects, so the same update handled again changes nothing.
    update_key: str | None = None
    # The network address the person wrote from, where it is theirs: the simulator page's client.
    # "" for messengers (a webhook comes from the platform's servers, shared by all its users).
    address: str = ""

    @property
    def kind(self) -> str:
        for name in ("command", "button", "photo", "location", "contact", "text"):
            if getattr(self, name) is not None:
                return name
        return "empty"


class Keyboard(StrEnum):
    INLINE = "inline"  # buttons under the message
    MENU = "menu"  # a persistent main menu (Telegram reply keyboard)
    REQUEST_LOCATION = "location"
    REQUEST_CONTACT = "contact"
    REQUEST_PHOTO = "photo"  # the question wants a photo: adapters may add how to send one


@dataclass(frozen=True, slots=True)
class Button:
    id: str  # short ASCII, at most 64 bytes (Telegram's callback data)
    label: str

    def __post_init__(self) -> None:
        if not self.id.isascii() or len(self.id) > 64:  # ASCII: as many bytes as characters
            raise ValueError(f"button id must be short ASCII: {self.id!r}")


@dataclass(frozen=True, slots=True)
class Reply:
    """One message from the bot to the user."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: Keyboard = Keyboard.INLINE
    photo_id: int | None = None  # an Attachment row
    document_id: int | None = None
    # Replace the message whose button was pressed instead of sending a new one.
    edit: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "buttons": [[{"id": b.id, "label": b.label} for b in row] for row in self.buttons],
            "keyboard": self.keyboard.value,
            "photo_id": self.photo_id,
            "document_id": self.document_id,
            "edit": self.edit,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Reply:
        """The reply as `to_json` wrote it (replies stored with a handled update)."""
        buttons = data.get("buttons") or []
        assert isinstance(buttons, list)
        photo_id, document_id = data.get("photo_id"), data.get("document_id")
        return cls(
            text=str(data.get("text") or ""),
            buttons=tuple(tuple(Button(str(b["id"]), str(b["label"])) for b in row) for row in buttons),
            keyboard=Keyboard(str(data.get("keyboard") or Keyboard.INLINE.value)),
            photo_id=photo_id if isinstance(photo_id, int) else None,
            document_id=document_id if isinstance(document_id, int) else None,
            edit=bool(data.get("edit")),
        )

    @property
    def flat_buttons(self) -> list[Button]:
        return [button for row in self.buttons for button in row]

    def with_buttons(self, buttons: tuple[tuple[Button, ...], ...]) -> Reply:
        """This reply with other buttons (`dataclasses.replace` costs several times more: the
        engine does this for nearly every reply)."""
        return Reply(self.text, buttons, self.keyboard, self.photo_id, self.document_id, self.edit)


def rows(buttons: list[Button], per_row: int = 1) -> tuple[tuple[Button, ...], ...]:
    """Lays buttons out in rows of `per_row`."""
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))


@dataclass(slots=True)
class Delivery:
    """A reply addressed to someone other than the sender (an official, a leader)."""

    person_id: int
    reply: Reply


def split_command(text: str) -> tuple[str, str] | None:
    """Reads "/start ABC123" (or "/start@SomeBot ABC123") as ("start", "ABC123")."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _sep, rest = stripped[1:].partition(" ")
    command = head.split("@", 1)[0].lower()
    if not command.isascii() or not command.replace("_", "").isalnum():
        return None
    return command, rest.strip()
