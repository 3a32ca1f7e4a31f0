"""The whole flow for one ruleset: load, validate, compile, execute, score, recommend."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, Callable

import polars as pl

from .compile import CheckPlan, Plan, compile_plan, quality_score
from .connect import Database
from .errors import AssessError, Location, Problem, did_you_mean
from .execute import NAME, Executed, execute, failed_values, locate, samples, source_rows, write_evidence
from .labels import labels, reason
from .model import Breakdown, Ruleset, Threshold, derived_params, display_decimals, period_problem, reversed_period, text_in
from .recommend import FIRES, recommend
from .result import CategoryResult, CheckResult, EntityResult, KpiResult, Previous, Result, SourceResult, Verdict
from .score import GRADE, ID, LABEL, RANK, TOP, TOTAL, UNRANKED, profile_lists, scorecards
from .validate import load_ruleset


REMOTE = ("duckdb", "spark")  # engines reached through Ibis (engine.backends.ibis)
KINDS = {int: "a whole number", float: "a number", dt.date: "a date"}  # what a --param must be


def with_params(ruleset: Ruleset, overrides: dict[str, str]) -> dict[str, Any]:
    """The ruleset's params with command-line overrides, read as the default's type."""
    params = dict(ruleset.params)
    for name, text in overrides.items():
        if name not in params:
            raise AssessError(Problem(Location(str(ruleset.file)), "unknown-param",
                                      f"--param {name}: the ruleset has no param `{name}`",
                                      did_you_mean(name, params) or f"params: {', '.join(params) or 'none'}"))
        default = params[name]
        try:
            if isinstance(default, bool):
                value: Any = text.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                value = int(text)
            elif isinstance(default, float):
                value = float(text)
                if not math.isfinite(value):  # nan, inf: no comparison with them holds
                    raise ValueError(text)
            elif isinstance(default, dt.date):
                value = dt.date.fromisoformat(text)
            else:
                value = text
        except ValueError:
            raise AssessError(Problem(Location(str(ruleset.file)), "param-type",
                                      f"--param {name}={text}: expected {KINDS.get(type(default), 'text')} like {default}")) from None
        params[name] = value
    if wrong := reversed_period(params):
        raise AssessError(Problem(Location(str(ruleset.file)), "period", wrong, "swap the two dates"))
    if period := period_problem(params, ruleset.trend):
        raise AssessError(Problem(Location(str(ruleset.file)), "period", period))
    return params | {k: v for k, v in derived_params(params).items() if k not in params}


def _holds(threshold: Threshold | None, rows: int, failed: int, ratio: float | None) -> bool:
    if threshold is None:
        return False
    metric, op, limit = threshold
    value = {"ratio": ratio, "failed": failed, "rows": rows,
             "failed_ratio": failed / rows if rows else None}[metric]
    if value is None:
        return False
    return {"<": value < limit, "<=": value <= limit, ">": value > limit,
            ">=": value >= limit, "==": value == limit, "!=": value != limit}[op]


def check_status(warn: Threshold | None, fail: Threshold | None, rows: int, failed: int,
                 ratio: float | None) -> str:
    """fail or warn when its threshold holds; with neither, any failing row fails."""
    if warn is None and fail is None:
        return "fail" if failed else "pass"
    if _holds(fail, rows, failed, ratio):
        return "fail"
    return "warn" if _holds(warn, rows, failed, ratio) else "pass"


def _check_result(plan: CheckPlan, rows: int, failed: int, lang: str, **extra: Any) -> CheckResult:
    c = plan.check
    ratio = (rows - failed) / rows if rows else None
    return CheckResult(c.id, text_in(c.title, lang, c.id), c.source, c.rule,
                       check_status(c.warn, c.fail, rows, failed, ratio), rows, failed, ratio,
                       severity=c.severity, area=c.area, fix=text_in(c.fix, lang),
                       warn=_said(c.warn), fail=_said(c.fail), **extra)


def _said(threshold: Threshold | None) -> str | None:
    return None if threshold is None else f"{threshold[0]} {threshold[1]} {threshold[2]:g}"


def check_results(plan: Plan, executed: Executed, lang: str) -> list[CheckResult]:
    """Every rule's counts and status, per group when it has `by`, with evidence for the
    rules that warn or fail (a second, bounded query, run only for them)."""
    values = executed.values
    out = []
    for cp in plan.checks:
        observed = values[cp.observed][0] if cp.observed in values.columns else None
        result = _check_result(cp, int(values[cp.rows][0]), int(values[cp.failed][0]), lang,
                               observed=observed)
        if cp.check.id in executed.groups:
            for row in executed.groups[cp.check.id].iter_rows(named=True):
                group = _check_result(cp, int(row[cp.rows]), int(row[cp.failed]), lang)
                result.groups.append({"group": " / ".join("(empty)" if row[b] is None else str(row[b])
                                                    for b in cp.check.by),
                                      "rows": group.rows, "failed": group.failed,
                                      "ratio": group.ratio, "status": group.status})
        out.append(result)
    flagged = [cp for cp, c in zip(plan.checks, out) if c.status != "pass"]
    evidence = samples(flagged, executed, {n: s.key for n, s in plan.ruleset.sources.items()},
                       plan.ruleset.samples)
    for c in out:
        c.samples = evidence[c.id].to_dicts() if c.id in evidence else []
    keyed = {cp.check.id: cp for cp in plan.checks if cp.rule.lookup}  # distinct failing keys
    orphans = failed_values([keyed[c.id] for c in out if c.id in keyed and c.failed],
                            executed, plan.ruleset.samples)
    for c in out:
        if c.id in keyed:
            c.distinct_failed, c.top_failed_values = orphans.get(c.id, (0, []))
    return out


def quality(values: pl.DataFrame, ruleset: Ruleset) -> dict[str, Any]:
    """Data-quality scores 0..100 (:func:`quality_score`), overall, per source and per
    area, from the checks' counts; None where no rule checked a row."""
    checks = ruleset.checks
    groups = {"sources": {s: [c for c in checks if c.source == s] for s in ruleset.sources
                          if any(c.source == s for c in checks)},
              "areas": {a: [c for c in checks if c.area == a] for a in ruleset.areas}}
    scores = [quality_score(checks), *(quality_score(g) for part in groups.values() for g in part.values())]
    row = iter(values.select(e.alias(str(i)) for i, e in enumerate(scores)).row(0))
    return {"overall": next(row), **{part: {k: next(row) for k in subsets} for part, subsets in groups.items()}}


