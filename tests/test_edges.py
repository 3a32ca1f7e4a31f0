"""The edges of the road: negative numbers, zero, null, ties, empty groups, params-only
filters. Each test pins one behaviour that a one-line change of the engine once left
unnoticed by the whole suite; the expected values are worked out in the comments."""
from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import polars as pl
import pytest

from engine.compile import lit, row_compiler
from engine.errors import AssessError, Location
from engine.expressions import parse
from engine.functions import FUNCTIONS, NULL_IN_NULL_OUT, arity
from engine.run import assess

HERE = Location("e.yaml", 1, 1)


DEFAULTS = {"ruleset": "ruleset: r\n", "sources": "sources:\n  t: {path: t.csv}\n", "categories": "categories: {c: {}}\n"}


def run(tmp_path: Path, ruleset: str, **tables: str):
    """assess on a ruleset written here (named r, with a table t and a category c unless
    it says otherwise) and CSV tables given as text."""
    text = textwrap.dedent(ruleset)
    text = "".join(v for k, v in DEFAULTS.items() if not re.search(rf"^{k}:", text, re.M)) + text
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    for name, text in tables.items():
        (tmp_path / f"{name}.csv").write_text(textwrap.dedent(text), encoding="utf-8")
    return assess(tmp_path / "r.yaml", tmp_path)


def folded(text: str, params: dict) -> list:
    """The values of an expression over params alone (one row)."""
    return pl.select(lit(row_compiler(params).compile(parse(text, HERE))).alias("x"))["x"].to_list()


# ---------------------------------------------------------------- a folded null

def test_the_crash_of_a_negated_division_of_a_folded_null(tmp_path):
    # 1 / 0 folds to null; null / 0 and -(null) stay null, where `neg` on a null-typed
    # expression once crashed the run
    result = run(tmp_path, """\
        params: {a: 1, b: 0, c: 0}
        measures:
          n: {source: t, count: true}
        kpis:
          k: {formula: "-((a / b) / c)", target: 1, category: c}
        """, t="x\n1\n")
    k = result.kpi("k")
    assert k.value is None and k.score is None
    assert k.reason == "division by zero: `b` is 0"


OPERATIONS = ["-(a / b)", "+(a / b)", "not (a / b)", "(a / b) + 1", "1 - (a / b)", "(a / b) * 2",
              "(a / b) / 2", "2 / (a / b)", "(a / b) // 2", "2 // (a / b)", "(a / b) % 2", "2 % (a / b)",
              "(a / b) ** 2", "2 ** (a / b)", "(a / b) < 1", "1 == (a / b)", "(a / b) != (a / b)",
              "(a / b) in (1, 2)", "(a / b) and True", "(a / b) or False", "(a / b) if True else 2"]


@pytest.mark.parametrize("text", OPERATIONS)
def test_every_operator_on_a_folded_null_gives_null(text):
    assert folded(text, {"a": 1, "b": 0}) == [None]


def test_a_folded_null_condition_takes_the_else_branch():
    assert folded("1 if (a / b) else 2", {"a": 1, "b": 0}) == [2]


def _call(name: str, null_at: int) -> str:
    low, _ = arity(name)
    args = ["1"] * low
    args[null_at] = "(a / b)"
    return f"{name}({', '.join(args)})"


STRICT = [(n, i) for n in sorted(NULL_IN_NULL_OUT) for i in range(arity(n)[0])]


@pytest.mark.parametrize("name, at", STRICT)
def test_functions_give_null_for_a_folded_null_argument(name, at):
    # abs, round, year, days ... of an untyped null crashed at collect; text functions
    # read it as the text "None" (matches(1, null) was false instead of null)
    assert folded(_call(name, at), {"a": 1, "b": 0}) == [None]


@pytest.mark.parametrize("text, expected", [
    ("coalesce((a / b), 3)", 3), ("is_null(a / b)", True), ("is_not_null(a / b)", False),
    ("is_blank(a / b)", True), ("div((a / b), 2)", None), ("div(2, (a / b), 7)", 7),
    ("min((a / b), 10)", 10), ("max((a / b), -10)", -10), ("between((a / b), 0, 1)", None),
])
def test_functions_that_decide_about_nulls(text, expected):
    assert folded(text, {"a": 1, "b": 0}) == [expected]


def test_every_function_is_classified_for_nulls():
    decided = {"coalesce", "is_null", "is_not_null", "is_blank", "div", "min", "max", "between", "valid"}
    assert set(FUNCTIONS) == NULL_IN_NULL_OUT | decided


# ---------------------------------------------------------------- functions

def test_rank_ties_share_the_best_rank_and_skip_the_next():
    # 50, 70, 70, 10 descending: 70 and 70 share 1, 50 is 3 (min), not 2 (dense); 10 is 4
    frame = pl.DataFrame({"x": [50.0, 70.0, 70.0, 10.0]})
    got = frame.select(FUNCTIONS["rank"](pl, pl.col("x")))["x"].to_list()
    assert got == [3, 1, 1, 4]


@pytest.mark.parametrize("b, expected", [(-4, -2.0), (4, 2.0), (0, None), (None, None)])
def test_div_by_a_negative_denominator(b, expected):
    # 8 / -4 = -2: only zero and null give the default
    frame = pl.DataFrame({"b": [b]}, schema={"b": pl.Int64})
    assert frame.select(FUNCTIONS["div"](pl, 8, pl.col("b")))["literal"].to_list() == [expected]


