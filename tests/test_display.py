"""Issue 15, items 12, 13, 16, 19-21: numbers as people read them (one precision per KPI
in every format, no -0.0, shares that add up), Markdown as a pull-request comment, the
terminal at 80 columns, and the XLSX as an analyst's workbook. Expected values come from
the data by hand (plain Polars, arithmetic in comments), never from the engine's output."""
from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import polars as pl
import pytest

from engine.cli import main
from engine.labels import ICONS, LABELS
from engine.render import arrow, change, shares, show
from conftest import ROOT
from test_hardening import write

VENDORS = ROOT / "rulesets" / "vendor_scoring.yaml"
VENDOR_DATA = ROOT / "tests" / "data" / "vendors"
RULESETS = sorted(p.stem for p in (ROOT / "rulesets").glob("*.yaml") if not p.name.endswith(".tests.yaml"))


def run(tmp_path: Path, ruleset: Path, fmt: str, *args: str, name: str = "r") -> Path:
    out = tmp_path / f"{name}.{fmt}"
    assert main(["run", str(ruleset), "--format", fmt, "--out", str(out), *args]) in (0, 1)
    return out


# --- numbers ---------------------------------------------------------------------------

def test_a_value_just_short_of_its_target_never_reads_as_the_target():
    # 99.87 % against 99.9 %: one decimal more than the target is written with
    assert show(0.9987, "percent", 2) == "99.87%" and show(0.999, "percent", 2) == "99.90%"
    # no -0.0, whatever the unit
    assert show(-0.0004, "percent", 1) == "0.0%" and show(-0.001, "hours", 1) == "0.0 h"
    assert show(-0.004, "currency", 2) == "0.00" and show(1234567.891, "currency", 2) == "1,234,567.89"
    # a change that rounds to zero has no sign and no arrow; one that does not has both
    still = SimpleNamespace(change=-0.00004, change_pct=-0.00004, unit="percent", decimals=2)
    assert change(still) == "±0.00 pp (±0.0%)" and arrow(still) == ""
    moved = SimpleNamespace(change=-0.012, change_pct=-0.0143, unit="percent", decimals=1)
    assert change(moved) == "-1.2 pp (-1.4%)" and arrow(moved) == "▼"


@pytest.mark.parametrize("parts,expected", [
    ([1 / 3] * 3, [34, 33, 33]),  # 33.33 each: the one percent lost to rounding goes to the first
    ([0.125, 0.125, 0.25, 0.5], [13, 12, 25, 50]),  # 12.5 + 12.5: one of them up
    # 16.6 x 5 + 17: the floors add up to 97, the three percents left go to the first three .6
    ([0.166, 0.166, 0.166, 0.166, 0.166, 0.17], [17, 17, 17, 16, 16, 17]),
])
def test_shares_add_up_to_100_by_largest_remainder(parts, expected):
    assert shares(parts) == expected and sum(expected) == 100


def ruleset_with_decimals(tmp_path: Path, decimals: str) -> Path:
    text = VENDORS.read_text(encoding="utf-8").replace(
        "    unit: percent\n    target: 0.999\n", f"    unit: percent\n{decimals}    target: 0.999\n")
    assert text != VENDORS.read_text(encoding="utf-8")
    path = tmp_path / "vendor_scoring.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def uptime_by_vendor(start: str, end: str) -> dict[str, float]:
    """The uptime KPI by hand: the mean of the months in the period, as a ratio."""
    frame = pl.read_csv(VENDOR_DATA / "vendor_uptime.csv", schema_overrides={"month": pl.String})
    months = frame.filter(pl.col("month").is_between(pl.lit(start[:7]), pl.lit(end[:7])))
    return {r["vendor_id"]: r["uptime_pct"] / 100 for r in months.group_by("vendor_id").agg(pl.col("uptime_pct").mean())
            .iter_rows(named=True)}


