"""The authoring commands, as a ruleset author and a CI job use them: validate, test,
diff, explain, schema and init, each with its success, its failures and its exit codes;
and the pre-commit hooks and the CI workflow we ship, checked against the CLI's parser.

Exit codes: 0 done, 1 invalid ruleset / failing test case, 2 unusable input or command line.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest
import yaml

from conftest import HAND, ROOT, RULESET
from engine.cli import main, parser

RULESETS = ROOT / "rulesets"
VENDORS = RULESETS / "vendor_scoring.yaml"
VENDOR_DATA = ROOT / "tests" / "data" / "vendors"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def edited(source: Path, target: Path, *changes: tuple[str, str]) -> Path:
    """A copy of ``source`` at ``target`` with each (old, new) replaced once."""
    text = source.read_text(encoding="utf-8")
    for old, new in changes:
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
    target.write_text(text, encoding="utf-8")
    return target


def where(path: Path, needle: str) -> tuple[int, int]:
    """1-based line and column of the first occurrence of ``needle`` in ``path``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not in {path}")


def json_run(capsys, ruleset: Path, *extra: str) -> dict:
    code, out, err = run(capsys, "run", str(ruleset), "--format", "json", *extra)
    assert code in (0, 1), err
    return json.loads(out)


# ---------------------------------------------------------------------------------------
# validate

# three mistakes of different kinds that validation reports together
MISTAKES = (
    ("formula: retained / customers_at_start", "formula: retained / customer_at_start"),  # unknown name
    ("    weight: 30\n", "    wieght: 30\n"),  # unknown property (conversion_rate)
    ("    floor: 0.50\n", "    floor: 0.90\n"),  # csat: floor above its target 0.80
)


@pytest.fixture
def three_errors(tmp_path: Path) -> tuple[Path, dict[str, tuple[int, int]]]:
    """A ruleset with three errors, and where each one is (rule -> line, column)."""
    bad = edited(RULESET, tmp_path / "bad.yaml", *MISTAKES)
    floor_line, _ = where(bad, "floor: 0.90")
    return bad, {"unknown-name": where(bad, "customer_at_start"),
                 "unknown-property": where(bad, "wieght"),
                 # the wrong value itself, not its key
                 "target-floor": (floor_line, where(bad, "floor: 0.90")[1] + len("floor: "))}


def test_validate_reports_three_errors_located_in_one_run(capsys, three_errors):
    bad, places = three_errors
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3, out
    for rule, (line, column) in places.items():
        assert any(ln.startswith(f"{bad}:{line}:{column}: error [{rule}]") for ln in lines), (rule, out)
    assert "did you mean `customers_at_start`?" in out
    assert "did you mean `weight`?" in out
    assert "0 of 1 ruleset(s) valid" in err


