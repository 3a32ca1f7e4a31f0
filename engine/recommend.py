"""Stage 6, recommend: actions whose `when` holds, ranked, their texts rendered safely.

Conditions are compiled like every other expression and evaluated over one row holding
every KPI's value, score and status, every check's status and ratio, every category's
score, the total and the grade. Texts are Jinja2 templates rendered in an immutable
sandbox, so a ruleset cannot reach Python objects through them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

import polars as pl

from .compile import Compiler, lit, resolver
from .errors import AssessError, Problem, first_line
from .model import Action, Ruleset, text_in
from .render import grouped, show
from .result import ActionResult, CheckResult, EntityResult, Result
from .score import GRADE, ID, TOTAL
from .validate import CHECK_FIELDS, KPI_FIELDS, TEMPLATE_FILTERS

FIRES = ".fires."  # + an action id: whether it fires for each entity of the table

if TYPE_CHECKING:
    import jinja2.sandbox

PRIORITY = {"high": 0, "medium": 1, "low": 2}
MAX_TEXT = 10_000


def percent(value: Any, digits: int = 1) -> str:
    """0.853 -> '85.3%'; n/a for a missing value."""
    return show(value, "percent", digits)


def number(value: Any, digits: int = 2) -> str:
    """1234.5 -> '1,234.5'; n/a for a missing value."""
    return "n/a" if value is None else grouped(value, digits)


def environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    """The environment of action texts: only the filters validation allows; validation
    refuses `*`, `**` and `%` in a text, and should one get here it fails instead of
    building a gigabyte string."""
    import jinja2.sandbox  # only when an action's text is rendered

    class Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(("*", "**", "%"))

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            raise jinja2.sandbox.SecurityError(f"`{operator}` is not allowed in a text")

    env = Sandbox(undefined=jinja2.StrictUndefined, autoescape=False)
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


def facts(ruleset: Ruleset, checks: list[CheckResult]) -> list[pl.Expr]:
    """Everything a condition can refer to, as `name.field` columns over scored rows (see
    score.scorecards): the overall scorecard's one row, or every entity's."""
    def num(value: Any) -> pl.Expr:
        return pl.lit(value, pl.Float64)
    out = [pl.col(TOTAL).alias("score"), pl.col(GRADE).alias("grade")]
    for k in ruleset.kpis.values():
        value = pl.col(k.id).cast(pl.Float64)
        previous = pl.col(f"{k.id}@previous") if ruleset.compare == "previous" else num(None)
        fields = {"value": value, "score": pl.col(f"{k.id}.score"), "status": pl.col(f"{k.id}.status"),
                  "target": num(k.target), "floor": num(k.floor), "benchmark": num(k.benchmark),
                  "weight": num(k.weight if k.scored else 0.0), "gain": pl.col(f"{k.id}.gain"), "previous": previous,
                  "change": value - previous,
                  "change_pct": pl.when(previous != 0).then((value - previous) / previous.abs())}
        out += [value.alias(k.id), *(fields[f].alias(f"{k.id}.{f}") for f in KPI_FIELDS)]
    for c in checks:
        out += [pl.lit(getattr(c, f), pl.String if f == "status" else pl.Float64).alias(f"{c.id}.{f}")
                for f in CHECK_FIELDS]
    for cat in ruleset.categories.values():
        out += [pl.col(f"{cat.id}.score").alias(f"{cat.id}.score"), num(cat.weight).alias(f"{cat.id}.weight")]
    return out


def conditions(ruleset: Ruleset, actions: list[Action], scored: pl.DataFrame, checks: list[CheckResult],
               params: dict[str, Any]) -> pl.DataFrame:
    """One boolean column per action: whether its condition holds on each scored row."""
    compiled = [lit(Compiler(resolver(params), lambda n, f: pl.col(f"{n}.{f}")).compile(a.when))
                .cast(pl.Boolean).fill_null(False).alias(a.id) for a in actions]
    known = scored.lazy().select(facts(ruleset, checks))
    try:
        return known.select(compiled).collect(engine="in-memory")
    except pl.exceptions.PolarsError as exc:
        error = exc
    culprit = actions[0]
    for action, condition in zip(actions, compiled):  # which one: each alone, in order
        try:
            known.select(condition).collect(engine="in-memory")
        except pl.exceptions.PolarsError as exc:
            culprit, error = action, exc
            break
    raise AssessError(Problem(culprit.location, "action",
                              f"cannot evaluate the condition of `{culprit.id}`: {first_line(error)}"))


def _context(card: Card, checks: list[CheckResult], params: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {"score": card.score, "grade": card.grade, "params": params}
    for cat in card.categories:
        context[cat.id] = {"score": cat.score, "weight": cat.weight, "title": cat.title}
    for c in checks:
        context[c.id] = {f: getattr(c, f) for f in ("status", "ratio", "failed", "rows", "title")}
    for k in card.kpis:
        context[k.id] = {**vars(k)}
    if isinstance(card, EntityResult):
        scored = sorted((c for c in card.categories if c.score is not None), key=lambda c: c.score or 0.0)
        context["entity"] = {
            "id": card.id, "name": card.name, "rank": card.rank, "score": card.score,
            "grade": card.grade, "weakest_category": scored[0].title if scored else "",
            "strongest_category": scored[-1].title if scored else "",
            "weaknesses": card.weaknesses, "strengths": card.strengths}
    return context


def _fire(actions: list[Action], cards: list[Card], fired: pl.DataFrame, checks: list[CheckResult],
          params: dict[str, Any], lang: str) -> list[ActionResult]:
    """The actions whose condition holds on each card (``fired``: a row per card, a
    column per action), their texts rendered."""
    if not actions or not cards:
        return []
    import jinja2

    env = environment()
    templates: dict[str, jinja2.Template] = {}
    out = []
    for card, row in zip(cards, fired.iter_rows(named=True)):
        if not any(row[a.id] for a in actions):
            continue
        context = _context(card, checks, params)
        gains = {k.id: k.gain for k in card.kpis}
        for action in actions:
            if not row[action.id]:
                continue
            kpis = sorted(action.when.names & set(gains) | {n for n, _ in action.when.attributes if n in gains})
            known = [g for k in kpis if (g := gains[k]) is not None]
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


def recommend(result: Result, ruleset: Ruleset, params: dict[str, Any], overall: pl.DataFrame,
              table: pl.DataFrame | None) -> tuple[list[ActionResult], pl.DataFrame | None]:
    """Overall actions judged on the whole (``overall``: its scored row), entity actions
    on every entity of ``table``, which comes back with a boolean column `.fires.ID` per
    entity action; texts are rendered for the result's entity cards. Ranked
    by priority, then by the points they would gain."""
    mine = [a for a in ruleset.actions if a.scope == "overall"]
    out = _fire(mine, [result], conditions(ruleset, mine, overall, result.checks, params) if mine else overall,
                result.checks, params, result.lang)
    each = [a for a in ruleset.actions if a.scope == "entity"]
    if table is not None and each and table.height:
        fired = conditions(ruleset, each, table, result.checks, params).with_columns(table[ID])
        table = table.with_columns(fired[a.id].alias(FIRES + a.id) for a in each)
        wanted = fired.filter(pl.col(ID).is_in([e.id for e in result.entities]))
        by_id = {row[ID]: row for row in wanted.iter_rows(named=True)}
        out += _fire(each, list(result.entities), pl.DataFrame([by_id[e.id] for e in result.entities]),
                     result.checks, params, result.lang)
    out.sort(key=lambda a: (PRIORITY.get(a.priority, 1), -(a.gain or 0.0)))
    return out, table
