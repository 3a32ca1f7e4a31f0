"""Stage 3, compile: expressions -> Polars expressions; one aggregation per source.

The compiler walks simpleeval's node dispatch, but every handler builds a Polars
expression instead of a value, so evaluation is vectorized and nothing in a ruleset ever
runs as Python. The traps of evaluating Polars with plain simpleeval are handled here:
``and``/``or``/``not``, ``x if c else y``, chained comparisons and ``**`` never call
``bool()`` on an expression; string literals become ``pl.lit``; attributes exist only as
``name.field`` lookups in action conditions. Literal arithmetic is folded with
simpleeval's bounded operators, so ``9**9**9`` is refused instead of computed.
"""
from __future__ import annotations

import ast
import datetime as dt
import operator
import re
from dataclasses import dataclass, field
from functools import partial, reduce
from typing import Any, Callable

import polars as pl
import simpleeval

from . import functions
from . import checks
from .errors import AssessError, Problem
from .expressions import MAX_NUMBER
from .model import SEVERITY, Breakdown, Check, Expression, Kpi, Measure, Ruleset, Source, derived_params, quality_group

Value = Any  # pl.Expr or a Python literal
_NUMBER = (int, float)


@dataclass(frozen=True)
class Dialect:
    """What one engine needs to lower the expression language: the same tree walk builds
    a Polars expression or an Ibis one, so every engine reads a formula the same way."""

    expr: type | tuple[type, ...]  # the engine's expression type(s)
    literal: Callable[[Any], Any]
    when: Callable[[Any, Any, Any], Any]  # when(condition, then, otherwise)
    boolean: Callable[[Any], Any]
    is_in: Callable[[Any, list[Any]], Any]
    to_float: Callable[[Any], Any]
    functions: dict[str, Callable[..., Any]]
    errors: tuple[type[BaseException], ...] = ()
    # Python's (and Polars') floor division and modulo; SQL truncates toward zero
    floordiv: Callable[[Any, Any], Any] = operator.floordiv
    mod: Callable[[Any, Any], Any] = operator.mod

    def lit(self, x: Value) -> Any:
        """A literal as an expression of the dialect (functions.expr for Polars)."""
        return x if isinstance(x, self.expr) else self.literal(x)


POLARS = Dialect(
    expr=pl.Expr, literal=pl.lit,
    when=lambda c, a, b: pl.when(c).then(a).otherwise(b),
    boolean=lambda x: x.cast(pl.Boolean), is_in=lambda x, values: x.is_in(values),
    to_float=lambda x: x.cast(pl.Float64),
    functions={n: partial(f, pl) for n, f in functions.FUNCTIONS.items()},
    errors=(pl.exceptions.PolarsError,))


def lit(x: Value) -> pl.Expr:
    return functions.expr(pl, x)


def _is_number(x: Value) -> bool:
    return isinstance(x, _NUMBER)


def operators(d: Dialect) -> dict[type, Callable[..., Value]]:
    """The arithmetic of the language in dialect ``d``: literals folded within simpleeval's
    bounds, division by zero null (never infinity, never an error)."""
    def safe_div(op: Callable[[Any, Any], Any]) -> Callable[[Value, Value], Value]:
        def apply(a: Value, b: Value) -> Value:
            if _is_number(a) and _is_number(b):
                return None if b == 0 else op(a, b)
            if a is None or b is None:  # a folded null (1 / 0) stays null
                return None
            b = d.lit(b)
            return d.when(b != 0, op(d.lit(a), b), d.literal(None))
        return apply

    def arithmetic(folded: Callable[[Any, Any], Any], vectorized: Callable[[Any, Any], Any]):
        def apply(a: Value, b: Value) -> Value:
            if isinstance(a, str) or isinstance(b, str):
                raise ValueError("text can be compared, not used in arithmetic")
            if a is None or b is None:  # a folded null (0 / 0) stays null
                return None
            if _is_number(a) and _is_number(b):
                value = folded(a, b)
                if not abs(value) <= MAX_NUMBER:  # an engine would overflow it to null, silently
                    raise ValueError(f"number too large (more than {MAX_NUMBER:g})")
                return value
            return vectorized(d.lit(a), d.lit(b))
        return apply

    return {
        ast.Add: arithmetic(simpleeval.safe_add, operator.add),
        ast.Sub: arithmetic(operator.sub, operator.sub),
        ast.Mult: arithmetic(simpleeval.safe_mult, operator.mul),
        # in floats: an integer column to a negative power would fail, a large one overflow
        ast.Pow: arithmetic(simpleeval.safe_power, lambda a, b: d.to_float(a) ** b),
        ast.Div: safe_div(operator.truediv),
        ast.FloorDiv: safe_div(lambda a, b: operator.floordiv(a, b) if _is_number(a) and _is_number(b)
                               else d.floordiv(a, b)),
        ast.Mod: safe_div(lambda a, b: operator.mod(a, b) if _is_number(a) and _is_number(b)
                          else d.mod(a, b)),
    }


