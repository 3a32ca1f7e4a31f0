"""The expression language: parse, compile to Polars, evaluate on small frames by hand."""
from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from engine.compile import lit, row_compiler
from engine.errors import AssessError, Location
from engine.expressions import parse
from engine.functions import FUNCTIONS

HERE = Location("t", 1, 1)

NUMS = pl.DataFrame({
    "x": [1, 2, 0, None],
    "y": [2, 0, 0, 3],
    "f": [1.5, -2.0, 0.0, None],
})
BOOLS = pl.DataFrame({
    "a": [True, True, True, False, False, False, None, None, None],
    "b": [True, False, None, True, False, None, True, False, None],
})
TEXT = pl.DataFrame({
    "s": [" Ab ", "", None, "web"],
    "kind": ["complaint", "other", None, "complaint"],
    "complaint": ["x", "complaint", "x", "x"],  # a column named like the literal
})
TIMES = pl.DataFrame({
    "d": [dt.date(2024, 12, 31), dt.date(2025, 1, 1), None],
    "t": [dt.datetime(2024, 12, 31, 23, 59), dt.datetime(2025, 1, 1, 0, 0),
          dt.datetime(2025, 3, 2, 12, 0)],
    "t2": [dt.datetime(2025, 1, 1, 1, 30), dt.datetime(2025, 1, 1, 0, 0), None],
})
PARAMS: dict[str, Any] = {"start": "2025-01-01", "end": dt.date(2025, 1, 31), "limit": 2,
                          "label": "web"}


def compiled(text: str, params: dict[str, Any] | None = None) -> Any:
    return row_compiler(params or {}).compile(parse(text, HERE))


def ev(text: str, df: pl.DataFrame, params: dict[str, Any] | None = None) -> list:
    return df.select(lit(compiled(text, params)).alias("r"))["r"].to_list()


def approx(values: list) -> list:
    return [None if v is None else pytest.approx(v) for v in values]


# ---------------------------------------------------------------- arithmetic

@pytest.mark.parametrize("text, expected", [
    ("x + y * 2", [1 + 4, 2 + 0, 0 + 0, None]),
    ("(x + y) * 2", [6, 4, 0, None]),
    ("x - y - 1", [1 - 2 - 1, 2 - 0 - 1, -1, None]),
    ("-x ** 2", [-1, -4, 0, None]),          # -(x ** 2), as in Python
    ("2 * y % 3", [4 % 3, 0, 0, 6 % 3]),     # (2 * y) % 3
    ("x % -3", [-2, -1, 0, None]),           # floor modulo: 1 = -3 * -1 + -2
    ("x / y", [0.5, None, None, None]),      # 1/2; 2/0 and 0/0 null
    ("1 / x", [1.0, 0.5, None, None]),       # 1/0 null, not inf
    ("f / 0", [None, None, None, None]),     # a float over zero: null, not inf/nan
    ("x // y", [0, None, None, None]),       # 1 // 2 = 0; by zero null
    ("x % y", [1, None, None, None]),        # 1 % 2 = 1; by zero null
    ("f // 0.0", [None, None, None, None]),
    ("x ** y", [1, 1, 1, None]),             # 1**2, 2**0, 0**0 = 1
    ("2 ** x", [2, 4, 1, None]),
    ("x / y / y", [0.25, None, None, None]),  # (1/2)/2
    ("abs(-f) + 1", [2.5, 3.0, 1.0, None]),
])
def test_arithmetic(text, expected):
    assert ev(text, NUMS) == approx(expected)


@pytest.mark.parametrize("text, expected", [
    ("2 ** 10", 1024),
    ("2 ** 3 ** 2", 512),    # right-associative: 2 ** 9
    ("10 - 2 - 3", 5),       # left-associative
    ("7 // 2", 3),
    ("-7 // 2", -4),
    ("-7 % 3", 2),
    ("7 / 0", None),
    ("7 // 0", None),
    ("7 % 0", None),
    ("1 < 2 < 1", False),    # folded chained comparison: (1 < 2) and (2 < 1)
    ("not True", False),
])
def test_literals_are_folded(text, expected):
    value = compiled(text)
    assert not isinstance(value, pl.Expr)
    assert value == expected


# ---------------------------------------------------------------- logic

