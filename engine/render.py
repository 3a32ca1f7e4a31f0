"""Stage 7, render: the result model -> terminal table, Markdown, HTML or JSON.

Markdown and HTML come from Jinja2 templates in templates/; JSON is the model itself;
the terminal table is drawn by rich. Nothing here computes: every number is in the model.
"""
from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING, Any

from . import charts, resource
from .result import Result, to_json
from .safe import finalize_markdown, finalize_xml, markdown, terminal

if TYPE_CHECKING:
    import jinja2
    import polars as pl

FORMATS = ("table", "md", "html", "json", "junit", "xlsx", "parquet", "csv")
TABLES = ("parquet", "csv")  # formats that write the entity table, one row per entity
STATUS_STYLE = {"met": "green", "near": "yellow", "missed": "red", "n/a": "dim", "tracked": "blue",
                "pass": "green", "warn": "yellow", "fail": "red"}


def show(value: float | None, unit: str = "ratio", digits: int | None = None) -> str:
    """A KPI value as people read it in its unit; ``digits`` changes the decimals of a
    percentage (the ``percent`` filter of action texts)."""
    if value is None:
        return "n/a"
    if unit == "percent":
        return f"{value * 100:.{1 if digits is None else digits}f}%"
    if unit == "currency":
        return f"{value:,.2f}"
    if unit in ("count", "points"):  # whole numbers stay whole; 1.87 incidents a month does not
        return grouped(value)
    if unit in ("hours", "days"):
        return f"{value:,.1f} {unit[0]}"
    return f"{value:.3f}"


def grouped(value: float, digits: int = 2) -> str:
    """1234.5 -> '1,234.5': thousands grouped, at most ``digits`` decimals, no trailing zeros."""
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"


def excel_format(unit: str) -> str:
    """The spreadsheet number format of a unit, the decimals :func:`show` writes."""
    return {"percent": "0.0%", "currency": "#,##0.00", "count": "#,##0.##", "points": "#,##0.##",
            "hours": '#,##0.0 "h"', "days": '#,##0.0 "d"'}.get(unit, "0.000")


def change(kpi: Any) -> str:
    """The change from the previous period: absolute in the KPI's unit, and relative."""
    if kpi.change is None:
        return "n/a"
    sign = "+" if kpi.change >= 0 else "-"
    # a change of a percentage is in points: 84% -> 82% is -2 pp, not -2%
    text = sign + (f"{abs(kpi.change) * 100:.1f} pp" if kpi.unit == "percent" else show(abs(kpi.change), kpi.unit))
    return text + (f" ({kpi.change_pct * 100:+.1f}%)" if kpi.change_pct is not None else "")


def since_last(kpi: Any) -> str:
    """The change of the value since the previous run, in the KPI's unit."""
    if kpi.since_last is None:
        return "n/a"
    if kpi.unit == "percent":
        return f"{kpi.since_last * 100:+.1f} pp"
    return ("+" if kpi.since_last >= 0 else "-") + show(abs(kpi.since_last), kpi.unit)


