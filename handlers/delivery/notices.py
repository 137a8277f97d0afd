"""Notices to many people: who receives them, queuing them in one transaction, telling the sender
how the delivery goes, and the delivery report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from math import ceil

from handlers.delivery.outbox import after_quiet_hours
from handlers.i18n import LANGUAGES, Translator, _
from handlers.messages import Delivery, Reply
from models import outbox as rows
from models.codes import new_code
from models.repos import Repo
from models.settings import Settings
from models.tables import Notice, Unit

AUDIENCES = {
    "residents": _("Người dân"),
    "leaders": _("Tổ trưởng, tổ phó"),
    "both": _("Người dân và tổ trưởng, tổ phó"),
}
FINISHED = ("sent", "blocked", "failed", "skipped")
PROGRESS_SECONDS = 60


def notice_reply(notice: Notice, unit_name: str, sender_name: str, t: Translator) -> Reply:
    """What a recipient reads."""
    head = t("📢 THÔNG BÁO — {unit}", unit=unit_name)
    if notice.urgent:
        head = t("🚨 THÔNG BÁO KHẨN — {unit}", unit=unit_name)
    return Reply(f"{head}\n\n{notice.text}\n\n— {sender_name}", photo_id=notice.photo_id)


def estimate_seconds(counts: dict[str, int], settings: Settings) -> int:
    """How long the slowest channel needs for its share at its configured rate."""
    if not counts:
        return 0
    return ceil(max(n / max(settings.outbox.rates.get(channel, 10.0), 0.1) for channel, n in counts.items()))


def describe_duration(seconds: int, t: Translator) -> str:
    if seconds < 60:
        return t("dưới 1 phút")
    if seconds < 3600:
        return t("khoảng {n} phút", n=ceil(seconds / 60))
    return t("khoảng {h} giờ {m} phút", h=seconds // 3600, m=ceil(seconds % 3600 / 60))


async def create(
    repo: Repo, *, sender_id: int, sender_name: str, unit: Unit, audience: str, text: str, photo_id: int | None,
    urgent: bool, send_at: datetime, settings: Settings, translate: Callable[[str], Translator],
) -> Notice:
    """Saves the notice and queues one message per recipient in the same transaction."""
    due = send_at if urgent else after_quiet_hours(send_at, settings)
    notice = Notice(code=new_code(6), sender_id=sender_id, unit_id=unit.id or 0, unit_path=unit.path, audience=audience,
                    text=text, photo_id=photo_id, urgent=urgent, send_at=due)
    repo.session.add(notice)
    await repo.session.flush()
    payloads = {lang: [notice_reply(notice, unit.name, sender_name, translate(lang)).to_json()]
                for lang in LANGUAGES}
    notice.total = await rows.enqueue_notice(repo.session, notice, payloads, due)
    await repo.audit(person_id=sender_id, action="notice", target=f"notice:{notice.id}", recipients=notice.total)
    return notice


async def progress(
    repo: Repo, notice_ids: set[int], *, now: datetime, translate: Callable[[str], Translator]
) -> list[Delivery]:
    """Tells each sender how far delivery got: every tenth or every minute, then the final count."""
    deliveries: list[Delivery] = []
    for notice_id in sorted(notice_ids):
        notice = await repo.session.get(Notice, notice_id, with_for_update=True)
        if notice is None or notice.finished_at is not None or not notice.total:
            continue
        counts = await rows.notice_counts(repo.session, notice_id)
        done = sum(counts.get(status, 0) for status in FINISHED)
        t = translate(await repo.person_language(notice.sender_id))
        if done >= notice.total:
            notice.finished_at = now
            parts = [t("✅ Đã gửi xong thông báo {code}: {n} người đã nhận.", code=notice.code,
                       n=t.number(counts.get("sent", 0)))]
            if counts.get("skipped"):
                parts.append(t("{n} người đã dừng nhận tin.", n=t.number(counts["skipped"])))
            if counts.get("blocked"):
                parts.append(t("{n} người đã chặn tin nhắn của Tổ trưởng.", n=t.number(counts["blocked"])))
            if counts.get("failed"):
                parts.append(t("{n} tin không gửi được.", n=t.number(counts["failed"])))
            text = " ".join(parts)
            deliveries.append(Delivery(notice.sender_id, Reply(text)))
            continue
        tenths = done * 10 // notice.total
        minute_passed = notice.progress_at is None or (now - notice.progress_at).total_seconds() >= PROGRESS_SECONDS
        if tenths > notice.progress_tenths or (minute_passed and done > 0):
            notice.progress_tenths = max(tenths, notice.progress_tenths)
            notice.progress_at = now
            text = t("📤 Thông báo {code}: đã gửi {done}/{total}.", code=notice.code, done=t.number(done),
                     total=t.number(notice.total))
            deliveries.append(Delivery(notice.sender_id, Reply(text)))
    return deliveries


async def delivery_report(repo: Repo, notice: Notice, t: Translator) -> str:
    counts = await rows.notice_counts(repo.session, notice.id or 0)
    waiting = counts.get("pending", 0) + counts.get("retry", 0) + counts.get("sending", 0)
    lines = [
        t("📊 Thông báo {code} · {when}", code=notice.code, when=t.datetime(notice.created_at)),
        f"«{notice.text[:80]}{'…' if len(notice.text) > 80 else ''}»",
        t("Người nhận: {n}", n=t.number(notice.total)),
        t("• Đã nhận: {n}", n=t.number(counts.get("sent", 0))),
        t("• Đang chờ gửi: {n}", n=t.number(waiting)),
        t("• Đã chặn tin nhắn của Tổ trưởng: {n}", n=t.number(counts.get("blocked", 0))),
        t("• Đã dừng nhận tin: {n}", n=t.number(counts.get("skipped", 0))),
        t("• Không gửi được: {n}", n=t.number(counts.get("failed", 0))),
    ]
    return "\n".join(lines)
