"""Invite codes resist guessing: failed `/start CODE` attempts are counted per identity and per
network address, and over either limit no code is checked at all (not even a right one) until the
window has passed. The arithmetic behind the limits is in docs/security.md."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from handlers.context import Context
from handlers.i18n import _

log = logging.getLogger(__name__)

TOO_MANY = _("Anh/chị đã nhập sai mã quá nhiều lần. Vui lòng thử lại sau {minutes} phút hoặc hỏi tổ trưởng mã mới.")


def _origin(ctx: Context) -> tuple[str, str, str]:
    msg = ctx.msg
    if msg is None:
        return "", str(ctx.person_id), ""
    return msg.channel, msg.user_id, msg.address


def fingerprint(code: str) -> str:
    """What the log says of a code: its first two characters and a short hash, never the code."""
    return f"{code[:2]}…#{hashlib.sha256(code.encode()).hexdigest()[:8]}"


async def over_limit(ctx: Context) -> bool:
    """True when this person, or their address, has had too many wrong codes lately (logged)."""
    limits = ctx.settings.limits
    channel, user, address = _origin(ctx)
    since = ctx.clock.now() - timedelta(minutes=limits.invite_wrong_minutes)
    by_identity, by_address = await ctx.repo.invite_failures(channel=channel, external_id=user, address=address,
                                                             since=since)
    over = by_identity >= limits.invite_wrong_per_identity or by_address >= limits.invite_wrong_per_address
    if over:
        log.warning("invite code not checked: too many wrong codes (%s:%s %d, address %s %d, in %d min)",
                    channel, user, by_identity, address or "-", by_address, limits.invite_wrong_minutes)
    return over


async def record_failure(ctx: Context, code: str, why: str, *, quiet: bool = False) -> None:
    """Counts a code that did not register anyone (unknown, expired, revoked, used up) and logs it."""
    channel, user, address = _origin(ctx)
    now = ctx.clock.now()
    await ctx.repo.record_invite_failure(
        channel=channel, external_id=user, address=address, at=now,
        forget_before=now - timedelta(minutes=ctx.settings.limits.invite_wrong_minutes))
    # Text typed at idle by someone already registered is rarely a code: counted, but not a warning.
    log.log(logging.INFO if quiet else logging.WARNING, "wrong invite code %s (%s) from %s:%s address %s",
            fingerprint(code), why, channel, user, address or "-")


def too_many(ctx: Context) -> str:
    return ctx.t(TOO_MANY, minutes=ctx.settings.limits.invite_wrong_minutes)
