"""Charts and headlines read on a phone (issue 14, item 4): each chart its own image, 1080 pixels
wide with text at least 28 pixels high, the groups that need attention first, no chart of a figure
that is zero everywhere ("chưa có số liệu" instead); the summary opens with a headline of at most
five lines, and [📋 Xem chi tiết] shows the whole text, on the simulator's chat and on Zalo."""

from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime

from PIL import Image

from bot.channels.text_menus import Shown, render, split_text
from handlers.summaries.charts import TEXT_PX, WIDTH_PX, draw, plan
from handlers.summaries.summary import build_summary, complete, draw_charts
from handlers.summaries.summary_text import HEADLINE_LINES
from models.repos import Repo
from tests.helpers import Chat
from tests.integration.test_summary import EXPECTED, HEADLINE, NOV, seed


async def ward(app, clock, code: str = "20242"):  # type: ignore[no-untyped-def]
    """November's summary of a ward with every group's figures (as the bot draws it)."""
    async with app.sessions() as session:
        repo = Repo(session)
        unit = await repo.unit_by_code(code)
        summary = await build_summary(repo, unit_path=unit.path, start=NOV.start, end=NOV.end,
                                      settings=app.settings, now=clock.now())
        await complete(repo, summary)
    return summary


async def test_each_chart_is_one_png_1080_pixels_wide_with_text_of_at_least_28_pixels(app, clock) -> None:
    await seed(app)
    summary = await ward(app, clock)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a letter missing from the font ("Glyph … missing") fails
        drawn = draw_charts(summary, app.engine.translator("vi"))
    assert [chart.title for chart in drawn.charts] == [
        "Tỷ lệ nộp báo cáo tháng", "An ninh trật tự: số báo cáo", "Vệ sinh môi trường: số báo cáo",
        "Giảm nghèo: số báo cáo", "Dân chủ, phản ánh: số báo cáo", "Tin khẩn theo tuần"]
    assert drawn.empty == []
    for chart in drawn.charts:
        image = Image.open(io.BytesIO(chart.png))
        assert image.format == "PNG" and image.size == chart.size and chart.panels == 1, chart.title
        width, height = image.size
        assert width >= 1080 and 500 <= height <= 1600, (chart.title, image.size)
        assert chart.smallest_text_px >= 28, chart.title  # title, names and values: pt × dpi / 72
    # One group: its reports by task, then its urgent incidents.
    async with app.sessions() as session:
        repo = Repo(session)
        group = await repo.unit_by_code("HC-TT3")
        one = await build_summary(repo, unit_path=group.path, start=NOV.start, end=NOV.end, settings=app.settings)
    alone = draw_charts(one, app.engine.translator("en"))
    assert [c.title for c in alone.charts] == ["Reports by task", "Urgent incidents by week"]
    assert all(Image.open(io.BytesIO(c.png)).size[0] == WIDTH_PX and c.smallest_text_px >= TEXT_PX
               for c in alone.charts)


async def test_the_groups_that_need_attention_come_first(app, clock) -> None:
    await seed(app)
    bars = {b.title: b for b in plan(await ward(app, clock), app.engine.translator("vi"))}
    # "Tổ dân phố", which every name starts with, is left out of the bars' names.
    reporting = bars["Tỷ lệ nộp báo cáo tháng"]
    assert reporting.rate and list(zip(reporting.names, reporting.values, strict=True)) == [
        ("Bình Hiên 4", 0), ("Phước Ninh 12", 0), ("Hải Châu 7", 100), ("Thạch Thang 3", 100)]
    sanitation = bars["Vệ sinh môi trường: số báo cáo"]
    assert list(zip(sanitation.names, sanitation.values, strict=True)) == [
        ("Bình Hiên 4", 0), ("Phước Ninh 12", 1), ("Hải Châu 7", 3), ("Thạch Thang 3", 6)]
    urgent = bars["Tin khẩn theo tuần"]  # time runs top to bottom
    assert urgent.names == ["01/11", "02/11", "09/11", "16/11", "23/11", "30/11"]
    assert urgent.values == [0, 0, 2, 1, 0, 0]


