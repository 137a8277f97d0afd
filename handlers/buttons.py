"""Typed button codecs: every button id is packed and unpacked here, nowhere by hand.

Two kinds of button exist (docs/architecture.md, "Buttons"):

- **menu buttons** work at any time: "m.<prefix>[.<field>…]", e.g. ``ViewReport(report=12)`` packs
  as "m.rv.12". One small frozen dataclass per kind, its fields named and typed (``int`` or
  ``str``); ``pack()`` checks Telegram's 64-byte ASCII limit, ``unpack(id)`` returns an instance or
  None. The wire format is the one the bot always used, so buttons still in people's chats keep
  working; the route table (handlers/routes.py) maps each codec to its handler.
- **step buttons** belong to the question being asked now: ``Step(version, action)`` packs as
  "v<version in base 36>.<action>", so a button from an older message is recognised as stale.

Like aiogram's CallbackData, but without a dependency: the handlers import no transport.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Self, get_type_hints

from handlers.messages import Button

MAX_BYTES = 64  # Telegram's callback_data limit
MENU = "m"
_LAYOUTS: dict[type[Code], tuple[tuple[str, bool, bool], ...]] = {}
_FIELD_NAMES: dict[type[Code], tuple[str, ...]] = {}  # each codec's fields, in order, worked out once


class CodecError(ValueError):
    """A button id that cannot be packed: too long, not ASCII, or a field holding the separator."""


def to_base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


@lru_cache(maxsize=4096)
def version_tag(version: int) -> str:
    """The prefix of a step's button ids: "v" and the state version in base 36 ("v1k")."""
    return "v" + to_base36(version)


def _checked(button_id: str) -> str:
    # An ASCII string has as many bytes as characters: no need to encode it to count them.
    if not button_id.isascii() or len(button_id) > MAX_BYTES:
        raise CodecError(f"button id must be ASCII of at most {MAX_BYTES} bytes: {button_id!r}")
    return button_id


@dataclass(frozen=True)
class Code:
    """A menu button's codec. Subclasses set `prefix` and declare their fields (int or str, the
    last one may be optional with a default: ids packed before the field existed still parse)."""

    prefix: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[Code]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("prefix"):
            if cls.prefix.count(".") > 1:
                raise TypeError(f"a codec's prefix has one or two words: {cls.prefix!r}")
            if cls.prefix in Code._registry:
                raise TypeError(f"two codecs share the prefix {cls.prefix!r}")
            Code._registry[cls.prefix] = cls

    def pack(self) -> str:
        return _checked(self._joined())

    def _joined(self) -> str:
        """The id, its fields checked but not yet its length (`pack` and `Button` check that)."""
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(item.name for item in dataclasses.fields(self))
        if not names:  # a codec without fields always packs as its prefix
            return f"{MENU}.{self.prefix}"
        parts = [MENU, self.prefix]
        for name in names:
            value = str(getattr(self, name))
            if "." in value or not value.isascii():
                raise CodecError(f"{type(self).__name__}.{name} cannot hold {value!r}")
            parts.append(value)
        return ".".join(parts)

    def button(self, label: str) -> Button:
        try:
            return Button(self._joined(), label)  # Button checks the length and ASCII, once
        except ValueError as error:
            if isinstance(error, CodecError):
                raise
            raise CodecError(str(error)) from None

    @classmethod
    def _layout(cls) -> tuple[tuple[str, bool, bool], ...]:
        """(name, is an int, has a default) of each field, worked out once per codec."""
        layout = _LAYOUTS.get(cls)
        if layout is None:
            hints = get_type_hints(cls)
            layout = tuple((item.name, hints[item.name] is int, item.default is not dataclasses.MISSING)
                           for item in dataclasses.fields(cls))
            _LAYOUTS[cls] = layout
        return layout

    @classmethod
    def unpack(cls, button_id: str) -> Self | None:
        """The instance a button id stands for, or None when it is not this codec's (or garbled)."""
        head = f"{MENU}.{cls.prefix}"
        if button_id != head and not button_id.startswith(head + "."):
            return None
        rest = button_id[len(head) + 1 :]
        values = rest.split(".") if rest else []
        layout = cls._layout()
        if len(values) > len(layout):
            return None
        kwargs: dict[str, Any] = {}
        for index, (name, is_int, has_default) in enumerate(layout):
            if index >= len(values):
                if not has_default:
                    return None
                continue
            raw = values[index]
            if is_int:
                if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
                    return None
                kwargs[name] = int(raw)
            else:
                if not raw:
                    return None
                kwargs[name] = raw
        return cls(**kwargs)

    @staticmethod
    def codecs() -> list[type[Code]]:
        return list(Code._registry.values())


