"""Issue 15: status shown by shape as well as colour, pills readable by WCAG AA (4.5:1),
and every chart named for screen readers."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.charts import COLOURS
from engine.cli import main
from engine.labels import ICONS

ROOT = Path(__file__).resolve().parent.parent
RULESETS = sorted(p.stem for p in (ROOT / "rulesets").glob("*.yaml") if not p.name.endswith(".tests.yaml"))


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of a #rrggbb colour."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_is_computed_as_wcag_says():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss


@pytest.mark.parametrize("status", sorted(COLOURS))
def test_white_on_every_pill_and_every_status_colour_on_white_reach_aa(status):
    assert contrast(COLOURS[status], "#ffffff") >= 4.5


def test_met_and_missed_stay_apart_for_red_green_blindness():
    """Under deuteranopia red and green collapse to one olive; the palette keeps met blue,
    so met and missed differ in lightness and hue for every reader, and each has its icon."""
    assert COLOURS["met"] != COLOURS["missed"]
    r, g, b = (int(COLOURS["met"][i:i + 2], 16) for i in (1, 3, 5))
    assert b > r and b > g  # blue, not green
    assert len({ICONS[s] for s in ("met", "near", "missed", "n/a")}) == 4


@pytest.mark.parametrize("name", RULESETS)
def test_every_svg_has_a_title_and_an_aria_label_and_every_pill_an_icon(tmp_path, capsys, name):
    out = tmp_path / f"{name}.html"
    assert main(["run", str(ROOT / "rulesets" / f"{name}.yaml"), "--format", "html", "--out", str(out)]) in (0, 1)
    page = out.read_text(encoding="utf-8")
    svgs = re.findall(r"<svg\b[^>]*>.*?</svg>", page, re.S)
    assert svgs
    for svg in svgs:
        label = re.search(r'aria-label="([^"]+)"', svg)
        assert label and 'role="img"' in svg, svg[:120]
        assert re.search(r"<svg\b[^>]*><title>[^<]+</title>", svg), svg[:120]
    for pill in re.findall(r'<span class="pill"[^>]*>([^<]*)</span>', page):
        assert pill.split(" ")[0] in ICONS.values(), pill


def test_radar_labels_fit_inside_the_drawing():
    """The padding is sized to the longest label beside the chart: a long title widens it."""
    from engine.charts import radar, text_width
    short = radar([("A", 50), ("B", 50), ("C", 50), ("D", 50)])
    title = "Internal efficiency of every process"
    long = radar([("A", 50), (title, 50), ("C", 50), ("D", 50)])
    pad = lambda svg: -float(re.search(r'viewBox="(-?[\d.]+)', svg).group(1))  # noqa: E731
    # B sits on the right (angle 0): its label starts at 260/2 + (130 - 48) x 1.18 = 226.8
    # and ends at 226.8 + its width, which must fit in 260 + pad
    assert pad(long) >= 226.8 + text_width(f"{title} 50") - 260
    assert pad(short) < pad(long)
