"""Fuzz the loader, the validator, action templates and every report: mutate the shipped
rulesets (and their action texts) at random, and write tables of hostile values (control
characters, Rich markup, HTML, formula prefixes, extreme dates, huge numbers) through
every output format. A ruleset either validates (and its plan compiles, its texts render
within bounds) or fails with located problems; a run on hostile data either gives every
report, each safe for where it lands, or a located error: never another exception.

The test suite runs a bounded number of examples (tests/test_fuzz.py); run it longer by hand:

    python tests/fuzz_rulesets.py --seconds 120

What it finds is fixed and kept as a regression test in tests/test_properties.py.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import random
import re
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.compile import compile_plan  # noqa: E402
from engine.errors import AssessError  # noqa: E402
from engine.load import load_text  # noqa: E402
from engine.validate import validate  # noqa: E402

ODD = [None, True, 0, -1, 1e308, "", " ", "x", "é", "1 +", "a.b", "__class__", [], {}, [1, [2]],
       {"a": None}, "2025-13-45", "9**9**9", "{{ x }}", "{% for %}", "../../etc/passwd", "NaN",
       float("nan"), float("inf"), "x\n", "ｓ", "0001-01-01", "[/]", "=1+1"]
# pieces of action texts: each either refused at validation or harmless when rendered
TEMPLATES = ["{{ 'x' | center(3000000000) }}", '{{ "%09d" % 1 }}', "{{ x | format(1) }}", "{{ x | indent(9) }}",
             "{{ x | batch(9) }}", "{{ x | replace('a', 'bb') }}", "{{ x | truncate(99999) }}", "{{ x | number(99) }}",
             "{{ x | join(x) }}", "{{ x | default('y' ~ 'z') }}", "{{ 'a' ~ 'b' }}", "{{ x | upper | truncate(5) }}",
             "{{ x.__class__ }}", "{{ range(9) }}", "{% if x %}y{% endif %}", "{{ x | percent(2) }}", "{{ x | round(9) }}",
             "{{ '=HYPERLINK(1)' }}", "{{ '<script>' }}", "{{ x | attr('y') }}", "{{ x | map('upper') }}", "{{ }}",
             "{{ x | e }}", "{{ x | safe }}", "{{ lipsum(9) }}", "{{ 9 ** 9 }}", "{{ [x] * 9 }}"]
# pieces of data values: every byte a terminal, a spreadsheet, Markdown or XML reads as markup
HOSTILE = ["\x1b]0;title\x07", "\x1b[2J", "\x00", "\x0b", "\r", "\n", "\t", "\u202e", "\ufffe", "[/]",
           "[link=https://evil.example/]x[/link]", "[bold]", "<script>", "</td>", "&amp;", "|", "\\", "`",
           "=HYPERLINK(\"https://evil.example\")", "+1", "-1", "@SUM(A1)", "https://evil.example/",
           "{{ x }}", "%s", "é", "中文", "ｓ", " ", ""]
DATES = ["2025-01-01", "0000-01-01", "0001-01-01", "9999-12-31", "10000-01-01", "-001-01-01", "2025-02-30", ""]
NUMBERS = ["1", "-1", "0", "1e308", "-1e308", "1e309", "nan", "inf", "9" * 30, "0.1", "", "x"]


def mutate(node: Any, rng: random.Random, depth: int = 0) -> Any:
    """A copy of ``node`` with a few random changes: values swapped for odd ones, keys
    dropped or renamed, lists shortened, structures nested where a scalar was."""
    if rng.random() < 0.04 and depth > 0:
        return rng.choice(ODD)
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            roll = rng.random()
            if roll < 0.03:
                continue  # dropped
            if roll < 0.05:
                key = key + rng.choice(["_", "s", ""]) if isinstance(key, str) else key
            out[key] = mutate(value, rng, depth + 1)
        return out
    if isinstance(node, list):
        items = [mutate(v, rng, depth + 1) for v in node if rng.random() > 0.05]
        return items + ([rng.choice(ODD)] if rng.random() < 0.03 else [])
    if isinstance(node, str) and rng.random() < 0.05:
        cut = rng.randrange(len(node) + 1)
        return node[:cut] + rng.choice(["(", ")", " ", "'", "_", "0"]) + node[cut:]
    if isinstance(node, str) and "{{" in node and rng.random() < 0.5:  # an action text
        cut = rng.randrange(len(node) + 1)
        return node[:cut] + rng.choice(TEMPLATES) + node[cut:]
    return node


def check_ruleset(text: str) -> None:
    """Validate, compile and render the action texts of one ruleset; raise on a crash."""
    from engine.recommend import MAX_TEXT, bounded, environment

    try:
        ruleset = validate(load_text(text, str(ROOT / "rulesets" / "fuzz.yaml")))
        compile_plan(ruleset, dict(ruleset.params))
    except AssessError:
        return
    import jinja2

    env = environment()
    for action in ruleset.actions:
        for template in action.text.values():
            try:
                rendered = bounded(env.from_string(template), {"x": "value"})
            except jinja2.TemplateError:
                continue  # an unknown name: a located error when it runs
            assert len(rendered) <= MAX_TEXT, f"action `{action.id}` rendered {len(rendered)} characters"


def hostile(rng: random.Random) -> str:
    return "".join(rng.choice(HOSTILE) for _ in range(rng.randrange(1, 4)))


DATA_RULESET = """\
ruleset: fuzz_data
params: {period_start: 2025-01-01, period_end: 2025-12-31}
sources:
  v: {path: v.csv, key: id, columns: {id: string, name: string, score: float, since: date}}
by: id
names: {source: v, column: name}
measures:
  mean_score: {source: v, mean: score}
  recent: {source: v, count: true, where: "since >= period_start - days(365)"}
