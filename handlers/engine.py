"""The conversation engine: one incoming message in, replies out, state saved in the database.

Global commands work at any step: /start [code], /menu, /help, /huy, /lang, and "DỪNG" (/stop),
which beats any flow in progress. Everything else goes to the flow the person is in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context, Flow, Outcome, State, version_tag
from handlers.delivery import outbox
from handlers.errors import NotALeader, NotAllowed, UnknownForm, UserError, button_number
from handlers.flows import campaign, feedback, monthly, notice, people, review, summary
from handlers.flows import form as form_flow
from handlers.flows.menu import help_text, language_choice, main_menu
from handlers.flows.start import register
from handlers.forms import FormRegistry
from handlers.i18n import LANGUAGES, Catalogs, Translator, _
from handlers.messages import Delivery, Incoming, Reply, rows
from handlers.ports import Clock, FileStore
from handlers.text import clean, fold, looks_like_code
from models.faults import platform_fault
from models.repos import Repo, StaleConversation, Who
from models.settings import Settings
from models.sqlite_inloop import RestartTransaction

log = logging.getLogger(__name__)

STOP_WORDS = {"dung", "stop", "dung lai", "huy dang ky"}
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
            review.REASON: review.ReasonFlow(),
            notice.NAME: notice.NoticeFlow(),
            feedback.NAME: feedback.FeedbackFlow(),
            feedback.ANSWER: feedback.AnswerFlow(),
            campaign.NAME: campaign.CampaignFlow(),
        }
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    async def handle(self, msg: Incoming) -> Handled:
        """Handles one message from one user; messages of the same user are handled in order."""
        key = (msg.channel, msg.user_id)
        lock, waiting = self._locks.get(key, (asyncio.Lock(), 0))
        # Count who holds or waits for the lock, so it is forgotten only when nobody does.
        self._locks[key] = (lock, waiting + 1)
        try:
            async with lock:
                for _attempt in range(5):
                    try:
                        async with self.sessions() as session, session.begin():
                            return await self._handle(Repo(session), msg)
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

    async def _handle(self, repo: Repo, msg: Incoming) -> Handled:
        who = await repo.find_who(msg.channel, msg.user_id, update_key=msg.update_key)
        if who is not None and who.handled is not None:  # a re-fetched or replayed update: already done
            return Handled([Reply.from_json(reply) for reply in who.handled], replay=True)
        if who is None:
            language = msg.language if msg.language in LANGUAGES else self.settings.app.language
            who = await repo.create_who(channel=msg.channel, external_id=msg.user_id, chat_id=msg.chat_id,
                                        display_name=msg.display_name, language=language)
        elif who.blocked:  # they wrote to us, so they unblocked the bot
            await repo.set_identity_blocked(who.identity_id, False)
        state = State(who.flow, who.step, dict(who.data or {}), who.version)
        ctx = self._context(who, repo, state)
        try:
            outcome = await self._dispatch(msg, state, ctx)
        except UserError as error:
            outcome = Outcome([Reply(ctx.t(error.message, **error.values)), *await self._show(state, ctx)], state)
        next_state = outcome.state or State()
        shown = [b for reply in outcome.replies for b in reply.flat_buttons]
        # The buttons just shown, in order, with their folded labels: a typed label or a number
        # (Zalo) can then stand for a press.
        next_state.data = {**next_state.data, "_buttons": [[b.id, fold(b.label)] for b in shown][:40]}
        await repo.save_conversation(who.identity_id, flow=next_state.flow, step=next_state.step,
                                     data=next_state.data, expected_version=state.version)
        if outcome.deliveries:  # in this transaction: they are sent if and only if it commits
            await outbox.enqueue(repo, outcome.deliveries, now=self.clock.now(), settings=self.settings)
        if msg.update_key is not None:  # in this transaction: recorded if and only if the effects are
            await repo.record_update(msg.channel, msg.update_key, [reply.to_json() for reply in outcome.replies],
                                     now=self.clock.now())
        return Handled(outcome.replies, outcome.deliveries, who.person_id)

    def _context(self, who: Who, repo: Repo, state: State) -> Context:
        t = self.translator(who.language)
        return Context(who=who, t=t, repo=repo, settings=self.settings, forms=self.forms, files=self.files,
                       clock=self.clock, next_version=state.version + 1, translate=self.translator,
                       reads=self.reads)

    def translator(self, language: str) -> Translator:
        return self.catalogs.translator(language, self.settings.app.tz)

    async def _show(self, state: State, ctx: Context) -> list[Reply]:
        flow = self.flows.get(state.flow)
        if flow is None:
            return await main_menu(ctx)
        try:
            return await flow.show(state, ctx)
        except UserError as error:
            return [Reply(ctx.t(error.message, **error.values))]

    async def _dispatch(self, msg: Incoming, state: State, ctx: Context) -> Outcome:
        t = ctx.t
        text = clean(msg.text) if msg.text is not None else None
        folded = fold(text) if text else ""
        if msg.command == "stop" or folded in STOP_WORDS:
            return await self._stop(ctx)
        if ctx.who.opted_out and (folded in RESUME_WORDS or (msg.command == "start" and not msg.argument)):
            await ctx.repo.set_person(ctx.person_id, opted_out=False)
            ctx.who.opted_out = False
            menu = await main_menu(ctx, intro=t("Bạn sẽ nhận lại thông báo từ tổ và phường. Chào mừng trở lại!"))
            return Outcome(menu, None)
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
            if msg.kind == "empty":
                return Outcome([Reply(t("Tôi chưa đọc được tin nhắn này.")), *await flow.show(state, ctx)], state)
            if text is not None and not text:
                return Outcome([Reply(t("Tin nhắn đang trống. Hãy gõ nội dung.")), *await flow.show(state, ctx)],
                               state)
            return await flow.handle(msg, state, ctx, None)
        return await self._idle(msg, text, state, ctx)

    def _button_named(self, text: str, state: State) -> str | None:
        """The id of a button just shown whose label the user typed (Zalo, reply keyboards)."""
        folded = fold(text)
        if not folded:
            return None
        for button_id, folded_label in state.data.get("_buttons", []):
            if folded_label == folded:
                return str(button_id)
        return None

    async def _stop(self, ctx: Context) -> Outcome:
        await ctx.repo.set_person(ctx.person_id, opted_out=True)
        await ctx.repo.audit(person_id=ctx.person_id, action="opt_out")
        text = ctx.t("Bạn đã dừng nhận mọi tin nhắn từ Tổ trưởng. Khi muốn nhận lại, gõ BẮT ĐẦU.")
        return Outcome([Reply(text)], None)

    async def _command(self, msg: Incoming, state: State, ctx: Context) -> Outcome:
        t = ctx.t
        command = (msg.command or "").lower()
        in_flow = state.flow in self.flows
        if command == "start":
            if msg.argument:
                replies = await register(msg.argument, ctx) or []
                if in_flow:
                    return Outcome([*replies, *await self._leave_prompt(state, ctx)], state)
                return Outcome(replies, None)
            if in_flow:
                return Outcome(await self._leave_prompt(state, ctx), state)
            return Outcome(await main_menu(ctx), None)
        if command == "menu":
            if in_flow:
                return Outcome(await self._leave_prompt(state, ctx), state)
            return Outcome(await main_menu(ctx), None)
        if command == "help":
            return Outcome([await help_text(ctx), *(await self._show(state, ctx) if in_flow else [])], state)
        if command in CANCEL_COMMANDS:
            intro = t("Đã hủy việc đang làm. Không có gì được gửi.") if in_flow else None
            return Outcome(await main_menu(ctx, intro=intro), None)
        if command in ("lang", "language", "ngonngu"):
            if msg.argument in LANGUAGES:
                return await self._set_language(msg.argument, state, ctx)
            return Outcome([language_choice(ctx)], state)
        unknown = t("Không có lệnh /{command}. Gõ /help để xem hướng dẫn.", command=command[:30])
        return Outcome([Reply(unknown), *(await self._show(state, ctx) if in_flow else [])], state)

    async def _set_language(self, language: str, state: State, ctx: Context) -> Outcome:
        await ctx.repo.set_person(ctx.person_id, language=language)
        ctx.who.language = language
        ctx.t = self.translator(language)
        done = Reply(ctx.t("Đã chuyển sang tiếng Việt.") if language == "vi" else ctx.t("Đã chuyển sang tiếng Anh."))
        return Outcome([done, *await self._show(state, ctx)], state)

    async def _leave_prompt(self, state: State, ctx: Context) -> list[Reply]:
        t = ctx.t
        form = self.forms.get(str(state.data.get("form", "")))
        if form is not None:
            text = t("Bạn đang điền dở «{title}». Bạn muốn tiếp tục hay bỏ?", title=t(form.title))
        else:
            text = t("Bạn đang làm dở một việc. Bạn muốn tiếp tục hay bỏ?")
        buttons = [ctx.menu_button("cont", t("▶️ Tiếp tục điền")), ctx.menu_button("leave", t("🗑 Bỏ, về menu chính"))]
        return [Reply(text, rows(buttons))]

    async def _button(self, msg: Incoming, button: str, state: State, ctx: Context) -> Outcome:
        t = ctx.t
        prefix, _sep, action = button.partition(".")
        if prefix == "m":
            return await self._menu_action(action, state, ctx)
        flow = self.flows.get(state.flow)
        if flow is None or prefix != version_tag(state.version):
            if action == "send" and state.data.get("sent"):
                note = t("Báo cáo này đã được gửi rồi (mã {code}).", code=state.data["sent"])
            else:
                note = t("Nút này đã cũ, không dùng được nữa.")
            return Outcome([Reply(note), *await self._show(state, ctx)], state)
        return await flow.handle(msg, state, ctx, action)

    async def _menu_action(self, action: str, state: State, ctx: Context) -> Outcome:
        """A button that works at any time: menu entries and the buttons on reports and incidents."""
        in_flow = state.flow in self.flows
        name, _sep, rest = action.partition(".")
        if action == "cont":
            return Outcome(await self._show(state, ctx), state)
        if action == "leave":
            intro = ctx.t("Đã bỏ biểu mẫu đang điền.") if in_flow else None
            return Outcome(await main_menu(ctx, intro=intro), None)
        if action == "help":
            return Outcome([await help_text(ctx), *(await self._show(state, ctx) if in_flow else [])], state)
        if action == "lang":
            return Outcome([language_choice(ctx)], state)
        if name == "lang" and rest in LANGUAGES:
            return await self._set_language(rest, state, ctx)
        if name in ("ack", "st", "rv", "fp", "fc", "nd", "nt", "inv", "cp", "cv", "cps", "cpe", "dg"):
            # Quick actions: they leave a form in progress where it was.
            outcome = await self._report_action(name, rest, ctx)
            if in_flow:
                return Outcome([*outcome.replies, *await self._show(state, ctx)], state, outcome.deliveries)
            return outcome
        if in_flow:
            return Outcome(await self._leave_prompt(state, ctx), state)
        if action == "menu":
            return Outcome(await main_menu(ctx), None)
        if name == "my":
            return Outcome(await review.my_reports(ctx, button_number(rest or "0")), None)
        if name in ("oi", "nr"):
            return Outcome(await review.official_list(ctx, name, button_number(rest or "0")), None)
        if name == "t":
            return await self._task(rest, ctx)
        if name == "f":
            return await self._open_form(rest, ctx)
        if name == "fix":
            return await review.correct(ctx, button_number(rest))
        if name == "ret":
            return await review.ask_reason(ctx, button_number(rest))
        if name == "nil":
            return Outcome(await monthly.nil_report(ctx, rest), None)
        if name == summary.ACTION:
            return await summary.action(ctx, rest)
        if name == "cpn":
            return await campaign.start_create(ctx)
        if name == "cpt":
            return await campaign.start_retime(ctx, button_number(rest))
        if name == "fu":
            return await self._follow_up(rest, ctx)
        if name == "nw":
            return await notice.start(ctx)
        if name == "ns":
            return Outcome(await people.sent_notices(ctx), None)
        if name == "fb":
            return await feedback.start(ctx)
        if name == "fa":
            return await feedback.ask_answer(ctx, button_number(rest))
        if name == "stop":
            return await self._stop(ctx)
        raise UserError(_("Nút này không hợp lệ."))

    async def _report_action(self, name: str, rest: str, ctx: Context) -> Outcome:
        if name == "dg":
            return Outcome(await people.digest_choices(ctx, rest), None)
        if name == "cp":
            return Outcome(await campaign.listing(ctx), None)
        if name == "cv":
            return Outcome(await campaign.view(ctx, button_number(rest)), None)
        if name == "cps":
            return Outcome(await campaign.toggle(ctx, button_number(rest)), None)
        if name == "cpe":
            return Outcome(await campaign.end(ctx, button_number(rest)), None)
        if name == "fp":
            return await feedback.pass_to_ward(ctx, button_number(rest))
        if name == "fc":
            return await feedback.close(ctx, button_number(rest))
        if name == "nd":
            return Outcome(await people.notice_report(ctx, button_number(rest)), None)
        if name == "nt":
            return Outcome(await people.recent_notices(ctx), None)
        if name == "inv":
            return Outcome(await people.group_code(ctx), None)
        if name == "rv":
            return Outcome(await review.view(ctx, button_number(rest)), None)
        if name == "ack":
            return await review.set_status(ctx, button_number(rest), "received")
        report_id, _sep, status = rest.partition(".")
        return await review.set_status(ctx, button_number(report_id), status)

    async def _task(self, task_key: str, ctx: Context) -> Outcome:
        task = next((task for task in self.settings.tasks if task.key == task_key), None)
        if task is None:
            raise UserError(_("Nút này không hợp lệ."))
        names = await ctx.role_names()
        of_task = [f for f in self.forms.forms.values() if f.task == task_key and not f.urgent and not f.monthly]
        forms = [f for f in of_task if names & set(f.roles)]
        if not of_task:
            raise UserError(_("Chưa có biểu mẫu nào cho nhiệm vụ này."))
        if not forms:
            raise NotALeader() if all(set(f.roles) <= {"leader", "deputy"} for f in of_task) else NotAllowed()
        nil = [f for f in forms if f.nil_report]
        if len(forms) == 1 and not nil:
            return await self._open_form(forms[0].key, ctx)
        buttons = [ctx.menu_button(f"f.{f.key}", ctx.t(f.title)) for f in forms]
        buttons += [ctx.menu_button(f"nil.{f.key}", "✅ " + ctx.t(f.nil_report)) for f in nil]
        buttons.append(ctx.menu_button("menu", ctx.t("⬅️ Quay lại")))
        return Outcome([Reply(f"{task.icon} {ctx.t(task.label)}\n{ctx.t('Chọn loại báo cáo:')}", rows(buttons))],
                       None)

    async def _open_form(self, form_key: str, ctx: Context) -> Outcome:
        form = self.forms.get(form_key)
        if form is None:
            raise UnknownForm()
        allowed = [held for held in await ctx.roles() if held.role in form.roles]
        if not allowed:
            raise NotALeader() if set(form.roles) <= {"leader", "deputy"} else NotAllowed()
        unit_id = allowed[0].unit.id or 0
        if form.monthly:
            answers, intro = await monthly.proposal(form, ctx, unit_id)
            return await form_flow.start(form, ctx, unit_id=unit_id, answers=answers, intro=intro)
        return await form_flow.start(form, ctx, unit_id=unit_id)

    async def _follow_up(self, rest: str, ctx: Context) -> Outcome:
        """A campaign's follow-up button: the matching form with the event's date filled in."""
        form_key, _sep, day = rest.rpartition(".")
        form = self.forms.get(form_key)
        if form is None or len(day) != 8 or not day.isdigit():
            raise UserError(_("Nút này không hợp lệ."))
        allowed = [held for held in await ctx.roles() if held.role in form.roles]
        if not allowed:
            raise NotALeader()
        date_field = next((f for f in form.fields if f.type == "date"), None)
        if date_field is None:
            return await form_flow.start(form, ctx, unit_id=allowed[0].unit.id or 0)
        answers = {date_field.key: f"{day[:4]}-{day[4:6]}-{day[6:]}"}
        intro = ctx.t("{label}: {date} (đã điền sẵn).", label=ctx.t(date_field.label),
                      date=f"{day[6:]}/{day[4:6]}/{day[:4]}")
        return await form_flow.start(form, ctx, unit_id=allowed[0].unit.id or 0, answers=answers, intro=intro)

    async def _idle(self, msg: Incoming, text: str | None, state: State, ctx: Context) -> Outcome:
        t = ctx.t
        roles = await ctx.roles()
        if text and looks_like_code(text):
            replies = await register(text, ctx, quiet_if_unknown=bool(roles))
            if replies is not None:
                return Outcome(replies, None)
        if not roles:
            return Outcome(await main_menu(ctx), None)
        if msg.photo is not None or msg.location is not None:
            note = t("Tôi đã nhận được, nhưng bạn chưa mở báo cáo nào. Hãy chọn một mục trong menu trước.")
        else:
            note = t("Bạn muốn làm gì? Chọn một mục bên dưới.")
        return Outcome(await main_menu(ctx, intro=note), None)
