"""The plan lowered to Ibis: the same ruleset run inside DuckDB, PostgreSQL or Spark.

Every expression of the ruleset (formulas' measures, `where` filters, computed columns,
check expressions) is lowered by the same tree walk as for Polars
(:class:`engine.compile.Compiler`), with the Ibis :data:`DIALECT`: names become columns,
``and``/``or``/``not`` become ``&``/``|``/``~``, ``x if c else y`` becomes
``ibis.ifelse``, the functions of the language come from :data:`FUNCTIONS`. Each source
becomes one aggregate query (``SELECT agg(...) FILTER (WHERE ...) ...``) run where the data
lives, plus one per entity grouping, per grouped rule and per breakdown; failing-row
samples are bounded queries run only for the rules that did not pass.

Where an engine answers differently from Polars, the difference is settled here so that
the numbers agree (a sum over no rows is 0, not NULL; division by zero is null) or, where
it cannot be, refused before any query runs (:func:`unsupported`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import ibis
import ibis.expr.types as ir
import polars as pl

from ..checks import RULES, Context, outside
from ..compile import Compiler, Dialect, Plan, ROWS, given, param_value
from ..connect import Database, duckdb, open_table, spark, table_name
from ..connect import connect as connect_database
from ..errors import AssessError, Problem
from ..execute import NAME, PREFIX, Executed, _entities
from ..functions import whole_pattern
from ..model import Check, Expression, Measure, Source

Value = Any


def _null_safe_literal(x: Any) -> ir.Value:
    if x is None:
        return ibis.null()
    # typed, so that Spark reads 3600.0 as a double, not a DECIMAL rounded to 6 places
    return ibis.literal(x, type="float64") if isinstance(x, float) else ibis.literal(x)


def _when(c: Any, a: Any, b: Any) -> ir.Value:
    return ibis.ifelse(c, a, b)


DIALECT: Dialect  # set below, once FUNCTIONS exist


def _e(x: Value) -> ir.Value:
    return DIALECT.lit(x)


# Unicode White_Space, which Polars' strip_chars removes (SQL TRIM removes only spaces)
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _text(x: Value) -> ir.StringValue:
    return x.cast("string") if isinstance(x, ir.Value) else ibis.literal(str(x))


def _interval(unit: str) -> Callable[[Value], Any]:
    from ..functions import MAX_DAYS

    limit = MAX_DAYS * {"days": 1, "hours": 24, "minutes": 24 * 60}[unit]

    def make(n: Value) -> Any:
        if isinstance(n, ir.Value):  # beyond the range: null, as on Polars, not an engine error
            n = n.cast("int64")
            return _when(n.abs() <= limit, n, ibis.null("int64")).as_interval(unit)
        return ibis.interval(**{unit: int(n)})
    return make


def _seconds(start: Value, end: Value) -> ir.NumericValue:
    # epoch differences rather than interval arithmetic: every engine has the former
    return _e(end).cast("timestamp").epoch_seconds() - _e(start).cast("timestamp").epoch_seconds()


def _date(x: Value, month: Value = None, day: Value = None) -> Any:
    if month is not None or day is not None:
        return dt.date(int(x), int(month), int(day))
    if isinstance(x, str):
        return dt.date.fromisoformat(x)
    if isinstance(x, dt.date):
        return x.date() if isinstance(x, dt.datetime) else x
    return x.cast("date")


def _datetime(x: Value) -> Any:
    if isinstance(x, str):
        return dt.datetime.fromisoformat(x)
    if isinstance(x, dt.date) and not isinstance(x, dt.datetime):
        return dt.datetime(x.year, x.month, x.day)
    return x.cast("timestamp")


def _valid(s: Value, pattern: Value) -> ir.BooleanValue:
    return _text(s).re_search(whole_pattern(pattern))


def _round(x: Value, digits: Value = 0) -> ir.NumericValue:
    # half to even on the scaled value, as Polars rounds (SQL ROUND goes half away from
    # zero, and DuckDB rounds 2.675 to 2.67 where Polars gives 2.68)
    if isinstance(digits, ir.Value) or digits != int(digits):
        raise ValueError("round: the number of digits must be a whole number, written literally")
    scale = 10.0 ** int(digits)
    scaled = _e(x).cast("float64") * scale
    low = scaled.floor().cast("float64")
    rest = scaled - low
    up = (rest > 0.5) | ((rest == 0.5) & (low - (low / 2).floor().cast("float64") * 2 != 0))
    return ibis.ifelse(up, low + 1, low) / scale


def _floor_div(a: Value, b: Value) -> ir.NumericValue:
    # in doubles: Ibis reads floor(a / b) as a floor division, which PostgreSQL runs as an
    # integer division of two integers, truncating (-7 // 3 would be -2, not -3)
    return (_e(a).cast("float64") / _e(b)).floor()


def _horizontal(pick: Callable[..., Any]) -> Callable[..., Any]:
    # skipping nulls, as Polars' min_horizontal does (SQL LEAST is null with any null)
    def apply(x: Value, *others: Value) -> ir.Value:
        values = [_e(v) for v in (x, *others)]
        return pick(*(ibis.coalesce(v, *values) for v in values))
    return apply


# One Ibis builder per function of the language (engine.functions has the docs).
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "coalesce": lambda x, *o: ibis.coalesce(*(_e(v) for v in (x, *o))),
    "is_null": lambda x: _e(x).isnull(),
    "is_not_null": lambda x: _e(x).notnull(),
    "is_blank": lambda s: _e(s).isnull() | (FUNCTIONS["strip"](s) == ""),
    "div": lambda a, b, default=None: ibis.ifelse(_e(b) != 0, _e(a) / _e(b), _e(default)),
    "abs": lambda x: _e(x).abs(),
    "round": _round,
    "min": _horizontal(ibis.least),
    "max": _horizontal(ibis.greatest),
    "clip": lambda x, low, high: ibis.least(ibis.greatest(_e(x), _e(low)), _e(high)),
    "between": lambda x, low, high: _e(x).between(_e(low), _e(high)),
    "date": _date,
    "datetime": _datetime,
    "month_start": lambda text: (_text(text) + "-01").cast("date"),
    "year": lambda d: _e(d).year(),
    "month": lambda d: _e(d).month(),
    "days": _interval("days"),
    "hours": _interval("hours"),
    "minutes": _interval("minutes"),
    "hours_between": lambda start, end: _seconds(start, end) / 3600,
    "days_between": lambda start, end: _seconds(start, end) / 86400,
    "matches": lambda s, pattern: _text(s).re_search(str(pattern)),
    "valid": _valid,
    "contains": lambda s, text: _text(s).contains(_text(text)),
    "startswith": lambda s, prefix: _text(s).startswith(_text(prefix)),
    "endswith": lambda s, suffix: _text(s).endswith(_text(suffix)),
    "lower": lambda s: _text(s).lower(),
    "upper": lambda s: _text(s).upper(),
    "strip": lambda s: _text(s).re_replace(f"^[{WHITESPACE}]+|[{WHITESPACE}]+$", ""),
    "length": lambda s: _text(s).length(),
}

DIALECT = Dialect(
    expr=ir.Value, literal=_null_safe_literal, when=_when,
    boolean=lambda x: x.cast("boolean"), is_in=lambda x, values: x.isin(values),
    to_float=lambda x: x.cast("float64"), functions=FUNCTIONS,
    errors=(ibis.common.exceptions.IbisError,),
    floordiv=lambda a, b: _floor_div(a, b),
    mod=lambda a, b: _e(a) - _e(b) * _floor_div(a, b))

TYPES = {"string": "string", "int": "int64", "float": "float64", "bool": "boolean",
         "date": "date", "datetime": "timestamp"}
SQL_TYPES = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN"}  # to read CSV


class _Rows:
    """Row expressions over one table, lowered and bound."""

    def __init__(self, table: ir.Table, params: dict[str, Any]):
        self.table, self.params = table, params

    def __call__(self, expression: Expression | None) -> Value:
        if expression is None:
            return None
        def resolve(name: str) -> Value:
            return param_value(self.params[name]) if name in self.params else self.table[name]
        return Compiler(resolve, dialect=DIALECT).compile(expression)

    def condition(self, expression: Expression | None) -> ir.BooleanValue | None:
        value = self(expression)
        if value is None:
            return None
        return _e(value).cast("boolean").fill_null(False)


def measure(m: Measure, table: ir.Table, params: dict[str, Any]) -> ir.Scalar:
    """One measure as an aggregate over ``table`` (its filter as ``FILTER (WHERE ...)``),
    with Polars' answers: a count or sum over no rows is 0, not NULL."""
    rows = _Rows(table, params)
    where = rows.condition(m.where)
    if m.agg == "count" and m.of is None:
        return table.count(where=where).cast("float64")
    of = _e(rows(m.of))
    if m.agg == "top":
        return _e(rows(m.label)).argmax(of, where=where)
    if m.agg == "sum":
        return ibis.coalesce(of.sum(where=where), 0)
    if m.agg == "count":
        return of.count(where=where).cast("float64")
    if m.agg == "n_unique":
        return of.nunique(where=where)
    if m.agg in ("median", "quantile", "mean"):  # over doubles: PostgreSQL averages integers as NUMERIC
        of = of.cast("float64") if of.type().is_numeric() else of
        if m.agg == "mean":
            return of.mean(where=where)
        return of.quantile(0.5 if m.agg == "median" else m.q, where=where)
    return getattr(of, m.agg)(where=where)


