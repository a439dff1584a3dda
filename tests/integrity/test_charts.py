"""Charts that read well: points spread by their dates, whole titles, every series visible and
named in a legend, times in the organisation's zone."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from integrity.charts import DASHES, LINE_PX, TITLE_CHAR_PX, line_chart

END = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
START = END - timedelta(days=90)


def _circles(svg: str) -> list[float]:
    return [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]


def test_points_spread_over_the_axis_by_their_dates():
    days = [END - timedelta(days=d) for d in (10, 7, 3, 0)]
    svg = line_chart(
        [("errors", [(d, n) for n, d in enumerate(days)])],
        start=START,
        end=END,
        title="Errors",
        width=400,
    )
    xs = _circles(svg)
    left, right = 48, 400 - 14
    assert xs == sorted(xs) and len(set(xs)) == 4
    # The first point is near the left edge, not squeezed against the right one ...
    assert xs[0] - left < 0.1 * (right - left)
    # ... and the spacing follows the dates: 3 days, then 4, then 3.
    gaps = [b - a for a, b in zip(xs, xs[1:], strict=False)]
    assert abs(gaps[1] / gaps[0] - 4 / 3) < 0.01 and abs(gaps[2] / gaps[0] - 1) < 0.01


def test_reports_minutes_apart_are_not_drawn_on_top_of_each_other():
    moments = [END - timedelta(minutes=m) for m in (20, 10, 0)]
    svg = line_chart([("errors", [(m, 1) for m in moments])], start=START, end=END, title="E")
    xs = _circles(svg)
    assert min(b - a for a, b in zip(xs, xs[1:], strict=False)) > 50


def test_a_long_title_wraps_inside_the_picture_and_stays_whole():
    title = "Price per square metre outside the expected range for the organisation (warning)"
    svg = line_chart([("x", [(END, 1)])], start=START, end=END, title=title, width=360)
    lines = re.findall(r'class="chart-title">([^<]*)</text>', svg)
    assert len(lines) > 1
    assert " ".join(lines) == title
    assert all(len(line) * TITLE_CHAR_PX <= 360 for line in lines)
    # The plot starts below the last title line.
    plot_top = float(re.search(r'<rect x="\d+" y="([\d.]+)"', svg)[1])
    assert plot_top >= LINE_PX * len(lines)


def _lines(svg: str) -> list[tuple[str, str, str]]:
    """(colour, width, dash) of each drawn line."""
    return [
        (
            re.search(r'stroke="(#\w+)"', line)[1],
            re.search(r'stroke-width="([\d.]+)"', line)[1],
            (re.search(r'stroke-dasharray="([^"]+)"', line) or [None, ""])[1],
        )
        for line in re.findall(r"<polyline[^>]*>", svg)
    ]


def test_each_series_is_drawn_distinctly_with_a_legend():
    names = ["address", "suburb", "postcode"]
    series = [
        (name, [(END - timedelta(days=d), 0.5 + 0.1 * n) for d in (5, 2, 0)])
        for n, name in enumerate(names)
    ]
    svg = line_chart(series, start=START, end=END, title="Completeness", percent=True)
    lines = _lines(svg)
    assert len({colour for colour, _, _ in lines}) == 3
    assert [dash for _, _, dash in lines] == [DASHES[0], DASHES[1], DASHES[2]]
    legend = re.findall(r'<g class="chart-legend">.*?<text[^>]*>([^<]*)</text></g>', svg)
    assert legend == names
    # A single series is named too.
    single = line_chart(series[:1], start=START, end=END, title="Errors")
    assert single.count('class="chart-legend"') == 1


def test_identical_series_show_as_bands_around_each_other():
    # Three fields all 100% complete: the lines lie on top of each other.
    points = [(END - timedelta(days=d), 1.0) for d in (5, 2, 0)]
    series = [(name, points) for name in ("address", "suburb", "postcode")]
    svg = line_chart(series, start=START, end=END, title="Completeness", percent=True)
    widths = [float(width) for _, width, _ in _lines(svg)]
    # Drawn in order, each wider than the ones drawn over it: every colour stays visible.
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == 3
    assert len({colour for colour, _, _ in _lines(svg)}) == 3


def test_axis_and_point_labels_are_in_the_given_zone():
    perth = ZoneInfo("Australia/Perth")
    moment = datetime(2026, 6, 29, 23, 30, tzinfo=UTC)  # 07:30 on the 30th in Perth
    svg = line_chart([("errors", [(moment, 2)])], start=START, end=END, title="E", zone=perth)
    assert "errors 2026-06-30 07:30 AWST: 2" in svg
