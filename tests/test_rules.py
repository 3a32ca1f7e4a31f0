"""Every rule kind on tiny hand-made tables: a passing and a failing case, scope (`where`),
per-group results (`by`), thresholds, the options of each rule, and validation.

Each test writes a small ruleset and its CSV files into tmp_path and runs `assess`. The
expected counts are worked out by hand in the comments, from the rule's docstring in
engine/checks.py (scope = rows where `where` holds, ratio = (rows - failed) / rows).
"""
from __future__ import annotations

import collections
import csv
import datetime as dt
import json
import textwrap
from pathlib import Path

import polars as pl
import pytest

from engine.checks import RULES, reference
from engine.cli import main
from engine.errors import AssessError
from engine.run import assess

ROOT = Path(__file__).resolve().parent.parent

HEAD = """\
ruleset: rules_test
params: {{period_end: 2025-06-30, cutoff: 2025-06-25, limit: 2, slack: 2}}
sources:
{sources}
measures:
  n: {{source: {first}, count: true}}
kpis:
  k: {{formula: n, target: 1, category: c}}
categories: {{c: {{}}}}
checks:
{checks}
"""


def write(tmp_path: Path, checks: str, tables: dict[str, tuple[str | None, str]]) -> Path:
    """A ruleset with ``checks`` (YAML list items) over ``tables``: name -> (columns as a
    YAML flow mapping or None for no contract, CSV text); each table's first column is
    its key, so the samples and the evidence name the rows."""
    sources = []
    for name, (columns, text) in tables.items():
        (tmp_path / f"{name}.csv").write_text(textwrap.dedent(text), encoding="utf-8")
        key = textwrap.dedent(text).split("\n", 1)[0].split(",")[0]  # the first column
        spec = f"path: {name}.csv, key: {key}" + (f", columns: {columns}" if columns else "")
        sources.append(f"  {name}: {{{spec}}}")
    path = tmp_path / "r.yaml"
    path.write_text(HEAD.format(sources="\n".join(sources), first=next(iter(tables)),
                                checks=textwrap.indent(textwrap.dedent(checks).strip(), "  ")),
                    encoding="utf-8")
    return path


def run(tmp_path: Path, checks: str, tables: dict[str, tuple[str | None, str]], **kwargs):
    result = assess(write(tmp_path, checks, tables), **kwargs)
    return {c.id: c for c in result.checks}


def problems(tmp_path: Path, checks: str, tables: dict[str, tuple[str | None, str]]):
    with pytest.raises(AssessError) as err:
        assess(write(tmp_path, checks, tables))
    return err.value.problems


def counts(c) -> tuple[int, int, str]:
    return c.rows, c.failed, c.status


