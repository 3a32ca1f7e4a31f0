"""Stage 5, score: KPI value -> score 0..100 -> category scores -> total -> grade.

Scoring methods are a registry of small functions, one per method, each documented;
adding a method is adding a function. Weights are normalised: KPI weights within their
category, category weights across the total. A KPI with no value is left out and its
weight redistributed over the others, and the result says so.
"""
from __future__ import annotations

import bisect
import inspect
import math
from typing import Callable, Sequence

from .model import Grade, Kpi, Ruleset, text_in
from .result import CategoryResult, KpiResult


def _clip(score: float) -> float:
    return max(0.0, min(100.0, score))


def linear(kpi: Kpi, value: float, peers: Sequence[float] = ()) -> float:
    """The floor scores 0, the target 100, straight in between; works both ways.

    ``{target: 0.85, floor: 0.60}``: 0.85 or more scores 100, 0.725 scores 50, 0.60 or
    less 0. With ``better: lower``, ``{target: 4, floor: 24}``: 4 hours or less is 100."""
    return _clip((value - kpi.floor) / (kpi.target - kpi.floor) * 100)


def ratio(kpi: Kpi, value: float, peers: Sequence[float] = ()) -> float:
    """Achievement: value / target x 100 when higher is better, target / value x 100 when
    lower is better (a value of 0 then scores 100).

    ``{target: 200}``: a value of 150 scores 75."""
    if kpi.better == "higher":
        return _clip(value / kpi.target * 100)
    return 100.0 if value <= 0 else _clip(kpi.target / value * 100)


def bands(kpi: Kpi, value: float, peers: Sequence[float] = ()) -> float:
    """Thresholds, best first: the first band the value reaches gives the score
    (>= when higher is better, <= when lower); below every band scores 0.

    ``{method: bands, bands: [[0.9, 100], [0.8, 70], [0.6, 40]]}``: 0.85 scores 70."""
    for threshold, score in kpi.scoring.bands:
        if (value >= threshold) if kpi.better == "higher" else (value <= threshold):
            return _clip(score)
    return 0.0


def range_(kpi: Kpi, value: float, peers: Sequence[float] = ()) -> float:
    """Inside ``[low, high]`` scores 100, falling linearly to 0 at ``tolerance`` outside.

    ``{method: range, low: 2, high: 4, tolerance: 2}``: 3 scores 100, 5 scores 50, 6 scores 0."""
    s = kpi.scoring
    distance = max(s.low - value, value - s.high, 0.0)
    return _clip(100 - distance / s.tolerance * 100)


def boolean(kpi: Kpi, value: float, peers: Sequence[float] = ()) -> float:
    """100 when the target is met (any non-zero value when there is no target), else 0.

    ``{method: boolean, target: 1}``: 1 scores 100, 0 scores 0."""
    if kpi.target is None:
        return 100.0 if value else 0.0
    return 100.0 if _meets(kpi, value, kpi.target) else 0.0


class Peers(tuple):
    """Every entity's value of one KPI, sorted, the missing ones left out, with their mean
    and standard deviation: worked out once per KPI, so scoring n entities against each
    other costs n log n, not n x n."""

    mean: float
    std: float

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Peers:
        if isinstance(values, Peers):
            return values
        peers = cls(sorted(v for v in values if v is not None))
        peers.mean = sum(peers) / len(peers) if peers else math.nan
        # hypot scales as it sums: values near 1e300 do not overflow their squares
        peers.std = math.hypot(*(p - peers.mean for p in peers)) / math.sqrt(len(peers)) if peers else 0.0
        return peers


def percentile(kpi: Kpi, value: float, peers: Sequence[float] = ()) -> float:
    """Against the other entities: the best scores 100, the worst 0, the rest by the share
    of entities they beat (ties count half). Needs `by`; for peer benchmarking without a
    target. Values 1, 2, 3 (higher is better) score 0, 50, 100; 1, 1, 3 score 25, 25, 100."""
    peers = Peers.of(peers)
    others = len(peers) - 1
    if others <= 0:
        return 100.0
    below, above = bisect.bisect_left(peers, value), len(peers) - bisect.bisect_right(peers, value)
    worse = below if kpi.better == "higher" else above
    ties = len(peers) - below - above - 1
    return _clip((worse + ties / 2) / others * 100)


