"""Server-side SVG line charts for the report page: no JavaScript, no CDN.

The time axis spans the points' own dates (not an empty window with every point at its right
edge), titles wrap instead of running off the picture, each series has its own colour, dash
and marker so overlapping lines stay visible, and a legend names them.
"""

import math
from datetime import datetime, timedelta, tzinfo

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
#: Dashes tell apart lines that lie on top of each other (all fields 100% complete).
DASHES = ["", "6 3", "2 2", "8 3 2 3", "4 4", "1 3", "10 2"]
#: Average glyph widths of the admin's sans-serif, for wrapping and laying out text.
TITLE_CHAR_PX, LABEL_CHAR_PX = 6.6, 5.6
LINE_PX = 14
PLOT_INSET = 8
X_TICKS = 5
#: The shortest time axis, so reports minutes apart are not drawn on top of each other.
MIN_SPAN = timedelta(hours=1)


def line_chart(
    series: list[tuple[str, list[tuple[datetime, float]]]],
    *,
    start: datetime,
    end: datetime,
    title: str,
    percent: bool = False,
    width: int = 560,
    height: int = 170,
    zone: tzinfo | None = None,
) -> SafeString:
    """One line per (label, points) between start and end, the axis narrowed to the points'
    dates; times are labelled in `zone` (default: the active time zone). Every text that
    reaches the SVG is escaped: labels come from the database."""
    zone = zone or timezone.get_current_timezone()
    left, right = 48, 14
    title_lines = _wrap(title, (width - 8) / TITLE_CHAR_PX)
    legend = _legend_layout([name for name, _ in series], width - left - right)
    top = 14 + LINE_PX * len(title_lines)
    plot_width = width - left - right
    plot_height = max(height - 50, 60)
    axis_bottom = top + plot_height
    total_height = axis_bottom + 24 + LINE_PX * (max(position[1] for position in legend) + 1)
    axis_start, axis_end = _axis(series, start, end)
    span = (axis_end - axis_start).total_seconds()
    values = [value for _, points in series for _, value in points if value is not None]
    # Counts get whole-number axes; shares run 0..100%.
    y_max = 1.0 if percent else float(math.ceil(max([1.0, *values])))

    def x(moment: datetime) -> float:
        return left + plot_width * (moment - axis_start).total_seconds() / span

    def y(value: float) -> float:
        # Inset from the frame, so lines at 0 and 100% are not drawn on its edges.
        return top + PLOT_INSET + (plot_height - 2 * PLOT_INSET) * (1 - value / y_max)

    def label(value: float) -> str:
        return f"{value * 100:.0f}%" if percent else f"{value:,.0f}"

    parts = _frame(title, title_lines, width, total_height, (left, top, plot_width, plot_height))
    parts.extend(_y_ticks(y_max, percent, left, y, label))
    parts.extend(_x_ticks(axis_start, axis_end, zone, x, axis_bottom))
    drawn = [[(m, v) for m, v in points if v is not None] for _, points in series]
    # A line hidden under later identical ones (fields all 100% complete) is drawn wider, so
    # each shows as a band of its own colour around the ones on top.
    covered = [sum(1 for later in drawn[i + 1 :] if later == drawn[i]) for i in range(len(drawn))]
    for index, (name, _) in enumerate(series):
        parts.extend(_series(index, name, drawn[index], covered[index], x, y, label, zone))
    for index, (name, _) in enumerate(series):
        legend_x, row = legend[index]
        legend_y = axis_bottom + 34 + LINE_PX * row
        parts.append(_legend_entry(index, name, left + legend_x, legend_y, covered[index]))
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _frame(title: str, title_lines: list[str], width: int, total_height: int, plot) -> list[str]:
    """The picture's opening, its title lines and the plot's frame (`plot`: left, top, width,
    height)."""
    left, top, plot_width, plot_height = plot
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_height}" '
        f'viewBox="0 0 {width} {total_height}" role="img" class="integrity-chart" '
        f'aria-label="{escape(title)}" font-family="sans-serif">',
        f"<title>{escape(title)}</title>",
        *(
            f'<text x="4" y="{6 + LINE_PX * (number + 1) - 3}" font-size="12" '
            f'font-weight="bold" class="chart-title">{escape(line)}</text>'
            for number, line in enumerate(title_lines)
        ),
        f'<rect x="{left}" y="{top}" width="{plot_width}" height="{plot_height}" '
        'fill="none" stroke="#ccc"/>',
    ]


