"""Entity scoring as column operations agrees with a straightforward per-entity reference:
random rulesets (every scoring method, weights of 0, rollups, benchmarks) over random
entity tables (ties, missing values), every score, status, share, gain, category score,
total, grade, rank, strength and weakness compared.

The reference below is the scoring as it was written before it was vectorised: one
entity at a time, in plain Python. It lives here, not in engine/, as the independent
method the engine is checked against.
"""
from __future__ import annotations

import bisect
import math
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine import score
from engine.errors import Location
from engine.expressions import parse
from engine.model import DEFAULT_GRADES, Category, Kpi, Ruleset, Scoring

HERE = Location("t", 1, 1)

# ---------------------------------------------------------------- the reference


def _clip(s):
    return max(0.0, min(100.0, s))


def _meets(k, value, goal):
    return value >= goal if k.better == "higher" else value <= goal


def ref_score(k: Kpi, value, peers: list[float]):
    if value is None or not k.scored:
        return None
    m, s = k.scoring.method, k.scoring
    if m == "linear":
        return _clip((value - k.floor) / (k.target - k.floor) * 100)
    if m == "ratio":
        if k.better == "higher":
            return _clip(value / k.target * 100)
        return 100.0 if value <= 0 else _clip(k.target / value * 100)
    if m == "bands":
        for threshold, points in s.bands:
            if _meets(k, value, threshold):
                return _clip(points)
        return 0.0
    if m == "range":
        return _clip(100 - max(s.low - value, value - s.high, 0.0) / s.tolerance * 100)
    if m == "boolean":
        return (100.0 if value else 0.0) if k.target is None else (100.0 if _meets(k, value, k.target) else 0.0)
    if m == "percentile":
        others = len(peers) - 1
        if others <= 0:
            return 100.0
        below, above = bisect.bisect_left(peers, value), len(peers) - bisect.bisect_right(peers, value)
        worse = below if k.better == "higher" else above
        return _clip((worse + (len(peers) - below - above - 1) / 2) / others * 100)
    # zscore: 50 for all when the peers are equal
    if peers[0] == peers[-1]:
        return 50.0
    mean = sum(peers) / len(peers)
    std = math.sqrt(sum((p - mean) ** 2 for p in peers) / len(peers))
    z = (value - mean) / std * (1 if k.better == "higher" else -1)
    return _clip(50 + 50 * z / s.clip)


def ref_status(k: Kpi, value, s):
    if not k.scored:
        return "tracked"
    if value is None or s is None:
        return "n/a"
    if k.target is None:
        return "met" if s >= 100 else "near" if s >= 100 * (1 - k.near) else "missed"
    if _meets(k, value, k.target):
        return "met"
    margin = k.near * abs(k.target)
    close = _meets(k, value, k.target - margin if k.better == "higher" else k.target + margin)
    return "near" if close and s >= 80 else "missed"  # never `near` on a score below 80


def _rollup(rollup, pairs):
    weight = sum(w for w, _ in pairs)
    if weight == 0:
        return None
    return min(s for _, s in pairs) if rollup == "worst" else sum(w * s for w, s in pairs) / weight


