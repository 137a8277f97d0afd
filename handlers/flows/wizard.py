"""Wizards as step tables, run by one runner.

A wizard (a notice, a campaign, feedback, the answer to feedback, the reason a report is returned)
is a table of named steps. Each row says how the step asks its question (`ask`) and how it reads
the answer (`read`), which returns the name of the next step, or an `Outcome` when the wizard is
done. Nothing else decides where a person goes: no step names are matched twice in two if-chains.

Step names are saved in the conversation's state (`State.step`), so they are plain strings
(a `StrEnum` per wizard) that stay readable in the database; a saved name that a newer version no
longer has is mapped by the wizard's `renamed` table, or starts the wizard's first step again,
so a person mid-wizard at deploy time goes on.

The runner owns what every wizard shares: the ✖️ Hủy button (asked to confirm when something typed
would be lost) and moving to the next step. Wizards return outcomes; the engine composes the ending
of the reply (handlers/engine.py), so no wizard shows the main menu.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from handlers.context import Context, Outcome, State
from handlers.messages import Button, Incoming, Reply, rows
from handlers.text import clean

CANCEL, DROP, KEEP = "cancel", "drop", "keep"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the person did at a step: the message, the step button pressed (if any), the text typed."""

    msg: Incoming
    action: str | None
    text: str

    def arg(self, prefix: str) -> str | None:
        """The argument of a step button "prefix.arg" ("u.12" → "12"), or None for another button."""
        if self.action and self.action.startswith(prefix + "."):
            return self.action[len(prefix) + 1 :]
        return None

    def number(self, prefix: str) -> int | None:
        value = self.arg(prefix)
        return int(value) if value is not None and value.isdigit() else None


Ask = Callable[[State, Context], Awaitable[list[Reply]]]
Read = Callable[[Answer, State, Context], Awaitable[str | Outcome]]


@dataclass(frozen=True, slots=True)
class Step:
    """One row of a wizard: its name, how it asks, how it reads the answer (→ the next step)."""

    name: str
    ask: Ask
    read: Read


def cancel_button(ctx: Context) -> Button:
    return ctx.button(CANCEL, ctx.t("✖️ Hủy"))


def never(state: State) -> bool:
    return False


@dataclass(slots=True)
class Wizard:
    """Runs a table of steps; it is the `Flow` the engine knows by `name`."""

    name: str
    steps: Sequence[Step]
    cancelled: str  # what is said when the wizard is cancelled (a msgid, marked with _())
    # True when cancelling would lose something typed: the runner asks first.
    progress: Callable[[State], bool] = never
    renamed: Mapping[str, str] = field(default_factory=dict)
    # The next steps offered once cancelled (the report the official was returning…).
    after_cancel: Callable[[State, Context], list[Button]] | None = None
    _table: dict[str, Step] = field(init=False)

    def __post_init__(self) -> None:
        self._table = {step.name: step for step in self.steps}
        assert len(self._table) == len(self.steps), f"{self.name}: two steps share a name"

    def step(self, name: str) -> Step:
        return self._table.get(self.renamed.get(name, name)) or self.steps[0]

    async def show(self, state: State, ctx: Context) -> list[Reply]:
        return await self.step(state.step).ask(state, ctx)

    async def begin(self, step: str, data: Mapping[str, object], ctx: Context, intro: Sequence[Reply] = ()) -> Outcome:
        state = State(self.name, step, dict(data))
        return Outcome([*intro, *await self.show(state, ctx)], state)

    async def goto(self, step: str, state: State, ctx: Context) -> Outcome:
        new = State(self.name, self.step(step).name, state.data, state.version)
        return Outcome(await self.show(new, ctx), new)

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
        t = ctx.t
        if action == CANCEL and self.progress(state):
            question = t("Hủy việc đang làm? Những gì đã nhập sẽ mất.")
            buttons = [ctx.button(DROP, t("🗑 Hủy, bỏ câu trả lời")), ctx.button(KEEP, t("▶️ Tiếp tục"))]
            return Outcome([Reply(question, rows(buttons, per_row=2))], state)
        if action in (CANCEL, DROP):
            steps = self.after_cancel(state, ctx) if self.after_cancel else []
            return Outcome([Reply(t(self.cancelled))], None, next_steps=steps)
        if action == KEEP:
            return Outcome(await self.show(state, ctx), state)
        step = self.step(state.step)
        result = await step.read(Answer(msg, action, clean(msg.text or "")), state, ctx)
        if isinstance(result, Outcome):
            return result
        return await self.goto(result, state, ctx)
