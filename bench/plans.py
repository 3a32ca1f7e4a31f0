"""Checks of the query plans Polars builds, run by hand (`python bench/plans.py`): every
source scanned once per run, measures and checks of a source folded into its one query,
projection pushdown. They read Polars' plan text, whose wording changes between Polars
versions, so they live here rather than in the test suite (which asserts the number of
queries through `Result.queries`). A failure here after a Polars upgrade means: read the
new plan text and update the patterns, unless the plan really scans a source twice."""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.compile import compile_plan  # noqa: E402
from engine.execute import execute  # noqa: E402
from engine.run import assess  # noqa: E402
from engine.validate import load_ruleset  # noqa: E402

DATA = ROOT / "tests" / "data"
RUNS = {"crm_department": ("department", ["customers", "leads", "orders", "surveys", "costs"]),
        "vendor_scoring": ("vendors", ["vendors", "customers", "orders", "surveys", "costs",
                                       "vendor_tickets", "vendor_uptime", "vendor_reviews"])}


def captured(run) -> list[list[pl.LazyFrame]]:
    calls: list[list[pl.LazyFrame]] = []
    collect_all = pl.collect_all

    def spy(queries, **kwargs):
        calls.append(list(queries))
        return collect_all(queries, **kwargs)

    pl.collect_all = spy
    try:
        run()
    finally:
        pl.collect_all = collect_all
    return calls


def single_pass() -> None:
    ruleset_path = ROOT / "rulesets" / "crm_assessment.yaml"
    ruleset = load_ruleset(ruleset_path)
    calls = captured(lambda: execute(compile_plan(ruleset, ruleset.params), ruleset_path.parent))
    assert len(calls) == 1, "one collect_all for every source"
    plans = [q.explain() for q in calls[0]]
    assert all(p.count("SCAN") == 1 for p in plans)
    customers = next(p for p in plans if "customers.csv" in p)
    for name in ("customers_at_start", "retained", "customer_id_present.failed", "customer_email_present.failed"):
        assert f'alias("{name}")' in customers
    assert "PROJECT 4/11 COLUMNS" in customers, "projection pushdown: only the columns used"


def one_scan_per_source(name: str) -> None:
    folder, sources = RUNS[name]
    calls = captured(lambda: assess(ROOT / "rulesets" / f"{name}.yaml", DATA / folder))
    assert len(calls) == 1
    scans = Counter(re.findall(r"SCAN \[([^\]]+)\]", pl.explain_all(calls[0])))
    assert dict(scans) == {str((DATA / folder / f"{s}.csv").resolve()): 1 for s in sources}, scans


if __name__ == "__main__":
    single_pass()
    for name in RUNS:
        one_scan_per_source(name)
    print(f"plans as expected on Polars {pl.__version__}")
