"""Duties granted in chat: an official of a higher unit (the city for its wards) opens
«🛡️ Phân công cán bộ», picks a unit and one of its officials, and grants or removes a duty
(`on_duty`: receives the unit's urgent incidents; `social`: may see household-level poverty data).
Every change asks first, is audited (models/duties.py) and told to the official concerned."""

from __future__ import annotations

from handlers import buttons as b
from handlers.context import Context, Outcome
from handlers.errors import NotAllowed, UserError
from handlers.i18n import _
from handlers.messages import Delivery, Reply, rows
from models.duties import DUTIES, OfficialDuties
from models.roles import HeldRole
from models.tables import Unit

DUTY_LABELS = {"on_duty": _("trực tin khẩn"), "social": _("văn hóa - xã hội")}
GRANTED = {
    "on_duty": _("Từ nay bạn nhận tin khẩn của {unit} và xử lý chúng."),
    "social": _("Từ nay bạn xem được dữ liệu giảm nghèo từng hộ của {unit}; mỗi lần xem đều được ghi lại."),
}


def may_assign(held: HeldRole, levels: list[str]) -> bool:
    """True for an official whose unit has units with officials below it (not a ward's or a group's)."""
    return held.role == "official" and held.unit.level not in levels[-2:]


async def _assigner_roles(ctx: Context) -> list[HeldRole]:
    found = [held for held in await ctx.roles() if held.role == "official"]
    if not found:
        raise NotAllowed()
    return found


async def _unit_below(ctx: Context, unit_id: int) -> Unit:
    """A unit strictly under one of the person's official units, or a refusal."""
    unit = await ctx.repo.unit(unit_id)
    held = await _assigner_roles(ctx)
    if unit is None or not any(h.covers(unit.path) and h.unit.path != unit.path for h in held):
        raise NotAllowed(_("Đơn vị này không thuộc địa bàn bạn phân công được."))
    return unit


async def _official(ctx: Context, unit: Unit, person_id: int) -> OfficialDuties:
    found = next((o for o in await ctx.repo.unit_officials(unit.id or 0) if o.person_id == person_id), None)
    if found is None:
        raise UserError(_("Không tìm thấy cán bộ này ở {unit}."), unit=unit.name)
    return found


def _duties_text(ctx: Context, duties: tuple[str, ...]) -> str:
    return ", ".join(ctx.t(DUTY_LABELS[d]) for d in duties) if duties else ctx.t("chưa có nhiệm vụ")


async def units(ctx: Context, unit_id: int) -> Outcome:
    """The units below mine that have officials (unit_id = 0), or the officials of one of them."""
    t = ctx.t
    if unit_id:
        unit = await _unit_below(ctx, unit_id)
        officials = await ctx.repo.unit_officials(unit_id)
        if not officials:
            return Outcome([Reply(t("{unit} chưa có cán bộ nào.", unit=unit.name))])
        buttons = [b.OfficialDuties(unit_id, o.person_id).button(f"{o.name} — {_duties_text(ctx, o.duties)}")
                   for o in officials]
        return Outcome([Reply(t("👮 Cán bộ của {unit}. Bấm để giao hoặc bỏ nhiệm vụ:", unit=unit.name),
                              rows(buttons))])
    found: dict[int, Unit] = {}
    for held in await _assigner_roles(ctx):
        for unit in await ctx.repo.units_with_officials_under(held.unit.path):
            found[unit.id or 0] = unit
    if not found:
        return Outcome([Reply(t("Chưa có đơn vị nào dưới địa bàn của bạn có cán bộ trên hệ thống."))])
    buttons = [b.Officials(unit.id or 0).button(unit.name) for unit in found.values()]
    return Outcome([Reply(t("🛡️ Phân công cán bộ. Chọn đơn vị:"), rows(buttons, per_row=2))])


async def official(ctx: Context, unit_id: int, person_id: int) -> Outcome:
    """One official's duties, each with the button that grants or removes it."""
    t = ctx.t
    unit = await _unit_below(ctx, unit_id)
    found = await _official(ctx, unit, person_id)
    buttons = []
    for duty in DUTIES:
        label = t(DUTY_LABELS[duty])
        if duty in found.duties:
            buttons.append(b.SetDuty(unit_id, person_id, duty, 0).button(t("➖ Bỏ «{duty}»", duty=label)))
        else:
            buttons.append(b.SetDuty(unit_id, person_id, duty, 1).button(t("➕ Giao «{duty}»", duty=label)))
    text = t("👮 {name}, cán bộ {unit}.\nNhiệm vụ: {duties}.", name=found.name, unit=unit.name,
             duties=_duties_text(ctx, found.duties))
    return Outcome([Reply(text, (*rows(buttons), (b.Officials(unit_id).button(t("⬅️ Cán bộ của đơn vị")),)))])


async def set_duty(ctx: Context, unit_id: int, person_id: int, duty: str, grant: int, sure: int) -> Outcome:
    """Asks before granting or removing a duty; on the confirming tap changes it and tells the official."""
    t = ctx.t
    if duty not in DUTIES or grant not in (0, 1):
        raise UserError(_("Nút này không hợp lệ."))
    unit = await _unit_below(ctx, unit_id)
    found = await _official(ctx, unit, person_id)
    label = t(DUTY_LABELS[duty])
    if not sure:
        if grant:
            question = t("Giao cho {name} nhiệm vụ «{duty}» ở {unit}?", name=found.name, duty=label, unit=unit.name)
            yes = t("✅ Giao nhiệm vụ")
        else:
            question = t("Bỏ nhiệm vụ «{duty}» của {name} ở {unit}?", name=found.name, duty=label, unit=unit.name)
            yes = t("➖ Bỏ nhiệm vụ")
        return Outcome([Reply(question, ((b.SetDuty(unit_id, person_id, duty, grant, 1).button(yes),
                                          b.OfficialDuties(unit_id, person_id).button(t("Không"))),))],
                       question=True)
    before = found.duties
    after = await ctx.repo.set_duty(person_id=person_id, unit_id=unit_id, duty=duty, granted=bool(grant),
                                    by=ctx.person_id)
    deliveries = []
    if after != before:
        other = ctx.translate(await ctx.repo.person_language(person_id))
        their_label = other(DUTY_LABELS[duty])
        if grant:
            told = other("🛡️ {by} đã giao cho bạn nhiệm vụ «{duty}» ở {unit}.", by=ctx.who.name, duty=their_label,
                          unit=unit.name) + "\n" + other(GRANTED[duty], unit=unit.name)
        else:
            told = other("🛡️ {by} đã bỏ nhiệm vụ «{duty}» của bạn ở {unit}.", by=ctx.who.name, duty=their_label,
                          unit=unit.name)
        deliveries.append(Delivery(person_id, Reply(told)))
    done = t("Đã giao nhiệm vụ «{duty}» cho {name}.", duty=label, name=found.name) if grant else \
        t("Đã bỏ nhiệm vụ «{duty}» của {name}.", duty=label, name=found.name)
    return Outcome([Reply(done)], deliveries=deliveries,
                   next_steps=[b.OfficialDuties(unit_id, person_id).button(t("👮 {name}", name=found.name)),
                               b.Officials(unit_id).button(t("⬅️ Cán bộ của đơn vị"))])