# ---------------------------------------------------------------- measures and KPIs

COUNT_BY_PARAM = """\
    params: {region: north}
    measures:
      north_rows: {source: t, count: true, where: "region == 'north'"}
      all_rows: {source: t, count: true}
    kpis:
      k: {formula: north_rows, target: 1, category: c}
      all: {formula: all_rows, target: 1, category: c}
    """


@pytest.mark.parametrize("region, expected", [("north", 3.0), ("south", 0.0)])
def test_a_count_whose_filter_uses_only_params(tmp_path, region, expected):
    # the filter is true for every row (3) or for none (0), whatever the rows hold
    result = run(tmp_path, COUNT_BY_PARAM.replace("region: north", f"region: {region}"),
                 t="x\n1\n2\n3\n")
    assert result.kpi("k").value == expected
    assert result.kpi("all").value == 3.0


def test_a_formula_without_a_finite_number_says_so(tmp_path):
    # 10 ** 400 is too large to fold (an error), but x ** 400 over x = 10 overflows to
    # infinity at run time: no value, and the reason says why
    result = run(tmp_path, """\
        measures:
          x: {source: t, max: x}
        kpis:
          k: {formula: "x ** 400", target: 1, category: c}
        """, t="x\n10\n")
    k = result.kpi("k")
    assert k.value is None
    assert k.reason == "the formula gives no finite number"


def _compared(tmp_path, previous: float, current: float, **kpi: object):
    return _compared_run(tmp_path, previous, current, **kpi).kpi("k")


# February 2025 compared with January: measure v sums table t's v by its day
FEBRUARY = """\
params: {period_start: 2025-02-01, period_end: 2025-02-28}
compare: previous
measures:
  v: {source: t, sum: v, where: "between(date(day), period_start, period_end)"}
"""


def _february(tmp_path, rest: str, january: float, february: float):
    """assess on FEBRUARY and ``rest`` (kpis, actions), with t's v in each month."""
    return run(tmp_path, FEBRUARY + textwrap.dedent(rest), t=f"day,v\n2025-01-15,{january}\n2025-02-15,{february}\n")


def _compared_run(tmp_path, previous: float, current: float, actions: str = "", **kpi: object):
    fields = ", ".join(f"{k}: {v}" for k, v in kpi.items())
    return _february(tmp_path, f"kpis:\n  k: {{formula: v, category: c, {fields}}}\n" + textwrap.dedent(actions),
                     previous, current)


def test_a_total_without_a_score_has_no_change_from_the_previous_period(tmp_path):
    # k = 1 / (v - 5): in January v = 3, k = -0.5, scored 0..100 from floor -1 to target 0:
    # 50; in February v = 5, k has no value, so the total has none and no change
    result = _february(tmp_path, """\
        kpis:
          k: {formula: 1 / (v - 5), category: c, target: 0, floor: -1}
        """, 3, 5)
    assert result.score is None
    assert (result.previous.score, result.previous.change) == (pytest.approx(50), None)


def test_change_pct_divides_by_the_size_of_a_negative_previous_value(tmp_path):
    # NPS from -20 to -10: change +10, +50 % of |-20|, an improvement (not -50 %)
    k = _compared(tmp_path, -20, -10, target=30)
    assert (k.previous, k.value, k.change) == (-20.0, -10.0, 10.0)
    assert k.change_pct == pytest.approx(0.5)
    assert k.improved is True


def test_an_action_reads_change_pct_as_the_scorecard_shows_it(tmp_path):
    # the same -20 -> -10: +0.5 in the action's condition too (signed it would be -0.5)
    result = _compared_run(tmp_path, -20, -10, actions="""\
        actions:
          - {id: up, when: "k.change_pct > 0.4", priority: low, text: "{{ k.change_pct | percent }}"}
        """, target=30)
    assert [(a.id, a.text) for a in result.actions] == [("up", "50.0%")]


def test_benchmark_gap_against_a_negative_benchmark(tmp_path):
    # value -10 against benchmark -20, higher is better: (-10 - -20) / |-20| = +0.5, a
    # strength by its benchmark (with the signed benchmark it would be -0.5, a weakness);
    # the target -15 is met, as a strength must be
    result = _compared_run(tmp_path, 0, -10, target=-15, benchmark=-20)
    assert [(p["side"], p["id"], p["gap"]) for p in result.profile] == [("strength", "k", pytest.approx(0.5))]


@pytest.mark.parametrize("benchmark, gap", [(1, 1.0), (4, -0.5), (0, None)])
def test_benchmark_gap_against_a_benchmark_of_one_four_and_zero(tmp_path, benchmark, gap):
    # k = 2 rows, target 2 (met, score 100): against a benchmark of 1 it is (2 - 1) / 1 =
    # +1.0 ahead, of 4 (2 - 4) / 4 = -0.5 behind; a benchmark of 0 gives no relative gap
    result = run(tmp_path, f"""\
        measures:
          n: {{source: t, count: true}}
        kpis:
          k: {{formula: n, target: 2, floor: 0, benchmark: {benchmark}, category: c}}
        """, t="x\n1\n2\n")
    k = [p for p in result.profile if p["id"] == "k"]
    assert [p.get("gap") for p in k] == [pytest.approx(gap) if gap is not None else None]