def plain(value: Any) -> str:
    """A cell value: empty for null, numbers without float noise."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # nan, inf: shown as they are
        return grouped(value)
    return str(value)


def key(value: Any) -> str:
    """A key value of a `references` finding: a composite key as its parts, a / b."""
    return " / ".join(plain(v) for v in value.values()) if isinstance(value, dict) else plain(value)


def score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _environment(fmt: str) -> jinja2.Environment:
    """Every value a template prints is escaped for its format unless made safe: HTML and
    XML by autoescape (control characters shown first), Markdown by :func:`markdown`."""
    import jinja2  # only when a template is rendered: it costs a run that writes JSON or a table

    md = fmt == "md"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(resource("templates")),
                             autoescape=md or jinja2.select_autoescape(["html", "html.j2", "xml.j2"]),
                             finalize=finalize_markdown if md else finalize_xml,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.globals.update(radar=lambda categories: charts.radar([(c.title, c.score) for c in categories]),
                       kpi_bar=charts.kpi_bar, sparkline=charts.sparkline, colour=charts.COLOURS)
    env.filters.update(show=show, score=score, change=change, since_last=since_last,
                       fields=lambda row: ", ".join(f"{k}={plain(v)}" for k, v in row.items()), plain=plain, key=key,
                       cell=markdown)
    return env


def entity_rows(result: Result) -> pl.DataFrame:
    """The entity table as written by --format parquet and csv: one row per entity, best
    first: id, name, rank, score, grade, then every KPI's value and score (`id`,
    `id.score`) and the entity actions that fire for it."""
    import polars as pl

    from .recommend import FIRES

    table = result.table
    return table.select(
        pl.col(".id").alias("id"), pl.col(".name").alias("name"), pl.col(".rank").alias("rank"),
        pl.col(".score").alias("score"), pl.col(".grade").alias("grade"),
        *(c for k in result.kpis for c in (pl.col(k.id).cast(pl.Float64).fill_nan(None), pl.col(f"{k.id}.score"))),
        pl.concat_str([pl.when(pl.col(c)).then(pl.lit(c[len(FIRES):])) for c in table.columns if c.startswith(FIRES)]
                      or [pl.lit("")], separator=", ", ignore_nulls=True).alias("actions"))


def _entities_json(result: Result) -> pl.DataFrame:
    """Every entity of the table as the JSON result writes it (see EntityResult), built
    as columns so Polars' own writer can serialise a million of them."""
    import polars as pl

    from .score import profile_lists

    def kpi(k: Any) -> pl.Expr:
        def number(v: Any) -> pl.Expr:
            return pl.lit(v, pl.Float64)
        value = pl.col(k.id).cast(pl.Float64).fill_nan(None)
        previous = pl.col(f"{k.id}@previous") if f"{k.id}@previous" in result.table.columns else number(None)
        change = value - previous
        trend = [pl.struct(period=pl.lit(t["period"]), value=pl.col(f"{k.id}@{t['period']}").cast(pl.Float64),
                           score=pl.col(f"{k.id}@{t['period']}.score")) for t in k.trend]
        return pl.struct(  # the fields of KpiResult, in its order
            id=pl.lit(k.id), title=pl.lit(k.title), value=value, target=number(k.target), floor=number(k.floor),
            benchmark=number(k.benchmark), score=pl.col(f"{k.id}.score"), weight=number(k.weight),
            share=pl.col(f"{k.id}.share"), status=pl.col(f"{k.id}.status"), category=pl.lit(k.category),
            unit=pl.lit(k.unit), better=pl.lit(k.better), formula=pl.lit(k.formula),
            reason=pl.col(f"{k.id}.reason"), gain=pl.col(f"{k.id}.gain"), previous=previous, change=change,
            change_pct=pl.when(previous != 0).then(change / previous.abs()),
            improved=pl.when(change != 0).then((change > 0) == (k.better == "higher")),
            trend=pl.concat_list(trend) if trend else pl.lit([], pl.List(pl.Struct({"period": pl.String}))),
            since_last=number(None), unreliable=pl.lit(k.unreliable, pl.List(pl.String)))

    def category(c: Any) -> pl.Expr:
        return pl.struct(id=pl.lit(c.id), title=pl.lit(c.title), score=pl.col(f"{c.id}.score"),
                         weight=pl.lit(c.weight, pl.Float64), share=pl.col(f"{c.id}.share"),
                         rollup=pl.lit(c.rollup), kpis=pl.lit(c.kpis, pl.List(pl.String)))

    labels = {g["grade"]: g["label"] for g in result.population["grades"]} if result.population else {}
    # the notes a scorecard gives on redistributed weight (see run._card)
    notes = [pl.when(pl.col(f"{k.id}.score").is_null()).then(
        pl.lit(f"`{k.id}` is n/a (") + pl.col(f"{k.id}.reason")
        + pl.lit(f"); its weight is shared by the other KPIs of `{k.category}`")) for k in result.kpis if k.weight > 0]
    notes += [pl.when(pl.col(f"{c.id}.score").is_null()).then(
        pl.lit(f"category `{c.id}` has no scored KPI; its weight is shared by the others"))
        for c in result.categories if c.weight > 0]
    table = profile_lists(result.table, [k.id for k in result.kpis], [c.id for c in result.categories])
    return table.select(
        pl.col(".id").alias("id"), pl.col(".name").alias("name"), pl.col(".rank").alias("rank"),
        pl.col(".score").alias("score"), pl.col(".grade").alias("grade"),
        pl.col(".grade").replace_strict(labels, default="", return_dtype=pl.String).alias("grade_label"),
        pl.concat_list(kpi(k) for k in result.kpis).alias("kpis"),
        pl.concat_list(category(c) for c in result.categories).alias("categories") if result.categories
        else pl.lit([]).alias("categories"),
        pl.col(".strengths").alias("strengths"), pl.col(".weaknesses").alias("weaknesses"),
        (pl.concat_list(notes).list.drop_nulls() if notes else pl.lit([], pl.List(pl.String))).alias("notes"),
        pl.col(".unranked").alias("unranked"), pl.lit(None, pl.Float64).alias("since_last"))