@pytest.mark.parametrize("text, expected", [
    # a:  T    T     T     F     F      F     N     N      N
    # b:  T    F     N     T     F      N     T     F      N
    ("a and b", [True, False, None, False, False, False, None, False, None]),
    ("a or b", [True, True, True, True, False, None, True, None, None]),
    ("not a", [False, False, False, True, True, True, None, None, None]),
    ("not (a and b)", [False, True, None, True, True, True, None, True, None]),
])
def test_kleene_logic(text, expected):
    assert ev(text, BOOLS) == expected


@pytest.mark.parametrize("text, expected", [
    ("0 < x < 3", [True, True, False, None]),         # 0 < 0 is false
    # 1<2<=2 true; 2<2 false; 0<2 but 2<=0 false; null<2 is null, and null & true is null
    ("x < 2 <= y", [True, False, False, None]),
    ("x if y > 0 else -1", [1, -1, -1, None]),         # y=3 picks x, which is null
    ("x if x else 9", [1, 2, 9, 9]),                    # 0 and null are not true
    ("x > 1 or y > 1", [True, True, False, True]),
    ("x != 1", [False, True, True, None]),
])
def test_comparisons_and_conditionals(text, expected):
    assert ev(text, NUMS) == expected


def test_in_and_not_in():
    assert ev("s in ('web', '')", TEXT) == [False, True, None, True]
    assert ev("s not in ('web', '')", TEXT) == [True, False, None, False]
    assert ev("x in [0, 2]", NUMS) == [False, True, True, None]


def test_string_literal_is_not_a_column():
    # `complaint` is also a column; the quoted text must stay text
    assert ev("kind == 'complaint'", TEXT) == [True, False, None, True]
    assert ev("kind == complaint", TEXT) == [False, False, None, False]  # column vs column


def test_params_become_literals():
    assert ev("d >= start", TIMES, PARAMS) == [False, True, None]       # start -> a date
    assert ev("t >= start", TIMES, PARAMS) == [False, True, True]       # 2025-01-01 00:00 counts
    assert ev("t < end", TIMES, PARAMS) == [True, True, False]          # March is after end
    assert ev("between(d, start, end)", TIMES, PARAMS) == [False, True, None]
    assert ev("s == label", TEXT, PARAMS) == [False, False, None, True]  # text stays text
    assert ev("x > limit", NUMS, PARAMS) == [False, False, False, None]
    assert compiled("limit * 3", PARAMS) == 6  # a param alone is folded


# ---------------------------------------------------------------- every function

