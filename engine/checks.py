"""Data-quality rules: one small documented function per kind.

A rule says which rows break it (a boolean expression, True on a failing row), or, for a
rule about the whole table, how many rows it checked and how many failed. The executor
computes every rule over a source in the same aggregation as the measures, so a rule
costs no extra scan, and keeps the failing-row predicate for the evidence query. Each
rule declares the keys it needs and takes, so a key meant for another rule, or a typo,
is a validation error rather than a check that silently passes.

Polars arrives through the context rather than an import, so validating a ruleset never
loads it. The docstrings are the reference: ``assess rules`` prints them.

Definitions shared by every rule: a rule's scope is the source's rows where its `where`
holds; ``rows`` counts the rows in scope, ``failed`` the failing ones, and the passing
ratio is ``(rows - failed) / rows`` over all rows in scope, nulls included. A rule with
neither `warn` nor `fail` fails on any failing row.
"""
from __future__ import annotations

import datetime as dt
import functools
import inspect
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

from .model import Check

PATTERNS = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "cn_mobile": r"(\+?86[- ]?)?1[3-9][0-9]{9}",
    "cn_postcode": r"[0-9]{6}",
}
COMMON = ("id", "title", "description", "source", "rule", "where", "by", "warn", "fail",
          "severity", "area", "fix")


@dataclass
class Context:
    """What a rule works with: the check, its engine's expression language (``d``, a
    compile.Dialect: the functions of engine.functions, ``is_in``, literals), the source's
    columns, and helpers bound to its scope. A rule written with these alone, a row rule,
    is defined once for every engine; a rule that aggregates uses Polars (``pl``) and has
    its SQL counterpart in engine.backends.ibis."""

    check: Check
    d: Any  # compile.Dialect
    column: Callable[[str], Any]  # a column of the source, as an expression of the engine
    row: Callable[[Any], Any]  # compiles a row expression of the check's source
    where: Any  # the scope as a boolean expression, or None for every row
    params: set[str] = field(default_factory=set)  # names that are params, not columns
    pl: Any = None  # the polars module, for the rules that aggregate; None on the other engines

    def option(self, key: str, default: Any = None) -> Any:
        return self.check.options.get(key, default)

    def col(self, name: str | None = None) -> Any:
        return self.column(name or self.check.options["column"])

    def fn(self, name: str, *args: Any) -> Any:
        """A function of the expression language (engine.functions), in the engine."""
        return self.d.functions[name](*args)

    def all_of(self, conditions: list[Any]) -> Any:
        return functools.reduce(operator.and_, conditions, self.d.literal(True))

    def scope(self, expr: Any) -> Any:
        """``expr`` over the rows in scope only (Polars)."""
        return expr if self.where is None else expr.filter(self.where)

    def rows(self) -> Any:
        return self.pl.len() if self.where is None else self.where.sum()


@dataclass
class Plan:
    """How to count a rule: ``failing`` marks failing rows (for the evidence, evaluated on
    the rows in scope); ``rows`` and ``failed`` default to counting it."""

    failing: Any
    columns: list[str]
    counted: Any = None  # which rows in scope are checked (None: every one); ``rows`` counts them
    rows: Any = None
    failed: Any = None
    observed: Any = None  # the measured value of a rule about the whole table
    # the source a `references` rule joins, and its key: (own column, their column) pairs
    lookup: tuple[str, tuple[tuple[str, str], ...]] | None = None
    schema: dict[str, str] | None = None  # the columns and types a `schema` rule requires
    # a duplicates rule's value (null where a row does not count): its samples are the rows
    # of a few repeated values, found by grouping rather than `failing` over every row
    repeats: Any = None


@dataclass(frozen=True)
class Rule:
    plan: Callable[[Context], Plan]
    needs: tuple[str, ...]
    takes: tuple[str, ...] = ()
    row: bool = False  # a row rule: written in the expression language alone, for every engine

    @property
    def keys(self) -> tuple[str, ...]:
        return COMMON + self.needs + self.takes


