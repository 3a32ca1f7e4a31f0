"""The ruleset model: what validate builds and every later stage reads."""
from __future__ import annotations

import ast
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from .errors import Location

Text = dict[str, str]  # language code -> text; "" holds a text given without a language


def text_in(text: Text | None, lang: str, fallback: str = "") -> str:
    """Pick the text for ``lang``, else any text there is, else ``fallback``."""
    if not text:
        return fallback
    return text.get(lang) or text.get("") or text.get("en") or next(iter(text.values()))


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, where it was written and the names it uses."""

    text: str
    tree: ast.expr
    location: Location
    names: frozenset[str]
    attributes: frozenset[tuple[str, str]]  # name.attr pairs (action conditions only)


class Join(NamedTuple):
    """Columns borrowed from another source by a key: ``on`` pairs each own key column
    with the lender's (a composite key has several pairs)."""

    source: str
    on: tuple[tuple[str, str], ...]  # (own column, lender's column)
    columns: tuple[str, ...]
    location: Location

    @property
    def own(self) -> list[str]:
        return [own for own, _ in self.on]


@dataclass
class Source:
    name: str
    path: str
    location: Location
    where: Expression | None = None
    columns: dict[str, str] | None = None  # the data contract, when declared
    key: list[str] = field(default_factory=list)
    by: list[str] | None = None  # its entity key columns, when named unlike the ruleset's `by`
    joins: list[Join] = field(default_factory=list)  # columns borrowed from other sources
    compute: dict[str, Expression] = field(default_factory=dict)  # computed columns, in order

    @property
    def borrowed(self) -> set[str]:
        """Columns that are not in the file: borrowed from other sources, or computed."""
        return {c for j in self.joins for c in j.columns} | set(self.compute)

    def steps(self) -> list[str | Join]:
        """Its computed columns (by name) and joins in the order they can be made: each
        computed column after the columns it uses, each join after the columns of its key;
        otherwise in the order written. What cannot be ordered (a computed column and a
        join that need each other) is left out; validate reports it."""
        made = {c for j in self.joins for c in j.columns} | set(self.compute)
        pending: list[str | Join] = [*self.compute, *self.joins]
        have: set[str] = set()
        out: list[str | Join] = []
        while pending:
            ready = next((s for s in pending if not (set(s.own) if isinstance(s, Join)
                          else set(self.compute[s].names)) & made - have), None)
            if ready is None:
                break
            pending.remove(ready)
            out.append(ready)
            have |= set(ready.columns) if isinstance(ready, Join) else {ready}
        return out
    parent: str | None = None  # a derived source: the source it groups
    group_by: list[str] = field(default_factory=list)
    aggregate: dict[str, "Measure"] = field(default_factory=dict)  # its aggregated columns
    encoding: str | None = None  # of a CSV file; None: UTF-8, or GB18030 when it is not
    sheet: str | None = None  # of an xlsx file; None: the first
    table: str | None = None  # in a database; None: named like the file
    schema: str | None = None  # in a database; None: the connection's default


@dataclass
class Measure:
    name: str
    source: str
    agg: str  # count | sum | mean | median | min | max | n_unique | quantile
    of: Expression | None  # None: count rows
    where: Expression | None
    location: Location
    q: float = 0.5
    label: Expression | None = None  # for `top`: what to report of the top row
    by: list[str] = field(default_factory=list)  # a breakdown: reported per group, not in formulas
    title: Text = field(default_factory=dict)
    shared: bool = False  # per entity: every entity gets the overall value
    allocate: str | None = None  # per entity: the overall value times the entity's share of this measure


@dataclass
class Scoring:
    method: str
    bands: list[tuple[float, float]] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    tolerance: float | None = None
    clip: float = 2.0


