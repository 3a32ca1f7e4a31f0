"""The ruleset model: what validate builds and every later stage reads."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class Source:
    name: str
    path: str
    location: Location
    where: Expression | None = None
    columns: dict[str, str] | None = None  # the data contract, when declared
    key: list[str] = field(default_factory=list)
    encoding: str | None = None  # of a CSV file; None: UTF-8, or GB18030 when it is not


@dataclass
class Measure:
    name: str
    source: str
    agg: str  # count | sum | mean | median | min | max | n_unique | quantile
    of: Expression | None  # None: count rows
    where: Expression | None
    location: Location
    q: float = 0.5


@dataclass
class Scoring:
    method: str
    bands: list[tuple[float, float]] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    tolerance: float | None = None


@dataclass
class Kpi:
    id: str
    title: Text
    formula: Expression
    category: str
    location: Location
    unit: str = "ratio"
    better: str = "higher"
    target: float | None = None
    floor: float | None = None
    benchmark: float | None = None
    weight: float = 1.0
    near: float = 0.05
    on_null: str | float = "n/a"
    scoring: Scoring = field(default_factory=lambda: Scoring("ratio"))
    description: Text = field(default_factory=dict)


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


@dataclass
class Check:
    id: str
    source: str
    rule: str
    location: Location
    title: Text = field(default_factory=dict)
    column: str | None = None
    expression: Expression | None = None
    where: Expression | None = None
    warn: tuple[str, float] | None = None
    fail: tuple[str, float] | None = None


@dataclass
class Action:
    id: str
    when: Expression
    text: Text
    location: Location
    priority: str = "medium"
    owner: Text = field(default_factory=dict)


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
    samples: int = 20
