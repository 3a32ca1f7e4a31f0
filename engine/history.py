"""Run history: every run appended as one Parquet file, one row per KPI per entity.

`assess run --history DIR` reads the previous run of the same ruleset to show the change
since then, and appends the new run only once its report is written, through a temporary
file and a rename, so a failed or interrupted run leaves the history as it was.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Callable

import polars as pl

from .result import Result

SCHEMA = {"run": pl.String, "at": pl.Datetime("us", "UTC"), "ruleset": pl.String,
          "params": pl.String, "entity": pl.String, "kpi": pl.String, "value": pl.Float64,
          "score": pl.Float64, "status": pl.String, "entity_score": pl.Float64,
          "total": pl.Float64, "grade": pl.String}
OVERALL = ""  # the entity column of the overall scorecard's rows


Warn = Callable[[str], None]


def _read(file: Path, warn: Warn) -> pl.DataFrame | None:
    """One recorded run, or None with a warning naming the file when it is not one (a
    corrupt file, a folder, another schema): one bad file must not stop every later run."""
    if not file.is_file():
        warn(f"{file}: skipped, not a file")
        return None
    try:
        frame = pl.read_parquet(file)
    except (pl.exceptions.PolarsError, OSError) as exc:
        warn(f"{file}: skipped, not a readable run ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})")
        return None
    if dict(frame.schema) != SCHEMA:
        warn(f"{file}: skipped, its columns are not those of a recorded run")
        return None
    return frame


def _runs(directory: Path, warn: Warn) -> list[pl.DataFrame]:
    return [f for f in (_read(p, warn) for p in sorted(directory.glob("*/*.parquet"))) if f is not None]


def previous(directory: Path, ruleset: str, warn: Warn = lambda _: None) -> pl.DataFrame | None:
    """The rows of the latest readable run of ``ruleset``, or None when it never ran."""
    folder = directory / ruleset
    for file in reversed(sorted(folder.glob("*.parquet")) if folder.is_dir() else []):
        frame = _read(file, warn)
        if frame is not None:
            return frame
    return None


def period(params: str | None) -> str:
    """``2025-01-01..2025-12-31`` from a run's params (as stored), or "" without a period."""
    values = json.loads(params) if params else {}
    start, end = values.get("period_start"), values.get("period_end")
    return f"{start}..{end}" if start is not None and end is not None else ""


def compare_with_last(result: Result, directory: Path, warn: Warn = lambda _: None) -> None:
    """Set `since_last` on the total, each KPI and each entity from the previous run."""
    last = previous(directory, result.ruleset, warn)
    if last is None or last.is_empty():
        return
    values = {(r["entity"], r["kpi"]): r for r in last.iter_rows(named=True)}
    before, now = period(last["params"][0]), period(json.dumps(result.params, default=str))
    if before != now:  # a change between two different periods is no trend: say so
        result.notes.append(f"the previous run covered {before or 'no period'}, this one {now or 'no period'}: "
                            "the changes since the last run compare different periods")

    def delta(now: float | None, before: float | None) -> float | None:
        return None if now is None or before is None else now - before

    result.since_last = delta(result.score, last["total"][0])
    for entity, kpis, score in [(OVERALL, result.kpis, None),
                                *((e.id, e.kpis, e) for e in result.entities)]:
        for k in kpis:
            row = values.get((entity, k.id))
            k.since_last = delta(k.value, row["value"]) if row else None
        if score is not None:
            row = next((r for (e, _), r in values.items() if e == entity), None)
            score.since_last = delta(score.score, row["entity_score"]) if row else None


def append(result: Result, directory: Path, at: dt.datetime | None = None) -> Path:
    """Write the run as DIR/<ruleset>/<run>.parquet; return the file."""
    at = at or dt.datetime.now(dt.timezone.utc)
    run = at.strftime("%Y%m%dT%H%M%S%fZ")
    params = json.dumps(result.params, default=str, ensure_ascii=False)
    rows = []
    for entity, kpis, entity_score in [(OVERALL, result.kpis, result.score),
                                       *((e.id, e.kpis, e.score) for e in result.entities)]:
        for k in kpis:
            rows.append({"run": run, "at": at, "ruleset": result.ruleset, "params": params,
                         "entity": entity, "kpi": k.id, "value": k.value, "score": k.score,
                         "status": k.status, "entity_score": entity_score,
                         "total": result.score, "grade": result.grade})
    folder = directory / result.ruleset
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{run}.parquet"
    temporary = folder / f".{run}.parquet.tmp"
    try:
        pl.DataFrame(rows, schema=SCHEMA).write_parquet(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    result.run = run
    return target


def runs(directory: Path, ruleset: str | None = None, warn: Warn = lambda _: None) -> pl.DataFrame:
    """One row per run, newest last: run, time, ruleset, params, total, grade, entities, KPIs."""
    frames = _runs(directory, warn)
    if not frames:
        return pl.DataFrame(schema={"run": pl.String, "at": pl.Datetime("us", "UTC"),
                                    "ruleset": pl.String, "params": pl.String, "total": pl.Float64,
                                    "grade": pl.String, "entities": pl.UInt32, "kpis": pl.UInt32})
    scan = pl.concat(frames).lazy()
    if ruleset:
        scan = scan.filter(pl.col("ruleset") == ruleset)
    return (scan.group_by("run", "at", "ruleset")
            .agg(pl.col("params").first(), pl.col("total").first(), pl.col("grade").first(),
                 (pl.col("entity").n_unique() - 1).cast(pl.UInt32).alias("entities"),
                 pl.col("kpi").n_unique().cast(pl.UInt32).alias("kpis"))
            .sort("at").collect())
