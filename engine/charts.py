"""Small SVG charts for the HTML report: no JavaScript, no network, prints as drawn.

Each function returns markup ready to inline; every text it draws is escaped, since
titles come from rulesets.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from markupsafe import Markup, escape

# Colour-blind safe (blue / amber / red stay apart under deuteranopia and protanopia, and
# every status also has an icon) and WCAG AA: white text on each is at least 4.5:1.
COLOURS = {"met": "#0072b2", "near": "#8a5a00", "missed": "#b3261e", "n/a": "#59636e", "tracked": "#6639ba",
           "pass": "#0072b2", "warn": "#8a5a00", "fail": "#b3261e"}


def _f(x: float) -> str:
    return f"{x:.1f}"


def _named(label: str) -> str:
    """The accessible name of a chart: a <title> (shown as a tooltip) and aria-label."""
    return f' role="img" aria-label="{escape(label)}"><title>{escape(label)}</title'


def text_width(text: str, size: float = 11) -> float:
    """Roughly how wide a label draws: CJK characters are square, Latin about 0.6 em."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def radar(axes: Sequence[tuple[str, float | None]], size: int = 260) -> Markup:
    """Category scores (0..100) on a radar; fewer than three categories draw as bars."""
    if len(axes) < 3:
        return bars(axes)
    c, r = size / 2, size / 2 - 48
    angle = [math.pi * 2 * i / len(axes) - math.pi / 2 for i in range(len(axes))]

    def point(i: int, value: float) -> str:
        return f"{_f(c + r * value / 100 * math.cos(angle[i]))},{_f(c + r * value / 100 * math.sin(angle[i]))}"

    rings = "".join(f'<polygon points="{" ".join(point(i, level) for i in range(len(axes)))}" '
                    f'fill="none" stroke="#d0d7de"/>' for level in (25, 50, 75, 100))
    spokes = "".join(f'<line x1="{c}" y1="{c}" x2="{point(i, 100).split(",")[0]}" '
                     f'y2="{point(i, 100).split(",")[1]}" stroke="#d0d7de"/>' for i in range(len(axes)))
    shape = " ".join(point(i, v or 0) for i, (_, v) in enumerate(axes))
    labels, widest = "", 0.0
    for i, (title, value) in enumerate(axes):
        x, y = (float(v) for v in point(i, 118).split(","))
        anchor = "middle" if abs(math.cos(angle[i])) < 0.3 else ("start" if math.cos(angle[i]) > 0 else "end")
        shown = "n/a" if value is None else f"{value:.0f}"
        if anchor != "middle":  # labels left and right of the chart need room beside it
            w = text_width(f"{title} {shown}")
            widest = max(widest, x + w - size if anchor == "start" else w - x)
        labels += (f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" font-size="11">'
                   f'{escape(title)} <tspan font-weight="bold">{shown}</tspan></text>')
    pad = max(20, math.ceil(widest) + 8)  # sized to the widest label beside the chart, so none is cut
    name = ", ".join(f"{t} {'n/a' if v is None else f'{v:.0f}'}" for t, v in axes)
    return Markup(f'<svg class="radar" viewBox="{-pad} 0 {size + 2 * pad} {size}" width="{size + 2 * pad}" '
                  f'height="{size}"{_named(name)}>'
                  f'{rings}{spokes}<polygon points="{shape}" fill="#0969da33" stroke="#0969da" '
                  f'stroke-width="2"/>{labels}</svg>')


def bars(axes: Sequence[tuple[str, float | None]], width: int = 260) -> Markup:
    """Scores (0..100) as horizontal bars, one per row."""
    rows = ""
    for i, (title, value) in enumerate(axes):
        y = 8 + i * 26
        rows += (f'<text x="0" y="{y + 13}" font-size="11">{escape(title)}</text>'
                 f'<rect x="110" y="{y}" width="{width - 150}" height="16" fill="#eaeef2"/>'
                 f'<rect x="110" y="{y}" width="{_f((width - 150) * (value or 0) / 100)}" height="16" fill="#0969da"/>'
                 f'<text x="{width - 34}" y="{y + 13}" font-size="11">{"n/a" if value is None else f"{value:.0f}"}</text>')
    return Markup(f'<svg class="bars" viewBox="0 0 {width} {16 + 26 * len(axes)}" width="{width}" '
                  f'height="{16 + 26 * len(axes)}"{_named(", ".join(f"{t} {v}" for t, v in axes))}>{rows}</svg>')


