"""Zalo has no buttons: replies become numbered lists, and what the user types back selects.

The rule, also in docs/zalo.md:

- A list of buttons is a *choice* when at least one button is more than navigation (Quay lại, Bỏ
  qua, Hủy): menus, choices, Có/Không, Hôm nay/Hôm qua, the summary. Its buttons are numbered
  1, 2, 3… in order; the "back" button, if any, is numbered 0. Typing a number, or words of a
  label with or without diacritics ("an ninh" for "🛡️ An ninh trật tự"), selects that button.
- A list of navigation buttons only belongs to a question that wants a typed answer (a number, a
  text, a photo, a location). It is not numbered: digits stay the answer ("0" people, "35" hộ), and
  the buttons are shown as words to type ("Quay lại", "Bỏ qua", "Hủy"), which the engine matches.
- A number that selects nothing is passed on as text.

The numbering is computed from the ids and labels alone, so the engine's stored copy of the last
buttons (conversation data "_buttons") gives the same numbers after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from handlers.engine import RESUME_WORDS, STOP_WORDS
from handlers.i18n import Translator, _
from handlers.messages import Keyboard, Reply
from handlers.text import fold

TEXT_LIMIT = 2000  # characters in one Zalo message
NAV_ACTIONS = {"back", "skip", "cancel"}
_LEADING_SYMBOLS = re.compile(r"^[^\w«(]+")

NUMBER_HINT = _("👉 Trả lời bằng số (ví dụ: 1), hoặc gõ tên mục.")
NAV_HINT = _("Hoặc gõ: {words}.")
LOCATION_HINT = _("📍 Zalo chưa chuyển vị trí chia sẻ cho bot. Hãy gõ địa chỉ, hoặc gõ tọa độ "
                  "(ví dụ 16.0544, 108.2022): mở Google Maps, chạm giữ vào điểm cần báo, "
                  "sao chép hai con số hiện ra rồi dán vào đây.")
PHOTO_HINT = _("🖼 Trên Zalo: bấm biểu tượng hình ảnh cạnh ô nhập tin nhắn, chọn một ảnh rồi bấm Gửi.")
CONTACT_HINT = _("📞 Hãy gõ số điện thoại của bạn.")
FILE_LINE = _("📄 Tải tệp: {url}")


def is_back(button_id: str) -> bool:
    """The button that goes one step back: a form's Quay lại, a sub-menu's or the edit list's."""
    return button_id.endswith((".back", ".sum")) or button_id == "m.menu"


def _is_nav(button_id: str) -> bool:
    prefix, _sep, action = button_id.partition(".")
    return prefix != "m" and action in NAV_ACTIONS


@dataclass(frozen=True, slots=True)
class Shown:
    """The buttons shown last to one chat, in order, as (id, label) pairs."""

    buttons: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, replies: Sequence[Reply]) -> Shown:
        return cls(tuple((b.id, b.label) for reply in replies for b in reply.flat_buttons))

    @property
    def is_choice(self) -> bool:
        return any(not _is_nav(button_id) for button_id, _label in self.buttons)

    def numbers(self) -> dict[str, str]:
        """The number shown beside each button id: 1, 2, 3… and 0 for "back"; none if not a choice."""
        if not self.is_choice:
            return {}
        numbers: dict[str, str] = {}
        count = 0
        for button_id, _label in self.buttons:
            if button_id in numbers:
                continue
            if is_back(button_id) and "0" not in numbers.values():
                numbers[button_id] = "0"
            else:
                count += 1
                numbers[button_id] = str(count)
        return numbers

    def select(self, text: str) -> str | None:
        """The id of the button the typed text means (its number or its words), or None."""
        if not self.is_choice:
            return None
        stripped = text.strip().rstrip(".)")
        if stripped.isdecimal():
            wanted = str(int(stripped))
            return next((bid for bid, number in self.numbers().items() if number == wanted), None)
        folded = fold(text)
        if len(folded) < 3 or folded in STOP_WORDS or folded in RESUME_WORDS or any(c.isdigit() for c in folded):
            return None
        words = folded.split()
        exact = [bid for bid, label in self.buttons if fold(label) == folded]
        if exact:
            return exact[0]
        found = {bid for bid, label in self.buttons if _contains_run(fold(label).split(), words)}
        return found.pop() if len(found) == 1 else None


def _contains_run(label: list[str], words: list[str]) -> bool:
    """True when `words` appear one after another in `label` ("an ninh" in "an ninh trat tu")."""
    size = len(words)
    return any(label[i:i + size] == words for i in range(len(label) - size + 1))


def plain_label(label: str) -> str:
    """A label without its leading emoji, as the user would type it: "⬅️ Quay lại" → "Quay lại"."""
    return _LEADING_SYMBOLS.sub("", label).strip() or label


@dataclass(frozen=True, slots=True)
class Piece:
    """One message to send: a text (at most 2000 characters) or a photo by URL."""

    text: str = ""
    photo_url: str = ""


def render(replies: Sequence[Reply], t: Translator, *, file_url: Callable[[int], str | None]) -> list[Piece]:
    """Turns the replies of one turn into Zalo messages: numbered lists instead of buttons."""
    shown = Shown.of(replies)
    numbers = shown.numbers()
    last_listed = max((i for i, reply in enumerate(replies) if reply.buttons), default=-1)
    pieces: list[Piece] = []
    for index, reply in enumerate(replies):
        lines = [reply.text]
        buttons = reply.flat_buttons
        if buttons and numbers:
            lines.append("")
            back = [b for b in buttons if numbers.get(b.id) == "0"]
            lines += [f"{numbers[b.id]}. {b.label}" for b in buttons if b not in back]
            lines += [f"0. {b.label}" for b in back]
            if index == last_listed:
                lines += ["", t(NUMBER_HINT)]
        elif buttons:
            words = ", ".join(f"«{plain_label(b.label)}»" for b in buttons)
            lines += ["", t(NAV_HINT, words=words)]
        if reply.keyboard == Keyboard.REQUEST_LOCATION:
            lines.append(t(LOCATION_HINT))
        elif reply.keyboard == Keyboard.REQUEST_CONTACT:
            lines.append(t(CONTACT_HINT))
        elif reply.keyboard == Keyboard.REQUEST_PHOTO:
            lines.append(t(PHOTO_HINT))
        if reply.document_id is not None and (url := file_url(reply.document_id)):
            lines.append(t(FILE_LINE, url=url))
        if reply.photo_id is not None and (url := file_url(reply.photo_id)):
            pieces.append(Piece(photo_url=url))
        text = "\n".join(lines).strip()
        pieces += [Piece(text=chunk) for chunk in split_text(text)]
    return pieces


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Splits a long text into messages of at most `limit` characters, at paragraph boundaries first."""
    if len(text) <= limit:
        return [text] if text else []
    chunks: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        for part in _fit(paragraph, limit):
            candidate = f"{current}\n\n{part}" if current else part
            if len(candidate) <= limit:
                current = candidate
            else:
                chunks.append(current)
                current = part
    if current:
        chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()]


def _fit(paragraph: str, limit: int) -> list[str]:
    """A paragraph cut into pieces of at most `limit`: at line ends, then at spaces, then anywhere."""
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for line in paragraph.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit + 1)
            cut = cut if cut > limit // 2 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return pieces
