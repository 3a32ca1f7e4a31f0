"""The function library of the expression language.

Every function here is callable from formulas, ``where`` filters, check expressions and
action conditions. Each is a small vectorized builder: it receives the ``polars`` module
and its arguments (Polars expressions, or plain Python values for literals) and returns a
Polars expression; it never runs per row. Polars is passed in rather than imported so
that validating a ruleset never loads it. The docstrings are the reference documentation
(``assess functions`` prints them).
"""
from __future__ import annotations

import datetime as dt
import inspect
from types import ModuleType
from typing import Any, Callable

Value = Any  # a polars Expr or a Python literal


def expr(pl: ModuleType, x: Value) -> Any:
    """A value as a Polars expression: a column stays itself, a literal becomes ``pl.lit``."""
    return x if isinstance(x, pl.Expr) else pl.lit(x)


def _text(pl: ModuleType, x: Value) -> Any:
    """A text argument: a column stays a column, a literal becomes its text."""
    return x if isinstance(x, pl.Expr) else str(x)


def coalesce(pl: ModuleType, x: Value, *others: Value) -> Any:
    """The first of its arguments that is not null. ``coalesce(satisfaction, 3)``"""
    return pl.coalesce([expr(pl, v) for v in (x, *others)])


def is_null(pl: ModuleType, x: Value) -> Any:
    """True where the value is missing. ``is_null(churned_at)``"""
    return expr(pl, x).is_null()


def is_not_null(pl: ModuleType, x: Value) -> Any:
    """True where the value is present. ``is_not_null(converted_at)``"""
    return expr(pl, x).is_not_null()


def is_blank(pl: ModuleType, s: Value) -> Any:
    """True where a text is missing or only spaces. ``is_blank(email)``"""
    s = expr(pl, s)
    return s.is_null() | (s.cast(pl.String).str.strip_chars() == "")


def div(pl: ModuleType, a: Value, b: Value, default: Value = None) -> Any:
    """``a / b``, or ``default`` (null unless given) where ``b`` is zero or null.
    ``div(complaints, interactions, 0)``. Plain ``/`` already gives null on zero."""
    a, b = expr(pl, a), expr(pl, b)
    return pl.when(b != 0).then(a / b).otherwise(expr(pl, default))


def abs(pl: ModuleType, x: Value) -> Any:  # noqa: A001 - the name users write
    """Absolute value. ``abs(change)``"""
    return expr(pl, x).abs()


def round(pl: ModuleType, x: Value, digits: Value = 0) -> Any:  # noqa: A001
    """Rounded to ``digits`` decimals (a literal integer). ``round(score, 1)``"""
    if isinstance(digits, pl.Expr) or digits != int(digits):
        raise ValueError("round: the number of digits must be a whole number, written literally")
    return expr(pl, x).round(int(digits))


def min(pl: ModuleType, x: Value, *others: Value) -> Any:  # noqa: A001
    """The smallest of its arguments, row by row, skipping nulls (``min(null, 10)`` is 10).
    ``min(hours, 72)``"""
    return pl.min_horizontal([expr(pl, v) for v in (x, *others)])


def max(pl: ModuleType, x: Value, *others: Value) -> Any:  # noqa: A001
    """The largest of its arguments, row by row, skipping nulls. ``max(amount, 0)``"""
    return pl.max_horizontal([expr(pl, v) for v in (x, *others)])


def clip(pl: ModuleType, x: Value, low: Value, high: Value) -> Any:
    """``x`` limited to ``low..high``. ``clip(uptime_pct, 0, 100)``"""
    return expr(pl, x).clip(expr(pl, low), expr(pl, high))


def between(pl: ModuleType, x: Value, low: Value, high: Value) -> Any:
    """True where ``low <= x <= high``, both ends included.
    ``between(date(created_at), period_start, period_end)``"""
    return expr(pl, x).is_between(expr(pl, low), expr(pl, high), closed="both")


def date(pl: ModuleType, x: Value, month: Value = None, day: Value = None) -> Any:
    """A calendar date: ``date('2025-03-31')``, ``date(2025, 3, 31)``, or the date part of a
    datetime column, ``date(opened_at)``."""
    if month is not None or day is not None:
        if month is None or day is None:
            raise ValueError("date: give a year, a month and a day, or one date")
        return dt.date(int(x), int(month), int(day))
    if isinstance(x, str):
        return dt.date.fromisoformat(x)
    if isinstance(x, (dt.date,)):
        return x.date() if isinstance(x, dt.datetime) else x
    return expr(pl, x).cast(pl.Date)