def zscore(kpi: Kpi, value: float, peers: Sequence[float] = ()) -> float:
    """Against the other entities: 50 at their mean, 50 x z / clip more or less for a
    value z standard deviations away (clip defaults to 2, so z = 2 scores 100), clipped
    to 0..100; 50 for all when they are equal. Needs `by`."""
    peers = Peers.of(peers)
    if not peers or peers.std == 0:
        return 50.0
    z = (value - peers.mean) / peers.std * (1 if kpi.better == "higher" else -1)
    return _clip(50 + 50 * z / kpi.scoring.clip)


METHODS: dict[str, Callable[[Kpi, float, Sequence[float]], float]] = {
    "linear": linear, "ratio": ratio, "bands": bands, "range": range_, "boolean": boolean,
    "percentile": percentile, "zscore": zscore,
}


def reference() -> str:
    """Markdown reference of every scoring method, from the docstrings."""
    return "\n".join(f"- `{name}`: {' '.join(inspect.getdoc(fn).split())}"
                     for name, fn in METHODS.items())


def _meets(kpi: Kpi, value: float, goal: float) -> bool:
    return value >= goal if kpi.better == "higher" else value <= goal


def score_value(kpi: Kpi, value: float | None, peers: Sequence[float | None] = ()) -> float | None:
    """The score of one value; ``peers`` are every entity's values (peer methods only)."""
    if value is None or math.isnan(value):
        return None
    return METHODS[kpi.scoring.method](kpi, value, Peers.of(peers))


def status(kpi: Kpi, value: float | None, score: float | None) -> str:
    """met, near (short of the target by at most `near` x |target|), missed, or n/a."""
    if value is None or score is None:
        return "n/a"
    if kpi.target is None:
        return "met" if score >= 100 else "near" if score >= 100 * (1 - kpi.near) else "missed"
    if _meets(kpi, value, kpi.target):
        return "met"
    margin = kpi.near * abs(kpi.target)
    goal = kpi.target - margin if kpi.better == "higher" else kpi.target + margin
    return "near" if _meets(kpi, value, goal) else "missed"


def grade_of(grades: list[Grade], total: float | None, lang: str) -> tuple[str, str]:
    if total is None:
        return "n/a", ""
    for g in grades:  # best first
        if total >= g.min:
            return g.grade, text_in(g.label, lang)
    return "n/a", ""


def _rollup(rollup: str, scored: list[tuple[float, float]]) -> float | None:
    """A category score from its (weight, score) pairs; None when nothing is scored."""
    weight = sum(w for w, _ in scored)
    if weight == 0:
        return None
    if rollup == "worst":
        return min(s for _, s in scored)
    return sum(w * s for w, s in scored) / weight


def _total(ruleset: Ruleset, kpis: list[KpiResult]) -> tuple[dict[str, float | None], float | None]:
    """Category scores and the total, KPIs and categories without a score left out."""
    categories = {}
    for cat in ruleset.categories.values():
        categories[cat.id] = _rollup(cat.rollup, [(k.weight, k.score) for k in kpis if k.category == cat.id
                                                  and k.score is not None and k.weight > 0])
    return categories, _mean(ruleset, categories)


def _mean(ruleset: Ruleset, categories: dict[str, float | None]) -> float | None:
    return _rollup("mean", [(c.weight, categories[c.id]) for c in ruleset.categories.values()
                            if categories[c.id] is not None and c.weight > 0])


