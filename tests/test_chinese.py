"""Issue 15: a `--lang zh` report speaks Chinese in every format: no English status word
or header leaks, every word coming from the one catalogue (engine/labels.py); and the
HTML has Linux CJK fonts to fall back on."""
from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest

from engine.cli import main
from engine.labels import LABELS

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