def kpi_bar(kpi: Any, label: str = "", peers: Sequence[float] | None = None, own: bool = True,
            width: int = 220) -> Markup:
    """The value as a bar in its status colour, against marks for the floor (grey),
    the target (black) and the benchmark (dashed blue), on a scale that holds them all.
    A KPI without a target (scored against the other entities) is drawn among them
    instead: ``peers`` is their (min, median, max), the value a dot when it is one of
    theirs (``own``; the whole's total need not be on their scale); a bar from zero
    would fill whatever the score."""
    if kpi.target is None and peers is not None:
        return peer_strip(kpi, peers, label, own, width)
    points = [v for v in (kpi.value, kpi.target, kpi.floor, kpi.benchmark) if v is not None]
    if kpi.value is None or not points:
        return Markup(f'<svg class="kpi-bar" viewBox="0 0 {width} 18" width="{width}" height="18"{_named(label)}>'
                      f'<rect x="0" y="4" width="{width}" height="10" fill="#eaeef2"/></svg>')
    low, high = min(points + [0.0]), max(points)
    span = (high - low) or 1.0
    low, high = low - span * 0.05, high + span * 0.1

    def x(v: float) -> float:
        return (v - low) / (high - low) * width

    marks = ""
    for value, colour, dash in ((kpi.floor, "#8c959f", ""), (kpi.target, "#1f2328", ""),
                                (kpi.benchmark, "#0969da", ' stroke-dasharray="3 2"')):
        if value is not None:
            marks += f'<line x1="{_f(x(value))}" x2="{_f(x(value))}" y1="0" y2="18" stroke="{colour}" stroke-width="2"{dash}/>'
    zero = x(max(low, 0.0))
    left, right = sorted((zero, x(kpi.value)))
    return Markup(f'<svg class="kpi-bar" viewBox="0 0 {width} 18" width="{width}" height="18"{_named(label)}>'
                  f'<rect x="0" y="4" width="{width}" height="10" fill="#eaeef2"/>'
                  f'<rect x="{_f(left)}" y="4" width="{_f(max(right - left, 1))}" height="10" '
                  f'fill="{COLOURS.get(kpi.status, "#8c959f")}"/>{marks}</svg>')


def peer_strip(kpi: Any, peers: Sequence[float], label: str = "", own: bool = True, width: int = 220) -> Markup:
    """Where a value sits among its peers: their range (min to max) as a band, their
    median as a tick and the value as a dot in its status colour; the better end is
    on the right whichever way ``better`` points (lower is better: the scale runs from
    high to low), so further right is always better."""
    low, middle, high = peers
    span = (high - low) or 1.0
    pad = 8.0

    def x(v: float) -> float:
        share = (v - low) / span if high != low else 0.5
        return pad + (share if kpi.better == "higher" else 1 - share) * (width - 2 * pad)

    dot = "" if kpi.value is None or not own else (
        f'<circle cx="{_f(x(kpi.value))}" cy="9" r="5.5" fill="{COLOURS.get(kpi.status, "#8c959f")}" '
        f'stroke="#fff" stroke-width="1.5"/>')
    return Markup(f'<svg class="kpi-bar peers" viewBox="0 0 {width} 18" width="{width}" height="18"{_named(label)}>'
                  f'<rect x="{pad}" y="6" width="{_f(width - 2 * pad)}" height="6" rx="3" fill="#d0d7de"/>'
                  f'<line x1="{_f(x(middle))}" x2="{_f(x(middle))}" y1="2" y2="16" stroke="#1f2328" stroke-width="2"/>'
                  f'{dot}</svg>')


def scale(values: Sequence[float], target: float | None = None, least: float = 0.1) -> tuple[float, float]:
    """The y range of a trend: the values and the target, and at least ``least`` of their
    magnitude wide, so a wobble of 95.6 -> 96.1 draws as a wobble, not as a collapse."""
    points = list(values) + ([target] if target is not None else [])
    low, high = min(points), max(points)
    need = least * max(abs(low), abs(high)) or 1.0
    if high - low < need:
        middle = (low + high) / 2
        low, high = middle - need / 2, middle + need / 2
        if min(points) >= 0 > low:  # no negative axis for values that cannot be negative
            low, high = 0.0, high - low
    return low, high


def sparkline(values: Sequence[float | None], label: str = "", target: float | None = None,
              width: int = 110, height: int = 28) -> Markup:
    """A line through the values of a trend, gaps where a value is missing, on the scale
    of :func:`scale` (the caller writes its range beside it), the target as a dashed line
    and the first and last values as dots."""
    known = [v for v in values if v is not None]
    if len(values) < 2 or not known:
        return Markup("")
    low, high = scale(known, target)
    step = (width - 6) / (len(values) - 1)

    def y(v: float) -> float:
        return height - 3 - (v - low) / (high - low) * (height - 6)

    segments, current = [], []
    for i, v in enumerate(values):
        if v is None:
            segments, current = segments + ([current] if current else []), []
            continue
        current.append(f"{_f(3 + i * step)},{_f(y(v))}")
    segments += [current] if current else []
    lines = "".join(f'<polyline points="{" ".join(s)}" fill="none" stroke="#0969da" stroke-width="1.5"/>'
                    for s in segments)
    goal = "" if target is None else (f'<line x1="0" x2="{width}" y1="{_f(y(target))}" y2="{_f(y(target))}" '
                                      f'stroke="#1f2328" stroke-width="1" stroke-dasharray="2 2"/>')
    dots = "".join(f'<circle cx="{_f(3 + i * step)}" cy="{_f(y(v))}" r="2.2" fill="#0969da"/>'
                   for i, v in ((0, values[0]), (len(values) - 1, values[-1])) if v is not None)
    return Markup(f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
                  f'{_named(label)}><rect x="0" y="0" width="{width}" height="{height}" fill="none" stroke="#d0d7de"/>'
                  f'{goal}{lines}{dots}</svg>')
