"""Which rows each construct sees: the README's table, walked cell by cell, on small
synthetic tables of the shape of nycflights13 (flights, weather on origin + time_hour,
planes, airports) and of the CDNOW purchase log. Every expected number is computed here
with plain Polars over the same tables, never taken from the engine; every case runs on
both engines, which must agree exactly.
"""
from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import polars as pl

from conftest import approx_equal
import pytest

from engine.cli import main
from engine.errors import AssessError
from engine.run import assess
from engine.validate import load_ruleset

ENGINES = ("auto", "streaming")


def ruleset(tmp_path: Path, body: str, tables: dict[str, pl.DataFrame]) -> Path:
    for name, frame in tables.items():
        frame.write_csv(tmp_path / f"{name}.csv")
    path = tmp_path / "r.yaml"
    # a body built of FLIGHT_SOURCES and an indented block: the block loses its 8 spaces
    lines = body.splitlines(keepends=True)
    text = "".join(line[8:] if line.startswith(" " * 8) else line for line in lines) \
        if any(line[:1] not in (" ", "\n") for line in lines) else textwrap.dedent(body)
    path.write_text("ruleset: rows\nparams: {period_start: 2013-01-01, period_end: 2013-01-31}\n"
                    "categories: {c: {}}\n" + text, encoding="utf-8")
    return path


def both(path: Path, **kwargs):
    """The result on each engine, after checking they agree to the last digit."""
    results = [assess(path, engine=e, **kwargs) for e in ENGINES]
    from engine.result import to_json
    documents = [to_json(r) for r in results]
    for d in documents:
        d.pop("queries")  # how many queries ran differs by design
        d.pop("engine")
        d.pop("sources")  # where each table was read from
    assert json.dumps(documents[0]) == json.dumps(documents[1])
    sql = to_json(assess(path, engine="duckdb", **kwargs))  # a SQL engine: the same to 1e-9
    for key in ("queries", "engine", "sources"):
        sql.pop(key)
    assert approx_equal(sql, documents[0])
    return results[0]


def value(result, kpi: str) -> float | None:
    """The value of KPI ``kpi``, or of ``k_<kpi>``, the KPI over the measure of that name."""
    return next(k.value for k in result.kpis if k.id in (kpi, f"k_{kpi}"))


# ---------------------------------------------------------------- the tables

def flights_tables() -> dict[str, pl.DataFrame]:
    """Six flights; weather for four (origin, time_hour) pairs; planes of two makers;
    airports keyed by faa, one of them listed twice."""
    hour = [dt.datetime(2013, 1, 1, h) for h in range(6)]
    flights = pl.DataFrame({
        "flight_id": [1, 2, 3, 4, 5, 6],
        "origin": ["EWR", "EWR", "JFK", "JFK", "LGA", None],
        "time_hour": [hour[0], hour[1], hour[0], hour[2], hour[3], hour[3]],
        "tailnum": ["N1", "N2", "N3", "N1", "N9", "N2"],
        "dest": ["IAH", "MIA", "IAH", "BQN", "ATL", "MIA"],
        "year": [2013, 2013, 2013, 2012, 2013, 2013],
        "dep_delay": [2.0, 4.0, -1.0, 10.0, 0.5, 3.0],
    })
    weather = pl.DataFrame({
        "origin": ["EWR", "JFK", "JFK", "LGA"],
        "time_hour": [hour[0], hour[0], hour[1], hour[4]],
        "temp": [39.0, 39.9, 39.0, 41.0],
    })
    planes = pl.DataFrame({
        "tailnum": ["N1", "N2", "N3"],
        "manufacturer": ["BOEING", "AIRBUS", "BOEING"],
        "year": [2004, 1999, 2010],
    })
    airports = pl.DataFrame({
        "faa": ["iah", "mia", "bqn", "mia"],
        "name": ["Houston", "Miami", "Borinquen", "Miami (second row)"],
    })
    return {"flights": flights, "weather": weather, "planes": planes, "airports": airports}


FLIGHT_SOURCES = """\
sources:
  flights:
    path: flights.csv
    key: flight_id
    columns: {flight_id: int, origin: string, time_hour: datetime, tailnum: string, dest: string,
              year: int, dep_delay: float}
  weather: {path: weather.csv, columns: {origin: string, time_hour: datetime, temp: float}}
  planes: {path: planes.csv, columns: {tailnum: string, manufacturer: string, year: int}}
  airports: {path: airports.csv, columns: {faa: string, name: string}}
"""


def cdnow(seed: int = 7) -> pl.DataFrame:
    """A CDNOW-shaped purchase log: customers buying in 1997 and 1998, some lines of 0."""
    import random
    rng = random.Random(seed)
    rows = []
    for customer in range(1, 61):
        for _ in range(rng.randint(1, 4)):
            day = dt.date(1997, 1, 1) + dt.timedelta(days=rng.randint(0, 540))
            rows.append((customer, day, rng.choice([0.0, 0.0, 12.5, 30.0, 71.97, 600.0])))
    return pl.DataFrame(rows, schema=["customer_id", "date", "dollar_value"], orient="row")


# ---------------------------------------------------------------- `from` parent (item 1)

