"""Issue 16: what a new user meets between the README and a working ruleset, each through
the command line (exit code and the words of the message)."""
import io
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
    bare = re.sub(r"--[a-z-]+ [A-Z|]+|\[[^\]]*\]", "", usage).split()[2:]  # RULESET KPI, PATH...
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


# 4. validate catches, statically, the typos that would break (or silence) an action later

@pytest.mark.parametrize("text,message", [
    ("{{ big_order_shar.value | percent }}",
     "`big_order_shar` is not a KPI, check, category, `score`, `grade` or `params` (did you mean `big_order_share`?)"),
    ("{{ big_order_share.valu }}", "`big_order_share` has no field `valu` (did you mean `value`?)"),
    ("{{ segment_present.rato }}", "`segment_present` has no field `rato` (did you mean `ratio`?)"),
    ("{{ params.period_strat }}", "`params` has no field `period_strat` (did you mean `period_start`?)"),
    ("{{ entity.name }}", "`entity` is not a KPI, check, category, `score`, `grade` or `params` "
                          "(`entity` is there for actions with scope: entity)"),
    ("{% if segment_present.status == 'fial' %}check{% endif %}",
     "`segment_present.status` is never 'fial' (did you mean `fail`?)"),
])
def test_action_text_names_are_checked_at_validation(capsys, tmp_path, text, message):
    path = write(tmp_path, replace=("Big orders are {{ big_order_share.value | percent }}", text))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert f"{path}:28:" in out and "error [template] action text: " + message in out, out


def test_a_name_typo_in_an_action_text_stops_run_even_when_the_action_does_not_fire(capsys, tmp_path):
    # on this data both KPIs are met (0.5 >= 0.3, 13150 >= 10000), so the action does not
    # fire and the typo used to pass until the data changed
    path = write(tmp_path, replace=("{{ big_order_share.value | percent }}", "{{ big_order_shar.value }}"))
    code, _, err = run(capsys, "run", str(path))
    assert code == 2 and "big_order_shar" in err


@pytest.mark.parametrize("when,message", [
    ("big_order_share.status == 'mised'", "`big_order_share.status` is never 'mised' (did you mean `missed`?)"),
    ("'nearr' == revenue_total.status", "`revenue_total.status` is never 'nearr' (did you mean `near`?)"),
    ("segment_present.status in ('warn', 'fial')", "`segment_present.status` is never 'fial' (did you mean `fail`?)"),
    ("grade == 'F'", "`grade` is never 'F' (it is one of: A, B, C, D, E)"),
])
def test_status_and_grade_literals_are_checked(capsys, tmp_path, when, message):
    path = write(tmp_path, replace=("big_order_share.status == 'missed' or revenue_total.status == 'missed'", when))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert f"{path}:27:" in out and "error [unknown-value] `when`: " + message in out, out


def test_priority_typo_has_a_did_you_mean(capsys, tmp_path):
    path = write(tmp_path, replace=("  - id: more_big_orders\n", "  - id: more_big_orders\n    priority: hihg\n"))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert f"{path}:27:15: error [schema] actions.0.priority: 'hihg' is not one of high, medium, low " \
           "(did you mean `high`?)" in out, out


# 5. a source file that is not there is said at validation, as a warning (--data may supply it)

def test_missing_source_file_is_a_warning_with_did_you_mean(capsys, tmp_path):
    path = write(tmp_path, replace=("path: orders.csv", "path: order.csv"))
    code, out, err = run(capsys, "validate", str(path))
    assert code == 0
    assert (f"{path}:5:11: warning [missing-file] source `orders`: no file order.csv beside the ruleset "
            "(did you mean `orders.csv`? ignore this if `run --data DIR` supplies it)") in out
    assert "1 warning(s)" in err
    assert run(capsys, "validate", "--strict", str(path))[0] == 1
    # run refuses it, and --data supplies it
    assert run(capsys, "run", str(path))[0] == 2
    data = tmp_path / "data"
    data.mkdir()
    (data / "order.csv").write_text(ORDERS)
    assert run(capsys, "run", str(path), "--data", str(data))[0] == 0


def test_missing_source_file_in_a_subfolder(capsys, tmp_path):
    path = write(tmp_path, replace=("path: orders.csv", "path: sample/order.csv"))
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "orders.csv").write_text(ORDERS)
    out = run(capsys, "validate", str(path))[1]
    assert "did you mean `sample/orders.csv`?" in out


# 6. formulas are type-checked against the declared column types

