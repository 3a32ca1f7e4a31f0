"""The XLSX report: the scorecard, the ranking, the checks with their evidence and the
actions, one sheet each, for people who continue in Excel. Written from the result model
only, like every other format."""
from __future__ import annotations

import datetime as dt
import io
import json
import math
from typing import Any

import xlsxwriter

from .charts import COLOURS
from .render import breakdown_columns, breakdown_title, excel_format, headline, key, labels
from .result import Result, _plain


def _cell(value: Any) -> Any:
    """A value as xlsxwriter can write it: its own types as they are, infinities and NaN
    as text, the rest (Decimal, bytes, lists) as in the JSON result."""
    if isinstance(value, float) and not math.isfinite(value):  # as the table shows it, not a =1/0 formula
        return str(value)
    if value is None or isinstance(value, (str, int, float, dt.date, dt.time, dt.timedelta)):
        return value
    value = _plain(value)
    return value if isinstance(value, (str, int, float)) else json.dumps(value, ensure_ascii=False)

MAX_ROWS = 50_000  # entities on the ranking sheet; Excel opens it in seconds, not minutes


def workbook(result: Result) -> bytes:
    out = io.BytesIO()
    # text stays text: `=HYPERLINK(...)` in a vendor name or an action is not a live formula,
    # and no string becomes a link
    book = xlsxwriter.Workbook(out, {"in_memory": True, "nan_inf_to_errors": True,
                                     "default_date_format": "yyyy-mm-dd", "remove_timezone": True,
                                     "strings_to_formulas": False, "strings_to_urls": False,
                                     "strings_to_numbers": False})
    text = labels(result.lang)
    bold = book.add_format({"bold": True})
    head = book.add_format({"bold": True, "bg_color": "#F6F8FA", "bottom": 1})
    title = book.add_format({"bold": True, "font_size": 16})
    formats = {unit: book.add_format({"num_format": excel_format(unit)})
               for unit in ("percent", "currency", "count", "points", "hours", "days")}
    formats["score"] = book.add_format({"num_format": "0.0"})

    def table(sheet: Any, row: int, header: list[str], rows: list[list[Any]],
              number_formats: list[Any] | None = None) -> int:
        sheet.write_row(row, 0, header, head)
        for r, values in enumerate(rows, start=row + 1):
            for c, value in enumerate(values):
                fmt = number_formats[c] if number_formats and c < len(number_formats) else None
                sheet.write(r, c, _cell(value), fmt) if fmt is not None else sheet.write(r, c, _cell(value))
        return row + len(rows) + 2

    def kpi_rows(kpis: list[Any]) -> tuple[list[list[Any]], list[Any]]:
        rows = [[k.id, k.title, k.value, k.target, k.floor, k.benchmark, k.score, k.share, text.get(k.status, k.status),
                 k.category, k.previous, k.change, k.reason or ""] for k in kpis]
        return rows, [None, None, None, None, None, None, formats["score"], formats["percent"]]

    kpi_header = ["id", text["kpi"], text["value"], text["target"], text["floor"], text["benchmark"],
                  text["score"], text["weight"], text["status"], text["category"], text["previous"],
                  text["change"], text["notes"]]

    lights = {status: book.add_format({"font_color": "#FFFFFF", "bg_color": COLOURS[status]})
              for status in ("pass", "warn", "fail", "met", "near", "missed")}

    def traffic_lights(sheet: Any, first: int, last: int, column: int) -> None:
        """Status cells coloured by their (localised) word: the status is also the text."""
        for status, fmt in lights.items():
            sheet.conditional_format(first, column, last, column, {
                "type": "cell", "criteria": "==", "value": f'"{text[status]}"', "format": fmt})

    top = headline(result, text)
    sheet = book.add_worksheet(text["sheet_scorecard"])
    sheet.write(0, 0, top["title"], title)
    sheet.write(0, 5, (f"{text['period']} {top['period']} · " if top["period"] else "") + top["generated"])
    # the verdict beside the grade: the banner replaces the grade's label while a fail rule fails
    score_at = result.head.score
    sheet.write_row(1, 0, [text["score"], score_at, text["grade"], top["grade"], top["label"], top["checks"]]
                    + [f"{text[f['status']]}: {f['title']} ({f['rows']:,} {text['rows_unit']})"
                       for f in top["failures"]], bold)
    if top["withheld"]:
        sheet.write(1, 4, top["label"], lights["fail"])
    sheet.write_row(2, 0, [text["params"]] + [f"{k} = {v}" for k, v in result.params.items()])
    rows, fmts = kpi_rows(result.kpis)
    row = table(sheet, 4, kpi_header, rows, fmts)
    sheet.autofilter(4, 0, 4 + len(rows), len(kpi_header) - 1)
    sheet.freeze_panes(5, 2)  # the KPI header and the KPI's id and title stay in view
    traffic_lights(sheet, 5, 4 + len(rows), 8)
    sheet.conditional_format(5, 6, 4 + len(rows), 6, {"type": "data_bar", "min_type": "num", "min_value": 0,
                                                      "max_type": "num", "max_value": 100})
    for r, k in enumerate(result.kpis, start=5):  # values in their unit's format
        for c in (2, 3, 4, 5, 10, 11):
            value = rows[r - 5][c]
            if value is not None and k.unit in formats:
                sheet.write(r, c, _cell(value), formats[k.unit])
    row = table(sheet, row, [text["category"], text["score"], text["weight"]],
                [[c.title, c.score, c.share] for c in result.categories],
                [None, formats["score"], formats["percent"]])
    sheet.write(row, 0, text["strengths"], bold)
    sheet.write_row(row, 1, result.strengths)
    sheet.write(row + 1, 0, text["weaknesses"], bold)
    sheet.write_row(row + 1, 1, result.weaknesses)
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 34)
    sheet.set_column(2, 12, 12)

    if result.entities:
        ranking = book.add_worksheet(text["ranking"])
        kpis = [k.id for k in result.kpis]
        if result.population is None:
            rows = [[e.rank, e.id, e.name, e.score, e.grade] + [k.score for k in e.kpis] for e in result.entities]
        else:  # every entity, best first, up to a sheet that still opens quickly
            from .render import entity_rows
            rows = [list(r) for r in entity_rows(result).head(MAX_ROWS)
                    .select("rank", "id", "name", "score", "grade", *(f"{k}.score" for k in kpis)).iter_rows()]
        end = table(ranking, 0, [text["rank"], "id", text["entity"], text["score"], text["grade"]] + kpis, rows,
                    [None, None, None, formats["score"], None] + [formats["score"]] * len(kpis))
        if result.population is not None and result.population["entities"] > len(rows):
            ranking.write(end, 0, f"{len(rows):,} of {result.population['entities']:,}: "
                                  "--format parquet or csv writes every entity", bold)
        ranking.set_column(2, 2, 28)
        ranking.freeze_panes(1, 3)  # the header and who it is stay in view
        ranking.autofilter(0, 0, len(rows), 4 + len(kpis))
        ranking.conditional_format(1, 3, len(rows), 3, {"type": "data_bar", "min_type": "num", "min_value": 0,
                                                        "max_type": "num", "max_value": 100})

    if result.checks:
        checks = book.add_worksheet(text["checks"])
        row = table(checks, 0, ["id", text["check"], text["source"], "rule", text["status"], text["failed"],
                                text["rows"], text["pass_ratio"], "area", text["fix"]],
                    [[c.id, c.title, c.source, c.rule, text.get(c.status, c.status), c.failed, c.rows, c.ratio,
                      c.area or "", c.fix]
                     for c in result.checks],
                    [None] * 7 + [formats["percent"]])
        for c in result.checks:  # the evidence of each rule that warns or fails
            if c.top_failed_values:
                checks.write(row, 0, f"{c.id}: {c.distinct_failed:,} {text['distinct_failed']}", bold)
                row = table(checks, row + 1, [text["key"], text["rows"]],
                            [[key(v["value"]), v["rows"]] for v in c.top_failed_values])
            if c.samples:
                checks.write(row, 0, f"{text['samples']}: {c.id}", bold)
                columns = list(c.samples[0])
                row = table(checks, row + 1, columns, [[s[k] for k in columns] for s in c.samples])
        checks.freeze_panes(1, 2)
        checks.autofilter(0, 0, len(result.checks), 9)
        traffic_lights(checks, 1, len(result.checks), 4)
        checks.set_column(0, 1, 28)
        checks.set_column(9, 9, 50)

    if result.actions:
        actions = book.add_worksheet(text["actions"])
        table(actions, 0, [text["priority"], "id", text["entity"], text["owner"], text["gain"], text["action"]],
              [[text.get(a.priority, a.priority), a.id, a.entity or "", a.owner, a.gain, a.text] for a in result.actions],
              [None, None, None, None, formats["score"]])
        actions.set_column(5, 5, 100)

    if result.breakdowns:  # one table under the other, a formula's value in its unit's format
        grouped = book.add_worksheet(text["breakdowns"])
        row = 0
        for b in result.breakdowns:
            columns = breakdown_columns(b)
            grouped.write(row, 0, breakdown_title(b, text), bold)
            reasons = [[r.get(f"{b['id']}.reason") or ""] for r in b["rows"]] if b.get("formula") else []
            row = table(grouped, row + 1, [h for h, _, _ in columns] + ([text["notes"]] if reasons else []),
                        [[r[k] for _, k, _ in columns] + (reasons[i] if reasons else []) for i, r in enumerate(b["rows"])],
                        [formats.get(unit) if unit else None for _, _, unit in columns])
        grouped.set_column(0, 0, 22)
    book.close()
    return out.getvalue()