def test_a_derived_source_groups_its_parents_rows_after_the_parents_where(tmp_path):
    tx = cdnow()
    path = ruleset(tmp_path, """\
        sources:
          tx: {path: tx.csv, columns: {customer_id: int, date: date, dollar_value: float},
               where: "year(date) == 1997 and dollar_value != 0"}
          buyers: {from: tx, group_by: customer_id, aggregate: {purchases: {count: true}}}
        measures:
          customers: {source: buyers, count: true}
          repeaters: {source: buyers, count: true, where: "purchases >= 2"}
        kpis:
          repeat_rate: {formula: repeaters / customers, target: 0.5, category: c}
        """, {"tx": tx})
    kept = tx.filter((pl.col("date").dt.year() == 1997) & (pl.col("dollar_value") != 0))
    per = kept.group_by("customer_id").len()
    expected = per.filter(pl.col("len") >= 2).height / per.height
    unfiltered = tx.group_by("customer_id").len()
    assert expected != unfiltered.filter(pl.col("len") >= 2).height / unfiltered.height  # the test can tell
    result = both(path)
    assert value(result, "repeat_rate") == pytest.approx(expected)


def test_a_derived_source_applies_its_own_where_to_the_groups(tmp_path):
    tx = cdnow()
    path = ruleset(tmp_path, """\
        sources:
          tx: {path: tx.csv, columns: {customer_id: int, date: date, dollar_value: float},
               where: "dollar_value > 500"}
          big_buyers: {from: tx, group_by: customer_id, aggregate: {n: {count: true}, spent: {sum: dollar_value}},
                       where: "spent >= 1200"}
        measures:
          buyers: {source: big_buyers, count: true}
        kpis:
          k: {formula: buyers, target: 1, category: c}
        """, {"tx": tx})
    big = tx.filter(pl.col("dollar_value") > 500).group_by("customer_id").agg(pl.col("dollar_value").sum())
    assert value(both(path), "k") == big.filter(pl.col("dollar_value") >= 1200).height


# ---------------------------------------------------------------- `references` target (item 2)

def test_references_sees_the_targets_rows_after_its_where(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, FLIGHT_SOURCES.replace(
        "  planes: {path: planes.csv,", "  planes: {where: \"manufacturer == 'NOBODY'\", path: planes.csv,") + """\
        measures:
          n: {source: flights, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        checks:
          - {id: known_plane, source: flights, rule: references, column: tailnum, to: {source: planes, column: tailnum}}
        """, t)
    check = both(path).checks[0]
    # planes filtered to no rows: every flight with a tail number is an orphan
    assert (check.rows, check.failed) == (6, 6)


# ---------------------------------------------------------------- `join` lender (item 3)

def test_a_join_borrows_from_the_lenders_rows_after_its_where(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, FLIGHT_SOURCES.replace(
        "  flights:\n", "  flights:\n    join: {source: planes, on: tailnum, columns: [manufacturer]}\n").replace(
        "  planes: {path: planes.csv,", "  planes: {where: \"manufacturer == 'BOEING'\", path: planes.csv,") + """\
        measures:
          named: {source: flights, count: true, where: "is_not_null(manufacturer)"}
          airbus: {source: flights, count: true, where: "manufacturer == 'AIRBUS'"}
        kpis:
          k_named: {formula: named, target: 1, category: c}
          k_airbus: {formula: airbus, target: 1, category: c}
        """, t)
    boeing = t["planes"].filter(pl.col("manufacturer") == "BOEING")
    joined = t["flights"].join(boeing.select("tailnum", "manufacturer"), on="tailnum", how="left")
    result = both(path)
    assert value(result, "named") == joined["manufacturer"].is_not_null().sum() == 3  # N1 twice, N3
    assert value(result, "airbus") == 0


# ---------------------------------------------------------------- computed keys (item 4)

def test_a_join_on_a_computed_key_and_borrowing_a_computed_column(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, FLIGHT_SOURCES.replace(
        "  flights:\n", "  flights:\n    join: [{source: airports, on: {dest: code}, columns: [name]},\n"
                        "           {source: planes, on: tailnum, columns: [age]}]\n").replace(
        "  planes: {path: planes.csv,", "  planes: {compute: {age: \"2013 - year\"}, path: planes.csv,").replace(
        "  airports: {path: airports.csv,", "  airports: {compute: {code: upper(faa)}, path: airports.csv,") + """\
        measures:
          houston: {source: flights, count: true, where: "name == 'Houston'"}
          mean_age: {source: flights, mean: age}
        kpis:
          k_houston: {formula: houston, target: 1, category: c}
          k_mean_age: {formula: mean_age, target: 1, category: c}
        """, t)
    airports = t["airports"].with_columns(code=pl.col("faa").str.to_uppercase()).unique("code", keep="first",
                                                                                      maintain_order=True)
    planes = t["planes"].with_columns(age=2013 - pl.col("year"))
    joined = t["flights"].join(airports.select("code", "name"), left_on="dest", right_on="code", how="left") \
        .join(planes.select("tailnum", "age"), on="tailnum", how="left")
    result = both(path)
    assert value(result, "houston") == (joined["name"] == "Houston").sum() == 2
    assert value(result, "mean_age") == pytest.approx(joined["age"].mean())


def test_a_computed_column_and_a_join_that_need_each_other_are_refused_at_validation(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, FLIGHT_SOURCES.replace(
        "  flights:\n", "  flights:\n    join: {source: airports, on: {code: faa}, columns: [name]}\n"
                        "    compute: {code: upper(name)}\n") + """\
        measures:
          n: {source: flights, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        """, t)
    with pytest.raises(AssessError) as caught:
        assess(path)
    problem = caught.value.problems[0]
    assert problem.rule == "join" and "need each other" in problem.message
    assert problem.location.line == 6  # the join of flights


