"""The "📊 Tóm tắt" buttons: an official picks a unit (their own, or one directly under it, page by
page) and a period; a leader gets their own group and picks the period. Then the text, the chart and
the Excel file. Every button carries what it needs (m.sum.…) and is checked when pressed: a forged
id for a unit outside one's area gets a polite refusal."""

from __future__ import annotations

from handlers.context import LEADER_ROLES, Context, Outcome
from handlers.errors import NotAllowed, UserError, button_number
from handlers.i18n import _
from handlers.messages import Button, Reply, rows
from handlers.summaries.periods import Period, containing
from handlers.summaries.summary import may_see_households, record, render, summarize
from models import summary_queries
from models.tables import Unit

ACTION = "sum"
PAGE = 8
# Button code → (period kind, how many periods back, label).
PERIODS = {
    "d": ("day", 0, _("Hôm nay")),
    "w": ("week", 0, _("Tuần này")),
    "m": ("month", 0, _("Tháng này")),
    "pm": ("month", 1, _("Tháng trước")),
    "q": ("quarter", 0, _("Quý này")),
    "y": ("year", 0, _("Năm nay")),
}
OUTSIDE = _("Đơn vị này không thuộc địa bàn của bạn.")


async def action(ctx: Context, rest: str) -> Outcome:
    """Answers the buttons m.sum, m.sum.c.<unit>.<page>, m.sum.u.<unit> and m.sum.p.<unit>.<period>."""
    parts = rest.split(".") if rest else []
    if not parts:
        return Outcome(await start(ctx), None)
    if parts[0] == "c" and len(parts) == 3:
        return Outcome(await choose_unit(ctx, button_number(parts[1]), button_number(parts[2])), None)
    if parts[0] == "u" and len(parts) == 2:
        return Outcome(await choose_period(ctx, button_number(parts[1])), None)
    if parts[0] == "p" and len(parts) == 3 and parts[2] in PERIODS:
        return Outcome(await show(ctx, button_number(parts[1]), parts[2]), None)
    raise UserError(_("Nút này không hợp lệ."))


async def start(ctx: Context) -> list[Reply]:
    """Officials choose among their units; a leader goes straight to the periods of their group."""
    roles = await ctx.roles()
    officials = [held for held in roles if held.role == "official"]
    if len(officials) == 1:
        return await choose_unit(ctx, officials[0].unit.id, 0)
    if officials:
        buttons = [ctx.menu_button(f"{ACTION}.c.{held.unit.id}.0", held.unit.name) for held in officials]
        buttons.append(ctx.menu_button("menu", ctx.t("⬅️ Menu chính")))
        return [Reply(ctx.t("📊 Tóm tắt — chọn đơn vị:"), rows(buttons))]
    leaders = [held for held in roles if held.role in LEADER_ROLES]
    if leaders:
        return await choose_period(ctx, leaders[0].unit.id)
    raise NotAllowed()


async def _unit(ctx: Context, unit_id: int, *, to_list: bool = False) -> Unit:
    """The unit, if this person may summarise it: an official's unit or one under it, a leader's
    own group (leaders do not list units)."""
    unit = await ctx.repo.unit(unit_id)
    roles = await ctx.roles()
    if not roles or not any(held.role == "official" or held.role in LEADER_ROLES for held in roles):
        raise NotAllowed()
    if unit is None:
        raise NotAllowed(OUTSIDE)
    official = any(held.role == "official" and held.covers(unit.path) for held in roles)
    leader = any(held.role in LEADER_ROLES and held.unit.id == unit.id for held in roles)
    if not (official or (leader and not to_list)):
        raise NotAllowed(OUTSIDE)
    return unit


async def choose_unit(ctx: Context, unit_id: int, page: int) -> list[Reply]:
    """The unit itself and, page by page, the units directly under it."""
    t = ctx.t
    unit = await _unit(ctx, unit_id, to_list=True)
    children = await summary_queries.children_of(ctx.repo.session, unit_id, limit=PAGE + 1, offset=page * PAGE)
    buttons: list[Button] = []
    if page == 0:
        buttons.append(ctx.menu_button(f"{ACTION}.u.{unit_id}", t("📍 {unit} (toàn địa bàn)", unit=unit.name)))
    buttons += [ctx.menu_button(f"{ACTION}.u.{child.id}", child.name) for child in children[:PAGE]]
    nav: list[Button] = []
    if page > 0:
        nav.append(ctx.menu_button(f"{ACTION}.c.{unit_id}.{page - 1}", t("◀️ Trang trước")))
    if len(children) > PAGE:
        nav.append(ctx.menu_button(f"{ACTION}.c.{unit_id}.{page + 1}", t("Trang sau ▶️")))
    nav.append(ctx.menu_button("menu", t("⬅️ Menu chính")))
    text = t("📊 Tóm tắt — chọn đơn vị (trang {page}):", page=page + 1)
    return [Reply(text, (*rows(buttons), tuple(nav)))]


async def choose_period(ctx: Context, unit_id: int) -> list[Reply]:
    """The periods to choose from, and the units under this one for an official."""
    t = ctx.t
    unit = await _unit(ctx, unit_id)
    buttons = [ctx.menu_button(f"{ACTION}.p.{unit_id}.{code}", t(text)) for code, (_k, _b, text) in PERIODS.items()]
    more: list[Button] = []
    roles = await ctx.roles()
    if unit.level != ctx.settings.units.levels[-1] and any(h.role == "official" for h in roles):
        more.append(ctx.menu_button(f"{ACTION}.c.{unit_id}.0", t("📂 Đơn vị trực thuộc")))
        more.append(ctx.menu_button("dg", t("⚙️ Bản tin tự động")))
    more.append(ctx.menu_button("menu", t("⬅️ Menu chính")))
    text = t("📊 Tóm tắt: {unit}\nChọn kỳ:", unit=unit.name)
    return [Reply(text, (*rows(buttons, per_row=2), *rows(more)))]


def period_for(code: str, ctx: Context) -> Period:
    kind, back, _label = PERIODS[code]
    period = containing(kind, ctx.clock.now(), ctx.settings.app.tz)
    for _step in range(back):
        period = period.previous()
    return period


async def show(ctx: Context, unit_id: int, code: str) -> list[Reply]:
    """The summary of the unit for the period: text, chart, Excel file."""
    t = ctx.t
    unit = await _unit(ctx, unit_id)
    roles = await ctx.roles()
    # The queries, the chart and the Excel file first, on the long-read path and in threads, with
    # nothing written yet: other people's answers go on meanwhile. Then the few quick writes.
    async with ctx.long_read() as reads:
        summary = await summarize(reads, unit_path=unit.path, period=period_for(code, ctx), settings=ctx.settings,
                                  now=ctx.clock.now())
        rendered = await render(reads, summary, t=t, files=ctx.files,
                                households=may_see_households(roles, summary.unit))
    nav = rows([ctx.menu_button(f"{ACTION}.u.{unit_id}", t("🔁 Chọn kỳ khác")),
                ctx.menu_button("menu", t("⬅️ Menu chính"))], per_row=2)
    return await record(ctx.repo, rendered, t=t, files=ctx.files, viewer_id=ctx.person_id, buttons=nav)
