"""The conversation engine: one incoming message in, replies out, state saved in the database.

The path of a message: commands (/start [code], /menu, /help, /huy, /lang, /stop) work at any
step; a pressed button is unpacked by its codec (handlers/buttons.py) and runs its row of the route
table (handlers/routes.py), or, for a step button with the current version tag, goes to the flow
in progress; other input goes to that flow, or, at idle, is read as an invite code or a resident's
complaint. "DỪNG" typed as a whole message stops notices (after asking) except inside a form's
question, where it is an answer. Last, `_compose` ends the reply (next steps and "☰ Menu").
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import buttons as b
from handlers.buttons import version_tag
from handlers.context import Context, Flow, Outcome, State
from handlers.delivery import outbox
from handlers.errors import UserError
from handlers.flows import campaign, consent, draft, feedback, notice, return_reason
from handlers.flows import form as form_flow
from handlers.flows.menu import main_menu, main_menu_buttons
from handlers.flows.start import register
from handlers.forms import FormRegistry
from handlers.i18n import LANGUAGES, Catalogs, Translator, _
from handlers.messages import Delivery, Incoming, Reply, rows
from handlers.ports import Clock, FileStore
from handlers.routes import InForm, route_for
from handlers.text import clean, fold, looks_like_code
from models.faults import platform_fault
from models.repos import Repo, StaleConversation, Who
from models.settings import Settings
from models.sqlite_inloop import RestartTransaction

log = logging.getLogger(__name__)

# Compared with diacritics (see is_stop_word): "dung" without them is also "Dũng" and "đúng".
STOP_WORDS = {"dừng", "stop", "dừng lại", "hủy đăng ký"}
RESUME_WORDS = {"bat dau", "start", "tiep tuc nhan tin"}
CANCEL_COMMANDS = {"huy", "cancel"}
APOLOGY = _("Xin lỗi, hệ thống đang gặp sự cố nên chưa ghi nhận được tin nhắn vừa rồi: chưa có gì được lưu "
             "hay gửi đi. Những gì bạn làm trước đó vẫn còn. Vui lòng thử lại sau ít phút.")
SessionMaker = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(slots=True)
class Handled:
    """The engine's answer to one message: replies to the sender, messages for others."""

    replies: list[Reply]
    deliveries: list[Delivery] = field(default_factory=list)
    person_id: int | None = None
    # Why handling failed and the sender got the apology instead ("" when it did not): a platform
    # fault (models.faults: database_unavailable, disk_full), "conflict" or "error".
    failed: str = ""
    # The update was handled before (its key is recorded): nothing was done again, and `replies`
    # are the ones stored then. The adapter sends them only if it has not sent them itself.
    replay: bool = False
    # The ids of `replies` as stored in the message's own transaction (the channel is one of the
    # caller asked, `keep_replies`): they exist iff the step committed. None: the caller stores them.
    kept: list[int] | None = None
    kept_at: datetime | None = None  # when they were stored (their rows' created_at)


