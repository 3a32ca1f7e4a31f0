"""Broken exports give a correct result or a clear error naming the source and column;
no traceback reaches the user."""
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from engine.cli import main

RULESET = """\
ruleset: bad
sources:
  t:
    path: t.{ext}
    columns: {{id: string, n: int, d: date, ts: datetime}}
measures:
  rows: {{source: t, count: true}}
  total: {{source: t, sum: n}}
  in_2025: {{source: t, count: true, where: "between(d, date('2025-01-01'), date('2025-12-31'))"}}
  after_8: {{source: t, count: true, where: "ts >= datetime('2025-01-01T08:00:00')"}}
kpis:
  mean_n: {{formula: total / rows, target: 1, category: c}}
  share_2025: {{formula: in_2025 / rows, target: 1, category: c}}
  share_after_8: {{formula: after_8 / rows, target: 1, category: c}}
categories: {{c: {{}}}}
"""


def run(tmp_path: Path, capsys, csv: str | bytes, ext: str = "csv") -> tuple[int, dict | None, str]:
    (tmp_path / "r.yaml").write_text(RULESET.format(ext=ext))
    data = tmp_path / f"t.{ext}"
    data.write_bytes(csv if isinstance(csv, bytes) else csv.encode())
    code = main(["run", str(tmp_path / "r.yaml"), "--format", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out) if code in (0, 1) else None, err


def kpi(result: dict, id: str) -> float | None:
    return next(k for k in result["kpis"] if k["id"] == id)["value"]


def test_empty_table_gives_n_a_with_a_reason(tmp_path, capsys):
    code, result, _ = run(tmp_path, capsys, "id,n,d,ts\n")
    assert code == 0
    k = next(k for k in result["kpis"] if k["id"] == "mean_n")
    assert k["value"] is None and k["status"] == "n/a" and "division by zero" in k["reason"]


def test_all_null_columns(tmp_path, capsys):
    code, result, _ = run(tmp_path, capsys, "id,n,d,ts\n1,,,\n2,,,\n")
    # sum of nothing is 0 over 2 rows; no date is in 2025
    assert code == 0 and kpi(result, "mean_n") == 0.0 and kpi(result, "share_2025") == 0.0


def test_short_rows_are_read_as_missing_values(tmp_path, capsys):
    code, result, _ = run(tmp_path, capsys, "id,n,d,ts\n1,2,2025-01-01,2025-01-01T09:00:00\n2,4\n")
    # (2 + 4) / 2 rows; only the first has a 2025 date and a time after 08:00
    assert code == 0 and kpi(result, "mean_n") == 3.0 and kpi(result, "share_2025") == 0.5


@pytest.mark.parametrize("cell,column", [("twelve", "n"), ("99999999999999999999999", "n"),
                                         ("01/02/2025", "d"), ("yesterday", "ts")])
def test_wrong_types_name_the_source_column_and_value(tmp_path, capsys, cell, column):
    row = {"n": "1", "d": "2025-01-01", "ts": "2025-01-01T09:00:00"} | {column: cell}
    code, _, err = run(tmp_path, capsys, f"id,n,d,ts\n1,{row['n']},{row['d']},{row['ts']}\n")
    assert code == 2
    assert "source `t`" in err and cell in err and f"'{column}'" in err and "r.yaml:4:" in err


def test_duplicate_header_names_are_refused(tmp_path, capsys):
    code, _, err = run(tmp_path, capsys, "id,n,d,ts,n\n1,2,2025-01-01,2025-01-01T09:00:00,3\n")
    assert code == 2 and "`n` more than once" in err


def test_timezone_aware_datetimes(tmp_path, capsys):
    # 09:00+08:00 is 01:00 UTC: before 08:00; 09:00Z is after it
    csv = "id,n,d,ts\n1,1,2025-01-01,2025-01-01T09:00:00+08:00\n2,1,2025-01-01,2025-01-01T09:00:00Z\n"
    code, result, _ = run(tmp_path, capsys, csv)
    assert code == 0 and kpi(result, "share_after_8") == 0.5


def test_utf8_bom_and_gbk(tmp_path, capsys):
    csv = "id,n,d,ts\n张三,2,2025-01-01,2025-01-01T09:00:00\n"
    for encoded in (b"\xef\xbb\xbf" + csv.encode(), csv.encode("gbk")):
        code, result, _ = run(tmp_path, capsys, encoded)
        assert code == 0 and kpi(result, "mean_n") == 2.0


def test_excel_with_several_sheets(tmp_path, capsys):
    import xlsxwriter
    book = xlsxwriter.Workbook(str(tmp_path / "t.xlsx"))
    for name, rows in (("notes", [["readme"]]), ("data", [["id", "n", "d", "ts"], ["1", 4, "2025-01-01", "2025-01-01T09:00:00"]])):
        sheet = book.add_worksheet(name)
        for r, values in enumerate(rows):
            sheet.write_row(r, 0, values)
    book.close()
    (tmp_path / "r.yaml").write_text(RULESET.format(ext="xlsx").replace("    path: t.xlsx", "    path: t.xlsx\n    sheet: data"))
    assert main(["run", str(tmp_path / "r.yaml"), "--format", "json"]) == 0
    assert kpi(json.loads(capsys.readouterr().out), "mean_n") == 4.0
    # without `sheet`, the first sheet has none of the columns: a clear error
    (tmp_path / "r.yaml").write_text(RULESET.format(ext="xlsx"))
    assert main(["run", str(tmp_path / "r.yaml")]) == 2
    assert "source `t` has no column `id`" in capsys.readouterr().err


def test_parquet_with_other_types_is_cast_or_refused(tmp_path, capsys):
    frame = pl.DataFrame({"id": [1, 2], "n": [1.0, 3.0], "d": ["2025-01-01", "2024-01-01"],
                          "ts": ["2025-01-01T09:00:00", "2025-01-01T07:00:00"]})
    (tmp_path / "r.yaml").write_text(RULESET.format(ext="parquet"))
    frame.write_parquet(tmp_path / "t.parquet")
    assert main(["run", str(tmp_path / "r.yaml"), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # n cast to int: (1 + 3) / 2; text dates parsed: one in 2025, one after 08:00
    assert (kpi(result, "mean_n"), kpi(result, "share_2025"), kpi(result, "share_after_8")) == (2.0, 0.5, 0.5)


def test_internal_errors_show_a_traceback_only_when_asked(tmp_path):
    (tmp_path / "r.yaml").write_text(RULESET.format(ext="csv"))
    (tmp_path / "t.csv").write_text("id,n,d,ts\n")
    code = "import engine.run, sys; engine.run.run = lambda *a, **k: 1 / 0; from engine.cli import main; sys.exit(main(sys.argv[1:]))"
    for debug, shown in (("", False), ("1", True)):
        env = {**os.environ, "ASSESS_DEBUG": debug}
        proc = subprocess.run([sys.executable, "-c", code, "run", str(tmp_path / "r.yaml")],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 2 and "internal error: ZeroDivisionError" in proc.stderr
        assert ("Traceback" in proc.stderr) == shown


def test_interrupted_run_exits_130_and_keeps_the_previous_report(tmp_path, capsys, monkeypatch):
    import engine.run
    (tmp_path / "r.yaml").write_text(RULESET.format(ext="csv"))
    (tmp_path / "t.csv").write_text("id,n,d,ts\n")
    report = tmp_path / "report.md"
    report.write_text("previous")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.run, "run", interrupted)
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(report)]) == 130
    assert report.read_text() == "previous" and "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml", "report.md", "t.csv"]


