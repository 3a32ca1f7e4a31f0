"""Every command and YAML example in the README runs, so the docs cannot rot."""
import re
import shlex
import shutil
from pathlib import Path

import pytest

from engine.cli import main
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def assess_lines() -> list[str]:
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("assess "):
                lines.append(line)
    return lines


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the rulesets folder with the README's YAML examples saved into it."""
    shutil.copytree(ROOT / "rulesets", tmp_path / "rulesets")
    for block in blocks("yaml"):
        name = re.search(r"^ruleset: (\w+)", block, flags=re.M).group(1)
        (tmp_path / "rulesets" / f"{name}.yaml").write_text(block, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_two_first_commands():
    setup, tests = blocks("bash")[:2]
    assert "pip install" in setup and "assess run rulesets/crm_assessment.yaml" in setup
    assert README.index(setup) < README.index(tests) < README.index("## What you get")
    command = tests.strip()
    assert command in (ROOT / ".ci" / "run").read_text(), "CI runs the README's test command"


@pytest.mark.parametrize("line", assess_lines())
def test_readme_command(workspace: Path, line: str, capsys):
    assert main(shlex.split(line)[1:]) == 0, capsys.readouterr()


def test_readme_yaml_examples_are_used_by_a_command():
    names = [re.search(r"^ruleset: (\w+)", b, flags=re.M).group(1) for b in blocks("yaml")]
    assert names
    for name in names:
        assert f"assess run rulesets/{name}.yaml" in README


def test_readme_yaml_example_runs(workspace: Path, capsys):
    import json
    assert main(["run", "rulesets/orders_2025.yaml", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [k["id"] for k in result["kpis"]] == ["revenue_per_buyer", "big_order_share"]
    assert result["score"] is not None


def test_readme_error_example_is_what_validate_prints(workspace: Path, capsys):
    example = blocks("text")[0].strip()
    path = Path("rulesets/crm_assessment.yaml")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "retained / customers_at_start", "retained / customer_at_start"), encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.strip() == example


@pytest.mark.parametrize("marker", ["functions", "rules", "scoring"])
def test_generated_references_are_current(marker):
    """`assess docs` regenerates these sections; run it after changing a docstring."""
    from engine.cli import references
    section = README.split(f"<!-- {marker}:start -->\n")[1].split(f"\n<!-- {marker}:end -->")[0]
    assert section == references()[marker]