def test_sources_that_need_each_other_in_a_loop_are_refused(tmp_path):
    path = ruleset(tmp_path, """\
        sources:
          a: {path: a.csv, columns: {k: string, n: float}, join: {source: b, on: k, columns: [m]}}
          b: {from: a, group_by: k, aggregate: {m: {count: true}}}
        measures:
          n: {source: a, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        """, {"a": pl.DataFrame({"k": ["x"], "n": [1.0]})})
    with pytest.raises(AssessError) as caught:
        assess(path)
    assert any(p.rule == "cycle" and "a -> b -> a" in p.message for p in caught.value.problems)


# ---------------------------------------------------------------- numeric keys (item 5)

def test_references_compares_numeric_keys_as_numbers(tmp_path):
    t = flights_tables()
    years = pl.DataFrame({"year": [2013.0, None]})  # a float column, as a null makes it in exports
    path = ruleset(tmp_path, FLIGHT_SOURCES + """\
          years: {path: years.csv, columns: {year: float}}
        measures:
          n: {source: flights, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        checks:
          - {id: known_year, source: flights, rule: references, column: year, to: {source: years, column: year}}
        """, {**t, "years": years})
    check = both(path).checks[0]
    assert (check.rows, check.failed) == (6, 1)  # only the 2012 flight


def test_a_text_key_against_a_number_is_a_located_error(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, FLIGHT_SOURCES + """\
        measures:
          n: {source: flights, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        checks:
          - {id: bad_key, source: flights, rule: references, column: tailnum, to: {source: planes, column: year}}
        """, t)
    with pytest.raises(AssessError) as caught:
        assess(path)
    problem = caught.value.problems[0]
    assert problem.rule == "key-type" and "string" in problem.message and "int" in problem.message
    assert problem.location.line == 18  # the check's `to`


def test_undeclared_keys_of_incompatible_types_fail_at_run_time_with_both_types(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, FLIGHT_SOURCES.replace("columns: {tailnum: string, manufacturer: string, year: int}",
                                                    "key: tailnum") + """\
        measures:
          n: {source: flights, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        checks:
          - {id: bad_key, source: flights, rule: references, column: tailnum, to: {source: planes, column: year}}
        """, t)
    with pytest.raises(AssessError) as caught:
        assess(path)
    problem = caught.value.problems[0]
    assert problem.rule == "key-type" and "String" in problem.message and "Int64" in problem.message
    assert problem.location.line == 18
    with pytest.raises(AssessError) as caught:  # and before the database refuses the join
        assess(path, engine="duckdb")
    problem = caught.value.problems[0]
    assert problem.rule == "key-type" and "string" in problem.message and "int64" in problem.message
    assert problem.location.line == 18


# ---------------------------------------------------------------- composite and renamed keys (7, 8)

def test_references_on_a_composite_key(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, FLIGHT_SOURCES + """\
        measures:
          n: {source: flights, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        checks:
          - {id: weather_known, source: flights, rule: references, columns: [origin, time_hour],
             to: {source: weather, columns: [origin, time_hour]}}
          - {id: weather_known_nulls, source: flights, rule: references, columns: [origin, time_hour],
             ignore_nulls: false, to: {source: weather, columns: [origin, time_hour]}}
        """, t)
    flights, weather = t["flights"], t["weather"]
    keyed = flights.drop_nulls(["origin", "time_hour"])
    orphans = keyed.join(weather, on=["origin", "time_hour"], how="anti")
    checks = {c.id: c for c in both(path).checks}
    assert (checks["weather_known"].rows, checks["weather_known"].failed) == (keyed.height, orphans.height) == (5, 3)
    assert checks["weather_known"].distinct_failed == orphans.select("origin", "time_hour").n_unique() == 3
    # with nulls in scope, flight 6 (no origin) fails too
    assert (checks["weather_known_nulls"].rows, checks["weather_known_nulls"].failed) == (6, 4)


def test_a_join_on_differently_named_columns_takes_the_first_row_of_a_repeated_key(tmp_path):
    t = flights_tables()
    airports = t["airports"].with_columns(pl.col("faa").str.to_uppercase())
    path = ruleset(tmp_path, FLIGHT_SOURCES.replace(
        "  flights:\n", "  flights:\n    join: {source: airports, on: {dest: faa}, columns: [name]}\n") + """\
        measures:
          n: {source: flights, count: true}
          miami: {source: flights, count: true, where: "name == 'Miami'"}
          nameless: {source: flights, count: true, where: "is_null(name)"}
        kpis:
          k_n: {formula: n, target: 1, category: c}
          k_miami: {formula: miami, target: 1, category: c}
          k_nameless: {formula: nameless, target: 1, category: c}
        """, {**t, "airports": airports})
    first = airports.unique("faa", keep="first", maintain_order=True)
    joined = t["flights"].join(first, left_on="dest", right_on="faa", how="left")
    result = both(path)
    assert value(result, "n") == t["flights"].height == 6  # MIA twice in airports: no extra rows
    assert value(result, "miami") == (joined["name"] == "Miami").sum() == 2
    assert value(result, "nameless") == joined["name"].is_null().sum() == 1  # ATL is not listed


