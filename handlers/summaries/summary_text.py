"""The summary as text for a phone: short lines, Vietnamese number formats, no tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from handlers.i18n import Translator, _
from handlers.reports.reporting import STATUS_LABELS

if TYPE_CHECKING:
    from handlers.summaries.summary_figures import Figures, GroupLine, Summary

# The option labels of the forms the summary reads (the same wording as forms/*.toml, so they share
# the catalogs' translations; tests/integration/test_summary_periods.py keeps them in step).
INCIDENT_KINDS = {
    "trom_cap": _("Trộm cắp"),
    "danh_nhau": _("Đánh nhau, gây rối"),
    "ma_tuy": _("Ma túy"),
    "tai_nan_gt": _("Tai nạn giao thông"),
    "chay_no": _("Cháy, nổ"),
    "nguoi_la": _("Người lạ khả nghi"),
    "khac": _("Khác"),
}
URGENT_KINDS = {
    "chay_no": _("Cháy, nổ"),
    "tai_nan": _("Tai nạn, người bị thương"),
    "danh_nhau": _("Đánh nhau, gây rối"),
    "trom_cuop": _("Trộm, cướp"),
    "ngap_lut": _("Ngập lụt, sạt lở, cây đổ"),
    "khac": _("Việc khẩn khác"),
}
CATEGORIES = {"ho_ngheo": _("Hộ nghèo"), "can_ngheo": _("Hộ cận nghèo"), "dot_xuat": _("Khó khăn đột xuất")}
SOURCES = {
    "nha_nuoc": _("Nhà nước"),
    "mat_tran": _("Mặt trận Tổ quốc"),
    "mtq": _("Mạnh thường quân"),
    "to_van_dong": _("Tổ tự vận động"),
}
SUPPORT_KINDS = {
    "tien_mat": _("Tiền mặt"),
    "gao": _("Gạo và nhu yếu phẩm"),
    "viec_lam": _("Việc làm"),
    "vay_von": _("Vay vốn"),
    "sua_nha": _("Sửa nhà"),
    "hoc_bong": _("Học bổng"),
    "y_te": _("Y tế (thẻ BHYT, khám chữa bệnh)"),
}
RESIDENCE_LABELS = {
    "thuong_tru_moi": _("Thường trú mới"),
    "tam_tru_moi": _("Tạm trú mới"),
    "chuyen_di": _("Chuyển đi"),
    "tam_vang": _("Tạm vắng"),
    "ho_moi_den": _("Hộ mới đến"),
}


def label(t: Translator, labels: dict[str, str], key: str) -> str:
    return t(labels[key]) if key in labels else key


def percent(t: Translator, part: float, whole: float) -> str:
    """75% — or "—" when there is nothing to divide by."""
    return f"{t.number(round(100 * part / whole))}%" if whole else "—"


def change(t: Translator, now: float, before: float, *, points: bool = False) -> str:
    """" (▲ 3)", " (▼ 1)", " (=)": the change from the period before; nothing when both are zero."""
    if not now and not before:
        return ""
    diff = round(now - before, 1)
    if diff == 0:
        return " (=)"
    arrow = "▲" if diff > 0 else "▼"
    amount = t.number(abs(diff))
    if points:
        amount = t("{n} điểm %", n=amount)
    return f" ({arrow} {amount})"


def _largest(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))


def _rate(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


def render_text(summary: Summary, t: Translator) -> str:
    """The whole summary, section by section, with the change from the period before."""
    now, before = summary.current.figures, summary.previous.figures
    head = [
        t("📊 Tóm tắt: {unit}", unit=summary.unit.name),
        summary.current.period.label(t),
        t("So với: {period}", period=summary.previous.period.label(t)),
    ]
    sections = [head, _reporting(summary, t), _urgent(summary, t), _security(now, before, t),
                _sanitation(summary, t), _poverty(now, before, t), _democracy(now, before, t), _ranking(summary, t)]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


def _reporting(summary: Summary, t: Translator) -> list[str]:
    now, before = summary.current.figures, summary.previous.figures
    months = summary.current.months
    if not months:
        return [t("📝 Báo cáo tháng: — (tính theo tháng, quý, năm)")]
    groups = len(summary.groups)
    if len(months) == 1:
        filed = t.ngettext("• Đã nộp: {filed}/{groups} tổ", "• Đã nộp: {filed}/{groups} tổ", groups,
                           filed=t.number(now.filed), groups=t.number(groups))
    else:
        filed = t("• Đã nộp: {filed}/{due} báo cáo ({groups} tổ × {months} tháng)", filed=t.number(now.filed),
                  due=t.number(now.months_due), groups=t.number(groups), months=len(months))
    rate = percent(t, now.filed, now.months_due)
    if before.months_due:
        rate += change(t, _rate(now.filed, now.months_due), _rate(before.filed, before.months_due), points=True)
    lines = [t("📝 Báo cáo tháng"), filed, t("• Tỷ lệ: {rate}", rate=rate),
             t("• Đúng hạn: {on_time} · trễ hạn: {late}", on_time=t.number(now.on_time), late=t.number(now.late))]
    missing = [line.unit.name for line in summary.groups if line.figures.filed < line.figures.months_due]
    if missing:
        lines.append(t.ngettext("• Chưa nộp đủ: {n} tổ", "• Chưa nộp đủ: {n} tổ", len(missing)))
        if len(missing) <= 3:
            lines += [f"  – {name}" for name in missing]
    return lines


def _urgent(summary: Summary, t: Translator) -> list[str]:
    now, before = summary.current.figures, summary.previous.figures
    lines = [t("🚨 Tin khẩn: {n}", n=t.number(now.urgent)) + change(t, now.urgent, before.urgent)]
    if now.urgent:
        lines.append(t("• Tiếp nhận trong {minutes} phút: {rate}", minutes=summary.ack_minutes,
                       rate=percent(t, now.urgent_in_time, now.urgent)))
        median = summary.current.ack_median
        if median is not None:
            lines.append(t.ngettext("• Thường tiếp nhận sau: {n} phút", "• Thường tiếp nhận sau: {n} phút",
                                    round(median)))
        lines.append(t("• Còn mở: {n}", n=t.number(now.urgent_open)))
    return lines


def _security(now: Figures, before: Figures, t: Translator) -> list[str]:
    total, earlier = now.incident_reports, before.incident_reports
    lines = [t("🛡️ An ninh trật tự"), t("• Vụ việc: {n}", n=t.number(total)) + change(t, total, earlier)]
    lines += [f"  – {label(t, INCIDENT_KINDS, kind)}: {t.number(n)}" for kind, n in _largest(now.incidents)]
    if any(now.residence.values()):
        lines.append(t("• Biến động cư trú:"))
        lines += [f"  – {t(text)}: {t.number(now.residence[key])}" for key, text in RESIDENCE_LABELS.items()
                  if now.residence.get(key)]
    return lines


def _sanitation(summary: Summary, t: Translator) -> list[str]:
    now, before = summary.current.figures, summary.previous.figures
    lines = [t("🌿 Vệ sinh môi trường"),
             t.ngettext("• Chủ nhật Xanh: {n} buổi", "• Chủ nhật Xanh: {n} buổi", now.green_sessions)
             + change(t, now.green_sessions, before.green_sessions)]
    if now.green_sessions:
        lines.append(t("  {people} lượt người · {kg} kg rác", people=t.number(now.participants),
                       kg=t.number(round(now.waste_kg, 1))))
    lines.append(t("• Điểm đen rác: {n} báo · {cleared} đã dọn", n=t.number(now.hotspots),
                   cleared=t.number(now.hotspots_cleared)))
    year = summary.current.period.last.year
    target = summary.model_target
    spots = t("• Điểm mẫu mới: {n}", n=t.number(now.model_new))
    if target:
        spots += " · " + t("năm {year}: {done}/{target}", year=year, done=t.number(summary.current.model_year),
                           target=t.number(target))
    lines.append(spots)
    lines.append(t.ngettext("• Tổ không rác: {n}/{groups} tổ", "• Tổ không rác: {n}/{groups} tổ", len(summary.groups),
                            groups=t.number(len(summary.groups)), n=t.number(now.litter_free)))
    return lines


def _poverty(now: Figures, before: Figures, t: Translator) -> list[str]:
    lines = [t("🤝 Giảm nghèo"),
             t("• Hộ được hỗ trợ: {n}", n=t.number(now.supported)) + change(t, now.supported, before.supported)]
    lines += [f"  – {label(t, CATEGORIES, key)}: {t.number(n)}" for key, n in _largest(now.supported_by)]
    lines.append(t("• Giá trị: {money}", money=t.money(now.money)))
    lines += [f"  – {label(t, SOURCES, key)}: {t.money(n)}" for key, n in _largest(now.money_by) if n]
    lines.append(t("• Hộ thoát nghèo: {n}", n=t.number(now.left_poverty)) + change(t, now.left_poverty,
                                                                                     before.left_poverty))
    return lines


def _democracy(now: Figures, before: Figures, t: Translator) -> list[str]:
    lines = [t("🗳️ Dân chủ, phản ánh"),
             t.ngettext("• Họp tổ: {n} cuộc", "• Họp tổ: {n} cuộc", now.meetings)
             + change(t, now.meetings, before.meetings)]
    if now.meetings:
        lines.append(t("  Hộ dự họp: {rate}", rate=percent(t, now.attended, now.invited)))
    if now.meetings_flagged:  # never shown as 124%: left out of the rate, and said
        lines.append(t.ngettext("  ⚠️ {n} biên bản ghi số hộ dự họp nhiều hơn số hộ của tổ: không tính vào tỷ lệ.",
                                "  ⚠️ {n} biên bản ghi số hộ dự họp nhiều hơn số hộ của tổ: không tính vào tỷ lệ.",
                                now.meetings_flagged))
    lines.append(t("• Phản ánh: {n}", n=t.number(now.feedback)) + change(t, now.feedback, before.feedback))
    if now.feedback:
        lines.append(t("  Chuyển phường {passed} · đã xong {closed}", passed=t.number(now.feedback_passed),
                       closed=t.number(now.feedback_closed)))
    return lines


def _ranking(summary: Summary, t: Translator) -> list[str]:
    if len(summary.groups) < 2:
        return []
    top, bottom = summary.ranking()
    with_months = bool(summary.current.months)

    def line(n: int, group: GroupLine) -> str:
        reports = t.ngettext("{n} báo cáo", "{n} báo cáo", group.figures.reports)
        if with_months:
            reports = percent(t, group.figures.filed, group.figures.months_due) + " · " + reports
        return f"{n}. {group.unit.name}: {reports}"

    lines = [t("🏆 Thi đua")]
    if top:
        lines += [t("Dẫn đầu:"), *(line(n, g) for n, g in enumerate(top, 1))]
    if bottom:
        lines += [t("Cần cố gắng:"), *(line(n, g) for n, g in enumerate(bottom, 1))]
    return lines


def daily_text(t: Translator, *, unit: str, total: int, acked: int, still_open: int, listed: Sequence[Any]) -> str:
    """The daily digest: urgent incidents of the last 24 hours."""
    lines = [t("🚨 Tin khẩn 24 giờ qua: {unit}", unit=unit),
             t.ngettext("{n} tin · {acked} đã tiếp nhận · {open} còn mở",
                        "{n} tin · {acked} đã tiếp nhận · {open} còn mở",
                        total, acked=t.number(acked), open=t.number(still_open)), ""]
    for _id, code, at, group, kind, status, _acknowledged in listed:
        state = t(STATUS_LABELS.get(status, status))
        lines.append(f"• {code} · {t.datetime(at)} · {group}")
        lines.append(f"  {label(t, URGENT_KINDS, kind or 'khac')} · {state}")
    if total > len(listed):
        lines.append(t.ngettext("… và {n} tin khác.", "… và {n} tin khác.", total - len(listed)))
    return "\n".join(lines)


HEADLINE_LINES = 5


def headline(summary: Summary, t: Translator) -> str:
    """What an official reads first, in at most five lines: the unit and period, monthly reports
    filed, the groups to remind, urgent incidents still open, reports sent. The whole text
    (`render_text`) is behind the "Xem chi tiết" button."""
    now, before = summary.current.figures, summary.previous.figures
    groups = summary.groups
    lines = [t("📊 {unit} · {period}", unit=summary.unit.name, period=summary.current.period.label(t))]
    months = summary.current.months
    if months:
        rate = percent(t, now.filed, now.months_due)
        if len(months) == 1:
            lines.append(t.ngettext("📝 Báo cáo tháng: {filed}/{groups} tổ đã nộp ({rate})",
                                    "📝 Báo cáo tháng: {filed}/{groups} tổ đã nộp ({rate})", len(groups),
                                    filed=t.number(now.filed), groups=t.number(len(groups)), rate=rate))
        else:
            lines.append(t("📝 Báo cáo tháng: {filed}/{due} báo cáo đã nộp ({rate})", filed=t.number(now.filed),
                           due=t.number(now.months_due), rate=rate))
        missing = sum(1 for line in groups if line.figures.filed < line.figures.months_due)
        if len(groups) == 1:
            attention = t("⚠️ Chưa nộp đủ báo cáo tháng") if missing else t("✅ Đã nộp đủ báo cáo tháng")
        elif missing:
            attention = t.ngettext("⚠️ Chưa nộp đủ: {n} tổ", "⚠️ Chưa nộp đủ: {n} tổ", missing)
        else:
            attention = t("✅ Các tổ đã nộp đủ")
        if now.late:
            attention += " · " + t.ngettext("trễ hạn: {n} báo cáo", "trễ hạn: {n} báo cáo", now.late)
        lines.append(attention)
    elif len(groups) > 1 and (silent := sum(1 for line in groups if not line.figures.reports)):
        lines.append(t.ngettext("⚠️ Chưa gửi báo cáo nào: {n} tổ", "⚠️ Chưa gửi báo cáo nào: {n} tổ", silent))
    urgent = t("🚨 Tin khẩn: {n}", n=t.number(now.urgent))
    if now.urgent:
        urgent += " · " + t("còn mở: {n}", n=t.number(now.urgent_open))
    lines.append(urgent)
    lines.append(t("📨 Số báo cáo: {n}", n=t.number(now.reports)) + change(t, now.reports, before.reports))
    return "\n".join(lines[:HEADLINE_LINES])
