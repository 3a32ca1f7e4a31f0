"""Stage 7, render: the result model -> terminal table, Markdown, HTML or JSON.

Markdown and HTML come from Jinja2 templates in templates/; JSON is the model itself;
the terminal table is drawn by rich. Nothing here computes: every number is in the model.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import math
import os
import shutil
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from . import charts, resource
from .labels import ICONS, LABELS, labels, reason  # noqa: F401 (LABELS: the catalogue, re-exported)
from .model import UNIT_DECIMALS
from .result import CategoryResult, KpiResult, Result, to_json
from .safe import finalize_markdown, finalize_xml, markdown, printable, terminal

if TYPE_CHECKING:
    import jinja2
    import polars as pl

FORMATS = ("table", "md", "html", "json", "junit", "xlsx", "parquet", "csv")
TABLES = ("parquet", "csv")  # formats that write the entity table, one row per entity
STATUS_STYLE = {"met": "green", "near": "yellow", "missed": "red", "n/a": "dim", "tracked": "blue",
                "pass": "green", "warn": "yellow", "fail": "red"}


def _number(value: float, places: int | None) -> str:
    """A number with thousands separators; ``places`` None: whole numbers whole, else two
    decimals (1.87 incidents a month). Never ``-0.0``: a sign on zero says nothing."""
    if places is not None:
        text = f"{value:,.{places}f}"
    else:
        text = f"{value:,.2f}".removesuffix(".00")  # 1.001 is 1, not 1.00
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def show(value: float | None, unit: str = "ratio", decimals: int | None = None) -> str:
    """A KPI value as people read it in its unit, with the KPI's decimals (default: the
    unit's, model.UNIT_DECIMALS). Every format shows values through here."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    places = decimals if decimals is not None else UNIT_DECIMALS.get(unit)
    if unit == "percent":
        return _number(value * 100, places) + "%"
    if unit in ("hours", "days"):
        return f"{_number(value, places)} {unit[0]}"
    return _number(value, places)


def _signed(value: float, unit: str, decimals: int | None, percent: str) -> str:
    """A difference in the KPI's unit: a percentage's in points (84% -> 82% is -2.0 pp,
    not -2%); ``±`` when it rounds to zero."""
    text = _number(abs(value) * 100, decimals) + f" {percent}" if unit == "percent" \
        else show(abs(value), unit, decimals)
    return ("±" if not text.strip("0.,% phd") else "+" if value > 0 else "-") + text


def grouped(value: float, digits: int = 2) -> str:
    """1234.5 -> '1,234.5': thousands grouped, at most ``digits`` decimals, no trailing zeros."""
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"


def change(kpi: Any) -> str:
    """The change from the previous period: absolute in the KPI's unit, and relative."""
    if kpi.change is None:
        return "n/a"
    text = _signed(kpi.change, kpi.unit, kpi.decimals, "pp")
    if kpi.change_pct is not None:
        text += f" ({_signed(kpi.change_pct, 'percent', 1, '').rstrip()}%)"
    return text


def arrow(kpi: Any) -> str:
    """▲ or ▼ for a change as shown; none for one that rounds to zero."""
    if kpi.change is None or _signed(kpi.change, kpi.unit, kpi.decimals, "pp").startswith("±"):
        return ""
    return "▲" if kpi.change > 0 else "▼"


def delta(points: float) -> str:
    """A change of a score: +1.2, -0.4, or ±0.0 when it rounds to zero."""
    return _signed(points, "score", 1, "")


def since_last(kpi: Any) -> str:
    """The change of the value since the previous run, in the KPI's unit."""
    if kpi.since_last is None:
        return "n/a"
    return _signed(kpi.since_last, kpi.unit, kpi.decimals, "pp")


def shares(values: list[float]) -> list[int]:
    """Fractions of a whole as whole percents that add up to 100 as shown (largest
    remainder: the percents lost to rounding down go to the largest remainders)."""
    exact = [v * 100 for v in values]
    out = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(values)), key=lambda i: exact[i] - out[i], reverse=True)
    for i in by_remainder[:max(0, round(sum(exact)) - sum(out))]:
        out[i] += 1
    return out