def datetime(pl: ModuleType, x: Value) -> Any:
    """A date and time: ``datetime('2025-03-31T08:00:00')``, or a date column as midnight
    of its day. ``opened_at >= datetime('2025-01-01T08:00:00')``"""
    if isinstance(x, str):
        return dt.datetime.fromisoformat(x)
    if isinstance(x, dt.date) and not isinstance(x, dt.datetime):
        return dt.datetime(x.year, x.month, x.day)
    return expr(pl, x).cast(pl.Datetime("us"))


def month_start(pl: ModuleType, text: Value) -> Any:
    """The first day of a month written ``YYYY-MM`` (as in monthly tables).
    ``between(month_start(month), period_start, period_end)``"""
    return (expr(pl, text).cast(pl.String) + "-01").str.to_date("%Y-%m-%d", strict=False)


def year(pl: ModuleType, d: Value) -> Any:
    """The year of a date. ``year(created_at) == 2025``"""
    return expr(pl, d).dt.year()


def month(pl: ModuleType, d: Value) -> Any:
    """The month (1-12) of a date. ``month(ordered_at) in (11, 12)``"""
    return expr(pl, d).dt.month()


MAX_DAYS = 3_660_000  # about 10,000 years: a duration beyond would wrap around in microseconds


def _duration(pl: ModuleType, n: Value, unit: str, per_day: int) -> Any:
    """A duration of ``n`` units; beyond MAX_DAYS an error for a number written out, null
    for a column's value (never a count that wrapped around)."""
    limit = MAX_DAYS * per_day
    if not isinstance(n, pl.Expr):
        if isinstance(n, (int, float)) and not -limit <= n <= limit:
            raise ValueError(f"{unit}({n}) is out of range (at most {limit:,} {unit})")
        return pl.duration(**{unit: expr(pl, n)})
    return pl.when(n.abs() <= limit).then(pl.duration(**{unit: n}))


def days(pl: ModuleType, n: Value) -> Any:
    """A duration of ``n`` days, to add to dates or compare with differences.
    ``resolved_at - opened_at <= days(3)``"""
    return _duration(pl, n, "days", 1)


def hours(pl: ModuleType, n: Value) -> Any:
    """A duration of ``n`` hours. ``first_response_at - opened_at <= hours(24)``"""
    return _duration(pl, n, "hours", 24)


def minutes(pl: ModuleType, n: Value) -> Any:
    """A duration of ``n`` minutes. ``ended_at - started_at > minutes(30)``"""
    return _duration(pl, n, "minutes", 24 * 60)


def hours_between(pl: ModuleType, start: Value, end: Value) -> Any:
    """Hours from ``start`` to ``end`` (fractional; null if either is missing).
    ``hours_between(opened_at, first_response_at)``"""
    return (expr(pl, end) - expr(pl, start)).dt.total_hours(fractional=True)


def days_between(pl: ModuleType, start: Value, end: Value) -> Any:
    """Days from ``start`` to ``end`` (fractional). ``days_between(created_at, period_end)``"""
    return (expr(pl, end) - expr(pl, start)).dt.total_days(fractional=True)


def matches(pl: ModuleType, s: Value, pattern: Value) -> Any:
    """True where the text matches the regular expression (anywhere; anchor with ^ and $).
    ``matches(email, '^[^@ ]+@[^@ ]+\\.[a-z]+$')``"""
    return expr(pl, s).cast(pl.String).str.contains(_text(pl, pattern))


def valid(pl: ModuleType, s: Value, pattern: Value) -> Any:
    """True where the whole text matches a ready-made pattern: ``email``, ``cn_mobile``
    (1[3-9] and 9 digits, +86 optional) or ``cn_postcode``, as the ``matches`` rule
    checks them. ``valid(email, 'email') or valid(phone, 'cn_mobile')``"""
    return expr(pl, s).cast(pl.String).str.contains(whole_pattern(pattern))


def whole_pattern(pattern: Value) -> str:
    """The regex of ready-made ``pattern`` matching a whole text, for every engine; the one
    error for a name that is not a pattern."""
    from .checks import PATTERNS

    if str(pattern) not in PATTERNS:
        raise ValueError(f"valid: no pattern `{pattern}`; patterns: {', '.join(PATTERNS)}")
    return f"^(?:{PATTERNS[str(pattern)]})$"


def contains(pl: ModuleType, s: Value, text: Value) -> Any:
    """True where the text contains ``text`` literally. ``contains(name, 'test')``"""
    return expr(pl, s).cast(pl.String).str.contains(_text(pl, text), literal=True)