def ref_card(rs: Ruleset, values: dict, peers: dict):
    """One entity's scorecard: {kpi: (score, status, share, gain)}, categories, total,
    grade, strengths, weaknesses."""
    kpis = rs.kpis.values()
    weight = {k.id: k.weight if k.scored else 0.0 for k in kpis}  # a tracked KPI weighs nothing
    scores = {k.id: ref_score(k, values[k.id], peers[k.id]) for k in kpis}
    status = {k.id: ref_status(k, values[k.id], scores[k.id]) for k in kpis}

    def category(c, changed=None):
        return _rollup(rs.categories[c].rollup, [(weight[k.id], 100.0 if k.id == changed else scores[k.id])
                                                 for k in kpis if k.category == c and scores[k.id] is not None
                                                 and weight[k.id] > 0])

    def total(cats):
        return _rollup("mean", [(c.weight, cats[c.id]) for c in rs.categories.values()
                                if cats[c.id] is not None and c.weight > 0])

    cats = {c: category(c) for c in rs.categories}
    tot = total(cats)
    counted = {c.id: c.weight for c in rs.categories.values() if cats[c.id] is not None and c.weight > 0}
    share = {k.id: 0.0 for k in kpis}
    gain = {k.id: None for k in kpis}
    for k in kpis:
        if scores[k.id] is None:
            continue
        if weight[k.id] == 0 or k.category not in counted:
            gain[k.id] = 0.0
            continue
        inside = sum(weight[o.id] for o in kpis if o.category == k.category and scores[o.id] is not None)
        share[k.id] = weight[k.id] / inside * counted[k.category] / sum(counted.values())
        gain[k.id] = max(0.0, total({**cats, k.category: category(k.category, k.id)}) - tot)
    grade = next((g.grade for g in rs.grades if tot is not None and tot >= g.min), "n/a")
    cat_share = {c: counted[c] / sum(counted.values()) if c in counted else 0.0 for c in rs.categories}
    # strengths and weaknesses
    scored = [k for k in kpis if scores[k.id] is not None and weight[k.id] > 0]
    found = []
    for side, want, sign in (("s", "met", -1), ("w", "missed", 1)):
        found += [(side, k.id) for k in sorted((k for k in scored if status[k.id] == want),
                                               key=lambda k: sign * scores[k.id])[:3]]
    gaps = []
    for k in kpis:
        if values[k.id] is not None and k.benchmark not in (None, 0) and k.scored:
            g = (values[k.id] - k.benchmark) / abs(k.benchmark)
            gaps.append((g if k.better == "higher" else -g, k.id))
    found += [("s", id) for _, id in sorted((x for x in gaps if x[0] > 0 and status[x[1]] != "missed"),
                                            key=lambda x: -x[0])[:3]]
    found += [("w", id) for _, id in sorted((x for x in gaps if x[0] < 0), key=lambda x: x[0])[:3]]
    rated = sorted((c for c in rs.categories if cats[c] is not None and cat_share[c] > 0), key=lambda c: cats[c])
    weak = {id for side, id in found if side == "w"}
    found = [(side, id) for side, id in found if side == "w" or id not in weak]  # weak wins
    if tot is not None and len(rated) > 1:
        # no strong category with a weak KPI in it
        if cats[rated[-1]] > tot and not any(k.category == rated[-1] and k.id in weak for k in kpis):
            found.append(("s", rated[-1]))
        if cats[rated[0]] < tot:
            found.append(("w", rated[0]))
    strengths = list(dict.fromkeys(id for side, id in found if side == "s"))
    weaknesses = list(dict.fromkeys(id for side, id in found if side == "w"))
    kpi_out = {k.id: (scores[k.id], status[k.id], share[k.id], gain[k.id]) for k in kpis}
    return kpi_out, cats, tot, grade, strengths, weaknesses


def ref_entities(rs: Ruleset, rows: list[dict]) -> list[dict]:
    """Every entity's card, ranked as the reference did: the most common set of KPIs
    with a share (the fullest, then the first seen, winning a tie) is ranked, ties sharing
    the best rank; sorted ranked first, then by score, n/a last, then by id."""
    peers = {k: sorted(r[k] for r in rows if r[k] is not None) for k in rs.kpis}
    out = []
    for r in rows:
        kpis, cats, tot, grade, strengths, weaknesses = ref_card(rs, r, peers)
        out.append({"id": r["id"], "kpis": kpis, "cats": cats, "total": tot, "grade": grade,
                    "strengths": strengths, "weaknesses": weaknesses,
                    "basis": tuple(k for k in rs.kpis if kpis[k][2] > 0), "rank": None})
    counts: dict = {}
    for e in out:
        if e["total"] is not None:
            counts[e["basis"]] = counts.get(e["basis"], 0) + 1
    common = max(counts, key=lambda b: (counts[b], len(b))) if counts else ()
    ranked = sorted((e for e in out if e["total"] is not None and e["basis"] == common), key=lambda e: -e["total"])
    for i, e in enumerate(ranked):
        e["rank"] = ranked[i - 1]["rank"] if i and e["total"] == ranked[i - 1]["total"] else i + 1
    out.sort(key=lambda e: (e["rank"] is None, e["rank"] or 0, e["total"] is None, -(e["total"] or 0), e["id"]))
    return out


# ---------------------------------------------------------------- random rulesets

VALUES = [0.0, 0.25, 0.5, 0.5, 0.8, 0.9, 1.0, 2.0, -1.0]  # few values: ties are common