def _json(result: Result) -> str:
    """The whole result; with more entities than it keeps as cards, the entities come
    from the table and are written by Polars (Rust), not json.dumps: 1M entities in
    seconds rather than minutes."""
    if result.population is None:
        return json.dumps(to_json(result), ensure_ascii=False, indent=2) + "\n"
    doc = to_json(result)
    doc["entities"] = "\0entities\0"
    head, tail = json.dumps(doc, ensure_ascii=False, indent=2).split('"\\u0000entities\\u0000"')
    return head + _entities_json(result).write_json() + tail + "\n"


def render(result: Result, fmt: str, color: bool = False) -> str | bytes:
    if fmt == "xlsx":
        from .workbook import workbook
        return workbook(result)
    if fmt == "json":
        return _json(result)
    if fmt == "parquet":
        out = io.BytesIO()
        entity_rows(result).write_parquet(out)
        return out.getvalue()
    if fmt == "csv":
        return entity_rows(result).write_csv()
    if fmt in ("md", "html", "junit"):
        name = "junit.xml.j2" if fmt == "junit" else f"scorecard.{fmt}.j2"
        template = _environment(fmt).get_template(name)
        titles = {k.id: k.title for k in result.kpis} | {c.id: c.title for c in result.categories}
        return template.render(r=result, labels=labels(result.lang), titles=titles)
    return _table(result, color)


