"""Stage 5, score: KPI value -> score 0..100 -> category scores -> total -> grade.

Everything here is a column operation over a frame of KPI values, one row per scorecard:
the overall scorecard is a frame of one row, the entities a frame of one row per entity,
and both go through the same code. Scoring methods are a registry of small functions,
one per method, each documented, each turning a value column into a score column; adding
a method is adding a function. Weights are normalised: KPI weights within their
category, category weights across the total. A KPI with no value is left out and its
weight redistributed over the others, and the result says so.

Column names: a KPI's value is ``id`` (as the KPI evaluation left it), its score
``id.score``, its status, share, gain and benchmark gap ``id.status``, ``id.share``,
``id.gain``, ``id.gap``; a category's ``id.score`` and ``id.share``; the scorecard's own
columns start with a dot (``.score``, ``.grade``, ``.rank``...), so no name a ruleset
can give clashes with them.
"""
from __future__ import annotations

import inspect
from functools import reduce
from typing import Callable

import polars as pl

from .model import PEER_METHODS, Grade, Kpi, Ruleset

TOTAL, GRADE, RANK, UNRANKED, BASIS = ".score", ".grade", ".rank", ".unranked", ".basis"
ID, LABEL = ".id", ".name"  # an entity's key value(s) joined by " / ", and its display name
PEER_REASON = "scored against the other entities: see each entity's scorecard"
TOP = 3  # strengths and weaknesses per side and kind
# scores are kept to 9 decimals: two sums of the same scores in another order differ by
# float noise (1e-14), which would break a tie of ranks, a status at 100 or a weakest category
SCORE_DIGITS = 9
WEIGHED = ".weighed"  # a category's column: the weight of its scored KPIs


def _clip(score: pl.Expr) -> pl.Expr:
    return score.clip(0.0, 100.0)


def linear(kpi: Kpi, value: pl.Expr) -> pl.Expr:
    """The floor scores 0, the target 100, straight in between; works both ways.

    ``{target: 0.85, floor: 0.60}``: 0.85 or more scores 100, 0.725 scores 50, 0.60 or
    less 0. With ``better: lower``, ``{target: 4, floor: 24}``: 4 hours or less is 100."""
    return _clip((value - kpi.floor) / (kpi.target - kpi.floor) * 100)


def ratio(kpi: Kpi, value: pl.Expr) -> pl.Expr:
    """Achievement: value / target x 100 when higher is better, target / value x 100 when
    lower is better (a value of 0 then scores 100).

    ``{target: 200}``: a value of 150 scores 75."""
    if kpi.better == "higher":
        return _clip(value / kpi.target * 100)
    return pl.when(value <= 0).then(100.0).otherwise(_clip(kpi.target / value * 100))


def bands(kpi: Kpi, value: pl.Expr) -> pl.Expr:
    """Thresholds, best first: the first band the value reaches gives the score
    (>= when higher is better, <= when lower); below every band scores 0.

    ``{method: bands, bands: [[0.9, 100], [0.8, 70], [0.6, 40]]}``: 0.85 scores 70."""
    chain: pl.Expr = pl.lit(0.0)
    for threshold, score in reversed(kpi.scoring.bands):  # built inside out: the first band wins
        chain = pl.when(_meets(kpi, value, threshold)).then(max(0.0, min(100.0, float(score)))).otherwise(chain)
    return chain


def range_(kpi: Kpi, value: pl.Expr) -> pl.Expr:
    """Inside ``[low, high]`` scores 100, falling linearly to 0 at ``tolerance`` outside.

    ``{method: range, low: 2, high: 4, tolerance: 2}``: 3 scores 100, 5 scores 50, 6 scores 0."""
    s = kpi.scoring
    distance = pl.max_horizontal(s.low - value, value - s.high, pl.lit(0.0))
    return _clip(100 - distance / s.tolerance * 100)


def boolean(kpi: Kpi, value: pl.Expr) -> pl.Expr:
    """100 when the target is met (any non-zero value when there is no target), else 0.

    ``{method: boolean, target: 1}``: 1 scores 100, 0 scores 0."""
    met = value != 0 if kpi.target is None else _meets(kpi, value, kpi.target)
    return pl.when(met).then(100.0).otherwise(0.0)


