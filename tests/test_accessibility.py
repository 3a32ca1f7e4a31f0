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


def _kpi(**fields):
    from engine.result import KpiResult
    base = dict(id="k", title="K", value=None, target=None, floor=None, benchmark=None, score=None, weight=1.0,
                share=1.0, status="met", category="c", unit="percent", better="higher", formula="k")
    return KpiResult(**{**base, **fields})


def test_a_small_wobble_on_a_sparkline_stays_small():
    """95.6 % -> 96.1 %: the y range is at least a tenth of the values' size, 0.0961 wide
    here, so the line climbs 0.005 / 0.0961 = 5.2 % of the drawing's height, not all of it."""
    from engine.charts import scale, sparkline
    low, high = scale([0.956, 0.961])
    assert high - low == pytest.approx(0.0961)
    assert (low + high) / 2 == pytest.approx(0.9585)  # centred on the values
    ys = [float(y) for y in re.findall(r",([\d.]+)", re.search(r'<polyline points="([^"]+)"', sparkline(
        [0.956, 0.961], "t")).group(1))]
    drawable = 28 - 6  # height less the 3 px margins
    assert abs(ys[0] - ys[1]) == pytest.approx(0.005 / 0.0961 * drawable, abs=0.1)
    # with the target in the scale: 85 % to 96.1 %, the same wobble is 4.5 % of the height
    assert scale([0.956, 0.961], 0.85) == (0.85, 0.961)
    # a real fall still fills the drawing: 96 -> 50 is wider than a tenth of 96
    assert scale([96.0, 50.0]) == (50.0, 96.0)
    # a flat 0 gets a range of 1 (nothing to take a tenth of), from 0 up: no negative axis
    # under values that are not negative
    assert scale([0.0, 0.0]) == (0.0, 1.0)


def test_a_kpi_without_a_target_is_drawn_among_its_peers():
    """Peers 10 (min), 20 (median), 50 (max) on a 220 px strip with 8 px ends: x = 8 +
    share x 204. Higher is better: a value of 40 sits at 8 + 30/40 x 204 = 161; lower is
    better turns the scale round, so the same 40 sits at 8 + 10/40 x 204 = 59, and the
    median at 8 + 30/40 x 204 = 161."""
    from engine.charts import kpi_bar
    higher = kpi_bar(_kpi(value=40.0, status="met"), "x", (10.0, 20.0, 50.0))
    assert 'class="kpi-bar peers"' in higher
    assert re.search(r'<circle cx="([\d.]+)"', higher).group(1) == "161.0"
    assert re.search(r'<line x1="([\d.]+)"', higher).group(1) == "59.0"  # the median: 8 + 10/40 x 204
    lower = kpi_bar(_kpi(value=40.0, better="lower", status="missed"), "x", (10.0, 20.0, 50.0))
    assert re.search(r'<circle cx="([\d.]+)"', lower).group(1) == "59.0"
    assert re.search(r'<line x1="([\d.]+)"', lower).group(1) == "161.0"
    # the whole's value is not one of the peers' (a total may be off their scale): no dot
    assert "<circle" not in kpi_bar(_kpi(value=400.0), "x", (10.0, 20.0, 50.0), own=False)
    # with a target it is the bar against the target, peers or not
    assert 'class="kpi-bar"' in kpi_bar(_kpi(value=40.0, target=30.0), "x", (10.0, 20.0, 50.0))