def evaluate(plan: Plan, values: pl.DataFrame) -> pl.DataFrame:
    """Every KPI of every variant over a frame of measures (one row, or one per entity),
    in dependency order, so a KPI can use the ones before it."""
    kpis = plan.ruleset.kpis
    level: dict[str, int] = {}
    for k in plan.kpis:  # in dependency order: a KPI comes after the KPIs it uses
        level[k.kpi.id] = 1 + max((level[n] for n in k.kpi.uses(kpis)), default=-1)
    frame = values.lazy()
    for depth in range(max(level.values(), default=-1) + 1):  # one with_columns per level
        frame = frame.with_columns(*(e for k in plan.kpis if level[k.kpi.id] == depth
                                     for e in (k.value, k.reason)))
    return frame.collect(engine="in-memory")  # see score.scorecards: ties must tie


CARDS = 1000  # above this many entities a result keeps the top and bottom SHOWN as cards
SHOWN = 20


def _kpis(plan: Plan, row: dict[str, Any], lang: str) -> list[KpiResult]:
    """One scorecard's KPIs from its scored row (see score.scorecards)."""
    out = []
    trend = [v for v in plan.variants if v.label and v.label != "previous"]
    for kpi in plan.ruleset.kpis.values():
        result = KpiResult(
            id=kpi.id, title=text_in(kpi.title, lang, kpi.id), value=row[kpi.id], target=kpi.target,
            floor=kpi.floor, benchmark=kpi.benchmark, score=row[f"{kpi.id}.score"], weight=kpi.weight if kpi.scored else 0.0,
            share=row[f"{kpi.id}.share"], status=row[f"{kpi.id}.status"], category=kpi.category,
            unit=kpi.unit, better=kpi.better, formula=kpi.formula.text, reason=reason(row[f"{kpi.id}.reason"], lang),
            gain=row[f"{kpi.id}.gain"], decimals=display_decimals(kpi))
        if plan.ruleset.compare == "previous":
            compare(result, row[f"{kpi.id}@previous"])
        result.trend = [{"period": v.label, "value": row[kpi.id + v.suffix],
                         "score": row[f"{kpi.id}{v.suffix}.score"]} for v in trend]
        out.append(result)
    return out


