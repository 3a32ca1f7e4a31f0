"""Issue 16: what a new user meets between the README and a working ruleset, each through
the command line (exit code and the words of the message)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from engine.cli import main
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")

ORDERS = """order_id,customer_id,ordered_at,amount,segment
o1,c1,2025-02-01,100.0,smb
o2,c1,2025-03-01,6000.0,smb
o3,c2,2025-04-01,50.0,
o4,c3,2025-05-01,7000.0,enterprise
"""

# 4 orders in 2025, 2 of them of 5000 or more: big_order_share = 2 / 4 = 0.5
RULESET = """ruleset: orders_2025
params: {period_start: 2025-01-01, period_end: 2025-12-31}
sources:
  orders:
    path: orders.csv
    columns: {order_id: string, customer_id: string, ordered_at: date, amount: float, segment: string}
measures:
  orders: {source: orders, count: true, where: "between(ordered_at, period_start, period_end)"}
  big_orders: {source: orders, count: true, where: "between(ordered_at, period_start, period_end) and amount >= 5000"}
  revenue: {source: orders, sum: amount}
kpis:
  big_order_share:
    formula: big_orders / orders
    unit: percent
    target: 0.3
    category: value
  revenue_total:
    formula: revenue
    target: 10000
    category: value
categories:
  value: {title: Value}
checks:
  - {id: segment_present, source: orders, rule: not_null, column: segment, warn: "ratio < 0.9"}
actions:
  - id: more_big_orders
    when: "big_order_share.status == 'missed' or revenue_total.status == 'missed'"
    text: "Big orders are {{ big_order_share.value | percent }}"
"""


def write(tmp_path: Path, ruleset: str = RULESET, replace: tuple[str, str] | None = None,
          data: str = ORDERS) -> Path:
    if replace:
        assert replace[0] in ruleset, replace[0]
        ruleset = ruleset.replace(replace[0], replace[1])
    (tmp_path / "orders.csv").write_text(data, encoding="utf-8")
    path = tmp_path / "orders_2025.yaml"
    path.write_text(ruleset, encoding="utf-8")
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_small_ruleset_is_valid_and_runs(capsys, tmp_path):
    path = write(tmp_path)
    code, out, err = run(capsys, "validate", "--strict", str(path))
    assert code == 0, out + err
    code, out, _ = run(capsys, "run", str(path), "--format", "json")
    assert code == 0
    kpis = {k["id"]: k["value"] for k in json.loads(out)["kpis"]}
    assert kpis["big_order_share"] == 0.5  # 2 of 4 orders
    assert kpis["revenue_total"] == 13150.0  # 100 + 6000 + 50 + 7000


# 1. the format follows --out's extension; a contradicting --format is refused

@pytest.mark.parametrize("name,check", [
    ("report.json", lambda p: json.loads(p.read_text())["ruleset"] == "orders_2025"),
    ("report.html", lambda p: p.read_text().lstrip().lower().startswith("<!doctype html")),
    ("report.md", lambda p: p.read_text().startswith("#")),
    ("report.xml", lambda p: "<testsuite" in p.read_text()),
    ("report.xlsx", lambda p: openpyxl.load_workbook(p).sheetnames != []),
])
def test_out_extension_chooses_the_format(capsys, tmp_path, name, check):
    path = write(tmp_path)
    code, out, err = run(capsys, "run", str(path), "--out", str(tmp_path / name))
    assert code == 0, err
    assert out == ""
    assert check(tmp_path / name)


def test_out_with_an_unknown_extension_is_the_table(capsys, tmp_path):
    path = write(tmp_path)
    assert run(capsys, "run", str(path), "--out", str(tmp_path / "report.txt"))[0] == 0
    assert "big_order_share" in (tmp_path / "report.txt").read_text()


def test_format_contradicting_out_is_refused(capsys, tmp_path):
    path = write(tmp_path)
    code, out, err = run(capsys, "run", str(path), "--format", "md", "--out", str(tmp_path / "report.xlsx"))
    assert code == 2
    assert "--format md contradicts --out" in err and "xlsx" in err
    assert not (tmp_path / "report.xlsx").exists()
    # agreeing is fine
    assert run(capsys, "run", str(path), "--format", "json", "--out", str(tmp_path / "r.json"))[0] == 0


# 3. a reader closing the pipe early ends the command quietly

@pytest.mark.parametrize("args", [["rules"], ["functions"], ["schema"],
                                  ["validate", "--format", "json", "rulesets"],
                                  ["run", "rulesets/crm_assessment.yaml", "--format", "json"]])
def test_a_closed_pipe_ends_quietly(args):
    # the reader is gone before the first write (as `| head` is after its lines), so the
    # outcome does not depend on how much fits in the pipe's buffer
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, stdout=write,
                              stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert "Error" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr


# 11. --help describes every argument and states the exit codes the README states

def help_text(capsys, command: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def readme_rows() -> dict[str, tuple[str, str]]:
    section = README.split("<!-- commands:start -->\n")[1].split("\n<!-- commands:end -->")[0]
    rows = {}
    for line in section.splitlines()[2:]:
        usage, _, exits = [c.strip().replace("\\|", "|") for c in
                           re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows[usage.strip("`").split()[1]] = (usage.strip("`"), exits)
    return rows


def test_readme_lists_every_command_and_init_force():
    rows = readme_rows()
    assert set(rows) == {"validate", "run", "test", "diff", "explain", "schema", "init", "history",
                         "docs", "sample-data", "functions", "rules"}
    assert "--force" in rows["init"][0]
    assert "--data DIR" in rows["diff"][0] and "--data DIR" in rows["explain"][0]


@pytest.mark.parametrize("command", ["validate", "run", "test", "diff", "explain", "schema", "init",
                                     "history", "docs", "sample-data", "functions", "rules"])
def test_help_and_readme_agree(capsys, command):
    text = help_text(capsys, command)
    usage, exits = readme_rows()[command]
    flat = " ".join(text.split())
    assert f"exit codes: {exits}" in flat
    # every option the README shows is in --help, with a description after it
    options = re.findall(r"--[a-z-]+", usage)
    for option in options:
        described = re.search(rf"^\s+{option}\b[^\n]*?(\s{{2,}}\S|\n\s{{10,}}\S)", text, flags=re.M)
        assert described, f"{command} --help does not describe {option}:\n{text}"
    # every positional argument of the usage is described too
    bare = re.sub(r"--[a-z-]+ [A-Z]+|\[[^\]]*\]", "", usage).split()[2:]  # RULESET KPI, PATH...
    for name in (w.rstrip(".") for w in bare):
        assert re.search(rf"^\s+{re.escape(name)}\s{{2,}}\S", text, flags=re.M), f"{name} undescribed in:\n{text}"


def test_schema_result_and_tests_together_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["schema", "--result", "--tests"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_docs_outside_a_checkout_says_what_it_needs(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "docs")
    assert code == 2
    assert "README.md: no such file" in err and "checkout" in err
    (tmp_path / "README.md").write_text("no markers here\n")
    code, _, err = run(capsys, "docs")
    assert code == 2 and "no `<!-- commands:start -->` marker" in err
