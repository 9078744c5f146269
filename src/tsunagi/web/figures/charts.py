"""Chart geometry for the dashboard: our own SVG, laid out here and drawn by the template.

No chart library and no script: the page is readable as soon as it loads and prints as
it is. Every label goes through the template's escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 720
HEIGHT = 220
PAD_LEFT = 44
PAD_BOTTOM = 28
PAD_TOP = 10


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    line: str = ""  # SVG polyline points, e.g. service level
    line2: str = ""  # a second line (CSAT beside NPS)
    zero: float | None = None  # y of a zero line, when the scale goes below zero
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    empty: bool = True


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1)
    return float(((int(value) // step) + 1) * step)


def volume_chart(
    buckets: Sequence[str],
    answered: Sequence[int],
    abandoned: Sequence[int],
    service_level: Sequence[float | None],
) -> Chart:
    """Stacked bars (answered, abandoned) per bucket and a service-level line (0-100 %)."""
    chart = Chart(empty=not buckets)
    if not buckets:
        return chart
    plot_w = WIDTH - PAD_LEFT - 10
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    top = _nice_max(max(a + b for a, b in zip(answered, abandoned, strict=True)))
    slot = plot_w / len(buckets)
    width = max(1.0, slot * 0.7)
    points: list[str] = []
    every = max(1, len(buckets) // 8)
    for index, bucket in enumerate(buckets):
        x = PAD_LEFT + index * slot + (slot - width) / 2
        base = float(PAD_TOP + plot_h)
        for value, css in ((answered[index], "answered"), (abandoned[index], "abandoned")):
            height = plot_h * value / top
            base -= height
            chart.bars.append(Bar(x, base, width, height, css, f"{bucket}: {value}"))
        level = service_level[index]
        if level is not None:
            points.append(f"{x + width / 2:.1f},{PAD_TOP + plot_h * (1 - level):.1f}")
        if index % every == 0:
            chart.x_ticks.append(Tick(x + width / 2, HEIGHT - 8, _short(bucket)))
    chart.line = " ".join(points)
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        chart.y_ticks.append(Tick(PAD_LEFT - 6, y + 4, f"{int(top * fraction)}"))
    return chart


def _short(bucket: str) -> str:
    """A compact x label: the time of an interval, the date of a day/week/month."""
    if "T" in bucket:
        return bucket.split("T", 1)[1][:5]
    return bucket[5:] if len(bucket) == 10 else bucket


def score_chart(
    buckets: Sequence[str], nps: Sequence[float | None], csat: Sequence[float | None]
) -> Chart:
    """NPS (−100…+100) and CSAT (0…100 %, as a share of 4-5 answers) per bucket on one
    −100…+100 scale, with a zero line; a bucket without answers leaves a gap."""
    chart = Chart(empty=not any(v is not None for v in (*nps, *csat)))
    if not buckets:
        return chart
    plot_w = WIDTH - PAD_LEFT - 10
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(buckets)

    def y(value: float) -> float:
        return PAD_TOP + plot_h * (100 - value) / 200

    every = max(1, len(buckets) // 8)
    nps_points: list[str] = []
    csat_points: list[str] = []
    for index, bucket in enumerate(buckets):
        x = PAD_LEFT + index * slot + slot / 2
        if nps[index] is not None:
            nps_points.append(f"{x:.1f},{y(float(nps[index] or 0)):.1f}")
        if csat[index] is not None:
            csat_points.append(f"{x:.1f},{y(100 * float(csat[index] or 0)):.1f}")
        if index % every == 0:
            chart.x_ticks.append(Tick(x, HEIGHT - 8, _short(bucket)))
    chart.line = " ".join(nps_points)
    chart.line2 = " ".join(csat_points)
    chart.zero = y(0)
    for value in (-100, 0, 100):
        chart.y_ticks.append(Tick(PAD_LEFT - 6, y(value) + 4, f"{value:+d}" if value else "0"))
    return chart


def histogram(values_s: Sequence[float], edges_s: Sequence[int]) -> Chart:
    """Counts of values between consecutive edges (the last bin is open-ended)."""
    counts = [0] * len(edges_s)
    for value in values_s:
        index = 0
        while index + 1 < len(edges_s) and value >= edges_s[index + 1]:
            index += 1
        counts[index] += 1
    chart = Chart(empty=not values_s)
    if not values_s:
        return chart
    plot_w = WIDTH - PAD_LEFT - 10
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    top = _nice_max(max(counts))
    slot = plot_w / len(counts)
    for index, count in enumerate(counts):
        x = PAD_LEFT + index * slot + 2
        height = plot_h * count / top
        label = (
            f"{edges_s[index] // 60}+" if index + 1 == len(edges_s) else f"{edges_s[index] // 60}"
        )
        chart.bars.append(
            Bar(x, PAD_TOP + plot_h - height, slot - 4, height, "handle", f"{label} min: {count}")
        )
        chart.x_ticks.append(Tick(x + (slot - 4) / 2, HEIGHT - 8, label))
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        chart.y_ticks.append(Tick(PAD_LEFT - 6, y + 4, f"{int(top * fraction)}"))
    return chart


@dataclass(frozen=True, slots=True)
class HeatCell:
    rate: float | None
    parts: int
    shade: float  # 0 (all resolved) … 1 (none resolved): where knowledge is missing
    repeat_rate: float | None = None  # the check: not followed by a repeat contact
    judged: int = 0  # contacts the repeat check could judge


@dataclass
class Heat:
    rows: list[str] = field(default_factory=list)  # communicators
    columns: list[str] = field(default_factory=list)  # categories
    cells: dict[tuple[str, str], HeatCell] = field(default_factory=dict)


def heat_map(
    values: dict[tuple[str, str], tuple[int, int]],
    repeats: dict[tuple[str, str], tuple[int, int]] | None = None,
) -> Heat:
    """即答率 per (communicator, category) from (resolved, not resolved) counts, beside the
    repeat check's rate from (judged, repeated) counts when given."""
    checked = repeats or {}
    keys = set(values) | set(checked)
    heat = Heat(
        rows=sorted({row for row, _col in keys}), columns=sorted({col for _row, col in keys})
    )
    for key in keys:
        yes, no = values.get(key, (0, 0))
        judged, repeated = checked.get(key, (0, 0))
        parts = yes + no
        rate = yes / parts if parts else None
        repeat_rate = (judged - repeated) / judged if judged else None
        heat.cells[key] = HeatCell(
            rate, parts, 0.0 if rate is None else 1 - rate, repeat_rate, judged
        )
    return heat
