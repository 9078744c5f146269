"""Chart geometry of the planning pages: bars inside the plot, lines on the same axis,
day ticks on multi-day charts, grouped month bars."""

from __future__ import annotations

from datetime import datetime, timedelta

from tsunagi.web.wfm.charts import (
    HEIGHT,
    PAD_BOTTOM,
    PAD_TOP,
    interval_chart,
    month_chart,
    nice_max,
)


def test_nice_axis_tops() -> None:
    assert [nice_max(v) for v in (0, 0.4, 1, 7, 12, 20, 21, 480, 501)] == [
        1,
        1,
        1,
        10,
        20,
        20,
        50,
        500,
        1000,
    ]


def test_bars_and_lines_share_the_axis() -> None:
    starts = [datetime(2026, 3, 2, 9) + timedelta(minutes=30 * k) for k in range(4)]
    chart = interval_chart(starts, [0, 5, 10, 20], {"net": [None, 4, 8, 16]})
    assert not chart.empty and len(chart.bars) == 4
    base = HEIGHT - PAD_BOTTOM
    assert all(abs(b.y + b.height - base) < 1e-9 for b in chart.bars)
    tallest = chart.bars[-1]
    assert abs(tallest.y - PAD_TOP) < 1e-9  # 20 is the axis top
    points = chart.lines[0].points.split()
    assert len(points) == 3  # the missing value is left out
    assert float(points[-1].split(",")[1]) > tallest.y  # 16 sits below 20
    assert [t.text for t in chart.x_ticks][:1] == ["09:00"]
    assert chart.bars[1].title == "2026-03-02 09:30: 5"


def test_multi_day_ticks_and_empty_charts() -> None:
    starts = [datetime(2026, 3, 2) + timedelta(hours=h) for h in range(72)]
    chart = interval_chart(starts, [1.0] * 72)
    assert [t.text for t in chart.x_ticks] == ["03-02", "03-03", "03-04"]
    assert interval_chart([], []).empty


def test_month_bars_grouped_by_scenario() -> None:
    chart = month_chart(["2027-01", "2027-02"], {"a": [100.0, 200.0], "b": [150.0, 50.0]})
    assert [b.css for b in chart.bars] == ["s0", "s1", "s0", "s1"]
    assert chart.bars[1].title == "b 2027-01: 150"
    assert [t.text for t in chart.y_ticks] == ["0", "100", "200"]
    assert month_chart([], {}).empty
