"""Domain errors: a flow raises one, the engine tells the user in their language."""

from __future__ import annotations

from handlers.i18n import _


class UserError(Exception):
    """Something the user can fix; `message` is a msgid, formatted with `values`."""

    message = _("Không thực hiện được yêu cầu này.")

    def __init__(self, message: str | None = None, **values: object) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.values = values


class NotAllowed(UserError):
    message = _("Chức năng này không dành cho tài khoản của bạn.")


class NotALeader(NotAllowed):
    message = _("Chức năng này chỉ dành cho tổ trưởng, tổ phó.")


class NotRegistered(UserError):
    message = _("Bạn chưa đăng ký. Hãy nhập mã mời do tổ trưởng hoặc cán bộ phường cung cấp.")


class UnknownForm(UserError):
    message = _("Không tìm thấy biểu mẫu này.")


def button_number(text: str) -> int:
    """A number taken from a button id; a forged or garbled id is refused politely."""
    # isascii: "²" or "٣" pass isdigit() but int() refuses them.
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise UserError(_("Nút này không hợp lệ."))
    return int(text)
