"""`assess test`: a ruleset's own test cases, run like unit tests.

A case gives small tables per source (or a folder of tables), params, and the values the
assessment must give: KPI values, scores and statuses, the total, the grade, check
outcomes, the actions that fire, entities. Each case runs the whole flow on its tables,
so a ruleset change that moves a number is caught before it merges.
"""
from __future__ import annotations

import datetime as dt
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from .errors import AssessError, Location, Problem, did_you_mean
from .execute import TYPES
from .load import Document, load_file
from .model import Ruleset
from .result import KpiResult, Result
from .run import assess
from .validate import load_ruleset, ruleset_schema, schema_problems

TESTS_SUFFIXES = (".tests.yaml", ".tests.yml")


@dataclass
class Outcome:
    file: str
    name: str
    failures: list[str] = field(default_factory=list)
    error: str | None = None  # the case could not run

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclass
class Suite:
    """The cases of one ruleset, wherever they are written."""

    ruleset: Path
    file: Path  # where the cases are written
    cases: list[tuple[dict[str, Any], Location, Location]]  # each case, where it and its `data:` stand


def _tests_schema() -> dict[str, Any]:
    schema = ruleset_schema()
    return {"type": "object", "additionalProperties": False, "required": ["cases"],
            "properties": {"ruleset": {"type": "string"},
                           "cases": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/testcase"}}},
            "$defs": schema["$defs"]}


def _cases(doc: Document, key: str) -> list[tuple[dict[str, Any], Location, Location]]:
    raw = doc.data.get(key) or []
    return [(case, doc.at((key, i)), doc.at((key, i, "data"))) for i, case in enumerate(raw)
            if isinstance(case, dict)]


def held(path: Path, folder: Path, allow: tuple[Path, ...], where: Location, what: str) -> Path:
    """``path`` (relative to ``folder``) when it lies under ``folder`` or an allowed root,
    as `run` holds a ruleset's sources; else a located error. A symlink counts where it points."""
    target = (folder / path).resolve()
    if not any(target.is_relative_to(root.resolve()) for root in (folder, *allow)):
        raise AssessError(Problem(where, "path-outside", f"{what} {path} lies outside {folder}",
                                  "keep it beside the tests file, or add a root with --allow-path DIR"))
    return target


def _tests_file(file: Path, allow: tuple[Path, ...] = ()) -> Suite:
    doc = load_file(file)
    problems = list(schema_problems(doc, _tests_schema))
    if problems:
        raise AssessError(problems)
    target = held(Path(doc.data.get("ruleset", file.name.rsplit(".tests.", 1)[0] + ".yaml")), file.parent,
                  allow, doc.at(("ruleset",)), "ruleset")
    return Suite(target, file, _cases(doc, "cases"))


def suites(paths: list[Path], allow: tuple[Path, ...] = ()) -> Iterator[Suite]:
    """The test suites of the rulesets in files and folders: each ruleset's `tests:`
    section and its sibling NAME.tests.yaml (or a tests file given directly)."""
    files = [f for p in paths for f in (sorted(p.rglob("*.y*ml")) if p.is_dir() else [p])]
    tests_files = [f for f in files if f.name.endswith(TESTS_SUFFIXES)]
    for file in files:
        if file.name.endswith(TESTS_SUFFIXES):
            continue
        tests_files += [s for s in (file.with_name(file.stem + x) for x in TESTS_SUFFIXES) if s.exists()]
        doc = load_file(file)
        if isinstance(doc.data, dict) and doc.data.get("tests"):
            yield Suite(file, file, _cases(doc, "tests"))
    for file in dict.fromkeys(tests_files):  # each once, in order
        yield _tests_file(file, allow)


def write_tables(ruleset: Ruleset, tables: dict[str, list[dict[str, Any]]], folder: Path,
                 where: Location) -> None:
    """Each source's rows as a Parquet file typed by its contract; columns the contract
    declares and the rows leave out are empty; a source not given is an empty table."""
    unknown = sorted(set(tables) - set(ruleset.sources))
    if unknown:
        raise AssessError(Problem(where, "unknown-source", f"tables: unknown source `{unknown[0]}`",
                                  did_you_mean(unknown[0], ruleset.sources)))
    derived = sorted(n for n in tables if ruleset.sources[n].parent is not None)
    if derived:
        raise AssessError(Problem(where, "derived-source",
                                  f"tables: `{derived[0]}` is derived from `{ruleset.sources[derived[0]].parent}`",
                                  f"give the rows of `{ruleset.sources[derived[0]].parent}` instead"))
    for name, source in ruleset.sources.items():
        if source.parent is not None:
            continue
        rows = tables.get(name, [])
        declared = {c: t for c, t in (source.columns or {}).items() if c not in source.borrowed}
        columns = list(dict.fromkeys([*declared, *(k for r in rows for k in r)]))
        if not columns:
            raise AssessError(Problem(where, "tables", f"source `{name}` declares no columns, so the case must give its rows"))
        schema = {c: TYPES.get(declared.get(c, ""), pl.String) for c in columns}
        data = {c: [_value(r.get(c), schema[c]) for r in rows] for c in columns}
        frame = pl.DataFrame(data, schema=schema)
        frame.write_parquet(folder / (Path(source.path).stem + ".parquet"))


def _value(value: Any, dtype: Any) -> Any:
    if value is None:
        return None
    if dtype == pl.Date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if isinstance(dtype, pl.Datetime):
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return dt.datetime(value.year, value.month, value.day)
    if dtype == pl.String and not isinstance(value, str):
        return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
    return value


def _close(expected: Any, actual: Any, tolerance: float) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=tolerance, abs_tol=tolerance)
    return expected == actual