def displayed(result: Result) -> Result:
    """The result as the human formats show it: every card's KPI and category shares
    rounded to whole percents that add up to 100. The JSON result keeps full precision."""
    def kpis(items: list[KpiResult]) -> list[KpiResult]:
        return [dataclasses.replace(k, share=p / 100) for k, p in zip(items, shares([k.share for k in items]))]

    def categories(items: list[CategoryResult]) -> list[CategoryResult]:
        return [dataclasses.replace(c, share=p / 100) for c, p in zip(items, shares([c.share for c in items]))]

    return dataclasses.replace(
        result, kpis=kpis(result.kpis), categories=categories(result.categories),
        entities=[dataclasses.replace(e, kpis=kpis(e.kpis), categories=categories(e.categories))
                  for e in result.entities])


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


def breakdown_title(b: dict[str, Any], text: dict[str, str]) -> str:
    """A breakdown table's heading: its formula's title, or the titles of its measures."""
    name = b["title"] if b.get("formula") else ", ".join(m["title"] for m in b["measures"])
    return f"{name} · {text['by']} {', '.join(b['by'])}"


def breakdown_columns(b: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """A breakdown table's columns, (header, key in its rows, unit): the group columns
    and the measures as plain numbers (unit None), then a formula's value in its unit."""
    columns: list[tuple[str, str, str | None]] = [(c, c, None) for c in b["by"]]
    columns += [(m["title"], m["id"], None) for m in b["measures"]]
    return columns + ([(b["title"], b["id"], b["unit"])] if b.get("formula") else [])


def breakdown_cell(row: dict[str, Any], key: str, unit: str | None) -> str:
    """One cell of a breakdown table: a formula's value in its unit, n/a with the reason."""
    if unit is None:
        return plain(row[key])
    reason = row.get(f"{key}.reason")
    return show(row[key], unit) + (f" ({reason})" if row[key] is None and reason else "")


def score(value: float | None) -> str:
    """A score 0..100 (a total, a KPI's, a category's), one decimal in every format."""
    return "n/a" if value is None else _number(value, 1)


SPARKS = "▁▂▃▄▅▆▇█"
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def spark(values: list[float | None]) -> str:
    """A trend as block characters from its lowest to its highest value (the reports
    state that range beside it, so a wobble is not read as a collapse); a gap for n/a."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    step = (high - low) / (len(SPARKS) - 1) or 1
    return "".join(" " if v is None else SPARKS[3 if high == low else round((v - low) / step)] for v in values)


# in <summary>, HTML: entities for what Markdown could still read as a link, code or emphasis
_INERT = str.maketrans({"[": "&#91;", "]": "&#93;", "`": "&#96;", "*": "&#42;", "_": "&#95;", "|": "&#124;"})


def summary(text: Any) -> Markup:
    """Text for the one line of a <summary>: escaped as HTML, and inert as Markdown."""
    return Markup(str(escape(printable(text))).translate(_INERT))


def previous_rank(previous: Any) -> str:
    """An entity's rank over the previous period and the places gained (▲) or lost (▼)."""
    if previous is None or previous.rank is None:
        return "–"
    moved = previous.rank_change or 0
    return f"#{previous.rank}" + (f" ({'▲' if moved > 0 else '▼'}{abs(moved)})" if moved else "")


def generated() -> str:
    """When the report was made, to the minute in UTC; SOURCE_DATE_EPOCH pins it for
    reproducible builds. Not in the JSON result, which stays the same bytes every run."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch else dt.datetime.now(dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def headline(result: Result, text: dict[str, str]) -> dict[str, Any]:
    """What every format opens with, worded once: the score and grade of the scorecard
    in view (the entity asked for, else the whole), the verdict of the checks, the
    previous period, the period and the generation time."""
    head, v = result.head, result.verdict
    prev = head.previous
    checks = (f"{text['verdict']}: {ICONS['pass']} {v.passed} {text['passed']} · {ICONS['warn']} {v.warned} "
              f"{text['warned']} · {ICONS['fail']} {v.failed} {text['failed_n']}") if result.checks else text["no_checks"]
    previous = ""
    if prev is not None:
        previous = f"{text['previous_period']}: {score(prev.score)} · {text['grade']} {prev.grade}"
        if prev.change is not None:
            previous += f" ({delta(prev.change)})"
        if prev.rank is not None:
            previous += f" · #{prev.rank}"
            if prev.rank_change:
                previous += f" ({'▲' if prev.rank_change > 0 else '▼'}{abs(prev.rank_change)})"
    period = result.period
    return {"title": result.title + (f" · {head.name}" if result.focus else ""),
            "score": score(head.score), "grade": head.grade, "status": v.status,
            "label": text["failed_banner"] if v.grade_withheld else head.grade_label,
            "withheld": v.grade_withheld, "checks": checks,
            "failures": [f for f in v.failures if f["status"] == "fail"],
            "warnings": [f for f in v.failures if f["status"] == "warn"],
            "previous": previous, "rank": getattr(head, "rank", None),
            "period": f"{period['start']} – {period['end']}" if period else "",
            "generated": f"{text['generated']} {generated()}"}


def peers(result: Result) -> dict[str, tuple[float, float, float]]:
    """Min, median and max over the entities of every KPI without a target: the HTML
    draws an entity's value among them (charts.peer_strip). From the whole table, not
    only the entities shown as cards."""
    ids = [k.id for k in result.kpis if k.target is None]
    if not result.entities or not ids:
        return {}
    import polars as pl

    table = result.table if result.table is not None else pl.DataFrame(
        {i: [next(k.value for k in e.kpis if k.id == i) for e in result.entities] for i in ids},
        schema={i: pl.Float64 for i in ids})
    found = {}
    for i in ids:
        values = table.get_column(i).cast(pl.Float64).fill_nan(None).drop_nulls()
        if len(values):
            found[i] = (values.min(), values.median(), values.max())
    return found  # type: ignore[return-value]


def _trend(kpi: Any, scale: str) -> dict[str, Any]:
    """A KPI's trend as the HTML draws it: the sparkline and the range of its y axis in the
    KPI's unit, so a reader sees what the height of the line stands for."""
    values = [t["value"] for t in kpi.trend]
    known = [v for v in values if v is not None]
    if not known:
        return {"svg": "", "low": "", "high": ""}
    low, high = charts.scale(known, kpi.target)
    first, last = kpi.trend[0], kpi.trend[-1]
    label = (f"{kpi.title}: {first['period']} {show(first['value'], kpi.unit, kpi.decimals)} → {last['period']} "
             f"{show(last['value'], kpi.unit, kpi.decimals)}; {scale} {show(low, kpi.unit, kpi.decimals)} – {show(high, kpi.unit, kpi.decimals)}")
    return {"svg": charts.sparkline(values, label, kpi.target), "low": show(low, kpi.unit, kpi.decimals), "high": show(high, kpi.unit, kpi.decimals)}


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
                       kpi_bar=charts.kpi_bar, trend=_trend, colour=charts.COLOURS, icon=ICONS)
    env.filters.update(extract=lambda key, mapping: mapping.get(key, key), show=show, score=score, change=change, since_last=since_last,
                       fields=lambda row: ", ".join(f"{k}={plain(v)}" for k, v in row.items()), plain=plain, key=key,
                       cell=markdown, breakdown_title=breakdown_title, breakdown_cell=breakdown_cell,
                       percent=lambda share: f"{share * 100:.0f}%", count="{:,}".format,
                       sup=lambda n: str(n).translate(SUPERSCRIPT), delta=delta, arrow=arrow, spark=spark,
                       previous_rank=previous_rank, html=summary,
                       prose=lambda text: markdown(text, spans=True))  # the engine's own words: ids as code
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
            reason=said(f"{k.id}.reason"), gain=pl.col(f"{k.id}.gain"), previous=previous, change=change,
            change_pct=pl.when(previous != 0).then(change / previous.abs()),
            improved=pl.when(change != 0).then((change > 0) == (k.better == "higher")),
            trend=pl.concat_list(trend) if trend else pl.lit([], pl.List(pl.Struct({"period": pl.String}))),
            since_last=number(None), unreliable=pl.lit(k.unreliable, pl.List(pl.String)),
            decimals=pl.lit(k.decimals, pl.Int64))

    def category(c: Any) -> pl.Expr:
        return pl.struct(id=pl.lit(c.id), title=pl.lit(c.title), score=pl.col(f"{c.id}.score"),
                         weight=pl.lit(c.weight, pl.Float64), share=pl.col(f"{c.id}.share"),
                         rollup=pl.lit(c.rollup), kpis=pl.lit(c.kpis, pl.List(pl.String)))

    def said(column: str) -> pl.Expr:  # the engine's English reasons in the result's language
        found = result.table[column].drop_nulls().unique().to_list()
        return pl.col(column).replace_strict({r: reason(r, result.lang) for r in found}, default=None,
                                             return_dtype=pl.String)

    grades = {g["grade"]: g["label"] for g in result.population["grades"]} if result.population else {}
    # the notes a scorecard gives on redistributed weight (see run._card)
    words = labels(result.lang)
    notes = [pl.when(pl.col(f"{k.id}.score").is_null()).then(pl.concat_str(
        [pl.lit(part) if i % 2 == 0 else said(f"{k.id}.reason")
         for i, part in enumerate(words["note_na"].format(kpi=k.id, reason="\0", category=k.category)
                                  .partition("\0"))])) for k in result.kpis if k.weight > 0]
    notes += [pl.when(pl.col(f"{c.id}.score").is_null()).then(pl.lit(words["note_category"].format(category=c.id)))
              for c in result.categories if c.weight > 0]
    table = profile_lists(result.table, [k.id for k in result.kpis], [c.id for c in result.categories],
                          {c.id: set(c.kpis) for c in result.categories})
    return table.select(
        pl.col(".id").alias("id"), pl.col(".name").alias("name"), pl.col(".rank").alias("rank"),
        pl.col(".score").alias("score"), pl.col(".grade").alias("grade"),
        pl.col(".grade").replace_strict(grades, default="", return_dtype=pl.String).alias("grade_label"),
        pl.concat_list(kpi(k) for k in result.kpis).alias("kpis"),
        pl.concat_list(category(c) for c in result.categories).alias("categories") if result.categories
        else pl.lit([]).alias("categories"),
        pl.col(".strengths").alias("strengths"), pl.col(".weaknesses").alias("weaknesses"),
        (pl.concat_list(notes).list.drop_nulls() if notes else pl.lit([], pl.List(pl.String))).alias("notes"),
        said(".unranked").alias("unranked"), pl.lit(None, pl.Float64).alias("since_last"),
        # the previous period of many entities is on the shown cards only (run.previous_scores)
        pl.lit(None).alias("previous"))


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
    if fmt not in ("json", "parquet", "csv"):  # what people read: shares that add up to 100 %
        result = displayed(result)
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
        text = labels(result.lang)
        return template.render(r=result, labels=text, titles=titles, head=headline(result, text),
                               peers=peers(result) if fmt == "html" else {},
                               entity_names={e.id: e.name for e in result.entities})
    return _table(result, color)