@pytest.mark.parametrize("replace,where,message", [
    (("formula: revenue\n", "formula: year(revenue)\n"), "18:19",
     "`year` takes a date, but measure `revenue` is a number"),
    (("amount >= 5000", "month(amount) >= 5"), "9:109",  # the `amount` in month(amount)
     "`month` takes a date, but column `amount` is a number"),
    (("amount >= 5000", "days_between(segment, ordered_at) > 1"), "9:116",
     "`days_between` takes a date, but column `segment` is text"),
    (("formula: revenue\n", "formula: revenue * 'x'\n"), "18:24",
     "`'x'` is text: text can be compared, not used in arithmetic"),
])
def test_formulas_are_type_checked(capsys, tmp_path, replace, where, message):
    path = write(tmp_path, replace=replace)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert f"{path}:{where}" in out and f"error [expression-type] {message}" in out, out
    line, column = map(int, where.split(":"))
    text = path.read_text().splitlines()[line - 1]  # the column points at the value of the wrong kind
    assert text[column - 1:].startswith(("amount)", "segment,", "revenue)", "'x'")), text[column - 1:]


def test_dates_pass_the_type_check(capsys, tmp_path):
    # a date column, a date param, the min of a date column and a computed date all pass
    path = write(tmp_path, replace=("revenue: {source: orders, sum: amount}",
                                    "revenue: {source: orders, sum: amount, where: \"year(ordered_at) == year(period_end)\"}\n"
                                    "  first: {source: orders, min: ordered_at}"))
    text = path.read_text().replace("formula: revenue\n", "formula: revenue + 0 * year(first)\n")
    path.write_text(text)
    code, out, err = run(capsys, "validate", str(path))
    assert code == 0, out
    code, out, _ = run(capsys, "run", str(path), "--format", "json")
    assert code == 0
    assert {k["id"]: k["value"] for k in json.loads(out)["kpis"]}["revenue_total"] == 13150.0


# 7. a period whose start is after its end is refused, with the two dates

def test_reversed_period_is_refused_at_validation_and_run(capsys, tmp_path):
    path = write(tmp_path, replace=("period_end: 2025-12-31", "period_end: 2024-12-31"))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert f"{path}:2:24: error [period] period_start 2025-01-01 is after period_end 2024-12-31 (swap the two dates)" in out
    good = write(tmp_path)
    code, _, err = run(capsys, "run", str(good), "--param", "period_start=2026-01-01")
    assert code == 2
    # located at the ruleset whose period it is, with the same hint as validate's
    assert f"{good}: error [period] period_start 2026-01-01 is after period_end 2025-12-31 (swap the two dates)" in err


# 17. thresholds: failed_ratio (and percent) for the failing share; warnings on thresholds
# that cannot depend on the data, and on `ratio >`

@pytest.mark.parametrize("warn,status", [
    # 1 of 4 segments is empty: failed_ratio 0.25, ratio 0.75
    ("failed_ratio > 0.2", "warn"), ("failed_ratio > 25%", "pass"), ("failed_ratio >= 25%", "warn"),
    ("failed_ratio > 0.3", "pass"), ("ratio < 0.8", "warn"), ("ratio < 75%", "pass"), ("failed > 0", "warn"),
    ("failed != 0", "warn"), ("failed != 1", "pass"), ("failed == 1", "warn"), ("rows <= 3", "pass"),
])
def test_failed_ratio_and_percent_thresholds(capsys, tmp_path, warn, status):
    path = write(tmp_path, replace=('warn: "ratio < 0.9"', f'warn: "{warn}"'))
    code, out, err = run(capsys, "validate", "--strict", str(path))
    assert code == 0, out
    code, out, _ = run(capsys, "run", str(path), "--format", "json")
    check = json.loads(out)["checks"][0]
    assert (check["failed"], check["rows"], check["status"]) == (1, 4, status)


@pytest.mark.parametrize("warn,message", [
    ("ratio > 1", "warn `ratio > 1` never holds: ratio is the share of rows that pass"),
    ("ratio >= 0", "warn `ratio >= 0` always holds: ratio is the share of rows that pass"),
    ("failed_ratio > 100%", "warn `failed_ratio > 1` never holds: failed_ratio is the share that fail"),
    ("failed >= 0", "warn `failed >= 0` always holds: failed counts rows"),
    ("ratio > 0.05", "warn when `ratio > 0.05`, the share of rows that PASS, is above a limit"),
])
def test_thresholds_that_cannot_be_meant_are_warned_about(capsys, tmp_path, warn, message):
    path = write(tmp_path, replace=('warn: "ratio < 0.9"', f'warn: "{warn}"'))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0
    assert f"{path}:24:83:" in out and f"warning [thresholds] `segment_present`: {message}" in out, out
    assert run(capsys, "validate", "--strict", str(path))[0] == 1


