"""Conformance: the same ruleset gives the same result on every engine.

Every shipped ruleset (on its sample data and on the hand-made tables of its own tests)
runs on Polars and through the Ibis lowering; the JSON results must be equal, floats to
1e-9 relative. A ruleset of the edge cases where SQL engines answer differently from
Polars (negative modulo, rounding half to even, Unicode spaces, sums over no rows, ...)
pins each decision against values worked out by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.connect import write_tables
from engine.render import to_json
from engine.run import run
from tests.conftest import ROOT, approx_equal
from tests.engines import read_folder

# DuckDB and Spark read the ruleset's files; PostgreSQL reads them loaded into a schema of
# the test's own on the session's server (tests/engines.py). One Spark session serves the run.
ENGINES = ["duckdb", "postgres", pytest.param("spark", marks=pytest.mark.spark)]
SHIPPED = sorted((ROOT / "rulesets").glob("*.yaml"))
SHIPPED = [p for p in SHIPPED if not p.name.endswith(".tests.yaml")]
SAMPLE = ROOT / "rulesets" / "sample-data"
HAND_MADE = [("crm_assessment", "hand"), ("crm_department", "department"),
             ("crm_strengths_weaknesses", "strengths"), ("vendor_scoring", "vendors")]


@dataclass
class On:
    """One engine (`auto` is Polars) running a ruleset on a folder of files."""

    name: str
    request: pytest.FixtureRequest

    def run(self, ruleset: Path, folder: Path) -> tuple[Any, Any, Any]:
        if self.name == "spark":
            self.request.getfixturevalue("spark_session")  # `assess` reuses the session
        if self.name != "postgres":
            return run(ruleset, folder, engine=self.name)
        db = self.request.getfixturevalue("postgres")
        write_tables(db, read_folder(folder, ruleset).items())
        return run(ruleset, db)

    def result(self, ruleset: Path, folder: Path) -> dict:
        result = to_json(self.run(ruleset, folder)[2])
        for differs in ("sources", "engine", "queries"):  # where it read, and how many queries
            result.pop(differs, None)
        return result


@pytest.fixture(params=ENGINES)
def on(request: pytest.FixtureRequest) -> On:
    return On(request.param, request)


@pytest.fixture
def polars(request: pytest.FixtureRequest) -> On:
    return On("auto", request)


@pytest.mark.parametrize("ruleset", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_ruleset_agrees_with_polars(ruleset: Path, on: On, polars: On) -> None:
    expected = polars.result(ruleset, SAMPLE)
    assert expected["kpis"] or expected["checks"]
    assert approx_equal(on.result(ruleset, SAMPLE), expected)


# not on Spark, to keep CI's time: a Spark run costs 10-40 s on a shared 2-core machine, and
# the shipped rulesets and the edge cases already run there
@pytest.mark.parametrize("on", ["duckdb", "postgres"], indirect=True)
@pytest.mark.parametrize(("ruleset", "data"), HAND_MADE, ids=[r for r, _ in HAND_MADE])
def test_hand_made_tables_agree_with_polars(ruleset: str, data: str, on: On, polars: On) -> None:
    path, folder = ROOT / "rulesets" / f"{ruleset}.yaml", ROOT / "tests" / "data" / data
    assert approx_equal(on.result(path, folder), polars.result(path, folder))


EDGES = """
ruleset: engine_edges
params: {period_start: 2025-01-01, period_end: 2025-12-31, none: 0}
sources:
  t: {path: t.csv, columns: {id: string, n: int, x: float, s: string, d: date}}
  u: {path: u.csv, columns: {id: string, v: string}}