def test_a_join_on_a_composite_key(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, FLIGHT_SOURCES.replace(
        "  flights:\n", "  flights:\n    join: {source: weather, on: [origin, time_hour], columns: [temp]}\n") + """\
        measures:
          temp: {source: flights, mean: temp}
        kpis:
          k_temp: {formula: temp, target: 1, category: c}
        """, t)
    joined = t["flights"].join(t["weather"], on=["origin", "time_hour"], how="left")
    assert value(both(path), "temp") == pytest.approx(joined["temp"].mean())


# ---------------------------------------------------------------- measures, checks, breakdowns, entities

def test_a_measure_and_a_check_see_the_sources_where_their_own_where_borrowed_columns_and_the_period(tmp_path):
    t = flights_tables()
    t["flights"] = t["flights"].with_columns(  # one flight moved to the previous period
        pl.when(pl.col("flight_id") == 5).then(dt.datetime(2012, 12, 31, 3)).otherwise("time_hour").alias("time_hour"))
    path = ruleset(tmp_path, "compare: previous\n" + FLIGHT_SOURCES.replace(
        "  flights:\n", "  flights:\n    where: \"dep_delay > 0\"\n"
                        "    join: {source: planes, on: tailnum, columns: [manufacturer]}\n") + """\
        measures:
          boeing_delay: {source: flights, sum: dep_delay,
                         where: "manufacturer == 'BOEING' and between(date(time_hour), period_start, period_end)"}
          flights_in_period: {source: flights, count: true, where: "between(date(time_hour), period_start, period_end)"}
        kpis:
          k_boeing_delay: {formula: boeing_delay, target: 1, category: c}
          k_flights_in_period: {formula: flights_in_period, target: 1, category: c}
        checks:
          - {id: boeing_small_delay, source: flights, rule: expression, expression: "dep_delay < 5",
             where: "manufacturer == 'BOEING'"}
        """, t)
    joined = t["flights"].filter(pl.col("dep_delay") > 0) \
        .join(t["planes"].select("tailnum", "manufacturer"), on="tailnum", how="left")
    january = pl.col("time_hour").dt.date().is_between(dt.date(2013, 1, 1), dt.date(2013, 1, 31))
    december = pl.col("time_hour").dt.date().is_between(dt.date(2012, 12, 1), dt.date(2012, 12, 31))
    boeing = joined.filter(pl.col("manufacturer") == "BOEING")
    result = both(path)
    assert value(result, "boeing_delay") == pytest.approx(boeing.filter(january)["dep_delay"].sum())  # 2 + 10
    assert value(result, "flights_in_period") == joined.filter(january).height == 4
    assert result.kpi("k_flights_in_period").previous == joined.filter(december).height == 1
    check = result.checks[0]
    assert (check.rows, check.failed) == (boeing.height, (boeing["dep_delay"] >= 5).sum()) == (2, 1)
    assert [s.rows for s in result.sources if s.name == "flights"] == [joined.height]


def test_a_breakdown_and_the_entities_see_the_sources_where_and_borrowed_columns(tmp_path):
    t = flights_tables()
    path = ruleset(tmp_path, "by: manufacturer\n" + FLIGHT_SOURCES.replace(
        "  flights:\n", "  flights:\n    where: \"origin != 'LGA'\"\n"
                        "    join: {source: planes, on: tailnum, columns: [manufacturer]}\n") + """\
        measures:
          delay: {source: flights, sum: dep_delay}
          delay_by_maker: {source: flights, sum: dep_delay, by: manufacturer, where: "dep_delay > 0"}
        kpis:
          k_delay: {formula: delay, target: 1, category: c}
        """, t)
    joined = t["flights"].filter(pl.col("origin") != "LGA") \
        .join(t["planes"].select("tailnum", "manufacturer"), on="tailnum", how="left")
    result = both(path)
    per_entity = joined.group_by("manufacturer").agg(pl.col("dep_delay").sum()).drop_nulls("manufacturer")
    assert {e.id: e.kpi("k_delay").value for e in result.entities} == \
        dict(per_entity.iter_rows()) == {"BOEING": 11.0, "AIRBUS": 4.0}
    breakdown = joined.filter(pl.col("dep_delay") > 0).group_by("manufacturer").agg(pl.col("dep_delay").sum())
    rows = {r["manufacturer"]: r["delay_by_maker"] for r in result.breakdowns[0]["rows"]}
    assert rows == dict(breakdown.iter_rows()) == {"BOEING": 12.0, "AIRBUS": 4.0}


# ---------------------------------------------------------------- breakdown formulas (item 11)

def segment_tables() -> dict[str, pl.DataFrame]:
    """The CDNOW log with a customer table giving each customer a segment, and leads with
    their own segment column. `vip` customers buy but no lead is in `vip`; `partner`
    leads exist but no customer is a partner; customers 1-9 and some leads have no
    segment: the null group, on both sides."""
    tx = cdnow()
    segments = ["retail", "online", "wholesale", "vip"]
    customers = pl.DataFrame({"customer_id": list(range(1, 61)),
                              "segment": [None if c < 10 else segments[c % 4] for c in range(1, 61)]})
    leads = pl.DataFrame({"lead_id": list(range(1, 41)),
                          "segment": [None if i % 9 == 0 else ["retail", "online", "wholesale", "partner"][i % 4]
                                      for i in range(1, 41)]})
    return {"tx": tx, "customers": customers, "leads": leads}


