"""Server-side SVG line charts for the report page: no JavaScript, no CDN."""

import math
from datetime import datetime, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def line_chart(
    series: list[tuple[str, list[tuple[datetime, float]]]],
    *,
    start: datetime,
    end: datetime,
    title: str,
    percent: bool = False,
    width: int = 560,
    height: int = 170,
) -> SafeString:
    """One line per (label, points) over the time range start..end. Every text that reaches
    the SVG is escaped: labels come from the database."""
    legend_rows = (len(series) + 2) // 3 if len(series) > 1 else 0
    left, right, top, bottom = 48, 12, 22, 28
    height += 14 * legend_rows
    plot_width = width - left - right
    plot_height = height - top - bottom - 14 * legend_rows
    values = [value for _, points in series for _, value in points if value is not None]
    # Counts get whole-number axes; shares run 0..100%.
    y_max = 1.0 if percent else float(math.ceil(max([1.0, *values])))
    span = max((end - start).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        return left + plot_width * (moment - start).total_seconds() / span

    def y(value: float) -> float:
        return top + plot_height * (1 - value / y_max)

    def label(value: float) -> str:
        return f"{value * 100:.0f}%" if percent else f"{value:,.0f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="integrity-chart" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_width}" height="{plot_height}" '
        'fill="none" stroke="#ccc"/>',
    ]
    ticks = (0, 0.5, 1) if percent or y_max >= 2 else (0, 1)
    for fraction in ticks:
        value = y_max * fraction if percent else round(y_max * fraction)
        parts.append(
            f'<text x="{left - 4}" y="{y(value) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{label(value)}</text>'
        )
    for moment, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text x="{x(moment):.1f}" y="{top + plot_height + 18}" font-size="10" '
            f'text-anchor="{anchor}">{moment:%Y-%m-%d}</text>'
        )
    legend = (left, top + plot_height + 34) if len(series) > 1 else None
    for index, (name, points) in enumerate(series):
        parts.extend(_series(index, name, points, x, y, label, legend))
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _series(index, name, points, x, y, label, legend) -> list[str]:
    """One series' line, points (with a tooltip each) and, when `legend` gives where the legend
    starts, its legend entry."""
    colour = PALETTE[index % len(PALETTE)]
    parts = []
    drawn = [(moment, value) for moment, value in points if value is not None]
    if len(drawn) > 1:
        coordinates = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in drawn)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coordinates}"/>'
        )
    for moment, value in drawn:
        parts.append(
            f'<circle cx="{x(moment):.1f}" cy="{y(value):.1f}" r="2.5" fill="{colour}">'
            f"<title>{escape(name)} {moment:%Y-%m-%d %H:%M}: {label(value)}</title></circle>"
        )
    if legend is not None:
        legend_x = legend[0] + (index % 3) * 170
        legend_y = legend[1] + (index // 3) * 14
        parts.append(
            f'<text x="{legend_x}" y="{legend_y}" font-size="10" fill="{colour}">'
            f"{escape(name)}</text>"
        )
    return parts


def trend_window(now: datetime, days: int = 90) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now
