"""Free text is not lost: a resident who types a message outside any flow is asked whether to send
it to the group's leader as feedback. [Gửi] sends it as it is, [Sửa] opens the feedback form with
the text as its draft, [Không] drops it. The feedback flow (handlers/flows/feedback.py) does the
sending: this flow only starts it through its entry, with the text prefilled."""

from __future__ import annotations

from handlers.context import Context, Outcome, State
from handlers.flows import feedback
from handlers.messages import Incoming, Reply
from handlers.text import clean

NAME = "draft"
PREVIEW = 300


def worth_keeping(text: str) -> bool:
    """A message that reads like a complaint rather than a greeting ("xin chào", "cảm ơn"): three
    words or more and at least a dozen characters."""
    return len(text.split()) >= 3 and len(text) >= 12


async def offer(text: str, ctx: Context) -> Outcome:
    state = State(NAME, "ask", {"text": text[: feedback.MAX_CHARS]})
    return Outcome(await DraftFlow().show(state, ctx), state)


class DraftFlow:
    name = NAME

    async def show(self, state: State, ctx: Context) -> list[Reply]:
        t = ctx.t
        text = str(state.data["text"])
        quoted = text if len(text) <= PREVIEW else text[: PREVIEW - 1].rsplit(" ", 1)[0] + "…"
        question = t("Gửi nội dung này cho tổ trưởng như một phản ánh?")
        buttons = ((ctx.button("send", t("✅ Gửi")), ctx.button("edit", t("✏️ Sửa")), ctx.button("no", t("Không"))),)
        return [Reply(f"«{quoted}»\n\n{question}", buttons)]

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
        text = str(state.data["text"])
        if action == "no":
            return Outcome([Reply(ctx.t("Được, chưa gửi gì cho tổ trưởng."))])
        if action in ("send", "edit"):
            started = await feedback.start(ctx, text=text)
            if action == "edit" or started.state is None:
                return started
            return await feedback.WIZARD.handle(msg, started.state, ctx, "send")
        typed = clean(msg.text or "")
        if typed:  # more of the same message: kept together
            state.data["text"] = f"{text}\n{typed}"[: feedback.MAX_CHARS]
        return Outcome(await self.show(state, ctx), state)
