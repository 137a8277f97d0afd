""""🗂️ Nhật ký truy cập": who saw, exported or deleted personal data in an official's area.

Readable by officials with the `privacy` duty (the person in charge of personal data protection
that Decree 356/2025 asks for; granted with `totruong role grant --duty privacy`), for their
unit and everything under it. Reading it is itself written to the log.
"""

from __future__ import annotations

from handlers import buttons as b
from handlers.context import Context, Outcome
from handlers.errors import NotAllowed
from handlers.i18n import _
from handlers.messages import Button, Reply
from models.repo_retention import AuditEntry

DUTY = "privacy"
PAGE = 15
ACTION_LABELS = {
    "view_sensitive": _("xem dữ liệu hộ nghèo"),
    "export_sensitive": _("tải tệp Excel có dữ liệu hộ"),
    "view_feedback": _("xem phản ánh của người dân"),
    "data_export": _("tải dữ liệu của mình"),
    "data_erased": _("xoá dữ liệu của mình"),
    "consent": _("đồng ý điều khoản dữ liệu"),
    "register": _("tham gia bằng mã mời"),
    "duty_granted": _("được giao nhiệm vụ"),
    "duty_revoked": _("thôi nhiệm vụ"),
    "audit_read": _("xem nhật ký truy cập"),
}


async def show(ctx: Context, page: int) -> Outcome:
    """The newest entries about personal data in the official's area, a page at a time."""
    t = ctx.t
    held = [h for h in await ctx.roles() if h.role == "official" and DUTY in h.duties]
    if not held:
        raise NotAllowed(_("Chỉ cán bộ phụ trách bảo vệ dữ liệu cá nhân được xem nhật ký truy cập."))
    area = min(held, key=lambda h: len(h.unit.path)).unit  # the widest area they hold
    entries = await ctx.repo.audit_entries(area.path, limit=PAGE + 1, offset=page * PAGE)
    await ctx.repo.audit(person_id=ctx.person_id, action="audit_read", target=f"unit:{area.id}", page=page)
    lines = [t("🗂️ Nhật ký truy cập dữ liệu cá nhân — {unit}", unit=area.name)]
    lines += [_line(ctx, entry) for entry in entries[:PAGE]] or [t("Chưa có lượt truy cập nào.")]
    pages: list[Button] = []
    if page > 0:
        pages.append(b.AccessLog(page - 1).button(t("⬅️ Trang trước")))
    if len(entries) > PAGE:
        pages.append(b.AccessLog(page + 1).button(t("➡️ Trang sau")))
    return Outcome([Reply("\n".join(lines), (tuple(pages),) if pages else ())])


def _line(ctx: Context, entry: AuditEntry) -> str:
    t = ctx.t
    label = ACTION_LABELS.get(entry.action)
    what = t(label) if label else entry.action
    who = entry.who or t("(người dùng đã xoá)")
    where = f" ({entry.target})" if entry.target else ""
    return f"• {t.datetime(entry.at)} — {who}: {what}{where}"
