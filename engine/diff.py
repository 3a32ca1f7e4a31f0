"""`assess diff`: what a ruleset change does, in the rules and on the data.

The rules: every key added, removed or changed, anywhere in the ruleset. The data: both
versions run on the same tables, and every total, grade, KPI score and status, entity
rank and fired action that moves.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .render import score, show
from .result import Result
from .safe import markdown, printable

@dataclass
class Change:
    rules: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def rule_changes(base: Any, head: Any, path: str = "") -> list[str]:
    """Every difference between two rulesets as written, key by key: what was added,
    removed or changed anywhere (items of a list matched by their `id`). The test cases
    are left out; they do not change what the ruleset computes."""
    if isinstance(base, dict) and isinstance(head, dict):
        out = []
        for key in [*base, *(k for k in head if k not in base)]:
            if not path and key == "tests":
                continue
            where = f"{path}.{key}" if path else key
            if key not in head:
                out.append(f"`{where}` removed")
            elif key not in base:
                out.append(f"`{where}` added: {_short(head[key])}")
            else:
                out += rule_changes(base[key], head[key], where)
        return out
    if isinstance(base, list) and isinstance(head, list) and all(
            isinstance(x, dict) and "id" in x for x in base + head):
        return rule_changes({x["id"]: x for x in base}, {x["id"]: x for x in head}, path)
    return [] if base == head else [f"`{path}`: {_short(base)} -> {_short(head)}"]


def _value(kpi: Any) -> str:
    return show(kpi.value, kpi.unit, kpi.decimals)


def data_changes(base: Result, head: Result) -> list[str]:
    out = []
    if (base.score, base.grade) != (head.score, head.grade):
        out.append(f"total: {score(base.score)} ({base.grade}) -> {score(head.score)} ({head.grade})")
    old = {k.id: k for k in base.kpis}
    for k in head.kpis:
        b = old.get(k.id)
        if b is None:
            out.append(f"`{k.id}`: new, {_value(k)}, score {score(k.score)}, {k.status}")
        elif (score(b.score), b.status, _value(b)) != (score(k.score), k.status, _value(k)):
            out.append(f"`{k.id}`: {_value(b)} -> {_value(k)}, score "
                       f"{score(b.score)} -> {score(k.score)}, {b.status} -> {k.status}")
    entities = {e.id: e for e in base.entities}
    for e in head.entities:
        b = entities.get(e.id)
        if b and (b.rank, b.grade, score(b.score)) != (e.rank, e.grade, score(e.score)):
            out.append(f"{e.name}: rank {b.rank or '-'} -> {e.rank or '-'}, score {score(b.score)} -> "
                       f"{score(e.score)}, grade {b.grade} -> {e.grade}")
    fired = {(a.id, a.entity) for a in head.actions}
    before = {(a.id, a.entity) for a in base.actions}
    out += [f"action `{a}`{f' for {e}' if e else ''} now fires" for a, e in sorted(fired - before, key=str)]
    out += [f"action `{a}`{f' for {e}' if e else ''} no longer fires" for a, e in sorted(before - fired, key=str)]
    return out


def render_diff(name: str, change: Change, fmt: str) -> str:
    if fmt == "md":
        parts = [f"### `assess diff` {markdown(name)}", ""]
        parts += ["**Rules**", ""] + ([f"- {markdown(line, spans=True)}" for line in change.rules] or ["- no change"])
        parts += ["", "**On the data**", ""] + ([f"- {markdown(line, spans=True)}" for line in change.data] or ["- no change"])
        return "\n".join(parts) + "\n"
    parts = [f"rules of {printable(name)}:"] + [f"  {printable(line)}" for line in change.rules or ["no change"]]
    parts += ["on the data:"] + [f"  {printable(line)}" for line in change.data or ["no change"]]
    return "\n".join(parts) + "\n"


def diff(base: Path, head: Path, data: Path | None) -> Change:
    """Both versions validated, then run on ``data`` (each on its own sample data when
    none is given, which the change says when the two folders differ)."""
    from .load import load_file
    from .run import assess
    from .validate import load_ruleset

    load_ruleset(base), load_ruleset(head)  # both must be valid before anything is compared
    change = Change(rule_changes(load_file(base).data, load_file(head).data),
                    data_changes(assess(base, data), assess(head, data)))
    if data is None and base.parent.resolve() != head.parent.resolve():
        change.data.insert(0, "(each version ran on the sample data beside it)")
    return change


def added(head: Path, data: Path | None, ref: str) -> Change:
    """A ruleset that was not there at ``ref``: all of it is new."""
    from .run import assess

    result = assess(head, data)
    return Change([f"new ruleset: not in {ref}"],
                  [f"total: {score(result.score)} ({result.grade})"]
                  + [f"`{k.id}`: new, {_value(k)}, score {score(k.score)}, {k.status}"
                     for k in result.kpis])


def from_git(ref: str, head: Path) -> str | None:
    """The text of ``head`` as it was at ``ref``; None when it was not there (added since).
    A ref is never read as an option of git (`--output=FILE` would write a file): one
    starting with `-` is refused, and the options end before it."""
    import subprocess

    if ref.startswith("-"):
        raise ValueError(f"--git {ref}: a git ref does not start with `-`")

    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=head.parent, capture_output=True,
                         text=True)
    if top.returncode:
        raise ValueError(f"{head} is not in a git repository")
    path = head.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = subprocess.run(["git", "show", "--end-of-options", f"{ref}:{path}"], cwd=top.stdout.strip(),
                           capture_output=True, text=True)
    if shown.returncode:
        # a ref that exists without the file: the ruleset is new, not an error
        exists = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                                cwd=top.stdout.strip(), capture_output=True, text=True)
        if exists.returncode == 0:
            return None
        raise ValueError(f"git show {ref}:{path}: {shown.stderr.strip()}")
    return shown.stdout