def test_validate_github_annotations(capsys, three_errors):
    bad, places = three_errors
    code, out, _ = run(capsys, "validate", str(bad), "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3
    for rule, (line, column) in places.items():
        assert any(ln.startswith(f"::error file={bad},line={line},col={column},title={rule}::") for ln in lines), out


def test_validate_json(capsys, three_errors):
    bad, places = three_errors
    code, out, _ = run(capsys, "validate", str(bad), "--format", "json")
    assert code == 1
    problems = json.loads(out)
    assert {p["rule"]: (p["line"], p["column"]) for p in problems} == places
    assert all(p["file"] == str(bad) and p["severity"] == "error" and p["message"] for p in problems)


def test_validate_junit_is_xml(capsys, three_errors, tmp_path):
    bad, places = three_errors
    good = shutil.copy(RULESET, tmp_path / "good.yaml")
    code, out, _ = run(capsys, "validate", str(bad), str(good), "--format", "junit")
    assert code == 1
    suite = ET.fromstring(out)
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {str(bad), str(good)}
    failure = cases[str(bad)].find("failure")
    assert failure is not None and failure.get("message") == "3 error(s)"
    assert all(f"[{rule}]" in failure.text for rule in places)
    assert cases[str(good)].find("failure") is None


def test_validate_sarif(capsys, three_errors):
    bad, places = three_errors
    code, out, _ = run(capsys, "validate", str(bad), "--format", "sarif")
    assert code == 1
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    (only,) = sarif["runs"]
    assert {r["id"] for r in only["tool"]["driver"]["rules"]} == set(places)
    found = {}
    for result in only["results"]:
        assert result["level"] == "error" and result["message"]["text"]
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == str(bad)
        found[result["ruleId"]] = (physical["region"]["startLine"], physical["region"]["startColumn"])
    assert found == places


def test_validate_github_escapes_the_file_property(capsys, tmp_path):
    bad = edited(RULESET, tmp_path / "bad,name.yaml", MISTAKES[0])
    code, out, _ = run(capsys, "validate", str(bad), "--format", "github")
    assert code == 1
    escaped = str(bad).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
    assert out.startswith(f"::error file={escaped},line=")


@pytest.fixture
def unused_measure(tmp_path: Path) -> Path:
    return edited(RULESET, tmp_path / "spare.yaml",
                  ("measures:\n", "measures:\n  spare_count:\n    source: customers\n    count: true\n"))


def test_validate_warning_exits_0(capsys, unused_measure):
    code, out, err = run(capsys, "validate", str(unused_measure))
    assert code == 0
    line, column = where(unused_measure, "spare_count")
    # (the copy has no sample data beside it: its sources are warned about too)
    assert f"\n{unused_measure}:{line}:{column}: warning [unused-measure] measure `spare_count`" in out
    assert "[missing-file]" in out and "[error]" not in out
    assert "1 of 1 ruleset(s) valid" in err
    code, out, _ = run(capsys, "validate", str(unused_measure), "--format", "github")
    assert code == 0 and f"\n::warning file={unused_measure},line={line},col={column}," in out


def test_validate_strict_turns_the_warning_into_an_error(capsys, unused_measure):
    code, out, err = run(capsys, "validate", "--strict", str(unused_measure))
    assert code == 1
    assert "error [unused-measure]" in out and "warning" not in out
    assert "0 of 1 ruleset(s) valid" in err
    code, out, _ = run(capsys, "validate", "--strict", str(unused_measure), "--format", "sarif")
    assert code == 1 and json.loads(out)["runs"][0]["results"][0]["level"] == "error"


def test_validate_shipped_rulesets_strict(capsys):
    code, out, err = run(capsys, "validate", "--strict", str(RULESETS))
    assert code == 0, out
    assert out == ""
    shipped = [p for p in RULESETS.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")
               and not p.name.endswith((".tests.yaml", ".tests.yml"))]
    assert f"{len(shipped)} of {len(shipped)} ruleset(s) valid" in err


def test_validate_never_imports_polars():
    # how fast it is, is measured by bench/validate_speed.py: a wall-clock limit here would
    # fail on a busy machine without anything being wrong
    script = ("import sys\n"
              "from engine.cli import main\n"
              "code = main(['validate', '--strict', 'rulesets'])\n"
              "print(code, 'polars' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    code, polars_loaded = proc.stdout.split()
    assert code == "0", proc.stderr
    assert polars_loaded == "False"
    # and the import log agrees: no polars module is imported at all
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "engine", "validate", "rulesets"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    imported = [ln.rsplit("|", 1)[-1].strip() for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
    assert imported and not [m for m in imported if m.split(".")[0] == "polars"]


# ---------------------------------------------------------------------------------------
# test

def cases_of(folder: Path) -> list[tuple[str, str]]:
    """(tests file, case name) of every case in a folder, read with plain YAML."""
    out = []
    for path in sorted(folder.rglob("*.y*ml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        key = "cases" if path.name.endswith((".tests.yaml", ".tests.yml")) else "tests"
        if isinstance(data, dict):
            out += [(path.relative_to(ROOT).as_posix(), c["name"]) for c in data.get(key) or []]
    return out


def test_shipped_test_cases_pass(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "test", "rulesets/")
    assert code == 0, out
    expected = cases_of(RULESETS)
    for name in ("vendor_scoring", "crm_department", "data_census"):
        assert 1 <= sum(f == f"rulesets/{name}.tests.yaml" for f, _ in expected) <= 3, name
    assert sorted(out.splitlines()) == sorted(f"{f}::{n} PASSED" for f, n in expected)
    assert f"{len(expected)} passed, 0 failed" in err


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of crm_assessment.yaml in an empty folder, for a tests file beside it."""
    return Path(shutil.copy(RULESET, tmp_path / "crm_assessment.yaml"))


# two customers active at the start of 2025, one of them churned in June: retention 1/2
CUSTOMERS = """\
    tables:
      customers:
        - {customer_id: C1, email: a@example.com, created_at: 2024-01-01}
        - {customer_id: C2, email: b@example.com, created_at: 2024-01-01, churned_at: 2025-06-30}
"""


def test_wrong_expected_value_fails_with_expected_and_actual(capsys, project):
    tests = project.with_name("crm_assessment.tests.yaml")
    tests.write_text("cases:\n  - name: wrong retention\n" + CUSTOMERS
                     + "    expect:\n      kpis:\n        retention_rate: {value: 0.6, status: missed}\n"
                     "      grade: E\n", encoding="utf-8")
    code, out, err = run(capsys, "test", str(project))
    assert code == 1
    assert f"{tests}::wrong retention FAILED" in out
    assert "kpis.retention_rate.value: expected 0.6, got 0.5" in out
    assert "status" not in out and "grade" not in out  # only what differs
    assert "0 passed, 1 failed" in err
    # the tests file given directly runs the same case
    assert run(capsys, "test", str(tests))[0] == 1


def test_unknown_names_in_a_case_get_a_suggestion(capsys, project):
    tests = project.with_name("crm_assessment.tests.yaml")
    tests.write_text(
        "cases:\n"
        "  - name: unknown kpi and check\n" + CUSTOMERS +
        "    expect:\n"
        "      kpis: {retention: 0.5}\n"
        "      checks: {customer_email_presnt: pass}\n"
        "  - name: unknown source\n"
        "    tables:\n"
        "      custmers:\n"
        "        - {customer_id: C1}\n"
        "    expect: {score: 0}\n", encoding="utf-8")
    code, out, _ = run(capsys, "test", str(tests))
    assert code == 1
    assert f"{tests}::unknown kpi and check FAILED" in out
    assert "kpis.retention: no such KPI (did you mean `retention_rate`?)" in out
    assert "checks.customer_email_presnt: no such check (did you mean `customer_email_present`?)" in out
    assert f"{tests}::unknown source ERROR" in out
    line, _ = where(tests, "name: unknown source")
    assert re.search(rf"{re.escape(str(tests))}:{line}:\d+: error \[unknown-source\] tables: unknown source "
                     r"`custmers` \(did you mean `customers`\?\)", out), out


def test_malformed_tests_file_is_a_located_error(capsys, project):
    tests = project.with_name("crm_assessment.tests.yaml")
    tests.write_text("cases:\n  - name: misspelt key\n    expected: {score: 0}\n", encoding="utf-8")
    code, out, err = run(capsys, "test", str(project))
    assert code == 2 and out == ""
    # located at the misspelt key itself, with the key it means
    assert f"{tests}:3:5: error [unknown-property]" in err and "did you mean `expect`?" in err
    assert "Traceback" not in err


def test_test_usage_errors(capsys, tmp_path):
    code, _, err = run(capsys, "test", str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file or folder" in err


def test_kpi_rank_expectation_is_not_an_internal_error(capsys, project):
    tests = project.with_name("crm_assessment.tests.yaml")
    tests.write_text("cases:\n  - name: rank of a kpi\n" + CUSTOMERS
                     + "    expect:\n      kpis:\n        retention_rate: {rank: 1}\n", encoding="utf-8")
    code, out, err = run(capsys, "test", str(tests))
    assert "internal error" not in err
    # a KPI has no rank (entities do): refused by the tests file's schema, located at `rank`
    assert code == 2 and out == ""
    assert "crm_assessment.tests.yaml:9:26: error [unknown-property] unknown property `rank`" in err
    assert "(allowed: value, score, status)" in err


def test_rows_for_a_derived_source_are_refused(capsys, tmp_path):
    census = Path(shutil.copy(RULESETS / "data_census.yaml", tmp_path / "data_census.yaml"))
    tests = census.with_name("data_census.tests.yaml")
    tests.write_text(
        "cases:\n  - name: rows for the derived source cases\n    tables:\n      cases:\n"
        "        - {case_id: K1, process: p, steps: 2, distinct_steps: 1}\n"
        "    expect:\n      checks: {no_rework: {rows: 1, failed: 1}}\n", encoding="utf-8")
    code, out, _ = run(capsys, "test", str(tests))
    # expected: an ERROR that says `cases` is derived from `process_steps`
    assert code == 1 and "ERROR" in out and "process_steps" in out


# ---------------------------------------------------------------------------------------
# diff

@pytest.fixture
def with_sample_data(tmp_path: Path) -> Path:
    shutil.copytree(RULESETS / "sample-data", tmp_path / "sample-data")
    return tmp_path


def total_line(base: dict, head: dict) -> str:
    return f"total: {base['score']:.1f} ({base['grade']}) -> {head['score']:.1f} ({head['grade']})"


def kpi_line(base: dict, head: dict, kpi: str) -> str:
    b = next(k for k in base["kpis"] if k["id"] == kpi)
    h = next(k for k in head["kpis"] if k["id"] == kpi)
    assert b["unit"] == "percent"
    return (f"`{kpi}`: {b['value'] * 100:.1f}% -> {h['value'] * 100:.1f}%, score {b['score']:.1f} -> "
            f"{h['score']:.1f}, {b['status']} -> {h['status']}")


def test_diff_shows_the_rule_change_and_its_effect(capsys, with_sample_data):
    base = Path(shutil.copy(RULESET, with_sample_data / "base.yaml"))
    # conversion_rate's target 0.30 -> 0.90: its score falls, and the total with it
    head = edited(base, with_sample_data / "head.yaml", ("    target: 0.30\n", "    target: 0.90\n"))
    before, after = json_run(capsys, base), json_run(capsys, head)
    assert (before["score"], before["grade"]) != (after["score"], after["grade"])
    assert before["grade"] != after["grade"]  # the change is big enough to move the grade
    code, out, _ = run(capsys, "diff", str(base), str(head))
    assert code == 0
    rules, data = out.split("on the data:\n")
    assert rules == f"rules of {head}:\n  `kpis.conversion_rate.target`: 0.3 -> 0.9\n"
    assert f"  {total_line(before, after)}\n" in data
    assert f"  {kpi_line(before, after, 'conversion_rate')}\n" in data
    assert "retention_rate" not in data  # unchanged KPIs are not listed

    code, md, _ = run(capsys, "diff", str(base), str(head), "--format", "md")
    assert code == 0
    assert md.startswith(f"### `assess diff` {head}\n")
    assert "**Rules**\n\n- `kpis.conversion_rate.target`: 0.3 -> 0.9\n" in md
    assert f"**On the data**\n\n- {total_line(before, after)}\n" in md

    code, out, _ = run(capsys, "diff", str(base), str(base))
    assert code == 0 and out == f"rules of {base}:\n  no change\non the data:\n  no change\n"


def test_diff_reports_a_measure_change_as_a_rule_change(capsys, with_sample_data):
    base = Path(shutil.copy(RULESET, with_sample_data / "base.yaml"))
    head = edited(base, with_sample_data / "head.yaml", ('and nps >= 9"', 'and nps >= 7"'))
    code, out, _ = run(capsys, "diff", str(base), str(head))
    assert code == 0
    rules, data = out.split("on the data:\n")
    assert "`nps`" in data  # the data does move
    assert "promoters" in rules


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "user.name=assess", "-c", "user.email=assess@example.com",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=repo, capture_output=True, text=True, check=True)
    return proc.stdout


def test_diff_against_git(capsys, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    folder = repo / "rulesets"
    folder.mkdir(parents=True)
    shutil.copytree(RULESETS / "sample-data", folder / "sample-data")
    ruleset = Path(shutil.copy(RULESET, folder / "crm_assessment.yaml"))
    git(repo, "init", "-q")
    git(repo, "add", "rulesets/crm_assessment.yaml")
    git(repo, "commit", "-q", "-m", "base")
    committed = ruleset.read_text(encoding="utf-8")
    before = json_run(capsys, ruleset)

    code, out, _ = run(capsys, "diff", "--git", "HEAD", str(ruleset))
    assert code == 0 and out == f"rules of {ruleset}:\n  no change\non the data:\n  no change\n"

    edited(ruleset, ruleset, ("    target: 0.30\n", "    target: 0.90\n"))
    after = json_run(capsys, ruleset)
    listing = sorted(p.name for p in folder.iterdir())
    code, out, _ = run(capsys, "diff", "--git", "HEAD", str(ruleset), "--format", "md")
    assert code == 0
    assert "- `kpis.conversion_rate.target`: 0.3 -> 0.9\n" in out
    assert f"- {total_line(before, after)}\n" in out
    assert sorted(p.name for p in folder.iterdir()) == listing  # the base copy is cleaned up
    assert git(repo, "show", "HEAD:rulesets/crm_assessment.yaml") == committed

    # from inside the repository, with a relative path, as CI runs it
    monkeypatch.chdir(repo)
    code, out, _ = run(capsys, "diff", "--git", "HEAD", "rulesets/crm_assessment.yaml")
    assert code == 0 and "target`: 0.3 -> 0.9" in out

    # a ruleset that HEAD does not have yet is added, all of it; a ref that does not exist
    # is an error
    new = Path(shutil.copy(RULESET, folder / "new.yaml"))
    code, out, err = run(capsys, "diff", "--git", "HEAD", str(new))
    assert code == 0, err
    assert out.startswith(f"rules of {new}:\n  new ruleset: not in HEAD\non the data:\n  total: ")
    assert all(f"`{k['id']}`: new, " in out for k in after["kpis"])
    code, _, err = run(capsys, "diff", "--git", "no-such-ref", str(ruleset))
    assert code == 2 and "no-such-ref" in err


def test_diff_outside_git_and_usage_errors(capsys, with_sample_data):
    ruleset = Path(shutil.copy(RULESET, with_sample_data / "crm_assessment.yaml"))
    code, _, err = run(capsys, "diff", str(ruleset))  # one path, no --git
    assert code == 2 and "give BASE and HEAD rulesets" in err
    code, _, err = run(capsys, "diff", str(ruleset), str(ruleset), str(ruleset))
    assert code == 2
    code, _, err = run(capsys, "diff", "--git", "HEAD", str(ruleset), str(ruleset))
    assert code == 2 and "give one ruleset" in err
    code, _, err = run(capsys, "diff", "--git", "HEAD", str(ruleset))
    assert code == 2 and "not in a git repository" in err


# ---------------------------------------------------------------------------------------
# explain

def explained(out: str) -> tuple[float, dict[str, float]]:
    """The KPI value (first line, in brackets) and each measure's value."""
    first = out.splitlines()[0]
    value = float(re.search(r"\(([-0-9.,e]+)\)$", first).group(1).replace(",", ""))
    measures = {m.group(1): float(m.group(2).replace(",", ""))
                for m in re.finditer(r"(?m)^\s+(\w+) = (?:count|sum|mean|median|min|max|n_unique|quantile)"
                                     r" of .* = ([-0-9.,e]+)$", out)}
    return value, measures


def measures_of(ruleset: Path, kpi: str) -> set[str]:
    """The measures a KPI uses, directly or through other KPIs, read from the YAML."""
    data = yaml.safe_load(ruleset.read_text(encoding="utf-8"))
    names = set(re.findall(r"[A-Za-z_]\w*", data["kpis"][kpi]["formula"]))
    found = names & set(data["measures"])
    for other in names & set(data["kpis"]) - {kpi}:
        found |= measures_of(ruleset, other)
    return found


@pytest.mark.parametrize("kpi", ["retention_rate", "conversion_rate", "csat", "nps", "complaint_rate"])
def test_explain_shows_every_measure_and_agrees_with_run(capsys, kpi):
    code, out, _ = run(capsys, "explain", str(RULESET), kpi, "--data", str(HAND))
    assert code == 0
    value, measures = explained(out)
    assert set(measures) == measures_of(RULESET, kpi)
    result = json_run(capsys, RULESET, "--data", str(HAND))
    kpi_result = next(k for k in result["kpis"] if k["id"] == kpi)
    assert value == pytest.approx(kpi_result["value"], rel=1e-5, abs=1e-9)
    assert f"status {kpi_result['status']}" in out
    assert "params: period_end = 2025-12-31, period_start = 2025-01-01" in out


def test_explain_measures_match_a_plain_polars_count(capsys):
    code, out, _ = run(capsys, "explain", str(RULESET), "retention_rate", "--data", str(HAND))
    assert code == 0
    value, measures = explained(out)
    customers = pl.read_csv(HAND / "customers.csv", try_parse_dates=True)
    start, end = pl.date(2025, 1, 1), pl.date(2025, 12, 31)
    active_at_start = (pl.col("created_at") <= start) & (pl.col("churned_at").is_null() | (pl.col("churned_at") > start))
    still_active = pl.col("churned_at").is_null() | (pl.col("churned_at") > end)
    at_start = customers.filter(active_at_start).height
    retained = customers.filter(active_at_start & still_active).height
    assert (at_start, retained) == (4, 3)  # C1 C2 C5 C6; C2 churned in June
    assert measures == {"customers_at_start": at_start, "retained": retained}
    assert value == pytest.approx(retained / at_start)
    assert f"source customers: {HAND / 'customers.csv'}, {customers.height} rows" in out


def test_explain_one_entity(capsys):
    code, out, _ = run(capsys, "explain", str(VENDORS), "sla_met_rate", "--data", str(VENDOR_DATA),
                       "--entity", "V3")
    assert code == 0
    value, measures = explained(out)
    # V3's tickets opened in 2025: T07 (24h > 8), T08 (4h <= 8), T09 unresolved
    assert measures == {"tickets_in_sla": 1, "tickets_opened": 3}
    result = json_run(capsys, VENDORS, "--data", str(VENDOR_DATA), "--entity", "V3")
    (entity,) = result["entities"]
    assert value == pytest.approx(next(k["value"] for k in entity["kpis"] if k["id"] == "sla_met_rate"), rel=1e-5)
    # the overall value is another number: 6 of 8 tickets
    code, overall, _ = run(capsys, "explain", str(VENDORS), "sla_met_rate", "--data", str(VENDOR_DATA))
    assert explained(overall)[1] == {"tickets_in_sla": 6, "tickets_opened": 8}
    # an allocated measure says so
    code, out, _ = run(capsys, "explain", str(VENDORS), "cac", "--data", str(VENDOR_DATA), "--entity", "V3")
    assert code == 0 and "allocated to the entity by its share of `customers_at_start`" in out


def test_explain_errors(capsys):
    code, out, err = run(capsys, "explain", str(RULESET), "retention", "--data", str(HAND))
    assert code == 2 and out == ""
    assert "no KPI `retention`" in err and "did you mean `retention_rate`?" in err
    code, _, err = run(capsys, "explain", str(VENDORS), "sla_met_rate", "--data", str(VENDOR_DATA), "--entity", "V9")
    assert code == 2 and "no such entity" in err
    code, _, err = run(capsys, "explain", str(RULESET), "retention_rate", "--data", str(HAND / "nope"))
    assert code == 2


# ---------------------------------------------------------------------------------------
# schema

@pytest.mark.parametrize("flag,name", [(None, "ruleset"), ("--result", "result"), ("--tests", "tests")])
def test_schema(capsys, flag, name):
    code, out, _ = run(capsys, "schema", *([flag] if flag else []))
    assert code == 0
    schema = json.loads(out)
    assert schema == json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("https://json-schema.org/")


def test_shipped_tests_files_match_the_tests_schema():
    import jsonschema
    from referencing import Registry, Resource

    tests_schema = json.loads((ROOT / "schemas" / "tests.schema.json").read_text(encoding="utf-8"))
    ruleset_schema = json.loads((ROOT / "schemas" / "ruleset.schema.json").read_text(encoding="utf-8"))
    registry = Registry().with_resource("https://assess.example/schemas/ruleset.schema.json",
                                        Resource.from_contents(ruleset_schema))
    validator = jsonschema.Draft202012Validator(tests_schema, registry=registry)
    for path in RULESETS.glob("*.tests.yaml"):
        data = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))
        assert not list(validator.iter_errors(data)), path


# ---------------------------------------------------------------------------------------
# init

def test_init_writes_a_ruleset_that_validates_and_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "init", "my_rules")
    assert code == 0 and out == ""
    assert (tmp_path / "my_rules.yaml").is_file() and (tmp_path / "sample-data" / "customers.csv").is_file()
    assert "assess run my_rules.yaml" in err
    assert "ruleset: my_rules\n" in (tmp_path / "my_rules.yaml").read_text(encoding="utf-8")
    assert run(capsys, "validate", "--strict", "my_rules.yaml")[0] == 0
    code, out, _ = run(capsys, "run", "my_rules.yaml", "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert result["ruleset"] == "my_rules" and result["kpis"] and result["grade"]


def test_init_from_a_shipped_ruleset(capsys, tmp_path):
    out_file = tmp_path / "copy" / "vendors_copy.yaml"
    code, _, _ = run(capsys, "init", "vendors_copy", "--from", str(VENDORS), "--out", str(out_file))
    assert code == 0
    text = out_file.read_text(encoding="utf-8")
    original = VENDORS.read_text(encoding="utf-8")
    header, body = text.split("\n", 1)
    assert header.startswith("# vendors_copy: made by `assess init`")
    # the editor line survives a commit: outside the project of the installed schema, its
    # published id (not this machine's path; a copy inside a project: tests/test_new_user.py)
    schema = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "ruleset.schema.json").read_text())["$id"]
    assert body == original.replace("ruleset: vendor_scoring\n", "ruleset: vendors_copy\n", 1).replace(
        "$schema=../schemas/ruleset.schema.json", f"$schema={schema}", 1)
    assert (out_file.parent / "sample-data" / "vendors.csv").is_file()
    assert run(capsys, "validate", "--strict", str(out_file))[0] == 0
    result = json_run(capsys, out_file)
    assert result["ruleset"] == "vendors_copy" and result["entities"]
    # only a valid ruleset is copied
    bad = edited(RULESET, tmp_path / "bad.yaml", MISTAKES[0])
    code, _, err = run(capsys, "init", "from_bad", "--from", str(bad), "--out", str(tmp_path / "from_bad.yaml"))
    assert code == 2 and "unknown-name" in err and not (tmp_path / "from_bad.yaml").exists()


def test_init_refuses_to_overwrite_without_force(capsys, tmp_path):
    target = tmp_path / "mine.yaml"
    target.write_text("# mine\n", encoding="utf-8")
    code, _, err = run(capsys, "init", "mine", "--out", str(target))
    assert code == 2 and "exists" in err and "--force" in err
    assert target.read_text(encoding="utf-8") == "# mine\n"
    assert not (tmp_path / "sample-data").exists()
    code, _, _ = run(capsys, "init", "mine", "--out", str(target), "--force")
    assert code == 0 and "ruleset: mine\n" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["My-Rules", "1rules", "rules.yaml", "Rules", "", "with space"])