@dataclass
class Kpi:
    id: str
    title: Text
    formula: Expression
    category: str
    location: Location
    unit: str = "ratio"
    better: str = "higher"
    decimals: int | None = None  # display precision as declared; see display_decimals
    target: float | None = None
    floor: float | None = None
    benchmark: float | None = None
    weight: float = 1.0
    near: float = 0.05
    on_null: str | float = "n/a"
    scoring: Scoring = field(default_factory=lambda: Scoring("ratio"))
    requires: list[str] = field(default_factory=list)  # checks it relies on
    scored: bool = True  # False: tracked, shown with its value, never scored or weighed
    description: Text = field(default_factory=dict)

    def uses(self, kpis: Iterable[str]) -> list[str]:
        """The KPIs of ``kpis`` its formula uses, by name: the one dependency relation that
        validation orders the KPIs by (and finds cycles in) and evaluation levels them by."""
        return sorted(self.formula.names & set(kpis))


# Decimals shown per unit (percent in points: 85.3%), points as scores are (98.9); a count
# has none, so a whole number stays whole and an average shows two (1.87 incidents)
UNIT_DECIMALS = {"ratio": 3, "percent": 1, "currency": 2, "hours": 1, "days": 1, "points": 1}


def display_decimals(kpi: Kpi) -> int | None:
    """The decimals a KPI's values are shown with: as declared, else the unit's and at
    least one more than its target is written with, so a value just short of a 99.9 %
    target reads 99.87 %, not 99.9 %."""
    if kpi.decimals is not None:
        return kpi.decimals
    base = UNIT_DECIMALS.get(kpi.unit)
    if kpi.target is None or not math.isfinite(kpi.target):
        return base
    shown = kpi.target * 100 if kpi.unit == "percent" else kpi.target
    written = f"{shown:.6f}".rstrip("0").split(".")[1]  # at most 6 decimals: float noise beyond
    return max(base or 0, len(written) + 1) if written else base


@dataclass
class Breakdown:
    """A formula computed in each group of ``by``, over measures broken down by the same
    columns: a table on reports, never scored."""

    id: str
    by: list[str]
    formula: Expression
    location: Location
    title: Text = field(default_factory=dict)
    unit: str = "ratio"

    def uses(self, measures: dict[str, Measure]) -> list[Measure]:
        """The measures its formula uses, in the ruleset's order."""
        return [m for m in measures.values() if m.name in self.formula.names]


@dataclass
class Category:
    id: str
    title: Text
    weight: float = 1.0
    rollup: str = "mean"


@dataclass
class Grade:
    min: float
    grade: str
    label: Text = field(default_factory=dict)


Threshold = tuple[str, str, float]  # (metric: ratio | failed_ratio | failed | rows, operator, number)
SEVERITY = {"low": 1, "medium": 2, "high": 3}  # weights in the data-quality score
QUALITY = "data_quality"  # the name a KPI formula uses for the data-quality score


def quality_name(group: str = "") -> str:
    """``data_quality`` (all checks), or ``data_quality_<group>`` for one source's or area's."""
    return f"{QUALITY}_{group}" if group else QUALITY


def quality_group(name: str) -> str:
    """The source or area of a :func:`quality_name` ("" for all checks)."""
    return name.removeprefix(QUALITY).removeprefix("_")


@dataclass
class Check:
    id: str
    source: str
    rule: str
    location: Location
    title: Text = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # the rule's own keys, as written
    expression: Expression | None = None
    where: Expression | None = None
    warn: Threshold | None = None
    fail: Threshold | None = None
    by: list[str] = field(default_factory=list)  # report per group of these columns too
    severity: str = "medium"
    area: str | None = None
    fix: Text = field(default_factory=dict)  # the improvement measure, shown when it fails
    description: Text = field(default_factory=dict)


@dataclass
class Action:
    id: str
    when: Expression
    text: Text
    location: Location
    priority: str = "medium"
    owner: Text = field(default_factory=dict)
    scope: str = "overall"  # overall | entity


