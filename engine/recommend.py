"""Stage 6, recommend: actions whose `when` holds, ranked, their texts rendered safely.

Conditions are compiled like every other expression and evaluated over one row holding
every KPI's value, score and status, every check's status and ratio, every category's
score, the total and the grade. Texts are Jinja2 templates rendered in an immutable
sandbox, so a ruleset cannot reach Python objects through them.
"""
from __future__ import annotations

from typing import Any, Union

import jinja2
import jinja2.sandbox
import polars as pl

from .compile import Compiler, lit, param_value
from .errors import AssessError, Problem
from .model import Action, Ruleset, text_in
from .result import ActionResult, CheckResult, EntityResult, Result
from .validate import CATEGORY_FIELDS, CHECK_FIELDS, KPI_FIELDS, TEMPLATE_FILTERS

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


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Validation refuses `*`, `**` and `%` in a text; should one get here, it fails
    instead of building a gigabyte string."""

    intercepted_binops = frozenset(("*", "**", "%"))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        raise jinja2.sandbox.SecurityError(f"`{operator}` is not allowed in a text")


def environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    """The environment of action texts: only the filters validation allows."""
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters.update(percent=percent, number=number)
    env.filters = {name: env.filters[name] for name in TEMPLATE_FILTERS}
    return env


def bounded(template: jinja2.Template, context: dict[str, Any], limit: int = MAX_TEXT) -> str:
    """The text rendered piece by piece, stopping at ``limit`` characters, so a long value
    repeated is cut, not built whole first."""
    out, size = [], 0
    for piece in template.generate(context):
        out.append(piece)
        size += len(piece)
        if size >= limit:
            break
    return "".join(out)[:limit]


Card = Union[Result, EntityResult]  # anything with kpis, categories, score and grade


def _facts(card: Card, checks: list[CheckResult]) -> dict[str, Any]:
    """Everything a condition can refer to, as `name.field` -> value."""
    facts: dict[str, Any] = {"score": card.score, "grade": card.grade}
    for k in card.kpis:
        facts[k.id] = k.value
        for f in KPI_FIELDS:
            facts[f"{k.id}.{f}"] = getattr(k, f)
    for c in checks:
        for f in CHECK_FIELDS:
            facts[f"{c.id}.{f}"] = getattr(c, f)
    for c in card.categories:
        for f in CATEGORY_FIELDS:
            facts[f"{c.id}.{f}"] = getattr(c, f)
    return facts


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    strings = {k for k in rows[0] if k.endswith(".status") or k == "grade"}
    return pl.DataFrame(rows, schema={k: pl.String if k in strings else pl.Float64 for k in rows[0]},
                        orient="row")


def _context(card: Card, checks: list[CheckResult], params: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {"score": card.score, "grade": card.grade, "params": params}
    for c in card.categories:
        context[c.id] = {"score": c.score, "weight": c.weight, "title": c.title}
    for c in checks:
        context[c.id] = {f: getattr(c, f) for f in ("status", "ratio", "failed", "rows", "title")}
    for k in card.kpis:
        context[k.id] = {**vars(k)}
    if isinstance(card, EntityResult):
        scored = sorted((c for c in card.categories if c.score is not None), key=lambda c: c.score)
        context["entity"] = {
            "id": card.id, "name": card.name, "rank": card.rank, "score": card.score,
            "grade": card.grade, "weakest_category": scored[0].title if scored else "",
            "strongest_category": scored[-1].title if scored else "",
            "weaknesses": card.weaknesses, "strengths": card.strengths}
    return context


def _fire(actions: list[Action], cards: list[Card], checks: list[CheckResult],
          params: dict[str, Any], lang: str) -> list[ActionResult]:
    """The actions whose condition holds on each card, their texts rendered."""
    if not actions or not cards:
        return []

    def resolve(name: str) -> Any:
        return param_value(params[name]) if name in params else pl.col(name)

    conditions = []
    for action in actions:
        compiled = Compiler(resolve, lambda n, f: pl.col(f"{n}.{f}")).compile(action.when)
        conditions.append(lit(compiled).cast(pl.Boolean).fill_null(False).alias(action.id))
    try:
        fired = _frame([_facts(card, checks) for card in cards]).select(conditions)
    except pl.exceptions.PolarsError as exc:
        raise AssessError(Problem(actions[0].location, "action",
                                  f"cannot evaluate action conditions: {exc}")) from None
    env = environment()
    templates: dict[str, jinja2.Template] = {}
    out = []
    for card, row in zip(cards, fired.iter_rows(named=True)):
        context = _context(card, checks, params)
        gains = {k.id: k.gain for k in card.kpis}
        for action in actions:
            if not row[action.id]:
                continue
            kpis = sorted(action.when.names & set(gains) | {n for n, _ in action.when.attributes if n in gains})
            known = [gains[k] for k in kpis if gains[k] is not None]
            try:
                if action.id not in templates:  # compiled once, not once per card
                    templates[action.id] = env.from_string(text_in(action.text, lang))
                text = bounded(templates[action.id], context)
            except jinja2.TemplateError as exc:
                raise AssessError(Problem(action.location, "template",
                                          f"action `{action.id}`: {exc}")) from None
            out.append(ActionResult(action.id, action.priority, text.strip(),
                                    text_in(action.owner, lang), sum(known) if known else None, kpis,
                                    card.id if isinstance(card, EntityResult) else None))
    return out


def recommend(result: Result, ruleset: Ruleset, params: dict[str, Any]) -> list[ActionResult]:
    """Overall actions judged on the whole, entity actions on every entity; ranked by
    priority, then by the points they would gain."""
    out = _fire([a for a in ruleset.actions if a.scope == "overall"], [result],
                result.checks, params, result.lang)
    out += _fire([a for a in ruleset.actions if a.scope == "entity"], list(result.entities),
                 result.checks, params, result.lang)
    out.sort(key=lambda a: (PRIORITY.get(a.priority, 1), -(a.gain or 0.0)))
    return out