async def test_a_city_shows_its_twelve_lowest_wards_with_long_names_on_two_lines(app, clock) -> None:
    from models.units import UnitRow, import_units

    async with app.sessions() as session, session.begin():
        rows = [UnitRow(f"W{n:02}", f"Phường Hòa Khánh Bắc Mở Rộng Số {n:02}", "ward", "48", None)
                for n in range(1, 15)]
        rows += [UnitRow(f"W{n:02}-1", f"Tổ dân phố {n}", "group", f"W{n:02}", 100) for n in range(1, 15)]
        await import_units(session, rows, levels=app.settings.units.levels)
        repo = Repo(session)
        reporter = (await repo.find_who("sim", "demo-topho")).person_id
        for n in (3, 7):  # two wards' groups filed November's report
            unit = await repo.unit_by_code(f"W{n:02}-1")
            await repo.add_report(form_key="bao_cao_thang", form_version=1, task="dan_chu", unit=unit,
                                  reporter_id=reporter, data={"_month": "2026-11"},
                                  at=datetime(2026, 11, 20, 3, tzinfo=UTC))
    city = await ward(app, clock, "48")
    reporting = plan(city, app.engine.translator("vi"))[0]
    assert len(city.children) > 12 and len(reporting.names) == 12
    wards = len(city.children)
    assert reporting.title == (f"Tỷ lệ nộp báo cáo tháng · 12/{wards} đơn vị thấp nhất · "
                               f"{wards - 2} đơn vị ở mức 0")
    # The two wards that filed are not among the lowest twelve: the chart names the wards to remind.
    assert all(value == 0 for value in reporting.values) and not reporting.empty
    assert reporting.names[:2] == ["Hòa Khánh Bắc Mở Rộng Số 01", "Hòa Khánh Bắc Mở Rộng Số 02"]
    chart = draw(reporting)
    assert chart.smallest_text_px >= 28 and Image.open(io.BytesIO(chart.png)).size[0] == 1080


async def test_a_task_without_reports_has_no_chart_and_the_caption_says_there_are_no_figures(app, clock) -> None:
    await seed(app)
    async with app.sessions() as session, session.begin():
        # Nothing about poverty in Hải Châu in November: its reports go away (superseded).
        repo = Repo(session)
        from sqlalchemy import update

        from models.tables import Report
        await session.execute(update(Report).where(Report.task == "giam_ngheo").values(superseded=True))
        ids = {"HC": (await repo.unit_by_code("20242")).id, "ST": (await repo.unit_by_code("20263")).id}
    official = Chat(app, "demo-canbo")
    await official.press_id(f"m.sum.p.{ids['HC']}.m")
    _headline, *photos, document = official.replies
    captions = [photo.text for photo in photos]
    assert len(photos) == 5 and not any("Giảm nghèo" in caption.split("\n")[0] for caption in captions)
    assert captions[-1].endswith("Chưa có số liệu: Giảm nghèo: số báo cáo.")
    assert document.document_id and "chưa có số liệu" not in document.text
    # A ward where nobody reported anything: the headline and the Excel file, no image at all.
    city = Chat(app, "demo-thanhpho")
    await city.press_id(f"m.sum.p.{ids['ST']}.m")
    assert [bool(r.photo_id) for r in city.replies] == [False, False]
    assert city.replies[0].text.startswith("📊 Phường Sơn Trà · Tháng 11/2026\n📝 Báo cáo tháng: 0/")
    assert city.replies[-1].text.endswith("📉 Biểu đồ: chưa có số liệu.")


async def test_the_headline_has_at_most_five_lines_and_xem_chi_tiet_shows_the_rest(app, clock) -> None:
    ids = await seed(app)
    official = Chat(app, "demo-canbo")
    await official.press_id(f"m.sum.p.{ids['HC']}.m")
    answer = official.replies[0].text
    assert answer == HEADLINE and len(answer.splitlines()) <= HEADLINE_LINES
    details = official.replies[0].flat_buttons[0]
    assert details.label == "📋 Xem chi tiết" and details.id == f"m.sum.d.{ids['HC']}.2026-11"
    assert await official.press("Xem chi tiết") == EXPECTED
    assert official.labels == ["🔁 Chọn kỳ khác", "☰ Menu"]
    # The other periods' headlines are short too (a week has no monthly report line).
    for code in ("d", "w", "q", "y"):
        await official.press_id(f"m.sum.p.{ids['HC']}.{code}")
        assert len(official.replies[0].text.splitlines()) <= HEADLINE_LINES
    # The details button is checked like the others.
    assert "Đơn vị này không thuộc địa bàn của bạn." in await official.press_id(f"m.sum.d.{ids['TK']}.2026-11")
    assert "Nút này không hợp lệ." in await official.press_id(f"m.sum.d.{ids['HC']}.2026-13")
    resident = Chat(app, "demo-nguoidan")
    assert "Chức năng này không dành cho tài khoản của bạn." in await resident.press_id(details.id)


async def test_on_zalo_the_headline_numbers_xem_chi_tiet_first_and_the_details_fit(app, clock) -> None:
    ids = await seed(app)
    official = Chat(app, "demo-canbo")
    await official.press_id(f"m.sum.p.{ids['HC']}.m")
    t = app.engine.translator("vi")
    pieces = render(official.replies, t, file_url=lambda attachment: f"https://bot.example/f/{attachment}")
    assert pieces[0].text == HEADLINE + "\n\n1. 📋 Xem chi tiết"
    photos = [piece for piece in pieces if piece.photo_url]
    assert len(photos) == 6  # each chart its own photo message
    shown = Shown.of(official.replies)
    assert shown.select("1") == f"m.sum.d.{ids['HC']}.2026-11"
    assert all(len(part) <= 2000 for part in split_text(await official.press("Xem chi tiết")))
    assert len(pieces[0].text) <= 2000