def _card(plan: Plan, row: dict[str, Any], lang: str
          ) -> tuple[list[KpiResult], list[CategoryResult], list[str]]:
    """A scored row's KPIs, categories and the notes on redistributed weight."""
    ruleset = plan.ruleset
    kpis = _kpis(plan, row, lang)
    categories = [CategoryResult(c.id, text_in(c.title, lang, c.id), row[f"{c.id}.score"], c.weight,
                                 row[f"{c.id}.share"], c.rollup, [k.id for k in kpis if k.category == c.id])
                  for c in ruleset.categories.values()]
    said = labels(lang)
    notes = [said["note_na"].format(kpi=k.id, reason=k.reason, category=k.category)
             for k in kpis if k.score is None and k.weight > 0]
    notes += [said["note_category"].format(category=c.id)
              for c in categories if c.score is None and c.weight > 0]
    return kpis, categories, notes


def _label(ruleset: Ruleset, grade: str, lang: str) -> str:
    return next((text_in(g.label, lang) for g in ruleset.grades if g.grade == grade), "")


def members(ruleset: Ruleset) -> dict[str, set[str]]:
    """Each category's KPIs."""
    return {c: {k.id for k in ruleset.kpis.values() if k.category == c} for c in ruleset.categories}


def found(ruleset: Ruleset, row: dict[str, Any]) -> list[dict[str, object]]:
    """Why each strength and weakness of a scored row is there (see score.profile): one
    entry per id and side, in the row's lists; a KPI found by score and by benchmark
    carries its score and its gap."""
    kpis, categories = list(ruleset.kpis), list(ruleset.categories)
    out: list[dict[str, object]] = []
    for by, kind, field in (("score", "kpi", "score"), ("benchmark", "kpi", "gap"), ("category", "category", "score")):
        for side, column in (("strength", ".strengths"), ("weakness", ".weaknesses")):
            names = [f"{column}.{by}"] if by == "category" else [f"{column}.{by}.{i}" for i in range(TOP)]
            for code in (row[n] for n in names):
                if code is not None:
                    id = (categories if kind == "category" else kpis)[code]
                    out.append({"side": side, "id": id, "kind": kind, "by": "score" if kind == "category" else by,
                                field: row[f"{id}.{field}"]})
    merged: dict[tuple[object, object], dict[str, object]] = {}
    for f in out:
        key = (f["side"], f["id"])
        if f["id"] not in row[".strengths" if f["side"] == "strength" else ".weaknesses"]:
            continue  # profile_lists dropped it: a contradiction
        if key in merged:
            merged[key].update({k: v for k, v in f.items() if k in ("score", "gap")})
        else:
            merged[key] = f
    return list(merged.values())


def _suffixes(plan: Plan) -> tuple[str, ...]:
    return tuple(v.suffix for v in plan.variants if v.label and v.label != "previous")


def compare(kpi: KpiResult, previous: float | None) -> None:
    """The change from the previous period, and whether it goes the way `better` says."""
    kpi.previous = previous
    if kpi.value is None or previous is None:
        return
    kpi.change = kpi.value - previous
    kpi.change_pct = kpi.change / abs(previous) if previous else None
    if kpi.change:
        kpi.improved = (kpi.change > 0) == (kpi.better == "higher")


def _keyed(plan: Plan, frame: pl.DataFrame) -> pl.DataFrame:
    """The entities' frame with their id (the key values joined) and label."""
    key = pl.concat_str(*(pl.col(b).cast(pl.String) for b in plan.ruleset.by), separator=" / ")
    return frame.with_columns(key.alias(ID)).with_columns(
        pl.when(pl.col(NAME).is_null() | (pl.col(NAME) == "")).then(pl.col(ID)).otherwise(pl.col(NAME)).alias(LABEL))