measures:
  mod_sum: {source: t, sum: n % 3}
  floordiv_sum: {source: t, sum: n // 2}
  round0_sum: {source: t, sum: "round(x, 0)"}
  round2_max: {source: t, sum: "round(x, 2)", where: "id == 'e'"}
  blank: {source: t, count: true, where: is_blank(s)}
  stripped: {source: t, count: true, where: "strip(s) == 'a'"}
  not_email: {source: t, count: true, where: "not valid(s, 'email')"}
  empty_sum: {source: t, sum: x, where: "n > 1000"}
  empty_count: {source: t, count: true, where: "n > 1000"}
  empty_mean: {source: t, mean: x, where: "n > 1000"}
  zero_div: {source: t, sum: "x / (n - n)"}
  smallest: {source: t, sum: "min(x, 1)"}
  in_year: {source: t, count: true, where: "between(d, period_start, period_end)"}
  by_param: {source: t, count: true, where: "none == 0"}
kpis:
  k: {formula: mod_sum, target: 1, category: c}
categories: {c: {}}
checks:
  - {id: nn, source: t, rule: not_null, column: s}
  - {id: ne, source: t, rule: not_empty, column: s}
  - {id: un, source: t, rule: unique, column: s, normalize: lower_trim}
  - {id: un2, source: t, rule: unique, columns: [s, d]}
  - {id: av, source: t, rule: allowed_values, column: s, values: [a, b]}
  - {id: ma, source: t, rule: matches, column: id, regex: "[a-c]"}
  - {id: ra, source: t, rule: range, column: x, min: 0, max: 3}
  - {id: ty, source: u, rule: type, column: v, type: int}
  - {id: re, source: t, rule: references, column: id, to: {source: u, column: id}}
  - {id: fr, source: t, rule: freshness, column: d, max_age: 10}
  - {id: rc, source: t, rule: row_count, min: 6}
  - {id: co, source: t, rule: consistency, expression: "x < n"}
  - {id: ex, source: t, rule: expression, expression: "n > -5", where: "x > 0"}
  - {id: di, source: t, rule: distribution, column: s, max_share: 0.3}
  - {id: dv, source: t, rule: distribution, column: s, values: [a, z], min_share: 0.1}
  - {id: sc, source: u, rule: schema, required: {id: string, v: int}}
"""
TABLE = """id,n,x,s,d
a,-7,2.5,\u3000a\t,2025-01-01
b,7,-2.5,a,2024-12-31
c,5,0.125,  ,2025-12-31
d,-1,3.5,,2026-01-01
e,0,2.675,b,2025-06-30
"""
OTHER = """id,v
a,1
b, 2
c,x
z,
"""


def _edges(folder: Path, engine: str) -> Path:
    """The edge-case ruleset and its tables in ``folder``; PostgreSQL has no safe cast, so
    its `type` rule is left out there (its refusal is tested below)."""
    edges = EDGES if engine != "postgres" else EDGES.replace(
        "  - {id: ty, source: u, rule: type, column: v, type: int}\n", "")
    (folder / "edges.yaml").write_text(edges, encoding="utf-8")
    (folder / "t.csv").write_text(TABLE, encoding="utf-8")
    (folder / "u.csv").write_text(OTHER, encoding="utf-8")
    return folder / "edges.yaml"


@pytest.mark.parametrize("engine", ["auto", *ENGINES])
def test_edge_semantics_are_polars_on_every_engine(tmp_path: Path, engine: str,
                                                   request: pytest.FixtureRequest) -> None:
    _, executed, _ = On(engine, request).run(_edges(tmp_path, engine), tmp_path)
    v = executed.values.row(0, named=True)
    # n % 3 floors like Python: -7 % 3 = 2, 7 % 3 = 1, 5 % 3 = 2, -1 % 3 = 2, 0 % 3 = 0
    assert v["mod_sum"] == 7
    # n // 2: -4 + 3 + 2 + -1 + 0
    assert v["floordiv_sum"] == 0
    # half to even: 2.5 -> 2, -2.5 -> -2, 0.125 -> 0, 3.5 -> 4, 2.675 -> 3
    assert v["round0_sum"] == pytest.approx(7.0)
    # 2.675 * 100 = 267.49999999999997 in floats... Polars scales first: 267.5 -> 268
    assert v["round2_max"] == pytest.approx(2.68)
    # is_blank: "  " (spaces) and the empty cell; strip removes the ideographic space and tab
    assert v["blank"] == 2 and v["stripped"] == 2
    # a sum over no rows is 0 (SQL says NULL), a count 0, a mean null
    assert v["empty_sum"] == 0 and v["empty_count"] == 0 and v["empty_mean"] is None
    # division by zero is null on every row, so the sum of nothing is 0
    assert v["zero_div"] == 0
    # min(x, 1): 1 + -2.5 + 0.125 + 1 + 1
    assert v["smallest"] == pytest.approx(0.625)
    # dates within 2025, both ends included: a, c, e
    assert v["in_year"] == 3
    assert v["by_param"] == 5


def test_every_rule_kind_agrees_with_polars(tmp_path: Path, on: On, polars: On) -> None:
    from engine.checks import RULES

    ruleset = _edges(tmp_path, on.name)
    expected = polars.result(ruleset, tmp_path)
    # every kind is exercised (PostgreSQL refuses `type`)
    assert {c["rule"] for c in expected["checks"]} == set(RULES) - ({"type"} if on.name == "postgres" else set())
    assert approx_equal(on.result(ruleset, tmp_path)["checks"], expected["checks"])


def test_a_row_rule_has_one_definition_for_every_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row rule is written once, in engine.checks: changing it there changes what DuckDB
    counts too (here not_null turned into "has a value": 4 of the 6 rows below)."""
    from engine import checks

    (tmp_path / "t.csv").write_text("id,email\n1,a@x.cn\n2,\n3,b@x.cn\n4,c@x.cn\n5,\n6,d@x.cn\n")
    ruleset = tmp_path / "r.yaml"
    ruleset.write_text("ruleset: one\nsources:\n  t: {path: t.csv}\n"
                       "checks:\n  - {id: present, source: t, rule: not_null, column: email}\n")
    failed = {e: run(ruleset, tmp_path, engine=e)[2].checks[0].failed for e in ("auto", "duckdb")}
    assert failed == {"auto": 2, "duckdb": 2}
    changed = checks.Rule(lambda ctx: checks.Plan(ctx.fn("is_not_null", ctx.col()), [ctx.option("column")]),
                          ("column",), row=True)
    monkeypatch.setitem(checks.RULES, "not_null", changed)
    assert {e: run(ruleset, tmp_path, engine=e)[2].checks[0].failed for e in ("auto", "duckdb")} == \
        {"auto": 4, "duckdb": 4}


PARAMS_ONLY = """
ruleset: params_only
params: {a: 1, b: 2}
sources:
  t: {path: t.csv}
checks:
  - {id: c_true, source: t, rule: consistency, expression: "a < b"}
  - {id: c_false, source: t, rule: consistency, expression: "a > b"}
  - {id: e_true, source: t, rule: expression, expression: "a < b"}
  - {id: e_false, source: t, rule: expression, expression: "a > b"}
"""


@pytest.mark.parametrize("on", ["auto", "duckdb", "postgres"], indirect=True)
def test_a_rule_on_params_alone_holds_or_fails_on_every_row(tmp_path: Path, on: On) -> None:
    # t has 3 rows; a < b holds on each of them, a > b fails on each (Polars once counted
    # one row: a literal summed, where SQL counts it per row)
    (tmp_path / "r.yaml").write_text(PARAMS_ONLY)
    (tmp_path / "t.csv").write_text("x\n1\n2\n3\n")
    checks = {c["id"]: (c["rows"], c["failed"]) for c in on.result(tmp_path / "r.yaml", tmp_path)["checks"]}
    assert checks == {"c_true": (3, 0), "c_false": (3, 3), "e_true": (3, 0), "e_false": (3, 3)}


REGEXES = """
ruleset: regexes
sources:
  t: {path: t.csv}
measures:
  words: {source: t, count: true, where: 'matches(s, "\\\\bfoo")'}
  han: {source: t, count: true, where: "matches(s, '\\\\p{Han}')"}
checks:
  - {id: typed, source: t, rule: type, column: s, type: int}
  - {id: plain, source: t, rule: matches, column: s, regex: "[a-z]+"}
"""


def test_what_an_engine_would_read_otherwise_is_refused_at_its_line(tmp_path: Path) -> None:
    from engine.backends.ibis import unsupported
    from engine.validate import load_ruleset

    (tmp_path / "r.yaml").write_text(REGEXES, encoding="utf-8")
    (tmp_path / "t.csv").write_text("s\nfoo\n", encoding="utf-8")
    ruleset = load_ruleset(tmp_path / "r.yaml")
    assert unsupported(ruleset, "duckdb") == []  # RE2 reads both as Polars does
    postgres = [(p.location.line, p.message) for p in unsupported(ruleset, "postgres")]
    assert [line for line, _ in postgres] == [6, 7, 9]
    assert "backspace" in postgres[0][1] and "\\p{Han}" in postgres[1][1] and "safe cast" in postgres[2][1]
    spark = [(p.location.line, p.message) for p in unsupported(ruleset, "spark")]
    assert [line for line, _ in spark] == [7] and "IsHan" in spark[0][1]


LENDER = """
ruleset: lender
sources:
  o: {path: o.csv, columns: {id: string, k: string}, join: {source: c, on: k, columns: [p, q]}}
  c: {path: c.csv, columns: {k: string, p: int, q: string}}
measures:
  p_sum: {source: o, sum: p}
  q_y: {source: o, count: true, where: "q == 'y'"}
  rows: {source: o, count: true}
kpis:
  k: {formula: rows, target: 1, category: c}
categories: {c: {}}
"""


@pytest.mark.parametrize("on", ["duckdb", "postgres"], indirect=True)
def test_a_lenders_repeated_key_lends_one_whole_row(tmp_path: Path, on: On) -> None:
    """SQL has no file order, so the SQL engines keep the smallest row by the lent columns:
    whole (never p of one row and q of another), and never multiplying the borrower's rows."""
    (tmp_path / "r.yaml").write_text(LENDER, encoding="utf-8")
    (tmp_path / "o.csv").write_text("id,k\n1,a\n2,a\n3,b\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text("k,p,q\na,2,x\na,1,y\na,1,z\nb,5,w\n", encoding="utf-8")
    v = on.run(tmp_path / "r.yaml", tmp_path)[1].values.row(0, named=True)
    assert v["rows"] == 3
    # a -> (1, y), the smallest by p then q, for both rows of a; b -> (5, w): 1 + 1 + 5
    assert v["p_sum"] == 7 and v["q_y"] == 2


SAMPLED = """
ruleset: sampled
settings: {samples: 2}
sources:
  t: {path: t.csv, key: id, columns: {id: int, s: string, v: string}}
checks:
  - {id: nn, source: t, rule: not_null, column: s}
  - {id: av, source: t, rule: allowed_values, column: s, values: [a]}
  - {id: un, source: t, rule: unique, column: v}
  - {id: ok, source: t, rule: not_null, column: id, where: "id > 0"}
"""
# failing: nn on ids 4, 2 and the two rows without an id; av on 5, 3, 1 (b, c, b); un on
# the rows of x (1, 3) and y (2, 6); ok passes (id is null only outside its scope)
SAMPLED_TABLE = "id,s,v\n5,c,z\n4,,x\n,,y\n3,b,x\n2,,y\n,,w\n1,b,x\n6,a,y\n"


def _sampled(folder: Path, samples: int = 2) -> Path:
    (folder / "r.yaml").write_text(SAMPLED.replace("samples: 2", f"samples: {samples}"), encoding="utf-8")
    (folder / "t.csv").write_text(SAMPLED_TABLE, encoding="utf-8")
    return folder / "r.yaml"


@pytest.mark.parametrize("samples", [2, 100])
def test_samples_are_the_first_failing_rows_by_key_on_every_engine(tmp_path: Path, on: On, polars: On,
                                                                    samples: int) -> None:
    ruleset = _sampled(tmp_path, samples)
    result = {c["id"]: c["samples"] for c in on.result(ruleset, tmp_path)["checks"]}
    # by id, nulls last; with 2 kept, the rows without an id are beyond the first two
    nn = [{"id": 2, "s": None}, {"id": 4, "s": None}, {"id": None, "s": None}, {"id": None, "s": None}]
    av = [{"id": 1, "s": "b"}, {"id": 3, "s": "b"}, {"id": 5, "s": "c"}]
    # the 2 smallest repeated values are x and y: their rows by id
    un = [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}, {"id": 3, "v": "x"}, {"id": 4, "v": "x"},
          {"id": 6, "v": "y"}, {"id": None, "v": "y"}]
    assert result == {"nn": nn[:samples], "av": av[:samples], "un": un[:samples], "ok": []}
    assert result == {c["id"]: c["samples"] for c in polars.result(ruleset, tmp_path)["checks"]}


@pytest.mark.parametrize("on", ["duckdb", "postgres"], indirect=True)
def test_the_samples_of_every_failing_rule_of_a_source_are_one_query(tmp_path: Path, on: On) -> None:
    """One query counts every rule of the source, one more brings the samples of its three
    failing rules, whatever their number; none when no sample is kept."""
    assert on.run(_sampled(tmp_path), tmp_path)[2].queries == 2
    assert on.run(_sampled(tmp_path, samples=0), tmp_path)[2].queries == 1


@pytest.mark.parametrize("on", ["duckdb", "postgres"], indirect=True)
def test_unique_samples_come_from_the_whole_table_when_the_first_rows_repeat_nothing(
        tmp_path: Path, on: On, polars: On) -> None:
    """The smallest values repeated in the first 100,000 rows in scope; none repeats there,
    so the whole table's: only `dup`, on the last two rows (ids 100001 and 100002)."""
    (tmp_path / "r.yaml").write_text(SAMPLED, encoding="utf-8")
    rows = [f"{i},a,v{i}" for i in range(1, 100_001)] + ["100001,a,dup", "100002,a,dup"]
    (tmp_path / "t.csv").write_text("id,s,v\n" + "\n".join(rows) + "\n", encoding="utf-8")
    expected = [{"id": 100_001, "v": "dup"}, {"id": 100_002, "v": "dup"}]
    for engine in (on, polars):
        un = next(c for c in engine.result(tmp_path / "r.yaml", tmp_path)["checks"] if c["id"] == "un")
        assert un["failed"] == 1 and un["samples"] == expected