def test_decimals_shows_one_precision_in_every_format(tmp_path):
    # 2025 on tests/data/vendors: mean(100.0, 99.95, 99.99, 99.0, 99.5, 99.95) = 99.731666 %
    path = ruleset_with_decimals(tmp_path, "    decimals: 3\n")
    overall = pl.read_csv(VENDOR_DATA / "vendor_uptime.csv").filter(pl.col("month").str.starts_with("2025"))
    uptime = overall["uptime_pct"].mean() / 100
    shown = f"{uptime * 100:.3f}%"
    assert shown == "99.732%"
    r = json.loads(run(tmp_path, path, "json", "--data", str(VENDOR_DATA)).read_text(encoding="utf-8"))
    k = next(k for k in r["kpis"] if k["id"] == "uptime")
    assert k["decimals"] == 3 and k["value"] == pytest.approx(uptime)  # the JSON keeps full precision
    md = run(tmp_path, path, "md", "--data", str(VENDOR_DATA)).read_text(encoding="utf-8")
    assert f"| Uptime (`uptime`) | {shown} | 99.900% |" in md
    table = run(tmp_path, path, "table", "--data", str(VENDOR_DATA)).read_text(encoding="utf-8")
    assert re.search(rf"│ Uptime +│ +{re.escape(shown)} │ +99\.900% │", table)
    book = openpyxl.load_workbook(run(tmp_path, path, "xlsx", "--data", str(VENDOR_DATA)))
    row = next(r for r in book["Scorecard"].iter_rows() if r[0].value == "uptime")
    assert row[2].number_format == row[3].number_format == "0.000%"


def test_the_default_decimals_follow_the_unit_and_the_target(tmp_path):
    # no `decimals`: a 99.9 % target is written with one decimal, so values get two
    r = json.loads(run(tmp_path, VENDORS, "json", "--data", str(VENDOR_DATA)).read_text(encoding="utf-8"))
    decimals = {k["id"]: k["decimals"] for k in r["kpis"]}
    units = {k["id"]: k["unit"] for k in r["kpis"]}
    assert decimals["uptime"] == 2
    # percents with a whole-number target: 1; currency 2; hours 1; a count with a 0.5 target: 2
    assert {decimals[k] for k in decimals if units[k] == "percent" and k != "uptime"} == {1}
    assert {decimals[k] for k in decimals if units[k] == "currency"} == {2}
    assert {decimals[k] for k in decimals if units[k] == "hours"} == {1}
    assert decimals["incidents"] == 2


def test_validate_refuses_decimals_that_are_not_a_small_whole_number(tmp_path, capsys):
    path = ruleset_with_decimals(tmp_path, "    decimals: 1.5\n")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    line = 1 + path.read_text(encoding="utf-8").split("\n").index("    decimals: 1.5")
    assert f"vendor_scoring.yaml:{line}:" in out and "decimals" in out
    path = ruleset_with_decimals(tmp_path, "    decimals: 9\n")
    assert main(["validate", str(path)]) == 1
    assert "decimals" in capsys.readouterr().out


# --- Markdown --------------------------------------------------------------------------

def tables(text: str) -> list[list[str]]:
    found: list[list[str]] = []
    previous = False
    for line in text.splitlines():
        if line.startswith("|"):
            found[-1:] = [found[-1] + [line]] if previous else found[-1:] + [[line]]
        previous = line.startswith("|")
    return found


def columns(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line)) - 1


def outside_details(text: str) -> str:
    return re.sub(r"<details>.*?</details>", "", text, flags=re.S)


@pytest.mark.parametrize("name", RULESETS)
def test_markdown_tables_have_at_most_six_columns(tmp_path, name):
    text = run(tmp_path, ROOT / "rulesets" / f"{name}.yaml", "md").read_text(encoding="utf-8")
    # the breakdowns and the failing rows have the data's columns: folded, in <details>
    for table in tables(outside_details(text)):
        assert columns(table[0]) <= 6, table[0]
    # the verdict first: the banner or the checks line right under the title
    lines = [line for line in text.splitlines() if line]
    assert lines[0].startswith("# ")
    assert lines[1].startswith(f"**{ICONS['fail']} ") or LABELS["en"]["verdict"] in lines[1] \
        or lines[1].endswith(LABELS["en"]["no_checks"])