def entity_table(plan: Plan, frame: pl.DataFrame) -> pl.DataFrame:
    """Every entity scored, ranked and sorted, one row each (see score.scorecards)."""
    return scorecards(plan.ruleset, _keyed(plan, frame), True, _suffixes(plan))


def previous_scores(plan: Plan, frame: pl.DataFrame, peers: bool) -> pl.DataFrame:
    """The scorecards of the previous period (`compare: previous`): its KPI values scored,
    weighed and (``peers``: the entities, keyed) ranked by the same rules as the period's."""
    kpis = plan.ruleset.kpis
    then = frame.select(*((ID,) if peers else ()),
                        *(pl.col(f"{k}@previous").alias(k) for k in kpis),
                        *(pl.col(f"{k}@previous.reason").alias(f"{k}.reason") for k in kpis))
    return scorecards(plan.ruleset, then, peers).select(*((ID, RANK) if peers else ()), TOTAL, GRADE)


def _previous(score: float | None, then: dict[str, Any]) -> Previous:
    change = None if score is None or then[TOTAL] is None else score - then[TOTAL]
    return Previous(then[TOTAL], then[GRADE], change)


def cards(plan: Plan, table: pl.DataFrame, lang: str) -> list[EntityResult]:
    """The entities of ``table`` as scorecards."""
    out = []
    ruleset = plan.ruleset
    lists = profile_lists(table, list(ruleset.kpis), list(ruleset.categories), members(ruleset))
    for row in lists.iter_rows(named=True):
        kpis, categories, notes = _card(plan, row, lang)
        out.append(EntityResult(row[ID], row[LABEL], row[RANK], row[TOTAL], row[GRADE],
                                _label(plan.ruleset, row[GRADE], lang), kpis, categories, row[".strengths"],
                                row[".weaknesses"], notes, reason(row[UNRANKED], lang)))
    return out


def shown(table: pl.DataFrame, entity: str | None = None) -> pl.DataFrame:
    """The entities a result keeps as scorecards: all of them up to CARDS, else the top
    and the bottom SHOWN (the table is sorted best first), and ``entity`` if named."""
    if table.height <= CARDS:
        return table
    named = table.filter((pl.col(ID) == entity) | (pl.col(LABEL) == entity)).head(1) if entity else table.clear()
    middle = table.slice(SHOWN, table.height - 2 * SHOWN)
    return pl.concat([table.head(SHOWN), middle.join(named.select(ID), on=ID, how="semi"), table.tail(SHOWN)])


