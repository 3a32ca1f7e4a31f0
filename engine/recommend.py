"""Stage 6, recommend: actions whose `when` holds, ranked, their texts rendered safely.

Conditions are compiled like every other expression and evaluated over one row holding
every KPI's value, score and status, every check's status and ratio, every category's
score, the total and the grade. Texts are Jinja2 templates rendered in an immutable
sandbox, so a ruleset cannot reach Python objects through them.
"""
from __future__ import annotations

from typing import Any

import jinja2
import jinja2.sandbox
import polars as pl

from .compile import Compiler, lit, param_value
from .errors import AssessError, Problem
from .model import Ruleset, text_in
from .result import ActionResult, Result

PRIORITY = {"high": 0, "medium": 1, "low": 2}
MAX_TEXT = 10_000


def percent(value: Any, digits: int = 1) -> str:
    """0.853 -> '85.3%'; n/a for a missing value."""
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def number(value: Any, digits: int = 2) -> str:
    """1234.5 -> '1,234.5'; n/a for a missing value."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"


def environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined,
                                                       autoescape=False)
    env.filters.update(percent=percent, number=number)
    return env


def _facts(result: Result) -> dict[str, Any]:
    """Everything a condition or a text can refer to, as `name.field` -> value."""
    facts: dict[str, Any] = {"score": result.score, "grade": result.grade}
    for k in result.kpis:
        facts[k.id] = k.value
        for f in ("value", "score", "status", "target", "floor", "benchmark", "weight", "gain"):
            facts[f"{k.id}.{f}"] = getattr(k, f)
    for c in result.checks:
        for f in ("status", "ratio", "failed", "rows"):
            facts[f"{c.id}.{f}"] = getattr(c, f)
    for c in result.categories:
        facts[f"{c.id}.score"] = c.score
        facts[f"{c.id}.weight"] = c.weight
    return facts


def _frame(facts: dict[str, Any]) -> pl.DataFrame:
    strings = {k for k, v in facts.items() if isinstance(v, str)} | \
        {k for k in facts if k.endswith(".status") or k == "grade"}
    return pl.DataFrame({k: [v] for k, v in facts.items()},
                        schema={k: pl.String if k in strings else pl.Float64 for k in facts})


def _context(result: Result, ruleset: Ruleset, params: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {"score": result.score, "grade": result.grade, "params": params}
    for k in result.kpis:
        context[k.id] = {**vars(k)}
    for c in result.checks:
        context[c.id] = {f: getattr(c, f) for f in ("status", "ratio", "failed", "rows", "title")}
    for c in result.categories:
        context.setdefault(c.id, {"score": c.score, "weight": c.weight, "title": c.title})
    return context


def recommend(result: Result, ruleset: Ruleset, params: dict[str, Any]) -> list[ActionResult]:
    if not ruleset.actions:
        return []
    facts = _facts(result)
    frame = _frame(facts)

    def resolve(name: str) -> Any:
        return param_value(params[name]) if name in params else pl.col(name)

    conditions = []
    for action in ruleset.actions:
        compiled = Compiler(resolve, lambda n, f: pl.col(f"{n}.{f}")).compile(action.when)
        conditions.append(lit(compiled).cast(pl.Boolean).fill_null(False).alias(action.id))
    try:
        fired = frame.select(conditions).row(0, named=True)
    except pl.exceptions.PolarsError as exc:
        raise AssessError(Problem(ruleset.actions[0].location, "action",
                                  f"cannot evaluate action conditions: {exc}")) from None
    env = environment()
    context = _context(result, ruleset, params)
    gains = {k.id: k.gain for k in result.kpis}
    out = []
    for action in ruleset.actions:
        if not fired[action.id]:
            continue
        kpis = sorted(action.when.names & set(gains) | {n for n, _ in action.when.attributes if n in gains})
        known = [gains[k] for k in kpis if gains[k] is not None]
        gain = sum(known) if known else None
        template = text_in(action.text, result.lang)
        try:
            text = env.from_string(template).render(context)[:MAX_TEXT]
        except jinja2.TemplateError as exc:
            raise AssessError(Problem(action.location, "template",
                                      f"action `{action.id}`: {exc}")) from None
        out.append(ActionResult(action.id, action.priority, text.strip(),
                                text_in(action.owner, result.lang), gain, kpis))
    out.sort(key=lambda a: (PRIORITY.get(a.priority, 1), -(a.gain or 0.0)))
    return out