def test_init_bad_name(capsys, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "init", name)
    assert code == 2 and "lower case letters, digits and underscores" in err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------
# pre-commit hooks and the CI workflow

def test_pre_commit_hooks_are_commands_the_cli_accepts(capsys, monkeypatch):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {"assess-validate", "assess-test"} <= {h["id"] for h in hooks}
    monkeypatch.chdir(ROOT)
    all_files = sorted(p.relative_to(ROOT).as_posix() for p in RULESETS.rglob("*.y*ml"))
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        argv = shlex.split(hook["entry"])
        assert argv[0] == "assess"
        # pre-commit passes the staged files that match `files` and not `exclude`
        files = [f for f in all_files if re.search(hook["files"], f)
                 and not (hook.get("exclude") and re.search(hook["exclude"], f))]
        assert "rulesets/crm_assessment.yaml" in files
        args = parser().parse_args(argv[1:] + files)
        assert args.command in ("validate", "test")
        if args.command == "validate":
            assert not [f for f in files if f.endswith(".tests.yaml")]  # tests files are no rulesets
        code, out, _ = run(capsys, *argv[1:], *files)
        assert code == 0, (hook["id"], out)


def ci_commands() -> list[list[str]]:
    """Every `assess ...` command in the run steps of docs/ci.yml, ${{ }} replaced by main."""
    workflow = yaml.safe_load((ROOT / "docs" / "ci.yml").read_text(encoding="utf-8"))
    commands = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            script = re.sub(r"\$\{\{.*?\}\}", "main", step.get("run", ""))
            for line in script.splitlines():
                words = shlex.split(line)
                for i, word in enumerate(words):
                    if word == "assess":
                        end = next((j for j in range(i + 1, len(words))
                                    if words[j] in (">", ">>", "|", "||", "&&", ";")), len(words))
                        commands.append(words[i + 1:end])
    return commands


def test_ci_workflow_commands_parse():
    commands = ci_commands()
    assert {"validate", "test", "diff"} <= {c[0] for c in commands}
    for command in commands:
        try:
            args = parser().parse_args(command)
        except SystemExit:  # argparse's way of refusing
            pytest.fail(f"the CLI refuses `assess {' '.join(command)}`")
        assert args.command == command[0]
    (diff,) = [parser().parse_args(c) for c in commands if c[0] == "diff"]
    assert diff.git == "origin/main" and diff.format == "md"
    (validate,) = [parser().parse_args(c) for c in commands if c[0] == "validate"]
    assert validate.strict and validate.format == "github"


def test_ci_validate_and_test_steps_pass_here(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    for command in (c for c in ci_commands() if c[0] in ("validate", "test")):
        code, out, _ = run(capsys, *command)
        assert code == 0, (command, out)
