"""Chart geometry: bars proportional to their values, the service-level line inside the plot."""

from __future__ import annotations

import pytest

from tsunagi.web.figures.charts import heat_map, histogram, volume_chart


def test_stacked_bars_are_proportional_and_the_line_follows_service_level() -> None:
    chart = volume_chart(["2026-12-01", "2026-12-02"], [30, 10], [10, 0], [0.5, 1.0])
    answered = [b for b in chart.bars if b.css == "answered"]
    abandoned = [b for b in chart.bars if b.css == "abandoned"]
    assert answered[0].height == pytest.approx(3 * answered[1].height)
    assert abandoned[0].height == pytest.approx(answered[1].height)
    assert abandoned[1].height == 0
    # the abandoned bar sits on top of the answered one
    assert abs(abandoned[0].y + abandoned[0].height - answered[0].y) < 1e-9
    ys = [float(p.split(",")[1]) for p in chart.line.split()]
    assert ys[1] < ys[0]  # 100 % is drawn higher than 50 %
    assert not chart.empty


def test_empty_inputs_draw_nothing() -> None:
    assert volume_chart([], [], [], []).bars == []
    assert histogram([], [0, 60]).empty


def test_histogram_bins_and_heat_map_rates() -> None:
    chart = histogram([10, 70, 75, 4000], [0, 60, 120, 1800])
    assert [b.title.split(": ")[1] for b in chart.bars] == ["1", "2", "0", "1"]
    heat = heat_map({("aiko", "billing"): (3, 1), ("aiko", "delivery"): (0, 0)})
    assert heat.cells[("aiko", "billing")].rate == 0.75
    assert heat.cells[("aiko", "delivery")].rate is None
    assert heat.columns == ["billing", "delivery"]