def test_strengths_by_benchmark_come_largest_gap_first(tmp_path):
    # a and b are both 9 of target 10, near (margin 0.2 x 10 = 2): neither met nor missed,
    # so strengths by their benchmark alone: a (9 - 6) / 6 = +0.5, b (9 - 4.5) / 4.5 = +1.0
    result = run(tmp_path, """\
        measures:
          n: {source: t, sum: x}
        kpis:
          a: {formula: n, target: 10, floor: 0, near: 0.2, benchmark: 6, category: c}
          b: {formula: n, target: 10, floor: 0, near: 0.2, benchmark: 4.5, category: c}
        """, t="x\n4\n5\n")
    assert [(p["side"], p["id"], p["gap"]) for p in result.profile] == [
        ("strength", "b", pytest.approx(1.0)), ("strength", "a", pytest.approx(0.5))]


def test_a_met_kpi_of_weight_0_is_no_strength(tmp_path):
    # k (weight 0) and m (weight 1) are both met (2 of target 2): only m counts, so only m
    # is a strength by score
    result = run(tmp_path, """\
        measures:
          n: {source: t, count: true}
        kpis:
          k: {formula: n, target: 2, floor: 0, weight: 0, category: c}
          m: {formula: n, target: 2, floor: 0, category: c}
        """, t="x\n1\n2\n")
    assert [(p["side"], p["id"]) for p in result.profile] == [("strength", "m")]


@pytest.mark.parametrize("value, expected", [(-21, "near"), (-19, "met"), (-23, "missed")])
def test_near_margin_of_a_negative_target(tmp_path, value, expected):
    # target -20 (higher is better), near 0.1: the margin is 0.1 x |-20| = 2, so -21 is
    # near (within -22..-20), -23 missed; with the signed target the margin would be -2
    # and nothing could be near
    k = _compared(tmp_path, 0, value, target=-20, floor=-40, near=0.1)
    assert k.status == expected


# ---------------------------------------------------------------- checks and quality

def test_unique_does_not_count_normalised_empty_text_as_a_value(tmp_path):
    # "  " and " " trim to nothing: no value, so not a repeat; "a" and " A" repeat once
    result = run(tmp_path, """\
        measures:
          n: {source: t, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
        checks:
          - {id: u, source: t, rule: unique, column: name, normalize: lower_trim}
        """, t='id,name\n1,a\n2," A"\n3,"  "\n4," "\n5,b\n')
    check = result.checks[0]
    # rows with a value: a, A, b = 3; distinct: 2; failing 3 - 2 = 1 of 5 rows
    assert (check.rows, check.failed) == (5, 1)


def test_the_data_quality_score_weights_severity(tmp_path):
    # high (3) passes 1/2 rows, low (1) passes 2/2: (3 x 0.5 + 1 x 1.0) / 4 = 62.5; the
    # same number in the report and in a KPI `data_quality`
    result = run(tmp_path, """\
        measures:
          n: {source: t, count: true}
        kpis:
          k: {formula: n, target: 1, category: c}
          dq: {formula: data_quality, target: 100, category: c}
        checks:
          - {id: hi, source: t, rule: not_null, column: a, severity: high}
          - {id: lo, source: t, rule: not_null, column: b, severity: low}
        """, t="a,b\n1,1\n,2\n")
    assert result.quality["overall"] == pytest.approx(62.5)
    assert result.kpi("dq").value == pytest.approx(62.5)


# ---------------------------------------------------------------- actions and entities

def test_within_one_priority_the_larger_gain_comes_first(tmp_path):
    # a = 0 scores 0, b = 5 scores 50 (linear, floor 0, target 10); total (0 + 50) / 2 = 25.
    # a at target: (100 + 50) / 2 = 75, a gain of 50; b at target: (0 + 100) / 2 = 50, a
    # gain of 25. Both actions are medium, declared b first: a's comes first
    result = run(tmp_path, """\
        measures:
          x: {source: t, sum: x}
          y: {source: t, sum: y}
        kpis:
          a: {formula: x, target: 10, floor: 0, category: c}
          b: {formula: y, target: 10, floor: 0, category: c}
        actions:
          - {id: fix_b, when: "b.status == 'missed'", priority: medium, text: b}
          - {id: fix_a, when: "a.status == 'missed'", priority: medium, text: a}
          - {id: low_a, when: "a.status == 'missed'", priority: low, text: a}
        """, t="x,y\n0,5\n")
    assert result.score == pytest.approx(25.0)
    assert [(a.id, a.gain) for a in result.actions] == [
        ("fix_a", pytest.approx(50.0)), ("fix_b", pytest.approx(25.0)), ("low_a", pytest.approx(50.0))]


def test_n_unique_is_zero_for_an_entity_without_rows_and_null_keys_are_dropped(tmp_path):
    # owners ann, bob, cat (from owners.csv); orders: ann has customers c1, c2 (c1 twice),
    # bob none, cat c3; one order with no owner belongs to no entity
    result = run(tmp_path, """\
        by: owner
        sources:
          owners: {path: owners.csv}
          orders: {path: orders.csv}
        measures:
          staff: {source: owners, count: true}
          buyers: {source: orders, n_unique: customer}
        kpis:
          k: {formula: buyers, target: 2, category: c}
        """, owners="owner\nann\nbob\ncat\n", orders="owner,customer\nann,c1\nann,c2\nann,c1\ncat,c3\n,c4\n")
    values = {e.id: e.kpis[0].value for e in result.entities}
    assert values == {"ann": 2.0, "bob": 0.0, "cat": 1.0}
    assert result.kpi("k").value == 4.0  # overall: c1, c2, c3, c4


