"""Bar charts drawn on the server as SVG shapes: no JavaScript, no third-party library, nothing fetched.

A chart here is plain geometry (rectangles, lines, texts) that `Chart.svg` writes out as inline SVG, every text
and attribute escaped (`templates/reports/includes/chart.html` puts it in the page; the template engine took
1.9 ms of CPU a page for the two charts' ~500 variables, this 0.1 ms). The SVG is an image (`role="img"`) named
by its title and description; the figures themselves are in the table beside each chart, which is what a
screen reader reads. The three support forms differ by colour *and* pattern (N solid, F striped, S dotted),
each colour has at least 4.5:1 contrast against white, and adjacent parts of a bar are separated by a white
edge, so no part depends on telling colours apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from django.utils.dates import MONTHS_3
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from clinics.models import SupportForm
from portal.money import format_kronor

from .selectors import FORMS, Amounts, ClinicRow, MonthRow, largest_clinics


@dataclass(frozen=True)
class SeriesStyle:
    form: str
    colour: str  # the fill, and the ground of the pattern
    pattern: str  # "solid", "stripes" or "dots"

    @property
    def label(self) -> str:
        return form_label(self.form)

    @property
    def fill(self) -> str:
        return self.colour if self.pattern == "solid" else f"url(#chart-pattern-{self.form})"


SERIES = {
    "N": SeriesStyle("N", "#005a8c", "solid"),
    "F": SeriesStyle("F", "#b34700", "stripes"),
    "S": SeriesStyle("S", "#5c2d91", "dots"),
}
BACKGROUND = "#ffffff"
TOP_CLINICS = 10  # the clinic chart shows the largest ones and the rest as one bar


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    tooltip: str


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    kind: str  # "grid" or "axis"


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"  # start, middle, end


@dataclass
class Chart:
    chart_id: str
    title: str
    description: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)

    @property
    def title_id(self) -> str:
        return f"{self.chart_id}-title"

    @property
    def description_id(self) -> str:
        return f"{self.chart_id}-desc"

    def svg(self) -> SafeString:
        """The chart as inline SVG: an image named by its title and described by its description."""
        e = escape
        parts = [
            f'<svg class="chart" role="img" aria-labelledby="{e(self.title_id)}" '
            f'aria-describedby="{e(self.description_id)}" viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" preserveAspectRatio="xMinYMin meet" '
            'xmlns="http://www.w3.org/2000/svg" focusable="false">\n'
            f'  <title id="{e(self.title_id)}">{e(self.title)}</title>\n'
            f'  <desc id="{e(self.description_id)}">{e(self.description)}</desc>\n  '
        ]
        parts.extend(
            f'<line class="chart__{e(line.kind)}" x1="{line.x1}" y1="{line.y1}" x2="{line.x2}" y2="{line.y2}"/>\n  '
            for line in self.lines
        )
        parts.extend(
            f'<rect class="chart__bar" x="{rect.x}" y="{rect.y}" width="{rect.width}" height="{rect.height}" '
            f'fill="{e(rect.fill)}"><title>{e(rect.tooltip)}</title></rect>\n  '
            for rect in self.rects
        )
        parts.extend(
            f'<text class="chart__label" x="{text.x}" y="{text.y}" text-anchor="{e(text.anchor)}">{e(text.text)}</text>'
            "\n  "
            for text in self.texts
        )
        parts.append("\n</svg>")
        return mark_safe("".join(parts))  # noqa: S308 - every text and attribute above is escaped


def form_label(form: str) -> str:
    return str(SupportForm(form).label)


def nice_ticks(maximum: int, *, count: int = 4) -> list[int]:
    """0 and evenly spaced round steps (1, 2, 2.5 or 5 × 10ⁿ kronor) up to at least `maximum` öre."""
    if maximum <= 0:
        return [0]
    raw = maximum / count
    magnitude = 100  # whole kronor at least
    while magnitude * 10 <= raw:
        magnitude *= 10
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    step = int(step)
    top = -(-maximum // step) * step
    return list(range(0, top + 1, step))


def month_label(month) -> str:
    return f"{MONTHS_3[month.month]} {month.year}"


def _r(value: float) -> float:
    return round(value, 1)


def _stack(amounts: Amounts, label: str) -> list[tuple[str, int, str]]:
    return [
        (form, amounts.by_form[form], f"{label}, {form_label(form)}: {format_kronor(amounts.by_form[form])}")
        for form in FORMS
        if amounts.by_form[form] > 0
    ]


def _highest(rows: Sequence, label) -> str:
    best = max(rows, key=lambda row: row.amounts.total)
    return _("Högst: %(what)s, %(amount)s.") % {"what": label(best), "amount": format_kronor(best.amounts.total)}


def month_chart(rows: Sequence[MonthRow], *, chart_id: str = "chart-months") -> Chart:
    """Stacked columns, one per month, oldest left; the y axis in kronor."""
    width, height = 720, 320
    left, right, top, bottom = 104, 16, 16, 52
    plot_width, plot_height = width - left - right, height - top - bottom
    first, last = month_label(rows[0].month), month_label(rows[-1].month)
    title = _("Belopp per månad och stödform, %(first)s–%(last)s") % {"first": first, "last": last}
    total = sum(row.amounts.total for row in rows)
    if total:
        description = " ".join(
            [
                _("Stapeldiagram: en stapel per månad, delad i N-, F- och S-tandvård."),
                _highest(rows, lambda row: month_label(row.month)),
                _("Siffrorna finns i tabellen under diagrammet."),
            ]
        )
    else:
        description = _("Inga räkningar kom in under perioden.")
    chart = Chart(chart_id, title, description, width, height)

    ticks = nice_ticks(max(row.amounts.total for row in rows))
    scale = plot_height / ticks[-1] if ticks[-1] else 0
    baseline = top + plot_height
    for tick in ticks:
        y = _r(baseline - tick * scale)
        chart.lines.append(Line(left, y, width - right, y, "axis" if tick == 0 else "grid"))
        chart.texts.append(Text(left - 8, _r(y + 4), format_kronor(tick), "end"))

    slot = plot_width / len(rows)
    bar_width = slot * 0.62
    for index, row in enumerate(rows):
        x = left + index * slot + (slot - bar_width) / 2
        y = baseline
        for form, amount, tooltip in _stack(row.amounts, month_label(row.month)):
            bar_height = amount * scale
            y -= bar_height
            chart.rects.append(Rect(_r(x), _r(y), _r(bar_width), _r(bar_height), SERIES[form].fill, tooltip))
        centre = _r(x + bar_width / 2)
        chart.texts.append(Text(centre, baseline + 18, str(MONTHS_3[row.month.month])))
        if index == 0 or row.month.month == 1:
            chart.texts.append(Text(centre, baseline + 36, str(row.month.year)))
    return chart


def clinic_chart(rows: Sequence[ClinicRow], *, chart_id: str = "chart-clinics") -> Chart:
    """Stacked horizontal bars, one per clinic, largest first; beyond TOP_CLINICS the rest share one bar."""
    largest = largest_clinics(list(rows), top=TOP_CLINICS)
    shown: list[tuple[str, Amounts]] = [(f"{row.number} {row.name}", row.amounts) for row in largest.largest]
    if largest.others:
        label = _("Övriga %(count)s kliniker") % {"count": largest.others}
        shown.append((label, largest.others_amounts))

    row_height, bar_height = 30, 20
    width, left, right, top, bottom = 720, 232, 112, 8, 32
    plot_width = width - left - right
    height = top + max(len(shown), 1) * row_height + bottom
    title = _("Belopp per klinik och stödform")
    if shown:
        description = " ".join(
            [
                _("Liggande stapeldiagram: en stapel per klinik, delad i N-, F- och S-tandvård."),
                _("Störst: %(what)s, %(amount)s.") % {"what": shown[0][0], "amount": format_kronor(shown[0][1].total)},
                _("Siffrorna finns i tabellen under diagrammet."),
            ]
        )
    else:
        description = _("Inga räkningar kom in under perioden.")
    chart = Chart(chart_id, title, description, width, height)

    ticks = nice_ticks(max((amounts.total for _label, amounts in shown), default=0))
    scale = plot_width / ticks[-1] if ticks[-1] else 0
    axis_y = top + max(len(shown), 1) * row_height
    for tick in ticks:
        x = _r(left + tick * scale)
        chart.lines.append(Line(x, top, x, axis_y, "axis" if tick == 0 else "grid"))
        chart.texts.append(Text(x, axis_y + 18, format_kronor(tick), "middle"))

    for index, (label, amounts) in enumerate(shown):
        y = top + index * row_height + (row_height - bar_height) / 2
        x = left
        for form, amount, tooltip in _stack(amounts, label):
            bar_width = amount * scale
            chart.rects.append(Rect(_r(x), _r(y), _r(bar_width), bar_height, SERIES[form].fill, tooltip))
            x += bar_width
        text_y = _r(y + bar_height / 2 + 4)
        chart.texts.append(Text(left - 8, text_y, _shorten(label, 30), "end"))
        chart.texts.append(Text(_r(x + 6), text_y, format_kronor(amounts.total), "start"))
    return chart


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def relative_luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.1's contrast ratio of two sRGB colours written #rrggbb."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
