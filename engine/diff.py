"""`assess diff`: what a ruleset change does, in the rules and on the data.

The rules: KPIs, checks and actions added or removed, and every changed formula, target,
floor, weight, category or scoring. The data: both versions run on the same tables, and
every total, grade, KPI score and status, entity rank and fired action that moves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .model import Ruleset
from .render import score, show
from .result import Result

KPI_FIELDS = ("formula", "target", "floor", "weight", "category", "better", "unit", "benchmark")


@dataclass
class Change:
    rules: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)


def _kpi_field(ruleset: Ruleset, kpi: str, name: str) -> object:
    k = ruleset.kpis[kpi]
    return k.formula.text if name == "formula" else getattr(k, name)


def rule_changes(base: Ruleset, head: Ruleset) -> list[str]:
    out = []
    for kind, old, new in (("KPI", base.kpis, head.kpis), ("check", {c.id: c for c in base.checks},
                                                           {c.id: c for c in head.checks}),
                           ("action", {a.id: a for a in base.actions}, {a.id: a for a in head.actions})):
        out += [f"{kind} `{k}` added" for k in new if k not in old]
        out += [f"{kind} `{k}` removed" for k in old if k not in new]
    for kpi in (k for k in head.kpis if k in base.kpis):
        for name in KPI_FIELDS:
            before, after = _kpi_field(base, kpi, name), _kpi_field(head, kpi, name)
            if before != after:
                out.append(f"KPI `{kpi}`: {name} {before} -> {after}")
        if base.kpis[kpi].scoring != head.kpis[kpi].scoring:
            out.append(f"KPI `{kpi}`: scoring {base.kpis[kpi].scoring.method} -> {head.kpis[kpi].scoring.method}")
    for cat in (c for c in head.categories if c in base.categories):
        if base.categories[cat].weight != head.categories[cat].weight:
            out.append(f"category `{cat}`: weight {base.categories[cat].weight:g} -> {head.categories[cat].weight:g}")
    old_checks = {c.id: c for c in base.checks}
    for check in head.checks:
        before = old_checks.get(check.id)
        if before and (before.warn, before.fail, before.options) != (check.warn, check.fail, check.options):
            out.append(f"check `{check.id}`: rule settings changed")
    return out


def data_changes(base: Result, head: Result) -> list[str]:
    out = []
    if (base.score, base.grade) != (head.score, head.grade):
        out.append(f"total: {score(base.score)} ({base.grade}) -> {score(head.score)} ({head.grade})")
    old = {k.id: k for k in base.kpis}
    for k in head.kpis:
        b = old.get(k.id)
        if b is None:
            out.append(f"`{k.id}`: new, {show(k.value, k.unit)}, score {score(k.score)}, {k.status}")
        elif (score(b.score), b.status, show(b.value, b.unit)) != (score(k.score), k.status, show(k.value, k.unit)):
            out.append(f"`{k.id}`: {show(b.value, b.unit)} -> {show(k.value, k.unit)}, score "
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
        parts = [f"### `assess diff` {name}", ""]
        parts += ["**Rules**", ""] + ([f"- {line}" for line in change.rules] or ["- no change"])
        parts += ["", "**On the data**", ""] + ([f"- {line}" for line in change.data] or ["- no change"])
        return "\n".join(parts) + "\n"
    parts = [f"rules of {name}:"] + [f"  {line}" for line in change.rules or ["no change"]]
    parts += ["on the data:"] + [f"  {line}" for line in change.data or ["no change"]]
    return "\n".join(parts) + "\n"


def diff(base: Path, head: Path, data: Path | None) -> Change:
    """Both versions validated, then run on ``data`` (each on its own sample data when
    none is given)."""
    from .run import assess
    from .validate import load_ruleset

    rules = rule_changes(load_ruleset(base), load_ruleset(head))
    return Change(rules, data_changes(assess(base, data), assess(head, data)))


def from_git(ref: str, head: Path) -> str:
    """The text of ``head`` as it was at ``ref``."""
    import subprocess

    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=head.parent, capture_output=True,
                         text=True)
    if top.returncode:
        raise ValueError(f"{head} is not in a git repository")
    path = head.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=top.stdout.strip(),
                           capture_output=True, text=True)
    if shown.returncode:
        raise ValueError(f"git show {ref}:{path}: {shown.stderr.strip()}")
    return shown.stdout
