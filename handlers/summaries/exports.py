"""The summary as an Excel workbook (openpyxl); its charts are in handlers/summaries/charts.py.

openpyxl is imported when a file is made, not when the bot starts, so an idle bot does not carry
it. Writing the file is CPU work: callers run it in a thread.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from handlers.i18n import Translator
from handlers.summaries.summary_text import CATEGORIES, INCIDENT_KINDS, RESIDENCE_LABELS, SOURCES, SUPPORT_KINDS, label

if TYPE_CHECKING:
    from handlers.summaries.summary_figures import Figures, GroupLine, Summary, Totals

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Column = tuple[str, Callable[["GroupLine"], Any], str]  # header, value, number format ("" = general)
PERCENT = "0%"
MONEY = "#,##0"


def _key(counter: str, key: str) -> Callable[[Figures], Any]:
    """A getter of one entry of a figure that is counted by key (incidents by kind…)."""
    return lambda figures: getattr(figures, counter).get(key, 0)


def _of_group(get: Callable[[Figures], Any]) -> Callable[[GroupLine], Any]:
    return lambda line: get(line.figures)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _task_columns(t: Translator) -> list[tuple[str, list[Column]]]:
    """One sheet per task: its title and columns (after the group's code, name and parent)."""
    security: list[Column] = [(t("Vụ việc an ninh"), lambda g: g.figures.incident_reports, "")]
    security += [(t(text), _of_group(_key("incidents", key)), "") for key, text in INCIDENT_KINDS.items()]
    security += [(t("Tin khẩn"), lambda g: g.figures.urgent, ""),
                 (t("Tiếp nhận đúng hạn"), lambda g: g.figures.urgent_in_time, ""),
                 (t("Tin khẩn còn mở"), lambda g: g.figures.urgent_open, "")]
    security += [(t(text), _of_group(_key("residence", key)), "") for key, text in RESIDENCE_LABELS.items()]
    sanitation: list[Column] = [
        (t("Buổi Chủ nhật Xanh"), lambda g: g.figures.green_sessions, ""),
        (t("Lượt người tham gia"), lambda g: g.figures.participants, ""),
        (t("Hộ tham gia"), lambda g: g.figures.green_households, ""),
        (t("Rác thu gom (kg)"), lambda g: round(g.figures.waste_kg, 1), "0.0"),
        (t("Điểm đen đã báo"), lambda g: g.figures.hotspots, ""),
        (t("Điểm đen đã dọn"), lambda g: g.figures.hotspots_cleared, ""),
        (t("Điểm mẫu đăng ký mới"), lambda g: g.figures.model_new, ""),
        (t("Báo cáo duy trì điểm mẫu"), lambda g: g.figures.model_upkeep, ""),
        (t("Tổ không rác"), lambda g: t("Đạt") if g.figures.litter_free else t("Chưa"), ""),
    ]
    poverty: list[Column] = [(t("Lượt hỗ trợ"), lambda g: g.figures.supports, ""),
                             (t("Hộ được hỗ trợ"), lambda g: g.figures.supported, "")]
    poverty += [(t(text), _of_group(_key("supported_by", key)), "") for key, text in CATEGORIES.items()]
    poverty.append((t("Tổng giá trị (đ)"), lambda g: g.figures.money, MONEY))
    poverty += [(t(text) + " (đ)", _of_group(_key("money_by", key)), MONEY) for key, text in SOURCES.items()]
    poverty.append((t("Hộ thoát nghèo"), lambda g: g.figures.left_poverty, ""))
    democracy: list[Column] = [
        (t("Cuộc họp tổ"), lambda g: g.figures.meetings, ""),
        (t("Hộ dự họp"), lambda g: g.figures.attended, ""),
        (t("Số hộ của tổ (theo biên bản)"), lambda g: g.figures.invited, ""),
        (t("Tỷ lệ dự họp"), lambda g: _ratio(g.figures.attended, g.figures.invited), PERCENT),
        (t("Biên bản số hộ không hợp lý (không tính)"), lambda g: g.figures.meetings_flagged, ""),
        (t("Phản ánh nhận được"), lambda g: g.figures.feedback, ""),
        (t("Đã chuyển phường"), lambda g: g.figures.feedback_passed, ""),
        (t("Đã giải quyết xong"), lambda g: g.figures.feedback_closed, ""),
    ]
    return [(t("An ninh trật tự"), security), (t("Vệ sinh môi trường"), sanitation), (t("Giảm nghèo"), poverty),
            (t("Dân chủ, phản ánh"), democracy)]


def workbook_xlsx(summary: Summary, t: Translator, households: Sequence[Any] | None = None) -> bytes:
    """A summary sheet, a reporting sheet, one sheet per task with one row per group, and — only
    when `households` is given — the household-level support rows. Written row by row (openpyxl's
    write-only mode): a city has thousands of groups."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook(write_only=True)
    _summary_sheet(book.create_sheet(t("Tổng hợp")), summary, t)
    reporting: list[Column] = [
        (t("Số tháng phải nộp"), lambda g: g.figures.months_due, ""),
        (t("Đã nộp"), lambda g: g.figures.filed, ""),
        (t("Đúng hạn"), lambda g: g.figures.on_time, ""),
        (t("Trễ hạn"), lambda g: g.figures.late, ""),
        (t("Tỷ lệ nộp"), lambda g: _ratio(g.figures.filed, g.figures.months_due), PERCENT),
        (t("Số báo cáo"), lambda g: g.figures.reports, ""),
    ]
    _group_sheet(book.create_sheet(t("Nộp báo cáo")), summary.groups, reporting, t)
    for title, columns in _task_columns(t):
        _group_sheet(book.create_sheet(title[:31]), summary.groups, columns, t)
    if households is not None:
        _household_sheet(book.create_sheet(t("Chi tiết hộ")), summary, households, t)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(sheet: Any, value: Any, number_format: str = "", *, bold: bool = False) -> Any:
    """A value with a number format or a bold font (a plain value needs no cell object)."""
    if not number_format and not bold:
        return value
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    cell = WriteOnlyCell(sheet, value=value)
    if number_format:
        cell.number_format = number_format
    if bold:
        cell.font = Font(bold=True)
    return cell


def _header(sheet: Any, headers: list[str], widths: list[float], *, freeze: str = "") -> None:
    """Column widths, frozen panes and the bold header row (set before any row, as write-only needs)."""
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    for n, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(n)].width = width
    if freeze:
        sheet.freeze_panes = freeze
    sheet.append([_cell(sheet, text, bold=True) for text in headers])


def _group_sheet(sheet: Any, groups: list[GroupLine], columns: list[Column], t: Translator) -> None:
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    headers = [t("Mã tổ"), t("Tổ dân phố, thôn"), t("Thuộc"), *(c[0] for c in columns)]
    _header(sheet, headers, [10, 30, 22, *(max(10, min(len(c[0]) + 2, 24)) for c in columns)], freeze="D2")
    for line in groups:
        sheet.append([line.unit.code, line.unit.name, line.parent,
                      *(_cell(sheet, value(line), number_format) for _h, value, number_format in columns)])
    if groups:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(groups) + 1}"


def _summary_sheet(sheet: Any, summary: Summary, t: Translator) -> None:
    now, before = summary.current, summary.previous
    _header(sheet, [t("Tóm tắt: {unit}", unit=summary.unit.name)], [44, 14, 14, 14])
    sheet.append([t("Kỳ: {period}", period=now.period.label(t))])
    sheet.append([t("So với: {period}", period=before.period.label(t))])
    sheet.append([t("Số tổ: {n}", n=len(summary.groups))])
    if summary.model_target:
        sheet.append([t("Chỉ tiêu điểm mẫu trong năm: {n}", n=summary.model_target)])
    sheet.append([])
    sheet.append([_cell(sheet, text, bold=True) for text in (t("Chỉ tiêu"), t("Kỳ này"), t("Kỳ trước"),
                                                              t("Thay đổi"))])
    for text, value, number_format in _summary_rows(t):
        this, previous = value(now), value(before)
        diff = this - previous if this is not None and previous is not None else None
        sheet.append([text, *(_cell(sheet, v, number_format) for v in (this, previous, diff))])


SummaryRow = tuple[str, Callable[["Totals"], Any], str]


def _summary_rows(t: Translator) -> list[SummaryRow]:
    """The figures of the whole area, in the order of the text."""
    def of(get: Callable[[Figures], Any]) -> Callable[[Totals], Any]:
        return lambda totals: get(totals.figures)

    rows: list[SummaryRow] = [
        (t("Báo cáo tháng phải nộp"), of(lambda f: f.months_due), ""),
        (t("Báo cáo tháng đã nộp"), of(lambda f: f.filed), ""),
        (t("Tỷ lệ nộp báo cáo tháng"), of(lambda f: _ratio(f.filed, f.months_due)), PERCENT),
        (t("Nộp đúng hạn"), of(lambda f: f.on_time), ""),
        (t("Nộp trễ hạn"), of(lambda f: f.late), ""),
        (t("Số báo cáo"), of(lambda f: f.reports), ""),
        (t("Tin khẩn"), of(lambda f: f.urgent), ""),
        (t("Tỷ lệ tiếp nhận đúng hạn"), of(lambda f: _ratio(f.urgent_in_time, f.urgent)), PERCENT),
        (t("Thời gian tiếp nhận trung vị (phút)"),
         lambda x: round(x.ack_median, 1) if x.ack_median is not None else None, "0.0"),
        (t("Tin khẩn còn mở"), of(lambda f: f.urgent_open), ""),
        (t("Vụ việc an ninh"), of(lambda f: f.incident_reports), ""),
    ]
    rows += [(t(text), of(_key("incidents", key)), "") for key, text in INCIDENT_KINDS.items()]
    rows += [(t(text), of(_key("residence", key)), "") for key, text in RESIDENCE_LABELS.items()]
    rows += [
        (t("Buổi Chủ nhật Xanh"), of(lambda f: f.green_sessions), ""),
        (t("Lượt người tham gia"), of(lambda f: f.participants), ""),
        (t("Rác thu gom (kg)"), of(lambda f: round(f.waste_kg, 1)), "0.0"),
        (t("Điểm đen đã báo"), of(lambda f: f.hotspots), ""),
        (t("Điểm đen đã dọn"), of(lambda f: f.hotspots_cleared), ""),
        (t("Điểm mẫu đăng ký mới"), of(lambda f: f.model_new), ""),
        (t("Điểm mẫu đăng ký trong năm"), lambda x: x.model_year, ""),
        (t("Tổ không rác"), of(lambda f: f.litter_free), ""),
        (t("Hộ được hỗ trợ"), of(lambda f: f.supported), ""),
    ]
    rows += [(t(text), of(_key("supported_by", key)), "") for key, text in CATEGORIES.items()]
    rows.append((t("Tổng giá trị hỗ trợ (đ)"), of(lambda f: f.money), MONEY))
    rows += [(t(text) + " (đ)", of(_key("money_by", key)), MONEY) for key, text in SOURCES.items()]
    rows += [
        (t("Hộ thoát nghèo"), of(lambda f: f.left_poverty), ""),
        (t("Cuộc họp tổ"), of(lambda f: f.meetings), ""),
        (t("Tỷ lệ hộ dự họp"), of(lambda f: _ratio(f.attended, f.invited)), PERCENT),
        (t("Biên bản số hộ không hợp lý (không tính)"), of(lambda f: f.meetings_flagged), ""),
        (t("Phản ánh nhận được"), of(lambda f: f.feedback), ""),
        (t("Đã chuyển phường"), of(lambda f: f.feedback_passed), ""),
        (t("Đã giải quyết xong"), of(lambda f: f.feedback_closed), ""),
    ]
    return rows


def _household_sheet(sheet: Any, summary: Summary, rows: Sequence[Any], t: Translator) -> None:
    groups = {line.unit.path: line.unit for line in summary.groups}
    tz = summary.current.period.tz
    _header(sheet, [t("Mã tổ"), t("Tổ dân phố, thôn"), t("Mã báo cáo"), t("Ngày gửi"), t("Mã hộ"), t("Diện hộ"),
                    t("Hình thức hỗ trợ"), t("Giá trị (đ)"), t("Nguồn hỗ trợ")], [10, 30, 12, 12, 10, 18, 24, 14, 20],
            freeze="C2")
    for path, code, created, household, category, kind, value, source in rows:
        group = groups.get(path)
        when: datetime = created.astimezone(tz).replace(tzinfo=None)
        sheet.append([group.code if group else "", group.name if group else "", code,
                      _cell(sheet, when, "dd/mm/yyyy"), household, label(t, CATEGORIES, category or ""),
                      label(t, SUPPORT_KINDS, kind or ""), _cell(sheet, round(float(value or 0)), MONEY),
                      label(t, SOURCES, source or "")])