class Engine:
    def __init__(
        self,
        *,
        sessions: SessionMaker,
        settings: Settings,
        forms: FormRegistry,
        catalogs: Catalogs,
        files: FileStore,
        clock: Clock,
        reads: SessionMaker | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads
        self.settings = settings
        self.forms = forms
        self.catalogs = catalogs
        self.files = files
        self.clock = clock
        self.flows: dict[str, Flow] = {
            form_flow.NAME: form_flow.FormFlow(),
            return_reason.NAME: return_reason.WIZARD,
            notice.NAME: notice.WIZARD,
            feedback.NAME: feedback.WIZARD,
            feedback.ANSWER: feedback.ANSWER_WIZARD,
            feedback.PASS: feedback.PASS_WIZARD,
            campaign.NAME: campaign.WIZARD,
            draft.NAME: draft.DraftFlow(),
        }
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    async def handle(self, msg: Incoming, *, keep_replies: bool = False) -> Handled:
        """Handles one message from one user; messages of the same user are handled in order.

        `keep_replies` (the simulator's web route): the replies are stored as the user's simulator
        messages in the message's own transaction (one transaction per step instead of two, and a
        reply is stored iff the step committed); their ids are in `Handled.kept`."""
        key = (msg.channel, msg.user_id)
        lock, waiting = self._locks.get(key, (asyncio.Lock(), 0))
        # Count who holds or waits for the lock, so it is forgotten only when nobody does.
        self._locks[key] = (lock, waiting + 1)
        try:
            async with lock:
                for _attempt in range(5):
                    try:
                        async with self.sessions() as session, session.begin():
                            return await self._handle(Repo(session), msg, keep_replies)
                    except (StaleConversation, RestartTransaction):
                        # Someone saved this conversation, or committed what this transaction had
                        # read (SQLite's busy snapshot), meanwhile: rolled back, so start again.
                        log.info("conversation of %s:%s changed meanwhile; handling again", *key)
                    except IntegrityError:
                        # A unique key taken meanwhile (a report code): everything was rolled back.
                        log.info("unique key clash for %s:%s; handling again", *key)
                return Handled([self._apology(msg)], failed="conflict")
        except Exception as error:
            # Also sqlite_inloop.DatabaseBusy: another process held SQLite's write lock past the
            # bound. Nothing was saved, so the person's form is where it was.
            fault = platform_fault(error)
            if fault:  # an outage, not a bug: one line, no traceback per message
                log.error("could not handle %s from %s:%s: %s (%s)", msg.kind, msg.channel, msg.user_id, fault, error)
            else:
                log.exception("could not handle %s from %s:%s", msg.kind, msg.channel, msg.user_id)
            return Handled([self._apology(msg)], failed=fault or "error")
        finally:
            held, count = self._locks[key]
            if count <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (held, count - 1)

    def _apology(self, msg: Incoming) -> Reply:
        t = self.catalogs.translator(msg.language or self.settings.app.language, self.settings.app.tz)
        # True on every path here: the message's transaction was rolled back (or never began).
        return Reply(t(APOLOGY))

    async def _handle(self, repo: Repo, msg: Incoming, keep_replies: bool = False) -> Handled:
        who = await repo.find_who(msg.channel, msg.user_id, update_key=msg.update_key)
        if who is not None and who.handled is not None:  # a re-fetched or replayed update: already done
            return Handled([Reply.from_json(reply) for reply in who.handled], replay=True)
        if who is None:
            language = msg.language if msg.language in LANGUAGES else self.settings.app.language
            # Until they agree to the privacy notice only the account is stored, not their name.
            named = "" if self.settings.privacy.ask_consent else msg.display_name
            who = await repo.create_who(channel=msg.channel, external_id=msg.user_id, chat_id=msg.chat_id,
                                        display_name=named, language=language)
        elif who.blocked:  # they wrote to us, so they unblocked the bot
            await repo.set_identity_blocked(who.identity_id, False)
        state = State(who.flow, who.step, dict(who.data or {}), who.version)
        ctx = self._context(who, repo, state)
        ctx.msg = msg
        try:
            outcome = await self._dispatch(msg, state, ctx)
        except UserError as error:
            outcome = Outcome([Reply(ctx.t(error.message, **error.values)), *await self._show(state, ctx)], state)
        replies = await self._compose(outcome, ctx)
        outcome.replies = replies  # the flow's own outcome, built for this message
        next_state = outcome.state or State()
        shown = [button for reply in replies for row in reply.buttons for button in row]
        # The buttons just shown, in order, with their folded labels: a typed label or a number
        # (Zalo) can then stand for a press.
        next_state.data = {**next_state.data, "_buttons": [[button.id, fold(button.label)] for button in shown][:40]}
        if not ctx.erased:  # a person who deleted their data has no conversation left to save
            await repo.save_conversation(who.identity_id, flow=next_state.flow, step=next_state.step,
                                         data=next_state.data, expected_version=state.version)
        if outcome.deliveries:  # in this transaction: they are sent if and only if it commits
            await outbox.enqueue(repo, outcome.deliveries, now=self.clock.now(), settings=self.settings)
        if msg.update_key is not None:  # in this transaction: recorded if and only if the effects are
            await repo.record_update(msg.channel, msg.update_key, [reply.to_json() for reply in outcome.replies],
                                     now=self.clock.now())
        if not keep_replies:
            return Handled(outcome.replies, outcome.deliveries, who.person_id)
        at = self.clock.now()
        kept = await repo.store_sim_messages(msg.user_id, [reply.to_json() for reply in outcome.replies],
                                             at) if outcome.replies else []
        return Handled(outcome.replies, outcome.deliveries, who.person_id, kept=kept, kept_at=at)

    def _context(self, who: Who, repo: Repo, state: State) -> Context:
        t = self.translator(who.language)
        return Context(who=who, t=t, repo=repo, settings=self.settings, forms=self.forms, files=self.files,
                       clock=self.clock, next_version=state.version + 1, translate=self.translator,
                       reads=self.reads)

    def translator(self, language: str) -> Translator:
        return self.catalogs.translator(language, self.settings.app.tz)

    async def _show(self, state: State, ctx: Context) -> list[Reply]:
        """The question of the flow in progress again (nothing at idle: the ending offers the menu)."""
        flow = self.flows.get(state.flow)
        if flow is None:
            return []
        try:
            return await flow.show(state, ctx)
        except UserError as error:
            return [Reply(ctx.t(error.message, **error.values))]

    async def _dispatch(self, msg: Incoming, state: State, ctx: Context) -> Outcome:
        text = clean(msg.text) if msg.text is not None else None
        in_flow = self._in_flow(state)
        if msg.command == "stop" or (not in_flow and text is not None and is_stop_word(text)):
            # Typed in a form's question, "DỪNG" is an answer; /stop is a command anywhere.
            return await self._route(b.Stop(), state, ctx)
        if ctx.who.opted_out and ((not in_flow and text is not None and is_resume_word(text))
                                  or (msg.command == "start" and not msg.argument)):
            return await self._route(b.Resume(), state, ctx)
        if consent.needed(ctx) and not self._about_consent(msg, text, state) and await ctx.roles():
            # There before the notice existed: asked once, before anything else, with the same notice.
            return consent.ask(ctx, state=state if state.flow else None)
        if msg.command is not None:
            return await self._command(msg, state, ctx)
        if msg.button is not None:
            return await self._button(msg, msg.button, state, ctx)
        if text is not None:
            pressed = self._button_named(text, state)
            if pressed:
                return await self._button(msg, pressed, state, ctx)
        flow = self.flows.get(state.flow)
        if flow is not None:
            t = ctx.t
            if msg.kind == "empty":
                return Outcome([Reply(t("Tôi chưa đọc được tin nhắn này.")), *await flow.show(state, ctx)], state)
            if text is not None and not text:
                return Outcome([Reply(t("Tin nhắn đang trống. Hãy gõ nội dung.")), *await flow.show(state, ctx)],
                               state)
            return await flow.handle(msg, state, ctx, None)
        return await self._idle(msg, text, state, ctx)

    def _in_flow(self, state: State) -> bool:
        """True in a flow that a menu entry or command must not drop without asking. The offer to
        send typed text as feedback is only a question: anything else simply replaces it."""
        return state.flow in self.flows and state.flow != draft.NAME

    def _about_consent(self, msg: Incoming, text: str | None, state: State) -> bool:
        """True for what works before agreeing: the notice's answers, one's own data (to see or
        delete it), help and the language."""
        if msg.command in ("dulieu", "help", "lang"):
            return True
        pressed = msg.button or (self._button_named(text, state) if text else None)
        return isinstance(b.parse(pressed or ""), (b.ConsentYes, b.ConsentNo, b.MyData, b.MyDataFile, b.EraseMyData,
                                                     b.Help, b.Language))

    def _button_named(self, text: str, state: State) -> str | None:
        """The id of a button just shown whose label the user typed (Zalo, reply keyboards)."""
        folded = fold(text)
        if not folded:
            return None
        for button_id, folded_label in state.data.get("_buttons", []):
            if folded_label == folded:
                return str(button_id)
        return None

    async def _command(self, msg: Incoming, state: State, ctx: Context) -> Outcome:
        t = ctx.t
        command = (msg.command or "").lower()
        in_flow = self._in_flow(state)
        if command == "start":
            if msg.argument:
                registered = await register(msg.argument, ctx) or Outcome([])
                if in_flow:
                    return Outcome([*registered.replies, *await self._leave_prompt(state, ctx)], state)
                return registered
            if in_flow:
                return Outcome(await self._leave_prompt(state, ctx), state)
            return Outcome([], menu=True)
        if command == "menu":
            if in_flow:
                return Outcome(await self._leave_prompt(state, ctx), state)
            return Outcome([], menu=True)
        if command == "help":
            return await self._route(b.Help(), state, ctx)
        if command in ("dulieu", "mydata"):
            return await self._route(b.MyData(), state, ctx)
        if command in CANCEL_COMMANDS:
            if in_flow and has_progress(state):  # answers would be lost: ask first
                return Outcome(await self._leave_prompt(state, ctx, cancel=True), state)
            intro = t("Đã hủy việc đang làm. Không có gì được gửi.") if in_flow else None
            return Outcome([Reply(intro)] if intro else [], menu=True)
        if command in ("lang", "language", "ngonngu"):
            return await self._route(b.Language(msg.argument if msg.argument in LANGUAGES else ""), state, ctx)
        unknown = t("Không có lệnh /{command}. Gõ /help để xem hướng dẫn.", command=command[:30])
        return Outcome([Reply(unknown), *(await self._show(state, ctx) if in_flow else [])], state if in_flow else None)

    async def _leave_prompt(self, state: State, ctx: Context, *, cancel: bool = False) -> list[Reply]:
        """Asks whether to go on with the form in progress or drop it."""
        t = ctx.t
        form = self.forms.get(str(state.data.get("form", ""))) if state.flow == form_flow.NAME else None
        if cancel:
            text = t("Hủy «{title}»? Các câu đã trả lời sẽ mất.", title=t(form.title)) if form else \
                t("Hủy việc đang làm? Những gì đã nhập sẽ mất.")
            drop = t("🗑 Hủy, bỏ câu trả lời")
        elif form is not None:
            text = t("Bạn đang điền dở «{title}». Bạn muốn tiếp tục hay bỏ?", title=t(form.title))
            drop = t("🗑 Bỏ, về menu chính")
        else:
            text = t("Bạn đang làm dở một việc. Bạn muốn tiếp tục hay bỏ?")
            drop = t("🗑 Bỏ, về menu chính")
        return [Reply(text, rows([b.Continue().button(t("▶️ Tiếp tục điền")), b.Leave().button(drop)]))]

    async def _button(self, msg: Incoming, button: str, state: State, ctx: Context) -> Outcome:
        code = b.parse(button)
        if code is not None:
            return await self._route(code, state, ctx)
        if button.startswith(b.MENU + "."):
            raise UserError(_("Nút này không hợp lệ."))
        step = b.Step.unpack(button)
        flow = self.flows.get(state.flow)
        if flow is None or step is None or step[0] != version_tag(state.version):
            if step is not None and step[1] == "send" and state.data.get("sent"):
                note = ctx.t("Báo cáo này đã được gửi rồi (mã {code}).", code=state.data["sent"])
            else:
                note = ctx.t("Nút này đã cũ, không dùng được nữa.")
            return Outcome([Reply(note), *await self._show(state, ctx)], state)
        return await flow.handle(msg, state, ctx, step[1])

    async def _route(self, code: b.Code, state: State, ctx: Context) -> Outcome:
        """Runs the route table's row for a menu code (handlers/routes.py)."""
        route = route_for(code)
        if route is None:
            raise UserError(_("Nút này không hợp lệ."))
        await route.check(ctx)
        in_flow = self._in_flow(state)
        if in_flow and route.in_form is InForm.IDLE:
            return Outcome(await self._leave_prompt(state, ctx), state)
        outcome = await route.handler(code, ctx)
        if in_flow and route.in_form is InForm.KEEP and outcome.idle:
            return Outcome([*outcome.replies, *await self._show(state, ctx)], state, outcome.deliveries)
        if in_flow and route.in_form is InForm.DROP:
            note = ctx.t("Đã hủy, báo cáo chưa được gửi.") if state.flow == form_flow.NAME else \
                ctx.t("Đã bỏ việc đang làm, chưa có gì được gửi.")
            return Outcome([Reply(note), *outcome.replies], None, outcome.deliveries, menu=True)
        return outcome

    async def _compose(self, outcome: Outcome, ctx: Context) -> list[Reply]:
        """The ending of every reply. Back at idle, the last reply ends with one short row: the
        action's next steps and "☰ Menu"; or, when the outcome asks for it (or says nothing), the
        main menu. In a flow the question's own buttons end it. Someone without a role gets no
        buttons: they have only an invite code to type."""
        replies = list(outcome.replies)
        if not outcome.idle or not await ctx.roles():
            if not replies:
                replies = await main_menu(ctx) if outcome.idle else await self._show(outcome.state or State(), ctx)
            return replies
        if outcome.menu or not replies:
            buttons = await main_menu_buttons(ctx)
            if replies and not replies[-1].buttons and not replies[-1].document_id:
                replies[-1] = replies[-1].with_buttons(buttons)
            else:
                replies += await main_menu(ctx)
            return replies
        last = replies[-1]
        menu_id = b.Menu().pack()
        if outcome.question or any(button.id == menu_id for button in last.flat_buttons):
            return replies
        shown = {button.id for button in last.flat_buttons}
        steps = [button for button in outcome.next_steps if button.id not in shown][:3]
        ending = (*steps, b.Menu().button(ctx.t("☰ Menu")))
        replies[-1] = last.with_buttons((*last.buttons, ending))
        return replies

    async def _idle(self, msg: Incoming, text: str | None, state: State, ctx: Context) -> Outcome:
        t = ctx.t
        roles = await ctx.roles()
        if text and looks_like_code(text):
            registered = await register(text, ctx, quiet_if_unknown=bool(roles))
            if registered is not None:
                return registered
        if not roles:
            return Outcome([], menu=True)
        if text and draft.worth_keeping(text) and any(held.role == "resident" for held in roles):
            return await draft.offer(text, ctx)  # a complaint typed outside a form is not lost
        if msg.photo is not None or msg.location is not None:
            note = t("Tôi đã nhận được, nhưng bạn chưa mở báo cáo nào. Hãy chọn một mục trong menu trước.")
        else:
            note = t("Bạn muốn làm gì? Chọn một mục bên dưới.")
        return Outcome([Reply(note)], menu=True)


def is_stop_word(text: str) -> bool:
    """The whole message "DỪNG" (with its diacritics: "dung" may be "Dũng" or "đúng"), "STOP" or
    "dừng lại", in any case. Compared after Unicode normalisation, never after folding."""
    return _normal(text) in STOP_WORDS


def is_resume_word(text: str) -> bool:
    """"BẮT ĐẦU" (with or without diacritics: nothing else folds to it) or "START"."""
    return fold(text) in RESUME_WORDS


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().strip(" .!").split())


def has_progress(state: State) -> bool:
    """True when dropping the flow would lose something the person typed or chose."""
    data = state.data
    return bool(data.get("ans") or data.get("text") or data.get("photo") or data.get("trail") or data.get("long"))
