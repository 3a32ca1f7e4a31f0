"""Issue 15: a `--lang zh` report speaks Chinese in every format: no English status word
or header leaks, every word coming from the one catalogue (engine/labels.py); and the
HTML has Linux CJK fonts to fall back on."""
from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest

from engine.cli import main
from engine.labels import LABELS, reason

ROOT = Path(__file__).resolve().parent.parent
RULESETS = sorted(p.stem for p in (ROOT / "rulesets").glob("*.yaml") if not p.name.endswith(".tests.yaml"))
# the English a reader must not meet in a Chinese report: statuses, priorities, headers
ENGLISH = ["met", "near", "missed", "pass", "warn", "fail", "tracked", "high", "medium", "low",
           "KPI", "Value", "Target", "Score", "Share", "Status", "Category", "Categories", "Ranking", "Rank",
           "Entity", "Strengths", "Weaknesses", "Checks", "passed", "warned", "failed", "period", "generated",
           "Previous", "Change", "Grade", "Rule", "Source", "Rows", "Failing", "Passing", "weight", "score",
           "status", "value", "target", "category", "note", "check", "rows"]
WORD = re.compile(r"(?<![\w/.-])(" + "|".join(ENGLISH) + r")(?![\w/.-])")


# a rule's thresholds as the ruleset writes them (`failed > 0`): YAML, shown as code
THRESHOLD = re.compile(r"\b(failed_ratio|ratio|failed)\s*[<>=]+\s*[\d.]+%?")


def leaks(text: str) -> list[str]:
    return sorted(set(WORD.findall(THRESHOLD.sub("", text))))


class Visible(HTMLParser):
    """The text a reader sees: outside <code>, <style> and <title> of the charts' SVG
    (read aloud, but it comes from the same catalogue and is checked with the rest)."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.skip += tag in ("code", "style")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("code", "style")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def report(tmp_path: Path, name: str, fmt: str) -> Path:
    out = tmp_path / f"{name}.zh.{fmt}"
    assert main(["run", str(ROOT / "rulesets" / f"{name}.yaml"), "--lang", "zh", "--format", fmt,
                 "--out", str(out)]) in (0, 1)
    return out


def test_the_catalogue_has_every_english_word_in_chinese():
    assert set(LABELS["zh"]) == set(LABELS["en"])
    english = {k: v for k, v in LABELS["zh"].items() if k != "of"  # "of" has no word in Chinese
               and (not v or re.search(r"[A-Za-z]{3,}", re.sub(r"\{\w+\}", "", v)))}
    assert english == {}, "a Chinese label holds English"


@pytest.mark.parametrize("name", RULESETS)
def test_no_english_leaks_into_a_chinese_report(tmp_path, capsys, name):
    md = report(tmp_path, name, "md").read_text(encoding="utf-8")
    assert leaks(re.sub(r"`[^`]*`", "", md)) == [], "md"
    table = report(tmp_path, name, "table").read_text(encoding="utf-8")
    assert leaks(table) == [], "table"
    visible = Visible()
    visible.feed(report(tmp_path, name, "html").read_text(encoding="utf-8"))
    assert leaks(" ".join(visible.out)) == [], "html"
    book = openpyxl.load_workbook(io.BytesIO(report(tmp_path, name, "xlsx").read_bytes()))
    headers = [str(v) for ws in book.worksheets for v in next(ws.iter_rows(values_only=True)) if v]
    statuses = [str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
                if v in ("met", "near", "missed", "pass", "warn", "fail", "high", "medium", "low")]
    assert statuses == [] and leaks(" ".join(h for h in headers if h != "id")) == [], "xlsx"


def test_the_font_stack_falls_back_to_linux_cjk_fonts(tmp_path, capsys):
    page = report(tmp_path, "vendor_scoring", "html").read_text(encoding="utf-8")
    stack = re.search(r"font-family: ([^;]+);", page).group(1)
    fonts = [f.strip().strip('"') for f in stack.split(",")]
    for font in ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei"):
        assert font in fonts
    assert fonts[-1] == "sans-serif"  # a generic family last


def test_every_reason_the_engine_gives_is_said_in_chinese(tmp_path, capsys):
    """Each reason of a KPI without a value or a score, and of an entity without a rank,
    from a ruleset made to give every one of them, said in Chinese (code aside)."""
    (tmp_path / "t.csv").write_text("v,x,a\nV1,0,0\nV1,,0\nV2,1e308,0\nV3,2,0\n")
    (tmp_path / "costs.csv").write_text("c\n5\n")
    (tmp_path / "r.yaml").write_text("""\
ruleset: r
by: v
sources:
  t: {path: t.csv, columns: {v: string, x: float, a: float}}
  costs: {path: costs.csv, columns: {c: float}}
measures:
  zero: {source: t, sum: x, where: 'x == 0'}
  one: {source: t, count: true}
  big: {source: t, max: x}
  none: {source: t, mean: x, where: 'x < 0'}
  base: {source: t, sum: a}
  spend: {source: costs, sum: c, per_entity: {allocate: base}}
kpis:
  div: {formula: one / zero, target: 1, category: c}
  chained: {formula: div + 1, target: 1, category: c}
  empty: {formula: none, target: 1, category: c}
  spread: {formula: spend, target: 1, category: c}
  infinite: {formula: big * 10, target: 1, category: c}
  peer: {formula: one, category: c, scoring: {method: percentile}}
categories: {c: {}}
""")
    assert main(["run", str(tmp_path / "r.yaml"), "--lang", "zh", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    reasons = {k["id"]: k["reason"] for k in result["kpis"]}
    v2 = next(e for e in result["entities"] if e["id"] == "V2")
    reasons |= {f"V2.{k['id']}": k["reason"] for k in v2["kpis"]} | {"V2": v2["unranked"]}
    assert reasons == {
        "div": "除数为零：`zero` 为 0", "chained": "`div` 无数据：除数为零：`zero` 为 0",
        "empty": "度量 `none` 没有值（没有数据行，或值均为空）", "spread": None,
        "infinite": "公式没有得出有限的数值",  # 1e308 x 10 overflows
        "peer": "与其他对象比较评分：见各对象的计分卡",
        "V2.div": "除数为零：`zero` 为 0", "V2.chained": "`div` 无数据：除数为零：`zero` 为 0",
        "V2.empty": "度量 `none` 没有值（没有数据行，或值均为空）",
        "V2.spread": "度量 `spend` 按 `base` 分摊，而它对每个对象都为 0",
        "V2.infinite": "公式没有得出有限的数值", "V2.peer": None,
        # V1 and V3 score `infinite`, V2 cannot: its total rests on other weights
        "V2": "评分依据的权重与其他对象不同（`infinite`），因此不参与排名"}


def test_a_reason_the_catalogue_does_not_know_stays_as_the_engine_gave_it():
    assert reason("something new: `x`", "zh") == "something new: `x`"
    assert reason("the formula gives no finite number", "en") == "the formula gives no finite number"
    assert reason(None, "zh") is None