@dataclass
class Rule:
    """A rule's counts over its source: rows checked, rows failed, and what was observed;
    ``failing`` marks the failing rows for the samples."""

    failing: ir.BooleanValue
    rows: ir.Scalar | None = None
    failed: ir.Scalar | None = None
    observed: ir.Scalar | None = None
    repeats: ir.Value | None = None  # a duplicates rule's value: its samples are rows of repeated ones
    apart: ir.Table | None = None  # counts from a grouping of their own: one row of rows, failed, observed


def _normalised(check: Check, value: ir.Value) -> ir.Value:
    how = check.options.get("normalize")
    if not how:
        return value
    value = value.cast("string")
    if how in ("trim", "lower_trim"):
        value = FUNCTIONS["strip"](value)
    if how in ("lower", "lower_trim"):
        value = value.lower()
    if how in ("digits", "phone"):
        value = value.re_replace(r"[^0-9]", "")
    if how == "phone":  # digits only by now: 86 and 11 digits is the 11 digits (no back-reference,
        # whose syntax differs between engines)
        value = ibis.ifelse((value.length() == 13) & value.startswith("86"), value.substr(2), value)
    return ibis.ifelse(value.length() > 0, value, ibis.null("string"))


def _one_if(condition: ir.BooleanValue) -> ir.IntegerValue:
    # PostgreSQL casts a boolean to INTEGER but not to BIGINT
    return ibis.ifelse(condition, 1, 0).cast("int64")


