#!/usr/bin/env python3
"""By hand (bench/README.md, issue 14): `--engine spark` on a ruleset, with the JVM's start
timed apart, and the result compared with the Polars engine's.

    .venv/bin/assess sample-data --customers 200000 --out /tmp/s200k
    .venv/bin/python bench/spark_run.py /tmp/s200k [rulesets/crm_assessment.yaml]
"""
import pathlib
import resource
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from conftest import approx_equal  # noqa: E402
from engine.connect import spark  # noqa: E402
from engine.render import to_json  # noqa: E402
from engine.run import assess  # noqa: E402


def main() -> None:
    data = pathlib.Path(sys.argv[1])
    ruleset = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else REPO / "rulesets" / "crm_assessment.yaml")
    t0 = time.perf_counter()
    spark()  # what `run --engine spark` starts first; the run below reuses the session
    t1 = time.perf_counter()
    on_spark = assess(ruleset, data, engine="spark")
    t2 = time.perf_counter()
    on_polars = assess(ruleset, data)
    t3 = time.perf_counter()
    a, b = to_json(on_spark), to_json(on_polars)
    for d in (a, b):
        for k in ("sources", "engine", "queries"):
            d.pop(k, None)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"JVM and session start {t1 - t0:.1f} s wall; Spark run {t2 - t1:.1f} s wall, {on_spark.queries} "
          f"queries; Polars run {t3 - t2:.1f} s wall; equal: {approx_equal(a, b)}; "
          f"Python's CPU {cpu.ru_utime + cpu.ru_stime:.1f} s (the JVM's is not counted)")


if __name__ == "__main__":
    main()