def test_markdown_of_vendors_reads_as_a_pull_request_comment(tmp_path):
    text = run(tmp_path, VENDORS, "md", "--data", str(VENDOR_DATA)).read_text(encoding="utf-8")
    r = json.loads(run(tmp_path, VENDORS, "json", "--data", str(VENDOR_DATA)).read_text(encoding="utf-8"))
    titles = {k["id"]: k["title"] for k in r["kpis"]} | {c["id"]: c["title"] for c in r["categories"]}
    # strengths, weaknesses and the ranking name KPIs by title, never by id
    strengths = next(line for line in text.splitlines() if line.startswith(f"{ICONS['met']} Strengths: "))
    assert strengths.rstrip() == f"{ICONS['met']} Strengths: " + ", ".join(titles[s] for s in r["strengths"])
    ranking = text[text.index("## Ranking"):]
    for e in r["entities"]:
        row = next(line for line in ranking.splitlines() if line.startswith(f"| {e['rank'] or '–'} | {e['name']} "))
        if e["unranked"] is None:
            assert row.endswith(" | " + ", ".join(titles[w] for w in e["weaknesses"]) + " |")
        else:  # why it is not ranked, the program's words with their ids as code
            assert row.endswith(f" | {e['unranked']} |") and "`" in e["unranked"]
    # the n/a reason sits below the table as a footnote, not in the Status cell
    na = [k for k in r["kpis"] if k["status"] == "n/a"]
    assert na  # cac and clv are scored against peers: n/a on the whole
    for i, k in enumerate(na, start=1):
        mark = "¹²³⁴⁵⁶⁷⁸⁹"[i - 1]
        assert f"| {ICONS['n/a']} n/a{mark} |" in text
        assert f"\n{mark} {k['title']}: {k['reason']}" in text
    assert not any(k["reason"] in line for k in na for line in text.splitlines() if line.startswith("|"))
    # shares as shown add up to 100 in every card
    rows = [line for line in tables(text)[0][2:]]
    assert sum(int(re.findall(r"\| (\d+)% \|", row)[0]) for row in rows) == 100
    # every entity's card folded
    assert text.count("<details><summary>") >= len(r["entities"])


def test_markdown_numbers_have_thousands_separators(tmp_path):
    text = run(tmp_path, VENDORS, "md").read_text(encoding="utf-8")
    r = json.loads(run(tmp_path, VENDORS, "json").read_text(encoding="utf-8"))
    clv = next(k for k in r["kpis"] if k["id"] == "clv")
    assert clv["value"] > 1000
    assert f"| {clv['value']:,.2f} |" in text


HOSTILE = "a|b `tick` <script>x</script>\nnext [x](javascript:alert(1)) **bold**"


def test_markdown_escapes_hostile_titles_names_and_rules(tmp_path):
    path = write(tmp_path, [HOSTILE, "plain"], title=HOSTILE, kpi_title=HOSTILE, check_title=HOSTILE,
                 fix=HOSTILE, owner=HOSTILE, text=HOSTILE)
    out = tmp_path / "r.md"
    assert main(["run", str(path), "--format", "md", "--out", str(out)]) == 1
    text = out.read_text(encoding="utf-8")
    assert "<script" not in text and "](javascript" not in text.replace("\\](javascript", "")
    assert "**bold**" not in text and "\\*\\*bold\\*\\*" in text
    # no backtick from the data opens a code span: every unescaped backtick is the report's own
    assert "\\`tick\\`" in text
    code = re.sub(r"\\`", "", text)
    assert all(re.fullmatch(r"[\w.]+", span) for span in re.findall(r"`([^`]*)`", code)), \
        re.findall(r"`([^`]*)`", code)
    # a newline does not end a table row, a pipe does not add a cell
    for table in tables(text):
        assert len({columns(line) for line in table}) == 1, table
    # in a <summary>, HTML: escaped, and nothing Markdown could read as a link or code
    for summary in re.findall(r"<summary>(.*?)</summary>", text):
        assert "<" not in summary and "[" not in summary and "`" not in summary


# --- terminal --------------------------------------------------------------------------