DEFAULT_GRADES = [Grade(90, "A", {"en": "Excellent", "zh": "优秀"}),
                  Grade(80, "B", {"en": "Good", "zh": "良好"}),
                  Grade(70, "C", {"en": "Fair", "zh": "中等"}),
                  Grade(60, "D", {"en": "Weak", "zh": "较差"}),
                  Grade(0, "E", {"en": "Poor", "zh": "差"})]


@dataclass
class Ruleset:
    id: str
    file: Path
    title: Text
    description: Text
    version: str
    params: dict[str, Any]
    sources: dict[str, Source]
    measures: dict[str, Measure]
    kpis: dict[str, Kpi]  # in evaluation order: every KPI after the KPIs it uses
    categories: dict[str, Category]
    grades: list[Grade]
    checks: list[Check]
    actions: list[Action]
    samples: int = 100
    areas: dict[str, Text] = field(default_factory=dict)  # titles of the check areas
    by: list[str] = field(default_factory=list)  # entity key columns; empty: no entities
    names: tuple[str, str] | None = None  # (source, column) of entity display names
    compare: str | None = None  # previous
    trend: str | None = None  # month | quarter
    warnings: list[Any] = field(default_factory=list)  # Problems that do not stop a run
    breakdowns: dict[str, Breakdown] = field(default_factory=dict)  # formulas per group

    def key_of(self, source: Source) -> list[str]:
        """The columns of ``source`` that hold the entity key."""
        return source.by or self.by


PEER_METHODS = ("percentile", "zscore")


DATA_FORMATS = (".csv", ".parquet", ".xlsx")  # the files a source (or --data) is read from


def reversed_period(params: dict[str, Any]) -> str | None:
    """What is wrong with a period whose start comes after its end (it would select no row
    and score nothing), or None."""
    start, end = params.get("period_start"), params.get("period_end")
    if isinstance(start, dt.date) and isinstance(end, dt.date) and start > end:
        return f"period_start {start.isoformat()} is after period_end {end.isoformat()}"
    return None


def derived_params(params: dict[str, Any]) -> dict[str, Any]:
    """previous_start and previous_end, the period of the same length just before
    period_start..period_end (in calendar months when the period is whole months), and
    period_days, its length; only when both are dates."""
    start, end = params.get("period_start"), params.get("period_end")
    if not (isinstance(start, dt.date) and isinstance(end, dt.date)) or end < start:
        return {}
    length = end - start + dt.timedelta(days=1)
    try:
        previous_start = start - length
        if start.day == 1 and end.day == _last_day(end):
            # whole months: the same number of calendar months before (2025 -> 2024, Q2 -> Q1)
            months = (end.year - start.year) * 12 + end.month - start.month + 1
            first = start.year * 12 + start.month - 1 - months
            previous_start = dt.date(first // 12, first % 12 + 1, 1)
    except (OverflowError, ValueError):  # before the year 1: no previous period (see period_problem)
        return {"period_days": length.days}
    return {"previous_start": previous_start, "previous_end": start - dt.timedelta(days=1),
            "period_days": length.days}


def _last_day(d: dt.date) -> int:
    return 31 if d.month == 12 else (dt.date(d.year, d.month + 1, 1) - dt.timedelta(days=1)).day


MAX_TREND_PERIODS = 600  # 50 years of months: each period is a pass of every measure


def period_problem(params: dict[str, Any], trend: str | None) -> str | None:
    """Why the period params cannot be used, or None: a period with no previous one within
    the years 1 to 9999, or a trend of more periods than a report can hold."""
    start, end = params.get("period_start"), params.get("period_end")
    if not (isinstance(start, dt.date) and isinstance(end, dt.date)) or end < start:
        return None
    if "previous_start" not in derived_params(params):
        return f"period_start {start}: the period before it would begin before the year 1"
    if trend and (end.year, end.month) == (9999, 12):
        return f"period_end {end}: a trend needs the month after the period, past the year 9999"
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if trend and months // (3 if trend == "quarter" else 1) > MAX_TREND_PERIODS:
        return f"the trend of {start}..{end} has more than {MAX_TREND_PERIODS} periods"
    return None