def parse(button_id: str) -> Code | None:
    """The menu code a button id stands for (the longest matching prefix wins), or None."""
    if not button_id.startswith(MENU + "."):
        return None
    head = button_id[len(MENU) + 1 :]
    first, _sep, rest = head.partition(".")
    # A prefix is one word ("rv") or two ("sum.c"): the longer one wins.
    second = f"{first}.{rest.partition('.')[0]}" if rest else ""
    codec = Code._registry.get(second) if second else None
    codec = codec or Code._registry.get(first)
    return codec.unpack(button_id) if codec is not None else None


@dataclass(frozen=True, slots=True)
class Step:
    """A step button: the state version it was shown at and the flow's action ("o.3", "send")."""

    version: int
    action: str

    def pack(self) -> str:
        return _checked(Step.id_of(self.version, self.action))

    @staticmethod
    def id_of(version: int, action: str) -> str:
        """What `Step(version, action).pack()` gives, without building the instance and without
        checking the length (every question's buttons are made on each step: `Button` checks)."""
        return f"{version_tag(version)}.{action}"

    @classmethod
    def unpack(cls, button_id: str) -> tuple[str, str] | None:
        """(version tag, action) of a step button id, or None when it is not one."""
        tag, sep, action = button_id.partition(".")
        if not sep or not tag.startswith("v") or tag == MENU:
            return None
        return tag, action


def step_action(name: str, *values: object) -> str:
    """A step button's action with its arguments, "o.3" — the flow reads it back with `action_args`."""
    if not values:
        return name
    return ".".join([name, *map(str, values)])


def action_args(action: str | None, name: str) -> str | None:
    """The argument of a step action named `name` ("o.3" → "3"), or None when it is another action."""
    if action is None:
        return None
    head, sep, rest = action.partition(".")
    return rest if head == name and sep else None


# --- Menu buttons, grouped by what they open. Prefixes are the ids people may still have. ---

@dataclass(frozen=True)
class Menu(Code):
    prefix = "menu"


@dataclass(frozen=True)
class More(Code):
    """The second screen of the main menu ("☰ Thêm…")."""

    prefix = "more"


@dataclass(frozen=True)
class Continue(Code):
    """Go on with the form in progress."""

    prefix = "cont"


@dataclass(frozen=True)
class Leave(Code):
    """Drop the form in progress (after being asked)."""

    prefix = "leave"


@dataclass(frozen=True)
class Help(Code):
    prefix = "help"


@dataclass(frozen=True)
class Language(Code):
    """Choose a language (no field) or switch to one ("m.lang.en")."""

    prefix = "lang"
    code: str = ""


@dataclass(frozen=True)
class Stop(Code):
    """Asks whether to turn off notices and reminders."""

    prefix = "stop"


@dataclass(frozen=True)
class StopConfirmed(Code):
    prefix = "stopok"


@dataclass(frozen=True)
class Resume(Code):
    """"🔔 Nhận tin lại": notices and reminders back on."""

    prefix = "resume"


@dataclass(frozen=True)
class Task(Code):
    prefix = "t"
    key: str


@dataclass(frozen=True)
class OpenForm(Code):
    prefix = "f"
    key: str


@dataclass(frozen=True)
class NilReport(Code):
    """"Nothing happened this month" for a form: asks for the month of the rule (`month` 0) or the
    one chosen (202611); `go` 1 files it, 2 replaces the one already there."""

    prefix = "nil"
    key: str
    month: int = 0
    go: int = 0


@dataclass(frozen=True)
class MonthlyReport(Code):
    """The monthly report for a month (0: the rule's): `go` 0 says which month and asks, 1 opens
    the form, 2 opens it to replace the one already sent."""

    prefix = "mr"
    month: int = 0
    go: int = 0


@dataclass(frozen=True)
class ChooseMonth(Code):
    """"Chọn tháng khác": the open months for the monthly report or a nil report (the form's key)."""

    prefix = "cm"
    form: str


@dataclass(frozen=True)
class FollowUp(Code):
    """A campaign's follow-up: the form with the event's day ("20261122") filled in."""

    prefix = "fu"
    form: str
    day: str


@dataclass(frozen=True)
class MyReports(Code):
    prefix = "my"
    page: int = 0


@dataclass(frozen=True)
class OpenIncidents(Code):
    prefix = "oi"
    page: int = 0


@dataclass(frozen=True)
class NewReports(Code):
    prefix = "nr"
    page: int = 0


@dataclass(frozen=True)
class ViewReport(Code):
    prefix = "rv"
    report: int


@dataclass(frozen=True)
class Acknowledge(Code):
    prefix = "ack"
    report: int


@dataclass(frozen=True)
class SetStatus(Code):
    prefix = "st"
    report: int
    status: str


@dataclass(frozen=True)
class ReturnReport(Code):
    """Asks the official why the report goes back to its sender."""

    prefix = "ret"
    report: int


@dataclass(frozen=True)
class Correct(Code):
    prefix = "fix"
    report: int


@dataclass(frozen=True)
class SummaryStart(Code):
    prefix = "sum"


@dataclass(frozen=True)
class SummaryUnits(Code):
    """The unit and, page by page, the units under it."""

    prefix = "sum.c"
    unit: int
    page: int


