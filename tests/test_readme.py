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


def rulesets() -> list[str]:
    return [b for b in blocks("yaml") if re.search(r"^ruleset: ", b, flags=re.M)]


def excerpts() -> list[str]:
    return [b for b in blocks("yaml") if b.startswith("# excerpt of ")]


def assess_lines() -> list[tuple[str, int]]:
    """Every `assess` command of the README with the exit code it states (`# exits N`)."""
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            command, _, comment = line.partition("  #")
            if command.strip().startswith("assess "):
                code = re.search(r"exits (\d)", comment)
                lines.append((command.strip(), int(code.group(1)) if code else 0))
    return lines


@pytest.fixture(scope="module")
def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the rulesets folder with the README's YAML examples saved into it; the
    README's commands run in it one after the other, as a reader would type them."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "rulesets", folder / "rulesets")
    for block in rulesets():
        name = re.search(r"^ruleset: (\w+)", block, flags=re.M).group(1)
        (folder / "rulesets" / f"{name}.yaml").write_text(block, encoding="utf-8")
    return folder


@pytest.fixture
def workspace(shared_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(shared_folder)
    return shared_folder


def test_the_two_first_commands():
    setup, tests = blocks("bash")[:2]
    assert "pip install" in setup and "assess run rulesets/crm_assessment.yaml" in setup
    assert README.index(setup) < README.index(tests) < README.index("## What you get")
    command = tests.strip()
    assert command in (ROOT / ".ci" / "run").read_text(), "CI runs the README's test command"


@pytest.mark.parametrize("line,code", assess_lines())
def test_readme_command(workspace: Path, line: str, code: int, capsys):
    args = shlex.split(line)[1:]
    assert main(args) == code, capsys.readouterr()
    printed = capsys.readouterr()
    said_it(args, printed.out, printed.err, workspace, capsys)


FILE_STARTS = {".json": b"{", ".html": b"<!doctype html", ".md": b"# ", ".xlsx": b"pk\x03\x04", ".xml": b"<?xml",
               ".parquet": b"par1", ".csv": b"id,"}  # lower case


def said_it(args: list[str], out: str, err: str, workspace: Path, capsys) -> None:
    """What a README command prints or writes, beyond its exit code: a run's total and
    grade as the same run's JSON gives them, the file it writes, each other command's
    verdict."""
    import json

    command, options = args[0], dict(zip(args, args[1:]))
    if command == "run":
        if "--out" in options:
            written = workspace / options["--out"]
            assert written.read_bytes().lower().startswith(FILE_STARTS[written.suffix]), written
        if "--out" not in options or options.get("--format") == "json":
            same = [a for i, a in enumerate(args) if a not in ("--out", "--format", "--lang", "--history")
                    and args[i - 1] not in ("--out", "--format", "--lang", "--history")]
            main([*same, "--format", "json"])
            result = json.loads(capsys.readouterr().out)
            shown = out if "--out" not in options else json.dumps(json.loads(written.read_text(encoding="utf-8")))
            if "--out" in options:
                assert json.loads(shown)["score"] == result["score"]
            else:  # with --entity, the header is the entity's
                card = result["entities"][0] if "--entity" in options else result
                assert f"{card['score']:.1f}" in out and card["grade"] in out
        if "--entity" in options:
            assert f"({options['--entity']})" in out
        if "--history" in options:
            assert any((workspace / options["--history"]).iterdir())
    elif command == "validate":
        target = workspace / args[1]
        count = 1 if target.is_file() else \
            len([p for p in target.glob("*.yaml") if not p.name.endswith(".tests.yaml")])
        assert (out + err).startswith(f"{count} of {count} ruleset(s) valid") or "--format" in options
    elif command == "test":
        assert (out + err).rstrip().endswith(" passed, 0 failed")
    elif command == "explain":
        assert out.startswith(f"{args[2]} = ")
    elif command == "diff":
        assert out.count("- no change") == 2  # a ruleset against itself: no rule, no number changed
    elif command == "history":
        assert "crm_department" in out


def test_every_yaml_block_is_a_ruleset_or_an_excerpt():
    assert len(rulesets()) + len(excerpts()) == len(blocks("yaml"))


def contained(part, whole) -> bool:
    """Every key of ``part`` is in ``whole`` with the same value; a list's items each
    stand for one item of the whole's list."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and contained(v, whole[k]) for k, v in part.items())
    if isinstance(part, list):
        return isinstance(whole, list) and all(any(contained(p, w) for w in whole) for p in part)
    return part == whole


@pytest.mark.parametrize("block", excerpts())
def test_readme_excerpts_are_true_to_their_ruleset(block):
    import yaml
    source = ROOT / block.splitlines()[0].removeprefix("# excerpt of ").strip()
    assert contained(yaml.safe_load(block), yaml.safe_load(source.read_text(encoding="utf-8")))


def test_readme_yaml_examples_are_used_by_a_command():
    names = [re.search(r"^ruleset: (\w+)", b, flags=re.M).group(1) for b in rulesets()]
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
    original = path.read_text(encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "retained / customers_at_start", "retained / customer_at_start"), encoding="utf-8")
    try:
        assert main(["validate", str(path)]) == 1
        assert capsys.readouterr().out.strip() == example
    finally:
        path.write_text(original, encoding="utf-8")


@pytest.mark.parametrize("marker", ["commands", "functions", "rules", "scoring"])
def test_generated_references_are_current(marker):
    """`assess docs` regenerates these sections; run it after changing a docstring."""
    from engine.cli import references
    section = README.split(f"<!-- {marker}:start -->\n")[1].split(f"\n<!-- {marker}:end -->")[0]
    assert section == references()[marker]