# ---------------------------------------------------------------- number formats

def test_action_filters_and_the_report_format_numbers_alike():
    from engine.recommend import number, percent
    from engine.render import plain, show
    assert percent(0.8531) == show(0.8531, "percent") == "85.3%"
    assert percent(0.8531, 0) == "85%"
    assert number(1234.5) == plain(1234.5) == "1,234.5"
    assert number(1234.567, 0) == "1,235"
    assert show(1.001, "count") == "1"  # 1.00 without its zeros, not "1."


def test_the_workbook_writes_hours_days_and_points_in_their_unit(tmp_path):
    import io

    import openpyxl

    from engine.render import render
    result = run(tmp_path, """\
        measures:
          h: {source: t, sum: h}
        kpis:
          wait: {formula: h, target: 1, better: lower, unit: hours, category: c}
          stay: {formula: h, target: 1, better: lower, unit: days, category: c}
          pts: {formula: h, target: 1, better: lower, unit: points, category: c}
        """, t="h\n2.5\n")
    sheet = openpyxl.load_workbook(io.BytesIO(render(result, "xlsx"))).worksheets[0]
    formats = {sheet.cell(r, 1).value: sheet.cell(r, 3).number_format for r in range(6, 9)}
    # points are shown as scores are, with one decimal (model.UNIT_DECIMALS)
    assert formats == {"wait": '#,##0.0 "h"', "stay": '#,##0.0 "d"', "pts": "#,##0.0"}


# ---------------------------------------------------------------- found by mutmut

def test_round_defaults_to_whole_numbers():
    # 2.6 -> 3, -2.4 -> -2 (no digits given: 0 decimals)
    frame = pl.DataFrame({"x": [2.6, -2.4]})
    assert frame.select(lit(row_compiler({}).compile(parse("round(x)", HERE))))["x"].to_list() == [3.0, -2.0]


@pytest.mark.parametrize("text", ["round(x, 1.5)", "round(x, y)"])
def test_round_refuses_digits_that_are_not_a_literal_whole_number(text):
    with pytest.raises(AssessError) as info:
        row_compiler({}).compile(parse(text, HERE))
    # the whole message, after the location and before the end: not a word more either side
    assert str(info.value).endswith(
        f"cannot compile `{text}`: round: the number of digits must be a whole number, written literally")


def test_valid_names_the_unknown_pattern_and_the_known_ones():
    with pytest.raises(AssessError) as info:
        row_compiler({}).compile(parse("valid(e, 'nope')", HERE))
    # PATTERNS, in their order
    assert str(info.value).endswith(
        "`valid(e, 'nope')`: valid: no pattern `nope`; patterns: email, cn_mobile, cn_postcode")


def test_datetime_of_a_datetime_keeps_its_time():
    import datetime as dt
    assert folded("datetime(datetime('2025-03-31T08:30:00'))", {}) == [dt.datetime(2025, 3, 31, 8, 30)]


def test_datetime_of_a_date_param_is_its_midnight():
    import datetime as dt
    assert folded("datetime(day)", {"day": "2025-03-31"}) == [dt.datetime(2025, 3, 31, 0, 0)]


# ---------------------------------------------------------------- the generated references
# `assess docs` writes these into the README; the expected lines are written out by hand
# from the docstrings, so a change in how they are put together shows here.

def test_function_reference_lines():
    from engine.functions import reference
    lines = reference().split("\n")
    assert len(lines) == 32  # coalesce ... rank, counted in FUNCTIONS
    assert lines[0] == "- `coalesce(x, *others)`: The first of its arguments that is not null. " \
        "``coalesce(satisfaction, 3)``"
    assert "- `div(a, b, default)`: ``a / b``, or ``default`` (null unless given) where ``b`` is " \
        "zero or null. ``div(complaints, interactions, 0)``. Plain ``/`` already gives null on zero." in lines


def test_scoring_reference_lines():
    from engine.score import reference
    lines = reference().split("\n")
    assert len(lines) == 7  # linear ratio bands range boolean percentile zscore
    assert "- `range`: Inside ``[low, high]`` scores 100, falling linearly to 0 at ``tolerance`` " \
        "outside. ``{method: range, low: 2, high: 4, tolerance: 2}``: 3 scores 100, 5 scores 50, " \
        "6 scores 0." in lines


def test_rule_reference_keys():
    from engine.checks import reference
    sections = reference().split("\n\n### ")
    keys = {s.split("`")[1]: s.rsplit("\n\n", 1)[1] for s in sections}
    assert keys["row_count"] == "Keys: `min`, `max`"  # takes only
    assert keys["allowed_values"] == "Keys: `column`, `values` (required)"  # needs only
    assert keys["distribution"] == "Keys: `column` (required), `max_share`, `min_share`, `values`"
    assert reference().startswith("### `")
    schema = reference().split("### `schema`\n\n")[1]
    assert schema.startswith("The source has every column of ``required`` (name: type, types as in a source's\n")


@pytest.mark.parametrize("unit, limit", [
    ("days", 3_660_000), ("hours", 3_660_000 * 24), ("minutes", 3_660_000 * 24 * 60)])