FUNCTION_CASES = [
    ("coalesce", "coalesce(x, y, 9)", NUMS, [1, 2, 0, 3]),
    ("is_null", "is_null(x)", NUMS, [False, False, False, True]),
    ("is_not_null", "is_not_null(f)", NUMS, [True, True, True, False]),
    ("is_blank", "is_blank(s)", TEXT, [False, True, True, False]),  # "" and null are blank
    ("div", "div(x, y)", NUMS, [0.5, None, None, None]),
    # 1/2; y=0 twice gives the default; a null x over y=3 is null
    ("div", "div(x, y, -1)", NUMS, [0.5, -1.0, -1.0, None]),
    ("abs", "abs(f)", NUMS, [1.5, 2.0, 0.0, None]),
    ("round", "round(x / 3, 2)", NUMS, [0.33, 0.67, 0.0, None]),  # 1/3, 2/3
    ("min", "min(x, y)", NUMS, [1, 0, 0, 3]),  # nulls are skipped
    ("max", "max(x, y, 1)", NUMS, [2, 2, 1, 3]),
    ("clip", "clip(y, 1, 2)", NUMS, [2, 1, 1, 2]),
    ("between", "between(x, 1, 2)", NUMS, [True, True, False, None]),
    ("date", "date(t)", TIMES, [dt.date(2024, 12, 31), dt.date(2025, 1, 1), dt.date(2025, 3, 2)]),
    ("date", "date('2025-03-31')", NUMS, [dt.date(2025, 3, 31)]),
    ("date", "date(2025, 3, 31)", NUMS, [dt.date(2025, 3, 31)]),
    ("year", "year(d)", TIMES, [2024, 2025, None]),
    ("month", "month(t)", TIMES, [12, 1, 3]),
    ("days", "d + days(1)", TIMES, [dt.date(2025, 1, 1), dt.date(2025, 1, 2), None]),
    ("hours", "t2 - t <= hours(1)", TIMES, [False, True, None]),  # 91 min, 0 min
    ("minutes", "t2 - t > minutes(90)", TIMES, [True, False, None]),  # 91 > 90
    ("hours_between", "hours_between(t, t2)", TIMES, [91 / 60, 0.0, None]),
    ("days_between", "days_between(t, t2)", TIMES, [91 / 1440, 0.0, None]),
    ("matches", "matches(s, '^ ?[A-Z]')", TEXT, [True, False, None, False]),
    ("contains", "contains(s, 'b')", TEXT, [True, False, None, True]),
    ("contains", "contains(kind, '.')", TEXT, [False, False, None, False]),  # literal dot
    ("startswith", "startswith(s, 'we')", TEXT, [False, False, None, True]),
    ("endswith", "endswith(s, 'b ')", TEXT, [True, False, None, False]),
    ("lower", "lower(s)", TEXT, [" ab ", "", None, "web"]),
    ("upper", "upper(s)", TEXT, [" AB ", "", None, "WEB"]),
    ("strip", "strip(s)", TEXT, ["Ab", "", None, "web"]),
    ("length", "length(s)", TEXT, [4, 0, None, 3]),
    # "2025-03" is March 1st; a month that does not exist or a null gives null
    ("month_start", "month_start(m)", pl.DataFrame({"m": ["2025-03", "2025-13", None, "1999-12"]}),
     [dt.date(2025, 3, 1), None, None, dt.date(1999, 12, 1)]),
    # a whole-match of the ready-made email pattern: "a@" has no domain, a space is not allowed
    ("valid", "valid(e, 'email')", pl.DataFrame({"e": ["a@b.cn", "a@", None, "x y@z.com"]}),
     [True, False, None, False]),
    # a date becomes midnight; a literal reads as ISO date and time
    ("datetime", "datetime(d) < datetime('2025-01-01T08:00:00')",
     pl.DataFrame({"d": [dt.date(2025, 1, 1), dt.date(2025, 1, 2), None]}), [True, False, None]),
    # y sums to 5: 2/5, 0, 0, 3/5
    ("share_of_total", "share_of_total(y)", NUMS, [0.4, 0.0, 0.0, 0.6]),
    # 3 is largest (1), then 2 (2); the two zeros tie and share rank 3; no rank 4
    ("rank", "rank(y)", NUMS, [2, 3, 3, 1]),
]


@pytest.mark.parametrize("name, text, df, expected", FUNCTION_CASES,
                         ids=[c[1] for c in FUNCTION_CASES])
def test_function(name, text, df, expected):
    assert ev(text, df) == approx(expected)


def test_every_function_is_covered():
    assert {case[0] for case in FUNCTION_CASES} == set(FUNCTIONS)


def test_days_between_dates_and_a_date_param():
    # 2024-12-31 -> 2025-01-31 is 31 days; 2025-01-01 -> 2025-01-31 is 30
    assert ev("days_between(d, end)", TIMES, PARAMS) == [31.0, 30.0, None]


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("text, rule", [
    ("x.__class__", "expression-forbidden"),
    ("().__class__.__bases__", "expression-forbidden"),
    ("x[0]", "expression-forbidden"),
    ("lambda: 1", "expression-forbidden"),
    ("[a for a in b]", "expression-forbidden"),
    ("f'{x}'", "expression-forbidden"),
    ("(x := 1)", "expression-forbidden"),
    ("x := 1", "expression-syntax"),  # not even Python without parentheses
    ("{1: 2}", "expression-forbidden"),
    ("x is None", "expression-forbidden"),
    ("x & y", "expression-forbidden"),
    ("abs(*x)", "expression-forbidden"),
    ("(lambda: 1)()", "expression-forbidden"),
    ("__import__('os')", "unknown-function"),
    ("eval('1')", "unknown-function"),
    ("open('/etc/passwd')", "unknown-function"),
    ("getattr(x, 'y')", "unknown-function"),
    ("round(x, digits=1)", "expression"),
    ("x + " * 600 + "x", "expression"),  # 4 * 600 + 1 = 2401 characters
    ("-" * 45 + "x", "expression"),      # 45 nested unary minus: deeper than 40
    ("abs(" * 45 + "x" + ")" * 45, "expression"),
    ("'" + "a" * 1001 + "'", "expression"),
    ("10 ** 19 + x * 1e19", "expression"),  # the literal 1e19 is over 1e18
    ("b'x'", "expression"),
])
def test_refused_at_parse(text, rule):
    with pytest.raises(AssessError) as info:
        parse(text, HERE)
    assert [p.rule for p in info.value.problems] == [rule]