def percentile(kpi: Kpi, value: pl.Expr) -> pl.Expr:
    """Against the other entities: the best scores 100, the worst 0, the rest by the share
    of entities they beat (ties count half). Needs `by`; for peer benchmarking without a
    target. Values 1, 2, 3 (higher is better) score 0, 50, 100; 1, 1, 3 score 25, 25, 100."""
    others = value.count().cast(pl.Float64) - 1
    below = value.rank("min").cast(pl.Float64) - 1  # entities with a smaller value
    above = others - (value.rank("max").cast(pl.Float64) - 1)
    ties = others - below - above
    worse = below if kpi.better == "higher" else above
    return pl.when(others <= 0).then(100.0).otherwise(_clip((worse + ties / 2) / others * 100))


def zscore(kpi: Kpi, value: pl.Expr) -> pl.Expr:
    """Against the other entities: 50 at their mean, 50 x z / clip more or less for a
    value z standard deviations away (clip defaults to 2, so z = 2 scores 100), clipped
    to 0..100; 50 for all when they are equal. Needs `by`."""
    scaled = value / value.abs().max()  # z is the same in any unit; near 1e300 the squares would overflow
    z = (scaled - scaled.mean()) / scaled.std(ddof=0) * (1 if kpi.better == "higher" else -1)
    return pl.when(value.max() == value.min()).then(50.0).otherwise(_clip(50 + 50 * z / kpi.scoring.clip))


METHODS: dict[str, Callable[[Kpi, pl.Expr], pl.Expr]] = {
    "linear": linear, "ratio": ratio, "bands": bands, "range": range_, "boolean": boolean,
    "percentile": percentile, "zscore": zscore,
}


def reference() -> str:
    """Markdown reference of every scoring method, from the docstrings."""
    return "\n".join(f"- `{name}`: {' '.join(inspect.getdoc(fn).split())}"
                     for name, fn in METHODS.items())


def _meets(kpi: Kpi, value: pl.Expr, goal: float) -> pl.Expr:
    return value >= goal if kpi.better == "higher" else value <= goal


def score_expr(kpi: Kpi, value: pl.Expr, peers: bool = True) -> pl.Expr:
    """The score of a value column: null where the value is; a peer method without
    ``peers`` (the overall scorecard) scores nothing."""
    if not kpi.scored or (kpi.scoring.method in PEER_METHODS and not peers):
        return pl.lit(None, pl.Float64)
    value = value.cast(pl.Float64).fill_nan(None)
    return pl.when(value.is_not_null()).then(METHODS[kpi.scoring.method](kpi, value).round(SCORE_DIGITS))


NEAR_SCORE = 80.0  # below it a KPI is `missed` however close its value: a "near" pill on 54 misleads


def status_expr(kpi: Kpi, value: pl.Expr, score: pl.Expr) -> pl.Expr:
    """met, near (short of the target by at most `near` x |target| and scoring at least
    NEAR_SCORE), missed, or n/a; tracked for a KPI that is not scored."""
    if not kpi.scored:
        return pl.lit("tracked")
    if kpi.target is None:
        judged = (pl.when(score >= 100).then(pl.lit("met"))
                  .when(score >= 100 * (1 - kpi.near)).then(pl.lit("near")).otherwise(pl.lit("missed")))
    else:
        margin = kpi.near * abs(kpi.target)
        goal = kpi.target - margin if kpi.better == "higher" else kpi.target + margin
        judged = (pl.when(_meets(kpi, value, kpi.target)).then(pl.lit("met"))
                  .when(_meets(kpi, value, goal) & (score >= NEAR_SCORE)).then(pl.lit("near"))
                  .otherwise(pl.lit("missed")))
    return pl.when(value.is_null() | score.is_null()).then(pl.lit("n/a")).otherwise(judged)