def test_a_written_duration_is_refused_one_past_ten_thousand_years(unit, limit):
    row_compiler({}).compile(parse(f"{unit}({limit})", HERE))  # the limit itself is fine
    row_compiler({}).compile(parse(f"{unit}(-{limit})", HERE))
    with pytest.raises(AssessError) as info:
        row_compiler({}).compile(parse(f"{unit}({limit + 1})", HERE))
    assert str(info.value).endswith(f"{unit}({limit + 1}) is out of range (at most {limit:,} {unit})")


def _rows(text: str, frame: pl.DataFrame) -> list:
    return frame.select(lit(row_compiler({}).compile(parse(text, HERE))).alias("x"))["x"].to_list()


def test_a_duration_of_a_column_and_past_the_limit_null():
    import datetime as dt
    frame = pl.DataFrame({"d": [dt.date(2025, 1, 1)] * 2, "n": [2, 3_660_001]})
    # 1 January + 2 days is 3 January; 3,660,001 days is past the limit: null, not a wrapped date
    assert _rows("d + days(n)", frame) == [dt.date(2025, 1, 3), None]
    # both ends of -limit..limit are durations, one past either end is null
    ends = pl.DataFrame({"n": [3_660_000, -3_660_000, 3_660_001, -3_660_001]})
    assert _rows("is_null(days(n))", ends) == [False, False, True, True]


def test_text_functions_read_a_literal_as_its_text():
    frame = pl.DataFrame({"s": ["a12", "12b", "b", "is True", "is true"]})
    assert _rows("contains(s, 12)", frame) == [True, True, False, False, False]
    assert _rows("startswith(s, 12)", frame) == [False, True, False, False, False]
    # the text of True is "True" (Polars would cast it to "true")
    assert _rows("endswith(s, True)", frame) == [False, False, False, True, False]


def test_month_start_reads_each_row_alone():
    import datetime as dt
    # a malformed first value must not decide how the rest read (a format guessed from
    # "31-12-01" reads "2025-03-01" as nothing): the second row is 1 March 2025 whatever
    frame = pl.DataFrame({"m": ["31-12", "2025-03"]})
    assert _rows("month_start(m)", frame)[1] == dt.date(2025, 3, 1)


def test_date_of_a_year_and_a_month_only_is_refused():
    # not the 2,025th day after 1970 (what a year alone would read as)
    with pytest.raises(AssessError) as info:
        row_compiler({}).compile(parse("date(2025, 3)", HERE))
    assert str(info.value).endswith("`date(2025, 3)`: date: give a year, a month and a day, or one date")


def test_date_of_a_date_or_a_datetime_written_out():
    import datetime as dt
    # a date stays itself; a datetime loses its time
    assert folded("date(date('2025-03-31'))", {}) == [dt.date(2025, 3, 31)]
    assert folded("date(datetime('2025-03-31T08:30:00'))", {}) == [dt.date(2025, 3, 31)]


@pytest.mark.parametrize("where, weight, line, column", [
    ("kpi", "5e-324", 4, 56), ("kpi", "2e6", 4, 56), ("category", "1e-7", 5, 26)])
def test_a_weight_out_of_range_is_refused_at_its_line(tmp_path, where, weight, line, column):
    # 5e-324 x a score of 1.5 rounds to 1e-323 (a mean of 1.5 came out 2); 2e6 is past the
    # largest weight; weights are relative, so 0 or 1e-6 .. 1e6 says everything
    kpi_weight, category_weight = (weight, "1") if where == "kpi" else ("1", weight)
    (tmp_path / "r.yaml").write_text(
        "ruleset: r\nsources: {t: {path: t.csv}}\nmeasures: {m: {source: t, count: true}}\n"
        f"kpis: {{k: {{formula: m, target: 1, category: c, weight: {kpi_weight}}}}}\n"
        f"categories: {{c: {{weight: {category_weight}}}}}\n")
    (tmp_path / "t.csv").write_text("a\n1\n")
    from engine.validate import load_ruleset
    with pytest.raises(AssessError) as info:
        load_ruleset(tmp_path / "r.yaml")
    [problem] = info.value.problems
    assert problem.rule == "weight-range" and "out of range" in problem.message
    assert (problem.location.line, problem.location.column) == (line, column)


def test_a_breakdown_formula_reads_params(tmp_path):
    # a: 2 rows, b: 1 row; x 10 per row from the param
    result = run(tmp_path, """\
        params: {scale: 10}
        measures:
          n: {source: t, count: true, by: g}
        kpis:
          k: {formula: scale, category: c}
        breakdowns:
          scaled: {by: g, formula: n * scale}
        """, t="g\na\na\nb\n")
    rows = next(b for b in result.breakdowns if b["id"] == "scaled")["rows"]
    assert {r["g"]: r["scaled"] for r in rows} == {"a": 20, "b": 10}


def test_a_monthly_trend_starts_on_the_first_of_the_month(tmp_path):
    # January 1st belongs to January's point: 2 rows in January (the 1st and the 31st), 1 in February
    result = run(tmp_path, """\
        params: {period_start: 2025-01-01, period_end: 2025-02-28}
        trend: month
        sources:
          t: {path: t.csv, columns: {d: date}}
        measures:
          n: {source: t, count: true, where: "d >= period_start and d <= period_end"}
        kpis:
          k: {formula: n, target: 1, category: c}
        """, t="d\n2025-01-01\n2025-01-31\n2025-02-01\n2024-12-31\n")
    assert [(t["period"], t["value"]) for t in result.kpi("k").trend] == [("2025-01", 2), ("2025-02", 1)]