@st.composite
def kpis(draw, id: str, categories: list[str]) -> Kpi:
    method = draw(st.sampled_from(["linear", "ratio", "bands", "range", "boolean", "percentile", "zscore"]))
    better = draw(st.sampled_from(["higher", "lower"]))
    target = floor = None
    scoring = Scoring(method)
    if method == "linear":
        target, floor = (0.9, 0.2) if better == "higher" else (0.2, 0.9)
    elif method == "ratio":
        target = draw(st.sampled_from([0.5, 0.8, 1.0]))
    elif method == "bands":
        bands = sorted(draw(st.lists(st.tuples(st.sampled_from(VALUES), st.sampled_from([0.0, 40.0, 70.0, 100.0])),
                                     min_size=1, max_size=3)), reverse=better == "higher")
        scoring = Scoring(method, bands=bands)
    elif method == "range":
        scoring = Scoring(method, low=0.25, high=0.8, tolerance=draw(st.sampled_from([0.5, 1.0])))
    elif method == "boolean":
        target = draw(st.sampled_from([None, 0.5, 1.0]))
    elif method == "zscore":
        scoring = Scoring(method, clip=draw(st.sampled_from([1.0, 2.0])))
    if method in ("range", "bands", "percentile", "zscore") and draw(st.booleans()):
        target = draw(st.sampled_from([0.5, 0.9]))
    return Kpi(id=id, title={}, formula=parse("x", HERE), category=draw(st.sampled_from(categories)),
               location=HERE, better=better, target=target, floor=floor,
               benchmark=draw(st.sampled_from([None, None, 0.5, 0.0, -1.0])),
               weight=draw(st.sampled_from([0.0, 1.0, 2.0, 5.0])), near=draw(st.sampled_from([0.05, 0.3])),
               scoring=scoring, scored=draw(st.sampled_from([True, True, True, False])))  # False: tracked


@st.composite
def cases(draw):
    categories = {c: Category(c, {}, draw(st.sampled_from([0.0, 1.0, 3.0])), draw(st.sampled_from(["mean", "worst"])))
                  for c in ["c1", "c2", "c3"][:draw(st.integers(1, 3))]}
    ids = [f"k{i}" for i in range(draw(st.integers(1, 6)))]
    ks = {id: draw(kpis(id, list(categories))) for id in ids}
    rs = Ruleset(id="r", file=Path("r.yaml"), title={}, description={}, version="", params={}, sources={},
                 measures={}, kpis=ks, categories=categories, grades=list(DEFAULT_GRADES), checks=[], actions=[])
    n = draw(st.integers(1, 12))
    rows = [{"id": f"E{i:02d}", **{k: draw(st.sampled_from(VALUES + [None, None])) for k in ids}} for i in range(n)]
    return rs, rows


def vectorised(rs: Ruleset, rows: list[dict]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema={"id": pl.String, **{k: pl.Float64 for k in rs.kpis}})
    frame = frame.with_columns(pl.col("id").alias(score.ID),
                               *(pl.when(pl.col(k).is_null()).then(pl.lit("no value")).alias(f"{k}.reason")
                                 for k in rs.kpis))
    members = {c: {k.id for k in rs.kpis.values() if k.category == c} for c in rs.categories}
    return score.profile_lists(score.scorecards(rs, frame, True), list(rs.kpis), list(rs.categories), members)


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    # scores are kept to 9 decimals (score.SCORE_DIGITS): a difference of two is within 2e-9
    return a == pytest.approx(b, rel=1e-9, abs=2e-9)