def test_a_percent_on_a_count_is_refused(capsys, tmp_path):
    path = write(tmp_path, replace=('warn: "ratio < 0.9"', 'warn: "failed > 5%"'))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert "warn: a percent is a share of rows, not a count (write failed_ratio > 5%" in out


# 18. the terminal scorecard shows each rule's thresholds beside its result

def test_terminal_shows_thresholds_beside_each_rule(capsys, tmp_path):
    ruleset = RULESET.replace(
        '  - {id: segment_present, source: orders, rule: not_null, column: segment, warn: "ratio < 0.9"}',
        '  - {id: segment_present, source: orders, rule: not_null, column: segment, warn: "ratio < 0.9"}\n'
        '  - {id: amount_set, source: orders, rule: not_null, column: amount, fail: "failed_ratio > 5%"}\n'
        '  - {id: ids_unique, source: orders, rule: unique, column: order_id}')
    path = write(tmp_path, ruleset=ruleset)
    code, out, _ = run(capsys, "run", str(path))
    assert code == 0
    assert "segment_present: 1 of 4 rows fail (75.00% pass; warn if ratio < 0.9)" in out
    assert "amount_set: 0 of 4 rows fail (100.00% pass; fail if failed_ratio > 0.05)" in out
    assert "ids_unique: 0 of 4 rows fail (100.00% pass; fail if any row fails)" in out


# 8. YAML's own words come with a plain reading, the line and a caret

@pytest.mark.parametrize("text,where,reading,caret", [
    ("ruleset: x\nsources:\n  a: b.csv\n c: d\n", "4:2",
     "the indentation of this line does not match the block above it", "    4 |  c: d\n         ^"),
    ("ruleset: x\nsources:\n\ta: b.csv\n", "3:1", "a tab: YAML indents with spaces only", "    3 | →a: b.csv\n        ^"),
    ("ruleset: x\ntitle: a: b\n", "2:9", "a value holding `: ` that is not quoted", "    2 | title: a: b\n                ^"),
])
def test_yaml_syntax_errors_read_plainly(capsys, tmp_path, text, where, reading, caret):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert f"{path}:{where}: error [yaml-syntax] " in out and reading in out and "(YAML says: " in out, out
    assert out.rstrip("\n").endswith(caret), out


# 9. numbers written the way people write them get the number to write

@pytest.mark.parametrize("replace,message", [
    (("target: 0.3", 'target: "30%"'),
     "kpis.big_order_share.target: '30%' is text, not a number (write 0.3: percent KPIs are fractions)"),
    (("target: 10000", 'target: "1,234.5"'),
     "kpis.revenue_total.target: '1,234.5' is text, not a number (write 1234.5, without thousands separators)"),
])
def test_percent_and_thousands_in_numbers(capsys, tmp_path, replace, message):
    path = write(tmp_path, replace=replace)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert f"error [schema] {message}" in out, out


# 10. a number that does not parse in the data is named with its row

def test_malformed_number_in_data_names_column_row_and_value(capsys, tmp_path):
    # the 2nd data row's amount is written with a thousands separator
    path = write(tmp_path, data=ORDERS.replace("6000.0", '"6,000.50"'))
    code, _, err = run(capsys, "run", str(path))
    assert code == 2
    assert ("error [data] source `orders`: column 'amount', row 2: `6,000.50` is not a number "
            "(write it without thousands separators)") in err, err


# 12. the references print as Markdown, without reST's double backticks

@pytest.mark.parametrize("command", ["rules", "functions"])
def test_references_have_no_double_backticks(capsys, command):
    code, out, _ = run(capsys, command)
    assert code == 0
    assert "``" not in out
    assert "`{rule: not_empty, column: name}`" in out if command == "rules" else "`coalesce(satisfaction, 3)`" in out


# 13. init writes a $schema that survives a commit

def test_init_schema_is_relative_inside_the_project(capsys):
    import tempfile
    with tempfile.TemporaryDirectory(dir=ROOT) as folder:
        out = Path(folder) / "rules" / "mine.yaml"
        assert run(capsys, "init", "mine", "--out", str(out))[0] == 0
        first = out.read_text().splitlines()[0]
        relative = first.split("$schema=")[1]
        assert not relative.startswith(("/", "file:"))
        assert (out.parent / relative).resolve() == (ROOT / "schemas" / "ruleset.schema.json").resolve()


def test_init_schema_is_the_published_id_elsewhere(capsys, tmp_path):
    out = tmp_path / "mine.yaml"
    assert run(capsys, "init", "mine", "--out", str(out))[0] == 0
    schema_id = json.loads((ROOT / "schemas" / "ruleset.schema.json").read_text())["$id"]
    assert out.read_text().splitlines()[0] == f"# yaml-language-server: $schema={schema_id}"
    assert str(ROOT) not in out.read_text()


