"""The result model: the one contract between evaluation and rendering.

Every format (terminal, Markdown, HTML, JSON) is rendered from a :class:`Result` and
nothing else; ``to_json`` gives the document that schemas/result.schema.json describes.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from decimal import Decimal
from dataclasses import dataclass, field
from typing import Any


@dataclass
class KpiResult:
    id: str
    title: str
    value: float | None
    target: float | None
    floor: float | None
    benchmark: float | None
    score: float | None
    weight: float  # as declared in the ruleset
    share: float  # effective share of the total score (0..1), after redistribution
    status: str  # met | near | missed | n/a
    category: str
    unit: str
    better: str
    formula: str
    reason: str | None = None  # why the value is n/a
    gain: float | None = None  # points the total would gain if the KPI reached its target
    previous: float | None = None  # the value over the previous period (compare: previous)
    change: float | None = None  # value - previous
    change_pct: float | None = None  # change / |previous|
    improved: bool | None = None  # the change goes the way `better` says; None when unchanged
    trend: list[dict[str, Any]] = field(default_factory=list)  # {period, value, score} per month/quarter
    since_last: float | None = None  # change of the value since the previous run (--history)
    unreliable: list[str] = field(default_factory=list)  # required checks that failed
    decimals: int | None = None  # shown with (model.display_decimals); the numbers keep full precision


@dataclass
class CategoryResult:
    id: str
    title: str
    score: float | None
    weight: float
    share: float
    rollup: str
    kpis: list[str]


@dataclass
class CheckResult:
    id: str
    title: str
    source: str
    rule: str
    status: str  # pass | warn | fail
    rows: int
    failed: int
    ratio: float | None  # share of rows that pass
    samples: list[dict[str, Any]] = field(default_factory=list)
    severity: str = "medium"
    area: str | None = None
    fix: str = ""  # the improvement measure
    observed: Any = None  # the measured value of a rule about the whole table
    groups: list[dict[str, Any]] = field(default_factory=list)  # {group, rows, failed, ratio, status} per `by`
    distinct_failed: int | None = None  # references: distinct failing keys
    top_failed_values: list[dict[str, Any]] = field(default_factory=list)  # references: {value, rows}, most rows first
    warn: str | None = None  # the thresholds as the ruleset sets them ("ratio < 0.99"); with
    fail: str | None = None  # neither, any failing row fails


@dataclass
class ActionResult:
    id: str
    priority: str
    text: str
    owner: str
    gain: float | None
    kpis: list[str]
    entity: str | None = None  # the entity it is for (scope: entity)


@dataclass
class Verdict:
    """What the reports open with: how the data-quality rules came out, failures first.
    `grade_withheld`: a rule at level `fail` failed, so the reports show a "failed"
    banner beside the grade letter instead of the grade's label ("Trustworthy")."""

    status: str  # pass | warn | fail: the worst check status (pass when there are no checks)
    passed: int
    warned: int
    failed: int
    failures: list[dict[str, Any]] = field(default_factory=list)  # {id, title, status, rows}, fail before warn
    grade_withheld: bool = False

    @classmethod
    def of(cls, checks: list[CheckResult]) -> Verdict:
        count = {s: sum(c.status == s for c in checks) for s in ("pass", "warn", "fail")}
        status = "fail" if count["fail"] else "warn" if count["warn"] else "pass"
        failures = [{"id": c.id, "title": c.title, "status": c.status, "rows": c.failed}
                    for level in ("fail", "warn") for c in checks if c.status == level]
        return cls(status, count["pass"], count["warn"], count["fail"], failures, count["fail"] > 0)

    def line(self) -> str:
        """One line for stderr when `run` exits 1."""
        failed = [f for f in self.failures if f["status"] == "fail"]
        return (f"{len(failed)} rule{'s' if len(failed) != 1 else ''} at level fail failed: "
                + ", ".join(f"{f['id']} ({f['rows']:,} rows)" for f in failed))