_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _bool(x: Value) -> pl.Expr:
    return lit(x).cast(pl.Boolean)


class Compiler(simpleeval.SimpleEval):
    """Compiles one parsed :class:`Expression` to a Polars expression (or a literal).

    ``resolve(name)`` says what a name is in this context (a column, a measure, a param);
    ``attribute(name, field)`` does the same for ``name.field`` in action conditions.
    Every denominator met is remembered, so a null result can say why it is null.
    """

    def __init__(self, resolve: Callable[[str], Value],
                 attribute: Callable[[str, str], Value] | None = None, dialect: Dialect = POLARS):
        super().__init__(operators=operators(dialect), names={}, functions={
            n: functions.null_in_null_out(n, f) for n, f in dialect.functions.items()})
        self.d = dialect
        self.names = lambda node: resolve(node.id)
        self.attribute = attribute
        self.denominators: list[tuple[str, Any]] = []
        self.nodes = {
            ast.Name: self._eval_name, ast.Constant: self._eval_constant,
            ast.BinOp: self._binop, ast.UnaryOp: self._unaryop, ast.BoolOp: self._boolop,
            ast.Compare: self._compare, ast.IfExp: self._ifexp, ast.Call: self._eval_call,
            ast.Tuple: self._sequence, ast.List: self._sequence, ast.Attribute: self._attr,
        }

    def compile(self, expression: Expression) -> Value:
        self.expr = expression.text
        try:
            return self._eval(expression.tree)
        except AssessError:
            raise
        except (ValueError, TypeError, ArithmeticError, simpleeval.InvalidExpression,
                *self.d.errors) as exc:
            raise AssessError(Problem(expression.location, "expression",
                                      f"cannot compile `{expression.text}`: {exc}")) from None

    def _binop(self, node: ast.BinOp) -> Value:
        left, right = self._eval(node.left), self._eval(node.right)
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            self.denominators.append((ast.unparse(node.right), self.d.lit(right)))
        return self.operators[type(node.op)](left, right)

    def _unaryop(self, node: ast.UnaryOp) -> Value:
        value = self._eval(node.operand)
        if isinstance(node.op, ast.Not):
            if value is None:
                return None  # not null is null, as on a column
            return (not value) if isinstance(value, bool) else ~self.bool(value)
        if isinstance(value, str):
            raise ValueError("text cannot be negated")
        if value is None:  # -(0 / 0): a null stays null
            return None
        return -value if isinstance(node.op, ast.USub) else value

    def bool(self, x: Value) -> Any:
        return self.d.boolean(self.d.lit(x))

    def _boolop(self, node: ast.BoolOp) -> Any:
        values = [self.bool(self._eval(v)) for v in node.values]
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        result = values[0]
        for v in values[1:]:
            result = combine(result, v)
        return result

    def _compare(self, node: ast.Compare) -> Value:
        # a < b < c means (a < b) and (b < c), each side evaluated once
        left = self._eval(node.left)
        parts = []
        for op, right_node in zip(node.ops, node.comparators):
            right = self._eval(right_node)
            parts.append(self._compare_one(op, left, right))
            left = right
        if all(not isinstance(p, self.d.expr) for p in parts):
            return False if False in parts else None if None in parts else True
        result = self.bool(parts[0])
        for p in parts[1:]:
            result = result & self.bool(p)
        return result

    def _compare_one(self, op: ast.cmpop, left: Value, right: Value) -> Value:
        lit = self.d.lit
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, tuple):
                raise ValueError("`in` needs a list of values: x in ('a', 'b')")
            if any(isinstance(v, self.d.expr) for v in right):
                raise ValueError("the values after `in` must be literals")
            found = self.d.is_in(lit(left), list(right))
            return ~found if isinstance(op, ast.NotIn) else found
        if not isinstance(left, self.d.expr) and not isinstance(right, self.d.expr):
            if left is None or right is None:  # a comparison with null is null
                return None
            return _COMPARE[type(op)](left, right)
        return _COMPARE[type(op)](lit(left), lit(right))

    def _ifexp(self, node: ast.IfExp) -> Any:
        return self.d.when(self.bool(self._eval(node.test)), self.d.lit(self._eval(node.body)),
                           self.d.lit(self._eval(node.orelse)))

    def _sequence(self, node: ast.Tuple | ast.List) -> tuple:
        return tuple(self._eval(e) for e in node.elts)

    def _attr(self, node: ast.Attribute) -> Value:
        if self.attribute is None or not isinstance(node.value, ast.Name):
            raise ValueError("attributes are not part of the language")
        return self.attribute(node.value.id, node.attr)


