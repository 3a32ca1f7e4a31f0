"""`assess explain`: where a KPI's number comes from, step by step, with the values.

The lineage runs from the formula through the KPIs and measures it uses to their
sources, filters and params, each with its value on the data, so anyone can redo the
arithmetic by hand.
"""
from __future__ import annotations

from typing import Any

from .compile import Plan
from .execute import Executed, source_rows
from .model import Measure
from .render import score, show
from .result import Result


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1e4 else f"{value:,.6g}"
    return "n/a" if value is None else str(value)


def explain(plan: Plan, executed: Executed, result: Result, kpi_id: str, entity: str | None = None) -> str:
    ruleset = plan.ruleset
    card = result if entity is None else result.entity(entity)
    values = executed.values.row(0, named=True)
    if entity is not None:
        by = ruleset.by
        row = next(r for r in executed.entities.iter_rows(named=True)
                   if " / ".join(str(r[b]) for b in by) == entity)
        values = {**values, **row}
    lines: list[str] = []
    params_used: set[str] = set()
    sources_used: set[str] = set()

    def measure(m: Measure, depth: int) -> None:
        pad = "  " * depth
        what = "rows" if m.of is None else f"`{m.of.text}`"
        where = f" where `{m.where.text}`" if m.where else ""
        lines.append(f"{pad}{m.name} = {m.agg} of {what} in {m.source}{where} = {_number(values.get(m.name))}")
        if m.allocate:
            lines.append(f"{pad}  allocated to the entity by its share of `{m.allocate}`")
        elif m.shared:
            lines.append(f"{pad}  shared: every entity gets the overall value")
        sources_used.add(m.source)
        for e in (m.of, m.where):
            if e:
                params_used.update(e.names & set(plan.params))

    def kpi(name: str, depth: int) -> None:
        k = ruleset.kpis[name]
        k_result = next(x for x in card.kpis if x.id == name)
        pad = "  " * depth
        lines.append(f"{pad}{name} = {k.formula.text} = {show(k_result.value, k.unit, k_result.decimals)}"
                     + (f" ({_number(k_result.value)})" if k_result.value is not None else f": {k_result.reason}"))
        params_used.update(k.formula.names & set(plan.params))
        for ref in sorted(k.formula.names):
            if ref in ruleset.kpis:
                kpi(ref, depth + 1)
            elif ref in ruleset.measures:
                measure(ruleset.measures[ref], depth + 1)

    kpi(kpi_id, 0)
    k = ruleset.kpis[kpi_id]
    k_result = next(x for x in card.kpis if x.id == kpi_id)
    goal = ", ".join(f"{n} {show(getattr(k, n), k.unit, k_result.decimals)}" for n in ("target", "floor", "benchmark")
                     if getattr(k, n) is not None)
    lines.append(f"score: {k.scoring.method} ({k.better} is better{'; ' + goal if goal else ''}) = "
                 f"{score(k_result.score)}, status {k_result.status}, "
                 f"{k_result.share * 100:.1f}% of the total")
    for name in sorted(sources_used):
        source = ruleset.sources[name]
        origin = f"derived from {source.parent} by {', '.join(source.group_by)}" if source.parent \
            else str(executed.paths.get(name, source.path))
        where = f", where `{source.where.text}`" if source.where else ""
        lines.append(f"source {name}: {origin}{where}, {source_rows(executed, name)} rows")
    if params_used:
        lines.append("params: " + ", ".join(f"{p} = {plan.params[p]}" for p in sorted(params_used)))
    return "\n".join(lines) + "\n"
