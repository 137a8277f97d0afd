"""Registration with an invite code: `/start CODE`, a deep link, or the code typed in."""

from __future__ import annotations

from handlers.context import Context, Outcome
from handlers.flows import invite_limits
from handlers.flows.menu import ROLE_LABELS
from handlers.messages import Reply
from handlers.text import normalize_code


async def unit_with_parents(ctx: Context, unit_id: int) -> tuple[str, str]:
    """The unit's name and the names of the units above it ("Phường Hải Châu, Thành phố Đà Nẵng")."""
    unit = await ctx.repo.unit(unit_id)
    if unit is None:
        return "?", ""
    parents = await ctx.repo.ancestors(unit)
    return unit.name, ", ".join(parent.name for parent in reversed(parents))


async def register(code_text: str, ctx: Context, *, quiet_if_unknown: bool = False) -> Outcome | None:
    """Binds this person to the invite's role and unit (and shows the main menu), or says why the
    code does not work."""
    t = ctx.t
    code = normalize_code(code_text)
    if code and await invite_limits.over_limit(ctx):  # not checked at all, even a right code
        return None if quiet_if_unknown else Outcome([Reply(invite_limits.too_many(ctx))])
    invite = await ctx.repo.invite_by_code(code) if code else None
    if invite is not None and invite.revoked_at is not None:
        await invite_limits.record_failure(ctx, code, "revoked", quiet=quiet_if_unknown)
        return Outcome([Reply(t("Mã mời «{code}» đã bị thu hồi. Hãy hỏi tổ trưởng hoặc cán bộ phường mã mới.",
                                code=invite.code))])
    if invite is None:
        if code:
            await invite_limits.record_failure(ctx, code, "unknown", quiet=quiet_if_unknown)
        if quiet_if_unknown:
            return None
        return Outcome([Reply(t("Mã mời «{code}» không đúng. Hãy kiểm tra lại từng chữ, hoặc hỏi tổ trưởng, "
                                "cán bộ phường để lấy mã mới.", code=code_text.strip()[:20]))])
    now = ctx.clock.now()
    if invite.expires_at is not None and invite.expires_at <= now:
        await invite_limits.record_failure(ctx, code, "expired", quiet=quiet_if_unknown)
        if invite.role == "resident":  # a group's code: its leader makes or renews it
            name, _parents = await unit_with_parents(ctx, invite.unit_id)
            return Outcome([Reply(t("Mã mời «{code}» của {unit} đã hết hạn từ ngày {date}. Hãy hỏi tổ trưởng "
                                    "của tổ mã mới (tổ trưởng xem mã trong «🔑 Mã mời của tổ»).",
                                    code=invite.code, unit=name, date=t.date(invite.expires_at)))])
        return Outcome([Reply(t("Mã mời «{code}» đã hết hạn từ ngày {date}. Hãy xin mã mới từ người đã mời bạn.",
                                code=invite.code, date=t.date(invite.expires_at)))])
    for held in await ctx.roles():
        if held.unit.id == invite.unit_id and held.role == invite.role:
            name, _parents = await unit_with_parents(ctx, invite.unit_id)
            role = t(ROLE_LABELS[invite.role]).lower()
            return Outcome([Reply(t("Bạn đã là {role} của {unit} rồi.", role=role, unit=name))], menu=True)
    if not await ctx.repo.use_invite(invite.id or 0):
        await invite_limits.record_failure(ctx, code, "used up", quiet=quiet_if_unknown)
        return Outcome([Reply(t("Mã mời «{code}» đã được dùng hết. Hãy xin mã mới từ người đã mời bạn.",
                                code=invite.code))])
    await ctx.repo.grant_role(person_id=ctx.person_id, unit_id=invite.unit_id, role=invite.role)
    await ctx.repo.audit(person_id=ctx.person_id, action="register", target=f"unit:{invite.unit_id}",
                         role=invite.role, invite=invite.code)
    ctx.forget_roles()
    name, parents = await unit_with_parents(ctx, invite.unit_id)
    where = f"{name}, {parents}" if parents else name
    welcome = t("✅ Đăng ký thành công! Bạn là {role} của {unit}.",
                role=t(ROLE_LABELS[invite.role]).lower(), unit=where)
    return Outcome([Reply(welcome)], menu=True)