def test_length_limit_is_exactly_2000():
    assert parse("x" * 2000, HERE).names == {"x" * 2000}
    with pytest.raises(AssessError):
        parse("x" * 2001, HERE)


def test_unknown_function_suggests_a_name():
    with pytest.raises(AssessError) as info:
        parse("lenght(s)", HERE)
    (p,) = info.value.problems
    assert (p.rule, p.hint) == ("unknown-function", "did you mean `length`?")


def test_refusal_is_located_in_the_expression():
    with pytest.raises(AssessError) as info:
        parse("1 + x.y", Location("r.yaml", 3, 10))
    # x.y starts at offset 4 of the text: column 10 + 4
    assert info.value.problems[0].location == Location("r.yaml", 3, 14)


@pytest.mark.parametrize("text", ["9**9**9", "2.0 ** 10000", "10 ** 19"])
def test_huge_literal_arithmetic_is_refused_at_parse(text):
    # folded while the ruleset is validated, within simpleeval's bounds
    with pytest.raises(AssessError) as info:
        parse(text, HERE)
    assert "too large" in info.value.problems[0].message


@pytest.mark.parametrize("text", ["'a' * 10**9", "10**9 * 'a'", "-'a'", "x in (1, y)", "x in 1"])
def test_refused_at_compile(text):
    parse(text, HERE)  # the parser lets it through
    with pytest.raises(AssessError) as info:
        compiled(text)
    assert info.value.problems[0].rule == "expression"


@pytest.mark.parametrize("text, low, high", [
    ("abs()", 1, 1), ("abs(1, 2)", 1, 1), ("clip(x, 1)", 3, 3), ("date()", 1, 3),
    ("date(1, 2, 3, 4)", 1, 3), ("coalesce()", 1, None), ("round(1, 2, 3)", 1, 2),
    ("div(1)", 2, 3), ("between(x, 1)", 3, 3), ("min()", 1, None),
])
def test_arity(text, low, high):
    with pytest.raises(AssessError) as info:
        parse(text, HERE)
    (p,) = info.value.problems
    assert p.rule == "function-arguments"
    assert (f"{low} or more" if high is None else str(low)) in p.message


# ---------------------------------------------------------------- known defects

def test_huge_folded_literal_is_refused():
    # 2**62 * 4 = 2**64, about 1.8e19: past the 1e18 an engine holds exactly, so refused
    # at the operator rather than overflowed to null on some engine
    with pytest.raises(AssessError, match=r"number too large \(more than 1e\+18\)") as info:
        compiled("x + 2**62 * 4")
    assert info.value.problems[0].location.column == 5


def test_integer_column_to_a_negative_power():
    # 1 ** -1 = 1, 2 ** -1 = 0.5, 4 ** -1 = 0.25, as 2 ** -1 folds to 0.5
    assert ev("x ** -1", pl.DataFrame({"x": [1, 2, 4]})) == [1.0, 0.5, 0.25]


@pytest.mark.parametrize("text, expected", [
    ("contains(s, t)", [True, False]),     # 'abc' contains 'b'; 'xyz' has no 'q'
    ("startswith(s, t)", [True, False]),   # 'abc' starts with 'a'
    ("endswith(s, u)", [True, False]),     # 'abc' ends with 'c'
    ("matches(s, t)", [True, False]),
])
def test_text_functions_with_a_column_argument(text, expected):
    # a column as the pattern, prefix or suffix is read row by row
    df = pl.DataFrame({"s": ["abc", "xyz"], "t": ["a", "q"], "u": ["c", "q"]})
    assert ev(text, df) == expected


def test_rank_leaves_nulls_unranked():
    # x = 1, 2, 0, null: 2 is first, 1 second, 0 third, null has no rank
    assert ev("rank(x)", NUMS) == [2, 1, 3, None]


def test_a_row_compiler_refuses_an_attribute_that_only_an_action_condition_may_name():
    # `k.value` parses for an action condition; compiled as a row expression (no facts to
    # read it from) it is an error at its expression, never a column named "k"
    with pytest.raises(AssessError) as caught:
        row_compiler({}).compile(parse("k.value > 1", HERE, attributes=True))
    assert caught.value.problems[0].message == "cannot compile `k.value > 1`: attributes are not part of the language"
