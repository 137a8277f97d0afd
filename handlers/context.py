"""What a flow works with: the state it left, the person it talks to, and the outcome it returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.buttons import Step, step_action, version_tag
from handlers.forms import FormRegistry
from handlers.i18n import Translator
from handlers.messages import Button, Delivery, Incoming, Reply
from handlers.ports import Clock, FileStore
from models.repos import HeldRole, Repo, Who
from models.settings import Settings

LEADER_ROLES = ("leader", "deputy")
__all__ = ["LEADER_ROLES", "Context", "Flow", "Outcome", "State", "version_tag"]


@dataclass(slots=True)
class State:
    """Where a person is: a flow, a named step in it, what has been collected, a version."""

    flow: str = ""  # "" means idle, at the main menu
    step: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 0


@dataclass(slots=True)
class Outcome:
    """What a step returns: replies to the user and the next state (None: back to idle).

    Flows never show the main menu themselves: the engine composes the ending of every reply
    (handlers/engine.py, `_compose`). Back at idle, the last reply ends with one short row:
    `next_steps` (the action's natural follow-ups) and "☰ Menu"; `menu` asks for the whole main
    menu under the last reply instead (after registering, going back to the menu).
    """

    replies: list[Reply]
    state: State | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    next_steps: list[Button] = field(default_factory=list)
    menu: bool = False
    # The last reply asks a question at idle whose buttons are the only ways on ([Tắt] [Không]):
    # no "☰ Menu" is added under it.
    question: bool = False

    @property
    def idle(self) -> bool:
        """True when this outcome leaves the person at idle, no flow in progress."""
        return self.state is None or not self.state.flow


@dataclass(slots=True)
class Context:
    """Everything a step may need, built by the engine for one incoming message."""

    who: Who
    t: Translator
    repo: Repo
    settings: Settings
    forms: FormRegistry
    files: FileStore
    clock: Clock
    # The version the state will have once this message is handled: buttons carry it, so a
    # button from an older message is recognised as stale.
    next_version: int
    # A translator for another person's language (messages to officials, to the reporter).
    translate: Callable[[str], Translator]
    # Sessions for long reads (summaries, exports): on SQLite a connection whose queries run on a
    # thread, so that a long summary does not hold the event loop (models/db.py).
    reads: Callable[[], AbstractAsyncContextManager[AsyncSession]] | None = None
    # The message being handled (its channel, user id and address: the invite limiter counts by them).
    msg: Incoming | None = None
    # Set when this message deleted the person's data: their conversation is not saved again.
    erased: bool = False
    _roles: list[HeldRole] | None = None

    @property
    def display_name(self) -> str:
        """The name the messenger gives for the sender: stored only once they agree (flows/consent.py)."""
        return self.msg.display_name if self.msg is not None else ""

    @asynccontextmanager
    async def long_read(self) -> AsyncIterator[Repo]:
        """A repository for a long read that writes nothing, off the event loop where it matters."""
        if self.reads is None:
            yield self.repo
            return
        async with self.reads() as session:
            yield Repo(session)

    @property
    def person_id(self) -> int:
        return self.who.person_id

    async def roles(self) -> list[HeldRole]:
        if self._roles is None:
            self._roles = await self.repo.roles_of(self.person_id)
        return self._roles

    def forget_roles(self) -> None:
        self._roles = None

    async def role_names(self) -> set[str]:
        return {held.role for held in await self.roles()}

    async def leader_roles(self) -> list[HeldRole]:
        return [held for held in await self.roles() if held.role in LEADER_ROLES]

    def button(self, action: str, label: str, *args: object) -> Button:
        """A button that belongs to the question being asked now (a `Step` codec): the flow gets
        `action`, or "action.arg…" when `args` are given, back in `handle`."""
        return Button(Step.id_of(self.next_version, step_action(action, *args) if args else action), label)


class Flow(Protocol):
    """A conversation: `show` asks the current step's question again, `handle` answers a message."""

    name: str

    async def show(self, state: State, ctx: Context) -> list[Reply]: ...

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome: ...
