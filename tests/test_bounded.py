"""`--engine streaming`: distinct counts, medians, quantiles, `top` and `unique` rules are
computed apart from the main pass, over slices of their source (execute._bounded), and give
the numbers worked out by hand below, the same as the default engine's."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from conftest import approx_equal

from engine.compile import compile_plan
from engine.execute import execute, samples
from engine.validate import load_ruleset

RULESET = """\
ruleset: bounded
params: {period_end: 2025-06-30}
by: g
sources:
  t: {path: t.csv, key: id, columns: {id: string, g: string, v: float, c: string}}
measures:
  people: {source: t, n_unique: c}
  mid: {source: t, median: v}
  low: {source: t, quantile: v, q: 0.25}
  best: {source: t, top: v, label: id}
  total: {source: t, sum: v}
kpis:
  k: {formula: people + mid + low + total, target: 1, category: c}
categories: {c: {}}
checks:
  - {id: dup, source: t, rule: unique, column: c}
settings: {samples: 2}
"""

TABLE = """\
id,g,v,c
1,a,1,x
2,a,3,y
3,a,8,x
4,b,2,z
5,b,4,z
6,b,,y
7,c,5,w
8,a,10,q
"""

# By hand. c: x, y, x, z, z, y, w, q -> 5 distinct; a: x, y, q -> 3; b: z, y -> 2; c: w -> 1.
# v (the null left out) sorted: 1 2 3 4 5 8 10 -> median 4; the 0.25 quantile sits at
# position 0.25 * 6 = 1.5, between 2 and 3 -> 2.5; the largest, 10, is row 8; sum 33.
# a: 1 3 8 10 -> median 5.5, 0.25 quantile at 0.75 -> 1 + 0.75 * 2 = 2.5, top row 8, sum 22
# b: 2 4 -> 3, 2 + 0.25 * 2 = 2.5, row 5, 6;  c: 5 -> 5, 5, row 7, 5.
OVERALL = {"people": 5, "mid": 4.0, "low": 2.5, "best": "8", "total": 33.0}
ENTITIES = {"a": (3, 5.5, 2.5, "8", 22.0), "b": (2, 3.0, 2.5, "5", 6.0), "c": (1, 5.0, 5.0, "7", 5.0)}


@pytest.fixture
def ruleset(tmp_path: Path):
    (tmp_path / "r.yaml").write_text(RULESET, encoding="utf-8")
    (tmp_path / "t.csv").write_text(TABLE, encoding="utf-8")
    return load_ruleset(tmp_path / "r.yaml")


@pytest.mark.parametrize(("engine", "slice_rows"), [("auto", 20_000_000), ("streaming", 20_000_000),
                                                    ("streaming", 3), ("streaming", 1)])
def test_heavy_aggregations_over_slices_match_the_hand_count(ruleset, tmp_path, engine, slice_rows):
    plan = compile_plan(ruleset, ruleset.params)
    done = execute(plan, tmp_path, engine=engine, slice_rows=slice_rows)
    assert {n: done.values[n][0] for n in OVERALL} == OVERALL
    rows = {r["g"]: tuple(r[n] for n in OVERALL) for r in done.entities.iter_rows(named=True)}
    assert rows == ENTITIES
    # unique on c: 8 values, 5 distinct -> 3 failed; the two smallest repeated values are x
    # and y, whose first rows in file order are 1 (x) and 2 (y)
    assert done.values["dup.failed"][0] == 3
    (check,) = plan.checks
    found = samples([check], done, {"t": ["id"]}, 2)["dup"]
    assert found["id"].to_list() == ["1", "2"]


def test_a_bounded_run_takes_the_heavy_aggregations_out_of_the_main_pass(ruleset, tmp_path, monkeypatch):
    plan = compile_plan(ruleset, ruleset.params)
    main: list[str] = []
    collect_all = pl.collect_all

    def spy(queries, **kwargs):
        main.extend(q.explain() for q in queries)
        return collect_all(queries, **kwargs)

    monkeypatch.setattr(pl, "collect_all", spy)
    execute(plan, tmp_path, engine="streaming", slice_rows=3)
    text = "\n".join(main)
    # the main pass keeps the sum and the rule's row count, and nothing whose state grows
    for name in ("total", "dup.rows"):
        assert f'alias("{name}")' in text
    for name in ("people", "mid", "low", "best", "dup.failed"):
        assert f'alias("{name}")' not in text
    assert "n_unique" not in text and "quantile" not in text


def test_the_default_engine_keeps_one_pass(ruleset, tmp_path, monkeypatch):
    plan = compile_plan(ruleset, ruleset.params)
    calls: list[int] = []
    collect_all = pl.collect_all
    monkeypatch.setattr(pl, "collect_all", lambda qs, **kw: calls.append(len(qs)) or collect_all(qs, **kw))
    collect = pl.LazyFrame.collect

    def outside(self, *args, **kwargs):  # joining the in-memory results per entity reads no source
        if "SCAN" in self.explain():
            pytest.fail("a query outside collect_all")
        return collect(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", outside)
    execute(plan, tmp_path)
    assert len(calls) == 1


def test_slices_of_a_big_source_each_read_a_part(ruleset, tmp_path, monkeypatch):
    # 8 rows in slices of at most 3 rows: 3 slices for each distinct count, per-entity
    # query and unique rule; the overall median, quantile and top run whole, once each
    plan = compile_plan(ruleset, ruleset.params)
    seen: list[str] = []
    collect = pl.LazyFrame.collect

    def spy(self, *args, **kwargs):
        seen.append(self.explain())
        return collect(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", spy)
    execute(plan, tmp_path, engine="streaming", slice_rows=3)
    seen = [s for s in seen if "SCAN" in s]  # the queries that read the source (not the entity join)
    sliced = [s for s in seen if "hash" in s]
    assert len(sliced) == 3 * 3
    assert len(seen) - len(sliced) == 3


@pytest.mark.parametrize("engine", ["auto", "streaming"])
def test_unique_samples_fall_back_to_the_whole_table(ruleset, tmp_path, monkeypatch, engine):
    # searched in the first 2 rows only, c is x, y: nothing repeats there, so the whole
    # table is grouped (in slices when streaming): x, y and z repeat, the 2 smallest are
    # x and y, and the first rows with either are 1 (x) and 2 (y)
    import engine.execute as executing
    monkeypatch.setattr(executing, "PREFIX", 2)
    plan = compile_plan(ruleset, ruleset.params)
    done = execute(plan, tmp_path, engine=engine, slice_rows=3)
    (check,) = plan.checks
    assert samples([check], done, {"t": ["id"]}, 2)["dup"]["id"].to_list() == ["1", "2"]
    # searched in the first 3 rows, x repeats there (rows 1 and 3) and is enough
    monkeypatch.setattr(executing, "PREFIX", 3)
    assert samples([check], done, {"t": ["id"]}, 2)["dup"]["id"].to_list() == ["1", "3"]


def test_an_empty_source_gives_the_same_as_the_default_engine(ruleset, tmp_path):
    (tmp_path / "t.csv").write_text("id,g,v,c\n", encoding="utf-8")
    plan = compile_plan(ruleset, ruleset.params)
    runs = [execute(plan, tmp_path, engine=e, slice_rows=1) for e in ("auto", "streaming")]
    for done in runs:
        # no rows: no distinct value, no median, no top row, no duplicate, no entity
        assert {n: done.values[n][0] for n in OVERALL} == {"people": 0, "mid": None, "low": None,
                                                           "best": None, "total": 0.0}
        assert done.values["dup.failed"][0] == 0
        assert done.entities.height == 0


@pytest.mark.parametrize("name", ["crm_assessment", "crm_department", "crm_strengths_weaknesses",
                                  "data_census", "vendor_scoring"])
def test_shipped_rulesets_give_the_same_result_over_slices(name, monkeypatch):
    import functools

    import engine.execute as executing
    import engine.run as running
    from engine.result import to_json

    path = Path(__file__).resolve().parent.parent / "rulesets" / f"{name}.yaml"
    default = to_json(running.assess(path))
    monkeypatch.setattr(running, "execute", functools.partial(executing.execute, slice_rows=500))
    sliced = to_json(running.assess(path, engine="streaming"))
    for result in (default, sliced):
        result.pop("generated_at", None)
        result.pop("queries")  # the slices are queries of their own
    assert approx_equal(default, sliced)


@pytest.mark.parametrize("slice_rows", [20_000_000, 3, 1])
def test_per_group_duplicates_and_breakdowns_over_slices(tmp_path, slice_rows):
    text = RULESET.replace("  - {id: dup, source: t, rule: unique, column: c}",
                           "  - {id: dup, source: t, rule: unique, column: c, by: g}")
    text = text.replace("  total: {source: t, sum: v}", "  total: {source: t, sum: v}\n"
                        "  mid_by: {source: t, median: v, by: g}")
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "t.csv").write_text(TABLE, encoding="utf-8")
    ruleset = load_ruleset(tmp_path / "r.yaml")
    plan = compile_plan(ruleset, ruleset.params)
    for engine in ("auto", "streaming"):
        done = execute(plan, tmp_path, engine=engine, slice_rows=slice_rows)
        # per group, rows with a c beyond the first of each value: a x, y, x, q -> 1;
        # b z, z, y -> 1; c w -> 0 (rows 4, 3, 1)
        groups = done.groups["dup"]
        assert groups.select("g", "dup.rows", "dup.failed").rows() == [("a", 4, 1), ("b", 3, 1), ("c", 1, 0)]
        # medians by g, as worked out above: a 5.5, b 3, c 5
        (breakdown,) = done.breakdowns.values()
        assert breakdown.select("g", "mid_by").rows() == [("a", 5.5), ("b", 3.0), ("c", 5.0)]