def evidence_rows(folder: Path, check: str) -> list[dict[str, str]]:
    with (folder / f"{check}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- not_null, not_empty

PEOPLE = ("{id: string, email: string, name: string, g: string}", """\
    id,email,name,g
    1,a@x.cn,Ann,a
    2,,"  ",a
    3,b@x.cn,,b
    4,c@x.cn,Bo,b
    """)


def test_not_null(tmp_path):
    c = run(tmp_path, """
        - {id: fails, source: t, rule: not_null, column: email}
        - {id: passes, source: t, rule: not_null, column: id}
    """, {"t": PEOPLE})
    # email is empty on row 2 only: 4 rows, 1 failed, no threshold -> fail
    assert counts(c["fails"]) == (4, 1, "fail")
    assert c["fails"].ratio == pytest.approx(3 / 4)
    assert [s["email"] for s in c["fails"].samples] == [None]
    assert counts(c["passes"]) == (4, 0, "pass")
    assert c["passes"].samples == []


def test_not_empty_counts_blank_text_as_missing(tmp_path):
    c = run(tmp_path, """
        - {id: empty, source: t, rule: not_empty, column: name}
        - {id: null_only, source: t, rule: not_null, column: name}
        - {id: passes, source: t, rule: not_empty, column: id}
    """, {"t": PEOPLE})
    # name: "Ann", "  " (blank), null, "Bo" -> not_empty fails 2, not_null only the null
    assert counts(c["empty"]) == (4, 2, "fail")
    assert counts(c["null_only"]) == (4, 1, "fail")
    assert counts(c["passes"]) == (4, 0, "pass")


# ---------------------------------------------------------------- where, by, thresholds

GROUPS = ("{id: string, v: int, g: string}", """\
    id,v,g
    1,1,a
    2,2,a
    3,,b
    4,4,b
    5,,c
    6,,c
    7,7,c
    """)


def test_where_narrows_the_scope(tmp_path):
    c = run(tmp_path, """
        - {id: all, source: t, rule: not_null, column: v}
        - {id: only_c, source: t, rule: not_null, column: v, where: "g == 'c'"}
        - {id: only_a, source: t, rule: not_null, column: v, where: "g == 'a'"}
        - {id: by_param, source: t, rule: not_null, column: v, where: "id > '4'"}
        - {id: nothing, source: t, rule: not_null, column: v, where: "g == 'zz'", warn: "< 0.9"}
    """, {"t": GROUPS})
    assert counts(c["all"]) == (7, 3, "fail")  # rows 3, 5, 6 are null
    assert counts(c["only_c"]) == (3, 2, "fail")  # c: 5 null, 6 null, 7
    assert counts(c["only_a"]) == (2, 0, "pass")
    assert counts(c["by_param"]) == (3, 2, "fail")  # ids 5, 6, 7 (text comparison)
    assert {s["v"] for s in c["only_c"].samples} == {None} and len(c["only_c"].samples) == 2
    # nothing in scope: no ratio, and a ratio threshold cannot hold
    assert (c["nothing"].rows, c["nothing"].failed, c["nothing"].ratio) == (0, 0, None)
    assert c["nothing"].status == "pass"


def test_by_gives_per_group_counts_and_statuses(tmp_path):
    c = run(tmp_path, """
        - {id: per_group, source: t, rule: not_null, column: v, by: g, warn: "failed > 0", fail: "failed > 1"}
        - {id: ratio_group, source: t, rule: not_null, column: v, by: [g], warn: "< 0.9", fail: "< 0.5"}
    """, {"t": GROUPS})
    per = c["per_group"]
    # overall 3 failed (> 1) -> fail; a: 0 -> pass, b: 1 -> warn, c: 2 -> fail
    assert counts(per) == (7, 3, "fail")
    assert [(g["group"], g["rows"], g["failed"], g["status"]) for g in per.groups] == [
        ("a", 2, 0, "pass"), ("b", 2, 1, "warn"), ("c", 3, 2, "fail")]
    ratio = {g["group"]: (g["ratio"], g["status"]) for g in c["ratio_group"].groups}
    # a 2/2 = 1 pass; b 1/2 = 0.5 is not < 0.5 but < 0.9 -> warn; c 1/3 < 0.5 -> fail
    assert ratio["a"] == (1.0, "pass")
    assert ratio["b"] == (pytest.approx(0.5), "warn")
    assert ratio["c"] == (pytest.approx(1 / 3), "fail")
    # overall 4/7 = 0.571 -> warn (not < 0.5)
    assert c["ratio_group"].status == "warn"


def ten_rows(missing: int) -> tuple[str, str]:
    lines = ["id,v"] + [f"{i},{'' if i < missing else i}" for i in range(10)]
    return "{id: string, v: int}", "\n".join(lines) + "\n"


@pytest.mark.parametrize("missing, status", [(0, "pass"), (1, "warn"), (2, "warn"), (3, "fail")])
def test_thresholds_on_the_ratio(tmp_path, missing, status):
    # ratios 1.0, 0.9, 0.8 (not < 0.8: warn), 0.7
    c = run(tmp_path, """
        - {id: r, source: t, rule: not_null, column: v, warn: "< 0.95", fail: "< 0.8"}
    """, {"t": ten_rows(missing)})["r"]
    assert (c.rows, c.failed, c.status) == (10, missing, status)
    assert c.ratio == pytest.approx((10 - missing) / 10)


@pytest.mark.parametrize("missing, status", [(0, "pass"), (1, "warn"), (2, "fail"), (5, "fail")])
def test_thresholds_on_the_failed_count(tmp_path, missing, status):
    c = run(tmp_path, """
        - {id: r, source: t, rule: not_null, column: v, warn: "failed > 0", fail: "failed > 1"}
    """, {"t": ten_rows(missing)})["r"]
    assert (c.failed, c.status) == (missing, status)


def test_thresholds_on_the_row_count(tmp_path):
    two = ("{id: string, v: int}", "id,v\n1,1\n2,2\n")
    three = ("{id: string, v: int}", "id,v\n1,1\n2,2\n3,3\n")
    checks = """
        - {id: too_few, source: t, rule: not_null, column: v, fail: "rows < 3"}
        - {id: few_warn, source: t, rule: not_null, column: v, warn: "rows < 3"}
    """
    c = run(tmp_path, checks, {"t": two})
    # no failing row, yet 2 rows < 3
    assert counts(c["too_few"]) == (2, 0, "fail")
    assert counts(c["few_warn"]) == (2, 0, "warn")
    c = run(tmp_path, checks, {"t": three})
    assert counts(c["too_few"]) == (3, 0, "pass")
    assert counts(c["few_warn"]) == (3, 0, "pass")


def test_no_threshold_fails_on_any_failing_row_and_a_threshold_replaces_that(tmp_path):
    c = run(tmp_path, """
        - {id: bare, source: t, rule: not_null, column: v}
        - {id: lenient, source: t, rule: not_null, column: v, warn: "< 0.5"}
        - {id: fail_only, source: t, rule: not_null, column: v, fail: "failed >= 2"}
    """, {"t": ten_rows(1)})
    assert c["bare"].status == "fail"  # 1 of 10 rows, no threshold
    assert c["lenient"].status == "pass"  # 0.9 is not < 0.5
    assert c["fail_only"].status == "pass"  # 1 is not >= 2


@pytest.mark.parametrize("check, expected", [
    ("{id: c, source: t, rule: not_null, column: v, where: 'limit > 1'}", (7, 3)),
    ("{id: c, source: t, rule: unique, column: g, where: 'limit > 1'}", (7, 4)),
    ("{id: c, source: t, rule: row_count, min: 5, where: 'limit > 1'}", (1, 0)),
])
def test_where_on_params_only_keeps_every_row(tmp_path, check, expected):
    # limit is 2, so the scope is every row: not_null 7 rows, 3 null; unique g: a a b b c c c
    # -> 7 - 3 = 4; row_count 7 >= 5 passes (the engine counts 1 row and fails it)
    c = run(tmp_path, f"- {check}", {"t": GROUPS})["c"]
    assert (c.rows, c.failed) == expected


# ---------------------------------------------------------------- unique

DOC_EXAMPLE = ("{id: string, v: int}", """\
    id,v
    1,1
    2,1
    3,1
    4,2
    5,2
    6,3
    7,
    """)


def test_unique_documented_example_and_its_evidence(tmp_path):
    folder = tmp_path / "evidence"
    c = run(tmp_path, """
        - {id: dup, source: t, rule: unique, column: v}
        - {id: ids, source: t, rule: unique, column: id}
    """, {"t": DOC_EXAMPLE}, evidence=folder)
    # [1, 1, 1, 2, 2, 3, null]: 6 values, 3 distinct -> 3 failed of 7 rows
    assert counts(c["dup"]) == (7, 3, "fail")
    assert c["dup"].ratio == pytest.approx(4 / 7)
    # the evidence lists every row of each duplicate group: the three 1s and the two 2s
    assert sorted(s["v"] for s in c["dup"].samples) == [1, 1, 1, 2, 2]
    assert sorted(r["v"] for r in evidence_rows(folder, "dup")) == ["1", "1", "1", "2", "2"]
    assert counts(c["ids"]) == (7, 0, "pass")
    assert not (folder / "ids.csv").exists()  # nothing for a passing rule


def test_unique_ignore_nulls(tmp_path):
    table = ("{id: string, v: int}", "id,v\n1,1\n2,1\n3,1\n4,2\n5,2\n6,3\n7,\n8,\n")
    c = run(tmp_path, """
        - {id: ignored, source: t, rule: unique, column: v}
        - {id: counted, source: t, rule: unique, column: v, ignore_nulls: false}
    """, {"t": table})
    # ignored: 6 values - 3 distinct = 3; counted: 8 rows - 4 distinct (1, 2, 3, null) = 4
    assert counts(c["ignored"]) == (8, 3, "fail")
    assert counts(c["counted"]) == (8, 4, "fail")
    # the two nulls are a duplicate group of their own when counted
    assert sum(1 for s in c["counted"].samples if s["v"] is None) == 2
    assert all(s["v"] is not None for s in c["ignored"].samples)


def test_unique_normalize_case_and_spaces(tmp_path):
    table = ("{id: string, e: string}", """\
        id,e
        1,A@x.cn
        2," a@x.cn "
        3,b@x.cn
        4,B@X.CN
        5,c@x.cn
        """)
    c = run(tmp_path, """
        - {id: raw, source: t, rule: unique, column: e}
        - {id: lower_trim, source: t, rule: unique, column: e, normalize: lower_trim}
        - {id: lower, source: t, rule: unique, column: e, normalize: lower}
        - {id: trim, source: t, rule: unique, column: e, normalize: trim}
    """, {"t": table})
    assert counts(c["raw"]) == (5, 0, "pass")  # five different texts
    # lower_trim: a@x.cn x2, b@x.cn x2, c@x.cn -> 5 - 3 = 2
    assert counts(c["lower_trim"]) == (5, 2, "fail")
    assert sorted(s["id"] for s in c["lower_trim"].samples) == ["1", "2", "3", "4"]
    # lower only: "a@x.cn", " a@x.cn ", "b@x.cn" x2, "c@x.cn" -> 5 - 4 = 1
    assert counts(c["lower"]) == (5, 1, "fail")
    # trim only: A@x.cn, a@x.cn, b@x.cn, B@X.CN, c@x.cn -> all distinct
    assert counts(c["trim"]) == (5, 0, "pass")


def test_unique_normalize_trim_alone_numbers_and_several_columns(tmp_path):
    table = ("{id: string, e: string, n: int, f: float}", """\
        id,e,n,f
        1,a,1,0.0
        2, a,1,-0.0
        3,a ,2,1.5
        4,b,3,2.5
        """)
    c = run(tmp_path, """
        - {id: zero, source: t, rule: unique, column: f}
        - {id: trim, source: t, rule: unique, column: e, normalize: trim}
        - {id: number, source: t, rule: unique, column: n, normalize: digits}
        - {id: pair, source: t, rule: unique, columns: [e, n], normalize: trim}
    """, {"t": table})
    # without normalize a value is compared as itself: -0.0 is 0.0 (as text they would differ)
    assert counts(c["zero"]) == (4, 1, "fail")
    # trim: a x3, b -> 4 - 2 = 2 (untrimmed the four are distinct)
    assert counts(c["trim"]) == (4, 2, "fail")
    # an int column is read as its text: 1 x2, 2, 3 -> 4 - 3 = 1
    assert counts(c["number"]) == (4, 1, "fail")
    # (a,1) x2, (a,2), (b,3) -> 4 - 3 = 1; every column of the key normalised
    assert counts(c["pair"]) == (4, 1, "fail")
    assert sorted(s["id"] for s in c["pair"].samples) == ["1", "2"]


def test_unique_normalize_digits_and_phone(tmp_path):
    table = ("{id: string, p: string}", """\
        id,p
        1,138-0013-8000
        2,13800138000
        3,(138) 0013 8000
        4,+86 138 0013 8000
        5,8613800138000
        6,---
        7,13900139000
        """)
    c = run(tmp_path, """
        - {id: digits, source: t, rule: unique, column: p, normalize: digits}
        - {id: phone, source: t, rule: unique, column: p, normalize: phone}
        - {id: raw, source: t, rule: unique, column: p}
    """, {"t": table})
    # digits: 13800138000 x3, 8613800138000 x2, "" (nothing left: null, ignored),
    # 13900139000 -> 6 values, 3 distinct -> 3 failed
    assert counts(c["digits"]) == (7, 3, "fail")
    # phone: the leading 86 dropped too: 13800138000 x5, 13900139000 -> 6 - 2 = 4
    assert counts(c["phone"]) == (7, 4, "fail")
    assert sorted(s["id"] for s in c["phone"].samples) == ["1", "2", "3", "4", "5"]
    assert counts(c["raw"]) == (7, 0, "pass")


def test_unique_over_several_columns(tmp_path):
    table = ("{id: string, a: string, b: int}", """\
        id,a,b
        1,x,1
        2,x,1
        3,x,2
        4,y,1
        5,,1
        6,,1
        """)
    c = run(tmp_path, """
        - {id: pair, source: t, rule: unique, columns: [a, b]}
        - {id: pair_nulls, source: t, rule: unique, columns: [a, b], ignore_nulls: false}
        - {id: one, source: t, rule: unique, column: a}
    """, {"t": table})
    # (x,1) x2, (x,2), (y,1); the rows with a null `a` are left out -> 4 - 3 = 1
    assert counts(c["pair"]) == (6, 1, "fail")
    assert sorted(s["id"] for s in c["pair"].samples) == ["1", "2"]
    # with nulls: (null,1) x2 is one more value -> 6 - 4 = 2
    assert counts(c["pair_nulls"]) == (6, 2, "fail")
    # a alone: x x3, y -> 4 - 2 = 2
    assert counts(c["one"]) == (6, 2, "fail")


def test_unique_within_where_and_by(tmp_path):
    table = ("{id: string, v: int, g: string}", """\
        id,v,g
        1,1,a
        2,1,b
        3,2,a
        4,2,a
        5,3,b
        """)
    folder = tmp_path / "ev"
    c = run(tmp_path, """
        - {id: in_a, source: t, rule: unique, column: v, where: "g == 'a'"}
        - {id: per_g, source: t, rule: unique, column: v, by: g}
    """, {"t": table}, evidence=folder)
    # in a: 1, 2, 2 -> 3 - 2 = 1; the 1 of group b is out of scope, so row 1 is no duplicate
    assert counts(c["in_a"]) == (3, 1, "fail")
    assert sorted(r["id"] for r in evidence_rows(folder, "in_a")) == ["3", "4"]
    # per group: a 1 failed of 3, b (1, 3) none; overall 1, 1, 2, 2, 3 -> 5 - 3 = 2
    assert counts(c["per_g"]) == (5, 2, "fail")
    assert [(g["group"], g["rows"], g["failed"], g["status"]) for g in c["per_g"].groups] == [
        ("a", 3, 1, "fail"), ("b", 2, 0, "pass")]


# ---------------------------------------------------------------- allowed_values

def test_allowed_values(tmp_path):
    table = ("{id: string, channel: string}", "id,channel\n1,phone\n2,email\n3,fax\n4,\n5,chat\n")
    c = run(tmp_path, """
        - {id: fails, source: t, rule: allowed_values, column: channel, values: [phone, email, chat]}
        - {id: passes, source: t, rule: allowed_values, column: channel, values: [phone, email, chat, fax]}
    """, {"t": table})
    # fax fails; the null is left to not_null
    assert counts(c["fails"]) == (5, 1, "fail")
    assert [s["channel"] for s in c["fails"].samples] == ["fax"]
    assert counts(c["passes"]) == (5, 0, "pass")


# ---------------------------------------------------------------- matches

def test_matches_email(tmp_path):
    table = ("{id: string, e: string}", """\
        id,e
        1,foo@example.com
        2,a.b+tag@mail.example.org
        3,foo@
        4,foo@example
        5,foo.example.com
        6,foo @example.com
        7,
        8,x@example.cn
        """)
    c = run(tmp_path, """
        - {id: email, source: t, rule: matches, column: e, pattern: email}
        - {id: passes, source: t, rule: matches, column: e, pattern: email, where: "id <= '2'"}
    """, {"t": table})
    # 3 (no domain), 4 (no top-level domain), 5 (no @), 6 (space) fail; null left out
    assert counts(c["email"]) == (8, 4, "fail")
    assert sorted(s["id"] for s in c["email"].samples) == ["3", "4", "5", "6"]
    assert counts(c["passes"]) == (2, 0, "pass")


def test_matches_cn_mobile(tmp_path):
    table = ("{id: string, p: string}", """\
        id,p
        1,13800138000
        2,+8613800138000
        3,+86 13800138000
        4,19912345678
        5,1380013800
        6,23800138000
        7,12800138000
        8,138001380001
        9,
        """)
    c = run(tmp_path, """
        - {id: mobile, source: t, rule: matches, column: p, pattern: cn_mobile}
        - {id: passes, source: t, rule: matches, column: p, pattern: cn_mobile, where: "id <= '4'"}
    """, {"t": table})
    # 5 has 10 digits, 6 starts 2, 7 starts 12, 8 has 12 digits; with or without +86 pass
    assert counts(c["mobile"]) == (9, 4, "fail")
    assert sorted(s["id"] for s in c["mobile"].samples) == ["5", "6", "7", "8"]
    assert counts(c["passes"]) == (4, 0, "pass")


def test_matches_cn_postcode(tmp_path):
    table = ("{id: string, z: string}", "id,z\n1,100000\n2,010010\n3,10000\n4,1000000\n5,10000a\n")
    c = run(tmp_path, """
        - {id: postcode, source: t, rule: matches, column: z, pattern: cn_postcode}
        - {id: passes, source: t, rule: matches, column: z, pattern: cn_postcode, where: "id <= '2'"}
    """, {"t": table})
    assert counts(c["postcode"]) == (5, 3, "fail")  # 5, 7 digits and a letter
    assert counts(c["passes"]) == (2, 0, "pass")


def test_matches_regex_is_anchored(tmp_path):
    table = ("{id: string, s: string}", "id,s\n1,123\n2,12a\n3,a12\n4,1 2\n5,a\n6,b\n7,ab\n")
    c = run(tmp_path, """
        - {id: numbers, source: t, rule: matches, column: s, regex: "[0-9]+", where: "id <= '4'"}
        - {id: alternation, source: t, rule: matches, column: s, regex: "a|b", where: "id >= '5'"}
        - {id: passes, source: t, rule: matches, column: s, regex: "[0-9a-z ]+"}
    """, {"t": table})
    # [0-9]+ matches part of 12a, a12 and 1 2: each fails, only 123 passes
    assert counts(c["numbers"]) == (4, 3, "fail")
    # a|b is anchored as a whole (^(?:a|b)$), so "ab" fails
    assert counts(c["alternation"]) == (3, 1, "fail")
    assert [s["s"] for s in c["alternation"].samples] == ["ab"]
    assert counts(c["passes"]) == (7, 0, "pass")


# ---------------------------------------------------------------- range

RANGE = ("{id: string, v: int}", "id,v\n1,0\n2,1\n3,3\n4,5\n5,6\n6,\n")


@pytest.mark.parametrize("options, failed", [
    ("min: 1, max: 5", 2),  # 0 and 6
    ("min: 1, max: 5, min_inclusive: false", 3),  # and 1
    ("min: 1, max: 5, max_inclusive: false", 3),  # and 5
    ("min: 1, max: 5, min_inclusive: false, max_inclusive: false", 4),  # 0, 1, 5, 6
    ("max: 3", 2),  # 5 and 6
    ("min: 3, min_inclusive: false", 3),  # 0, 1, 3
    ("min: 0, max: 6", 0),
])
def test_range(tmp_path, options, failed):
    c = run(tmp_path, f"- {{id: r, source: t, rule: range, column: v, {options}}}", {"t": RANGE})["r"]
    assert (c.rows, c.failed, c.status) == (6, failed, "fail" if failed else "pass")  # null left out


# ---------------------------------------------------------------- type

def test_type_date_is_iso_only_whatever_the_first_value(tmp_path):
    # a date reads as 2025-03-31 only: no format is guessed from the column's first value
    c = run(tmp_path, "- {id: date, source: t, rule: type, column: d, type: date}",
            {"t": ("{id: string, d: string}", "id,d\n1,2025/03/31\n2,2025/04/01\n3,31.03.2025\n4,2025-03-31\n")})
    assert counts(c["date"]) == (4, 3, "fail")


def test_type_on_a_text_column(tmp_path):
    table = ("{id: string, n: string, d: string, ts: string}", """\
        id,n,d,ts
        1,7,2025-03-31,2025-03-31T14:05:00
        2," 8 ",2025-02-30,2025-03-31T25:00:00
        3,12.5,31/03/2025,soon
        4,"12,5",,
        5,abc,2024-02-29,2025-01-01T00:00:00
        6,,2025-13-01,
        """)
    c = run(tmp_path, """
        - {id: int, source: t, rule: type, column: n, type: int}
        - {id: float, source: t, rule: type, column: n, type: float}
        - {id: date, source: t, rule: type, column: d, type: date}
        - {id: datetime, source: t, rule: type, column: ts, type: datetime}
        - {id: int_passes, source: t, rule: type, column: id, type: int}
        - {id: float_passes, source: t, rule: type, column: n, type: float, where: "id <= '3'"}
    """, {"t": table})
    # int: 7 and " 8 " read; 12.5, "12,5", abc do not; the null is left out
    assert counts(c["int"]) == (6, 3, "fail")
    # float: 7, 8, 12.5 read; "12,5" and abc do not
    assert counts(c["float"]) == (6, 2, "fail")
    # date: 2025-02-30, 31/03/2025, 2025-13-01 fail; 2024-02-29 is a leap day
    assert counts(c["date"]) == (6, 3, "fail")
    assert sorted(s["id"] for s in c["date"].samples) == ["2", "3", "6"]
    # datetime: hour 25 and "soon" fail
    assert counts(c["datetime"]) == (6, 2, "fail")
    assert counts(c["int_passes"]) == (6, 0, "pass")
    assert counts(c["float_passes"]) == (3, 0, "pass")


# ---------------------------------------------------------------- references

CUSTOMERS = ("{customer_id: string}", "customer_id\nC1\nC2\nC3\nC1\n")
INTERACTIONS = ("{interaction_id: string, customer_id: string}",
                "interaction_id,customer_id\nI1,C1\nI2,C2\nI3,C9\nI4,\nI5,C1\n")
ORDERS = ("{order_id: string, customer_id: string}", "order_id,customer_id\nO1,C3\nO2,C3\nO3,C2\n")


def test_references(tmp_path):
    c = run(tmp_path, """
        - {id: orphans, source: interactions, rule: references, column: customer_id, to: {source: customers, column: customer_id}}
        - {id: orphans_nulls, source: interactions, rule: references, column: customer_id, ignore_nulls: false, to: {source: customers, column: customer_id}}
        - {id: passes, source: orders, rule: references, column: customer_id, to: {source: customers, column: customer_id}}
    """, {"customers": CUSTOMERS, "interactions": INTERACTIONS, "orders": ORDERS})
    # C9 is unknown; I4's null key is out of scope (4 rows). C1 twice in customers must
    # not double I1, I5
    assert counts(c["orphans"]) == (4, 1, "fail")
    assert [s["interaction_id"] for s in c["orphans"].samples] == ["I3"]
    # with nulls: I3 and I4
    assert counts(c["orphans_nulls"]) == (5, 2, "fail")
    assert sorted(s["interaction_id"] for s in c["orphans_nulls"].samples) == ["I3", "I4"]
    assert counts(c["passes"]) == (3, 0, "pass")



def test_references_beside_a_join_to_the_same_source(tmp_path):
    # interactions also borrow `segment` from customers on customer_id: the rule's marker
    # rides on that join, and the counts are those of test_references
    customers = ("{customer_id: string, segment: string}",
                 "customer_id,segment\nC1,smb\nC2,enterprise\nC3,smb\nC1,mid_market\n")
    path = write(tmp_path, """
        - {id: orphans, source: interactions, rule: references, column: customer_id, to: {source: customers, column: customer_id}}
        - {id: orphans_nulls, source: interactions, rule: references, column: customer_id, ignore_nulls: false, to: {source: customers, column: customer_id}}
        - {id: smb_orphans, source: interactions, rule: references, column: customer_id, where: "segment == 'smb'", to: {source: customers, column: customer_id}}
    """, {"customers": customers, "interactions": INTERACTIONS})
    text = path.read_text(encoding="utf-8").replace(
        "  interactions: {path: interactions.csv,",
        "  interactions: {join: {source: customers, on: customer_id, columns: [segment]}, path: interactions.csv,")
    path.write_text(text, encoding="utf-8")
    c = {r.id: r for r in assess(path).checks}
    # C9 is unknown, the null out of scope; C1 twice in customers: the first row (smb) wins
    assert counts(c["orphans"]) == (4, 1, "fail")
    assert [s["interaction_id"] for s in c["orphans"].samples] == ["I3"]
    assert counts(c["orphans_nulls"]) == (5, 2, "fail")
    # in scope: I1 and I5 (C1, smb); C3 has no interaction -> 2 rows, none failing
    assert counts(c["smb_orphans"]) == (2, 0, "pass")

# ---------------------------------------------------------------- freshness, row_count

EVENTS = ("{id: string, at: date, g: string}", """\
    id,at,g
    1,2025-06-01,a
    2,2025-06-20,b
    3,,a
    """)
EMPTY = ("{id: string, at: date, g: string}", "id,at,g\n")


def test_freshness(tmp_path):
    c = run(tmp_path, """
        - {id: stale, source: t, rule: freshness, column: at, max_age: 7}
        - {id: as_of_param, source: t, rule: freshness, column: at, max_age: 7, as_of: cutoff}
        - {id: boundary, source: t, rule: freshness, column: at, max_age: 7, as_of: "2025-06-27"}
        - {id: literal_stale, source: t, rule: freshness, column: at, max_age: 7, as_of: 2025-06-28}
        - {id: longer, source: t, rule: freshness, column: at, max_age: 10}
        - {id: scoped, source: t, rule: freshness, column: at, max_age: 20, as_of: cutoff, where: "g == 'a'"}
    """, {"t": EVENTS})
    june = lambda d: dt.date(2025, 6, d)  # noqa: E731
    # newest 06-20; period_end 06-30 - 7 days = 06-23 > 06-20 -> stale
    assert counts(c["stale"]) == (1, 1, "fail") and c["stale"].observed == june(20)
    # cutoff 06-25 - 7 = 06-18 <= 06-20 -> fresh
    assert counts(c["as_of_param"]) == (1, 0, "pass")
    # exactly max_age days old is still fresh: 06-27 - 7 = 06-20
    assert counts(c["boundary"]) == (1, 0, "pass")
    # 06-28 - 7 = 06-21 > 06-20
    assert counts(c["literal_stale"]) == (1, 1, "fail")
    # 06-30 - 10 = 06-20
    assert counts(c["longer"]) == (1, 0, "pass")
    # only group a: newest 06-01; 06-25 - 20 = 06-05 > 06-01 -> stale
    assert counts(c["scoped"]) == (1, 1, "fail") and c["scoped"].observed == june(1)


def test_freshness_as_of_a_param_given_on_the_command_line(tmp_path):
    path = write(tmp_path, "- {id: stale, source: t, rule: freshness, column: at, max_age: 7}", {"t": EVENTS})
    assert assess(path).checks[0].failed == 1
    # period_end 06-25: 06-25 - 7 = 06-18 <= 06-20
    assert assess(path, overrides={"period_end": "2025-06-25"}).checks[0].failed == 0


def test_freshness_on_an_empty_table(tmp_path):
    c = run(tmp_path, "- {id: f, source: t, rule: freshness, column: at, max_age: 7}", {"t": EMPTY})["f"]
    assert (c.rows, c.failed, c.status, c.observed) == (1, 1, "fail", None)


def test_row_count(tmp_path):
    c = run(tmp_path, """
        - {id: within, source: t, rule: row_count, min: 1, max: 3}
        - {id: too_many, source: t, rule: row_count, max: 2}
        - {id: too_few, source: t, rule: row_count, min: 4}
        - {id: scoped, source: t, rule: row_count, min: 2, where: "g == 'a'"}
        - {id: scoped_few, source: t, rule: row_count, min: 2, where: "g == 'b'"}
    """, {"t": EVENTS})
    assert counts(c["within"]) == (1, 0, "pass") and c["within"].observed == 3
    assert counts(c["too_many"]) == (1, 1, "fail") and c["too_many"].observed == 3
    assert counts(c["too_few"]) == (1, 1, "fail")
    assert counts(c["scoped"]) == (1, 0, "pass") and c["scoped"].observed == 2
    assert counts(c["scoped_few"]) == (1, 1, "fail") and c["scoped_few"].observed == 1


def test_row_count_on_an_empty_table(tmp_path):
    c = run(tmp_path, "- {id: rc, source: t, rule: row_count, min: 1}", {"t": EMPTY})["rc"]
    assert (c.rows, c.failed, c.status, c.observed) == (1, 1, "fail", 0)


# ---------------------------------------------------------------- consistency, expression

TIMES = ("{id: string, opened: int, resolved: int}", """\
    id,opened,resolved
    1,1,2
    2,3,1
    3,,2
    4,2,
    5,5,5
    """)


def test_consistency_leaves_rows_with_missing_inputs_out(tmp_path):
    c = run(tmp_path, """
        - {id: order, source: t, rule: consistency, expression: "resolved >= opened"}
        - {id: with_param, source: t, rule: consistency, expression: "resolved + slack >= opened"}
        - {id: scoped, source: t, rule: consistency, expression: "resolved >= opened", where: "id != '2'"}
    """, {"t": TIMES})
    # rows 3 and 4 have a null input: out of scope; of 1, 2, 5 only 2 fails
    assert counts(c["order"]) == (3, 1, "fail")
    assert [s["id"] for s in c["order"].samples] == ["2"]
    # slack is a param (2), not a column: 1 + 2 >= 3 holds
    assert counts(c["with_param"]) == (3, 0, "pass")
    assert counts(c["scoped"]) == (2, 0, "pass")


def test_expression_fails_rows_with_missing_inputs(tmp_path):
    c = run(tmp_path, """
        - {id: order, source: t, rule: expression, expression: "resolved >= opened"}
        - {id: passes, source: t, rule: expression, expression: "is_not_null(id)"}
        - {id: scoped, source: t, rule: expression, expression: "resolved >= opened", where: "id >= '3'"}
    """, {"t": TIMES})
    # row 2 is false, rows 3 and 4 are null: 3 of 5 fail
    assert counts(c["order"]) == (5, 3, "fail")
    assert sorted(s["id"] for s in c["order"].samples) == ["2", "3", "4"]
    assert counts(c["passes"]) == (5, 0, "pass")
    assert counts(c["scoped"]) == (3, 2, "fail")  # 3, 4 null; 5 holds


# ---------------------------------------------------------------- distribution

SEGMENTS = ("{id: string, seg: string, g: string}", """\
    id,seg,g
    1,smb,a
    2,smb,a
    3,smb,b
    4,smb,b
    5,smb,a
    6,smb,b
    7,mid,a
    8,mid,b
    9,mid,a
    10,ent,b
    11,,a
    12,,b
    """)


def test_distribution(tmp_path):
    folder = tmp_path / "ev"
    c = run(tmp_path, """
        - {id: too_big, source: t, rule: distribution, column: seg, max_share: 0.5}
        - {id: at_max, source: t, rule: distribution, column: seg, max_share: 0.6}
        - {id: too_small, source: t, rule: distribution, column: seg, min_share: 0.2}
        - {id: scoped, source: t, rule: distribution, column: seg, max_share: 0.5, where: "g == 'b'"}
    """, {"t": SEGMENTS}, evidence=folder)
    # non-null rows 10: smb 0.6, mid 0.3, ent 0.1
    assert counts(c["too_big"]) == (3, 1, "fail")
    assert c["too_big"].observed == pytest.approx(0.6)
    # the evidence is the rows holding smb
    assert sorted(int(r["id"]) for r in evidence_rows(folder, "too_big")) == [1, 2, 3, 4, 5, 6]
    assert counts(c["at_max"]) == (3, 0, "pass")  # 0.6 is not above 0.6
    assert counts(c["too_small"]) == (3, 1, "fail")  # ent 0.1
    # b: smb 3, mid 1, ent 1 (the null left out) -> smb 0.6 > 0.5
    assert counts(c["scoped"]) == (3, 1, "fail")
    assert sorted(int(r["id"]) for r in evidence_rows(folder, "scoped")) == [3, 4, 6]


def test_distribution_bounds_are_included(tmp_path):
    c = run(tmp_path, """
        - {id: at_min, source: t, rule: distribution, column: seg, min_share: 0.1}
        - {id: at_min_listed, source: t, rule: distribution, column: seg, values: [ent], min_share: 0.1}
        - {id: above_min, source: t, rule: distribution, column: seg, min_share: 0.11}
    """, {"t": SEGMENTS})
    # ent is 1 of 10 non-null rows: 0.1 is not below a min_share of 0.1, but below 0.11
    assert counts(c["at_min"]) == (3, 0, "pass")
    assert counts(c["at_min_listed"]) == (1, 0, "pass")
    assert counts(c["above_min"]) == (3, 1, "fail")


def test_distribution_with_listed_values_is_the_same_every_run(tmp_path):
    path = write(tmp_path, """
        - {id: listed, source: t, rule: distribution, column: seg, values: [mid, ent], min_share: 0.2}
        - {id: one, source: t, rule: distribution, column: seg, values: [smb], max_share: 0.5}
    """, {"t": SEGMENTS})
    seen = collections.Counter()
    for _ in range(30):  # one wrong pairing in three runs or so
        c = {c.id: c for c in assess(path).checks}
        seen[counts(c["listed"]), counts(c["one"])] += 1
    # listed: mid 0.3 ok, ent 0.1 < 0.2 -> 2 judged, 1 failed; one: smb 0.6 > 0.5
    assert seen == {((2, 1, "fail"), (1, 1, "fail")): 30}


def test_distribution_listed_value_absent_from_the_data(tmp_path):
    c = run(tmp_path, """
        - {id: listed, source: t, rule: distribution, column: seg, values: [mid, vip], min_share: 0.1}
    """, {"t": SEGMENTS})["listed"]
    # docstring: "each of values makes up between min_share and max_share": mid 0.3 ok,
    # vip 0 of 10 < 0.1 -> 2 values judged, 1 failed
    assert counts(c) == (2, 1, "fail")


# ---------------------------------------------------------------- schema

def test_schema_on_a_parquet_file(tmp_path):
    pl.DataFrame({"id": ["a", "b"], "n": [1, 2], "x": [0.5, 1.5],
                  "d": [dt.date(2025, 1, 1), dt.date(2025, 1, 2)],
                  "ts": [dt.datetime(2025, 1, 1, 9), dt.datetime(2025, 1, 2, 10)]}) \
        .write_parquet(tmp_path / "p.parquet")
    path = tmp_path / "r.yaml"
    path.write_text(HEAD.format(sources="  p: {path: p.parquet}", first="p", checks=textwrap.indent(textwrap.dedent("""\
        - {id: complete, source: p, rule: schema, required: {id: string, n: int, x: float, d: date, ts: datetime}}
        - {id: broken, source: p, rule: schema, required: {id: string, missing: string, n: string, d: datetime}}
        """), "  ")), encoding="utf-8")
    c = {c.id: c for c in assess(path).checks}
    assert counts(c["complete"]) == (5, 0, "pass")
    # missing is absent, n is an integer, d is a date: 3 of 4 required columns fail
    assert counts(c["broken"]) == (4, 3, "fail")


# ---------------------------------------------------------------- validation

def rule_codes(found) -> set[str]:
    return {p.rule for p in found}


def test_a_key_of_another_rule_is_refused(tmp_path):
    found = problems(tmp_path, "- {id: x, source: t, rule: not_null, column: email, values: [a]}",
                     {"t": PEOPLE})
    assert rule_codes(found) == {"rule-key"}
    assert "`values` does not apply to rule `not_null`" in str(found[0])
    found = problems(tmp_path, "- {id: x, source: t, rule: not_null, column: email, normalize: lower}",
                     {"t": PEOPLE})
    assert rule_codes(found) == {"rule-key"}


def test_a_misspelt_key_is_an_unknown_property(tmp_path):
    found = problems(tmp_path, "- {id: x, source: t, rule: not_null, colum: email}", {"t": PEOPLE})
    assert "unknown-property" in rule_codes(found)
    unknown = [p for p in found if p.rule == "unknown-property"]
    assert "`colum`" in unknown[0].message and "did you mean `column`?" in unknown[0].hint


@pytest.mark.parametrize("warn, fail", [("< 0.9", "< 0.9"), ("< 0.9", "ratio < 0.9"),
                                         ("failed > 3", "failed>3")])
def test_warn_equal_to_fail_is_refused(tmp_path, warn, fail):
    found = problems(tmp_path, f'- {{id: x, source: t, rule: not_null, column: email, warn: "{warn}", fail: "{fail}"}}',
                     {"t": PEOPLE})
    assert rule_codes(found) == {"thresholds"}


def test_a_missing_required_key_is_a_schema_problem(tmp_path):
    for check in ("- {id: x, source: t, rule: matches, column: email}",
                  "- {id: x, source: t, rule: matches, column: email, pattern: email, regex: '.+'}",
                  "- {id: x, source: t, rule: unique}",
                  "- {id: x, source: t, rule: freshness, column: email}",
                  "- {id: x, source: t, rule: allowed_values, column: email}"):
        found = problems(tmp_path, check, {"t": PEOPLE})
        assert rule_codes(found) == {"schema"}, check


def test_bad_names_in_a_check_are_refused(tmp_path):
    found = problems(tmp_path, "- {id: x, source: t, rule: not_null, column: emial}", {"t": PEOPLE})
    assert rule_codes(found) == {"unknown-column"} and "did you mean `email`?" in found[0].hint
    found = problems(tmp_path, "- {id: x, source: t, rule: freshness, column: email, max_age: 1, as_of: yesterday}",
                     {"t": PEOPLE})
    assert rule_codes(found) == {"unknown-name"}


def test_rules_reference_has_every_rule(capsys):
    schema = json.loads((ROOT / "schemas" / "ruleset.schema.json").read_text(encoding="utf-8"))
    kinds = schema["$defs"]["check"]["properties"]["rule"]["enum"]
    assert sorted(kinds) == sorted(RULES) and len(kinds) == 14
    text = reference()
    assert main(["rules"]) == 0
    printed = capsys.readouterr().out
    for kind in kinds:
        first = RULES[kind].plan.__doc__.strip().splitlines()[0].strip()
        assert first and first in text, kind
        assert f"### `{kind}`" in printed and first.replace("``", "`") in printed, kind


def test_unique_samples_are_the_smallest_repeated_values(tmp_path):
    table = ("{id: string, v: int}", "id,v\n1,9\n2,9\n3,5\n4,1\n5,5\n6,1\n7,\n8,\n9,3\n")
    path = write(tmp_path, """
        - {id: dup, source: t, rule: unique, column: v}
    """, {"t": table})
    path.write_text(path.read_text(encoding="utf-8") + "settings: {samples: 2}\n", encoding="utf-8")
    for engine in ("auto", "in-memory", "streaming"):
        (c,) = assess(path, engine=engine).checks
        # repeated: 9 (rows 1, 2), 5 (rows 3, 5), 1 (rows 4, 6); 7 values - 4 distinct = 3.
        # The evidence takes the 2 smallest repeated values, 1 and 5, then the first 2 of
        # their rows in file order: 3 (a 5) and 4 (a 1). The nulls are ignored.
        assert (c.rows, c.failed) == (9, 3)
        assert [s["id"] for s in c.samples] == ["3", "4"]