def compare(expect: dict[str, Any], result: Result, tolerance: float) -> Iterator[str]:
    """Every difference between what the case expects and what the run gave."""
    def differ(what: str, expected: Any, actual: Any) -> Iterator[str]:
        if not _close(expected, actual, tolerance):
            yield f"{what}: expected {expected!r}, got {actual!r}"

    def kpis(prefix: str, wanted: dict[str, Any], found: list[KpiResult]) -> Iterator[str]:
        by_id = {k.id: k for k in found}
        for kpi, want in wanted.items():
            if kpi not in by_id:
                yield f"{prefix}{kpi}: no such KPI ({did_you_mean(kpi, by_id) or 'KPIs: ' + ', '.join(by_id)})"
                continue
            fields = want if isinstance(want, dict) else {"value": want}
            for name, value in fields.items():
                yield from differ(f"{prefix}{kpi}.{name}", value, getattr(by_id[kpi], name, "(no such field)"))

    yield from kpis("kpis.", expect.get("kpis", {}), result.kpis)
    for key in ("score", "grade"):
        if key in expect:
            yield from differ(key, expect[key], getattr(result, key))
    checks = {c.id: c for c in result.checks}
    for check, want in expect.get("checks", {}).items():
        if check not in checks:
            yield f"checks.{check}: no such check ({did_you_mean(check, checks) or 'none similar'})"
            continue
        for name, value in (want if isinstance(want, dict) else {"status": want}).items():
            yield from differ(f"checks.{check}.{name}", value, getattr(checks[check], name))
    if "actions" in expect:
        fired = sorted(a.id + (f"@{a.entity}" if a.entity else "") for a in result.actions)
        yield from differ("actions", sorted(expect["actions"]), fired)
    entities = {e.id: e for e in result.entities}
    for entity, want in expect.get("entities", {}).items():
        if entity not in entities:
            yield f"entities.{entity}: no such entity ({did_you_mean(entity, entities) or 'none similar'})"
            continue
        for name, value in want.items():
            if name == "kpis":
                yield from kpis(f"entities.{entity}.kpis.", value, entities[entity].kpis)
            else:
                yield from differ(f"entities.{entity}.{name}", value, getattr(entities[entity], name))


def run_case(suite: Suite, case: dict[str, Any], where: Location, data_at: Location,
             allow: tuple[Path, ...] = ()) -> Outcome:
    """One case, held to the roots `run` has: the ruleset's sources under its folder,
    the case's `data:` under the tests file's folder (or an allowed one)."""
    outcome = Outcome(str(suite.file), case.get("name", "?"))
    params = {k: v.isoformat() if isinstance(v, dt.date) else str(v) for k, v in case.get("params", {}).items()}
    try:
        ruleset = load_ruleset(suite.ruleset, allow)
        with tempfile.TemporaryDirectory(prefix="assess-test-") as tmp:
            if "data" in case:
                folder = held(Path(str(case["data"])), suite.file.parent, allow, data_at, "data")
            else:
                folder = Path(tmp)
                write_tables(ruleset, case.get("tables", {}), folder, where)
            result = assess(suite.ruleset, folder, params, allow=allow)
    except AssessError as exc:
        outcome.error = "\n".join(str(p) for p in exc.problems)
        return outcome
    outcome.failures = list(compare(case["expect"], result, float(case.get("tolerance", 1e-6))))
    return outcome


def run(paths: list[Path], allow: tuple[Path, ...] = ()) -> Iterator[Outcome]:
    """Each case's outcome, as soon as it has run."""
    for suite in suites(paths, allow):
        for case, where, data_at in suite.cases:
            yield run_case(suite, case, where, data_at, allow)