@dataclass
class Previous:
    """The scorecard over the previous period (`compare: previous`)."""

    score: float | None
    grade: str
    change: float | None  # score - previous score
    rank: int | None = None  # entities: the rank among the previous period's scores
    rank_change: int | None = None  # positions gained (+) or lost (-)


@dataclass
class SourceResult:
    name: str
    path: str
    rows: int


@dataclass
class EntityResult:
    """The scorecard of one entity (a vendor, an owner, a region)."""

    id: str  # the key value(s), joined by " / "
    name: str
    rank: int | None  # 1 is best; ties share a rank; None when not ranked (see `unranked`)
    score: float | None
    grade: str
    grade_label: str
    kpis: list[KpiResult]
    categories: list[CategoryResult]
    strengths: list[str] = field(default_factory=list)
    weaknesses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unranked: str | None = None  # why it is not ranked with the others
    since_last: float | None = None  # change of the score since the previous run (--history)
    previous: Previous | None = None  # compare: previous

    def kpi(self, id: str) -> KpiResult:
        return next(k for k in self.kpis if k.id == id)


@dataclass
class Result:
    ruleset: str
    title: str
    version: str
    lang: str
    params: dict[str, Any]
    sources: list[SourceResult]
    score: float | None
    grade: str
    grade_label: str
    kpis: list[KpiResult]
    categories: list[CategoryResult]
    checks: list[CheckResult]
    actions: list[ActionResult] = field(default_factory=list)
    strengths: list[str] = field(default_factory=list)  # KPI and category ids
    weaknesses: list[str] = field(default_factory=list)
    profile: list[dict[str, Any]] = field(default_factory=list)  # why each is a strength or weakness
    notes: list[str] = field(default_factory=list)
    by: list[str] = field(default_factory=list)  # entity key columns
    entities: list[EntityResult] = field(default_factory=list)  # ranked first, then unranked
    breakdowns: list[dict[str, Any]] = field(default_factory=list)  # {source, by, measures, rows}
    definitions: dict[str, Any] = field(default_factory=dict)  # measures and sources, for "how computed"
    quality: dict[str, Any] = field(default_factory=dict)  # data-quality scores: overall, sources, areas
    areas: dict[str, str] = field(default_factory=dict)  # area id -> title
    run: str = ""  # id of the run in the history store
    since_last: float | None = None  # change of the total since the previous run (--history)
    engine: str = "polars"  # where the queries ran: polars, duckdb, postgres, spark
    queries: int = 0  # how many queries the run sent to it
    # with more than run.CARDS entities: how their scores spread (grade counts, a histogram,
    # how often each entity action fires), and `entities` holds only the top and bottom
    population: dict[str, Any] | None = None
    table: Any = field(default=None, repr=False, compare=False)  # every entity scored, a Polars frame
    verdict: Verdict = field(default_factory=lambda: Verdict("pass", 0, 0, 0))
    previous: Previous | None = None  # compare: previous
    period: dict[str, Any] | None = None  # {start, end} when the ruleset has period params
    focus: str | None = None  # the one entity asked for (--entity): its score heads the reports

    @property
    def failed(self) -> bool:
        """A data-quality rule at level `fail` failed."""
        return any(c.status == "fail" for c in self.checks)

    def kpi(self, id: str) -> KpiResult:
        return next(k for k in self.kpis if k.id == id)

    @property
    def head(self) -> Result | EntityResult:
        """The scorecard the headline shows: the entity asked for, else the whole."""
        return self.entity(self.focus) if self.focus else self

    def entity(self, id: str) -> EntityResult:
        return next(e for e in self.entities if e.id == id)


def _plain(value: Any) -> Any:
    """JSON's types, walking dataclasses by their fields (dataclasses.asdict deep-copies
    every leaf: seconds on a result with thousands of entities)."""
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__ if name != "table"}
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):  # a Decimal column of the data
        return float(value)
    if isinstance(value, (bytes, bytearray)):  # a Binary column: its text, bytes that are not shown escaped
        return bytes(value).decode("utf-8", "backslashreplace")
    return value


def to_json(result: Result) -> dict[str, Any]:
    return _plain(result)
