"""Entities (`by`): one scan per source with compare and trend, the entity key at run time
and at validation, and ranking."""
from __future__ import annotations

import textwrap
from pathlib import Path

import polars as pl
import pytest

from engine.errors import AssessError
from engine import score
from engine.run import assess
from engine.validate import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
RUNS = {
    # by owner, compare: previous, trend: quarter; orders and surveys borrow `owner`
    # from customers
    "crm_department": ("department", ["customers", "leads", "orders", "surveys", "costs"]),
    # by vendor, compare: previous, names from vendors; two sources borrow from customers
    "vendor_scoring": ("vendors", ["vendors", "customers", "orders", "surveys", "costs",
                                   "vendor_tickets", "vendor_uptime", "vendor_reviews"]),
}


@pytest.mark.parametrize("ruleset, queries", [
    # one query per source for the overall values, one per source with per-entity
    # measures, one for the entity names; every check passes, so no sample query.
    # crm_department: 5 sources + 4 per owner (costs are allocated, not grouped) = 9;
    # vendor_scoring: 8 + 6 per vendor (vendors only names them, costs are allocated)
    # + 1 names = 15. That each source is scanned once is checked by hand in bench/plans.py
    ("crm_department", 9), ("vendor_scoring", 15)])
def test_every_query_of_a_run_is_counted_once(ruleset, queries):
    folder, _ = RUNS[ruleset]
    assert assess(ROOT / "rulesets" / f"{ruleset}.yaml", DATA / folder).queries == queries


def test_by_column_missing_from_the_data_is_located(tmp_path):
    # no `columns:` contract, so validation cannot know; the run must say which source
    # lacks which column, and where the source is declared
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        ruleset: r
        by: region
        sources:
          orders:
            path: orders.csv
        measures:
          revenue: {source: orders, sum: amount}
        kpis:
          rev: {formula: revenue, target: 100, category: c}
        categories: {c: {}}
        """))
    (tmp_path / "orders.csv").write_text("order_id,amount\na,10\nb,20\n")
    with pytest.raises(AssessError) as info:
        assess(tmp_path / "r.yaml")
    [problem] = info.value.problems
    assert problem.rule == "missing-column"
    assert "`orders`" in problem.message and "`region`" in problem.message
    # line 5: `    path: orders.csv`, the value starts at column 11
    assert (Path(problem.location.file).name, problem.location.line, problem.location.column) == ("r.yaml", 5, 11)


def test_measure_over_a_source_without_the_key_needs_per_entity(tmp_path):
    text = textwrap.dedent("""\
        ruleset: k
        by: region
        sources:
          orders:
            path: orders.csv
            columns: {region: string, amount: float}
          costs:
            path: costs.csv
            columns: {month: string, cost: float}
        measures:
          revenue: {source: orders, sum: amount}
          spend: {source: costs, sum: cost}
        kpis:
          roi: {formula: revenue / spend, target: 2, category: c}
        categories: {c: {}}
        """)
    (tmp_path / "k.yaml").write_text(text)
    with pytest.raises(AssessError) as info:
        load_ruleset(tmp_path / "k.yaml")
    [problem] = info.value.problems
    assert problem.rule == "entity-key"
    assert "`spend`" in problem.message and "`costs`" in problem.message and "`region`" in problem.message
    assert "per_entity" in problem.hint
    # line 12 `  spend: {source: costs, ...}`: the source name starts at column 19
    assert (problem.location.line, problem.location.column) == (12, 19)
    # saying how it applies per entity makes it valid
    (tmp_path / "k.yaml").write_text(text.replace(
        "spend: {source: costs, sum: cost}", "spend: {source: costs, sum: cost, per_entity: shared}"))
    assert load_ruleset(tmp_path / "k.yaml").measures["spend"].shared


def test_allocation_over_a_zero_base_says_why():
    result = assess(ROOT / "rulesets" / "crm_department.yaml", DATA / "department",
                    {"period_start": "2025-05-01", "period_end": "2025-05-31"})
    # May: costs 2025-05 2500 + 1000; new customers D09 (E02, 05-20); no lead in May
    assert result.kpi("cac").value == pytest.approx(3500.0)
    e02 = result.entity("E02").kpi("cac")
    # the cost is allocated by leads in the period, and May has none: no share for
    # anyone, and the reason names the base
    assert e02.value is None
    assert e02.reason == "measure `acquisition_cost` is allocated by `leads_in_period`, which is 0 for every entity"
    assert [e.kpi("cac").value for e in result.entities] == [None, None, None]


# ---------------------------------------------------------------- rank()

class Ranked(list):
    """The rows of score.rank's answer, in its order, as (id, rank) pairs; ``unranked``
    holds each id's reason."""


