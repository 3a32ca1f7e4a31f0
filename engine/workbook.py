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
from .render import breakdown_columns, breakdown_title, headline, key, labels
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


def number_format(unit: str, decimals: int | None, signed: bool = False) -> str:
    """The Excel number format of a value in ``unit`` with ``decimals`` (None: a count,
    whole); ``signed`` for a change: +1.2, -1.2, and a change of a percentage in points."""
    places = "0" + ("." + "0" * decimals if decimals else "")
    body = {"percent": places + ("\" pp\"" if signed else "%"), "hours": f'#,##{places} "h"',
            "days": f'#,##{places} "d"', "ratio": places}.get(unit, "#,##" + places)
    return f"+{body};-{body};{body}" if signed else body


def _sheet_name(name: str, taken: set[str]) -> str:
    """A unique sheet name within Excel's 31 characters, without the characters it refuses."""
    base = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31]
    out, n = base, 1
    while out.lower() in taken:
        n += 1
        out = f"{base[:31 - len(str(n)) - 1]}~{n}"
    taken.add(out.lower())
    return out


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
    made: dict[str, Any] = {}

    def fmt(num_format: str) -> Any:
        if num_format not in made:
            made[num_format] = book.add_format({"num_format": num_format})
        return made[num_format]

    formats = {"percent": fmt("0%"), "score": fmt("0.0"), "count": fmt("#,##0"), "ratio": fmt("0.0%"),
               "rank_change": fmt("+0;-0;0"), "change_pct": fmt("+0.0%;-0.0%;0.0%")}

    def unit_format(k: Any, value: Any, signed: bool = False) -> Any:
        """A KPI's value in its unit and decimals; a count's whole numbers without decimals."""
        decimals = k.decimals
        if decimals is None and isinstance(value, float) and value != int(value):
            decimals = 2
        return fmt(number_format(k.unit, decimals, signed))

    def point_change(k: Any) -> Any:
        """The change in the KPI's unit; a percentage's in points (84% -> 82% is -2 pp)."""
        return None if k.change is None else k.change * 100 if k.unit == "percent" else k.change

    sheets: set[str] = set()

    def sheet_for(name: str, header_rows: int) -> Any:
        """A sheet that prints as people read it: landscape, one page wide, its header on every page."""
        sheet = book.add_worksheet(_sheet_name(name, sheets))
        sheet.set_landscape()
        sheet.fit_to_pages(1, 0)
        sheet.repeat_rows(0, header_rows - 1)
        return sheet

    def table(sheet: Any, row: int, header: list[str], rows: list[list[Any]],
              number_formats: list[Any] | None = None) -> int:
        sheet.write_row(row, 0, header, head)
        for r, values in enumerate(rows, start=row + 1):
            for c, value in enumerate(values):
                cell = number_formats[c] if number_formats and c < len(number_formats) else None
                sheet.write(r, c, _cell(value), cell) if cell is not None else sheet.write(r, c, _cell(value))
        return row + len(rows) + 2

    titles = {k.id: k.title for k in result.kpis} | {c.id: c.title for c in result.categories}
    kpi_header = ["id", text["kpi"], text["value"], text["target"], text["floor"], text["benchmark"],
                  text["score"], text["weight"], text["status"], text["category"], text["previous"],
                  text["change"], text["change_pct"], text["notes"]]

    lights = {status: book.add_format({"font_color": "#FFFFFF", "bg_color": COLOURS[status]})
              for status in ("pass", "warn", "fail", "met", "near", "missed")}

    def traffic_lights(sheet: Any, first: int, last: int, column: int) -> None:
        """Status cells coloured by their (localised) word: the status is also the text."""
        for status, light in lights.items():
            sheet.conditional_format(first, column, last, column, {
                "type": "cell", "criteria": "==", "value": f'"{text[status]}"', "format": light})

    def data_bar(sheet: Any, first: int, last: int, column: int) -> None:
        sheet.conditional_format(first, column, last, column, {"type": "data_bar", "min_type": "num", "min_value": 0,
                                                               "max_type": "num", "max_value": 100})

    top = headline(result, text)
    sheet = sheet_for(text["sheet_scorecard"], 5)
    sheet.write(0, 0, top["title"], title)
    sheet.write(0, 5, (f"{text['period']} {top['period']} · " if top["period"] else "") + top["generated"])
    # the verdict beside the grade: the banner replaces the grade's label while a fail rule fails
    sheet.write_row(1, 0, [text["score"], result.head.score, text["grade"], top["grade"], top["label"], top["checks"]]
                    + [f"{text[f['status']]}: {f['title']} ({f['rows']:,} {text['rows_unit']})"
                       for f in top["failures"]], bold)
    sheet.write(1, 1, result.head.score, book.add_format({"bold": True, "num_format": "0.0"}))
    if top["withheld"]:
        sheet.write(1, 4, top["label"], lights["fail"])
    sheet.write_row(2, 0, [text["params"]] + [f"{k} = {v}" for k, v in result.params.items()])
    rows = [[k.id, k.title, k.value, k.target, k.floor, k.benchmark, k.score, k.share, text.get(k.status, k.status),
             titles.get(k.category, k.category), k.previous, point_change(k), k.change_pct, k.reason or ""]
            for k in result.kpis]
    row = table(sheet, 4, kpi_header, rows)
    for r, k in enumerate(result.kpis, start=5):  # every number in its unit's format
        for c in (2, 3, 4, 5, 10):
            if rows[r - 5][c] is not None:
                sheet.write(r, c, _cell(rows[r - 5][c]), unit_format(k, rows[r - 5][c]))
        for c, cell in ((6, formats["score"]), (7, formats["percent"]), (11, unit_format(k, rows[r - 5][11], True)),
                        (12, formats["change_pct"])):
            if rows[r - 5][c] is not None:
                sheet.write(r, c, _cell(rows[r - 5][c]), cell)
    sheet.autofilter(4, 0, 4 + len(rows), len(kpi_header) - 1)
    sheet.freeze_panes(5, 2)  # the KPI header and the KPI's id and title stay in view
    traffic_lights(sheet, 5, 4 + len(rows), 8)
    data_bar(sheet, 5, 4 + len(rows), 6)
    row = table(sheet, row, [text["category"], text["score"], text["weight"]],
                [[c.title, c.score, c.share] for c in result.categories],
                [None, formats["score"], formats["percent"]])
    sheet.write(row, 0, text["strengths"], bold)
    sheet.write_row(row, 1, [titles.get(x, x) for x in result.strengths])
    sheet.write(row + 1, 0, text["weaknesses"], bold)
    sheet.write_row(row + 1, 1, [titles.get(x, x) for x in result.weaknesses])
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 34)
    sheet.set_column(2, 13, 12)

    if result.entities:
        ranking = sheet_for(text["ranking"], 1)
        kpis = [k.id for k in result.kpis]
        if result.population is None:
            rows = [[e.rank, e.id, e.name, e.score, e.grade] + [k.score for k in e.kpis] for e in result.entities]
        else:  # every entity, best first, up to a sheet that still opens quickly
            from .render import entity_rows
            rows = [list(r) for r in entity_rows(result).head(MAX_ROWS)
                    .select("rank", "id", "name", "score", "grade", *(f"{k}.score" for k in kpis)).iter_rows()]
        end = table(ranking, 0, [text["rank"], "id", text["entity"], text["score"], text["grade"]]
                    + [titles[k] for k in kpis], rows,
                    [None, None, None, formats["score"], None] + [formats["score"]] * len(kpis))
        if result.population is not None and result.population["entities"] > len(rows):
            ranking.write(end, 0, f"{len(rows):,} of {result.population['entities']:,}: "
                                  "--format parquet or csv writes every entity", bold)
        ranking.set_column(2, 2, 28)
        ranking.freeze_panes(1, 3)  # the header and who it is stay in view
        ranking.autofilter(0, 0, len(rows), 4 + len(kpis))
        data_bar(ranking, 1, len(rows), 3)
        entity_sheet(result, sheet_for(text["entities_kpis"], 3), text, titles, head, formats, unit_format)

    if result.checks:
        checks = sheet_for(text["checks"], 1)
        evidence = [c for c in result.checks if c.status != "pass" and (c.samples or c.top_failed_values or c.groups)]
        names = {c.id: _sheet_name(c.id, sheets) for c in evidence}  # taken now: the checks sheet links to them
        table(checks, 0, ["id", text["check"], text["source"], "rule", text["status"], text["failed"],
                          text["rows"], text["pass_ratio"], text["severity"], text["threshold"], text["area"],
                          text["fix"], text["samples"]],
              [[c.id, c.title, c.source, c.rule, text.get(c.status, c.status), c.failed, c.rows, c.ratio,
                text.get(c.severity, c.severity), threshold(c, text), c.area or "", c.fix] for c in result.checks],
              [None] * 5 + [formats["count"]] * 2 + [fmt("0.00%")])
        for r, c in enumerate(result.checks, start=1):
            if c.id in names:
                checks.write_url(r, 12, f"internal:'{names[c.id]}'!A1", string=names[c.id])
        checks.freeze_panes(1, 2)
        checks.autofilter(0, 0, len(result.checks), 12)
        traffic_lights(checks, 1, len(result.checks), 4)
        checks.set_column(0, 1, 28)
        checks.set_column(9, 9, 30)
        checks.set_column(11, 11, 50)
        for c in evidence:  # one sheet per rule that warns or fails: its failing keys, groups, rows
            sheets.discard(names[c.id].lower())
            proof = sheet_for(names[c.id], 1)
            proof.write_row(0, 0, [c.title, text.get(c.status, c.status), threshold(c, text)], head)
            proof.write(1, 0, c.fix)
            row = 3
            if c.top_failed_values:
                proof.write(row, 0, f"{c.distinct_failed:,} {text['distinct_failed']}", bold)
                row = table(proof, row + 1, [text["key"], text["rows"]],
                            [[key(v["value"]), v["rows"]] for v in c.top_failed_values], [None, formats["count"]])
            if c.groups:
                row = table(proof, row, [text["group"], text["status"], text["failed"], text["rows"], text["pass_ratio"]],
                            [[g["group"], text.get(g["status"], g["status"]), g["failed"], g["rows"], g["ratio"]]
                             for g in c.groups], [None, None, formats["count"], formats["count"], fmt("0.00%")])
            if c.samples:
                proof.write(row, 0, text["samples"], bold)
                columns = list(c.samples[0])
                row = table(proof, row + 1, columns, [[s[k] for k in columns] for s in c.samples])
            proof.set_column(0, 0, 30)

    if result.actions:
        actions = sheet_for(text["actions"], 1)
        names = {e.id: e.name for e in result.entities}
        table(actions, 0, [text["priority"], "id", text["entity"], text["owner"], text["gain"], text["action"]],
              [[text.get(a.priority, a.priority), a.id, names.get(a.entity, a.entity) if a.entity else "", a.owner,
                a.gain, a.text] for a in result.actions],
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


def threshold(check: Any, text: dict[str, str]) -> str:
    """A rule's thresholds as the ruleset writes them, worded as the reports word them."""
    return text["sep"].join(text["limit"].format(level=text[level], rule=rule)
                            for level, rule in (("fail", check.fail), ("warn", check.warn)) if rule) or text["any_row"]


def entity_sheet(result: Result, sheet: Any, text: dict[str, str], titles: dict[str, str], head: Any,
                 formats: dict[str, Any], unit_format: Any) -> None:
    """Entities x KPIs: per entity its rank, score, grade and rank change, then per KPI
    (titled, over three columns) its value, score and previous value; below the header
    the weights row, each KPI's share of the total."""
    kpis = result.kpis
    sheet.write_row(0, 0, [text["rank"], "id", text["entity"], text["score"], text["grade"], text["rank_change"]], head)
    sheet.write_row(1, 0, [""] * 6, head)
    sheet.write(2, 2, text["weight"], head)
    for i, k in enumerate(kpis):
        at = 6 + 3 * i
        sheet.merge_range(0, at, 0, at + 2, k.title, head)
        sheet.write_row(1, at, [text["value"], text["score"], text["previous"]], head)
        sheet.write(2, at + 1, k.share, formats["percent"])
    for r, e in enumerate(result.entities, start=3):
        sheet.write_row(r, 0, [e.rank, e.id, e.name])
        sheet.write(r, 3, e.score, formats["score"])
        sheet.write(r, 4, e.grade)
        if e.previous is not None and e.previous.rank_change is not None:
            sheet.write(r, 5, e.previous.rank_change, formats["rank_change"])
        for i, k in enumerate(e.kpis):
            at = 6 + 3 * i
            for c, value in ((at, k.value), (at + 2, k.previous)):
                if value is not None:
                    sheet.write(r, c, _cell(value), unit_format(k, value))
            if k.score is not None:
                sheet.write(r, at + 1, k.score, formats["score"])
    if result.population is not None:
        sheet.write(3 + len(result.entities), 0, f"{len(result.entities):,} of {result.population['entities']:,}: "
                                                 f"{text['top_bottom'].format(n=result.population['shown'] // 2)}")
    last = 2 + len(result.entities)
    sheet.freeze_panes(3, 3)
    sheet.autofilter(1, 0, last, 5 + 3 * len(kpis))
    sheet.set_column(2, 2, 28)
    sheet.set_column(6, 5 + 3 * len(kpis), 11)