def parse_date(text: Any, kind: str, strict: bool = False) -> Any:
    """Text read as a ``date`` (2025-03-31) or a ``datetime`` (ISO 8601; one with a time
    zone becomes UTC, so every datetime compares with every other): the one reading of
    dates, for a source's declared columns (``strict``: a malformed value is an error),
    the error that names it and the ``type`` rule (null where it does not read)."""
    if kind == "date":
        return text.str.to_date("%Y-%m-%d", strict=strict)
    return text.str.to_datetime(strict=strict, time_unit="us", time_zone="UTC").dt.replace_time_zone(None)


def _text(ctx: Context, expr: Any) -> Any:
    return expr.cast(ctx.pl.String)


def _normalised(ctx: Context, name: str) -> Any:
    how = ctx.option("normalize")
    value = _text(ctx, ctx.col(name)) if how else ctx.col(name)
    if how in ("trim", "lower_trim"):
        value = value.str.strip_chars()
    if how in ("lower", "lower_trim"):
        value = value.str.to_lowercase()
    if how in ("digits", "phone"):
        value = value.str.replace_all(r"[^0-9]", "")
    if how == "phone":  # +86 138... and 138... are one number
        value = value.str.replace(r"^86([0-9]{11})$", "$1")
    if how:  # nothing left is nothing
        value = ctx.pl.when(value.str.len_chars() > 0).then(value)
    return value


def not_null(ctx: Context) -> Plan:
    """Every row has a value in ``column``.

    Fails: ``{id: email_present, source: customers, rule: not_null, column: email}`` on a
    customer whose email cell is empty. Passes when every customer has an email.
    """
    return Plan(ctx.fn("is_null", ctx.col()), [ctx.check.options["column"]])


def not_empty(ctx: Context) -> Plan:
    """Every row has a value in ``column`` that is more than spaces (blank text counts
    as missing).

    Fails: ``{rule: not_empty, column: name}`` on a name of ``"  "``. Passes when every
    name has a visible character.
    """
    return Plan(ctx.fn("is_blank", ctx.col()), [ctx.check.options["column"]])


def unique(ctx: Context) -> Plan:
    """No value (of ``column``, or combination of ``columns``) appears twice, after the
    optional ``normalize``: ``lower``, ``trim``, ``lower_trim``, ``digits`` or ``phone``
    (digits, with a leading 86 dropped). ``failed`` counts the rows beyond the first of
    each value (rows with a value - distinct values), so ``[1, 1, 1, 2, 2, 3, null]`` has
    3 failing rows of 7. The samples are rows of the smallest values repeated within the
    first 100,000 rows in scope (of the whole table when none repeats there), and
    ``--evidence`` writes every row of every repeated value. Nulls are
    ignored unless ``ignore_nulls: false`` (then they are one more value).

    Fails: ``{rule: unique, column: email, normalize: lower_trim}`` when ``A@x.cn`` and
    ``a@x.cn `` both occur. Passes when every email is distinct.
    """
    names = ctx.option("columns") or [ctx.option("column")]
    parts = [_normalised(ctx, n) for n in names]
    key = parts[0] if len(parts) == 1 else ctx.pl.struct(parts)
    if not ctx.option("ignore_nulls", True):
        return Plan(key.is_duplicated(), list(names), failed=ctx.rows() - ctx.scope(key).n_unique())
    present = ctx.pl.all_horizontal([p.is_not_null() for p in parts])
    value = key if len(parts) == 1 else ctx.pl.when(present).then(key)  # null without a value
    # n_unique counts null as one more value: subtracting it is cheaper than dropping nulls
    distinct = ctx.scope(value).n_unique().cast(ctx.pl.Int64) \
        - (ctx.scope(value).null_count() > 0).cast(ctx.pl.Int64)
    return Plan(present & key.is_duplicated(), list(names),
                failed=ctx.scope(present).sum().cast(ctx.pl.Int64) - distinct, repeats=value)


