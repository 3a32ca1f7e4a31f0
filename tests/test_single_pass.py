"""All measures and checks over one source are one aggregation over one query, and all
sources are collected together. The plan text (one SCAN per source, projection pushdown)
is checked by hand in bench/plans.py: its wording belongs to Polars' version."""

from engine.compile import compile_plan
from engine.execute import execute
from engine.validate import load_ruleset
from conftest import RULESET


def test_one_query_per_source():
    ruleset = load_ruleset(RULESET)
    plan = compile_plan(ruleset, ruleset.params)
    executed = execute(plan, RULESET.parent)
    # 4 sources, no `by`, no breakdown, every check passing (no sample query): 4 queries
    assert len(ruleset.sources) == 4
    assert executed.queries == 4
    # both customer measures and both customer checks come back from that one pass
    for name in ("customers_at_start", "retained", "customer_id_present.failed", "customer_email_present.failed"):
        assert name in executed.values.columns