def check_rule(check: Check, table: ir.Table, scope: ir.BooleanValue | None,
               params: dict[str, Any]) -> Rule:
    """The counts of one rule in Ibis: a row rule from its one definition in engine.checks,
    each rule that aggregates as its Polars definition there."""
    o = check.options
    col = table[o["column"]] if "column" in o else None
    inside = scope if scope is not None else ibis.literal(True)
    kind = check.rule
    if RULES[kind].row:
        rows_of = _Rows(table, params)

        def row(e: Any) -> Any:
            return rows_of(e) if isinstance(e, Expression) else given(e, params)

        plan = RULES[kind].plan(Context(check, DIALECT, table.__getitem__, row, scope, set(params)))
        return Rule(plan.failing, rows=None if plan.counted is None else table.count(where=plan.counted & inside))
    if kind == "range":
        def bound(bound_: Any) -> Any:  # a param's value, or an ISO date, as engine.checks.range_
            if not isinstance(bound_, str):
                return bound_
            value = given(bound_, params)
            value = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
            if col.type().is_timestamp() and not isinstance(value, dt.datetime):
                return dt.datetime(value.year, value.month, value.day)  # its midnight
            return value

        low, high = bound(o.get("min")), bound(o.get("max"))
        if col.type().is_date() and any(isinstance(b, dt.datetime) for b in (low, high)):
            col = col.cast("timestamp")
        out = ibis.literal(False)
        if low is not None:
            out = out | ((col < low) if o.get("min_inclusive", True) else (col <= low))
        if high is not None:
            out = out | ((col > high) if o.get("max_inclusive", True) else (col >= high))
        return Rule(col.notnull() & out)
    if kind == "type":
        text = FUNCTIONS["strip"](col)
        target = {"int": "int64", "float": "float64", "date": "date", "datetime": "timestamp"}[o["type"]]
        return Rule(col.notnull() & text.try_cast(target).isnull())
    if kind == "unique":
        names = o.get("columns") or [o["column"]]
        parts = [_normalised(check, table[n]) for n in names]
        present = ibis.and_(*(p.notnull() for p in parts))
        key = parts[0] if len(parts) == 1 else ibis.struct({n: p for n, p in zip(names, parts)})
        if not o.get("ignore_nulls", True):
            raise AssessError(Problem(check.location, "engine",
                                      f"rule `{check.id}`: `ignore_nulls: false` on `unique` runs on Polars only"))
        distinct = key.nunique(where=present & inside)
        return Rule(ibis.literal(False), failed=table.count(where=present & inside) - distinct,
                    repeats=ibis.ifelse(present, key, ibis.null()))
    if kind == "freshness":
        newest = col.max(where=inside).cast("date")
        as_of = o.get("as_of", "period_end")
        as_of = given(as_of, params)
        stale = newest.isnull() | (newest < ibis.literal(as_of - dt.timedelta(days=o["max_age"])))
        return Rule(ibis.literal(False), rows=ibis.literal(1), failed=_one_if(stale),
                    observed=newest)
    if kind == "row_count":
        count = table.count(where=inside)
        out = ibis.literal(False)
        if o.get("min") is not None:
            out = out | (count < o["min"])
        if o.get("max") is not None:
            out = out | (count > o["max"])
        return Rule(ibis.literal(False), rows=ibis.literal(1), failed=_one_if(out), observed=count)
    if kind == "distribution":
        return _distribution(check, table, inside)
    raise AssessError(Problem(check.location, "engine",
                              f"rule `{check.id}`: the `{kind}` rule is not yet supported on this engine",
                              "run it with --engine polars"))


def _distribution(check: Check, table: ir.Table, inside: ir.BooleanValue) -> Rule:
    o = check.options
    col = table[o["column"]]
    low, high, listed = o.get("min_share"), o.get("max_share"), o.get("values")

    def out_of_bounds(share: ir.Value) -> ir.BooleanValue:
        return outside(share, low, high, ibis.literal(False))

    present = table.filter(inside & col.notnull())
    counts = present.group_by(value=present[o["column"]]).aggregate(n=present.count())
    counts = counts.mutate(share=counts.n.cast("float64") / counts.n.sum().over())
    if listed:
        every = ibis.memtable({"value": list(listed)}).cast({"value": col.type()})
        counts = every.left_join(counts, "value").select("value", share=ibis.coalesce(ibis._.share, 0.0))
    off = counts.filter(out_of_bounds(counts.share))
    failing = col.notnull() & col.isin(off.value)
    apart = counts.aggregate(rows=counts.count(), failed=counts.count(where=out_of_bounds(counts.share)),
                             observed=counts.share.max())
    return Rule(failing, apart=apart)