def allowed_values(ctx: Context) -> Plan:
    """Every value of ``column`` is one of ``values``; nulls are left to ``not_null``.

    Fails: ``{rule: allowed_values, column: channel, values: [phone, email, chat]}`` on a
    channel ``fax``. Passes when every channel is listed.
    """
    value = ctx.col()
    return Plan(ctx.fn("is_not_null", value) & ~ctx.d.is_in(value, list(ctx.option("values"))),
                [ctx.check.options["column"]])


def matches(ctx: Context) -> Plan:
    """Every value of ``column`` matches, as a whole, a ready-made ``pattern`` (``email``,
    ``cn_mobile``: 1[3-9] and 9 digits, with or without +86, ``cn_postcode``: 6 digits)
    or a ``regex`` (anchored for you: ``[0-9]+`` means ``^(?:[0-9]+)$``); nulls are left
    to ``not_null``.

    Fails: ``{rule: matches, column: email, pattern: email}`` on ``foo@``. Passes on
    ``foo@example.com``.
    """
    regex = PATTERNS.get(ctx.option("pattern"), ctx.option("regex"))
    value = ctx.col()
    return Plan(ctx.fn("is_not_null", value) & ~ctx.fn("matches", value, f"^(?:{regex})$"),
                [ctx.check.options["column"]])


def range_(ctx: Context) -> Plan:
    """Every value of ``column`` lies within ``min`` and ``max`` (either may be left
    out), both included unless ``min_inclusive``/``max_inclusive`` is false; nulls are
    left to ``not_null``. On a date or datetime column the bounds are dates
    (``1997-01-01``), dates and times (``1997-01-01T08:00:00``) or date params
    (``period_start``); a datetime compared with a date compares with its midnight.

    Fails: ``{rule: range, column: satisfaction, min: 1, max: 5}`` on a 6. Passes on 1..5.
    """
    def bound(given: Any) -> Any:
        if not isinstance(given, str):
            return given
        given = ctx.row(given)  # a param's value, or an ISO date
        return dt.datetime.fromisoformat(given) if isinstance(given, str) else given

    value, low, high = ctx.col(), bound(ctx.option("min")), bound(ctx.option("max"))
    out = ctx.pl.lit(False)
    if low is not None:
        out = out | ((value < low) if ctx.option("min_inclusive", True) else (value <= low))
    if high is not None:
        out = out | ((value > high) if ctx.option("max_inclusive", True) else (value >= high))
    return Plan(value.is_not_null() & out, [ctx.check.options["column"]])


def type_(ctx: Context) -> Plan:
    """Every value of ``column`` reads as ``type``: ``int``, ``float``, ``date``
    (2025-03-31) or ``datetime`` (2025-03-31T14:05:00); nulls are left to ``not_null``.
    Declare the column as ``string`` in the source's contract so the file is read as text.

    Fails: ``{rule: type, column: amount, type: float}`` on ``12,5``. Passes on ``12.5``.
    """
    pl, value = ctx.pl, _text(ctx, ctx.col())
    parsed = {"int": value.str.strip_chars().str.to_integer(strict=False),
              "float": value.str.strip_chars().cast(pl.Float64, strict=False),
              "date": parse_date(value, "date"), "datetime": parse_date(value, "datetime")
              }[ctx.option("type")]
    return Plan(value.is_not_null() & parsed.is_null(), [ctx.check.options["column"]])