def _y_ticks(y_max: float, percent: bool, left: int, y, label) -> list[str]:
    ticks = (0, 0.5, 1) if percent or y_max >= 2 else (0, 1)
    parts = []
    for fraction in ticks:
        value = y_max * fraction if percent else round(y_max * fraction)
        parts.append(
            f'<text x="{left - 4}" y="{y(value) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{label(value)}</text>'
        )
    return parts


def _axis(series, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """From a little before the first point to `end`, at least MIN_SPAN long, never before
    `start`."""
    moments = [moment for _, points in series for moment, value in points if value is not None]
    if not moments:
        return start, end
    span = max(end - min(moments), MIN_SPAN)
    return max(start, end - span * 1.05), end


def _x_ticks(axis_start, axis_end, zone, x, axis_bottom) -> list[str]:
    span = axis_end - axis_start
    pattern = "%d %b" if span > timedelta(days=3) else "%d %b %H:%M"
    parts = []
    for number in range(X_TICKS):
        moment = axis_start + span * number / (X_TICKS - 1)
        anchor = "start" if number == 0 else "end" if number == X_TICKS - 1 else "middle"
        position = x(moment)
        parts.append(
            f'<line x1="{position:.1f}" y1="{axis_bottom}" x2="{position:.1f}" '
            f'y2="{axis_bottom + 4}" stroke="#999"/>'
            f'<text x="{position:.1f}" y="{axis_bottom + 16}" font-size="10" '
            f'text-anchor="{anchor}">{timezone.localtime(moment, zone):{pattern}}</text>'
        )
    return parts


def _series(index, name, drawn, covered, x, y, label, zone) -> list[str]:
    colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
    # Dashes would break a band into stripes; a covered line is drawn solid.
    dash = "" if covered else dash
    parts = []
    if len(drawn) > 1:
        coordinates = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in drawn)
        dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="{2 + 2.5 * covered}"'
            f"{dash_attribute} "
            f'points="{coordinates}" class="chart-series"/>'
        )
    for moment, value in drawn:
        local = timezone.localtime(moment, zone)
        parts.append(
            f'<circle cx="{x(moment):.1f}" cy="{y(value):.1f}" r="{3.5 + 1.5 * covered:.1f}" '
            f'fill="{colour}" stroke="#fff" stroke-width="0.8">'
            f"<title>{escape(name)} {local:%Y-%m-%d %H:%M %Z}: {label(value)}</title></circle>"
        )
    return parts


def _legend_entry(index: int, name: str, legend_x: float, legend_y: float, covered: int) -> str:
    colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
    dash = "" if covered else dash
    dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<g class="chart-legend"><line x1="{legend_x:.1f}" y1="{legend_y - 4}" '
        f'x2="{legend_x + 18:.1f}" y2="{legend_y - 4}" stroke="{colour}" stroke-width="3"'
        f'{dash_attribute}/><text x="{legend_x + 22:.1f}" y="{legend_y}" font-size="10">'
        f"{escape(name)}</text></g>"
    )


def _legend_layout(names: list[str], available: float) -> list[tuple[float, int]]:
    """Each legend entry's (x offset, row), flowing left to right and wrapping; at least one
    row, so the picture leaves room for it."""
    positions, offset, row = [], 0.0, 0
    for name in names:
        entry_width = 22 + LABEL_CHAR_PX * len(name) + 14
        if offset and offset + entry_width > available:
            offset, row = 0.0, row + 1
        positions.append((offset, row))
        offset += entry_width
    return positions or [(0.0, 0)]


def _wrap(text: str, max_chars: float) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and len(candidate) > max_chars:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines or [""]


def trend_window(now: datetime, days: int = 90) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now
