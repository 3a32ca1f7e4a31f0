"""The whole flow for one ruleset: load, validate, compile, execute, score, recommend."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, Callable

import polars as pl

from .compile import CheckPlan, Plan, compile_plan
from .errors import AssessError, Location, Problem, did_you_mean
from .execute import NAME, Executed, execute, failed_values, locate, samples, source_rows, write_evidence
from .model import (PEER_METHODS, SEVERITY, Ruleset, Threshold, derived_params, period_problem, reversed_period,
                    text_in)
from .recommend import recommend
from .result import CheckResult, EntityResult, KpiResult, Result, SourceResult
from .score import Peers, grade_of, profile, score_value, status, weigh
from .validate import load_ruleset


REMOTE = ("duckdb", "spark")  # engines reached through Ibis (engine.backends.ibis)


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
                                      f"--param {name}={text}: expected a {type(default).__name__} like {default}")) from None
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


def quality(checks: list[CheckResult], ruleset: Ruleset) -> dict[str, Any]:
    """Data-quality scores 0..100: the passing ratios weighted by severity, overall, per
    source and per area; None where no rule checked a row."""
    def score(subset: list[CheckResult]) -> float | None:
        counted = [(SEVERITY.get(c.severity, 2), c.ratio) for c in subset if c.ratio is not None]
        weight = sum(w for w, _ in counted)
        return sum(w * r for w, r in counted) / weight * 100 if weight else None
    return {"overall": score(checks),
            "sources": {s: score([c for c in checks if c.source == s])
                        for s in ruleset.sources if any(c.source == s for c in checks)},
            "areas": {a: score([c for c in checks if c.area == a]) for a in ruleset.areas}}


def evaluate(plan: Plan, values: pl.DataFrame) -> pl.DataFrame:
    """Every KPI of every variant over a frame of measures (one row, or one per entity),
    in dependency order, so a KPI can use the ones before it."""
    kpis = plan.ruleset.kpis
    level: dict[str, int] = {}
    for k in plan.kpis:  # in dependency order: a KPI comes after the KPIs it uses
        level[k.kpi.id] = 1 + max((level[n] for n in k.kpi.formula.names if n in kpis), default=-1)
    frame = values.lazy()
    for depth in range(max(level.values(), default=-1) + 1):  # one with_columns per level
        frame = frame.with_columns(*(e for k in plan.kpis if level[k.kpi.id] == depth
                                     for e in (k.value, k.reason)))
    return frame.collect()


def _kpis(plan: Plan, row: dict[str, Any], peers: dict[str, Peers] | None,
          lang: str) -> list[KpiResult]:
    """One scorecard's KPIs from its row; ``peers`` holds every entity's values when the
    row is an entity, None on the overall scorecard."""
    out = []
    trend = [v for v in plan.variants if v.label and v.label != "previous"]
    for kpi in plan.ruleset.kpis.values():
        value, reason = row[kpi.id], row[f"{kpi.id}.reason"]
        peer = kpi.scoring.method in PEER_METHODS
        if not kpi.scored:  # tracked: its value is the point, not a score
            score, reason = None, reason if value is None else None
        elif peer and peers is None:
            score, reason = None, "scored against the other entities: see each entity's scorecard"
        else:
            score = score_value(kpi, value, peers[kpi.id] if peer and peers else ())
        result = KpiResult(
            id=kpi.id, title=text_in(kpi.title, lang, kpi.id), value=value, target=kpi.target,
            floor=kpi.floor, benchmark=kpi.benchmark, score=score, weight=kpi.weight if kpi.scored else 0.0,
            share=0.0,
            status=status(kpi, value, score) if kpi.scored else "tracked", category=kpi.category, unit=kpi.unit,
            better=kpi.better, formula=kpi.formula.text, reason=reason if score is None else None)
        if plan.ruleset.compare == "previous":
            compare(result, row[f"{kpi.id}@previous"])
        result.trend = [{"period": v.label, "value": row[kpi.id + v.suffix],
                         "score": None if peer or not kpi.scored else score_value(kpi, row[kpi.id + v.suffix])}
                        for v in trend]
        out.append(result)
    return out


def compare(kpi: KpiResult, previous: float | None) -> None:
    """The change from the previous period, and whether it goes the way `better` says."""
    kpi.previous = previous
    if kpi.value is None or previous is None:
        return
    kpi.change = kpi.value - previous
    kpi.change_pct = kpi.change / abs(previous) if previous else None
    if kpi.change:
        kpi.improved = (kpi.change > 0) == (kpi.better == "higher")


def _entities(plan: Plan, frame: pl.DataFrame, lang: str) -> list[EntityResult]:
    """A scorecard per entity, ranked: ties share a rank, and only entities scored on
    the same weights are ranked together (the others say why they are not)."""
    ruleset = plan.ruleset
    peers = {k: Peers.of(frame[k].to_list()) for k in ruleset.kpis}
    out = []
    for row in frame.iter_rows(named=True):
        kpis = _kpis(plan, row, peers, lang)
        categories, total, notes = weigh(ruleset, kpis, lang)
        grade, label = grade_of(ruleset.grades, total, lang)
        key = " / ".join(str(row[b]) for b in ruleset.by)
        entity = EntityResult(key, row[NAME] or key, None, total, grade, label, kpis, categories,
                              notes=notes)
        entity.strengths, entity.weaknesses, _ = profile(kpis, categories, total)
        out.append(entity)
    rank(out)
    return out


def rank(entities: list[EntityResult]) -> None:
    """Rank by score, best first, ties sharing the best rank (1, 1, 3); entities whose
    score rests on other KPIs than the most common set are left unranked; n/a last."""
    def basis(e: EntityResult) -> tuple[str, ...]:
        return tuple(k.id for k in e.kpis if k.share > 0)

    scored = [e for e in entities if e.score is not None]
    counts: dict[tuple[str, ...], int] = {}
    for e in scored:
        counts[basis(e)] = counts.get(basis(e), 0) + 1
    # the fullest basis wins a tie in numbers
    common = max(counts, key=lambda b: (counts[b], len(b))) if counts else ()
    ranked = sorted((e for e in scored if basis(e) == common), key=lambda e: -e.score)
    for i, e in enumerate(ranked):
        e.rank = ranked[i - 1].rank if i and e.score == ranked[i - 1].score else i + 1
    for e in entities:
        if e.score is None:
            e.unranked = "no score: no KPI could be scored"
        elif e.rank is None:
            missing = sorted(set(common) - set(basis(e))) or sorted(set(basis(e)) - set(common))
            e.unranked = ("scored on other weights than its peers (" +
                          ", ".join(f"`{m}`" for m in missing) + "), so not ranked with them")
    entities.sort(key=lambda e: (e.rank is None, e.rank or 0, e.score is None, -(e.score or 0), e.id))


def breakdowns(plan: Plan, executed: Executed, lang: str) -> list[dict[str, Any]]:
    """Measures reported per group, one table per source and grouping."""
    out = []
    for (source, by), frame in executed.breakdowns.items():
        measures = [m for m in plan.ruleset.measures.values() if m.source == source and tuple(m.by) == by]
        out.append({"source": source, "by": list(by),
                    "measures": [{"id": m.name,
                                  "title": text_in(m.title, lang, m.name)} for m in measures],
                    "rows": frame.to_dicts()})
    return out


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


def assess(path: Path, data_dir: Path | None = None, overrides: dict[str, str] | None = None,
           lang: str = "en", progress: Callable[[str], None] = lambda _: None,
           evidence: Path | None = None, allow: tuple[Path, ...] = (), engine: str = "auto") -> Result:
    """Run one ruleset on its data and return the scored, recommended result."""
    return run(path, data_dir, overrides, lang, progress, evidence, allow, engine)[2]


def run(path: Path, data_dir: Path | None = None, overrides: dict[str, str] | None = None,
        lang: str = "en", progress: Callable[[str], None] = lambda _: None,
        evidence: Path | None = None, allow: tuple[Path, ...] = (),
        engine: str = "auto") -> tuple[Plan, Executed, Result]:
    """The whole flow, keeping the plan and the collected values (for `explain`)."""
    progress("validating")
    ruleset = load_ruleset(path, allow)
    params = with_params(ruleset, overrides or {})
    plan = compile_plan(ruleset, params)
    if engine in REMOTE or "://" in str(data_dir or ""):
        from .backends import ibis as lowering

        con = lowering.connect(engine, data_dir)
        raw, paths = lowering.tables(plan, con, data_dir, lambda s: locate(s, path.parent, data_dir, allow))
        executed, _ = lowering.execute(plan, raw, paths, progress)
    else:
        executed = execute(plan, path.parent, data_dir, progress, allow, engine)
    values = executed.values
    progress("scoring")
    kpis = _kpis(plan, evaluate(plan, values).row(0, named=True), None, lang)
    checks = check_results(plan, executed, lang)
    if evidence is not None:  # every failing row of every rule that warns or fails
        progress("writing evidence")
        write_evidence([cp for cp, c in zip(plan.checks, checks) if c.status != "pass"], executed,
                       {n: s.key for n, s in ruleset.sources.items()}, evidence)
    categories, total, notes = weigh(ruleset, kpis, lang)
    grade, label = grade_of(ruleset.grades, total, lang)
    result = Result(
        ruleset=ruleset.id, title=text_in(ruleset.title, lang, ruleset.id),
        version=ruleset.version, lang=lang, params=params,
        sources=[SourceResult(n, str(p), source_rows(executed, n)) for n, p in executed.paths.items()],
        score=total, grade=grade, grade_label=label, kpis=kpis, categories=categories,
        checks=checks, notes=notes, by=ruleset.by, quality=quality(checks, ruleset),
        areas={a: text_in(t, lang, a) for a, t in ruleset.areas.items()},
        breakdowns=breakdowns(plan, executed, lang), definitions=definitions(ruleset),
        engine=executed.remote.name if executed.remote else "polars",
        queries=executed.remote.queries if executed.remote else executed.queries)
    result.strengths, result.weaknesses, result.profile = profile(kpis, categories, total)
    if executed.entities is not None:
        result.entities = _entities(plan, evaluate(plan, executed.entities), lang)
    flag_unreliable(result, ruleset)
    progress("recommending")
    result.actions = recommend(result, ruleset, params)
    return plan, executed, result