BREAKDOWN_RULESET = """\
    sources:
      tx:
        path: tx.csv
        columns: {customer_id: int, date: date, dollar_value: float}
        join: {source: customers, on: customer_id, columns: [segment]}
      customers: {path: customers.csv, columns: {customer_id: int, segment: string}}
      leads: {path: leads.csv, columns: {lead_id: int, segment: string}}
    measures:
      leads: {source: leads, count: true, by: segment, title: {en: Leads, zh: 线索}}
      lead_ids: {source: leads, n_unique: lead_id, by: segment}
      buyers: {source: tx, n_unique: customer_id, by: segment, where: "year(date) == 1997 and dollar_value > 0"}
      revenue: {source: tx, sum: dollar_value, by: segment, where: "year(date) == 1997"}
      spend: {source: tx, mean: dollar_value, by: segment, where: "dollar_value > 0"}
    breakdowns:
      conversion: {title: {en: Conversion, zh: 转化率}, by: segment, formula: buyers / leads, unit: percent}
      revenue_per_buyer: {by: segment, formula: revenue / buyers, unit: currency}
      spend_per_lead: {by: [segment], formula: spend / leads}
    """


def test_a_breakdown_formula_per_group_across_sources(tmp_path):
    t = segment_tables()
    path = ruleset(tmp_path, BREAKDOWN_RULESET, t)
    result = both(path)
    # expected: plain Polars over the same tables
    tx = t["tx"].join(t["customers"], on="customer_id", how="left")
    in_1997 = pl.col("date").dt.year() == 1997
    leads = t["leads"].group_by("segment").agg(pl.len().alias("leads"))
    buyers = tx.filter(in_1997 & (pl.col("dollar_value") > 0)).group_by("segment") \
        .agg(pl.col("customer_id").n_unique().alias("buyers"))
    revenue = tx.filter(in_1997).group_by("segment").agg(pl.col("dollar_value").sum().alias("revenue"))
    spend = tx.filter(pl.col("dollar_value") > 0).group_by("segment").agg(pl.col("dollar_value").mean().alias("spend"))
    tables = {b["id"]: {r["segment"]: r for r in b["rows"]} for b in result.breakdowns if b.get("formula")}
    # the measures a formula uses are in its table; the one no formula uses keeps its own
    assert [b["source"] for b in result.breakdowns] == ["leads", None, None, None]
    assert [m["id"] for m in result.breakdowns[0]["measures"]] == ["lead_ids"]
    assert result.breakdowns[0]["rows"][0] == {"segment": "online", "lead_ids": 9}  # i = 1, 5, ... 37, less 9

    conversion = tables["conversion"]
    lead_count = dict(leads.iter_rows())
    buyer_count = dict(buyers.iter_rows())
    # every group of either measure, the null group once: 4 lead segments + null, vip from the customers
    assert set(conversion) == set(lead_count) | set(buyer_count) == {"retail", "online", "wholesale", "partner", "vip", None}
    for segment, row in conversion.items():
        n, b = lead_count.get(segment, 0), buyer_count.get(segment, 0)
        assert (row["leads"], row["buyers"]) == (n, b)
        assert row["conversion"] == (pytest.approx(b / n) if n else None)
    # partner: 9 leads (i = 3, 7, ... 39, less 27, a multiple of 9), no customer: 0 buyers, 0 %
    assert (conversion["partner"]["leads"], conversion["partner"]["buyers"], conversion["partner"]["conversion"]) == (9, 0, 0.0)
    # vip: buyers but no lead, so the share is n/a with the reason, not a crash
    assert conversion["vip"]["leads"] == 0 and conversion["vip"]["buyers"] > 0
    assert conversion["vip"]["conversion"] is None
    assert conversion["vip"]["conversion.reason"] == "division by zero: `leads` is 0"
    # the null group: leads 9, 18, 27, 36 and customers 1-9 who bought in 1997 with a value
    assert conversion[None]["leads"] == 4 and conversion[None]["buyers"] == buyer_count[None]

    per_buyer = tables["revenue_per_buyer"]
    for segment, total in revenue.iter_rows():
        b = buyer_count.get(segment, 0)
        assert per_buyer[segment]["revenue_per_buyer"] == (pytest.approx(total / b) if b else None)
    assert set(per_buyer) == set(revenue["segment"])  # the groups of its own measures: no partner

    per_lead = tables["spend_per_lead"]
    mean = dict(spend.iter_rows())
    assert per_lead["retail"]["spend_per_lead"] == pytest.approx(mean["retail"] / lead_count["retail"])
    # no purchase of a partner: the mean has no value there (a count or sum would be 0)
    assert per_lead["partner"]["spend"] is None and per_lead["partner"]["spend_per_lead"] is None
    assert per_lead["partner"]["spend_per_lead.reason"] == "measure `spend` has no value (no rows, or only empty values)"
    assert [r["segment"] for r in result.breakdowns[1]["rows"]] == ["online", "partner", "retail", "vip", "wholesale", None]


