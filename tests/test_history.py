"""--history: runs appended as Parquet, the change since the last run, `assess history`."""
import json
from pathlib import Path

import polars as pl
import pytest

from engine.cli import main
from conftest import ROOT

VENDORS = ROOT / "rulesets" / "vendor_scoring.yaml"


def run_json(capsys, *args: str) -> dict:
    assert main(["run", str(VENDORS), "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_are_appended_and_compared(tmp_path: Path, capsys):
    history = tmp_path / "history"
    first = run_json(capsys, "--history", str(history))
    assert first["since_last"] is None  # nothing to compare with yet
    second = run_json(capsys, "--history", str(history), "--param", "period_start=2025-07-01")
    files = sorted((history / "vendor_scoring").glob("*.parquet"))
    assert len(files) == 2
    # the change is the difference of the two totals printed by the two runs
    assert second["since_last"] == pytest.approx(second["score"] - first["score"])
    kpi_first = {k["id"]: k["value"] for k in first["kpis"]}
    for k in second["kpis"]:
        if k["value"] is not None and kpi_first[k["id"]] is not None:
            assert k["since_last"] == pytest.approx(k["value"] - kpi_first[k["id"]])
    v01 = {e["id"]: e for e in first["entities"]}["V01"]
    assert {e["id"]: e for e in second["entities"]}["V01"]["since_last"] == pytest.approx(
        {e["id"]: e for e in second["entities"]}["V01"]["score"] - v01["score"])
    # one row per KPI per entity (and the overall scorecard) per run
    rows = pl.read_parquet(files[0])
    assert rows.height == len(first["kpis"]) * (len(first["entities"]) + 1)
    assert set(rows["entity"]) == {"", "V01", "V02", "V03", "V04", "V05"}

    assert main(["history", str(history)]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert len(listed) == 2 and all("vendor_scoring" in line for line in listed)
    assert f"score {first['score']:.1f}" in listed[0] and f"score {second['score']:.1f}" in listed[1]


def test_a_failed_run_records_nothing(tmp_path: Path, capsys):
    history = tmp_path / "history"
    run_json(capsys, "--history", str(history))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", str(VENDORS), "--data", str(empty), "--history", str(history)]) == 2
    assert len(list((history / "vendor_scoring").glob("*"))) == 1  # no temporary file either


def test_history_of_an_empty_or_missing_folder(tmp_path: Path, capsys):
    assert main(["history", str(tmp_path)]) == 0
    assert "no runs recorded" in capsys.readouterr().err
    assert main(["history", str(tmp_path / "nope")]) == 2
