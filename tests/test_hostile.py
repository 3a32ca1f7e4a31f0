"""Hostile rulesets are refused at validation, located, touching nothing. That the refusal is
bounded in time follows from refusing before anything is evaluated (sizes are checked on
the text and the tree), which the tests assert, rather than from a wall-clock limit."""
import os
from pathlib import Path

import pytest

from engine.cli import main

BASE = """\
ruleset: hostile
sources:
  t: {{path: t.csv, columns: {{a: int, b: string}}}}
measures:
  n: {{source: t, count: true}}
kpis:
  k: {{formula: "{formula}", target: 1, category: c}}
categories: {{c: {{}}}}
actions:
  - {{id: x, when: "k.score < 50", text: "{text}"}}
"""


def ruleset(tmp_path: Path, formula: str = "n", text: str = "ok", extra: str = "") -> Path:
    (tmp_path / "t.csv").write_text("a,b\n1,x\n")
    path = tmp_path / "r.yaml"
    path.write_text(BASE.format(formula=formula.replace('"', '\\"'), text=text.replace('"', '\\"')) + extra)
    return path


def refused(capsys, path: Path, rule: str) -> str:
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"[{rule}]" in out and f"{path}:" in out, out
    return out


@pytest.mark.parametrize("formula", [
    "n.__class__", "().__class__.__bases__", "n.__globals__", "getattr(n, 'x')", "eval('1')",
    "open('/etc/passwd')", "__import__('os')", "(lambda: 1)()", "[x for x in n]", "n[0]",
    "{n: 1}", "f'{n}'",
])
def test_formulas_reaching_for_python_are_refused(tmp_path, capsys, formula):
    assert main(["validate", str(ruleset(tmp_path, formula))]) == 1
    out = capsys.readouterr().out
    assert "r.yaml:7:" in out  # the formula's line
    assert any(r in out for r in ("[expression-forbidden]", "[unknown-function]", "[expression-syntax]"))


@pytest.mark.parametrize("formula,why", [
    ("9**9**9", "too large"), ("2.0 ** 5000", "too large"), ("'a' * 10**9", "text"),
    ("-" * 60 + "n", "nested"),
    ("n" + " + n" * 700, "longer than"),
])
def test_bombs_are_refused_before_anything_is_computed(tmp_path, capsys, formula, why):
    path = ruleset(tmp_path, formula)
    assert main(["run", str(path)]) == 2
    assert why in capsys.readouterr().err
    # refused by validate, which reads no data and evaluates nothing: so never computed
    assert main(["validate", str(path)]) == 1
    assert why in capsys.readouterr().out


@pytest.mark.parametrize("text", [
    "{{ ''.__class__ }}", "{{ k.__class__.__mro__ }}", "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{{ lipsum() }}", "{{ 'a' * 1000000000 }}", "{% include '/etc/passwd' %}", "{% set x = 1 %}",
])
def test_template_injection_is_refused(tmp_path, capsys, text):
    out = refused(capsys, ruleset(tmp_path, text=text), "template")
    assert "r.yaml:" in out


def test_yaml_tags_and_alias_bombs(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("ruleset: !!python/object/apply:os.system ['touch pwned']\n")
    refused(capsys, path, "yaml-tag")
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + \
        [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path.write_text("\n".join(lines) + "\n")
    refused(capsys, path, "yaml-too-large")


@pytest.mark.parametrize("where", ["../../etc/passwd", "/etc/passwd", "link/passwd"])
def test_paths_outside_the_data_roots(tmp_path, capsys, where):
    (tmp_path / "rules").mkdir()
    os.symlink("/etc", tmp_path / "rules" / "link")
    path = tmp_path / "rules" / "r.yaml"
    path.write_text(BASE.format(formula="n", text="ok").replace("path: t.csv", f"path: {where}"))
    refused(capsys, path, "path-outside")
    assert main(["run", str(path)]) == 2


def test_allow_path_adds_a_root(tmp_path, capsys):
    data = tmp_path / "shared"
    data.mkdir()
    (data / "t.csv").write_text("a,b\n1,x\n2,y\n")
    (tmp_path / "rules").mkdir()
    path = tmp_path / "rules" / "r.yaml"
    path.write_text(BASE.format(formula="n", text="ok").replace("path: t.csv", "path: ../shared/t.csv"))
    assert main(["validate", str(path)]) == 1
    capsys.readouterr()
    assert main(["validate", str(path), "--allow-path", str(data)]) == 0
    assert main(["run", str(path), "--allow-path", str(data), "--format", "json"]) == 0
    assert '"value": 2.0' in capsys.readouterr().out  # both rows of the allowed file


def test_nothing_outside_the_output_file_is_touched(tmp_path, capsys):
    path = ruleset(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "report.md"
    assert main(["run", str(path), "--format", "md", "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["report.md"])