def _table(result: Result, color: bool) -> str:
    from rich.console import Console
    from rich.table import Table

    text = labels(result.lang)
    titles = {k.id: k.title for k in result.kpis} | {c.id: c.title for c in result.categories}
    head = headline(result, text)
    t = terminal  # every text from the data or the ruleset: shown as written, never as markup
    out = io.StringIO()
    # the terminal's width (COLUMNS when piped), so an 80-column terminal does not wrap
    console = Console(file=out, force_terminal=color, no_color=not color,
                      width=shutil.get_terminal_size((120, 24)).columns, highlight=False)

    def pill(status: str) -> str:
        style = STATUS_STYLE.get(status, "")
        return f"[{style}]{ICONS.get(status, '')} {t(text.get(status, status))}[/{style}]"

    wide = console.width >= 110  # room for the category beside the six columns every format has

    def kpi_table(kpis: list[Any]) -> None:
        table = Table(header_style="bold")
        for name, justify in ((text["kpi"], "left"), (text["value"], "right"), (text["target"], "right"),
                              (text["score"], "right"), (text["weight"], "right"), (text["status"], "left"),
                              *(((text["category"], "left"),) if wide else ())):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for k in kpis:
            table.add_row(t(k.title), show(k.value, k.unit, k.decimals), show(k.target, k.unit, k.decimals),
                          score(k.score), f"{k.share * 100:.0f}%", pill(k.status),
                          *((t(titles.get(k.category, k.category)),) if wide else ()))
        console.print(table)
        compared = [k for k in kpis if k.previous is not None]
        if compared:  # the change in a table of its own, as in Markdown, so neither wraps at 80 columns
            changes = Table(header_style="bold")
            for name, justify in ((text["kpi"], "left"), (text["previous"], "right"), (text["value"], "right"),
                                  (text["change"], "right")):
                changes.add_column(name, justify=justify)  # type: ignore[arg-type]
            for k in compared:
                changes.add_row(t(k.title), show(k.previous, k.unit, k.decimals), show(k.value, k.unit, k.decimals),
                                f"{arrow(k)} {change(k)}".strip())
            console.print(changes)

    since = "" if result.since_last is None else f" ({delta(result.since_last)} {text['since_last']})"
    console.print(f"[bold]{t(head['title'])}[/bold] ({t(result.ruleset)})"
                  + (f" · {text['period']} {head['period']}" if head["period"] else "") + f" · {head['generated']}")
    banner = f"[bold red]{t(head['label'])}[/bold red]" if head["withheld"] else t(head["label"])
    console.print(f"{text['score']} [bold]{head['score']}[/bold] · {text['grade']} [bold]{head['grade']}[/bold] "
                  f"{banner}{since}" + (f" · {t(head['previous'])}" if head["previous"] else ""))
    style = STATUS_STYLE.get(head["status"], "")
    console.print(f"[{style}]{t(head['checks'])}[/{style}]" + "".join(
        f"\n  {pill(f['status'])} {t(f['title'])} ({f['rows']:,} {text['rows_unit']})"
        for f in head["failures"] + head["warnings"]))
    single = len(result.entities) == 1  # one entity asked for: its card instead of the whole
    if not single:
        kpi_table(result.kpis)
        console.print(f"{text['categories']}: " + "  ".join(f"{t(c.title)} {score(c.score)}"
                                                          for c in result.categories))
    if result.population:
        p = result.population
        most = max(h["count"] for h in p["histogram"]) or 1
        console.print(f"[bold]{text['by_grade'].format(n=format(p['entities'], ','))}[/bold]: "
                      + "  ".join(f"{t(g['grade'])} {g['count']:,}" for g in p["grades"]))
        for h in p["histogram"]:
            console.print(f"  {h['from']:>3}-{h['to']:<3} {h['count']:>10,} " + "█" * (h["count"] * 50 // most))
        if p["actions"]:
            console.print(f"{text['entity_actions']}: " + "  ".join(f"{a['id']} {a['count']:,}" for a in p["actions"]))
        console.print(f"[dim]{text['top_bottom'].format(n=p['shown'] // 2)}[/dim]")
    if result.entities:
        ranking = Table(title=f"{text['ranking']} ({', '.join(result.by)})", header_style="bold")
        for name in ("rank", "entity", "score", "grade", "weaknesses"):
            ranking.add_column(text[name], justify="right" if name in ("rank", "score") else "left")
        for e in result.entities:
            ranking.add_row(str(e.rank or "-"), t(e.name if e.name == e.id else f"{e.name} ({e.id})"),
                            score(e.score), e.grade,
                            t(e.unranked or ", ".join(titles.get(w, w) for w in e.weaknesses)))
        console.print(ranking)
        if single:
            kpi_table(result.entities[0].kpis)
    for b in result.breakdowns:
        columns = breakdown_columns(b)
        grouped = Table(title=t(breakdown_title(b, text)), header_style="bold")
        for i, (header, _, _) in enumerate(columns):
            grouped.add_column(t(header), justify="left" if i < len(b["by"]) else "right")
        for row in b["rows"]:
            grouped.add_row(*(t(breakdown_cell(row, k, unit)) for _, k, unit in columns))
        console.print(grouped)
    for c in result.checks:
        ratio = "n/a" if c.ratio is None else f"{c.ratio * 100:.2f}%"
        limits = text["sep"].join(text["limit"].format(level=text[level], rule=rule)
                           for level, rule in (("fail", c.fail), ("warn", c.warn)) if rule) \
            or text["any_row"]  # beside the result, so pass and fail make sense
        console.print(f"  {pill(c.status)} {t(c.title)}: "
                      + text["rule_line"].format(failed=f"{c.failed:,}", rows=f"{c.rows:,}", ratio=ratio,
                                                 limits=t(limits)))
        if c.distinct_failed:
            top = ", ".join(f"{t(key(v['value']))} ({v['rows']:,})" for v in c.top_failed_values[:5])
            console.print(f"    {c.distinct_failed:,} {text['distinct_failed']}, {c.failed:,} {text['rows_unit']}: {top}")
    names = {e.id: e.name for e in result.entities}  # an action for an entity names it, not its key
    for a in result.actions:
        gain = "" if a.gain is None else f" (+{a.gain:.1f})"
        who = t(f" [{names.get(a.entity, a.entity)}]") if a.entity else ""
        console.print(f"  [bold]{text.get(a.priority, a.priority)}[/bold]{who}{gain}: {t(a.text)}")
    for note in result.notes:
        console.print(f"  [dim]{text['notes']}: {t(note)}[/dim]")
    return out.getvalue()
