"""The command line contracts: exit codes, located errors, formats, atomic output."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from engine.cli import main
from conftest import HAND, ROOT, RULESET

RESULT_SCHEMA = json.loads((ROOT / "schemas" / "result.schema.json").read_text())


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def copy_ruleset(tmp_path: Path, replace: tuple[str, str] | None = None) -> Path:
    text = RULESET.read_text(encoding="utf-8")
    if replace:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1], 1)
    target = tmp_path / "crm_assessment.yaml"
    target.write_text(text, encoding="utf-8")
    return target


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_validate_shipped_rulesets(capsys):
    code, out, err = run(capsys, "validate", str(ROOT / "rulesets"))
    assert code == 0, out
    assert "valid" in err


def test_validate_misspelt_measure_is_located_with_suggestion(capsys, tmp_path):
    bad = copy_ruleset(tmp_path, ("formula: retained / customers_at_start", "formula: retained / customer_at_start"))
    code, out, _ = run(capsys, "validate", str(bad))
    assert code == 1
    line = line_of(bad, "customer_at_start")
    column = bad.read_text(encoding="utf-8").splitlines()[line - 1].index("customer_at_start") + 1
    assert f"{bad}:{line}:{column}: error [unknown-name]" in out
    assert "did you mean `customers_at_start`?" in out


def test_validate_duplicate_key(capsys, tmp_path):
    bad = copy_ruleset(tmp_path, ("    target: 0.85\n", "    target: 0.85\n    target: 0.9\n"))
    code, out, _ = run(capsys, "validate", str(bad))
    assert code == 1
    assert f"{bad}:{line_of(bad, 'target: 0.9')}:5: error [duplicate-key]" in out


def test_validate_unknown_property(capsys, tmp_path):
    bad = copy_ruleset(tmp_path, ("    floor: 0.60\n", "    flor: 0.60\n"))
    code, out, _ = run(capsys, "validate", str(bad))
    assert code == 1
    assert f"{bad}:{line_of(bad, 'flor:')}:5: error [unknown-property]" in out
    assert "did you mean `floor`?" in out


def test_validate_reports_every_problem(capsys, tmp_path):
    bad = copy_ruleset(tmp_path, ("formula: retained / customers_at_start", "formula: retaind / customer_at_start"))
    code, out, _ = run(capsys, "validate", str(bad))
    assert code == 1 and "`retaind`" in out and "`customer_at_start`" in out


def test_validate_usage_errors(capsys, tmp_path):
    assert run(capsys, "validate", str(tmp_path / "nope.yaml"))[0] == 2
    assert run(capsys, "validate", str(tmp_path))[0] == 2  # a folder with no ruleset


def test_run_json_matches_result_schema(capsys):
    code, out, _ = run(capsys, "run", str(RULESET), "--format", "json")
    assert code == 0
    result = json.loads(out)
    jsonschema.validate(result, RESULT_SCHEMA)
    assert [k["id"] for k in result["kpis"]] == ["retention_rate", "conversion_rate", "csat", "nps", "complaint_rate"]
    assert all(k["score"] is not None for k in result["kpis"])


def test_run_json_on_the_hand_data_has_the_hand_total(capsys):
    # tests/test_engine.py derives it: categories 40/30/30 at 60, 100 and 100/9
    code, out, _ = run(capsys, "run", str(RULESET), "--data", str(HAND), "--format", "json")
    result = json.loads(out)
    # the hand data breaks two rules at level fail (an empty email, a case resolved before
    # it opened): exit code 1, the scorecard still written
    assert code == 1
    assert [c["id"] for c in result["checks"] if c["status"] == "fail"] == ["customer_email_present", "resolved_after_opened"]
    assert result["score"] == pytest.approx((2400 + 3000 + 30 * 100 / 9) / 100)
    assert result["grade"] == "E"  # 57.3 is below the D threshold of 60


def test_engine_polars_is_the_default_engine_by_its_name(capsys):
    # the JSON names the engine that ran "polars", so --engine takes that name too
    code, out, _ = run(capsys, "run", str(RULESET), "--data", str(HAND), "--format", "json", "--engine", "polars")
    result = json.loads(out)
    assert (code, result["engine"]) == (1, "polars")
    assert result["score"] == pytest.approx((2400 + 3000 + 30 * 100 / 9) / 100)


def test_run_exit_1_when_a_fail_level_check_fails(capsys):
    code, out, _ = run(capsys, "run", str(RULESET), "--data", str(HAND), "--format", "json")
    assert code == 1
    statuses = {c["id"]: c["status"] for c in json.loads(out)["checks"]}
    assert statuses["customer_email_present"] == "fail"


def test_run_missing_column_is_a_located_error(capsys, hand_data):
    path = hand_data / "surveys.csv"
    path.write_text(path.read_text().replace("csat", "csat_score", 1))
    code, out, err = run(capsys, "run", str(RULESET), "--data", str(hand_data))
    assert code == 2 and out == ""
    assert "source `surveys` has no column `csat`" in err
    assert f"{RULESET}:{line_of(RULESET, 'path: sample-data/surveys.csv')}:" in err
    assert "Traceback" not in err


def test_run_missing_file(capsys, hand_data):
    (hand_data / "leads.csv").unlink()
    code, _, err = run(capsys, "run", str(RULESET), "--data", str(hand_data))
    assert code == 2 and "source `leads`: no file" in err


def test_run_bad_type_names_the_source(capsys, hand_data):
    path = hand_data / "surveys.csv"
    path.write_text(path.read_text().replace("S1,C1,2025-01-10,10,5", "S1,C1,2025-01-10,ten,5"))
    code, _, err = run(capsys, "run", str(RULESET), "--data", str(hand_data))
    assert code == 2 and "surveys" in err and "Traceback" not in err


def test_run_param_override_and_unknown_param(capsys):
    code, out, _ = run(capsys, "run", str(RULESET), "--data", str(HAND), "--format", "json",
                       "--param", "period_start=2024-01-01", "--param", "period_end=2024-12-31")
    assert json.loads(out)["params"]["period_start"] == "2024-01-01"
    code, _, err = run(capsys, "run", str(RULESET), "--param", "period_stat=2024-01-01")
    assert code == 2 and "did you mean `period_start`?" in err
    code, _, err = run(capsys, "run", str(RULESET), "--param", "period_start=soon")
    assert code == 2 and "period_start" in err


@pytest.mark.parametrize("fmt,needle", [("md", "| Customer retention rate (`retention_rate`) |"),
                                        ("html", "<h1>CRM assessment</h1>"),
                                        ("table", "│ Customer retention rate ")])
def test_formats_written_atomically(capsys, tmp_path, fmt, needle):
    out = tmp_path / "reports" / f"report.{fmt}"
    code, stdout, _ = run(capsys, "run", str(RULESET), "--format", fmt, "--out", str(out))
    assert code == 0 and stdout == ""
    assert needle in out.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left


def test_chinese_report(capsys):
    code, out, _ = run(capsys, "run", str(RULESET), "--format", "md", "--lang", "zh")
    assert code == 0 and "# CRM 考核" in out and "客户留存率" in out and "得分" in out


def test_failed_run_keeps_the_previous_report(capsys, tmp_path, hand_data):
    out = tmp_path / "report.md"
    out.write_text("previous")
    (hand_data / "leads.csv").unlink()
    assert run(capsys, "run", str(RULESET), "--data", str(hand_data), "--out", str(out))[0] == 2
    assert out.read_text() == "previous"


def test_sample_data_command(capsys, tmp_path):
    code, _, err = run(capsys, "sample-data", "--out", str(tmp_path), "--customers", "50", "--seed", "3")
    assert code == 0 and "customers: 50 rows" in err
    assert (tmp_path / "interactions.csv").exists()


def test_reference_commands_come_from_docstrings(capsys):
    from engine import checks, functions
    code, out, _ = run(capsys, "functions")
    assert code == 0 and all(f"`{name}(" in out for name in functions.FUNCTIONS)
    code, out, _ = run(capsys, "rules")
    assert code == 0 and all(f"`{name}`" in out for name in checks.RULES)


def test_console_script_runs_without_traceback(tmp_path):
    exe = shutil.which("assess", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    assert exe, "the `assess` command is installed with the package"
    bad = copy_ruleset(tmp_path, ("ruleset: crm_assessment", "ruleset: crm_assessment\nruleset: again"))
    proc = subprocess.run([exe, "validate", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "duplicate-key" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize("fmt,needle", [("md", "| I5 | 2025-03-03 10:00:00 | 2025-03-02 10:00:00 |"),
                                        ("html", '<td data-label="interaction_id">I5</td>'
                                                 '<td data-label="opened_at">2025-03-03 10:00:00</td>')])
def test_reports_carry_failing_rows(capsys, fmt, needle):
    code, out, _ = run(capsys, "run", str(RULESET), "--data", str(HAND), "--format", fmt)
    assert code == 1 and needle in out


def test_entity_option(capsys):
    vendors = ROOT / "rulesets" / "vendor_scoring.yaml"
    code, out, _ = run(capsys, "run", str(vendors), "--entity", "V04", "--format", "json")
    result = json.loads(out)
    jsonschema.validate(result, RESULT_SCHEMA)
    assert [e["id"] for e in result["entities"]] == ["V04"]
    assert all(a["entity"] in (None, "V04") for a in result["actions"])
    code, out, _ = run(capsys, "run", str(vendors), "--entity", "Delta Contact Center")
    assert code == 0 and "Delta Contact Center (V04)" in out
    code, _, err = run(capsys, "run", str(vendors), "--entity", "V4")
    assert code == 2 and "no such entity" in err
    code, _, err = run(capsys, "run", str(RULESET), "--entity", "V04")
    assert code == 2 and "no entities" in err


@pytest.mark.parametrize("ruleset", ["vendor_scoring", "crm_department"])
def test_entity_rulesets_rank_every_entity(capsys, ruleset):
    code, out, _ = run(capsys, "run", str(ROOT / "rulesets" / f"{ruleset}.yaml"), "--format", "json")
    result = json.loads(out)
    jsonschema.validate(result, RESULT_SCHEMA)
    entities = result["entities"]
    assert len(entities) == (5 if ruleset == "vendor_scoring" else 12)
    ranks = [e["rank"] for e in entities]
    assert ranks == sorted(ranks) and ranks[0] == 1
    scores = [e["score"] for e in entities]
    assert scores == sorted(scores, reverse=True)
    assert all(len(e["kpis"]) == len(result["kpis"]) and e["grade"] for e in entities)


@pytest.mark.parametrize("ruleset", ["crm_assessment", "crm_department", "crm_strengths_weaknesses",
                                     "vendor_scoring", "data_census"])
def test_streaming_engine_gives_the_same_result(capsys, ruleset):
    path = ROOT / "rulesets" / f"{ruleset}.yaml"
    results = [json.loads(run(capsys, "run", str(path), "--format", "json", "--engine", engine)[1])
               for engine in ("auto", "streaming")]
    for r in results:
        r.pop("queries")  # how many queries ran differs by design
    assert results[0] == results[1]  # to the last digit: sums add up in sorted order