kpis:
  quality: {formula: mean_score, target: 5, category: c}
  fresh: {formula: recent, target: 1, category: c}
categories: {c: {}}
checks:
  - {id: score_range, source: v, rule: range, column: score, min: 1, max: 5}
  - {id: name_known, source: v, rule: allowed_values, column: name, values: [nobody]}
actions:
  - {id: coach, scope: entity, when: "quality.value > -1000000", text: "Coach {{ entity.name }} ({{ entity.id }})"}
"""
FORMATS = ("table", "md", "html", "json", "junit", "xlsx")
# any tag but the report's own <details> and <summary>, which fold long sections on GitHub
_MARKUP = re.compile(r"<(?!/?(?:details|summary)>)[A-Za-z/!?]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


def check_data(rng: random.Random, folder: Path) -> tuple[list[str], int]:
    """Write a table of hostile values, run every format on it: what went wrong, if
    anything, and how many reports were written and read back."""
    from engine.cli import main

    (folder / "r.yaml").write_text(DATA_RULESET, encoding="utf-8")
    # mostly readable numbers and dates, so most runs reach the reports; the rest, errors
    rows = [[hostile(rng) if rng.random() < 0.7 else f"V{i}", hostile(rng),
             rng.choice(NUMBERS) if rng.random() < 0.2 else str(rng.choice([-1e300, -2, 0, 3.5, 7, 1e300])),
             rng.choice(DATES) if rng.random() < 0.1 else "2025-06-01"]
            for i in range(rng.randrange(1, 6))]
    with (folder / "v.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["id", "name", "score", "since"], *rows])
    wrong, read = [], 0
    for fmt in FORMATS:
        out, err = io.StringIO(), io.StringIO()
        target = folder / f"report.{fmt}"
        target.unlink(missing_ok=True)
        args = ["run", str(folder / "r.yaml"), "--format", fmt, "--out", str(target), "--evidence", str(folder / "ev")]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        messages = err.getvalue()
        if code not in (0, 1, 2) or "internal error" in messages or "Traceback" in messages:
            wrong.append(f"{fmt}: exit {code}: {messages.strip()}")
            continue
        if _CONTROL.search(messages):
            wrong.append(f"{fmt}: a control character on stderr: {messages!r}")
        if code == 2:
            if " error [" not in messages:
                wrong.append(f"{fmt}: exit 2 without a located error: {messages.strip()}")
            continue
        wrong += [f"{fmt}: {w}" for w in _report_problems(fmt, target)]
        read += 1
    for evidence in (folder / "ev").glob("*.csv") if (folder / "ev").is_dir() else []:
        with evidence.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                for column in ("id", "name"):
                    if (row.get(column) or "").startswith(("=", "+", "-", "@", "\t", "\r")):
                        wrong.append(f"evidence {evidence.name}: {column} {row[column]!r} would run as a formula")
    return [f"{w}\n  data: {rows!r}" for w in wrong], read


def _report_problems(fmt: str, target: Path) -> list[str]:
    if fmt == "table":
        text = target.read_text(encoding="utf-8")
        return ["a control character in the table"] if _CONTROL.search(text) else []
    if fmt == "md":
        text = target.read_text(encoding="utf-8")
        return [f"raw markup in Markdown: {m.group()!r}" for m in _MARKUP.finditer(text)][:1]
    if fmt == "json":
        json.loads(target.read_text(encoding="utf-8"))
    if fmt in ("junit", "html"):
        text = target.read_text(encoding="utf-8")
        if fmt == "junit":
            ET.fromstring(text)
        if "<script>" in text:
            return ["raw <script> in HTML or XML"]
    if fmt == "xlsx":
        import openpyxl

        book = openpyxl.load_workbook(target)
        formulas = [c.coordinate for s in book for r in s.iter_rows() for c in r if c.data_type == "f"]
        return [f"formulas in the workbook: {formulas[:3]}"] if formulas else []
    return []


def examples(rulesets: int, tables: int, seed: int = 0) -> tuple[list[str], int]:
    """Run ``rulesets`` mutated rulesets and ``tables`` hostile tables: the crashes found,
    and the number of reports read back."""
    rng = random.Random(seed)
    sources = _shipped()
    found, read = [], 0
    for _ in range(rulesets):
        text = yaml.safe_dump(mutate(rng.choice(sources), rng), allow_unicode=True, sort_keys=False)
        try:
            check_ruleset(text)
        except Exception:
            found.append(f"{traceback.format_exc()}\n{text}")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(tables):
            crashes, reports = check_data(rng, Path(tmp))
            found, read = found + crashes, read + reports
    return found, read


def _shipped() -> list[Any]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "rulesets").glob("*.yaml"))
            if not p.name.endswith(".tests.yaml")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sources = _shipped()
    end, runs, tables, found = time.monotonic() + args.seconds, 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        while time.monotonic() < end:
            runs += 1
            if runs % 10 == 0:  # a run on data costs what ten validations do
                tables += 1
                crashes = check_data(rng, Path(tmp))[0]
            else:
                text = yaml.safe_dump(mutate(rng.choice(sources), rng), allow_unicode=True, sort_keys=False)
                try:
                    check_ruleset(text)
                    crashes = []
                except Exception:
                    crashes = [f"{traceback.format_exc()}\n{text}"]
            for crash in crashes:
                found += 1
                case = ROOT / f"fuzz-crash-{found}.txt"
                case.write_text(crash, encoding="utf-8")
                print(f"crash {found}, kept in {case}:\n{crash[:2000]}", file=sys.stderr)
    print(f"{runs - tables} rulesets and {tables} hostile tables in {args.seconds:.0f} s, {found} crash(es)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
