"""Stage 5, score: methods, status, grades and weighting, on numbers worked out by hand."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.errors import Location
from engine.expressions import parse
from engine.model import DEFAULT_GRADES, Category, Grade, Kpi, Ruleset, Scoring
from types import SimpleNamespace

import polars as pl

from engine import score as scoring
from engine.result import KpiResult
from engine.run import _card, _label
from engine.score import METHODS

HERE = Location("t", 1, 1)


def kpi(method: str = "linear", better: str = "higher", target: float | None = None,
        floor: float | None = None, near: float = 0.05, **scoring) -> Kpi:
    return Kpi(id="k", title={"": "K"}, formula=parse("x", HERE), category="c", location=HERE,
               better=better, target=target, floor=floor, near=near,
               scoring=Scoring(method, **scoring))


def score_value(k: Kpi, value: float | None, peers: list[float | None] | tuple = ()) -> float | None:
    """The score of ``value`` among ``peers`` (which hold it), by the scoring expression."""
    values = list(peers) if peers else [value]
    out = pl.DataFrame({"v": values}, schema={"v": pl.Float64}).select(scoring.score_expr(k, pl.col("v")))
    return out.to_series()[values.index(value)]


def score(k: Kpi, value: float | None) -> float | None:
    return score_value(k, value)


def status(k: Kpi, value: float | None, score_: float | None) -> str:
    frame = pl.DataFrame({"v": [value], "s": [score_]}, schema={"v": pl.Float64, "s": pl.Float64})
    return frame.select(scoring.status_expr(k, pl.col("v"), pl.col("s"))).item()


def grade_of(grades: list[Grade], total: float | None, lang: str) -> tuple[str, str]:
    grade = pl.DataFrame({"t": [total]}, schema={"t": pl.Float64}).select(
        scoring.grade_expr(grades, pl.col("t"))).item()
    return grade, _label(SimpleNamespace(grades=grades), grade, lang)


# ---------------------------------------------------------------- methods

def test_every_method_is_tested_here():
    assert set(METHODS) == {"linear", "ratio", "bands", "range", "boolean", "percentile", "zscore"}


@pytest.mark.parametrize("value, expected", [
    (0.85, 100.0),   # at target
    (0.95, 100.0),   # beyond target: clipped
    (0.725, 50.0),   # (0.725 - 0.60) / (0.85 - 0.60) = 0.125 / 0.25
    (0.70, 40.0),    # 0.10 / 0.25
    (0.60, 0.0),     # at floor
    (0.10, 0.0),     # below floor: clipped
])
def test_linear_higher(value, expected):
    assert score(kpi("linear", target=0.85, floor=0.60), value) == pytest.approx(expected)


@pytest.mark.parametrize("value, expected", [
    (4, 100.0),    # at target
    (1, 100.0),    # better than target: clipped
    (14, 50.0),    # (14 - 24) / (4 - 24) = -10 / -20
    (19, 25.0),    # -5 / -20
    (24, 0.0),     # at floor
    (40, 0.0),     # worse than floor: clipped
])
def test_linear_lower(value, expected):
    k = kpi("linear", better="lower", target=4, floor=24)
    assert score(k, value) == pytest.approx(expected)


@pytest.mark.parametrize("value, expected", [
    (150, 75.0),   # 150 / 200
    (200, 100.0),
    (300, 100.0),  # 150%: clipped
    (0, 0.0),
    (-10, 0.0),    # negative: clipped
])
def test_ratio_higher(value, expected):
    assert score(kpi("ratio", target=200), value) == pytest.approx(expected)


@pytest.mark.parametrize("value, expected", [
    (8, 50.0),     # 4 / 8
    (5, 80.0),     # 4 / 5
    (4, 100.0),
    (2, 100.0),    # 4 / 2 = 200%: clipped
    (0, 100.0),    # nothing at all is the best a lower-is-better value can do
])
def test_ratio_lower(value, expected):
    assert score(kpi("ratio", better="lower", target=4), value) == pytest.approx(expected)


BANDS = [(0.9, 100), (0.8, 70), (0.6, 40)]


@pytest.mark.parametrize("value, expected", [
    (0.95, 100), (0.9, 100), (0.85, 70), (0.8, 70), (0.7, 40), (0.6, 40), (0.59, 0),
])
def test_bands_higher(value, expected):
    assert score(kpi("bands", bands=BANDS), value) == expected


@pytest.mark.parametrize("value, expected", [
    (1, 100), (2, 100), (3, 60), (5, 60), (8, 20), (8.5, 0),
])
def test_bands_lower(value, expected):
    k = kpi("bands", better="lower", bands=[(2, 100), (5, 60), (8, 20)])
    assert score(k, value) == expected


@pytest.mark.parametrize("value, expected", [
    (3, 100.0),    # inside [2, 4]
    (2, 100.0),    # on the edges
    (4, 100.0),
    (5, 50.0),     # 1 above high: 100 - 1/2 * 100
    (1, 50.0),     # 1 below low
    (4.5, 75.0),   # 100 - 0.5/2 * 100
    (6, 0.0),      # exactly the tolerance outside
    (9, 0.0),      # beyond the tolerance: clipped
    (-1, 0.0),
])
def test_range(value, expected):
    k = kpi("range", low=2, high=4, tolerance=2)
    assert score(k, value) == pytest.approx(expected)


@pytest.mark.parametrize("target, better, value, expected", [
    (None, "higher", 1, 100.0),   # without a target: any non-zero value
    (None, "higher", 0, 0.0),
    (None, "higher", -2, 100.0),
    (1, "higher", 1, 100.0),
    (1, "higher", 0.99, 0.0),
    (0, "lower", 0, 100.0),
    (0, "lower", 1, 0.0),
])
def test_boolean(target, better, value, expected):
    assert score(kpi("boolean", better=better, target=target), value) == expected


@pytest.mark.parametrize("value", [None, math.nan])
def test_no_value_no_score(value):
    assert score(kpi("linear", target=1, floor=0), value) is None


# ---------------------------------------------------------------- status

@pytest.mark.parametrize("value, expected", [
    (0.90, "met"),
    (0.85, "met"),      # exactly at target
    (0.81, "near"),     # near margin 0.05 x 0.85 = 0.0425: near down to 0.8075
    (0.80, "missed"),
    (None, "n/a"),
])
def test_status_higher(value, expected):
    k = kpi("linear", target=0.85, floor=0.60)
    assert status(k, value, score(k, value)) == expected


@pytest.mark.parametrize("value, expected", [
    (0.05, "met"),
    (0.08, "met"),
    (0.083, "near"),    # margin 0.05 x 0.08 = 0.004: near up to 0.084
    (0.085, "missed"),
    (0.15, "missed"),
    (None, "n/a"),
])
def test_status_lower(value, expected):
    k = kpi("linear", better="lower", target=0.08, floor=0.20)
    assert status(k, value, score(k, value)) == expected


def test_status_uses_the_kpi_near_margin():
    k = kpi("ratio", target=100, near=0.2)
    assert status(k, 81, 81.0) == "near"    # 100 - 0.2 x 100 = 80
    assert status(k, 79, 79.0) == "missed"


@pytest.mark.parametrize("score_, expected", [
    (100.0, "met"), (95.0, "near"), (94.9, "missed"), (0.0, "missed"),
])
def test_status_without_target_reads_the_score(score_, expected):
    k = kpi("bands", bands=BANDS)  # near 0.05: near from 100 x 0.95 = 95
    assert status(k, 0.5, score_) == expected


def test_status_na_without_a_score():
    assert status(kpi("ratio", target=1), 0.5, None) == "n/a"


# ---------------------------------------------------------------- grades

@pytest.mark.parametrize("total, lang, expected", [
    (100, "en", ("A", "Excellent")),
    (90, "en", ("A", "Excellent")),
    (89.99, "en", ("B", "Good")),
    (70, "zh", ("C", "中等")),
    (59.9, "en", ("E", "Poor")),
    (0, "en", ("E", "Poor")),
    (None, "en", ("n/a", "")),
])
def test_grade_of_default_grades(total, lang, expected):
    assert grade_of(DEFAULT_GRADES, total, lang) == expected


def test_grade_below_every_grade_is_na():
    grades = [Grade(80, "pass", {"": "Pass"}), Grade(50, "weak")]
    assert grade_of(grades, 85, "en") == ("pass", "Pass")  # a language-less label
    assert grade_of(grades, 50, "en") == ("weak", "")
    assert grade_of(grades, 49, "en") == ("n/a", "")


# ---------------------------------------------------------------- weighting

def ruleset(*categories: Category) -> Ruleset:
    return Ruleset(id="r", file=Path("r.yaml"), title={"": "R"}, description={}, version="",
                   params={}, sources={}, measures={}, kpis={},
                   categories={c.id: c for c in categories}, grades=list(DEFAULT_GRADES),
                   checks=[], actions=[])


def result(id: str, category: str, weight: float, score_: float | None,
           reason: str | None = None) -> KpiResult:
    return KpiResult(id=id, title=id, value=None if score_ is None else score_ / 100,
                     target=1.0, floor=0.0, benchmark=None, score=score_, weight=weight,
                     share=0.0, status="met", category=category, unit="ratio",
                     better="higher", formula="x", reason=reason)


def weigh(rs: Ruleset, kpis: list[KpiResult], lang: str):
    """score.weigh on one row holding these scores; sets each KPI's share and gain and
    returns the categories, the total and the notes, as a scorecard shows them."""
    rs.kpis = {k.id: Kpi(id=k.id, title={}, formula=parse("x", HERE), category=k.category, location=HERE,
                         weight=k.weight) for k in kpis}
    row = {c: v for k in kpis for c, v in ((k.id, k.value), (f"{k.id}.score", k.score),
                                            (f"{k.id}.status", k.status), (f"{k.id}.reason", k.reason))}
    frame = pl.DataFrame([row], schema={c: pl.String if c.endswith((".status", ".reason")) else pl.Float64
                                        for c in row})
    scored = scoring.weigh(rs, frame.lazy()).collect().row(0, named=True)
    cards, categories, notes = _card(SimpleNamespace(ruleset=rs, variants=[]), scored, lang)
    for k, card in zip(kpis, cards):
        k.share, k.gain = card.share, card.gain
    return categories, scored[scoring.TOTAL], notes


def by_id(items):
    return {i.id: i for i in items}


def test_weights_are_normalised_within_and_across_categories():
    rs = ruleset(Category("a", {"en": "Alpha"}, weight=3), Category("b", {}, weight=1))
    kpis = [result("k1", "a", 30, 80.0), result("k2", "a", 10, 40.0),
            result("k3", "b", 5, 100.0)]
    categories, total, notes = weigh(rs, kpis, "en")
    cats = by_id(categories)
    # a: (30 x 80 + 10 x 40) / 40 = 2800 / 40 = 70; b: 100
    assert cats["a"].score == pytest.approx(70.0)
    assert cats["b"].score == pytest.approx(100.0)
    assert cats["a"].title == "Alpha" and cats["b"].title == "b"
    assert cats["a"].kpis == ["k1", "k2"]
    # total: (3 x 70 + 1 x 100) / 4 = 310 / 4
    assert total == pytest.approx(77.5)
    assert (cats["a"].share, cats["b"].share) == (pytest.approx(0.75), pytest.approx(0.25))
    k = by_id(kpis)
    # shares: k1 30/40 x 3/4, k2 10/40 x 3/4, k3 5/5 x 1/4
    assert k["k1"].share == pytest.approx(0.5625)
    assert k["k2"].share == pytest.approx(0.1875)
    assert k["k3"].share == pytest.approx(0.25)
    # gain = share x (100 - score): 0.5625 x 20, 0.1875 x 60, 0.25 x 0
    assert k["k1"].gain == pytest.approx(11.25)
    assert k["k2"].gain == pytest.approx(11.25)
    assert k["k3"].gain == pytest.approx(0.0)
    assert total + sum(x.gain for x in kpis) == pytest.approx(100.0)
    assert notes == []


def test_na_kpi_weight_is_redistributed_with_a_note():
    rs = ruleset(Category("a", {}, weight=3), Category("b", {}, weight=1))
    kpis = [result("k1", "a", 30, 80.0), result("k2", "a", 10, 40.0),
            result("k4", "a", 60, None, reason="division by zero: `n` is 0"),
            result("k3", "b", 5, 100.0)]
    categories, total, notes = weigh(rs, kpis, "en")
    # k4 drops out: a is still (30 x 80 + 10 x 40) / 40 = 70 and the total 77.5
    assert by_id(categories)["a"].score == pytest.approx(70.0)
    assert total == pytest.approx(77.5)
    k = by_id(kpis)
    assert k["k1"].share == pytest.approx(0.5625)  # 30/40, not 30/100, of 3/4
    assert k["k4"].share == 0.0 and k["k4"].gain is None
    assert len(notes) == 1
    assert "`k4`" in notes[0] and "division by zero" in notes[0] and "`a`" in notes[0]


def test_category_with_only_na_kpis_is_redistributed_with_a_note():
    rs = ruleset(Category("a", {}, weight=3), Category("b", {}, weight=1),
                 Category("c", {}, weight=4))
    kpis = [result("k1", "a", 30, 80.0), result("k2", "a", 10, 40.0),
            result("k3", "b", 5, 100.0), result("k5", "c", 1, None, reason="no rows")]
    categories, total, notes = weigh(rs, kpis, "en")
    cats = by_id(categories)
    assert cats["c"].score is None and cats["c"].share == 0.0
    # c's weight 4 goes: total stays (3 x 70 + 1 x 100) / (3 + 1) = 77.5
    assert total == pytest.approx(77.5)
    assert cats["a"].share == pytest.approx(0.75)
    assert by_id(kpis)["k5"].share == 0.0
    assert any("`k5`" in n for n in notes)
    assert any("category `c`" in n for n in notes)
    assert len(notes) == 2


def test_nothing_scored_means_no_total():
    rs = ruleset(Category("a", {}, weight=1))
    categories, total, notes = weigh(rs, [result("k1", "a", 1, None, "no rows")], "en")
    assert total is None and categories[0].score is None
    assert len(notes) == 2  # the KPI and its category


def test_zero_weight_kpi_is_reported_but_not_scored():
    rs = ruleset(Category("a", {}, weight=1))
    kpis = [result("k1", "a", 1, 60.0), result("k0", "a", 0, 0.0)]
    _, total, notes = weigh(rs, kpis, "en")
    assert total == pytest.approx(60.0)  # k0 counts for nothing
    k = by_id(kpis)
    assert k["k0"].share == 0.0 and k["k0"].gain == 0.0  # 0 x (100 - 0)
    assert notes == []


def test_rollup_worst():
    rs = ruleset(Category("a", {}, weight=3, rollup="worst"), Category("b", {}, weight=1))
    kpis = [result("k1", "a", 30, 80.0), result("k2", "a", 10, 40.0),
            result("k3", "b", 5, 100.0)]
    categories, total, _ = weigh(rs, kpis, "en")
    cats = by_id(categories)
    assert cats["a"].score == 40.0 and cats["a"].rollup == "worst"  # min(80, 40)
    assert total == pytest.approx(55.0)  # (3 x 40 + 1 x 100) / 4 = 220 / 4


def test_rollup_worst_gain_is_what_the_total_would_gain():
    rs = ruleset(Category("a", {}, weight=3, rollup="worst"), Category("b", {}, weight=1))
    kpis = [result("k1", "a", 30, 80.0), result("k2", "a", 10, 40.0),
            result("k3", "b", 5, 100.0)]
    weigh(rs, kpis, "en")
    k = by_id(kpis)
    # k1 at 100: a = min(100, 40) = 40, the total is unchanged
    assert k["k1"].gain == pytest.approx(0.0)
    # k2 at 100: a = min(80, 100) = 80, total (3 x 80 + 100) / 4 = 85, 85 - 55 = 30
    assert k["k2"].gain == pytest.approx(30.0)


# ---------------------------------------------------------------- peer methods


def test_percentile_by_hand_with_ties_and_missing_peers():
    # peers 1, 1, 3 and a missing one (left out): 1 beats none and ties one -> 0.5 / 2 = 25
    peers = [3.0, None, 1.0, 1.0]
    assert score_value(kpi("percentile"), 1.0, peers) == pytest.approx(25.0)
    assert score_value(kpi("percentile"), 3.0, peers) == pytest.approx(100.0)
    # lower is better: 1 beats the 3 and ties the other 1 -> 1.5 / 2 = 75
    assert score_value(kpi("percentile", better="lower"), 1.0, peers) == pytest.approx(75.0)


# peers 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population standard deviation 2 (squares
# 9 + 1 + 1 + 1 + 0 + 0 + 4 + 16 = 32, / 8 = 4)
PEERS = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]


@pytest.mark.parametrize("value, higher, lower", [
    (9.0, 100.0, 0.0),     # z = +2: 50 + 25 x 2 (clip 2 maps -2..2 to 0..100)
    (7.0, 75.0, 25.0),     # z = +1
    (5.0, 50.0, 50.0),     # at the mean
    (4.0, 37.5, 62.5),     # z = -0.5
    (2.0, 12.5, 87.5),     # z = -1.5
])
def test_zscore_by_hand(value, higher, lower):
    assert score_value(kpi("zscore", clip=2), value, PEERS) == pytest.approx(higher)
    assert score_value(kpi("zscore", better="lower", clip=2), value, PEERS) == pytest.approx(lower)


@pytest.mark.parametrize("value, higher, lower", [
    (9.0, 100.0, 0.0),                    # beats the 7 others: 7 / 7
    (5.0, 4.5 / 7 * 100, 2.5 / 7 * 100),  # beats 2, 4, 4, 4, ties a 5: 4.5 / 7; lower: beats 7, 9, ties: 2.5 / 7
    (4.0, 2 / 7 * 100, 5 / 7 * 100),      # beats 2, ties two 4s: (1 + 1) / 7; lower: beats 5, 5, 7, 9: (4 + 1) / 7
    (2.0, 0.0, 100.0),
])
def test_percentile_by_hand(value, higher, lower):
    assert score_value(kpi("percentile"), value, PEERS) == pytest.approx(higher)
    assert score_value(kpi("percentile", better="lower"), value, PEERS) == pytest.approx(lower)


def test_percentile_of_an_entity_without_peers_is_100():
    # alone (the others missing): nobody to beat or lose to, so it is the best there is
    assert score_value(kpi("percentile"), 4.0, [4.0, None]) == 100.0
    assert score_value(kpi("percentile", better="lower"), 4.0, [4.0]) == 100.0


def test_zscore_when_every_peer_is_equal_is_50():
    # no spread: every entity is the mean, z = 0, the middle of 0..100
    assert score_value(kpi("zscore"), 3.0, [3.0, 3.0, 3.0]) == 50.0
    assert score_value(kpi("zscore", better="lower"), 3.0, [3.0, None, 3.0]) == 50.0
