"""Chart geometry for the planning pages: bars per interval and lines over them, in our
own SVG (the way the figures dashboard draws), laid out here and drawn by the template.

No chart library and no script; every label goes through the template's escaping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

# The same geometry as the figures dashboard: one look for every chart of the product.
from tsunagi.web.figures.charts import HEIGHT, PAD_BOTTOM, PAD_LEFT, PAD_TOP, WIDTH, Bar, Tick

PAD_RIGHT = 10


@dataclass(frozen=True, slots=True)
class Line:
    css: str
    points: str  # SVG polyline points


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    empty: bool = True


def nice_max(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2, 5 x a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _label(start: datetime, multi_day: bool) -> str:
    return start.strftime("%m-%d") if multi_day else start.strftime("%H:%M")


def interval_chart(
    starts: Sequence[datetime],
    bars: Sequence[float],
    lines: Mapping[str, Sequence[float | None]] | None = None,
    *,
    bar_css: str = "required",
) -> Chart:
    """One bar per interval and a polyline per named series (``None`` breaks nothing: the
    point is left out). Lines share the bars' axis; ticks mark days on multi-day charts."""
    lines = lines or {}
    chart = Chart(empty=not starts)
    if not starts:
        return chart
    highest = max([*bars, *(v for ys in lines.values() for v in ys if v is not None), 0.0])
    top = nice_max(highest)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(starts)
    width = max(0.5, slot * 0.8)
    base = PAD_TOP + plot_h
    multi_day = starts[0].date() != starts[-1].date()
    for i, (start, value) in enumerate(zip(starts, bars, strict=True)):
        x = PAD_LEFT + i * slot
        height = plot_h * value / top
        title = f"{start:%Y-%m-%d %H:%M}: {value:g}"
        chart.bars.append(Bar(x + (slot - width) / 2, base - height, width, height, bar_css, title))
        new_day = i == 0 or start.date() != starts[i - 1].date()
        if (multi_day and new_day) or (not multi_day and i % max(1, len(starts) // 8) == 0):
            chart.x_ticks.append(Tick(x + slot / 2, HEIGHT - 8, _label(start, multi_day)))
    for css, values in lines.items():
        points = [
            f"{PAD_LEFT + (i + 0.5) * slot:.1f},{base - plot_h * v / top:.1f}"
            for i, v in enumerate(values)
            if v is not None
        ]
        if points:
            chart.lines.append(Line(css, " ".join(points)))
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        chart.y_ticks.append(Tick(PAD_LEFT - 6, y + 4, f"{top * fraction:g}"))
    return chart


def month_chart(months: Sequence[str], totals: Mapping[str, Sequence[float]]) -> Chart:
    """Monthly totals of several scenarios as grouped bars (one css class per scenario
    position: ``s0``, ``s1``, ...)."""
    chart = Chart(empty=not months)
    if not months or not totals:
        return chart
    top = nice_max(max((v for vs in totals.values() for v in vs), default=0.0))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(months)
    width = slot * 0.8 / len(totals)
    for i, month in enumerate(months):
        x0 = PAD_LEFT + i * slot + slot * 0.1
        for k, (name, values) in enumerate(totals.items()):
            height = plot_h * values[i] / top
            chart.bars.append(
                Bar(
                    x0 + k * width,
                    PAD_TOP + plot_h - height,
                    width,
                    height,
                    f"s{k}",
                    f"{name} {month}: {values[i]:,.0f}",
                )
            )
        chart.x_ticks.append(Tick(PAD_LEFT + (i + 0.5) * slot, HEIGHT - 8, month[5:]))
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        chart.y_ticks.append(Tick(PAD_LEFT - 6, y + 4, _short_money(top * fraction)))
    return chart


def _short_money(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
