"""The summary's charts, made for a phone: one chart per image, 1080 pixels wide, every text at
least 28 pixels high at that width, the units that need attention first (lowest share of monthly
reports, fewest reports), long names wrapped, and no chart for a figure that is zero everywhere:
its title is listed as having no data instead ("chưa có số liệu").

matplotlib (Agg, DejaVu Sans, which has every Vietnamese letter) is imported when a chart is drawn,
not when the bot starts. Drawing is CPU work: callers run it in a thread.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers.i18n import Translator, _

if TYPE_CHECKING:
    from handlers.summaries.summary_figures import Summary

WIDTH_PX = 1080  # a phone's screen is 360–430 CSS pixels at a device pixel ratio of 2.5–3
DPI = 100
TEXT_PX = 32  # names, values: the smallest text of a chart (pixels at WIDTH_PX; at least 28)
TITLE_PX = 40
BAR_PX = 96  # the height of one bar's row: room for a name on two lines
HEAD_PX = 200  # the title and the margins
MAX_BARS = 12  # more units than this: the ones that need attention most
NAME_CHARS = 16  # characters on one line of a unit's name (two lines at most)
TITLE_CHARS = 40
FONT = "DejaVu Sans"
RED, AMBER, GREEN, BLUE = "#c62828", "#e08a00", "#2e7d32", "#1565c0"
# The kinds of unit their names begin with, longest first (data/units: "Tổ dân phố Thạch Thang 3").
UNIT_KINDS = ("Tổ dân phố", "Khu phố", "Đặc khu", "Phường", "Thôn", "Xã", "Tổ")
TASKS = {"an_ninh": _("An ninh trật tự"), "ve_sinh": _("Vệ sinh môi trường"), "giam_ngheo": _("Giảm nghèo"),
         "dan_chu": _("Dân chủ, phản ánh")}


@dataclass(frozen=True, slots=True)
class Bars:
    """One chart before it is drawn: the bars top to bottom and how their values read."""

    title: str
    names: list[str]
    values: list[float]
    rate: bool = False  # values are percentages
    colour: str = BLUE
    hidden: float = 0  # the sum of the values left out (the units that need attention less)

    @property
    def empty(self) -> bool:
        """Zero everywhere, the units left out too: nothing to draw. When only the units shown are
        at zero, their names are what the chart says (the groups to remind)."""
        return not any(self.values) and not self.hidden


@dataclass(frozen=True, slots=True)
class Chart:
    """One drawn chart: a PNG and what a test (or a reader) wants to know about it."""

    title: str
    png: bytes
    size: tuple[int, int]  # pixels
    smallest_text_px: float  # the smallest font size of any text drawn, in pixels
    panels: int = 1  # axes in the image: one chart per image


@dataclass(frozen=True, slots=True)
class Charts:
    charts: list[Chart]
    empty: list[str]  # titles of the charts left out: zero everywhere


def charts(summary: Summary, t: Translator) -> Charts:
    """Every chart of the summary that has something to show, and the titles of those without."""
    planned = plan(summary, t)
    return Charts([draw(bars) for bars in planned if not bars.empty], [bars.title for bars in planned if bars.empty])


def plan(summary: Summary, t: Translator) -> list[Bars]:
    """The summary's charts, in the order they are sent: monthly reporting by unit, then each task
    by unit (once the summary is `complete`: only then are each group's reports by task known), then
    urgent incidents over time. A single group gets its reports by task and its urgent incidents."""
    planned: list[Bars] = []
    children = summary.children
    if not children:
        counts = summary.current.figures.reports_by_task
        ordered = sorted(TASKS, key=lambda key: (counts.get(key, 0), list(TASKS).index(key)))
        planned.append(Bars(t("Báo cáo theo nhiệm vụ"), [t(TASKS[key]) for key in ordered],
                            [float(counts.get(key, 0)) for key in ordered]))
    else:
        names = _names([unit.name for unit, _figures in children])
        if summary.current.months:
            rates = [100 * f.filed / f.months_due if f.months_due else 0.0 for _unit, f in children]
            planned.append(_lowest(t("Tỷ lệ nộp báo cáo tháng"), t, names, rates, rate=True))
        else:
            planned.append(_lowest(t("Số báo cáo theo đơn vị"), t, names, [float(f.reports) for _u, f in children]))
        if summary.complete:
            by_task = _tasks_by_child(summary)
            for key, text in TASKS.items():
                planned.append(_lowest(t("{task}: số báo cáo", task=t(text)), t, names,
                                       [float(counts.get(key, 0)) for counts in by_task]))
    tz = summary.current.period.tz
    pattern = "%m/%Y" if summary.bucket_kind == "month" else "%d/%m"
    by = {"day": _("Tin khẩn theo ngày"), "week": _("Tin khẩn theo tuần"), "month": _("Tin khẩn theo tháng")}
    planned.append(Bars(t(by[summary.bucket_kind]), [start.astimezone(tz).strftime(pattern)
                                                     for start, _n in summary.buckets],
                        [float(n) for _start, n in summary.buckets], colour=RED))
    return planned


def _tasks_by_child(summary: Summary) -> list[dict[str, int]]:
    """Reports by task of each unit directly under the summary's unit, from its groups' figures."""
    top = summary.unit.path
    index = {unit.path: n for n, (unit, _figures) in enumerate(summary.children)}
    found: list[dict[str, int]] = [{} for _child in summary.children]
    for line in summary.groups:
        n = index.get(top + line.unit.path[len(top):].split("/", 1)[0] + "/")
        if n is not None:
            for key, count in line.figures.reports_by_task.items():
                found[n][key] = found[n].get(key, 0) + count
    return found


def _lowest(title: str, t: Translator, names: list[str], values: list[float], *, rate: bool = False) -> Bars:
    """The units that need attention first (lowest value, then by name), at most MAX_BARS of them."""
    pairs = sorted(zip(values, names, strict=True))
    hidden = sum(value for value, _name in pairs[MAX_BARS:])
    if len(pairs) > MAX_BARS:
        title = t("{title} · {n}/{total} đơn vị thấp nhất", title=title, n=MAX_BARS, total=len(pairs))
        if (zeros := sum(1 for value, _name in pairs if not value)) > MAX_BARS:
            title += " · " + t("{n} đơn vị ở mức 0", n=zeros)
        pairs = pairs[:MAX_BARS]
    return Bars(title, [name for _v, name in pairs], [value for value, _name in pairs], rate=rate,
                colour=GREEN if rate else BLUE, hidden=hidden)


def _names(names: list[str]) -> list[str]:
    """Unit names as a bar's label: without the kind of unit when every one of them starts with the
    same ("Tổ dân phố Phước Ninh 12" → "Phước Ninh 12"). The rest of a name is kept, even when the
    names share it ("Hòa Khánh Bắc 17"): a bare "17" would say nothing."""
    if len(names) < 2:
        return names
    for kind in UNIT_KINDS:
        head = kind + " "
        if all(name.startswith(head) and name[len(head):].strip() for name in names):
            return [name[len(head):].strip() for name in names]
    return names


def _wrapped(text: str, width: int, lines: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, max_lines=lines, placeholder="…")) or text


def _rate_colour(value: float) -> str:
    return RED if value < 50 else AMBER if value < 100 else GREEN


def _points(pixels: float) -> float:
    """A font size in points that is `pixels` high at DPI (px = pt × dpi / 72)."""
    return pixels * 72 / DPI


def draw(bars: Bars) -> Chart:
    """One horizontal bar chart, each value written beside its bar, no axis to read off."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    title = _wrapped(bars.title, TITLE_CHARS, 2)
    count = len(bars.values)
    height = HEAD_PX + (title.count("\n") * TITLE_PX) + BAR_PX * max(count, 3)
    with matplotlib.rc_context({"font.family": FONT}):
        figure = Figure(figsize=(WIDTH_PX / DPI, height / DPI), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        positions = list(range(count))
        colours = [_rate_colour(v) for v in bars.values] if bars.rate else bars.colour
        drawn = axes.barh(positions, bars.values, color=colours, height=0.62)
        texts = [f"{round(v)}%" if bars.rate else f"{round(v):,}".replace(",", ".") for v in bars.values]
        labels = axes.bar_label(drawn, labels=texts, fontsize=_points(TEXT_PX), padding=8)
        for text, value in zip(labels, bars.values, strict=True):
            if not value and bars.colour != RED:  # nothing yet: the value in red draws the eye
                text.set_color(RED)
                text.set_fontweight("bold")
        axes.set_yticks(positions, [_wrapped(name, NAME_CHARS, 2) for name in bars.names],
                        fontsize=_points(TEXT_PX))
        axes.tick_params(axis="y", length=0, pad=10)
        axes.set_ylim(max(count, 3) - 0.5, -0.5)  # the first bar on top; room for three at least
        top = 100.0 if bars.rate else max(bars.values)
        axes.set_xlim(0, top * 1.22 or 1)  # room for the value beside the longest bar
        axes.set_xticks([])
        for side in ("top", "right", "bottom"):
            axes.spines[side].set_visible(False)
        figure.suptitle(title, x=0.02, ha="left", fontsize=_points(TITLE_PX), fontweight="bold")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
        smallest = min(text.get_fontsize() for text in figure.findobj(Text)
                       if text.get_visible() and text.get_text().strip())
    return Chart(bars.title, buffer.getvalue(), (round(figure.get_figwidth() * DPI), round(height)),
                 float(smallest) * DPI / 72, len(figure.axes))