@dataclass(frozen=True)
class SummaryPeriods(Code):
    prefix = "sum.u"
    unit: int


@dataclass(frozen=True)
class SummaryShow(Code):
    prefix = "sum.p"
    unit: int
    period: str


@dataclass(frozen=True)
class SummaryDetails(Code):
    """The whole text of a summary, behind its headline: the unit and the period's key ("2026-11")."""

    prefix = "sum.d"
    unit: int
    period: str


@dataclass(frozen=True)
class Digests(Code):
    """An official's scheduled digests: the list, or one of them toggled."""

    prefix = "dg"
    toggle: str = ""


@dataclass(frozen=True)
class Campaigns(Code):
    prefix = "cp"


@dataclass(frozen=True)
class CampaignView(Code):
    prefix = "cv"
    campaign: int


@dataclass(frozen=True)
class CampaignToggle(Code):
    """Pause or resume a campaign."""

    prefix = "cps"
    campaign: int


@dataclass(frozen=True)
class CampaignEnd(Code):
    prefix = "cpe"
    campaign: int


@dataclass(frozen=True)
class CampaignNew(Code):
    prefix = "cpn"


@dataclass(frozen=True)
class CampaignRetime(Code):
    prefix = "cpt"
    campaign: int


@dataclass(frozen=True)
class NewNotice(Code):
    prefix = "nw"


@dataclass(frozen=True)
class SentNotices(Code):
    prefix = "ns"


@dataclass(frozen=True)
class NoticeReport(Code):
    """One notice's delivery report."""

    prefix = "nd"
    notice: int


@dataclass(frozen=True)
class RecentNotices(Code):
    prefix = "nt"


@dataclass(frozen=True)
class InviteResidents(Code):
    prefix = "inv"


@dataclass(frozen=True)
class GroupCodes(Code):
    """A leader's list of the group's invite codes, each to renew or revoke."""

    prefix = "ic"


@dataclass(frozen=True)
class RevokeCode(Code):
    """Revoke one of the group's invite codes: asks first; `sure` = 1 is the confirming tap."""

    prefix = "icr"
    invite: int
    sure: int = 0


@dataclass(frozen=True)
class RenewCode(Code):
    """Renew a group's code for residents: it works `limits.resident_code_days` from today."""

    prefix = "icn"
    invite: int


@dataclass(frozen=True)
class Officials(Code):
    """An official of a higher unit: the units under theirs (unit = 0), or one unit's officials."""

    prefix = "ofl"
    unit: int = 0


@dataclass(frozen=True)
class OfficialDuties(Code):
    """One official of a unit and the duties to grant or remove."""

    prefix = "ofd"
    unit: int
    person: int


@dataclass(frozen=True)
class SetDuty(Code):
    """Grant (grant = 1) or remove a duty of an official: asks first; `sure` = 1 confirms."""

    prefix = "ofs"
    unit: int
    person: int
    duty: str
    grant: int
    sure: int = 0


@dataclass(frozen=True)
class NewFeedback(Code):
    prefix = "fb"


@dataclass(frozen=True)
class OpenFeedback(Code):
    """A leader's list of the group's feedback not yet passed on or closed."""

    prefix = "fo"


@dataclass(frozen=True)
class FeedbackView(Code):
    prefix = "fv"
    feedback: int


@dataclass(frozen=True)
class AnswerFeedback(Code):
    prefix = "fa"
    feedback: int


@dataclass(frozen=True)
class PassFeedback(Code):
    """Pass a resident's feedback to the ward."""

    prefix = "fp"
    feedback: int


@dataclass(frozen=True)
class CloseFeedback(Code):
    """Close a resident's feedback: asks first; `sure` = 1 is the confirming tap."""

    prefix = "fc"
    feedback: int
    sure: int = 0


# --- People's rights over their data (handlers/flows/consent.py, handlers/flows/my_data.py). ---

@dataclass(frozen=True)
class ConsentYes(Code):
    """"✅ Đồng ý" to the privacy notice; `code` is the invite to use then ("" when none)."""

    prefix = "pv.ok"
    code: str = ""


@dataclass(frozen=True)
class ConsentNo(Code):
    prefix = "pv.no"
    code: str = ""


@dataclass(frozen=True)
class MyData(Code):
    """"🔒 Dữ liệu của tôi": what the system holds about this person."""

    prefix = "pv.me"


@dataclass(frozen=True)
class MyDataFile(Code):
    """All of it as a file."""

    prefix = "pv.file"


@dataclass(frozen=True)
class EraseMyData(Code):
    """Delete it: asks first, saying what goes and what stays; `sure` = 1 is the confirming tap."""

    prefix = "pv.del"
    sure: int = 0


@dataclass(frozen=True)
class AccessLog(Code):
    """The audit log of views of personal data in an official's area, page by page."""

    prefix = "pv.log"
    page: int = 0