def test_a_breakdown_formula_on_every_report(tmp_path):
    import jsonschema
    t = segment_tables()
    path = ruleset(tmp_path, BREAKDOWN_RULESET, t)
    leads = t["leads"].group_by("segment").len()
    retail = dict(leads.iter_rows())["retail"]
    assert retail == 9  # i = 4, 8, ... 40, less 36
    buyers = t["tx"].join(t["customers"], on="customer_id").filter(
        (pl.col("date").dt.year() == 1997) & (pl.col("dollar_value") > 0) & (pl.col("segment") == "retail"))
    share = buyers["customer_id"].n_unique() / retail
    shown = f"{share * 100:.1f}%"
    assert shown != f"{share:.3f}"  # a percent, not a ratio
    for fmt, needles in (("md", [f"| retail | {retail} | {buyers['customer_id'].n_unique()} | {shown} |",
                                 "<details><summary>Conversion · by segment</summary>",
                                 "n/a (division by zero: \\`leads\\` is 0)"]),  # Markdown escapes the backticks
                         ("html", [f'data-label="Conversion">{shown}</td>', "division by zero: `leads` is 0"]),
                         ("table", [shown, "Conversion · by segment", "n/a (division by zero: `leads` is 0)"])):
        out = tmp_path / f"r.{fmt}"
        assert main(["run", str(path), "--format", fmt, "--out", str(out)]) == 0
        text = out.read_text(encoding="utf-8")
        assert all(n in text for n in needles), (fmt, text)
    out = tmp_path / "zh.md"
    main(["run", str(path), "--format", "md", "--lang", "zh", "--out", str(out)])
    assert "<summary>转化率 · 按 segment</summary>" in out.read_text(encoding="utf-8")
    assert "| vip | 0 | " in out.read_text(encoding="utf-8")  # the reason in Chinese, as a KPI's
    assert "n/a (除数为零：\\`leads\\` 为 0) |" in out.read_text(encoding="utf-8")
    main(["run", str(path), "--format", "json", "--out", str(tmp_path / "r.json")])
    document = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads((Path(__file__).parent.parent / "schemas" / "result.schema.json")
                                             .read_text(encoding="utf-8")))
    openpyxl = pytest.importorskip("openpyxl")
    main(["run", str(path), "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")])
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["Breakdowns"]
    rows = [[c for c in row] for row in sheet.iter_rows()]
    header = next(i for i, r in enumerate(rows) if r[0].value == "Conversion · by segment") + 1
    assert [c.value for c in rows[header][:5]] == ["segment", "Leads", "buyers", "Conversion", "Notes"]
    cells = {r[0].value: r for r in rows[header + 1:header + 7]}
    assert cells["retail"][3].value == pytest.approx(share) and cells["retail"][3].number_format == "0.0%"
    assert cells["vip"][3].value is None and cells["vip"][4].value == "division by zero: `leads` is 0"


BREAKDOWN_ERRORS = """\
    ruleset: r
    sources:
      tx: {path: tx.csv, columns: {customer_id: int, date: date, segment: string}}
      leads: {path: leads.csv, columns: {lead_id: int, segment: string, date: date}}
    measures:
      leads: {source: leads, count: true, by: segment}
      all_leads: {source: leads, count: true}
      by_day: {source: leads, count: true, by: date}
      buyers: {source: tx, n_unique: customer_id, by: segment}
    breakdowns:
      conversion:
        by: segment
        formula: buyers / leads
        unit: percent
    """


@pytest.mark.parametrize("old,new,rule,word,message", [
    ("buyers / leads", "buyers / lead", "unknown-name", "lead",
     "`lead` in the formula of breakdown `conversion` is not a measure or a param (did you mean `leads`?)"),
    ("buyers / leads", "buyers / lead_id", "unknown-name", "lead_id", "it is a column of `leads`"),
    ("buyers / leads", "buyers / all_leads", "breakdown", "all_leads", "`all_leads` is not broken down"),
    ("buyers / leads", "buyers / by_day", "breakdown", "by_day", "`by_day` is by date, so `conversion` (by segment)"),
    ("    by: segment", "    by: segmnt", "breakdown", "segmnt", "no measure is broken down by segmnt"),
    ("unit: percent", "unit: percnt", "schema", "percnt", "(did you mean `percent`?)"),
    ("breakdowns:", "kpis: {k: {formula: conversion, category: c}}\ncategories: {c: {}}\nbreakdowns:",
     "breakdown", "conversion", "`conversion` is a breakdown, a value per group, so the formula of `k` cannot use it"),
])
def test_a_breakdown_formula_is_validated_at_the_line(tmp_path, old, new, rule, word, message):
    text = textwrap.dedent(BREAKDOWN_ERRORS).replace(old, new, 1)
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AssessError) as info:
        load_ruleset(path)
    number, line = next((n, t) for n, t in enumerate(text.splitlines(), start=1) if new.split("\n")[0] in t)
    assert [(p.rule, p.location.line, p.location.column) for p in info.value.problems] == \
        [(rule, number, line.index(word) + 1)], [str(p) for p in info.value.problems]
    assert message in str(info.value.problems[0])


# ---------------------------------------------------------------- the same bytes every run (item 6)

def test_sums_add_up_row_by_row_in_file_order(tmp_path):
    """A float sum is added up in the file's row order, whatever threads the engine runs,
    so the same file gives the same bits: 0.1 + 0.2 + 0.3 + 1e16 - 1e16 + 0.7 one way, and
    the other way round for the file written backwards (and the two differ)."""
    values = [0.1, 0.2, 0.3, 1e16, -1e16, 0.7]
    assert sum(values) != sum(reversed(values))  # the test can tell the orders apart
    for order in (values, values[::-1]):
        folder = tmp_path / str(order[0])
        folder.mkdir()
        path = ruleset(folder, """\
            sources: {t: {path: t.csv, columns: {x: float}}}
            measures: {s: {source: t, sum: x}, m: {source: t, mean: x}}
            kpis: {k_s: {formula: s, target: 1, category: c}, k_m: {formula: m, target: 1, category: c}}
            """, {"t": pl.DataFrame({"x": order})})
        result = both(path)
        in_order = 0.0
        for v in order:  # left to right, as Python's sum() also adds
            in_order += v
        assert value(result, "s") == in_order
        assert value(result, "m") == in_order / len(values)