def references(ctx: Context) -> Plan:
    """Every value of ``column`` exists in ``to: {source, column}`` of another source
    (the orphans fail), among that source's rows after its own ``where``. A composite key
    names ``columns`` here and in ``to``, matched in order. Numeric keys compare as
    numbers (2013 equals 2013.0); a text key against a number is an error. A row with a
    null in any key column is out of scope unless ``ignore_nulls: false`` (then it
    fails). The result also gives ``distinct_failed``, the number of distinct orphan
    keys, and ``top_failed_values``, the most frequent ones with their rows. Computed
    with one join per rule, in the same pass.

    Fails: ``{rule: references, source: interactions, column: customer_id, to: {source:
    customers, column: customer_id}}`` on an interaction of an unknown customer. Passes
    when every interaction's customer exists.
    """
    to = ctx.option("to")
    mine = list(ctx.option("columns") or [ctx.option("column")])
    theirs = list(to.get("columns") or [to.get("column")])
    found = ctx.fn("is_null", ctx.column(f"{ctx.check.id}.found"))
    lookup = (to["source"], tuple(zip(mine, theirs)))
    if not ctx.option("ignore_nulls", True):
        return Plan(found, mine, lookup=lookup)
    present = ctx.all_of([ctx.fn("is_not_null", ctx.col(c)) for c in mine])
    return Plan(found & present, mine, counted=present, lookup=lookup)


def freshness(ctx: Context) -> Plan:
    """The newest value of the date ``column`` is at most ``max_age`` days before
    ``as_of`` (a date, or the name of a date param; default ``period_end``). A rule about
    the whole table: 1 row checked, 1 failed when stale or empty; ``observed`` is the
    newest date.

    Fails: ``{rule: freshness, column: opened_at, max_age: 7}`` when the newest
    interaction is ten days old. Passes when it is from yesterday.
    """
    pl = ctx.pl
    newest = ctx.scope(ctx.col()).max().cast(pl.Date)
    as_of = ctx.row(ctx.option("as_of", "period_end"))
    stale = (newest.is_null() | (newest < pl.lit(as_of).cast(pl.Date) - pl.duration(days=ctx.option("max_age"))))
    return Plan(pl.lit(False), [ctx.check.options["column"]], rows=pl.lit(1), failed=stale.cast(pl.UInt32),
                observed=newest)


def row_count(ctx: Context) -> Plan:
    """The number of rows in scope lies within ``min`` and ``max`` (both included). A rule
    about the whole table: 1 row checked, 1 failed when out of bounds; ``observed`` is the
    count.

    Fails: ``{rule: row_count, source: customers, min: 1}`` on an empty export. Passes on
    any customer.
    """
    count = ctx.rows()
    out = ctx.pl.lit(False)
    if ctx.option("min") is not None:
        out = out | (count < ctx.option("min"))
    if ctx.option("max") is not None:
        out = out | (count > ctx.option("max"))
    return Plan(ctx.pl.lit(False), [], rows=ctx.pl.lit(1), failed=out.cast(ctx.pl.UInt32), observed=count)


def consistency(ctx: Context) -> Plan:
    """A row expression relating columns holds wherever its inputs are present: rows
    where any column it names is null are out of scope (not counted). A null result of
    present inputs (a division by zero) is not a failure.

    Fails: ``{rule: consistency, expression: "resolved_at >= opened_at"}`` on an
    interaction resolved before it was opened. Passes on unresolved interactions.
    """
    expression = ctx.check.expression
    assert expression is not None  # the rule's required option, checked by validate
    holds = ctx.d.boolean(ctx.d.lit(ctx.row(expression)))
    names = sorted(expression.names - ctx.params)
    present = ctx.all_of([ctx.fn("is_not_null", ctx.col(n)) for n in names])
    return Plan(present & ~holds.fill_null(True), names, counted=present if names else None)


def expression(ctx: Context) -> Plan:
    """A row expression is true on every row in scope; a row where it is null (a missing
    input) fails too. Use ``consistency`` to leave rows with missing inputs out.

    Fails: ``{rule: expression, expression: "not (is_blank(email) and is_blank(phone))"}``
    on a customer with neither. Passes when every customer has one of them.
    """
    expression = ctx.check.expression
    assert expression is not None  # the rule's required option, checked by validate
    holds = ctx.d.boolean(ctx.d.lit(ctx.row(expression)))
    return Plan(~holds.fill_null(False), sorted(expression.names - ctx.params))


def outside(value: Any, low: Any, high: Any, false: Any) -> Any:
    """True where ``value`` lies below ``low`` or above ``high`` (either may be None), in
    any engine's expressions (``false`` is its False)."""
    out = false
    if low is not None:
        out = out | (value < low)
    if high is not None:
        out = out | (value > high)
    return out