def test_a_quarterly_trend_of_a_period_starting_mid_quarter_begins_with_that_quarter(tmp_path):
    # the period 2025-02-15..2025-06-30: Q1's point covers 02-15..03-31 (the rows of 02-15 and
    # 03-31; 02-14 is before the period), Q2's 04-01..06-30 (one row)
    result = run(tmp_path, """\
        params: {period_start: 2025-02-15, period_end: 2025-06-30}
        trend: quarter
        sources:
          t: {path: t.csv, columns: {d: date}}
        measures:
          n: {source: t, count: true, where: "d >= period_start and d <= period_end"}
        kpis:
          k: {formula: n, target: 1, category: c}
        """, t="d\n2025-02-14\n2025-02-15\n2025-03-31\n2025-04-01\n")
    assert [(t["period"], t["value"]) for t in result.kpi("k").trend] == [("2025-Q1", 2), ("2025-Q2", 1)]


def test_a_source_lent_to_by_two_borrowers_is_checked_for_the_columns_of_both(tmp_path):
    # o borrows owner from t, p borrows region: t has no owner, which is named at t's line
    # (not lost because p's borrowing is looked at last)
    with pytest.raises(AssessError) as caught:
        run(tmp_path, """\
            sources:
              t: {path: t.csv}
              o: {path: o.csv, join: {source: t, on: id, columns: [owner]}}
              p: {path: p.csv, join: {source: t, on: id, columns: [region]}}
            measures:
              owners: {source: o, n_unique: owner}
              north: {source: p, count: true, where: "region == 'north'"}
            kpis:
              k: {formula: owners + north, target: 1, category: c}
            """, t="id,region\n1,north\n2,south\n", o="id\n1\n2\n", p="id\n1\n1\n2\n")
    assert [(p.location.line, p.message) for p in caught.value.problems] == [(4, "source `t` has no column `owner`")]


def test_the_library_speaks_english_unless_told(tmp_path):
    # both entry points, called without a language, give the English title and say "en"
    from engine.run import run as flow
    run(tmp_path, """\
        measures:
          n: {source: t, count: true}
        kpis:
          k: {title: {zh: 数量, en: Count}, formula: n, target: 1, category: c}
        """, t="x\n1\n")
    for result in (assess(tmp_path / "r.yaml", tmp_path), flow(tmp_path / "r.yaml", tmp_path)[2]):
        assert (result.lang, result.kpi("k").title) == ("en", "Count")


def test_a_failing_table_rule_has_its_count_as_evidence_not_rows(tmp_path):
    # 2 rows where at least 5 are wanted: the rule fails with 1 of 1 checked and observes 2;
    # no row of the table is "a failing row", so none is shown as a sample
    result = run(tmp_path, """\
        sources:
          t: {path: t.csv, key: id}
        checks:
          - {id: enough, source: t, rule: row_count, min: 5}
        """, t="id\n1\n2\n")
    check = result.checks[0]
    assert (check.status, check.rows, check.failed, check.observed, check.samples) == ("fail", 1, 1, 2, [])


@pytest.mark.parametrize("engine", ["auto", "duckdb"])
def test_consistency_passes_a_null_result_of_present_inputs_and_distribution_shows_listed_values(tmp_path, engine):
    # ratio: row 4 lacks a (out of scope: 8 rows checked); row 2's 3 / 0 is null with both
    # inputs present, which is not a failure; row 3's 1 / 2 < 1 is the one failing row.
    # mix: a is 4 of 9 rows (0.44 > 0.4), b 1 of 9; c is 4 of 9 too but not listed, so
    # its rows are no evidence: the samples are the four rows of a
    run(tmp_path, """\
        sources:
          t: {path: t.csv, key: id}
        checks:
          - {id: ratio, source: t, rule: consistency, expression: "a / b >= 1"}
          - {id: mix, source: t, rule: distribution, column: seg, values: [a, b], max_share: 0.4}
        """, t="id,a,b,seg\n1,4,2,a\n2,3,0,a\n3,1,2,a\n4,,1,a\n5,1,1,c\n6,1,1,c\n7,1,1,c\n8,1,1,c\n9,1,1,b\n")
    ratio, mix = assess(tmp_path / "r.yaml", tmp_path, engine=engine).checks
    assert (ratio.rows, ratio.failed, ratio.samples) == (8, 1, [{"id": 3, "a": 1, "b": 2}])
    assert (mix.rows, mix.failed, mix.samples) == (2, 1, [{"id": i, "seg": "a"} for i in (1, 2, 3, 4)])


def test_a_kpi_requiring_a_failed_check_is_unreliable_on_every_card(tmp_path):
    # one of the two rows has no x: x_ok fails, y_ok passes
    result = run(tmp_path, """\
        by: o
        measures:
          n: {source: t, count: true}
        kpis:
          k: {formula: n, target: 1, category: c, requires: [x_ok, y_ok]}
          j: {formula: n, target: 1, category: c, requires: [y_ok]}
        checks:
          - {id: x_ok, source: t, rule: not_null, column: x}
          - {id: y_ok, source: t, rule: not_null, column: y}
        """, t="o,x,y\na,1,1\nb,,2\n")
    assert [(k.id, k.unreliable) for k in result.kpis] == [("k", ["x_ok"]), ("j", [])]
    assert [[k.unreliable for k in e.kpis] for e in result.entities] == [[["x_ok"], []]] * 2
    assert "`k` is unreliable: it requires `x_ok`, which failed" in result.notes