SHIPPED = sorted(p for p in (Path(__file__).resolve().parent.parent / "rulesets").glob("*.yaml")
                 if not p.name.endswith(".tests.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_three_runs_give_the_same_bytes(path, tmp_path, capsys):
    outputs = []
    for i in range(3):
        out = tmp_path / f"{i}.json"
        assert main(["run", str(path), "--format", "json", "--out", str(out)]) in (0, 1)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


# ---------------------------------------------------------------- distinct orphan keys (item 9)

def test_references_reports_the_distinct_failing_keys_most_rows_first(tmp_path, capsys):
    t = flights_tables()
    t["flights"] = pl.concat([t["flights"]] * 3).with_columns(flight_id=pl.int_range(18))
    path = ruleset(tmp_path, FLIGHT_SOURCES + """\
        settings: {samples: 2}
        measures:
          n: {source: flights, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        checks:
          - {id: known_plane, source: flights, rule: references, column: tailnum, to: {source: planes, column: tailnum}}
          - {id: weather_known, source: flights, rule: references, columns: [origin, time_hour],
             to: {source: weather, columns: [origin, time_hour]}}
        """, t)
    result = both(path)
    checks = {c.id: c for c in result.checks}
    # independently: the orphans grouped by key, most rows first, then by key
    orphans = t["flights"].join(t["planes"], on="tailnum", how="anti").group_by("tailnum").len() \
        .sort(["len", "tailnum"], descending=[True, False])
    plane = checks["known_plane"]
    assert plane.distinct_failed == orphans.height == 1
    assert plane.top_failed_values == [{"value": "N9", "rows": 3}]
    weather = t["flights"].drop_nulls(["origin", "time_hour"]).join(t["weather"], on=["origin", "time_hour"],
                                                                   how="anti")
    top = weather.group_by("origin", "time_hour").len().sort(["len", "origin", "time_hour"],
                                                             descending=[True, False, False]).head(2)
    assert checks["weather_known"].distinct_failed == 3
    assert checks["weather_known"].top_failed_values == [
        {"value": {"origin": o, "time_hour": h}, "rows": n} for o, h, n in top.iter_rows()]
    # every report says it
    for fmt, needle in (("md", "3 distinct failing keys, 9 rows"), ("html", "3 distinct failing keys, 9 rows"),
                        ("junit", "3 distinct failing keys"), ("table", "3 distinct failing keys, 9 rows")):
        out = tmp_path / f"r.{fmt}"
        main(["run", str(path), "--format", fmt, "--out", str(out)])
        assert needle in out.read_text(encoding="utf-8"), fmt
    assert main(["run", str(path), "--format", "json", "--out", str(tmp_path / "r.json")]) == 1
    document = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    import jsonschema
    jsonschema.validate(document, json.loads((Path(__file__).parent.parent / "schemas" / "result.schema.json")
                                             .read_text(encoding="utf-8")))
    found = {c["id"]: c for c in document["checks"]}
    assert found["weather_known"]["top_failed_values"][0] == {
        "value": {"origin": "EWR", "time_hour": "2013-01-01T01:00:00"}, "rows": 3}
    openpyxl = pytest.importorskip("openpyxl")
    main(["run", str(path), "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")])
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["weather_known"]  # the rule's evidence sheet
    cells = [c.value for row in sheet.iter_rows() for c in row if c.value is not None]
    assert "3 distinct failing keys" in cells and "EWR / 2013-01-01 01:00:00" in cells


# ---------------------------------------------------------------- the README's table

CELLS = {  # each row of the table -> the tests above that check its cells
    "source (its row count on reports)": [test_a_measure_and_a_check_see_the_sources_where_their_own_where_borrowed_columns_and_the_period],
    "measure": [test_a_measure_and_a_check_see_the_sources_where_their_own_where_borrowed_columns_and_the_period,
                test_a_join_on_a_computed_key_and_borrowing_a_computed_column],
    "check": [test_a_measure_and_a_check_see_the_sources_where_their_own_where_borrowed_columns_and_the_period],
    "`references` target": [test_references_sees_the_targets_rows_after_its_where, test_references_on_a_composite_key],
    "`join` lender": [test_a_join_borrows_from_the_lenders_rows_after_its_where,
                      test_a_join_on_a_computed_key_and_borrowing_a_computed_column],
    "`from` parent": [test_a_derived_source_groups_its_parents_rows_after_the_parents_where,
                      test_a_derived_source_applies_its_own_where_to_the_groups],
    "breakdown (a measure with `by`)": [test_a_breakdown_and_the_entities_see_the_sources_where_and_borrowed_columns],
    "breakdown formula (`breakdowns:`)": [test_a_breakdown_formula_per_group_across_sources],
    "entity (per-entity measures, `names`)": [test_a_breakdown_and_the_entities_see_the_sources_where_and_borrowed_columns],
}


def test_the_readme_table_lists_every_construct_and_each_has_its_tests():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Which rows each construct sees", 1)[1].split("\n### ", 1)[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| construct")]
    assert rows == list(CELLS)
    assert all(test.__name__.startswith("test_") for tests in CELLS.values() for test in tests)


# ---------------------------------------------------------------- range on dates (item 12)

def test_range_on_dates_and_datetimes_with_literals_and_params(tmp_path):
    tx = cdnow()
    tx = tx.with_columns(at=pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("customer_id") % 24))
    path = ruleset(tmp_path, """\
        sources:
          tx: {path: tx.csv, columns: {customer_id: int, date: date, dollar_value: float, at: datetime}}
        measures:
          n: {source: tx, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        checks:
          - {id: in_1997, source: tx, rule: range, column: date, min: 1997-01-01, max: "1997-12-31"}
          - {id: in_period, source: tx, rule: range, column: date, min: period_start, max: period_end}
          - {id: before_noon, source: tx, rule: range, column: at, max: 1998-01-01T12:00:00}
          - {id: before_noon_quoted, source: tx, rule: range, column: at, max: "1998-01-01T12:00:00"}
          - {id: datetime_from_a_date, source: tx, rule: range, column: at, min: 1997-06-01}
        """, {"tx": tx})
    text = path.read_text(encoding="utf-8").replace("period_start: 2013-01-01, period_end: 2013-01-31",
                                                    "period_start: 1997-03-01, period_end: 1997-09-30")
    path.write_text(text, encoding="utf-8")
    checks = {c.id: c for c in both(path).checks}
    d, at = pl.col("date"), pl.col("at")
    expected = {
        "in_1997": ~d.is_between(dt.date(1997, 1, 1), dt.date(1997, 12, 31)),
        "in_period": ~d.is_between(dt.date(1997, 3, 1), dt.date(1997, 9, 30)),
        "before_noon": at > dt.datetime(1998, 1, 1, 12),
        "before_noon_quoted": at > dt.datetime(1998, 1, 1, 12),  # text, not a YAML timestamp
        "datetime_from_a_date": at < dt.datetime(1997, 6, 1),
    }
    for id, failing in expected.items():
        assert (checks[id].rows, checks[id].failed) == (tx.height, tx.filter(failing).height), id
    assert 0 < checks["in_1997"].failed < tx.height  # the data can tell