def param_value(value: Any) -> Any:
    """Params arrive as YAML values; text written as an ISO date (2025-01-31) is a date."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def given(value: Any, params: dict[str, Any]) -> Any:
    """A rule's option that names a param or is a literal (an ISO date is a date)."""
    return param_value(params[value]) if isinstance(value, str) and value in params else param_value(value)


def resolver(params: dict[str, Any]) -> Callable[[str], Value]:
    """Names are params if declared, else columns."""
    def resolve(name: str) -> Value:
        return param_value(params[name]) if name in params else pl.col(name)
    return resolve


def row_compiler(params: dict[str, Any]) -> Compiler:
    """Names are params if declared, else columns of the source."""
    return Compiler(resolver(params))


def compile_row(expression: Expression | None, params: dict[str, Any]) -> Value:
    return None if expression is None else row_compiler(params).compile(expression)


def _uses_columns(expression: Expression | None, params: dict[str, Any]) -> bool:
    return expression is not None and bool(expression.names - set(params))


def measure_expr(measure: Measure, params: dict[str, Any], suffix: str = "", whole: bool = False) -> pl.Expr:
    """The aggregation of one measure, its filter folded in (``expr.filter(cond)``);
    ``whole``: its values are integers (see ``integral``), whose sum is exact in any order."""
    where = compile_row(measure.where, params)
    if measure.agg == "count" and measure.of is None:
        if where is None:
            agg = pl.len()
        elif not _uses_columns(measure.where, params):  # a filter on params alone
            agg = pl.when(_bool(where)).then(pl.len()).otherwise(0)
        else:
            agg = _bool(where).fill_null(False).sum()
        return agg.cast(pl.Float64).alias(measure.name + suffix)
    of = lit(compile_row(measure.of, params))
    if where is not None:
        of = of.filter(_bool(where))
    if measure.agg == "top":  # the label of the row where `of` is largest
        label = lit(compile_row(measure.label, params))
        if where is not None:
            label = label.filter(_bool(where))
        # ties broken by the label, so the same data always names the same row
        return label.sort_by([of, label], descending=[True, False], nulls_last=True).first() \
            .alias(measure.name + suffix)
    total = of.sum() if whole else stable_sum(of)
    agg = {
        # a median as the linear 0.5 quantile, the same number, because that one streams
        "count": of.count(), "sum": total, "mean": pl.when(of.count() > 0).then(total / of.count()),
        "median": of.quantile(0.5, interpolation="linear"),
        "min": of.min(), "max": of.max(), "n_unique": of.drop_nulls().n_unique(),
        "quantile": of.quantile(measure.q, interpolation="linear"),
    }[measure.agg]
    return agg.alias(measure.name + suffix)


def stable_sum(of: pl.Expr) -> pl.Expr:
    """The sum of ``of``, added up in row order. Float addition is not associative and
    the engine adds its partial sums in the order its threads finish, so a plain ``sum``
    can differ in the last digit from run to run; a running sum goes row by row, in the
    order of the file, which every run reads alike (3x a plain sum, a thirtieth of
    sorting the values first)."""
    return of.fill_null(0).cum_sum().last().fill_null(0)


def integral(measure: Measure, source: Source, params: dict[str, Any]) -> bool:
    """Whether the measure adds up a column its source declares `int` (cast to Int64 on
    reading): an integer sum is exact, so a plain sum, which a group-by computes many times
    faster than ``stable_sum``, gives the same number in any order."""
    of = measure.of
    return of is not None and isinstance(of.tree, ast.Name) and of.tree.id not in params \
        and of.tree.id not in source.borrowed \
        and (source.columns or {}).get(of.tree.id) == "int"