def distribution(ctx: Context) -> Plan:
    """Each value of ``column`` (or each of ``values``, even one that never occurs) makes
    up between ``min_share`` and ``max_share`` of the non-null rows in scope. ``rows``
    counts the values judged, ``failed`` those out of bounds; ``observed`` is the largest
    share among them; the evidence is the rows holding a value out of bounds.

    Fails: ``{rule: distribution, column: segment, max_share: 0.8}`` when 85% of customers
    are ``smb``. Passes when no segment has more than 80%.
    """
    pl, name = ctx.pl, ctx.check.options["column"]
    value = ctx.scope(ctx.col())
    low, high, listed = ctx.option("min_share"), ctx.option("max_share"), ctx.option("values")

    def out_of_bounds(s: Any) -> Any:
        return outside(s, low, high, pl.lit(False))

    if listed:  # each listed value's share, counted directly: no pairing of names and shares
        shares = [(value == v).sum() / value.count() for v in listed]
        rows, failed = pl.lit(len(listed)), pl.sum_horizontal([out_of_bounds(x).cast(pl.UInt32) for x in shares])
        observed = pl.max_horizontal(shares)
    else:  # every value: only the shares matter, not which value has which
        share = value.drop_nulls().value_counts(normalize=True).struct.field("proportion")
        rows, failed, observed = share.len(), out_of_bounds(share).sum(), share.max()
    row_share = pl.len().over(name) / ctx.col().count()
    failing = ctx.col().is_not_null() & out_of_bounds(row_share) & \
        (ctx.col().is_in(list(listed)) if listed else pl.lit(True))
    return Plan(failing, [name], rows=rows, failed=failed, observed=observed)


def schema(ctx: Context) -> Plan:
    """The source has every column of ``required`` (name: type, types as in a source's
    ``columns``). ``rows`` counts the required columns, ``failed`` those missing or of
    another type; judged from the file's schema without reading its rows.

    Fails: ``{rule: schema, source: customers, required: {customer_id: string, created_at:
    date}}`` on an export without ``created_at``. Passes when both are there.
    """
    return Plan(ctx.pl.lit(False), [], schema=dict(ctx.option("required")))


# Every rule kind, in the order `assess rules` lists them. A table rather than a decorator:
# mutmut (docs/testing.md) does not mutate decorated functions, and this way it reaches them.
RULES: dict[str, Rule] = {
    "not_null": Rule(not_null, ("column",), row=True),
    "not_empty": Rule(not_empty, ("column",), row=True),
    "unique": Rule(unique, (), ("column", "columns", "normalize", "ignore_nulls")),
    "allowed_values": Rule(allowed_values, ("column", "values"), row=True),
    "matches": Rule(matches, ("column",), ("pattern", "regex"), row=True),
    "range": Rule(range_, ("column",), ("min", "max", "min_inclusive", "max_inclusive")),
    "type": Rule(type_, ("column", "type")),
    "references": Rule(references, ("to",), ("column", "columns", "ignore_nulls"), row=True),
    "freshness": Rule(freshness, ("column", "max_age"), ("as_of",)),
    "row_count": Rule(row_count, (), ("min", "max")),
    "consistency": Rule(consistency, ("expression",), row=True),
    "expression": Rule(expression, ("expression",), row=True),
    "distribution": Rule(distribution, ("column",), ("max_share", "min_share", "values")),
    "schema": Rule(schema, ("required",)),
}


def reference() -> str:
    """Markdown reference of every rule kind, from the docstrings."""
    return "\n\n".join(f"### `{name}`\n\n{inspect.getdoc(r.plan)}\n\nKeys: "
                       + ", ".join(f"`{k}`" for k in r.needs) + (" (required)" if r.needs else "")
                       + (", " if r.needs and r.takes else "") + ", ".join(f"`{k}`" for k in r.takes)
                       for name, r in RULES.items())