@pytest.mark.parametrize("bound, message", [("5", "5 is not a date"),
                                            ("'soon'", "'soon' is neither a number, a date")])
def test_a_range_bound_that_is_not_a_date_is_a_located_error(tmp_path, bound, message):
    path = ruleset(tmp_path, f"""\
        sources:
          tx: {{path: tx.csv, columns: {{customer_id: int, date: date, dollar_value: float}}}}
        measures:
          n: {{source: tx, count: true}}
        kpis:
          k: {{formula: n, target: 1, category: c}}
        checks:
          - {{id: r, source: tx, rule: range, column: date, min: {bound}}}
        """, {"tx": cdnow()})
    with pytest.raises(AssessError) as caught:
        assess(path)
    problem = caught.value.problems[0]
    assert problem.rule == "value-type" and message in problem.message and problem.location.line == 11


# ---------------------------------------------------------------- tracked KPIs (item 10)

def test_a_kpi_without_a_target_or_not_scored_is_tracked(tmp_path):
    tx = cdnow()
    path = ruleset(tmp_path, """\
        compare: previous
        sources:
          tx: {path: tx.csv, columns: {customer_id: int, date: date, dollar_value: float}}
        measures:
          revenue: {source: tx, sum: dollar_value, where: "between(date, period_start, period_end)"}
          lines: {source: tx, count: true, where: "between(date, period_start, period_end)"}
        kpis:
          revenue_k: {formula: revenue, target: 1000000, category: c}
          lines_k: {formula: lines, category: c, benchmark: 1}
          average_k: {formula: revenue / lines, target: 1, scored: false, category: c, weight: 5}
        actions:
          - {id: more_lines, when: 'lines_k.status == "missed" or average_k.status == "missed"', text: x}
        """, {"tx": tx})
    text = path.read_text(encoding="utf-8").replace("period_start: 2013-01-01, period_end: 2013-01-31",
                                                    "period_start: 1998-01-01, period_end: 1998-06-30")
    path.write_text(text, encoding="utf-8")
    result = both(path)
    in_period = tx.filter(pl.col("date").is_between(dt.date(1998, 1, 1), dt.date(1998, 6, 30)))
    before = tx.filter(pl.col("date").is_between(dt.date(1997, 7, 1), dt.date(1997, 12, 31)))
    lines, revenue = result.kpi("lines_k"), result.kpi("revenue_k")
    assert (lines.status, lines.score, lines.weight, lines.share) == ("tracked", None, 0.0, 0.0)
    assert lines.value == in_period.height and lines.previous == before.height
    assert lines.change == in_period.height - before.height and lines.reason is None
    assert result.kpi("average_k").status == "tracked" and result.kpi("average_k").share == 0.0
    # the total is the one scored KPI's: revenue / target x 100 (ratio scoring)
    assert result.score == pytest.approx(in_period["dollar_value"].sum() / 1e6 * 100)
    assert revenue.share == 1.0
    assert "lines_k" not in result.strengths + result.weaknesses and result.actions == []
    assert not any("lines_k" in note for note in result.notes)
    for fmt in ("md", "html", "table"):
        out = tmp_path / f"r.{fmt}"
        main(["run", str(path), "--format", fmt, "--out", str(out)])
        assert "tracked" in out.read_text(encoding="utf-8"), fmt
    main(["run", str(path), "--format", "json", "--out", str(tmp_path / "r.json")])
    import jsonschema
    jsonschema.validate(json.loads((tmp_path / "r.json").read_text(encoding="utf-8")),
                        json.loads((Path(__file__).parent.parent / "schemas" / "result.schema.json")
                                   .read_text(encoding="utf-8")))