@dataclass
class Remote:
    """A run's handle on the engine, for the bounded queries after the main pass."""

    frames: dict[str, ir.Table]
    name: str = "duckdb"  # the Ibis backend's name
    # check id -> (its source's table, its failing rows, its scope, a duplicates rule's value)
    scopes: dict[str, tuple[ir.Table, ir.BooleanValue, ir.BooleanValue, ir.Value | None]] = \
        field(default_factory=dict)
    queries: int = 0
    # check id -> (the first key column, the largest key of its first failing rows, and
    # whether rows without a key may be among them): found by DuckDB's counting query, so
    # that the samples read only the rows up to it
    bounds: dict[str, tuple[str, Any, bool]] = field(default_factory=dict)
    bounded: int = 0  # of the first rows of how many

    def collect(self, expr: ir.Table) -> pl.DataFrame:
        self.queries += 1
        return expr.to_polars()


def conform(source: Source, table: ir.Table, used: set[str]) -> ir.Table:
    """The table held to the source's contract: declared and used columns must exist,
    declared types are cast to (dates from text strictly ISO 8601)."""
    from ..errors import did_you_mean

    schema = table.schema()
    declared = {c: t for c, t in (source.columns or {}).items() if c not in source.borrowed}
    missing = [Problem(source.location, "missing-column", f"source `{source.name}` has no column `{c}`",
                       did_you_mean(c, list(schema.names)) or f"its columns: {', '.join(list(schema.names)[:20])}")
               for c in sorted(set(declared) | used) if c not in schema]
    if missing:
        raise AssessError(missing)
    casts = {c: table[c].cast(TYPES[t]) for c, t in declared.items()
             if schema[c] != ibis.dtype(TYPES[t])}
    return table.mutate(**casts) if casts else table


# Regular expressions are read by each engine's own library: Polars (Rust regex) and
# DuckDB (RE2) agree on what a ruleset writes; PostgreSQL and Spark read some of it
# otherwise, so those patterns are refused before any query runs.
REGEX_LIMITS: dict[str, list[tuple[str, str]]] = {
    "postgres": [(r"\\[bB]", "`\\b` means a backspace on PostgreSQL (its word boundary is `\\y`)"),
                 (r"\\[pP]\{", "Unicode classes such as `\\p{Han}` are not supported on PostgreSQL")],
    "spark": [(r"\\[pP]\{", "Unicode classes such as `\\p{Han}` are written otherwise on Spark "
                 "(`\\p{IsHan}`)")],
}