def test_a_breakdown_measure_without_a_title_is_titled_by_its_id(tmp_path):
    result = run(tmp_path, """\
        measures:
          n: {source: t, count: true, by: g}
          m: {source: t, count: true, by: g, title: {en: Rows}}
        kpis:
          k: {formula: "1", category: c}
        """, t="g\na\n")
    [table] = result.breakdowns
    assert table["measures"] == [{"id": "n", "title": "n"}, {"id": "m", "title": "Rows"}]


# ---------------------------------------------------------------- a check's words

def test_a_check_without_a_title_is_named_by_its_id_and_says_its_fix_in_the_language(tmp_path):
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        ruleset: r
        sources:
          t: {path: t.csv}
        checks:
          - {id: x_present, source: t, rule: not_null, column: x, fix: {en: Fill it in, zh: 补上}}
          - {id: x_named, source: t, rule: not_null, column: x, title: {en: X is there, zh: X 已填}}
        """), encoding="utf-8")
    (tmp_path / "t.csv").write_text("x\n1\n\n", encoding="utf-8")
    for lang, fix, title in (("en", "Fill it in", "X is there"), ("zh", "补上", "X 已填")):
        present, named = assess(tmp_path / "r.yaml", tmp_path, lang=lang).checks
        assert (present.title, present.fix, named.title, named.fix) == ("x_present", fix, title, "")


def test_a_mean_over_rows_without_values_says_so(tmp_path):
    # two rows, neither with an x: the rows are there, their values are not
    result = run(tmp_path, """\
        sources:
          t: {path: t.csv, columns: {x: float}}
        measures:
          m: {source: t, mean: x}
        kpis:
          k: {formula: m, target: 1, category: c}
        """, t="id,x\n1,\n2,\n")
    assert result.kpi("k").value is None
    assert result.kpi("k").reason == "measure `m` has no value (no rows, or only empty values)"


def test_the_mean_of_a_column_read_as_text_names_the_measure_and_the_declaration(tmp_path):
    # undeclared, a column with no value at all reads as text, which has no mean
    with pytest.raises(AssessError) as caught:
        run(tmp_path, """\
            measures:
              m: {source: t, mean: x}
            kpis:
              k: {formula: m, target: 1, category: c}
            """, t="id,x\n1,\n2,\n")
    problem = caught.value.problems[0]
    assert (problem.location.line, problem.rule) == (3, "data")
    assert problem.message == ("source `t`: measure `m` takes the mean of `x`, which the file holds as text "
                               "(a column with no value at all reads as text)")
    assert problem.hint == "declare its type on the source: `columns: {x: float}`"


def test_quality_per_source_and_per_area(tmp_path):
    # s: 1 of 4 rows without x (ratio 0.75), area contact; u: 2 of 2 with y (1.0), no area;
    # one severity, so the overall score is the plain mean: (75 + 100) / 2 = 87.5
    result = run(tmp_path, """\
        sources:
          s: {path: s.csv}
          u: {path: u.csv}
        areas: {contact: {en: Contact}}
        checks:
          - {id: x_ok, source: s, rule: not_null, column: x, area: contact}
          - {id: y_ok, source: u, rule: not_null, column: y}
        """, s="x\n1\n2\n\n4\n", u="y\n1\n2\n")
    assert result.quality == {"overall": pytest.approx(87.5), "sources": {"s": pytest.approx(75.0), "u": 100.0},
                              "areas": {"contact": pytest.approx(75.0)}}


def test_the_definitions_say_how_each_number_is_made(tmp_path):
    # o borrows the owner from t by id; spend is shared by every owner
    result = run(tmp_path, """\
        by: owner
        sources:
          t: {path: t.csv}
          o: {path: o.csv, by: owner, where: "x > 0", join: {source: t, on: id, columns: [owner]}}
          costs: {path: costs.csv}
        measures:
          n: {source: o, sum: x}
          spend: {source: costs, sum: c, per_entity: shared}
        kpis:
          k: {formula: n / spend, target: 1, category: c}
        """, t="id,owner\n1,ann\n2,bo\n", o="id,x\n1,2\n2,3\n", costs="c\n5\n")
    d = result.definitions
    assert d["kpis"] == {"k": ["n", "spend"]}
    assert d["measures"]["spend"] == {"source": "costs", "agg": "sum", "of": "c", "where": None, "by": [],
                                      "allocate": None, "shared": True}
    assert d["sources"]["o"] == {"path": "o.csv", "from": None, "group_by": [], "where": "x > 0", "joins": ["t"]}
    assert d["sources"]["t"]["joins"] == []


def test_a_category_is_a_strength_or_weakness_by_its_score(tmp_path):
    # k1 = 3 of 3 (100, care), k2 = 1 of 4 (25, sales): the total is (100 + 25) / 2 = 62.5,
    # care lies above it (a strength), sales below (a weakness), both judged by score
    result = run(tmp_path, """\
        categories: {care: {}, sales: {}}
        measures:
          x: {source: t, sum: x}
          y: {source: t, sum: y}
        kpis:
          k1: {formula: x, target: 3, floor: 0, category: care}
          k2: {formula: y, target: 4, floor: 0, category: sales}
        """, t="x,y\n3,1\n")
    categories = [p for p in result.profile if p["kind"] == "category"]
    assert categories == [{"side": "strength", "id": "care", "kind": "category", "by": "score", "score": 100.0},
                          {"side": "weakness", "id": "sales", "kind": "category", "by": "score", "score": 25.0}]


def test_a_worst_rollup_leaves_out_a_kpi_of_weight_0_and_gains_to_the_next_worst(tmp_path):
    # category c rolls up by its worst KPI: a = 1 of 4 (25), b = 3 of 4 (75), z = 0 of 4
    # (0) but of weight 0, so not counted: c = 25. Category d has e = 2 of 4 (50) alone.
    # The total is (25 + 50) / 2 = 37.5. Meeting a makes b the worst of c: (75 + 50) / 2,
    # a gain of 25; meeting b gains nothing; meeting e makes d 100: (25 + 100) / 2, 25
    result = run(tmp_path, """\
        categories: {c: {rollup: worst}, d: {rollup: worst}}
        measures:
          x: {source: t, sum: x}
          y: {source: t, sum: y}
          w: {source: t, sum: w}
          v: {source: t, sum: v}
        kpis:
          a: {formula: x, target: 4, floor: 0, category: c}
          b: {formula: y, target: 4, floor: 0, category: c}
          z: {formula: w, target: 4, floor: 0, weight: 0, category: c}
          e: {formula: v, target: 4, floor: 0, category: d}
        """, t="x,y,w,v\n1,3,0,2\n")
    assert result.score == pytest.approx(37.5)
    assert {k.id: k.gain for k in result.kpis} == {"a": pytest.approx(25.0), "b": 0.0, "z": 0.0, "e": pytest.approx(25.0)}


# ---------------------------------------------------------------- --param

PARAMS = """\
    params: {flag: false, n: 3, x: 0.5, day: 2025-01-31, name: east, period_start: 2025-01-01,
             period_end: 2025-12-31}
    measures:
      m: {source: t, count: true}
    kpis:
      k: {formula: m, target: 1, category: c}
    """


@pytest.mark.parametrize("name, text, value", [
    ("flag", "true", True), ("flag", "YES", True), ("flag", "on", True), ("flag", "1", True), ("flag", "no", False),
    ("n", "7", 7), ("x", "2.25", 2.25), ("day", "2025-03-01", dt.date(2025, 3, 1)), ("name", "west", "west"),
])
def test_a_param_given_on_the_command_line_is_read_as_its_defaults_type(tmp_path, name, text, value):
    from engine.run import with_params
    from engine.validate import load_ruleset

    run(tmp_path, PARAMS, t="x\n1\n")
    params = with_params(load_ruleset(tmp_path / "r.yaml"), {name: text})
    assert params[name] == value and type(params[name]) is type(value)


@pytest.mark.parametrize("overrides, rule, message", [
    ({"nn": "1"}, "unknown-param", "--param nn: the ruleset has no param `nn`"),
    ({"n": "1.5"}, "param-type", "--param n=1.5: expected a whole number like 3"),
    ({"x": "nan"}, "param-type", "--param x=nan: expected a number like 0.5"),
    ({"x": "inf"}, "param-type", "--param x=inf: expected a number like 0.5"),
    ({"day": "31.01.2025"}, "param-type", "--param day=31.01.2025: expected a date like 2025-01-31"),
    ({"period_start": "0001-01-01"}, "period", "period_start 0001-01-01: the period before it would begin before the year 1"),
])
def test_a_param_that_cannot_be_used_is_refused_with_its_reason(tmp_path, overrides, rule, message):
    from engine.run import with_params
    from engine.validate import load_ruleset

    run(tmp_path, PARAMS, t="x\n1\n")
    with pytest.raises(AssessError) as caught:
        with_params(load_ruleset(tmp_path / "r.yaml"), overrides)
    problem = caught.value.problems[0]
    assert (problem.rule, problem.message) == (rule, message)


def test_an_entity_without_a_score_is_unranked_and_says_why(tmp_path):
    # a: mean x 2 (scored); b: no x, so k is n/a and b has no total
    result = run(tmp_path, """\
        by: o
        sources:
          t: {path: t.csv, columns: {o: string, x: float}}
        measures:
          x: {source: t, mean: x}
        kpis:
          k: {formula: x, target: 2, floor: 0, category: c}
        """, t="o,x\na,2\nb,\n")
    assert [(e.id, e.rank, e.unranked) for e in result.entities] == [
        ("a", 1, None), ("b", None, "no score: no KPI could be scored")]


def test_among_tied_categories_the_strength_is_the_last_best_and_the_weakness_the_first_worst(tmp_path):
    # p and q score 100 (3 of 3), r and s 25 (1 of 4); the total is 62.5
    result = run(tmp_path, """\
        categories: {p: {}, q: {}, r: {}, s: {}}
        measures:
          x: {source: t, sum: x}
          y: {source: t, sum: y}
        kpis:
          kp: {formula: x, target: 3, floor: 0, category: p}
          kq: {formula: x, target: 3, floor: 0, category: q}
          kr: {formula: y, target: 4, floor: 0, category: r}
          ks: {formula: y, target: 4, floor: 0, category: s}
        """, t="x,y\n3,1\n")
    assert result.score == pytest.approx(62.5)
    assert [(p["side"], p["id"]) for p in result.profile if p["kind"] == "category"] == [
        ("strength", "q"), ("weakness", "r")]
