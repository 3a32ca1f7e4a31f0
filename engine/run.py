"""The whole flow for one ruleset: load, validate, compile, execute, score, recommend."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

from .compile import compile_plan
from .errors import AssessError, Location, Problem, did_you_mean
from .execute import execute, samples, source_rows
from .model import Ruleset, text_in
from .recommend import recommend
from .result import CheckResult, KpiResult, Result, SourceResult
from .score import grade_of, score_value, status, weigh
from .validate import load_ruleset


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
            elif isinstance(default, dt.date):
                value = dt.date.fromisoformat(text)
            else:
                value = text
        except ValueError:
            raise AssessError(Problem(Location(str(ruleset.file)), "param-type",
                                      f"--param {name}={text}: expected a {type(default).__name__} like {default}")) from None
        params[name] = value
    return params


def _threshold_met(threshold: tuple[str, float] | None, ratio: float | None) -> bool:
    if threshold is None or ratio is None:
        return False
    op, limit = threshold
    return {"<": ratio < limit, "<=": ratio <= limit, ">": ratio > limit,
            ">=": ratio >= limit, "==": ratio == limit, "!=": ratio != limit}[op]


def check_status(warn: tuple[str, float] | None, fail: tuple[str, float] | None,
                 failed: int, ratio: float | None) -> str:
    if warn is None and fail is None:
        return "fail" if failed else "pass"
    if _threshold_met(fail, ratio):
        return "fail"
    return "warn" if _threshold_met(warn, ratio) else "pass"


def assess(path: Path, data_dir: Path | None = None, overrides: dict[str, str] | None = None,
           lang: str = "en", progress: Callable[[str], None] = lambda _: None) -> Result:
    """Run one ruleset on its data and return the scored, recommended result."""
    progress("validating")
    ruleset = load_ruleset(path)
    params = with_params(ruleset, overrides or {})
    plan = compile_plan(ruleset, params)
    progress("reading sources")
    executed = execute(plan, path.parent, data_dir)
    values = executed.values
    progress("scoring")
    kpi_frame = values.lazy()
    for k in plan.kpis:  # in dependency order, so a KPI can use the ones before it
        kpi_frame = kpi_frame.with_columns(k.value, k.reason)
    row = kpi_frame.collect().row(0, named=True)
    kpis = []
    for kpi in ruleset.kpis.values():
        value = row[kpi.id]
        score = score_value(kpi, value)
        kpis.append(KpiResult(
            id=kpi.id, title=text_in(kpi.title, lang, kpi.id), value=value, target=kpi.target,
            floor=kpi.floor, benchmark=kpi.benchmark, score=score, weight=kpi.weight, share=0.0,
            status=status(kpi, value, score), category=kpi.category, unit=kpi.unit,
            better=kpi.better, formula=kpi.formula.text,
            reason=row[f"{kpi.id}.reason"] if value is None else None))
    checks = []
    for cp in plan.checks:
        rows, failed = int(values[cp.rows][0]), int(values[cp.failed][0])
        ratio = (rows - failed) / rows if rows else None
        c = cp.check
        checks.append(CheckResult(c.id, text_in(c.title, lang, c.id), c.source, c.rule,
                                  check_status(c.warn, c.fail, failed, ratio), rows, failed, ratio))
    # evidence is a second, bounded query, run only for the rules that did not pass
    flagged = [cp for cp, c in zip(plan.checks, checks) if c.status != "pass"]
    evidence = samples(flagged, executed, {n: s.key for n, s in ruleset.sources.items()},
                       ruleset.samples)
    for c in checks:
        c.samples = evidence[c.id].to_dicts() if c.id in evidence else []
    categories, total, notes = weigh(ruleset, kpis, lang)
    grade, label = grade_of(ruleset.grades, total, lang)
    result = Result(
        ruleset=ruleset.id, title=text_in(ruleset.title, lang, ruleset.id),
        version=ruleset.version, lang=lang, params=params,
        sources=[SourceResult(n, str(p), source_rows(executed, n)) for n, p in executed.paths.items()],
        score=total, grade=grade, grade_label=label, kpis=kpis, categories=categories,
        checks=checks, notes=notes)
    scored = [k for k in kpis if k.score is not None and k.weight > 0]
    result.strengths = [k.id for k in sorted(scored, key=lambda k: -k.score) if k.status == "met"][:3]
    result.weaknesses = [k.id for k in sorted(scored, key=lambda k: k.score) if k.status == "missed"][:3]
    progress("recommending")
    result.actions = recommend(result, ruleset, params)
    return result