# 15. history lists each run's period; the change since the last run warns across periods

def test_history_lists_periods_and_warns_when_they_differ(capsys, tmp_path):
    path = write(tmp_path)
    history = tmp_path / "history"
    code, out, _ = run(capsys, "run", str(path), "--format", "json", "--history", str(history))
    assert code == 0 and json.loads(out)["notes"] == []
    code, out, _ = run(capsys, "run", str(path), "--format", "json", "--history", str(history))
    assert json.loads(out)["notes"] == []  # the same period: nothing to warn about
    code, out, _ = run(capsys, "run", str(path), "--format", "json", "--history", str(history),
                       "--param", "period_start=2025-07-01")
    assert ("the previous run covered 2025-01-01..2025-12-31, this one 2025-07-01..2025-12-31: "
            "the changes since the last run compare different periods") in json.loads(out)["notes"]
    code, out, _ = run(capsys, "history", str(history))
    assert code == 0
    periods = [re.search(r"period (\S+)", line).group(1) for line in out.splitlines()]
    assert periods == ["2025-01-01..2025-12-31"] * 2 + ["2025-07-01..2025-12-31"]


# 16. a typo in a tests file gets a did-you-mean, as in rulesets

CASE = """cases:
  - name: one big order
    tables:
      orders:
        - {order_id: o1, customer_id: c1, ordered_at: 2025-02-01, amount: 6000.0, segment: smb}
"""


@pytest.mark.parametrize("tail,where,message", [
    ("    expect:\n      scor: 100\n", "7:7",
     "unknown property `scor` in `cases.0.expect` (did you mean `score`?)"),
    ("    scor: 100\n    expect: {}\n", "6:5",
     "unknown property `scor` in `cases.0` (did you mean `expect: {score: ...}`?)"),
    ("    expect:\n      kpis: {big_order_share: {scor: 100}}\n", "7:32",
     "unknown property `scor` in `cases.0.expect.kpis.big_order_share` (did you mean `score`?)"),
    ("    expect:\n      checks: {segment_present: {statu: pass}}\n", "7:34",
     "unknown property `statu` in `cases.0.expect.checks.segment_present` (did you mean `status`?)"),
    ("    expect:\n      checks: {segment_present: pas}\n", "7:33",
     "'pas' is not one of pass, warn, fail (did you mean `pass`?)"),
])
def test_tests_file_typos_get_a_did_you_mean(capsys, tmp_path, tail, where, message):
    path = write(tmp_path)
    tests = tmp_path / "orders_2025.tests.yaml"
    tests.write_text(CASE + tail)
    code, out, err = run(capsys, "test", str(path))
    assert code == 2
    assert f"{tests}:{where}: error [" in err and message in err, err


def test_the_tests_file_runs_when_right(capsys, tmp_path):
    # one order of 6000 in 2025: big_order_share = 1 / 1 = 1.0, revenue 6000
    path = write(tmp_path)
    (tmp_path / "orders_2025.tests.yaml").write_text(
        CASE + "    expect:\n      kpis: {big_order_share: 1.0, revenue_total: 6000}\n      checks: {segment_present: pass}\n")
    code, out, err = run(capsys, "test", str(path))
    assert code == 0, out + err
    assert "PASSED" in out


def test_validate_with_data_checks_the_files_there(capsys, tmp_path):
    path = write(tmp_path, replace=("path: orders.csv", "path: exports/orders.csv"))
    data = tmp_path / "data"
    data.mkdir()
    # not beside the ruleset: a warning without --data
    assert "warning [missing-file]" in run(capsys, "validate", str(path))[1]
    # in --data under another supported format: nothing to say, as `run --data` reads it
    import polars as pl
    pl.read_csv(io.StringIO(ORDERS)).write_parquet(data / "orders.parquet")
    code, out, _ = run(capsys, "validate", "--strict", "--data", str(data), str(path))
    assert code == 0 and out == ""
    assert run(capsys, "run", "--data", str(data), str(path))[0] == 0
    # in neither place: an error, with the closest file in --data
    (data / "orders.parquet").unlink()
    (data / "order.csv").write_text(ORDERS)
    code, out, _ = run(capsys, "validate", "--data", str(data), str(path))
    assert code == 1
    assert (f"{path}:5:11: error [missing-file] source `orders`: no file exports/orders.csv beside the "
            f"ruleset, nor orders.* in {data} (did you mean `order.csv`?)") in out, out
    assert run(capsys, "validate", "--data", str(tmp_path / "nope"), str(path))[0] == 2
