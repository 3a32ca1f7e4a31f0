"""Data-quality rules: one small documented function per kind.

Each rule receives the check and a row compiler, and says which rows break it (a boolean
Polars expression, True on a failing row) and which columns show the evidence. The
executor counts the failing rows in the same aggregation as the measures, so a rule costs
no extra scan. Adding a kind is adding one function here and its name to the schema's
``rule`` enum. The docstrings are the reference (``assess rules`` prints them).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import polars as pl

from .model import Check, Expression

RowCompiler = Callable[[Expression], pl.Expr]


@dataclass
class CheckRule:
    failing: pl.Expr
    columns: list[str]


def not_null(check: Check, row: RowCompiler) -> CheckRule:
    """Every row has a value in ``column``.

    Fails::

        {id: email_present, source: customers, rule: not_null, column: email}
        # on a customer whose email cell is empty

    Passes when every customer has an email.
    """
    return CheckRule(pl.col(check.column).is_null(), [check.column])


def expression(check: Check, row: RowCompiler) -> CheckRule:
    """A row expression holds on every row. Rows where it is null (a missing input)
    are not counted as failing: pair it with ``not_null`` when a value is required.

    Fails::

        {id: resolved_after_opened, source: interactions, rule: expression,
         expression: "resolved_at >= opened_at"}
        # on an interaction resolved before it was opened

    Passes when every resolved interaction was resolved after it was opened.
    """
    holds = row(check.expression).cast(pl.Boolean)
    return CheckRule(~holds.fill_null(True), sorted(check.expression.names))


RULES: dict[str, Callable[[Check, RowCompiler], CheckRule]] = {
    f.__name__: f for f in (not_null, expression)
}


def reference() -> str:
    """Markdown reference of every rule kind, from the docstrings."""
    return "\n\n".join(f"### `{name}`\n\n{inspect.getdoc(fn)}" for name, fn in RULES.items())