@dataclass
class Variant:
    """One evaluation of every measure and KPI: the period itself, the previous period,
    or one month or quarter of a trend. Its columns carry ``suffix``."""

    label: str  # "" for the period itself
    params: dict[str, Any]

    @property
    def suffix(self) -> str:
        return f"@{self.label}" if self.label else ""


def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _next_bucket(d: dt.date, months: int) -> dt.date:
    month = d.month - 1 + months
    return dt.date(d.year + month // 12, month % 12 + 1, 1)


def variants(ruleset: Ruleset, params: dict[str, Any]) -> list[Variant]:
    """The period, then the previous period (compare: previous), then each month or
    quarter of the period (trend), each with its own period params."""
    out = [Variant("", params)]
    if ruleset.compare == "previous":
        previous = {**params, "period_start": params["previous_start"],
                    "period_end": params["previous_end"]}
        out.append(Variant("previous", {**previous, **derived_params(previous)}))
    if ruleset.trend:
        months = 3 if ruleset.trend == "quarter" else 1
        start, end = params["period_start"], params["period_end"]
        bucket = _month_start(start) if months == 1 else \
            dt.date(start.year, (start.month - 1) // 3 * 3 + 1, 1)
        while bucket <= end:
            following = _next_bucket(bucket, months)
            period = {**params, "period_start": max(bucket, start),
                      "period_end": min(following - dt.timedelta(days=1), end)}
            label = f"{bucket:%Y-%m}" if months == 1 else f"{bucket.year}-Q{(bucket.month - 1) // 3 + 1}"
            out.append(Variant(label, {**period, **derived_params(period)}))
            bucket = following
    return out


@dataclass
class CheckPlan:
    """One rule, compiled: its counts as aggregations, its failing rows for evidence."""

    check: Check
    rule: checks.Plan
    where: pl.Expr | None  # the scope

    @property
    def rows(self) -> str:
        return f"{self.check.id}.rows"

    @property
    def failed(self) -> str:
        return f"{self.check.id}.failed"

    @property
    def observed(self) -> str:
        return f"{self.check.id}.observed"

    @property
    def columns(self) -> list[str]:
        return self.rule.columns

    @property
    def failing(self) -> pl.Expr:
        """True on a failing row, evaluated on the rows in scope."""
        return lit(self.rule.failing).fill_null(False)

    def aggregations(self) -> list[pl.Expr]:
        if self.rule.schema is not None:  # judged from the file's schema, not its rows
            return []
        scope = self.where if self.where is not None else None
        failing = self.failing if scope is None else self.failing & scope
        checked = [c for c in (scope, self.rule.counted) if c is not None]
        rows = self.rule.rows if self.rule.rows is not None else \
            (reduce(operator.and_, checked).sum() if checked else pl.len())
        failed = self.rule.failed if self.rule.failed is not None else failing.sum()
        out = [rows.cast(pl.Int64).alias(self.rows), failed.cast(pl.Int64).alias(self.failed)]
        if self.rule.observed is not None:
            out.append(self.rule.observed.alias(self.observed))
        return out


def plan_check(check: Check, params: dict[str, Any]) -> CheckPlan:
    where = compile_row(check.where, params)
    scope = None if where is None else _bool(where).fill_null(False)
    if scope is not None and not _uses_columns(check.where, params):
        scope = pl.repeat(scope, pl.len())  # a filter on params alone holds for every row, or none

    def row(e: Any) -> Any:
        if isinstance(e, Expression):  # on params alone, a value for every row, as SQL gives it
            value = lit(compile_row(e, params))
            return value if _uses_columns(e, params) else pl.repeat(value, pl.len())
        return given(e, params)

    ctx = checks.Context(check, POLARS, pl.col, row, scope, set(params), pl)
    return CheckPlan(check, checks.RULES[check.rule].plan(ctx), scope)


@dataclass
class SourceQuery:
    """Everything computed over one source, as one aggregation over one scan."""

    name: str
    where: pl.Expr | None
    aggregations: list[pl.Expr] = field(default_factory=list)  # overall, every variant
    per_entity: list[pl.Expr] = field(default_factory=list)  # the measures grouped by entity
    columns: set[str] = field(default_factory=set)  # every column name its expressions use
    compute: dict[str, pl.Expr] = field(default_factory=dict)  # its computed columns
    # aggregations whose state grows with the rows read, which a bounded run computes
    # apart (execute._bounded): output name -> the values of a distinct count, by whose
    # hash the rows can be sliced, or None for an order statistic
    heavy: dict[str, pl.Expr | None] = field(default_factory=dict)


@dataclass
class KpiPlan:
    kpi: Kpi
    variant: Variant
    value: pl.Expr
    reason: pl.Expr


@dataclass
class Plan:
    ruleset: Ruleset
    params: dict[str, Any]
    variants: list[Variant]
    sources: dict[str, SourceQuery]
    checks: list[CheckPlan]
    kpis: list[KpiPlan]  # every variant, each in dependency order
    breakdowns: dict[tuple[str, tuple[str, ...]], list[pl.Expr]]  # (source, by) -> its measures
    derived: dict[str, list[pl.Expr]]  # derived source -> its aggregated columns
    # breakdown id -> its formula and the reason it is n/a, over its table of groups
    formulas: dict[str, tuple[pl.Expr, pl.Expr]] = field(default_factory=dict)


ROWS = "__rows__"
HEAVY = ("median", "quantile", "n_unique", "top")  # their state grows with the rows read


def _ratio(check: Check) -> pl.Expr:
    rows, failed = pl.col(f"{check.id}.rows"), pl.col(f"{check.id}.failed")
    return pl.when(rows > 0).then((rows - failed) / rows)


def quality_expr(ruleset: Ruleset, name: str) -> pl.Expr:
    """A check's passing ratio, or a data-quality score 0..100 (the ratios weighted by
    severity) of all checks, or of one source's or one area's."""
    checks = {c.id: c for c in ruleset.checks}
    if name in checks:
        return _ratio(checks[name])
    group = quality_group(name)
    return quality_score([c for c in ruleset.checks if not group or group in (c.source, c.area)])


def quality_score(checks: list[Check]) -> pl.Expr:
    """The data-quality score 0..100 of ``checks``: their passing ratios weighted by
    severity, over the checks that saw rows; null when none did. The one definition, for
    KPIs (``data_quality``) and for the report's scores alike."""
    if not checks:
        return pl.lit(None, pl.Float64)
    weighted = [(SEVERITY.get(c.severity, 2), _ratio(c)) for c in checks]
    total = pl.sum_horizontal([pl.when(r.is_not_null()).then(w * r * 100) for w, r in weighted])
    weight = pl.sum_horizontal([pl.when(r.is_not_null()).then(w) for w, r in weighted])
    return pl.when(weight > 0).then(total / weight)


def kpi_plan(kpi: Kpi, ruleset: Ruleset, variant: Variant) -> KpiPlan:
    suffix = variant.suffix

    def resolve(name: str) -> Value:
        if name in ruleset.measures or name in ruleset.kpis:
            return pl.col(name + suffix)
        if name in variant.params:
            return param_value(variant.params[name])
        return quality_expr(ruleset, name)

    value, reason = formula_exprs(kpi.id + suffix, kpi.formula, ruleset, resolve, suffix, kpi.on_null)
    return KpiPlan(kpi, variant, value, reason)


def breakdown_exprs(breakdown: Breakdown, ruleset: Ruleset, params: dict[str, Any]) -> tuple[pl.Expr, pl.Expr]:
    """A breakdown's formula over the table of its groups (a column per measure), with
    the reason where it is n/a in a group; the period only, like a breakdown's measures."""
    return formula_exprs(breakdown.id, breakdown.formula, ruleset, resolver(params))


def formula_exprs(name: str, formula: Expression, ruleset: Ruleset, resolve: Callable[[str], Value],
                  suffix: str = "", on_null: str | float = "n/a") -> tuple[pl.Expr, pl.Expr]:
    """A formula's value as a finite float or null, and why it is null (a denominator of
    0, a measure or KPI with no value): columns ``name`` and ``name.reason``."""
    compiler = Compiler(resolve)
    value = lit(compiler.compile(formula)).cast(pl.Float64)
    value = pl.when(value.is_finite()).then(value)
    if on_null == "zero":
        value = value.fill_null(0.0)
    elif not isinstance(on_null, str):
        value = value.fill_null(float(on_null))
    reasons: list[pl.Expr] = [pl.when(den == 0).then(pl.lit(f"division by zero: `{text}` is 0"))
               for text, den in compiler.denominators]
    for ref in sorted(formula.names):
        if ref in ruleset.kpis:
            reasons.append(pl.when(pl.col(ref + suffix).is_null())
                           .then(pl.lit(f"`{ref}` is n/a: ") + pl.col(f"{ref}{suffix}.reason")))
        elif ref in ruleset.measures:
            allocate = ruleset.measures[ref].allocate
            why = (f"measure `{ref}` is allocated by `{allocate}`, which is 0 for every entity"
                   if allocate else f"measure `{ref}` has no value (no rows, or only empty values)")
            reasons.append(pl.when(pl.col(ref + suffix).is_null()).then(pl.lit(why)))
    reasons.append(pl.lit("the formula gives no finite number"))
    reason = pl.when(value.is_null()).then(pl.coalesce(reasons))
    return value.alias(name), reason.alias(f"{name}.reason")


def compile_plan(ruleset: Ruleset, params: dict[str, Any]) -> Plan:
    runs = variants(ruleset, params)
    sources = {name: SourceQuery(name, None if s.where is None else _bool(compile_row(s.where, params)),
                                 [pl.len().alias(f"{name}.{ROWS}")],
                                 columns=set(s.where.names - set(params)) if s.where else set(),
                                 compute={c: lit(compile_row(e, params)).alias(c) for c, e in s.compute.items()})
               for name, s in ruleset.sources.items()}
    for name, s in ruleset.sources.items():
        for e in s.compute.values():
            sources[name].columns |= e.names - set(params)
    breakdowns: dict[tuple[str, tuple[str, ...]], list[pl.Expr]] = {}
    derived = {}
    for name, source in ruleset.sources.items():
        if source.parent is not None:
            parent = ruleset.sources[source.parent]
            derived[name] = [measure_expr(m, params, whole=integral(m, parent, params)) for m in source.aggregate.values()]
            sources[source.parent].columns |= set(source.group_by) | {
                n for m in source.aggregate.values() for e in (m.of, m.where, m.label) if e
                for n in e.names - set(params)}
    for measure in ruleset.measures.values():
        query = sources[measure.source]
        if measure.by:  # a breakdown: its own grouped query, for the period only
            breakdowns.setdefault((measure.source, tuple(measure.by)), []).append(
                measure_expr(measure, params, whole=integral(measure, ruleset.sources[measure.source], params)))
            query.columns |= set(measure.by) | {n for e in (measure.of, measure.where, measure.label)
                                                if e for n in e.names - set(params)}
            continue
        for variant in runs:
            agg = measure_expr(measure, variant.params, variant.suffix,
                               integral(measure, ruleset.sources[measure.source], variant.params))
            query.aggregations.append(agg)
            if measure.agg in HEAVY:
                query.heavy[measure.name + variant.suffix] = \
                    lit(compile_row(measure.of, variant.params)) if measure.agg == "n_unique" else None
            if ruleset.by and not (measure.shared or measure.allocate):
                query.per_entity.append(agg)
        for used in (measure.of, measure.where):
            if used is not None:
                query.columns |= used.names - set(params)
    for name, query in sources.items():
        if query.per_entity:
            query.columns |= set(ruleset.key_of(ruleset.sources[name]))
    if ruleset.names:
        named, column = ruleset.names
        sources[named].columns |= {*ruleset.key_of(ruleset.sources[named]), column}
    checks = []
    for check in ruleset.checks:
        plan = plan_check(check, params)
        checks.append(plan)
        query = sources[check.source]
        query.aggregations += plan.aggregations()
        if plan.rule.repeats is not None:  # rows beyond the first of each value: additive
            query.heavy[plan.failed] = plan.rule.repeats  # over slices split by the value
        query.columns |= set(plan.columns) | set(check.by)
        if plan.rule.lookup:
            sources[plan.rule.lookup[0]].columns |= {theirs for _, theirs in plan.rule.lookup[1]}
        for used in (check.expression, check.where):
            if used is not None:
                query.columns |= used.names - set(params)
    for name, query in sources.items():  # borrowed columns are asked of the source they come from
        for join in ruleset.sources[name].joins:
            query.columns |= set(join.own)
            sources[join.source].columns |= {theirs for _, theirs in join.on} | set(join.columns)
    for name, query in sources.items():  # and computed ones are made, not read
        query.columns -= ruleset.sources[name].borrowed
    kpis = [kpi_plan(k, ruleset, v) for v in runs for k in ruleset.kpis.values()]
    formulas = {b.id: breakdown_exprs(b, ruleset, params) for b in ruleset.breakdowns.values()}
    return Plan(ruleset, params, runs, sources, checks, kpis, breakdowns, derived, formulas)