def _patterns(ruleset: Any) -> list[tuple[Any, str]]:
    """Every regular expression of the ruleset with where it was written."""
    import ast

    found = []
    expressions = [e for s in ruleset.sources.values() for e in (s.where, *s.compute.values())]
    expressions += [e for m in ruleset.measures.values() for e in (m.of, m.where, m.label)]
    expressions += [e for s in ruleset.sources.values() for m in s.aggregate.values() for e in (m.of, m.where)]
    expressions += [e for c in ruleset.checks for e in (c.expression, c.where)]
    for e in expressions:
        if e is None:
            continue
        for node in ast.walk(e.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "matches" \
                    and len(node.args) == 2 and isinstance(node.args[1], ast.Constant):
                found.append((e.location, str(node.args[1].value)))
    found += [(c.location, c.options["regex"]) for c in ruleset.checks
              if c.rule == "matches" and c.options.get("regex")]
    return found


def unsupported(ruleset: Any, backend: str) -> list[Problem]:
    """What ``backend`` would read otherwise than Polars, located, so that it is refused
    rather than answered with another number."""
    import re

    problems = [Problem(location, "engine", f"regular expression `{pattern}`: {why}",
                        "write the pattern without it, or run on files (Polars) or DuckDB")
                for location, pattern in _patterns(ruleset)
                for limit, why in REGEX_LIMITS.get(backend, []) if re.search(limit, pattern)]
    if backend == "postgres":  # no safe cast: a value that does not parse would fail the query
        problems += [Problem(c.location, "engine", f"rule `{c.id}`: the `type` rule needs a safe cast, "
                             "which PostgreSQL does not have", "run it on files (Polars) or DuckDB")
                     for c in ruleset.checks if c.rule == "type"]
    return problems


def _comparable(table: ir.Table, own: str, other: ir.Table, theirs: str, source: Source,
                location: Any) -> None:
    """Keys of two kinds (text against a number or a date) can never be equal: say so at
    the rule or join, as on Polars, rather than let the database refuse the query."""
    kinds = [t[c].type() for t, c in ((table, own), (other, theirs))]
    families = {"text" if k.is_string() else "number" if k.is_numeric() else
                "date" if k.is_temporal() else str(k) for k in kinds if not k.is_null()}
    if len(families) > 1:
        raise AssessError(Problem(location, "key-type",
                                  f"source `{source.name}`: key `{own}` is {kinds[0]} but `{theirs}` "
                                  f"is {kinds[1]}; they can never be equal",
                                  "declare both key columns with one type in the sources' `columns`"))


def _one_per_key(table: ir.Table, keys: list[str]) -> ir.Table:
    """One whole row per key: the smallest by the other columns, nulls last, so that every
    engine keeps the same row (SQL has no row order, so Polars' "first in the file" cannot
    be had; PostgreSQL has no FIRST or ANY_VALUE aggregate before version 16)."""
    rest = [c for c in table.columns if c not in keys] or keys
    rank = ibis.row_number().over(group_by=keys, order_by=[ibis.asc(c, nulls_first=False) for c in rest])
    return table.mutate(assess_rank=rank).filter(ibis._.assess_rank == 0).drop("assess_rank")


def _frames(plan: Plan, raw: dict[str, ir.Table]) -> dict[str, ir.Table]:
    """Every source as the queries read it. A lender, a `from` parent and a `references`
    target are read after their own `where` (the rows table in the README); a lender's
    duplicate keys never multiply rows (one row per key is kept)."""
    ruleset = plan.ruleset
    sources = ruleset.sources
    filtered: dict[str, ir.Table] = {}

    def own(name: str) -> ir.Table:
        source = sources[name]
        if source.parent is None:
            return raw[name]
        parent = after_where(source.parent)
        return parent.group_by(source.group_by).aggregate(
            **{m.name: measure(m, parent, plan.params) for m in source.aggregate.values()})

    def after_where(name: str) -> ir.Table:
        if name not in filtered:
            source, table = sources[name], own(name)
            for step in source.steps():  # computed columns and joins, in the order they need each other
                if isinstance(step, str):
                    table = table.mutate(**{step: _e(_Rows(table, plan.params)(source.compute[step]))})
                    continue
                lender = after_where(step.source)
                for mine, theirs in step.on:
                    _comparable(table, mine, lender, theirs, source, step.location)
                keys = {f"__key{i}__": lender[theirs] for i, (_, theirs) in enumerate(step.on)}
                picked = _one_per_key(lender.select(**keys, **{c: lender[c] for c in step.columns}), list(keys))
                table = table.left_join(picked, [table[own] == picked[k] for (own, _), k in zip(step.on, keys)]) \
                    .drop(*keys)
            where = _Rows(table, plan.params).condition(source.where)
            filtered[name] = table if where is None else table.filter(where)
        return filtered[name]

    frames = {}
    for name in sources:
        table = after_where(name)
        for c in ruleset.checks:
            if c.source == name and c.rule == "references":
                to = c.options["to"]
                target = after_where(to["source"])
                mine = c.options.get("columns") or [c.options["column"]]
                theirs = to.get("columns") or [to["column"]]
                names = [f"{c.id}.key{i}" for i in range(len(mine))]
                for column, other in zip(mine, theirs):
                    _comparable(table, column, target, other, sources[name], c.location)
                keys = target.select(**{n: target[t] for n, t in zip(names, theirs)}).distinct() \
                    .mutate(**{f"{c.id}.found": ibis.literal(True)})
                table = table.left_join(keys, [table[m] == keys[n] for m, n in zip(mine, names)]).drop(*names)
        frames[name] = table
    return frames


def _key(plan: Plan, name: str, table: ir.Table) -> dict[str, ir.Value]:
    columns = plan.ruleset.key_of(plan.ruleset.sources[name])
    return {b: table[c].cast("string") for c, b in zip(columns, plan.ruleset.by)}


def execute(plan: Plan, raw: dict[str, ir.Table], paths: dict[str, Path],
            progress: Callable[[str], None] = lambda _: None) -> tuple[Executed, Remote]:
    """The plan's queries on the engine holding ``raw`` (each file source's table)."""
    ruleset = plan.ruleset
    problems = []
    conformed = {}
    for name, table in raw.items():
        try:
            conformed[name] = conform(ruleset.sources[name], table, plan.sources[name].columns)
        except AssessError as exc:
            problems += exc.problems
    if problems:
        raise AssessError(problems)
    backend = next(iter(conformed.values())).get_backend().name if conformed else "duckdb"
    backend = {"pyspark": "spark"}.get(backend, backend)
    if problems := unsupported(ruleset, backend):
        raise AssessError(problems)
    frames = _frames(plan, conformed)
    remote = Remote(frames, name=backend)
    results: dict[str, pl.DataFrame] = {}
    variants = plan.variants
    for name in ruleset.sources:
        table = frames[name]
        aggs: dict[str, ir.Scalar] = {f"{name}.{ROWS}": table.count()}
        first: dict[str, str] = {}
        apart: list[ir.Table] = []
        for m in ruleset.measures.values():
            if m.source == name and not m.by:
                for v in variants:
                    aggs[m.name + v.suffix] = measure(m, table, v.params)
        for cp in plan.checks:
            c = cp.check
            if c.source != name or c.rule == "schema":
                continue
            scope = _Rows(table, plan.params).condition(c.where)
            rule = check_rule(c, table, scope, plan.params)
            inside = scope if scope is not None else ibis.literal(True)
            remote.scopes[c.id] = (table, rule.failing.fill_null(False) & inside, inside, rule.repeats)
            aggs[cp.rows] = (rule.rows if rule.rows is not None else table.count(where=inside)).cast("int64")
            aggs[cp.failed] = (rule.failed if rule.failed is not None else
                               table.count(where=rule.failing.fill_null(False) & inside)).cast("int64")
            if rule.observed is not None:
                aggs[cp.observed] = rule.observed
            key = ruleset.sources[name].key
            if backend == "duckdb" and ruleset.samples > 0 and key and rule.apart is None:
                first[c.id] = key[0]
                aggs[f"{c.id}.{BOUND}"] = _smallest(table[key[0]], ruleset.samples, _flag(remote, c.id, ruleset.samples))
            if rule.apart is not None and c.by:
                raise AssessError(Problem(c.location, "engine", f"rule `{c.id}`: a `{c.rule}` rule with "
                                          "`by` runs on Polars only", "run it without --engine"))
            if rule.apart is not None:  # counted apart: its row joins the source's results
                del aggs[cp.rows], aggs[cp.failed]
                apart.append(rule.apart.select(**{cp.rows: rule.apart.rows.cast("int64"),
                                                  cp.failed: rule.apart.failed.cast("int64"),
                                                  cp.observed: rule.apart.observed}))
            if c.by:
                grouped = table.group_by(c.by).aggregate(**{cp.rows: aggs[cp.rows], cp.failed: aggs[cp.failed]})
                results[f"{name}.{c.id}.groups"] = remote.collect(grouped).sort(c.by, nulls_last=True)
        progress(f"aggregating {name} on the engine")
        counted = remote.collect(table.aggregate(**aggs))
        remote.bounded = ruleset.samples
        for c, column in first.items():  # nulls sort last: they are among the first rows unless the list is full
            smallest = counted[f"{c}.{BOUND}"][0]
            smallest = [] if smallest is None else list(smallest)
            remote.bounds[c] = (column, smallest[-1] if smallest else None, len(smallest) < ruleset.samples)
        results[name] = pl.concat([counted.drop(f"{c}.{BOUND}" for c in first), *map(remote.collect, apart)],
                                  how="horizontal")
        per_entity = {m.name + v.suffix: measure(m, table, v.params)
                      for m in ruleset.measures.values() if m.source == name and not m.by
                      and not (m.shared or m.allocate) for v in variants} if ruleset.by else {}
        if per_entity:
            results[f"{name}.by"] = remote.collect(table.group_by(**_key(plan, name, table)).aggregate(**per_entity))
    if ruleset.names:
        source, column = ruleset.names
        table = frames[source]
        names = table.group_by(**_key(plan, source, table)).aggregate(**{NAME: table[column].cast("string").min()})
        results[f"{source}.names"] = remote.collect(names)
    breakdowns = {}
    for m in ruleset.measures.values():
        if m.by:
            breakdowns.setdefault((m.source, tuple(m.by)), []).append(m)
    for (source, by), measures in breakdowns.items():
        table = frames[source]
        grouped = table.group_by(list(by)).aggregate(**{m.name: measure(m, table, plan.params) for m in measures})
        results[f"{source}.{'+'.join(by)}.breakdown"] = remote.collect(grouped).sort(list(by), nulls_last=True)
    values = pl.concat([results[n] for n in ruleset.sources] + [_schemas(plan, conformed)], how="horizontal")
    entities = _entities(plan, values, results) if ruleset.by else None
    groups = {n.split(".")[1]: df for n, df in results.items() if n.endswith(".groups")}
    found = {(n.split(".")[0], tuple(n.split(".")[1].split("+"))): df
             for n, df in results.items() if n.endswith(".breakdown")}
    executed = Executed(values, entities, {}, paths, groups, found, engine="ibis")
    executed.remote = remote
    return executed, remote


def _schemas(plan: Plan, raw: dict[str, ir.Table]) -> pl.DataFrame:
    counts: dict[str, int] = {}
    for c in plan.checks:
        if c.check.rule != "schema":
            continue
        schema = raw[c.check.source].schema()
        wanted = {n: ibis.dtype(TYPES[t]) for n, t in c.check.options["required"].items()}
        wrong = [n for n, t in wanted.items() if n not in schema or not _is(schema[n], t)]
        counts |= {c.rows: len(wanted), c.failed: len(wrong)}
    return pl.DataFrame({k: [v] for k, v in counts.items()}, schema={k: pl.Int64 for k in counts})


def _is(have: Any, want: Any) -> bool:
    if want.is_integer():
        return have.is_integer()
    if want.is_floating():
        return have.is_numeric()
    if want.is_timestamp():
        return have.is_timestamp()
    return have == want


def _repeated(remote: Remote, check: str, limit: int | None, prefix: int | None = None) -> ir.Table:
    """The values a duplicates rule repeats, the ``limit`` smallest, within the first
    ``prefix`` rows in scope (all rows when None), as engine.execute._repeated takes them."""
    table, _, inside, repeats = remote.scopes[check]
    scoped = table.mutate(assess_value=repeats).filter(inside)
    if prefix is not None:
        scoped = scoped.limit(prefix)
    scoped = scoped.filter(scoped["assess_value"].notnull())
    repeated = scoped.group_by("assess_value").aggregate(assess_n=scoped.count()).filter(ibis._["assess_n"] > 1)
    return repeated if limit is None else repeated.order_by("assess_value").limit(limit)


def failing_rows(remote: Remote, check: str, columns: list[str], limit: int | None = None) -> ir.Table:
    """The failing rows of a rule, in the order of ``columns`` (SQL has no row order of its
    own); for a duplicates rule, the rows of its ``limit`` smallest repeated values."""
    table, failing, inside, repeats = remote.scopes[check]
    order = [ibis.asc(c, nulls_first=False) for c in columns or table.columns[:1]]
    if repeats is not None:
        failing = inside & repeats.isin(_repeated(remote, check, limit)["assess_value"])
    return table.filter(failing).select(columns).order_by(order)


def failed_values(remote: Remote, plans: list[Any], limit: int) -> dict[str, tuple[int, list[dict[str, Any]]]]:
    """The distinct failing keys of each rule and the ``limit`` most frequent (most rows
    first, then by value), in one query a rule: see engine.execute.failed_values."""
    out = {}
    for p in plans:
        table, failing, _, _ = remote.scopes[p.check.id]
        failed = table.filter(failing)
        grouped = failed.group_by(p.columns).aggregate(rows=failed.count())
        grouped = grouped.mutate(assess_distinct=grouped.rows.count().over(ibis.window()))
        top = remote.collect(grouped.order_by([ibis.desc("rows"), *(ibis.asc(c, nulls_first=False) for c in p.columns)])
                             .limit(limit))
        out[p.check.id] = (int(top["assess_distinct"][0]) if top.height else 0, [
            {"value": row[p.columns[0]] if len(p.columns) == 1 else {c: row[c] for c in p.columns},
             "rows": row["rows"]} for row in top.iter_rows(named=True)])
    return out


BOUND = "__bound__"


def _smallest(column: ir.Column, n: int, where: ir.BooleanValue) -> ir.Value:
    """The ``n`` smallest values of ``column`` where ``where`` holds, nulls left out:
    DuckDB's bounded ``min(x, n)``, a cheap aggregate of the counting query."""
    smallest = ibis.udf.agg.builtin(lambda arg, n: None, name="min",
                                    signature=((column.type(), "int64"), ibis.dtype(f"array<{column.type()}>")))
    return smallest(column, n, where=where)


def _flag(remote: Remote, check: str, limit: int, prefix: int | None = PREFIX) -> ir.BooleanValue:
    """A rule's rows to sample: its failing rows; a duplicates rule's, the rows of its
    ``limit`` smallest values repeated within the first ``prefix`` rows in scope."""
    _, failing, inside, repeats = remote.scopes[check]
    if repeats is None:
        return failing
    return inside & repeats.isin(_repeated(remote, check, limit, prefix)["assess_value"])


def _first_failing(remote: Remote, wanted: dict[str, tuple[list[str], ir.BooleanValue]],
                   limit: int, bounded: bool = True) -> dict[str, pl.DataFrame]:
    """The first ``limit`` rows of each rule of one source that hold its flag, each in the
    order of its columns, in one query: the rows where some flag holds are read once (a
    common table), and each rule takes its first rows from them (only those up to its
    bound when ``bounded``, the flag being the one the bound was found for)."""
    table = remote.scopes[next(iter(wanted))][0]
    names = list(dict.fromkeys(c for columns, _ in wanted.values() for c in columns))

    def within(key: str, largest: Any, nulls: bool) -> ir.BooleanValue:
        up_to = ibis.literal(False) if largest is None else table[key] <= largest
        return (up_to | table[key].isnull()) if nulls else up_to

    bounds = [remote.bounds.get(c) if bounded and limit <= remote.bounded else None for c in wanted]
    flags = {f"assess_flag{i}": flag.fill_null(False) if bound is None else flag.fill_null(False) & within(*bound)
             for i, ((_, flag), bound) in enumerate(zip(wanted.values(), bounds))}
    where = ibis.or_(*flags.values())
    if all(bounds):  # one bound for the whole read, which the engine checks first (and skips
        # the parts of a Parquet file its statistics put beyond it)
        largest = [b[1] for b in bounds if b and b[1] is not None]
        where = within(bounds[0][0], max(largest) if largest else None, any(b[2] for b in bounds if b)) & where
    # filtered before the flags are selected, so that the common table holds only the
    # flagged rows (Ibis would merge a filter on the flags into each rule's query)
    held = table.filter(where).select(*names, **flags)
    parts = []
    for i, ((columns, _), f) in enumerate(zip(wanted.values(), flags)):
        order = [ibis.asc(c, nulls_first=False) for c in columns]
        # the flag sorted first rather than filtered, for the same reason
        first = held.order_by([ibis.desc(f), *order]).limit(limit)
        first = first.filter(first[f]).select(*names)
        parts.append(first.mutate(assess_rule=i, assess_rank=ibis.row_number().over(order_by=order)))
    rows = remote.collect(ibis.union(*parts, distinct=False))
    return {check: rows.filter(pl.col("assess_rule") == i).sort("assess_rank").select(columns)
            for i, (check, (columns, _)) in enumerate(wanted.items())}


def samples(remote: Remote, plans: list[Any], key: dict[str, list[str]], limit: int) -> dict[str, pl.DataFrame]:
    """Up to ``limit`` failing rows of each rule, ordered by the source's key so that every
    engine shows the same rows (SQL has no row order of its own): one query per source for
    all its rules (plus one for the duplicates rules with no value repeated in the first
    PREFIX rows in scope, as on Polars)."""
    by_source: dict[str, dict[str, list[str]]] = {}
    out: dict[str, pl.DataFrame] = {}
    again: dict[str, dict[str, tuple[list[str], ir.BooleanValue]]] = {}  # source -> whole-table duplicates
    for p in plans:
        check, source = p.check.id, p.check.source
        columns = list(dict.fromkeys(key.get(source, []) + p.check.by + p.columns))
        if limit <= 0 or check not in remote.scopes or not columns:  # a rule about the whole table has no rows
            continue
        by_source.setdefault(source, {})[check] = columns
    for source, rules in by_source.items():
        out |= _first_failing(remote, {c: (columns, _flag(remote, c, limit)) for c, columns in rules.items()}, limit)
        again.setdefault(source, {}).update({c: (rules[c], _flag(remote, c, limit, None)) for c in rules
                                             if remote.scopes[c][3] is not None and out[c].height == 0})
    for wanted in again.values():  # no value repeated in the first rows: the smallest of the whole source
        if wanted:
            out |= _first_failing(remote, wanted, limit, bounded=False)
    return out


def write_evidence(remote: Remote, plans: list[Any], key: dict[str, list[str]], folder: Path) -> list[Path]:
    """Every failing row of each rule to FOLDER/<check>.csv, written by the engine."""
    import os

    from ..execute import formula_safe

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for p in plans:
        if p.check.id not in remote.scopes:
            continue
        columns = list(dict.fromkeys(key.get(p.check.source, []) + p.check.by + p.columns))
        target, temporary = folder / f"{p.check.id}.csv", folder / f".{p.check.id}.csv.tmp"
        try:
            remote.queries += 1
            rows = pl.from_arrow(failing_rows(remote, p.check.id, columns).to_pyarrow())
            rows.with_columns(formula_safe(rows.lazy())).write_csv(temporary)  # as OWASP advises
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        written.append(target)
    return written


def check_tables(ruleset: Any, db: Database) -> list[Problem]:
    """What `validate --data DATABASE` finds: for each source, a table that is not in the
    database, or a declared or used column that is not in its table, each at the source's
    line. Reads the catalogue only: no query over the data."""
    from ..compile import compile_plan
    from ..run import with_params

    try:
        con = connect_database(db)
    except AssessError as exc:
        return exc.problems
    plan = compile_plan(ruleset, with_params(ruleset, {}))
    problems = []
    try:
        for name, source in ruleset.sources.items():
            if source.parent is not None:
                continue
            try:
                conform(source, open_table(con, db, source), plan.sources[name].columns)
            except AssessError as exc:
                problems += exc.problems
    finally:
        con.disconnect()
    return problems


def connect(engine: str, data: Path | Database | None) -> Any:
    """The Ibis backend a run sends its queries to: the database given as ``--data``
    (``duckdb:///crm.duckdb``, ``postgresql://user@host/crm``: `engine.connect`), else an
    embedded DuckDB or a Spark session reading the files."""
    if isinstance(data, Database):
        return connect_database(data)
    if engine == "spark":
        return ibis.pyspark.connect(spark())
    return duckdb()


def tables(plan: Plan, con: Any, data: Path | Database | None, locate: Callable[[Source], Path]) -> tuple[dict[str, ir.Table], dict[str, Path]]:
    """Each file source's table: in the database of a URL by its `table:` or file name;
    else its file read by the engine (UTF-8 CSV and Parquet directly, other encodings and
    XLSX through Polars first)."""
    from ..execute import _csv_header, _csv_text, _unique_header, scan

    out, paths = {}, {}
    problems = []
    for name, source in plan.ruleset.sources.items():
        if source.parent is not None:
            continue
        try:
            if isinstance(data, Database):
                out[name] = open_table(con, data, source)
                paths[name] = Path(table_name(source)[1])
                continue
            path = paths[name] = locate(source)
            declared = {c: SQL_TYPES["string" if t in ("date", "datetime") else t]
                        for c, t in (source.columns or {}).items() if c not in source.borrowed}
            if path.suffix.lower() == ".csv" and _csv_text(source, path) is None:  # as `scan` does for Polars
                _unique_header(source, path, _csv_header(path, None))
            if path.suffix.lower() == ".csv" and _csv_text(source, path) is None and con.name == "duckdb":
                header = pl.read_csv(path, n_rows=0).columns
                types = {c: t for c, t in declared.items() if c in header}
                # DuckDB before 2 cannot parse an empty `types={}`
                out[name] = con.read_csv(path, table_name=f"assess_{name}", **({"types": types} if types else {}))
            elif path.suffix.lower() == ".csv" and _csv_text(source, path) is None and con.name == "pyspark":
                # dates as text, parsed by `conform` as on every engine
                out[name] = con.read_csv(str(path), table_name=f"assess_{name}", header=True,
                                         inferSchema=True, timestampFormat="yyyy-MM-dd'T'HH:mm:ss",
                                         dateFormat="yyyy-MM-dd")
            elif path.suffix.lower() == ".parquet":
                out[name] = con.read_parquet(path, table_name=f"assess_{name}")
            else:
                out[name] = con.create_table(f"assess_{name}", scan(source, path).collect().to_arrow(),
                                             overwrite=True)
        except AssessError as exc:
            problems += exc.problems
        except Exception as exc:  # the engine's own error, located at the source
            problems.append(Problem(source.location, "unreadable",
                                    f"source `{name}`: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"))
    if problems:
        raise AssessError(problems)
    return out, paths
