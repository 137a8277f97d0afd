"""Reading an answer to one form field: what the person typed, pressed or sent, checked against
the field's type and limits; a refusal says what is expected."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from handlers import images
from handlers.context import Context, State
from handlers.errors import UserError
from handlers.forms import FieldDef
from handlers.i18n import _
from handlers.messages import Incoming
from handlers.parsing import NO_GPS_FIX, NumberError, location_problem, parse_coordinates, parse_date, read_number
from handlers.text import clean, fold

YES = {"co", "c", "yes", "y", "dung", "u", "uh", "ok", "da co", "roi", "da", "da roi", "co roi"}
NO = {"khong", "k", "ko", "no", "n", "chua", "khong co", "chua co"}
TYPE_NAMES = {
    "number": _("một số"),
    "text": _("một đoạn chữ"),
    "choice": _("một lựa chọn"),
    "multi_choice": _("một hoặc nhiều lựa chọn"),
    "yes_no": _("Có hoặc Không"),
    "date": _("một ngày"),
    "photo": _("một ảnh"),
    "location": _("một vị trí"),
}


class Invalid(UserError):
    """The answer does not fit the field; the message says what is expected."""


def number_rule(field: FieldDef, ctx: Context) -> str:
    t = ctx.t
    low = t.number(field.min) if field.min is not None else None
    high = t.number(field.max) if field.max is not None else None
    if low is not None and high is not None:
        return t("Vui lòng nhập một số từ {low} đến {high}.", low=low, high=high)
    if low is not None:
        return t("Vui lòng nhập một số không nhỏ hơn {low}.", low=low)
    if high is not None:
        return t("Vui lòng nhập một số không lớn hơn {high}.", high=high)
    return t("Vui lòng nhập một số.")


def max_length(field: FieldDef, ctx: Context) -> int:
    return min(field.max_length or ctx.settings.limits.text_max_chars, ctx.settings.limits.text_max_chars)


async def read_answer(
    field: FieldDef, msg: Incoming, state: State, ctx: Context, action: str | None
) -> tuple[Any, bool]:
    t = ctx.t
    if action == "skip":
        if field.required:
            raise Invalid(_("Câu này bắt buộc, không bỏ qua được."))
        return None, True
    if msg.photo is not None and field.type == "text" and field.accept_photo:
        return await _photo(msg, ctx), True
    if msg.photo is not None and field.type != "photo":
        raise Invalid(_("Câu này cần {kind}, không phải ảnh."), kind=t(TYPE_NAMES[field.type]))
    if msg.location is not None and field.type != "location":
        raise Invalid(_("Câu này cần {kind}, không phải vị trí."), kind=t(TYPE_NAMES[field.type]))
    text = clean(msg.text or "")
    if field.type == "choice":
        option = _option_from(field, action, text)
        if option is None:
            raise Invalid(_("Hãy bấm một trong các nút bên dưới."))
        return option, True
    if field.type == "multi_choice":
        return _multi(field, state, action, text)
    if field.type == "yes_no":
        folded = fold(text)
        if action == "y" or folded in YES:
            return True, True
        if action == "n" or folded in NO:
            return False, True
        raise Invalid(_("Hãy bấm «Có» hoặc «Không»."))
    if field.type == "text" and action == "keep":
        return keep_first_part(field, state, ctx), True
    if field.type == "date" and (spoken := _as_date_action(action)):
        return _date(field, spoken, ctx), True
    if action is not None:
        raise Invalid(_("Nút này không dùng cho câu hỏi hiện tại."))
    if field.type == "number":
        return _number(field, text, ctx), True
    if field.type == "date":
        return _date(field, text, ctx), True
    if field.type == "text":
        if not text:
            raise Invalid(_("Câu trả lời đang trống. Vui lòng gõ nội dung."))
        return check_text(field, _continued(field, text, state, ctx), state, ctx, part=len(text)), True
    if field.type == "photo":
        return await _photo(msg, ctx, field), True
    return _location(field, msg, text, ctx), True


class TooLong(Invalid):
    """A text longer than the field takes: kept in the state (`long`) until the person chooses to
    keep its first part or types a shorter one."""


def check_text(field: FieldDef, text: str, state: State, ctx: Context, *, part: int | None = None) -> str:
    """A typed text checked against the field's lengths and pattern; a too-long one is kept, with
    the length of its last message (`part`: a text the messenger split is joined part by part)."""
    t = ctx.t
    limit = max_length(field, ctx)
    if len(text) > limit and field.pattern:  # a code: its first part would be no code at all
        raise Invalid(_("Câu trả lời dài {n} ký tự, quá giới hạn {limit} ký tự. Vui lòng viết ngắn lại."),
                      n=t.number(len(text)), limit=t.number(limit))
    if len(text) > limit:
        state.data.update(long=text, long_field=field.key, long_at=ctx.clock.now().isoformat(),
                          long_part=len(text) if part is None else part)
        raise TooLong(_("Câu trả lời dài {n} ký tự; câu này nhận tối đa {limit} ký tự. Bài đã gõ vẫn được giữ: "
                        "bấm «Giữ {limit} ký tự đầu», hoặc gõ lại bản ngắn hơn."),
                      n=t.number(len(text)), limit=t.number(limit))
    for key in ("long", "long_field", "long_at", "long_part"):
        state.data.pop(key, None)
    if len(text) < field.min_length:
        raise Invalid(_("Câu trả lời quá ngắn: cần ít nhất {n} ký tự."), n=field.min_length)
    if field.upper:
        text = text.upper()
    if field.pattern and not re.fullmatch(field.pattern, text):
        raise Invalid(field.pattern_message or _("Câu trả lời không đúng dạng yêu cầu."))
    return text


# Telegram's apps send a text longer than 4,096 characters as several messages of up to 4,096,
# a moment apart: a kept text whose last message was of about that length, followed at once by
# more, is one answer (as many parts as came).
SPLIT_PART = range(4000, 4097)
SPLIT_SECONDS = 5


def _continued(field: FieldDef, text: str, state: State, ctx: Context) -> str:
    """The next part of a long text that the messenger split: joined to what was kept just before."""
    kept, at = state.data.get("long"), state.data.get("long_at")
    last = state.data.get("long_part", len(str(kept or "")))
    if not kept or not at or state.data.get("long_field") != field.key or last not in SPLIT_PART:
        return text
    gap = (ctx.clock.now() - datetime.fromisoformat(str(at))).total_seconds()
    return f"{kept} {text}" if 0 <= gap <= SPLIT_SECONDS else text


def keep_first_part(field: FieldDef, state: State, ctx: Context) -> str:
    """[Giữ 500 ký tự đầu]: the kept text cut to the field's limit, at a word where one is near."""
    text = str(state.data.get("long") or "") if state.data.get("long_field") == field.key else ""
    if not text:
        raise Invalid(_("Không còn bài đã gõ. Vui lòng gõ lại câu trả lời."))
    limit = max_length(field, ctx)
    cut = text[:limit]
    if len(text) > limit and " " in cut[limit * 4 // 5:]:
        cut = cut[: cut.rfind(" ")]
    return check_text(field, cut.rstrip(), state, ctx)


def _option_from(field: FieldDef, action: str | None, text: str) -> str | None:
    ids = [o.id for o in field.options]
    if action and action.startswith("o.") and action[2:] in ids:
        return action[2:]
    if action is None and text:
        if text.isdigit() and 1 <= int(text) <= len(ids):
            return ids[int(text) - 1]
        folded = fold(text)
        for option in field.options:
            if fold(option.label) == folded:
                return option.id
    return None


def _multi(field: FieldDef, state: State, action: str | None, text: str) -> tuple[Any, bool]:
    selected: list[str] = list(state.data.get("sel", []))
    if action == "done":
        if field.required and not selected:
            raise Invalid(_("Hãy chọn ít nhất một mục rồi bấm «Xong»."))
        return [o.id for o in field.options if o.id in selected], True
    if action is None and text:
        chosen = [_option_from(field, None, part.strip()) for part in text.replace(";", ",").split(",")]
        if all(chosen):
            return [o.id for o in field.options if o.id in chosen], True
        raise Invalid(_("Không nhận ra lựa chọn. Bấm các nút bên dưới, hoặc gõ số thứ tự cách nhau bởi dấu phẩy."))
    option = _option_from(field, action, "")
    if option is None:
        raise Invalid(_("Hãy bấm một trong các nút bên dưới."))
    if option in selected:
        selected.remove(option)
    else:
        selected.append(option)
    state.data["sel"] = selected
    return None, False


def _number(field: FieldDef, text: str, ctx: Context) -> int | float:
    t = ctx.t
    try:
        value = read_number(text, integer=field.integer)
    except NumberError as error:
        if error.kind == "negative":
            raise Invalid(_("Số {value} là số âm, không dùng được ở đây. {rule}"),
                          value=t.number(error.value or 0), rule=number_rule(field, ctx)) from None
        if error.kind == "decimal":
            raise Invalid(_("Câu này cần một số nguyên (đếm được), không phải {value}. {rule}"),
                          value=t.number(error.value or 0), rule=number_rule(field, ctx)) from None
        raise Invalid(_("«{text}» không phải là một số. Gõ bằng chữ số như 25, 1.500 hoặc 500k, "
                        "hay bằng chữ như «hai mươi». {rule}"), text=text[:30], rule=number_rule(field, ctx)) from None
    if (field.min is not None and value < field.min) or (field.max is not None and value > field.max):
        raise Invalid(_("Số {value} nằm ngoài giới hạn. {rule}"), value=t.number(value), rule=number_rule(field, ctx))
    return value


def _date(field: FieldDef, text: str, ctx: Context) -> str:
    today = ctx.clock.now().astimezone(ctx.settings.app.tz).date()
    value = parse_date(text, today)
    if value is None:
        raise Invalid(_("Không đọc được ngày «{text}». Gõ theo dạng ngày/tháng/năm, ví dụ {example}."),
                      text=text[:20], example=ctx.t.date(today))
    if value > today and not field.allow_future:
        raise Invalid(_("Ngày {date} còn ở tương lai. Vui lòng nhập ngày đã diễn ra."), date=ctx.t.date(value))
    if field.max_days_ago is not None and value < today - timedelta(days=field.max_days_ago):
        raise Invalid(_("Ngày {date} đã quá xa (quá {n} ngày trước)."), date=ctx.t.date(value), n=field.max_days_ago)
    return value.isoformat()


def _as_date_action(action: str | None) -> str | None:
    return {"today": "hôm nay", "yday": "hôm qua"}.get(action or "")


async def _photo(msg: Incoming, ctx: Context, field: FieldDef | None = None) -> dict[str, int]:
    if msg.photo is None:
        if field is not None and not field.required:
            raise Invalid(_("Câu này cần một ảnh. Hãy gửi một ảnh, hoặc chọn «Bỏ qua» nếu không có."))
        raise Invalid(_("Câu này cần một ảnh. Hãy gửi một ảnh."))
    limit = ctx.settings.limits.photo_max_bytes
    if len(msg.photo.content) > limit:
        raise Invalid(_("Ảnh quá lớn ({size} MB). Giới hạn là {limit} MB; hãy gửi ảnh nhỏ hơn."),
                      size=ctx.t.number(round(len(msg.photo.content) / 1e6, 1)),
                      limit=ctx.t.number(round(limit / 1e6, 1)))
    return {"attachment": await images.store(msg.photo, ctx)}


def _location(field: FieldDef, msg: Incoming, text: str, ctx: Context) -> dict[str, Any]:
    if msg.location is not None:
        lat, lon = msg.location.latitude, msg.location.longitude
    elif (coords := parse_coordinates(text)) is not None:
        lat, lon = coords
    elif field.allow_address and len(text) >= 5:
        return {"lat": None, "lon": None, "address": text[:300]}
    elif text and not field.allow_address:
        raise Invalid(_("Câu này cần vị trí chính xác: gửi vị trí, hoặc gõ tọa độ như 16.0544, 108.2022."))
    elif text:
        raise Invalid(_("Địa chỉ quá ngắn. Hãy gõ rõ số nhà, tên đường, hoặc gửi vị trí."))
    else:
        raise Invalid(_("Câu này cần một vị trí: gửi vị trí, hoặc gõ địa chỉ."))
    problem = location_problem(lat, lon, ctx.settings.app.area_bbox)
    if problem == "zero":
        raise Invalid(NO_GPS_FIX)
    if problem:
        raise Invalid(_("Vị trí {lat}, {lon} nằm ngoài {area}. Vui lòng gửi vị trí trong địa bàn."),
                      lat=f"{lat:.4f}", lon=f"{lon:.4f}", area=ctx.settings.app.area_name)
    return {"lat": lat, "lon": lon, "address": msg.location.address if msg.location else ""}