@pytest.mark.parametrize("name", RULESETS)
def test_the_terminal_fits_80_columns(tmp_path, monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "80")
    ruleset = ROOT / "rulesets" / f"{name}.yaml"
    lines = run(tmp_path, ruleset, "table").read_text(encoding="utf-8").splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    r = json.loads(run(tmp_path, ruleset, "json").read_text(encoding="utf-8"))
    text = " ".join("\n".join(lines).split())  # a long header wraps
    if r["period"]:
        assert f"{r['period']['start']} – {r['period']['end']}" in text
    assert "Share" in text and "Weight" not in text  # the column's name in every format
    assert LABELS["en"]["verdict"] in text or LABELS["en"]["no_checks"] in text


def test_the_terminal_takes_its_width_from_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "150")
    wide = run(tmp_path, VENDORS, "table").read_text(encoding="utf-8").splitlines()
    assert 80 < max(len(line) for line in wide) <= 150
    assert "Category" in wide[4]  # room for the category column


# --- XLSX ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vendor_book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("book")
    out = run(folder, VENDORS, "xlsx", "--data", str(VENDOR_DATA))
    r = json.loads(run(folder, VENDORS, "json", "--data", str(VENDOR_DATA)).read_text(encoding="utf-8"))
    return openpyxl.load_workbook(out), r


def test_the_entity_by_kpi_sheet_holds_values_scores_and_previous_values(vendor_book):
    book, r = vendor_book
    sheet = book["Entities x KPIs"]
    rows = [list(row) for row in sheet.iter_rows()]
    titles = [k["title"] for k in r["kpis"]]
    at = 6 + 3 * [k["id"] for k in r["kpis"]].index("uptime")
    assert [rows[0][6 + 3 * i].value for i in range(len(titles))] == titles  # titles as headers
    assert [c.value for c in rows[1][at:at + 3]] == ["Value", "Score", "Previous"]
    # the weights row: each KPI's share of the total, as shown, adding up to 100 %
    weights = [rows[2][6 + 3 * i + 1].value for i in range(len(titles))]
    assert sum(weights) == pytest.approx(1) and all(round(w * 100, 9) == round(w * 100) for w in weights)
    now, before = uptime_by_vendor("2025-01-01", "2025-12-31"), uptime_by_vendor("2024-01-01", "2024-12-31")
    # V1 (100 + 99.95) / 2 = 99.975 %; V3 (99.0 + 99.5) / 2 = 99.25 %; 2024: V1 99.5 %, V3 99.9 %
    assert now["V1"] == pytest.approx(0.99975) and before["V3"] == pytest.approx(0.999)
    seen = set()
    for row in rows[3:]:
        vendor = row[1].value
        if vendor not in now:
            continue
        seen.add(vendor)
        value, points, previous = (c.value for c in row[at:at + 3])
        assert value == pytest.approx(now[vendor])
        assert previous == (pytest.approx(before[vendor]) if vendor in before else None)
        # linear from the floor 0.99 (0) to the target 0.999 (100), capped at 100
        assert points == pytest.approx(min(100, max(0, (now[vendor] - 0.99) / (0.999 - 0.99) * 100)))
        assert row[at].number_format == "0.00%" and row[at + 1].number_format == "0.0"
        e = next(e for e in r["entities"] if e["id"] == vendor)
        assert row[5].value == e["previous"]["rank_change"]
    assert seen == set(now)
    assert sheet.freeze_panes == "D4" and sheet.print_title_rows == "$1:$3"