def _table(result: Result, color: bool) -> str:
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(file=out, force_terminal=color, no_color=not color, width=120,
                      highlight=False)

    t = terminal  # every text from the data or the ruleset: shown as written, never as markup

    def kpi_table(kpis: list[Any]) -> Table:
        compare = any(k.previous is not None for k in kpis)
        table = Table(header_style="bold")
        for name, justify in (("KPI", "left"), ("value", "right"), ("target", "right"),
                              ("score", "right"), ("weight", "right"), ("status", "left"),
                              *((("change", "right"),) if compare else ()), ("category", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for k in kpis:
            style = STATUS_STYLE.get(k.status, "")
            table.add_row(f"{t(k.title)} [dim]({t(k.id)})[/dim]", show(k.value, k.unit),
                          show(k.target, k.unit), score(k.score), f"{k.share * 100:.0f}%",
                          f"[{style}]{t(k.status)}[/{style}]", *((change(k),) if compare else ()),
                          t(k.category))
        return table

    since = "" if result.since_last is None else f" ({result.since_last:+.1f} since last run)"
    console.print(f"[bold]{t(result.title)}[/bold] ({t(result.ruleset)}) score "
                  f"[bold]{score(result.score)}[/bold] grade [bold]{t(result.grade)}[/bold] "
                  f"{t(result.grade_label)}{since}")
    single = len(result.entities) == 1  # one entity asked for: its card instead of the whole
    if not single:
        console.print(kpi_table(result.kpis))
        console.print("Categories: " + "  ".join(f"{t(c.title)} {score(c.score)}" for c in result.categories))
    if result.population:
        p = result.population
        most = max(h["count"] for h in p["histogram"]) or 1
        console.print(f"[bold]{p['entities']:,} entities[/bold] by grade: "
                      + "  ".join(f"{t(g['grade'])} {g['count']:,}" for g in p["grades"]))
        for h in p["histogram"]:
            console.print(f"  {h['from']:>3}-{h['to']:<3} {h['count']:>10,} " + "█" * (h["count"] * 50 // most))
        if p["actions"]:
            console.print("Entity actions: " + "  ".join(f"{a['id']} {a['count']:,}" for a in p["actions"]))
        console.print(f"[dim]the ranking shows the top and bottom {p['shown'] // 2}[/dim]")
    if result.entities:
        ranking = Table(title=f"Ranking by {t(', '.join(result.by))}", header_style="bold")
        for name in ("rank", "entity", "score", "grade", "weakest KPIs"):
            ranking.add_column(name, justify="right" if name in ("rank", "score") else "left")
        for e in result.entities:
            ranking.add_row(str(e.rank or "-"), t(e.name) if e.name == e.id else f"{t(e.name)} [dim]({t(e.id)})[/dim]",
                            score(e.score), t(e.grade), t(e.unranked or ", ".join(e.weaknesses)))
        console.print(ranking)
        if single:
            console.print(kpi_table(result.entities[0].kpis))
    for c in result.checks:
        style = STATUS_STYLE.get(c.status, "")
        ratio = "n/a" if c.ratio is None else f"{c.ratio * 100:.2f}%"
        limits = "; ".join(f"{level} if {rule}" for level, rule in (("fail", c.fail), ("warn", c.warn)) if rule) \
            or "fail if any row fails"  # beside the result, so pass and fail make sense
        console.print(f"  check [{style}]{t(c.status):4}[/{style}] {t(c.id)}: {c.failed} of {c.rows} rows fail "
                      f"({ratio} pass; {t(limits)})")
        if c.distinct_failed:
            top = ", ".join(f"{key(v['value'])} ({v['rows']:,})" for v in c.top_failed_values[:5])
            console.print(f"    {c.distinct_failed:,} distinct failing keys, {c.failed:,} rows: {t(top)}")
    for a in result.actions:
        gain = "" if a.gain is None else f" (+{a.gain:.1f} points)"
        who = f" \\[{t(a.entity)}]" if a.entity else ""
        console.print(f"  [bold]{t(a.priority)}[/bold] {t(a.id)}{who}{gain}: {t(a.text)}")
    for note in result.notes:
        console.print(f"  [dim]note: {t(note)}[/dim]")
    return out.getvalue()


LABELS: dict[str, dict[str, str]] = {
    "en": {"rows_unit": "rows",
           "sheet_scorecard": "Scorecard",
           "overview": "Overview", "period": "period", "vs_benchmark": "vs benchmark",
           "met": "met", "near": "near", "missed": "missed", "n/a": "n/a", "pass": "pass", "warn": "warn",
           "fail": "fail", "high": "high", "medium": "medium", "low": "low", "action": "Action",
           "fix": "Improvement", "how": "How this was computed", "of": "of", "where": "where",
           "allocated_by": "allocated by", "derived": "derived from",
           "breakdowns": "Breakdowns", "by": "by", "group": "Group", "other_checks": "Other rules",
           "unreliable": "unreliable, requires", "writes_all": "writes every failing row",
           "previous": "Previous", "change": "Change", "ranking": "Ranking",
           "entity": "Entity", "rank": "Rank", "trend": "Trend", "since_last": "Since last run",
           "score": "Score", "grade": "Grade", "distribution": "Scores of every entity",
           "count": "Count", "shown": "the ranking below shows the top and bottom, %d of them", "kpis": "KPIs", "kpi": "KPI", "value": "Value",
           "target": "Target", "floor": "Floor", "benchmark": "Benchmark", "weight": "Share",
           "status": "Status", "category": "Category", "categories": "Categories",
           "checks": "Data quality", "check": "Rule", "rows": "Rows", "failed": "Failing",
           "pass_ratio": "Passing", "actions": "Recommendations", "priority": "Priority",
           "owner": "Owner", "gain": "Gain", "notes": "Notes", "strengths": "Strengths",
           "weaknesses": "Weaknesses", "sources": "Sources", "params": "Parameters",
           "formula": "Formula", "samples": "Failing rows (sample)", "source": "Source",
           "distinct_failed": "distinct failing keys", "key": "Key", "tracked": "tracked"},
    "zh": {"rows_unit": "行",
           "sheet_scorecard": "计分卡",
           "overview": "总览", "period": "期间", "vs_benchmark": "相对基准",
           "met": "达标", "near": "接近", "missed": "未达标", "n/a": "无数据", "pass": "通过", "warn": "警告",
           "fail": "不通过", "high": "高", "medium": "中", "low": "低", "action": "措施",
           "fix": "改进措施", "how": "计算说明", "of": "", "where": "条件",
           "allocated_by": "分摊依据", "derived": "派生自",
           "breakdowns": "分组统计", "by": "按", "group": "分组", "other_checks": "其他规则",
           "unreliable": "不可靠，依赖", "writes_all": "可导出全部不合格记录",
           "previous": "上期", "change": "变化", "ranking": "排名",
           "entity": "对象", "rank": "名次", "trend": "趋势", "since_last": "较上次运行",
           "score": "得分", "grade": "等级", "distribution": "全部对象得分分布",
           "count": "数量", "shown": "下方排名只列出最前与最后的 %d 个", "kpis": "指标", "kpi": "指标", "value": "实际值",
           "target": "目标", "floor": "底线", "benchmark": "基准", "weight": "权重",
           "status": "状态", "category": "类别", "categories": "类别得分",
           "checks": "数据质量", "check": "规则", "rows": "行数", "failed": "不合格",
           "pass_ratio": "合格率", "actions": "改进建议", "priority": "优先级",
           "owner": "负责方", "gain": "可提升", "notes": "说明", "strengths": "优势",
           "weaknesses": "劣势", "sources": "数据源", "params": "参数",
           "formula": "公式", "samples": "不合格记录（样例）", "source": "数据源",
           "distinct_failed": "个不同的不合格键值", "key": "键值", "tracked": "跟踪"},
}


def labels(lang: str) -> dict[str, Any]:
    return LABELS.get(lang, LABELS["en"])
