"""All measures and checks over one source are one aggregation over one scan, and all
sources are collected together."""

import polars as pl

from engine.compile import compile_plan
from engine.execute import execute
from engine.validate import load_ruleset
from conftest import RULESET


def test_one_query_per_source_collected_together(monkeypatch):
    ruleset = load_ruleset(RULESET)
    plan = compile_plan(ruleset, ruleset.params)
    plans: list[list[str]] = []
    collect_all = pl.collect_all

    def spy(queries, **kwargs):
        plans.append([q.explain() for q in queries])
        return collect_all(queries, **kwargs)

    monkeypatch.setattr(pl, "collect_all", spy)
    execute(plan, RULESET.parent)
    assert len(plans) == 1, "one collect_all for every source; no sample query when all checks pass"
    assert len(plans[0]) == len(ruleset.sources) == 4
    for explained in plans[0]:
        assert explained.count("SCAN") == 1
    customers = next(p for p in plans[0] if "customers.csv" in p)
    # both customer measures and both customer checks live in this one query
    for name in ("customers_at_start", "retained", "customer_id_present.failed", "customer_email_present.failed"):
        assert f'alias("{name}")' in customers
    assert "PROJECT 4/11 COLUMNS" in customers  # projection pushdown: only the columns used
