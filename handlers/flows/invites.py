"""A leader's invite codes: the group's code for residents (made when first asked for, valid
`limits.resident_code_days` unless renewed), the list of the group's codes, renewing and revoking.
Revoking asks first; people who joined with a code stay in the group."""

from __future__ import annotations

from datetime import timedelta

from handlers import buttons as b
from handlers.context import Context, Outcome
from handlers.errors import NotALeader, UserError
from handlers.flows.menu import ROLE_LABELS
from handlers.i18n import _
from handlers.messages import Button, Reply
from models.tables import Invite


async def _group_ids(ctx: Context) -> list[int]:
    units = [held.unit.id or 0 for held in await ctx.leader_roles()]
    if not units:
        raise NotALeader()
    return units


async def _own(ctx: Context, invite_id: int) -> Invite:
    """One of the leader's group's codes, or a refusal (a forged button names another group's)."""
    invite = await ctx.repo.invite(invite_id)
    if invite is None or invite.unit_id not in await _group_ids(ctx):
        raise UserError(_("Mã mời này không thuộc tổ của bạn."))
    return invite


def _validity(ctx: Context, invite: Invite) -> str:
    t = ctx.t
    if invite.expires_at is None:
        return t("không hết hạn")
    if invite.expires_at <= ctx.clock.now():
        return t("đã hết hạn từ ngày {date}", date=t.date(invite.expires_at))
    return t("đến hết ngày {date}", date=t.date(invite.expires_at))


async def group_code(ctx: Context) -> Outcome:
    """The code residents type to join the leader's group (to read out or show at a meeting)."""
    t = ctx.t
    held = next(iter(await ctx.leader_roles()), None)
    if held is None:
        raise NotALeader()
    invite = await ctx.repo.group_invite(held.unit.id or 0, created_by=ctx.person_id, now=ctx.clock.now(),
                                         days=ctx.settings.limits.resident_code_days)
    text = t("👥 Mã để người dân tham gia {group}: {code}\n\nNgười dân mở Zalo/Telegram, tìm «Tổ trưởng» rồi "
             "nhắn mã này (hoặc gõ /start {code}). Mã dùng được nhiều lần, {validity}.",
             group=held.unit.name, code=invite.code, validity=_validity(ctx, invite))
    return Outcome([Reply(text)], next_steps=[b.GroupCodes().button(t("🔑 Mã mời của tổ"))])


async def listing(ctx: Context) -> Outcome:
    """The group's codes that still work or can be renewed, with what each is for."""
    t = ctx.t
    invites = await ctx.repo.invites_of(await _group_ids(ctx))
    if not invites:
        return Outcome([Reply(t("Tổ chưa có mã mời nào. Bấm «👥 Mời người dân» để tạo mã cho người dân."))],
                       next_steps=[b.InviteResidents().button(t("👥 Mời người dân"))])
    lines = [t("🔑 Mã mời của tổ:")]
    buttons: list[tuple[Button, ...]] = []
    for invite in invites:
        role = t(ROLE_LABELS.get(invite.role, invite.role)).lower()
        uses = t("dùng nhiều lần") if invite.max_uses == 0 else \
            t("còn {n}/{total} lượt", n=invite.max_uses - invite.used, total=invite.max_uses)
        lines.append(f"• {invite.code} — {role}, {uses}, {_validity(ctx, invite)}")
        row = [b.RevokeCode(invite.id or 0).button(t("🗑 Thu hồi {code}", code=invite.code))]
        if invite.role == "resident" and invite.expires_at is not None:
            row.append(b.RenewCode(invite.id or 0).button(t("🔄 Gia hạn {code}", code=invite.code)))
        buttons.append(tuple(row))
    lines.append(t("Thu hồi: mã không dùng được nữa; người đã tham gia vẫn ở trong tổ."))
    return Outcome([Reply("\n".join(lines), tuple(buttons))])


async def revoke(ctx: Context, invite_id: int, sure: int) -> Outcome:
    """Asks before revoking a code; on the confirming tap revokes it (audited)."""
    t = ctx.t
    invite = await _own(ctx, invite_id)
    if not sure:
        question = t("Thu hồi mã «{code}»? Sau đó không ai tham gia bằng mã này được nữa; "
                     "người đã tham gia vẫn ở trong tổ.", code=invite.code)
        return Outcome([Reply(question, ((b.RevokeCode(invite_id, 1).button(t("🗑 Thu hồi mã")),
                                          b.GroupCodes().button(t("Không"))),))], question=True)
    if await ctx.repo.revoke_invite(invite_id, now=ctx.clock.now()):
        await ctx.repo.audit(person_id=ctx.person_id, action="invite_revoked", target=f"invite:{invite_id}",
                             unit_id=invite.unit_id)
    return Outcome([Reply(t("Đã thu hồi mã «{code}». Mã này không dùng được nữa.", code=invite.code))],
                   next_steps=[b.GroupCodes().button(t("🔑 Mã mời của tổ"))])


async def renew(ctx: Context, invite_id: int) -> Outcome:
    """Renews a group's code for residents from today (audited)."""
    t = ctx.t
    invite = await _own(ctx, invite_id)
    if invite.role != "resident" or invite.expires_at is None:
        raise UserError(_("Mã này không cần gia hạn."))
    until = ctx.clock.now() + timedelta(days=ctx.settings.limits.resident_code_days)
    if not await ctx.repo.renew_invite(invite_id, until=until):
        raise UserError(_("Mã mời này đã bị thu hồi."))
    await ctx.repo.audit(person_id=ctx.person_id, action="invite_renewed", target=f"invite:{invite_id}",
                         unit_id=invite.unit_id)
    return Outcome([Reply(t("Đã gia hạn mã «{code}»: dùng được đến hết ngày {date}.", code=invite.code,
                            date=t.date(until)))],
                   next_steps=[b.GroupCodes().button(t("🔑 Mã mời của tổ"))])
