"""What a run imports: the fixed cost of a run is mostly imports, so each library is
imported only by the step that needs it (read from `python -X importtime`, not timed)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

NO_ACTIONS = """\
ruleset: tiny
sources:
  t: {path: t.csv, columns: {id: string, x: float}}
measures:
  total: {source: t, sum: x}
kpis:
  x_total: {formula: total, target: 10, category: c}
categories:
  c: {}
"""


def imported(*args: str, cwd: Path = ROOT) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "engine", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    (tmp_path / "tiny.yaml").write_text(NO_ACTIONS)
    (tmp_path / "t.csv").write_text("id,x\na,4\nb,5\n")
    return tmp_path / "tiny.yaml"


def test_a_json_run_imports_no_rich(tiny, tmp_path):
    modules = imported("run", str(tiny), "--format", "json", "--out", str(tmp_path / "r.json"))
    assert "polars" in modules and (tmp_path / "r.json").exists()  # the run did run
    # the ruleset is valid: validate.conforms says so, jsonschema is only for the errors
    assert "rich" not in modules and "jsonschema" not in modules


def test_the_terminal_imports_rich_and_markdown_imports_jinja2(tiny, tmp_path):
    assert "rich" in imported("run", str(tiny), "--format", "table", "--out", str(tmp_path / "r.txt"))
    modules = imported("run", str(tiny), "--format", "md", "--out", str(tmp_path / "r.md"))
    assert "jinja2" in modules and "rich" not in modules


def test_validate_imports_no_polars():
    modules = imported("validate", "rulesets")
    assert "yaml" in modules and "polars" not in modules and "jsonschema" not in modules


def test_a_ruleset_with_errors_is_located_by_jsonschema(tmp_path):
    (tmp_path / "bad.yaml").write_text(NO_ACTIONS.replace("target: 10", "target: ten"))
    proc = subprocess.run([sys.executable, "-m", "engine", "validate", str(tmp_path / "bad.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "bad.yaml:7:37:" in proc.stdout + proc.stderr and "'ten' is not of type 'number'" in proc.stdout + proc.stderr
    assert "jsonschema" in imported("validate", str(tmp_path / "bad.yaml"))


def test_the_schema_validator_is_built_once():
    from engine.cases import _tests_schema
    from engine.validate import _validator, ruleset_schema

    assert _validator(ruleset_schema) is _validator(ruleset_schema)
    assert _validator(_tests_schema) is not _validator(ruleset_schema)
