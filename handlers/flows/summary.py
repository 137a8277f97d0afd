"""The "📊 Tóm tắt" buttons: an official picks a unit (their own, or one directly under it, page by
page) and a period; a leader gets their own group and picks the period. Then the text, the chart and
the Excel file. Every button carries what it needs (the Summary… codecs of handlers/buttons.py) and
is checked when pressed: a forged id for a unit outside one's area gets a polite refusal."""

from __future__ import annotations

from handlers import buttons as b
from handlers.context import LEADER_ROLES, Context, Outcome
from handlers.errors import NotAllowed, UserError
from handlers.i18n import _
from handlers.messages import Button, Reply, rows
from handlers.summaries.periods import Period, containing, parse
from handlers.summaries.summary import may_see_households, record, render, render_text, summarize
from models.tables import Unit

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


async def action_start(ctx: Context) -> Outcome:
    return Outcome(await start(ctx))


async def start(ctx: Context) -> list[Reply]:
    """Officials choose among their units; a leader goes straight to the periods of their group."""
    roles = await ctx.roles()
    officials = [held for held in roles if held.role == "official"]
    if len(officials) == 1:
        return await choose_unit(ctx, officials[0].unit.id, 0)
    if officials:
        buttons = [b.SummaryUnits(held.unit.id or 0, 0).button(held.unit.name) for held in officials]
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
    children = await ctx.repo.summaries.children_of(unit_id, limit=PAGE + 1, offset=page * PAGE)
    buttons: list[Button] = []
    if page == 0:
        buttons.append(b.SummaryPeriods(unit_id).button(t("📍 {unit} (toàn địa bàn)", unit=unit.name)))
    buttons += [b.SummaryPeriods(child.id or 0).button(child.name) for child in children[:PAGE]]
    nav: list[Button] = []
    if page > 0:
        nav.append(b.SummaryUnits(unit_id, page - 1).button(t("◀️ Trang trước")))
    if len(children) > PAGE:
        nav.append(b.SummaryUnits(unit_id, page + 1).button(t("Trang sau ▶️")))
    text = t("📊 Tóm tắt — chọn đơn vị (trang {page}):", page=page + 1)
    return [Reply(text, (*rows(buttons), *((tuple(nav),) if nav else ())))]


async def choose_period(ctx: Context, unit_id: int) -> list[Reply]:
    """The periods to choose from, and the units under this one for an official."""
    t = ctx.t
    unit = await _unit(ctx, unit_id)
    buttons = [b.SummaryShow(unit_id, code).button(t(text)) for code, (_k, _b, text) in PERIODS.items()]
    more: list[Button] = []
    roles = await ctx.roles()
    if unit.level != ctx.settings.units.levels[-1] and any(h.role == "official" for h in roles):
        more.append(b.SummaryUnits(unit_id, 0).button(t("📂 Đơn vị trực thuộc")))
        more.append(b.Digests().button(t("⚙️ Bản tin tự động")))
    text = t("📊 Tóm tắt: {unit}\nChọn kỳ:", unit=unit.name)
    return [Reply(text, (*rows(buttons, per_row=2), *rows(more)))]


def period_for(code: str, ctx: Context) -> Period:
    kind, back, _label = PERIODS[code]
    period = containing(kind, ctx.clock.now(), ctx.settings.app.tz)
    for _step in range(back):
        period = period.previous()
    return period


async def show(ctx: Context, unit_id: int, code: str) -> list[Reply]:
    """The summary of the unit for the period: the headline, the charts, the Excel file."""
    t = ctx.t
    if code not in PERIODS:
        raise UserError(_("Nút này không hợp lệ."))
    unit = await _unit(ctx, unit_id)
    roles = await ctx.roles()
    # The queries, the chart and the Excel file first, on the long-read path and in threads, with
    # nothing written yet: other people's answers go on meanwhile. Then the few quick writes.
    async with ctx.long_read() as reads:
        summary = await summarize(reads, unit_path=unit.path, period=period_for(code, ctx), settings=ctx.settings,
                                  now=ctx.clock.now())
        rendered = await render(reads, summary, t=t, files=ctx.files,
                                households=may_see_households(roles, summary.unit))
    return await record(ctx.repo, rendered, t=t, files=ctx.files, viewer_id=ctx.person_id, buttons=_nav(ctx, unit_id))


def _nav(ctx: Context, unit_id: int) -> tuple[tuple[Button, ...], ...]:
    t = ctx.t
    return rows([b.SummaryPeriods(unit_id).button(t("🔁 Chọn kỳ khác")), b.Menu().button(t("☰ Menu"))], per_row=2)


async def details(ctx: Context, unit_id: int, key: str) -> list[Reply]:
    """The whole text of a summary (every task, the ranking), behind its headline's [Xem chi tiết]:
    figured again for the same unit and period, so a digest's button still works days later."""
    try:
        period = parse(key, ctx.settings.app.tz)
    except ValueError:
        raise UserError(_("Nút này không hợp lệ.")) from None
    unit = await _unit(ctx, unit_id)
    async with ctx.long_read() as reads:
        summary = await summarize(reads, unit_path=unit.path, period=period, settings=ctx.settings,
                                  now=ctx.clock.now())
    return [Reply(render_text(summary, ctx.t), _nav(ctx, unit_id))]