def test_number_formats_per_unit_and_change_columns(vendor_book):
    book, r = vendor_book
    sheet = book["Scorecard"]
    header = next(row for row in sheet.iter_rows() if row[0].value == "id")
    names = [c.value for c in header]
    assert names[10:13] == ["Previous", "Change", "Change %"]
    expected = {"percent": "0.0%", "currency": "#,##0.00", "hours": '#,##0.0 "h"'}
    for k in r["kpis"]:
        row = next(row for row in sheet.iter_rows() if row[0].value == k["id"])
        if k["value"] is not None and k["unit"] in expected and k["id"] != "uptime":
            assert row[2].number_format == expected[k["unit"]], k["id"]
        if k["score"] is not None:
            assert row[6].number_format == "0.0"
        if k["change"] is not None:
            # the point change in the unit (a percentage's in points), the relative change as a percent
            signed = {"percent": '+0.0" pp";-0.0" pp";0.0" pp"', "currency": "+#,##0.00;-#,##0.00;#,##0.00",
                      "hours": '+#,##0.0 "h";-#,##0.0 "h";#,##0.0 "h"'}
            if k["unit"] in signed and k["id"] != "uptime":
                assert row[11].number_format == signed[k["unit"]], k["id"]
        if k["change_pct"] is not None:
            assert row[12].number_format == "+0.0%;-0.0%;0.0%" and row[12].value == pytest.approx(k["change_pct"])


def test_every_sheet_prints_landscape_one_page_wide_with_its_header(vendor_book, tmp_path):
    book, _ = vendor_book
    census = openpyxl.load_workbook(run(tmp_path, ROOT / "rulesets" / "data_census.yaml", "xlsx"))
    for sheet in book.worksheets + census.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert sheet.page_setup.fitToWidth in (None, 1) and sheet.page_setup.fitToHeight == 0
        assert sheet.print_title_rows, sheet.title


def test_checks_sheet_has_threshold_and_severity_and_links_each_evidence_sheet(tmp_path):
    path = ROOT / "rulesets" / "data_census.yaml"
    book = openpyxl.load_workbook(run(tmp_path, path, "xlsx"))
    r = json.loads(run(tmp_path, path, "json").read_text(encoding="utf-8"))
    sheet = book["Data quality"]
    header = [c.value for c in next(sheet.iter_rows())]
    at = {name: header.index(name) for name in ("Severity", "Threshold", "Failing", "Rows")}
    for c, row in zip(r["checks"], list(sheet.iter_rows())[1:]):
        assert row[0].value == c["id"] and row[at["Severity"]].value == c["severity"]
        limits = [f"{level} if {c[level]}" for level in ("fail", "warn") if c[level]]
        assert row[at["Threshold"]].value == ("; ".join(limits) or "fail if any row fails")
        assert row[at["Failing"]].number_format == "#,##0" and row[at["Failing"]].value == c["failed"]
        flagged = c["status"] != "pass" and (c["samples"] or c["top_failed_values"] or c["groups"])
        link = row[-1].hyperlink
        assert (link is not None and link.location == f"'{c['id']}'!A1") == bool(flagged), c["id"]
        if flagged:
            assert book[c["id"]].cell(1, 1).value == c["title"]
    # the rule that fails by any orphan row: its failing keys on its own sheet, with their rows
    orphans = next(c for c in r["checks"] if c["id"] == "interaction_customer_exists")
    rows = [tuple(c.value for c in row) for row in book["interaction_customer_exists"].iter_rows()]
    keys = rows.index(("Key", "Rows") + (None,) * (len(rows[0]) - 2))
    assert sum(row[1] for row in rows[keys + 1:keys + 1 + len(orphans["top_failed_values"])]) == \
        sum(v["rows"] for v in orphans["top_failed_values"])


def test_readme_decimals_example_is_the_reports_precision(tmp_path, monkeypatch):
    """The README's orders_2025 example sets `decimals: 2` on a percent: every format
    shows the share of big orders with two decimals, worked out here from the data."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if "ruleset: orders_2025" in b)
    assert "    decimals: 2\n" in block
    (tmp_path / "rulesets").mkdir()
    path = tmp_path / "rulesets" / "orders_2025.yaml"
    path.write_text(block, encoding="utf-8")
    orders = pl.read_csv(ROOT / "rulesets" / "sample-data" / "orders.csv", try_parse_dates=True) \
        .filter(pl.col("ordered_at").dt.year() == 2025)
    share = orders.filter(pl.col("amount") >= 5000).height / orders.height
    md = run(tmp_path, path, "md", "--data", str(ROOT / "rulesets" / "sample-data")).read_text(encoding="utf-8")
    assert f"| {share * 100:.2f}% | 30.00% |" in md
