"""The reports people read: HTML (one self-contained page), XLSX, Markdown, and the HTML
in a real browser. Every shipped ruleset is run on its sample data through the command
line; what each report must show is worked out from the ruleset (by, checks, trend,
compare) and from the JSON result of the same run, so the tests hold as rulesets change.
"""
from __future__ import annotations

import html
import io
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from engine.cli import main
from engine.render import LABELS, render
from engine.run import assess
from engine.validate import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
RULESETS = sorted(p.stem for p in (ROOT / "rulesets").glob("*.yaml") if not p.name.endswith(".tests.yaml"))
VENDOR_DATA = Path(__file__).resolve().parent / "data" / "vendors"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """report(ruleset, fmt, lang) -> the path of `assess run RULESET --format FMT --out`,
    each made once per module."""
    folder = tmp_path_factory.mktemp("reports")
    made: dict[tuple[str, str, str], Path] = {}

    def make(name: str, fmt: str, lang: str = "en") -> Path:
        if (name, fmt, lang) not in made:
            out = folder / f"{name}.{lang}.{fmt}"
            code = main(["run", str(ROOT / "rulesets" / f"{name}.yaml"), "--format", fmt,
                         "--lang", lang, "--out", str(out)])
            assert code in (0, 1), f"{name} --format {fmt}: exit {code}"  # 1: a check failed
            assert out.exists()
            made[(name, fmt, lang)] = out
        return made[(name, fmt, lang)]
    return make


def result_of(report, name: str, lang: str = "en") -> dict[str, Any]:
    return json.loads(report(name, "json", lang).read_text(encoding="utf-8"))