CHECKS_ONLY = """\
ruleset: checks_only
sources:
  t: {path: t.csv, key: id, columns: {id: string, score: float, n: int}}
checks:
  - {id: score_range, source: t, rule: range, column: score, min: 1, max: 5}
"""


def test_a_ruleset_of_checks_alone_with_nan_in_the_evidence(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text(CHECKS_ONLY)
    (tmp_path / "t.csv").write_text("id,score,n\na,NaN,1\nb,3,2\nc,9,4\n")
    for fmt in ("md", "html", "json", "table", "xlsx"):
        code = main(["run", str(tmp_path / "r.yaml"), "--format", fmt, "--out", str(tmp_path / f"r.{fmt}")])
        # NaN and 9 are outside 1..5: the rule fails (exit 1), and every format renders it
        assert code == 1, (fmt, capsys.readouterr().err)
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["kpis"] == [] and result["score"] is None and result["grade"] == "n/a"
    assert [c["failed"] for c in result["checks"]] == [2]
    assert "nan" in (tmp_path / "r.md").read_text()


def test_values_of_another_type_than_the_column_are_refused_at_validation(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text(CHECKS_ONLY.replace(
        "rule: range, column: score, min: 1, max: 5", "rule: allowed_values, column: n, values: ['1', '2']"))
    assert main(["validate", str(tmp_path / "r.yaml")]) == 1
    out = capsys.readouterr().out
    assert "r.yaml:5:" in out and "[value-type]" in out and "'1' is not an int" in out