def startswith(pl: ModuleType, s: Value, prefix: Value) -> Any:
    """True where the text starts with ``prefix``. ``startswith(phone, '+86')``"""
    return expr(pl, s).cast(pl.String).str.starts_with(_text(pl, prefix))


def endswith(pl: ModuleType, s: Value, suffix: Value) -> Any:
    """True where the text ends with ``suffix``. ``endswith(email, '.cn')``"""
    return expr(pl, s).cast(pl.String).str.ends_with(_text(pl, suffix))


def lower(pl: ModuleType, s: Value) -> Any:
    """The text in lower case. ``lower(channel) == 'web'``"""
    return expr(pl, s).cast(pl.String).str.to_lowercase()


def upper(pl: ModuleType, s: Value) -> Any:
    """The text in upper case. ``upper(region)``"""
    return expr(pl, s).cast(pl.String).str.to_uppercase()


def strip(pl: ModuleType, s: Value) -> Any:
    """The text without leading and trailing spaces. ``strip(name) != ''``"""
    return expr(pl, s).cast(pl.String).str.strip_chars()


def length(pl: ModuleType, s: Value) -> Any:
    """Number of characters of the text. ``length(phone) == 11``"""
    return expr(pl, s).cast(pl.String).str.len_chars()


def share_of_total(pl: ModuleType, x: Value) -> Any:
    """In a KPI formula with entities: the entity's share of the sum over all entities
    (1 on the overall scorecard). ``share_of_total(revenue)``"""
    return expr(pl, x) / expr(pl, x).sum()


def rank(pl: ModuleType, x: Value) -> Any:
    """In a KPI formula with entities: 1 for the largest value, ties sharing the best rank
    (1, 1, 3), nulls unranked. ``rank(revenue)``"""
    return expr(pl, x).rank(method="min", descending=True)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    f.__name__: f for f in (
        coalesce, is_null, is_not_null, is_blank, div, abs, round, min, max, clip, between,
        date, datetime, month_start, year, month, days, hours, minutes, hours_between, days_between,
        matches, valid, contains, startswith, endswith, lower, upper, strip, length, share_of_total, rank)
}


# The functions whose result is null when an argument is a literal null (a division by a
# zero param folded to None): Polars cannot take the absolute value or the year of an
# untyped null, and text functions would read it as the text "None". The rest decide
# about nulls themselves (coalesce, is_null, div's default, min and max skip them).
NULL_IN_NULL_OUT = frozenset((
    "abs", "round", "clip", "date", "datetime", "month_start", "year", "month", "days", "hours",
    "minutes", "hours_between", "days_between", "matches", "contains", "startswith", "endswith",
    "lower", "upper", "strip", "length", "share_of_total", "rank"))


def null_in_null_out(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` returning None for a folded null argument when ``name`` is in NULL_IN_NULL_OUT."""
    if name not in NULL_IN_NULL_OUT:
        return f
    return lambda *args: None if any(a is None for a in args) else f(*args)


# What validate's type check knows of the functions: the arguments that must be dates, and
# the kind of value each returns (number, date, text, bool, duration; "same" as its first
# argument). A function missing here is simply not checked.
TAKES_DATES = {"year": (0,), "month": (0,), "hours_between": (0, 1), "days_between": (0, 1)}
RETURNS = {
    **dict.fromkeys(("div", "abs", "round", "clip", "year", "month", "hours_between", "days_between",
                     "length", "share_of_total", "rank"), "number"),
    **dict.fromkeys(("date", "datetime", "month_start"), "date"),
    **dict.fromkeys(("days", "hours", "minutes"), "duration"),
    **dict.fromkeys(("is_null", "is_not_null", "is_blank", "between", "matches", "valid", "contains",
                     "startswith", "endswith"), "bool"),
    **dict.fromkeys(("lower", "upper", "strip"), "text"),
    **dict.fromkeys(("coalesce", "min", "max"), "same"),
}


def arity(name: str) -> tuple[int, int | None]:
    """(fewest, most) arguments the function takes; most is None when unbounded."""
    params = list(inspect.signature(FUNCTIONS[name]).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return sum(p.default is p.empty and p.kind is not p.VAR_POSITIONAL for p in params), None
    return sum(p.default is p.empty for p in params), len(params)


def reference() -> str:
    """Markdown reference of every function, from the docstrings."""
    lines = []
    for name, fn in FUNCTIONS.items():
        params = list(inspect.signature(fn).parameters.values())[1:]
        sig = ", ".join(("*" if p.kind is p.VAR_POSITIONAL else "") + p.name for p in params)
        lines.append(f"- `{name}({sig})`: {' '.join((inspect.getdoc(fn) or '').split())}")
    return "\n".join(lines)