def weigh(ruleset: Ruleset, kpis: list[KpiResult], lang: str
          ) -> tuple[list[CategoryResult], float | None, list[str]]:
    """Category scores, the total and notes on redistributed weight; sets each KPI's
    share of the total and the points the total would gain if it reached its target."""
    scores, total = _total(ruleset, kpis)
    notes = [f"`{k.id}` is n/a ({k.reason}); its weight is shared by the other KPIs of `{k.category}`"
             for k in kpis if k.score is None and k.weight > 0]
    notes += [f"category `{c.id}` has no scored KPI; its weight is shared by the others"
              for c in ruleset.categories.values() if scores[c.id] is None and c.weight > 0]
    counted = {c.id: c.weight for c in ruleset.categories.values() if scores[c.id] is not None and c.weight > 0}
    categories = [CategoryResult(c.id, text_in(c.title, lang, c.id), scores[c.id], c.weight,
                                 c.weight / sum(counted.values()) if c.id in counted else 0.0,
                                 c.rollup, [k.id for k in kpis if k.category == c.id])
                  for c in ruleset.categories.values()]
    for k in kpis:
        if k.score is None:
            continue
        if k.weight == 0 or k.category not in counted:
            k.gain = 0.0  # reported, but it counts for nothing in the total
            continue
        in_category = sum(o.weight for o in kpis if o.category == k.category
                          and o.score is not None and o.weight > 0)
        k.share = (k.weight / in_category) * (counted[k.category] / sum(counted.values()))
        # the gain is measured, not estimated, so it holds for every rollup; only the
        # KPI's own category changes
        cat = ruleset.categories[k.category]
        changed = _rollup(cat.rollup, [(o.weight, 100.0 if o is k else o.score) for o in kpis
                                       if o.category == k.category and o.score is not None and o.weight > 0])
        k.gain = max(0.0, _mean(ruleset, {**scores, k.category: changed}) - total)
    return categories, total, notes


def benchmark_gap(kpi: KpiResult) -> float | None:
    """How far the value beats (+) or lags (-) its benchmark, relative to it."""
    if kpi.value is None or kpi.benchmark is None or kpi.benchmark == 0:
        return None
    gap = (kpi.value - kpi.benchmark) / abs(kpi.benchmark)
    return gap if kpi.better == "higher" else -gap


def profile(kpis: list[KpiResult], categories: list[CategoryResult], total: float | None,
            top: int = 3) -> tuple[list[str], list[str], list[dict[str, object]]]:
    """The strongest and weakest KPIs and categories: KPIs by score (met, best first;
    missed, worst first), KPIs by gap to their benchmark, and the category furthest above
    or below the total. Returns the ids of each side and why each is there."""
    scored = [k for k in kpis if k.score is not None and k.weight > 0]
    found: list[dict[str, object]] = []
    for side, status, sign in (("strength", "met", -1), ("weakness", "missed", 1)):
        for k in sorted((k for k in scored if k.status == status), key=lambda k: sign * k.score)[:top]:
            found.append({"side": side, "id": k.id, "kind": "kpi", "by": "score", "score": k.score})
    gaps = [(benchmark_gap(k), k) for k in kpis if k.status != "tracked"]  # tracked: never a strength
    gaps = [(g, k) for g, k in gaps if g is not None]
    for side, chosen in (("strength", sorted((x for x in gaps if x[0] > 0), key=lambda x: -x[0])),
                         ("weakness", sorted((x for x in gaps if x[0] < 0), key=lambda x: x[0]))):
        found += [{"side": side, "id": k.id, "kind": "kpi", "by": "benchmark", "gap": g} for g, k in chosen[:top]]
    rated = sorted((c for c in categories if c.score is not None and c.share > 0), key=lambda c: c.score)
    if total is not None and len(rated) > 1:
        if rated[-1].score > total:
            found.append({"side": "strength", "id": rated[-1].id, "kind": "category", "by": "score",
                          "score": rated[-1].score})
        if rated[0].score < total:
            found.append({"side": "weakness", "id": rated[0].id, "kind": "category", "by": "score",
                          "score": rated[0].score})
    strengths = list(dict.fromkeys(f["id"] for f in found if f["side"] == "strength"))
    weaknesses = list(dict.fromkeys(f["id"] for f in found if f["side"] == "weakness"))
    return strengths, weaknesses, found  # type: ignore[return-value]