def tie(weights: list[float], categories: str, values: list[dict[str, float | None]], weight: float = 1.0,
        second: str = "mean") -> tuple[Ruleset, list[dict]]:
    """Linear KPIs k0.. (target 0.9, floor 0.2) in categories c1 and c2 (rolled up by
    ``second``) of equal ``weight``, and entities E00.. with these values (0 for a KPI
    not given)."""
    ks = {f"k{i}": Kpi(id=f"k{i}", title={}, formula=parse("x", HERE), category=f"c{c}", location=HERE,
                       target=0.9, floor=0.2, weight=w, scoring=Scoring("linear"))
          for i, (w, c) in enumerate(zip(weights, categories))}
    cats = {"c1": Category("c1", {}, weight, "mean"), "c2": Category("c2", {}, weight, second)}
    rs = Ruleset(id="r", file=Path("r.yaml"), title={}, description={}, version="", params={}, sources={},
                 measures={}, kpis=ks, categories=cats, grades=list(DEFAULT_GRADES), checks=[], actions=[])
    return rs, [{"id": f"E{i:02d}", **{k: v.get(k, 0.0) for k in ks}} for i, v in enumerate(values)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
# found by the search: totals equal by hand (c1 = 1 x s / 1, c2 = 5 x s / 5) that the engine
# summed to a float noise apart, which ranked one entity above the other and made c1 the
# weaker category; scores are now kept to 9 decimals (score.SCORE_DIGITS)
@example(tie([0, 0, 0, 0, 5, 1], "111121", [{"k5": 0.5}, {"k4": 0.5}]))
@example(tie([0, 0, 0, 0, 1, 5], "111112", [{"k5": 0.5}, {"k4": 0.5}]))
@example(tie([0, 0, 0, 0, 1, 5], "111112", [{}, {"k4": 0.25, "k5": 0.25}]))
# totals kept to 9 decimals differ by 1e-9 where the exact one is a half (21.4285714285): a
# KPI's gain, one total minus another, is then 1e-9 rather than 0
@example(tie([0, 0, 1, 1, 1, 0], "112211", [{"k4": 0.5}, {}, {"k3": None}], weight=3.0, second="worst"))
def test_vectorised_scoring_equals_the_per_entity_reference(case):
    rs, rows = case
    want = ref_entities(rs, rows)
    got = vectorised(rs, rows).to_dicts()
    totals = [e["total"] for e in want if e["total"] is not None]
    # the order is the reference's, except between entities whose totals differ by float
    # noise only (the two sum in different orders)
    close = {e["id"] for e in want for t in totals if e["total"] is not None and 0 < abs(e["total"] - t) < 1e-9}
    if not close:
        assert [g[score.ID] for g in got] == [e["id"] for e in want]
    by_id = {g[score.ID]: g for g in got}
    for e in want:
        g = by_id[e["id"]]
        on_edge = False
        for k, (s, status, share, gain) in e["kpis"].items():
            assert same(g[f"{k}.score"], s), (e["id"], k)
            # a score a rounding error away from where the status changes (100, or 95 when
            # near is 0.05: zscore's mean and deviation are summed in another order) may
            # land on either side
            edge = s is not None and (abs(s - 80) < 1e-6 or rs.kpis[k].target is None and any(
                abs(s - t) < 1e-6 for t in (100.0, 100 * (1 - rs.kpis[k].near))))
            assert g[f"{k}.status"] == status or edge, (e["id"], k)
            on_edge |= g[f"{k}.status"] != status
            assert same(g[f"{k}.share"], share), (e["id"], k)
            assert same(g[f"{k}.gain"], gain), (e["id"], k)
        for c, s in e["cats"].items():
            assert same(g[f"{c}.score"], s), (e["id"], c)
        assert same(g[score.TOTAL], e["total"])
        assert g[score.GRADE] == e["grade"] or any(abs(e["total"] - x.min) < 1e-6 for x in rs.grades)
        if e["id"] not in close:
            assert g[score.RANK] == e["rank"], e["id"]
        # two KPI scores a rounding error apart (a linear 3/7 and a percentile 3/7) that
        # are equal on one side only may be listed in either order
        pairs = [(e["kpis"][a][0], e["kpis"][b][0], g[f"{a}.score"], g[f"{b}.score"])
                 for a in rs.kpis for b in rs.kpis if a < b]
        on_edge |= any(None not in p and abs(p[0] - p[1]) < 1e-9 and (p[0] == p[1]) != (p[2] == p[3]) for p in pairs)
        if e["id"] not in close and not on_edge:
            assert g[".strengths"] == e["strengths"] and g[".weaknesses"] == e["weaknesses"], e["id"]
        assert (g[score.UNRANKED] is None) == (e["rank"] is not None) or e["id"] in close


def test_ties_share_the_best_rank_and_missing_values_are_left_out():
    """By hand: one ratio KPI (target 1) and one percentile KPI, equal weights in one
    category; E3 has no value for the percentile KPI, so it is scored on another basis."""
    rs = Ruleset(id="r", file=Path("r.yaml"), title={}, description={}, version="", params={}, sources={},
                 measures={}, categories={"c": Category("c", {})}, grades=list(DEFAULT_GRADES), checks=[],
                 actions=[], kpis={"a": Kpi("a", {}, parse("x", HERE), "c", HERE, target=1.0),
                                   "p": Kpi("p", {}, parse("x", HERE), "c", HERE, scoring=Scoring("percentile"))})
    rows = [{"id": "E1", "a": 0.5, "p": 3.0}, {"id": "E2", "a": 1.0, "p": 1.0},
            {"id": "E3", "a": 1.0, "p": None}, {"id": "E4", "a": 0.5, "p": 3.0}]
    got = vectorised(rs, rows)
    # p among 3, 1, 3: E1 and E4 beat one and tie one: (1 + 0.5) / 2 = 75; E2 beats none: 0
    # totals: E1, E4 (50 + 75) / 2 = 62.5; E2 (100 + 0) / 2 = 50; E3 100 on `a` alone
    assert got.select(score.ID, score.TOTAL, score.RANK).rows() == [
        ("E1", 62.5, 1), ("E4", 62.5, 1), ("E2", 50.0, 3), ("E3", 100.0, None)]
    assert "`p`" in got[score.UNRANKED][3]