def rank(entities: list[tuple[str, float | None, tuple[str, ...]]]) -> Ranked:
    frame = pl.DataFrame({".id": [e[0] for e in entities], ".score": [e[1] for e in entities],
                          **{f"{k}.share": [0.5 if k in e[2] else 0.0 for e in entities] for k in ("a", "b")}},
                         schema_overrides={".score": pl.Float64})
    out = score.rank(["a", "b"], frame)
    ranked = Ranked(zip(out[".id"], out[".rank"]))
    ranked.unranked = dict(zip(out[".id"], out[".unranked"]))
    return ranked


def entity(id: str, score: float | None, basis: tuple[str, ...] = ("a", "b")) -> tuple:
    """An entity scored on the KPIs in ``basis`` (share > 0); the others are n/a."""
    return id, score, basis


def test_rank_ties_share_the_best_rank():
    entities = [entity("A", 80.0), entity("B", 90.0), entity("C", 90.0), entity("D", 70.0)]
    r = rank(entities)
    assert r == [("B", 1), ("C", 1), ("A", 3), ("D", 4)]
    assert all(v is None for v in r.unranked.values())


def test_rank_no_score_is_unranked_and_last():
    entities = [entity("A", None, ()), entity("B", 10.0), entity("C", 60.0)]
    r = rank(entities)
    assert r == [("C", 1), ("B", 2), ("A", None)]
    assert r.unranked["A"].startswith("no score")


def test_rank_other_weight_basis_is_unranked_after_the_ranked():
    # D is scored on `a` only (its `b` is n/a): not ranked with the others, even though it
    # scores best, and listed after them
    entities = [entity("A", 50.0), entity("B", 40.0), entity("C", 30.0), entity("D", 99.0, ("a",))]
    r = rank(entities)
    assert r == [("A", 1), ("B", 2), ("C", 3), ("D", None)]
    assert "`b`" in r.unranked["D"] and "not ranked" in r.unranked["D"]


def test_rank_fullest_basis_wins_a_tie_in_numbers():
    # two entities on (a, b), two on (a,): the fuller basis is the one ranked; an entity
    # on more KPIs than the common set is named by what it has extra
    entities = [entity("A", 10.0, ("a",)), entity("B", 20.0), entity("C", 30.0, ("a",)), entity("D", 15.0)]
    r = rank(entities)
    assert r == [("B", 1), ("D", 2), ("C", None), ("A", None)]
    assert "`b`" in r.unranked["C"]
    superset = [entity("A", 10.0, ("a",)), entity("B", 20.0, ("a",)), entity("C", 30.0)]
    r2 = rank(superset)
    assert r2 == [("B", 1), ("A", 2), ("C", None)]
    assert "`b`" in r2.unranked["C"]


def test_rank_no_score_is_after_an_unranked_zero():
    entities = [entity("A", None, ()), entity("Z", 0.0, ("a",)), entity("B", 50.0), entity("C", 50.0)]
    r = rank(entities)
    assert r == [("B", 1), ("C", 1), ("Z", None), ("A", None)]


# integer sums are exact in any order, so they skip compile.stable_sum; a vendor's name is
# the one of its first row, also when the names' source has measures per entity
UNITS = """\
ruleset: units
sources:
  v: {path: v.csv, key: id, columns: {id: string, name: string, units: int, price: float}}
by: id
names: {source: v, column: name}
measures:
  units_sum: {source: v, sum: units}
  units_mean: {source: v, mean: units, where: "units > 0"}
  price_sum: {source: v, sum: price}
kpis:
  volume: {formula: units_sum, target: 1, category: c}
categories: {c: {}}
"""


def test_integer_sums_exact_and_names_from_the_first_row(tmp_path):
    from engine.run import run

    (tmp_path / "r.yaml").write_text(UNITS, encoding="utf-8")
    big = 2 ** 53  # a float64 cannot hold big + 1: only an integer sum gives it
    (tmp_path / "v.csv").write_text(f"id,name,units,price\nB,Bee,{big},0.1\nA,Ay,1,0.2\nB,Bea,1,0.7\n"
                                    "A,Ah,0,0.1\nC,,-3,1\nC,Sea,0,0\n", encoding="utf-8")
    plan, executed, _ = run(tmp_path / "r.yaml")
    e = executed.entities.sort("id")
    assert e["id"].to_list() == ["A", "B", "C"]
    assert e["__name__"].to_list() == ["Ay", "Bee", None]  # first rows: C's first name is empty
    assert e["units_sum"].dtype == pl.Int64 and e["units_sum"].to_list() == [1, big + 1, -3]
    # means of the rows with units > 0: A 1/1, B (big + 1) / 2 rounded once, C none
    assert e["units_mean"].to_list() == [1.0, (big + 1) / 2, None]
    assert e["price_sum"].to_list() == [0.2 + 0.1, 0.1 + 0.7, 1.0 + 0.0]  # row order
    sums = {n: str(a) for q in plan.sources.values() for a in q.per_entity for n in [a.meta.output_name()]}
    assert "cum_sum" not in sums["units_sum"] and "cum_sum" in sums["price_sum"]