def population(plan: Plan, table: pl.DataFrame, lang: str) -> dict[str, Any]:
    """How the entities' scores are spread: grade counts, a histogram of ten-point bins,
    and how many entities each entity action fires for."""
    grades = dict(table.group_by(GRADE).len().iter_rows())
    bins = (table.select((pl.col(TOTAL) // 10).clip(0, 9).cast(pl.Int64).alias("bin"))
            .drop_nulls().group_by("bin").len())
    counts = dict(bins.iter_rows())
    fires = [c for c in table.columns if c.startswith(FIRES)]
    actions = table.select(pl.col(fires).sum().name.map(lambda c: c[len(FIRES):])).row(0, named=True) if fires else {}
    return {"entities": table.height, "shown": min(table.height, CARDS if table.height <= CARDS else 2 * SHOWN),
            "grades": [{"grade": g.grade, "label": text_in(g.label, lang), "count": grades.get(g.grade, 0)}
                       for g in plan.ruleset.grades]
            + ([{"grade": "n/a", "label": "", "count": grades["n/a"]}] if "n/a" in grades else []),
            "histogram": [{"from": i * 10, "to": i * 10 + 10, "count": counts.get(i, 0)} for i in range(10)],
            "actions": [{"id": a.id, "count": actions.get(a.id, 0)} for a in plan.ruleset.actions
                        if a.scope == "entity"]}


def breakdowns(plan: Plan, executed: Executed, lang: str) -> list[dict[str, Any]]:
    """Measures reported per group, one table per source and grouping; then each
    breakdown formula, one table of its groups with the measures it uses and its value."""
    out = []
    in_formulas = {n for b in plan.ruleset.breakdowns.values() for n in b.formula.names}  # shown there
    for (source, by), frame in executed.breakdowns.items():
        measures = [m for m in plan.ruleset.measures.values()
                    if m.source == source and tuple(m.by) == by and m.name not in in_formulas]
        if measures:
            out.append({"source": source, "by": list(by),
                        "measures": [{"id": m.name, "title": text_in(m.title, lang, m.name)} for m in measures],
                        "rows": frame.select(*by, *(m.name for m in measures)).to_dicts()})
    for b in plan.ruleset.breakdowns.values():
        used = b.uses(plan.ruleset.measures)
        out.append({"id": b.id, "title": text_in(b.title, lang, b.id), "formula": b.formula.text, "unit": b.unit,
                    "source": None, "by": b.by,
                    "measures": [{"id": m.name, "title": text_in(m.title, lang, m.name)} for m in used],
                    "rows": [{**r, f"{b.id}.reason": reason(r[f"{b.id}.reason"], lang)}
                             for r in formula_table(plan, b, executed.breakdowns).to_dicts()]})
    return out


EMPTY_IS_ZERO = ("count", "sum", "n_unique")  # their value over no rows; the others' is null


def formula_table(plan: Plan, breakdown: Breakdown,
                  found: dict[tuple[str, tuple[str, ...]], pl.DataFrame]) -> pl.DataFrame:
    """Every group any measure of the formula has, its measures side by side (joined on
    the group columns; a null key is one group, on every source) and the formula's
    value and reason. A group that one measure's source lacks has no row of it: a count
    or a sum of 0 there, any other aggregate null."""
    by = breakdown.by
    used = breakdown.uses(plan.ruleset.measures)
    parts = [found[(source, tuple(by))].select(*by, *(m.name for m in used if m.source == source))
             for source in dict.fromkeys(m.source for m in used)]
    keys = pl.concat([p.select(by) for p in parts], how="vertical_relaxed").schema  # one key type
    table = parts[0].cast(dict(keys))
    for part in parts[1:]:
        table = table.join(part.cast(dict(keys)), on=by, how="full", coalesce=True, nulls_equal=True)
    value, why = plan.formulas[breakdown.id]  # `why`: labels.reason is this module's too
    return table.with_columns(pl.col(m.name).fill_null(0) for m in used if m.agg in EMPTY_IS_ZERO) \
        .sort(by, nulls_last=True).with_columns(value).with_columns(why)


def definitions(ruleset: Ruleset) -> dict[str, Any]:
    """How each number is made, for the report's appendix: measures and sources."""
    def text(e: Any) -> str | None:
        return None if e is None else e.text
    return {"kpis": {k.id: sorted(k.formula.names) for k in ruleset.kpis.values()},
            "measures": {m.name: {"source": m.source, "agg": m.agg, "of": text(m.of), "where": text(m.where),
                                  "by": m.by, "allocate": m.allocate, "shared": m.shared}
                         for m in ruleset.measures.values()},
            "sources": {s.name: {"path": s.path, "from": s.parent, "group_by": s.group_by,
                                 "where": text(s.where), "joins": [j[0] for j in s.joins]}
                        for s in ruleset.sources.values()}}


def flag_unreliable(result: Result, ruleset: Ruleset) -> None:
    """A KPI whose required checks failed is flagged, on every scorecard."""
    failed = {c.id for c in result.checks if c.status == "fail"}
    for card in [result.kpis, *(e.kpis for e in result.entities)]:
        for k in card:
            k.unreliable = [c for c in ruleset.kpis[k.id].requires if c in failed]
    for k in result.kpis:
        if k.unreliable:
            result.notes.append(f"`{k.id}` is unreliable: it requires "
                                + ", ".join(f"`{c}`" for c in k.unreliable) + ", which failed")


def assess(path: Path, data_dir: Path | Database | None = None, overrides: dict[str, str] | None = None,
           lang: str = "en", progress: Callable[[str], None] = lambda _: None,
           evidence: Path | None = None, allow: tuple[Path, ...] = (), engine: str = "auto",
           entity: str | None = None) -> Result:
    """Run one ruleset on its data and return the scored, recommended result."""
    return run(path, data_dir, overrides, lang, progress, evidence, allow, engine, entity)[2]


def run(path: Path, data_dir: Path | Database | None = None, overrides: dict[str, str] | None = None,
        lang: str = "en", progress: Callable[[str], None] = lambda _: None,
        evidence: Path | None = None, allow: tuple[Path, ...] = (),
        engine: str = "auto", entity: str | None = None) -> tuple[Plan, Executed, Result]:
    """The whole flow, keeping the plan and the collected values (for `explain`);
    ``entity`` (an id or a name) keeps that entity's scorecard however many there are."""
    progress("validating")
    ruleset = load_ruleset(path, allow)
    params = with_params(ruleset, overrides or {})
    plan = compile_plan(ruleset, params)
    if engine in REMOTE or isinstance(data_dir, Database):
        from .backends import ibis as lowering

        con = lowering.connect(engine, data_dir)
        raw, paths = lowering.tables(plan, con, data_dir, lambda s: locate(s, path.parent, data_dir, allow))
        executed, _ = lowering.execute(plan, raw, paths, progress)
    else:
        executed = execute(plan, path.parent, data_dir, progress, allow, engine)
    values = executed.values
    progress("scoring")
    overall = scorecards(ruleset, evaluate(plan, values), False, _suffixes(plan))
    row = profile_lists(overall, list(ruleset.kpis), list(ruleset.categories), members(ruleset)).row(0, named=True)
    kpis, categories, notes = _card(plan, row, lang)
    checks = check_results(plan, executed, lang)
    if evidence is not None:  # every failing row of every rule that warns or fails
        progress("writing evidence")
        write_evidence([cp for cp, c in zip(plan.checks, checks) if c.status != "pass"], executed,
                       {n: s.key for n, s in ruleset.sources.items()}, evidence)
    result = Result(
        ruleset=ruleset.id, title=text_in(ruleset.title, lang, ruleset.id),
        version=ruleset.version, lang=lang, params=params,
        sources=[SourceResult(n, str(p), source_rows(executed, n)) for n, p in executed.paths.items()],
        score=row[TOTAL], grade=row[GRADE], grade_label=_label(ruleset, row[GRADE], lang), kpis=kpis,
        categories=categories, checks=checks, notes=notes, by=ruleset.by, quality=quality(values, ruleset),
        areas={a: text_in(t, lang, a) for a, t in ruleset.areas.items()},
        breakdowns=breakdowns(plan, executed, lang), definitions=definitions(ruleset),
        engine=executed.remote.name if executed.remote else "polars",
        queries=executed.remote.queries if executed.remote else executed.queries)
    result.strengths, result.weaknesses, result.profile = row[".strengths"], row[".weaknesses"], found(ruleset, row)
    table = None
    result.verdict = Verdict.of(checks)
    if "period_start" in params and "period_end" in params:
        result.period = {"start": params["period_start"], "end": params["period_end"]}
    if ruleset.compare == "previous":
        result.previous = _previous(result.score, previous_scores(plan, evaluate(plan, values), False).row(0, named=True))
    if executed.entities is not None:
        evaluated = evaluate(plan, executed.entities)
        table = entity_table(plan, evaluated)
        result.entities = cards(plan, shown(table, entity), lang)
        if ruleset.compare == "previous":
            then = {r[ID]: r for r in previous_scores(plan, _keyed(plan, evaluated), True)
                    .filter(pl.col(ID).is_in([e.id for e in result.entities])).iter_rows(named=True)}
            for e in result.entities:
                e.previous = _previous(e.score, then[e.id])
                e.previous.rank = then[e.id][RANK]
                if e.rank is not None and e.previous.rank is not None:
                    e.previous.rank_change = e.previous.rank - e.rank  # positions gained
    flag_unreliable(result, ruleset)
    progress("recommending")
    result.actions, result.table = recommend(result, ruleset, params, overall, table)
    if table is not None and table.height > CARDS:
        result.population = population(plan, result.table, lang)
    return plan, executed, result