def score_kpis(ruleset: Ruleset, frame: pl.LazyFrame, peers: bool, suffixes: tuple[str, ...] = ()
               ) -> pl.LazyFrame:
    """Every KPI's score and status (and its score in each trend period of ``suffixes``);
    a KPI without a score keeps the reason, one with a score loses it."""
    scores, periods = [], []
    for k in ruleset.kpis.values():
        scores.append(score_expr(k, pl.col(k.id), peers).alias(f"{k.id}.score"))
        periods += [score_expr(k, pl.col(k.id + s), False).alias(f"{k.id}{s}.score") for s in suffixes]
    frame = frame.with_columns(*scores, *periods)
    return frame.with_columns(
        *(status_expr(k, pl.col(k.id).fill_nan(None), pl.col(f"{k.id}.score")).alias(f"{k.id}.status")
          for k in ruleset.kpis.values()),
        *(pl.when(pl.col(f"{k.id}.score").is_null()).then(_reason(k, peers)).alias(f"{k.id}.reason")
          for k in ruleset.kpis.values()))


def _reason(kpi: Kpi, peers: bool) -> pl.Expr:
    """Why a KPI has no score: its own reason when it has no value (a tracked KPI has no
    score by design, so it gives no reason when it has a value)."""
    if not kpi.scored:
        return pl.when(pl.col(kpi.id).is_null()).then(pl.col(f"{kpi.id}.reason"))
    return pl.lit(PEER_REASON) if kpi.scoring.method in PEER_METHODS and not peers else pl.col(f"{kpi.id}.reason")


def _sum(terms: list[pl.Expr]) -> pl.Expr:
    return reduce(lambda a, b: a + b, terms) if terms else pl.lit(0.0)


def _rollup(rollup: str, pairs: list[tuple[float, pl.Expr]]) -> pl.Expr:
    """A category score from its (weight, score) pairs, the null scores left out; null
    when nothing is scored."""
    weight = _sum([pl.when(s.is_not_null()).then(w).otherwise(0.0) for w, s in pairs])
    if rollup == "worst":
        value = pl.min_horizontal(*(s for _, s in pairs)) if pairs else pl.lit(None, pl.Float64)
    else:
        value = _sum([pl.when(s.is_not_null()).then(w * s).otherwise(0.0) for w, s in pairs]) / weight
    return pl.when(weight > 0).then(value.round(SCORE_DIGITS))