def cards(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The entities the page draws a card for: all of them, or with a `population` (more
    than 1,000 entities, every one in the JSON) the first and the last 20, best first."""
    return r["entities"] if not r.get("population") else r["entities"][:20] + r["entities"][-20:]


def kpi_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every KPI row the page draws: the overall scorecard's, then each entity card's."""
    return r["kpis"] + [k for e in cards(r) for k in e["kpis"]]


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of a few elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("title", "h1", "h2"):
            self._open.append(tag)
            self.text.setdefault(tag, []).append("")

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open:
            self.text[self._open[-1]][-1] += data


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


# --- HTML --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", RULESETS)
def test_html_is_one_self_contained_page(report, name):
    page = report(name, "html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    tags = parse(page)
    # nothing fetched: no external stylesheet, image, frame or object, no URL in src/href
    assert not [t for t, _ in tags.tags if t in ("link", "img", "iframe", "object", "embed", "base")]
    urls = [v for _, attrs in tags.tags for k, v in attrs.items() if k in ("src", "href", "xlink:href")]
    assert not [u for u in urls if u and re.match(r"\s*([a-z][a-z0-9+.-]*:|//)", u, re.I)
                and not u.strip().startswith("data:")], urls
    assert "@import" not in page and "url(" not in page
    assert page.count("<style>") == 1
    assert [attrs["charset"] for t, attrs in tags.tags if t == "meta" and "charset" in attrs] == ["utf-8"]


@pytest.mark.parametrize("name", RULESETS)
def test_html_sections(report, name):
    ruleset = load_ruleset(ROOT / "rulesets" / f"{name}.yaml")
    r = result_of(report, name)
    page = report(name, "html").read_text(encoding="utf-8")
    tags = parse(page)
    headings = [h.strip() for h in tags.text.get("h2", [])]
    assert '<html lang="en">' in page
    # header: the title, the sources with their row counts, the total and the grade
    # the page's title first; every other <title> names an SVG chart
    assert tags.text["title"][0] == r["title"] and tags.text["h1"] == [r["title"]]
    header = page[page.index("<header>"):page.index("</header>")]
    for s in r["sources"]:
        assert f"{escape(s['name'])} ({s['rows']:,} rows)" in header
    total = "n/a" if r["score"] is None else f"{r['score']:.1f}"
    assert f'<div class="score">{total}</div>' in header
    assert f'<div class="grade">Grade {r["grade"]}</div>' in header
    # the overview: a radar for three categories or more, bars below that
    assert "Overview" in headings
    chart = "radar" if len(r["categories"]) >= 3 else "bars"
    assert page.count(f'<svg class="{chart}"') == 1
    for c in r["categories"]:
        assert f"<tr><td>{escape(c['title'])}</td>" in page
    # a bar against target, floor and benchmark on every KPI row, entity cards included
    assert page.count('<svg class="kpi-bar') == len(kpi_rows(r)) > 0
    # a KPI without a target is drawn among the entities' values instead, on every row
    peered = [k for k in kpi_rows(r) if k["target"] is None] if r["entities"] else []
    assert page.count('<svg class="kpi-bar peers"') == len(peered)
    # ranking and entity cards only with `by`
    if ruleset.by:
        assert f"Ranking ({', '.join(ruleset.by)})" in headings
        ranking = page[page.index("<h2>Ranking"):page.index('<div class="card entity">')]
        assert ranking.count("<tr>") == 1 + len(cards(r))
        drawn = re.findall(r'<div class="card entity">\n<h3>(.*?)</h3>', page)
        assert len(drawn) == len(cards(r))
        for e, card in zip(cards(r), drawn):
            assert card.startswith(str(escape(e["name"])))
            assert ("n/a" if e["score"] is None else f"{e['score']:.1f}") in card
    else:
        assert not [h for h in headings if h.startswith("Ranking")]
        assert not re.search(r'<div class="card entity">\n<h3>', page)
    # data quality only with checks, each rule listed
    if ruleset.checks:
        assert [h for h in headings if h.startswith("Data quality")]
        for c in r["checks"]:
            assert f"<code>{escape(c['id'])}</code></td>" in page
    else:
        assert not [h for h in headings if h.startswith("Data quality")]
    # recommendations when actions fire, each with its text
    if r["actions"]:
        assert "Recommendations" in headings
        table = page[page.index('<table class="actions cards">'):]
        table = table[:table.index("</table>")]
        assert table.count("<tr>") == 1 + len(r["actions"])
        for a in r["actions"]:
            assert str(escape(a["text"])) in table
    else:
        assert "Recommendations" not in headings
    # breakdowns, one row per group
    if r["breakdowns"]:
        assert "Breakdowns" in headings
        for b in r["breakdowns"]:
            for row in b["rows"]:
                for c in b["by"]:
                    assert f"<td data-label=\"{escape(c)}\">{escape('' if row[c] is None else str(row[c]))}</td>" in page
    # the appendix: every KPI's formula and the measures it uses
    assert headings[-1] == "How this was computed"
    appendix = page[page.index('<section class="appendix">'):]
    assert appendix.count("<dt>") == len(r["kpis"])
    for k in r["kpis"]:
        assert f"<code>{k['id']}</code> = {escape(k['formula'])}</dt>" in appendix
        used = set(re.findall(r"[A-Za-z_]\w*", k["formula"])) & set(r["definitions"]["measures"])
        for m in used:
            assert f"<dd><code>{m}</code>:" in appendix


@pytest.mark.parametrize("name", RULESETS)
def test_html_sparklines_with_trend(report, name):
    ruleset = load_ruleset(ROOT / "rulesets" / f"{name}.yaml")
    r = result_of(report, name)
    page = report(name, "html").read_text(encoding="utf-8")
    drawn = [k for k in kpi_rows(r) if len(k["trend"]) >= 2 and any(t["value"] is not None for t in k["trend"])]
    if ruleset.trend:
        assert drawn and page.count('<svg class="spark"') == len(drawn)
        assert "<th>Trend</th>" in page
    else:
        assert page.count('class="spark"') == 0 and not drawn


@pytest.mark.parametrize("name", RULESETS)
def test_html_change_arrows_with_compare(report, name):
    ruleset = load_ruleset(ROOT / "rulesets" / f"{name}.yaml")
    r = result_of(report, name)
    page = report(name, "html").read_text(encoding="utf-8")
    arrows = re.findall(r'<span class="arrow (met|missed|na)"[^>]*>([▲▼=]) ', page)
    changed = [k for k in kpi_rows(r) if k["change"] is not None]
    if ruleset.compare:
        assert changed and len(arrows) == len(changed)
        # green when it went the way `better` says, red when not, grey when unchanged
        expected = [("met" if k["improved"] else "missed" if k["improved"] is False else "na",
                     "▲" if k["change"] > 0 else "▼" if k["change"] < 0 else "=") for k in changed]
        assert arrows == expected
    else:
        assert arrows == [] and changed == []


@pytest.mark.parametrize("name", RULESETS)
def test_html_in_chinese(report, name):
    ruleset = load_ruleset(ROOT / "rulesets" / f"{name}.yaml")
    r = result_of(report, name, "zh")
    page = report(name, "html", "zh").read_text(encoding="utf-8")
    zh = LABELS["zh"]
    tags = parse(page)
    headings = [h.strip() for h in tags.text.get("h2", [])]
    assert '<html lang="zh">' in page
    assert tags.text["title"][0] == r["title"] and re.search(r"[\u4e00-\u9fff]", r["title"])
    assert "总览" in headings and "计算说明" in headings and "指标" in headings
    assert f'<div class="grade">等级 {r["grade"]}</div>' in page
    assert f"<h3 class=\"met\">{zh['strengths']}</h3>" in page
    if ruleset.by:
        assert [h for h in headings if h.startswith("排名")]
    if r["checks"]:
        assert [h for h in headings if h.startswith("数据质量")]
    if r["actions"]:
        assert "改进建议" in headings
    for k in r["kpis"]:
        assert str(escape(k["title"])) in page
    for c in r["categories"]:
        assert re.search(r"[\u4e00-\u9fff]", c["title"])
    # no English label left
    for label in ("Overview", "How this was computed", "Strengths", "Weaknesses", "Ranking",
                  "Recommendations", "Data quality", ">Score<", ">Target<"):
        assert label not in page, label


def test_html_escapes_data_and_stays_script_free(tmp_path):
    # entity names come from the data: markup in them is text, not markup
    data = tmp_path / "data"
    shutil.copytree(VENDOR_DATA, data)
    names = data / "vendors.csv"
    names.write_text(names.read_text().replace("V1,Alpha CRM", 'V1,"<script>alert(1)</script> <b>A</b>"'))
    out = tmp_path / "r.html"
    assert main(["run", str(ROOT / "rulesets" / "vendor_scoring.yaml"), "--data", str(data),
                 "--format", "html", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<b>A</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;A&lt;/b&gt;" in page


APPENDIX = (
    "ruleset: r\n"
    "sources: {orders: {path: orders.csv}}\n"
    "measures:\n"
    "  rev: {source: orders, sum: amount}\n"
    "  rev_total: {source: orders, sum: amount}\n"
    "  n: {source: orders, count: true}\n"
    "kpis:\n"
    "  avg: {formula: rev_total / n, target: 10, category: c}\n"
    "categories: {c: {}}\n")


def appendix_of(tmp_path: Path) -> str:
    (tmp_path / "r.yaml").write_text(APPENDIX)
    (tmp_path / "orders.csv").write_text("order_id,amount\na,10\nb,20\n")
    out = tmp_path / "r.html"
    assert main(["run", str(tmp_path / "r.yaml"), "--format", "html", "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8").split('<section class="appendix">')[1]


def test_appendix_lists_the_measures_a_formula_uses(tmp_path):
    appendix = appendix_of(tmp_path)
    assert "<code>avg</code> = rev_total / n</dt>" in appendix
    assert "<dd><code>rev_total</code>: sum of amount · orders</dd>" in appendix
    assert "<dd><code>n</code>: count of rows · orders</dd>" in appendix


def test_appendix_does_not_list_measures_named_inside_other_names(tmp_path):
    assert "<dd><code>rev</code>:" not in appendix_of(tmp_path)


# --- XLSX --------------------------------------------------------------------------------

def sheet_rows(sheet) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def find_row(rows: list[tuple[Any, ...]], *start: Any) -> int:
    return next(i for i, row in enumerate(rows) if row[:len(start)] == start)


def same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual in (None, "")
    if isinstance(expected, (int, float)):
        return actual == pytest.approx(expected, rel=1e-12, abs=1e-12)
    return expected == actual


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", ["vendor_scoring", "data_census"])
def test_xlsx_matches_the_json_result(report, name, lang):
    openpyxl = pytest.importorskip("openpyxl")
    ruleset = load_ruleset(ROOT / "rulesets" / f"{name}.yaml")
    r = result_of(report, name, lang)
    text = LABELS[lang]
    book = openpyxl.load_workbook(report(name, "xlsx", lang))
    # one evidence sheet per rule that warns or fails with failing rows, keys or groups, named by its id
    evidence = [c["id"] for c in r["checks"] if c["status"] != "pass"
                and (c["samples"] or c["top_failed_values"] or c["groups"])]
    expected = [text["sheet_scorecard"]] + [text["ranking"], text["entities_kpis"]] * bool(ruleset.by) \
        + [text["checks"]] * bool(ruleset.checks) + evidence + [text["actions"]] * bool(r["actions"]) \
        + [text["breakdowns"]] * bool(r["breakdowns"])
    assert book.sheetnames == expected
    if r["breakdowns"]:  # each table under its heading, row for row as in the JSON
        grouped = sheet_rows(book[text["breakdowns"]])
        for b in r["breakdowns"]:
            at = find_row(grouped, f"{', '.join(m['title'] for m in b['measures'])} · {text['by']} {', '.join(b['by'])}")
            assert grouped[at + 1][:len(b["by"])] == tuple(b["by"])
            keys = [*b["by"], *(m["id"] for m in b["measures"])]
            for row, cells in zip(b["rows"], grouped[at + 2:]):
                assert all(same(row[k], c) for k, c in zip(keys, cells)), (row, cells)
    # the scorecard: title, total, grade; every KPI's value, target, score, share and status
    rows = sheet_rows(book[text["sheet_scorecard"]])
    assert rows[0][0] == r["title"]
    # the grade's label gives way to the "failed" banner while a rule at level fail fails
    failed = any(c["status"] == "fail" for c in r["checks"])
    assert rows[1][:5] == (text["score"], pytest.approx(r["score"]), text["grade"], r["grade"],
                           text["failed_banner"] if failed else r["grade_label"])
    first = find_row(rows, "id", text["kpi"]) + 1
    assert len(r["kpis"]) > 0
    for i, k in enumerate(r["kpis"]):
        row = rows[first + i]
        assert row[:2] == (k["id"], k["title"])
        for column, key in ((2, "value"), (3, "target"), (4, "floor"), (5, "benchmark"), (6, "score"),
                            (10, "previous"), (12, "change_pct")):
            assert same(k[key], row[column]), (k["id"], key, k[key], row[column])
        # the change of a percentage in points (84% -> 82% is -2 pp), of any other unit in it
        points = None if k["change"] is None else k["change"] * (100 if k["unit"] == "percent" else 1)
        assert same(points, row[11]), k["id"]
        # shares as shown: whole percents, within half a percent of the exact share
        assert row[7] == pytest.approx(k["share"], abs=0.005) and round(row[7] * 100, 9) == round(row[7] * 100)
        # statuses in the report's language, the category by its title
        titles = {c["id"]: c["title"] for c in r["categories"]}
        assert row[8] == text.get(k["status"]) and row[9] == titles[k["category"]]
    # the categories and the strengths and weaknesses
    at = find_row(rows, text["category"], text["score"], text["weight"]) + 1
    for i, c in enumerate(r["categories"]):
        assert rows[at + i][0] == c["title"]
        assert same(c["score"], rows[at + i][1]) and rows[at + i][2] == pytest.approx(c["share"], abs=0.005)
    titles |= {k["id"]: k["title"] for k in r["kpis"]}  # strengths and weaknesses by their titles
    strengths = rows[find_row(rows, text["strengths"])]
    assert [v for v in strengths[1:] if v is not None] == [titles[x] for x in r["strengths"]]
    weaknesses = rows[find_row(rows, text["weaknesses"])]
    assert [v for v in weaknesses[1:] if v is not None] == [titles[x] for x in r["weaknesses"]]
    if ruleset.by:  # every entity's rank, score, grade and KPI scores
        ranking = sheet_rows(book[text["ranking"]])
        assert ranking[0] == (text["rank"], "id", text["entity"], text["score"], text["grade"],
                              *(k["title"] for k in r["kpis"]))
        assert len(ranking) == 1 + len(r["entities"])  # all of them, up to workbook.MAX_ROWS
        for e, row in zip(r["entities"], ranking[1:]):
            assert row[1:3] == (e["id"], e["name"]) and row[4] == e["grade"]
            assert same(e["rank"], row[0]) and same(e["score"], row[3])
            for k, cell in zip(e["kpis"], row[5:]):
                assert same(k["score"], cell), (e["id"], k["id"])
    if ruleset.checks:  # every rule, then the failing rows of each rule that warns or fails
        checks = sheet_rows(book[text["checks"]])
        assert checks[0][:8] == ("id", text["check"], text["source"], "rule", text["status"], text["failed"],
                                 text["rows"], text["pass_ratio"])
        for c, row in zip(r["checks"], checks[1:]):
            assert (row[0], row[1], row[2], row[4], row[5], row[6]) == (
                c["id"], c["title"], c["source"], text.get(c["status"]), c["failed"], c["rows"])
            assert same(c["ratio"], row[7])
    if r["actions"]:
        actions = sheet_rows(book[text["actions"]])
        assert len(actions) == 1 + len(r["actions"])
        for a, row in zip(r["actions"], actions[1:]):
            names = {e["id"]: e["name"] for e in r["entities"]}  # an entity by its name
            assert row[:4] == (text.get(a["priority"]), a["id"], names.get(a["entity"]), a["owner"])
            assert same(a["gain"], row[4]) and row[5] == a["text"]


def test_xlsx_evidence_matches_the_run(tmp_path):
    # the workbook and the JSON are rendered from one run
    openpyxl = pytest.importorskip("openpyxl")
    result = assess(ROOT / "rulesets" / "data_census.yaml")
    r = json.loads(render(result, "json"))
    text = LABELS["en"]
    book = openpyxl.load_workbook(io.BytesIO(render(result, "xlsx")))
    flagged = [c for c in r["checks"] if c["samples"]]
    assert flagged and all(c["status"] != "pass" for c in flagged)  # the sample data has them
    for c in flagged:  # on the rule's own sheet: a title row, the columns, then each failing row
        checks = sheet_rows(book[c["id"]])
        assert checks[0][:2] == (c["title"], text[c["status"]])
        at = find_row(checks, text["samples"])
        columns = list(c["samples"][0])
        assert checks[at + 1][:len(columns)] == tuple(columns)
        evidence = checks[at + 2:at + 2 + len(c["samples"])]
        assert len(evidence) == len(c["samples"])
        for sample, row in zip(c["samples"], evidence):
            for column, cell in zip(columns, row):
                value = sample[column]
                if hasattr(cell, "isoformat") and isinstance(value, str):  # dates come back as datetimes
                    cell = cell.isoformat()[:len(value)]
                assert same(value, cell), (c["id"], column, value, cell)
        end = at + 2 + len(c["samples"])
        assert end == len(checks) or checks[end][0] is None  # the block ends there


def test_evidence_samples_are_the_same_on_every_run():
    runs = [assess(ROOT / "rulesets" / "data_census.yaml") for _ in range(3)]
    first = {c.id: c.samples for c in runs[0].checks}
    assert any(first.values())
    for other in runs[1:]:
        assert {c.id: c.samples for c in other.checks} == first


def test_xlsx_keeps_chinese_titles(report):
    openpyxl = pytest.importorskip("openpyxl")
    r = result_of(report, "vendor_scoring", "zh")
    book = openpyxl.load_workbook(report("vendor_scoring", "xlsx", "zh"))
    assert book.sheetnames[:2] == ["计分卡", "排名"]
    rows = sheet_rows(book["计分卡"])
    assert rows[0][0] == "供应商绩效评估" == r["title"]
    titles = [row[1] for row in rows if row and row[0] in {k["id"] for k in r["kpis"]}]
    assert titles == [k["title"] for k in r["kpis"]]
    assert "客户满意度" in titles and "系统可用率" in titles
    categories = {c["title"] for c in r["categories"]}
    assert categories == {"业务成果", "系统稳定性", "技术支持", "供应商满意度"}
    assert categories <= {row[0] for row in rows}
    actions = sheet_rows(book["改进建议"])
    assert all(re.search(r"[\u4e00-\u9fff]", row[5]) for row in actions[1:])


# --- Markdown ----------------------------------------------------------------------------

def tables(text: str) -> list[list[str]]:
    """The runs of consecutive lines that start with `|`."""
    found: list[list[str]] = []
    previous = False
    for line in text.splitlines():
        row = line.startswith("|")
        if row and previous:
            found[-1].append(line)
        elif row:
            found.append([line])
        previous = row
    return found


def pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


# any tag but <details> and <summary>, which GitHub renders as folded sections
TAG = re.compile(r"</?(?!details>|summary>)[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", RULESETS)
def test_markdown_has_no_html_and_its_tables_parse(report, name, lang):
    text = report(name, "md", lang).read_text(encoding="utf-8")
    assert not TAG.search(text), TAG.search(text)
    found = tables(text)
    assert found  # at least the KPI and category tables
    for table in found:
        assert len(table) >= 2, table
        assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1]), table[:2]
        assert {pipes(line) for line in table} == {pipes(table[0])}, table
        assert all(line.rstrip().endswith("|") for line in table), table


def test_markdown_escapes_markup_in_data(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(VENDOR_DATA, data)
    names = data / "vendors.csv"
    names.write_text(names.read_text().replace("V1,Alpha CRM", 'V1,"<b>A</b> | CRM"'))
    out = tmp_path / "r.md"
    assert main(["run", str(ROOT / "rulesets" / "vendor_scoring.yaml"), "--data", str(data),
                 "--format", "md", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    for table in tables(text):  # the `|` in the name is escaped in tables
        assert {pipes(line) for line in table} == {pipes(table[0])}
    assert not TAG.search(text), TAG.search(text)


# --- in a browser ------------------------------------------------------------------------

PROBE = """<script>
(function () {
  var limit = document.body.clientWidth, view = document.documentElement.clientWidth, wide = [];
  var all = document.body.querySelectorAll("*");
  for (var i = 0; i < all.length; i++) {
    var el = all[i], box = el.getBoundingClientRect();
    if (el.scrollWidth > limit || box.right > view + 0.5) {
      wide.push(el.tagName.toLowerCase() + ":" + el.scrollWidth + "/" + Math.round(box.right));
    }
  }
  document.title = "PROBE " + JSON.stringify({body: limit, view: view,
    page: document.documentElement.scrollWidth, svgs: document.querySelectorAll("svg").length,
    radar: document.querySelectorAll("svg.radar, svg.bars").length, wide: wide.slice(0, 20)});
})();
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    pytest.skip("chromium is not installed: apt-get install chromium")


def browse(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--window-size=1280,2000", *args],
        # a guard against a browser that hangs, not a speed limit: generous enough for a
        # machine loaded several times over
        capture_output=True, text=True, timeout=900)


def test_html_in_a_browser(report, tmp_path):
    binary = chromium()
    page = report("vendor_scoring", "html")
    r = result_of(report, "vendor_scoring")
    shutil.copy(page, tmp_path / "report.html")
    # the page as shipped, drawn: a screenshot kept beside the test's other files
    shot = tmp_path / "report.png"
    done = browse(binary, tmp_path / "profile", f"--screenshot={shot}", (tmp_path / "report.html").as_uri())
    assert shot.exists(), done.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(png) > 50_000  # a drawn page, not a blank one
    # a copy with a test-only script that measures the layout and reports in the title
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    done = browse(binary, tmp_path / "profile", "--dump-dom", probe.as_uri())
    title = re.search(r"<title>PROBE (.*?)</title>", done.stdout, re.S)
    assert title, done.stdout[:500] + done.stderr[-2000:]
    layout = json.loads(html.unescape(title.group(1)))
    assert layout["radar"] == 1
    # the radar, a bar per KPI row and its sparklines (none here): every SVG was drawn
    assert layout["svgs"] == 1 + len(kpi_rows(r))
    assert layout["wide"] == [], layout  # nothing wider than the body
    assert layout["page"] <= layout["view"]  # and no horizontal scrolling at 1280 px


# --- in a browser driven over the DevTools protocol: widths, print media, the PDF ---------

def _screenshots() -> Any:
    """docs/screenshots.py, which holds the browser driver the screenshots are made with."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "docs" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


SHOTS = _screenshots()
MEASURE = "(function () {" + PROBE.split("(function () {", 1)[1].split("document.title =")[0] + """
  return {body: limit, view: view, page: document.documentElement.scrollWidth,
          height: document.documentElement.scrollHeight, wide: wide.slice(0, 20)};
})()"""
UNTITLED = """Array.from(document.querySelectorAll("svg")).filter(function (s) {
  var t = s.firstElementChild; return !(t && t.tagName.toLowerCase() === "title" && t.textContent.trim());
}).length"""
# text and background colour of every pill and banner as drawn, for the contrast below
COLOURS = """Array.from(document.querySelectorAll(".pill, .banner")).map(function (e) {
  var s = getComputedStyle(e); return [e.textContent.trim(), s.color, s.backgroundColor];
})"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = chromium()
    with SHOTS.Browser(binary, tmp_path_factory.mktemp("profile")) as b:
        yield b


def rgb(css: str) -> str:
    """#rrggbb of a computed colour, rgb(r, g, b)."""
    return "#" + "".join(f"{int(v):02x}" for v in re.findall(r"[\d.]+", css)[:3])


def pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


@pytest.mark.parametrize("name", RULESETS)
def test_html_at_every_width_and_in_print(report, browser, name):
    from test_accessibility import contrast
    url = report(name, "html").as_uri()

    def verdict() -> list[float]:
        return browser.evaluate("(function () { var b = document.getElementById('verdict').getBoundingClientRect();"
                                " return [b.top, b.bottom, b.width]; })()")
    # a laptop screen: the verdict is above the fold, every chart is named, every pill
    # and banner is readable as drawn (a rule later in the CSS once painted the banner's
    # text in the banner's own red)
    browser.open(url, 1280, 800)
    assert 0 < verdict()[0] and verdict()[1] <= 800 and verdict()[2] > 0, verdict()
    assert browser.evaluate(UNTITLED) == 0
    drawn = browser.evaluate(COLOURS)
    assert drawn
    for text, colour, background in drawn:
        assert contrast(rgb(colour), rgb(background)) >= 4.5, (text, colour, background)
    assert browser.evaluate(MEASURE)["wide"] == []
    # a phone, 400 px: nothing wider than the screen (no sideways scrolling), the KPI and
    # check tables as cards, so Score and Status are in view
    browser.open(url, 400, 800)
    assert verdict()[1] <= 800, verdict()  # above the fold on a phone too
    layout = browser.evaluate(MEASURE)
    assert layout["wide"] == [] and layout["page"] <= 400, layout
    assert browser.evaluate("getComputedStyle(document.querySelector('table.kpis tr')).display") == "block"
    assert browser.evaluate("""Array.from(document.querySelectorAll('.pill, td.status')).every(function (e) {
        var b = e.getBoundingClientRect(); return b.left >= 0 && b.right <= 400; })""")
    # print: A4 less 15 mm margins each side lays out 680 px wide; nothing wider, and the
    # printout keeps its tables (a media query on width alone gave paper the phone layout)
    browser.open(url, SHOTS.PRINT_WIDTH, 1009, media="print")
    layout = browser.evaluate(MEASURE)
    assert layout["wide"] == [] and layout["page"] <= SHOTS.PRINT_WIDTH, layout
    assert browser.evaluate("getComputedStyle(document.querySelector('table.kpis thead')).display") == "table-header-group"
    assert browser.evaluate("getComputedStyle(document.querySelector('header')).flexDirection") == "row"
    pdf = browser.pdf()
    # the page size of the @page rule: A4 is 210 x 297 mm = 595.3 x 841.9 pt
    box = [float(v) for v in re.search(rb"/MediaBox\s*\[([^\]]*)\]", pdf).group(1).split()]
    assert box[2] == pytest.approx(595.3, abs=1.5) and box[3] == pytest.approx(841.9, abs=1.5)
    # no nearly empty pages: the content, as tall as it lays out in print, fills the
    # pages to 70 % on average; keeping a card or a row whole leaves at most the rest of
    # a page blank, and a whole section kept together (as the census once did) far more
    page = (SHOTS.A4[1] - 2 * SHOTS.MARGIN) * SHOTS.MM
    assert pages(pdf) <= math.ceil(layout["height"] / (0.7 * page)), (pages(pdf), layout["height"])
    if "census" in name:
        # the census has about 6.5 pages of content (a verdict, 4 KPIs, 3 breakdowns, 18
        # rules and 8 failing rules with 5 printed rows of evidence each); 9 leaves two
        # pages for fonts and kept-together cards. It printed 15 before: the phone layout
        # on paper, 20 rows of evidence per rule and each section kept whole.
        assert pages(pdf) <= 9


ENGLISH = {LABELS["en"][k] for k in ("met", "near", "missed", "pass", "warn", "fail", "tracked", "kpi", "value",
                                     "target", "floor", "benchmark", "score", "weight", "status", "trend",
                                     "lower_better", "legend", "median")}


@pytest.mark.parametrize("name", RULESETS)
def test_no_english_status_or_header_in_a_chinese_page(report, browser, name):
    browser.open(report(name, "html", "zh").as_uri(), 1280)
    shown = browser.evaluate("""Array.from(document.querySelectorAll(
        '.pill, td.status, .verdict > strong, .banner, .legend, table.kpis th, table.checks th, .marks'))
        .map(function (e) { return e.innerText; }).join(' | ')""")
    assert shown
    found = [w for w in ENGLISH if re.search(rf"(?<![\w/]){re.escape(w)}(?![\w/])", shown, re.I)]
    assert found == [], (found, shown[:500])


def test_screenshots_script(tmp_path):
    binary = chromium()
    assert binary
    assert SHOTS.main(["--out", str(tmp_path), "crm_assessment"]) == 0
    sizes = {}
    for kind in ("en", "zh", "print"):
        png = (tmp_path / f"crm_assessment.{kind}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        sizes[kind] = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
    # the screen at 1000 x 1300 px scaled by 0.6; the printed page 680 x 1009 px (A4 less
    # its margins, 180 x 267 mm at 96 px an inch) scaled by 0.8
    assert sizes["en"] == sizes["zh"] == (600, 780)
    assert sizes["print"] == (544, 807)
    assert (tmp_path / "crm_assessment.en.png").read_bytes() != (tmp_path / "crm_assessment.zh.png").read_bytes()