def weigh(ruleset: Ruleset, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Category scores, the total and the grade from the KPI scores; each KPI's share of
    the total and the points the total would gain if it reached its target."""
    cats = ruleset.categories.values()
    members = {c.id: [k for k in ruleset.kpis.values() if k.category == c.id and k.weight > 0 and k.scored]
               for c in cats}

    def rollup(cat_id: str, changed: str | None = None) -> pl.Expr:
        return _rollup(ruleset.categories[cat_id].rollup,
                       [(k.weight, pl.lit(100.0) if k.id == changed else pl.col(f"{k.id}.score"))
                        for k in members[cat_id]])

    def total(scores: dict[str, pl.Expr]) -> pl.Expr:
        return _rollup("mean", [(c.weight, scores[c.id]) for c in cats if c.weight > 0])

    frame = frame.with_columns(rollup(c.id).alias(f"{c.id}.score") for c in cats)
    scores = {c.id: pl.col(f"{c.id}.score") for c in cats}
    counted = _sum([pl.when(scores[c.id].is_not_null()).then(c.weight).otherwise(0.0) for c in cats if c.weight > 0])
    frame = frame.with_columns(
        total(scores).alias(TOTAL),
        *(pl.when(scores[c.id].is_not_null() & (c.weight > 0)).then(c.weight / counted).otherwise(0.0)
          .alias(f"{c.id}.share") for c in cats))
    # the weight of each category's scored KPIs, once per category, not once per KPI
    frame = frame.with_columns(
        _sum([pl.when(pl.col(f"{o.id}.score").is_not_null()).then(o.weight).otherwise(0.0) for o in members[c.id]])
        .alias(f"{c.id}.{WEIGHED}") for c in cats)
    out = []
    for k in ruleset.kpis.values():
        score = pl.col(f"{k.id}.score")
        if k not in members.get(k.category, []) or ruleset.categories[k.category].weight == 0:
            out += [pl.lit(0.0).alias(f"{k.id}.share"), pl.when(score.is_not_null()).then(0.0).alias(f"{k.id}.gain")]
            continue
        share = k.weight / pl.col(f"{k.category}.{WEIGHED}") * pl.col(f"{k.category}.share")
        out.append(pl.when(score.is_not_null()).then(share).otherwise(0.0).alias(f"{k.id}.share"))
        if ruleset.categories[k.category].rollup == "mean":
            # at 100 the category gains weight x (100 - score) / its weight, and the total
            # that times the category's share: the KPI's share x (100 - score)
            gain = share * (100 - score)
        else:  # measured: only the KPI's own category changes
            gain = total({**scores, k.category: rollup(k.category, k.id)}) - pl.col(TOTAL)
        out.append(pl.when(score.is_not_null()).then(pl.max_horizontal(gain, pl.lit(0.0))).alias(f"{k.id}.gain"))
    return frame.with_columns(*out, grade_expr(ruleset.grades, pl.col(TOTAL)).alias(GRADE)) \
        .drop(f"{c.id}.{WEIGHED}" for c in cats)


def grade_expr(grades: list[Grade], total: pl.Expr) -> pl.Expr:
    chain: pl.Expr = pl.lit("n/a")
    for g in reversed(grades):  # best first: built inside out
        chain = pl.when(total >= g.min).then(pl.lit(g.grade)).otherwise(chain)
    return pl.when(total.is_not_null()).then(chain).otherwise(pl.lit("n/a"))


def _smallest(frame: pl.DataFrame, name: str, keys: list[pl.Expr | None], n: int, last: bool = False
              ) -> pl.DataFrame:
    """Columns ``name.0`` .. ``name.{n-1}`` (``name`` when n is 1): per row, the codes
    (places in ``keys``) of the n smallest keys, in order, null keys (and None) left out,
    null past the last key; equal keys in the order of ``keys`` (the last first with
    ``last``): a stable sort of each row, as columns of small integers."""
    names = [name] if n == 1 else [f"{name}.{i}" for i in range(n)]
    live = [i for i, key in enumerate(keys) if key is not None]
    if not live:
        return frame.with_columns(pl.lit(None, pl.Int16).alias(c) for c in names)
    frame = frame.with_columns(keys[i].cast(pl.Float64).alias(f"{name}.key{i}") for i in live)
    key = {i: pl.col(f"{name}.key{i}") for i in live}

    def before(j: int, i: int) -> pl.Expr:  # key j sorts before key i
        first = j > i if last else j < i
        return (key[j] <= key[i]) if first else (key[j] < key[i])

    # each key's place in its row: how many keys sort before it
    frame = frame.with_columns(pl.sum_horizontal(pl.lit(0, pl.Int16), *(before(j, i) for j in live if j != i))
                               .alias(f"{name}.place{i}") for i in live)
    frame = frame.with_columns(
        pl.coalesce(*(pl.when(key[i].is_not_null() & (pl.col(f"{name}.place{i}") == p)).then(pl.lit(i, pl.Int16))
                      for i in live)).alias(c) for p, c in enumerate(names))
    return frame.drop(*(f"{name}.key{i}" for i in live), *(f"{name}.place{i}" for i in live))


def gap_expr(kpi: Kpi) -> pl.Expr:
    """How far the value beats (+) or lags (-) its benchmark, relative to it."""
    if kpi.benchmark is None or kpi.benchmark == 0:
        return pl.lit(None, pl.Float64)
    gap = (pl.col(kpi.id).cast(pl.Float64).fill_nan(None) - kpi.benchmark) / abs(kpi.benchmark)
    return gap if kpi.better == "higher" else -gap


SIDES = ("strengths", "weaknesses")


def profile(ruleset: Ruleset, frame: pl.DataFrame) -> pl.DataFrame:
    """The strongest and weakest KPIs and categories of each scorecard: KPIs by score (met,
    best first; missed, worst first; at most three each), KPIs by gap to their benchmark,
    and the category furthest above or below the total, as codes (a KPI's or category's
    place in the ruleset) in the columns ``.strengths.score.0`` .. ``.2``,
    ``.strengths.benchmark.0`` .. ``.2`` and ``.strengths.category`` (the same for
    weaknesses); ``profile_lists`` turns them into lists of ids."""
    kpis = list(ruleset.kpis.values())
    frame = frame.with_columns(gap_expr(k).alias(f"{k.id}.gap") for k in kpis)
    scored = [pl.col(f"{k.id}.score").is_not_null() & (k.weight > 0) for k in kpis]
    score = [pl.col(f"{k.id}.score") for k in kpis]
    status = [pl.col(f"{k.id}.status") for k in kpis]
    gap = [pl.col(f"{k.id}.gap") for k in kpis]
    none = pl.lit(None, pl.Float64)
    cats = list(ruleset.categories)
    rated = [pl.col(f"{c}.score").is_not_null() & (pl.col(f"{c}.share") > 0) for c in cats]
    cat_score = [pl.when(rated[i]).then(pl.col(f"{c}.score")) for i, c in enumerate(cats)]
    keys = {  # (name, keys, how many, last among equals)
        ".strengths.score": ([pl.when(scored[i] & (status[i] == "met")).then(-score[i]) for i in range(len(kpis))], TOP, False),
        ".weaknesses.score": ([pl.when(scored[i] & (status[i] == "missed")).then(score[i]) for i in range(len(kpis))], TOP, False),
        # a tracked KPI is never a strength or a weakness
        # a missed KPI is never a strength, however far it beats the market
        ".strengths.benchmark": ([pl.when((gap[i] > 0) & (status[i] != "missed")).then(-gap[i])
                                  if k.benchmark and k.scored else None
                                  for i, k in enumerate(kpis)], TOP, False),
        ".weaknesses.benchmark": ([pl.when(gap[i] < 0).then(gap[i]) if k.benchmark and k.scored else None
                                   for i, k in enumerate(kpis)], TOP, False),
        ".strengths.category": ([-s for s in cat_score], 1, True),  # the last of the best
        ".weaknesses.category": (cat_score, 1, False),
    }
    for name, (exprs, n, last) in keys.items():
        frame = _smallest(frame, name, exprs, n, last)
    # a category is a strength only above the total, a weakness only below it, and only
    # when two categories or more are rated
    enough = pl.col(TOTAL).is_not_null() & (_sum([r.cast(pl.Float64) for r in rated]) > 1)
    above = pl.max_horizontal(*cat_score) if cats else none
    below = pl.min_horizontal(*cat_score) if cats else none
    return frame.with_columns(
        pl.when(enough & (above > pl.col(TOTAL))).then(pl.col(".strengths.category")).alias(".strengths.category"),
        pl.when(enough & (below < pl.col(TOTAL))).then(pl.col(".weaknesses.category")).alias(".weaknesses.category"))


PICKS = [f".{side}.{by}.{i}" for side in SIDES for by in ("score", "benchmark") for i in range(TOP)] \
    + [f".{side}.category" for side in SIDES]


def profile_lists(frame: pl.DataFrame, kpis: list[str], categories: list[str],
                  members: dict[str, set[str]] | None = None) -> pl.DataFrame:
    """``frame`` with ``.strengths`` and ``.weaknesses``: the ids of score.profile's codes,
    by score, then by benchmark, then the category, each id once, where it first appears
    (a KPI can be strong by score and by benchmark). Consistent by construction: a
    weakness is never also a strength (a met KPI behind its benchmark is a weakness only),
    and a category whose KPIs (``members``) include a weakness is no strength. Worked out
    once per distinct combination of codes, of which there are few, not once per entity."""
    combos = frame.select(PICKS).unique()
    lists: dict[str, list[list[str]]] = {f".{side}": [] for side in SIDES}
    for row in combos.iter_rows(named=True):
        found = {}
        for side in SIDES:
            ids = [kpis[row[f".{side}.{by}.{i}"]] for by in ("score", "benchmark") for i in range(TOP)
                   if row[f".{side}.{by}.{i}"] is not None]
            category = row[f".{side}.category"]
            found[side] = (list(dict.fromkeys(ids)), categories[category] if category is not None else None)
        (strong, best), (weak, worst) = found["strengths"], found["weaknesses"]
        strong = [k for k in strong if k not in weak]
        if best is not None and not (members or {}).get(best, set()) & set(weak):
            strong.append(best)
        lists[".strengths"].append(strong)
        lists[".weaknesses"].append(weak + ([worst] if worst is not None else []))
    combos = combos.with_columns(pl.Series(name, values, dtype=pl.List(pl.String)) for name, values in lists.items())
    return frame.join(combos, on=PICKS, how="left", nulls_equal=True, maintain_order="left")


def rank(kpis: list[str], frame: pl.DataFrame) -> pl.DataFrame:
    """Rank by score, best first, ties sharing the best rank (1, 1, 3); entities whose
    score rests on other KPIs than the most common set are left unranked (``.unranked``
    says why); sorted: ranked first, then by score, n/a last, then in the frame's order
    (by the entity key). The basis of
    an entity is the set of ``kpis`` with a share of its total."""
    has = [pl.col(f"{k}.share") > 0 for k in kpis]
    if len(kpis) <= 62:  # one bit per KPI: grouping a million integers is cheap, strings not
        basis = _sum([h.cast(pl.Int64) * (1 << i) for i, h in enumerate(has)]).cast(pl.Int64)
    else:
        basis = pl.concat_str(*(pl.when(h).then(pl.lit("1")).otherwise(pl.lit("0")) for h in has))
    frame = frame.with_columns(basis.alias(BASIS))
    scored = frame.select(BASIS, TOTAL, _sum([h.cast(pl.Int64) for h in has]).alias("ones")) \
        .with_row_index(".row").filter(pl.col(TOTAL).is_not_null())
    common: int | str | None = None
    if scored.height:
        # the most common set of KPIs; the fullest wins a tie in numbers, then the first seen
        counts = (scored.group_by(BASIS).agg(pl.len().alias("n"), pl.col(".row").min().alias("first"),
                                            pl.col("ones").first())
                  .sort(["n", "ones", "first"], descending=[True, True, False]))
        common = counts[BASIS][0]

    def kpis_of(basis: int | str | None) -> set[str]:
        if basis is None:
            return set()
        return {k for i, k in enumerate(kpis) if (basis[i] == "1" if isinstance(basis, str) else basis >> i & 1)}

    def why(basis: int | str) -> str:
        # worked out once per distinct set of KPIs, of which there are few
        missing = sorted(kpis_of(common) - kpis_of(basis)) or sorted(kpis_of(basis) - kpis_of(common))
        return "scored on other weights than its peers (" + ", ".join(f"`{m}`" for m in missing) \
            + "), so not ranked with them"

    ranked = pl.col(BASIS) == pl.lit(common) if common is not None else pl.lit(False)
    others = {b: why(b) for b in frame[BASIS].unique().to_list() if b != common}
    return frame.with_columns(
        pl.when(ranked).then(pl.col(TOTAL)).rank("min", descending=True).cast(pl.Int64).alias(RANK),
        pl.when(pl.col(TOTAL).is_null()).then(pl.lit("no score: no KPI could be scored"))
        .when(~ranked).then(pl.col(BASIS).replace_strict(others, default=None, return_dtype=pl.String))
        .alias(UNRANKED),
    ).sort(  # one key, stable: the frame comes sorted by the entity key (execute), so it breaks ties
        pl.when(pl.col(RANK).is_not_null()).then(pl.col(RANK).cast(pl.Float64)).otherwise(1e12 - pl.col(TOTAL)),
        nulls_last=True, maintain_order=True)


def scorecards(ruleset: Ruleset, frame: pl.DataFrame, peers: bool, suffixes: tuple[str, ...] = ()
               ) -> pl.DataFrame:
    """Every scorecard of ``frame`` (one row each) scored, weighed and profiled; with
    ``peers`` (the entities) also ranked."""
    # in memory: Polars' streaming engine can round the same sum differently from row to
    # row (seen on 2.1), and equal inputs must give equal totals, or ties would not tie
    scored = profile(ruleset, weigh(ruleset, score_kpis(ruleset, frame.lazy(), peers, suffixes))
                     .collect(engine="in-memory"))
    return rank(list(ruleset.kpis), scored) if peers else scored
