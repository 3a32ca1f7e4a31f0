"""Outputs that fit many entities, on rulesets/customer_health.yaml and its sample data
(2,226 customer ids: more than run.CARDS, so the reports summarise): the entity table
in Parquet and CSV, the complete JSON, the distribution in the reports, the capped XLSX.
Expected values come from the sample CSVs read with plain Polars, or from the table
itself where the test checks consistency between two outputs."""
from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine import workbook
from engine.cli import main
from engine.run import CARDS, SHOWN, shown
from engine.score import ID, LABEL
from conftest import ROOT

RULESET = ROOT / "rulesets" / "customer_health.yaml"
DATA = ROOT / "rulesets" / "sample-data"
KPIS = ["recency_days", "orders_per_customer", "revenue_per_customer", "csat", "nps", "complaints", "open_tickets"]
GRADES = [(80, "champions"), (65, "loyal"), (50, "potential"), (35, "at_risk"), (0, "hibernating")]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("many")
    for fmt in ("parquet", "csv", "json", "md", "html", "table"):
        assert main(["run", str(RULESET), "--format", fmt, "--out", str(folder / f"r.{fmt}")]) == 0
    return folder


@pytest.fixture(scope="module")
def table(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "r.parquet")


def test_one_row_per_customer_id_found_in_any_source(table):
    ids = set()
    for name in ("customers", "orders", "surveys", "interactions"):
        ids |= set(pl.read_csv(DATA / f"{name}.csv", columns=["customer_id"])["customer_id"].drop_nulls())
    assert table.height == len(ids) > CARDS and set(table["id"]) == ids
    assert table.columns == ["id", "name", "rank", "score", "grade", *(c for k in KPIS for c in (k, f"{k}.score")),
                             "actions"]


def test_ranks_grades_and_order(table):
    scores = table["score"].to_list()
    # rank "min": one more than the entities scoring strictly more (1, 1, 3)
    expected = [1 + sum(t > s for t in scores) for s in scores]
    assert table["rank"].to_list() == expected
    assert table["grade"].to_list() == [next(g for floor, g in GRADES if s >= floor) for s in scores]
    assert scores == sorted(scores, reverse=True)
    names = dict(pl.read_csv(DATA / "customers.csv", columns=["customer_id", "name"]).iter_rows())
    assert all(n == names.get(i, i) for i, n in table.select("id", "name").iter_rows())


def test_csv_holds_the_same_table(out, table):
    csv = pl.read_csv(out / "r.csv", schema=table.schema)
    assert_frame_equal(csv.select(pl.exclude("actions")), table.select(pl.exclude("actions")), rel_tol=1e-12)
    assert csv["actions"].fill_null("").to_list() == table["actions"].to_list()


def test_json_is_complete_and_counts_every_entity(out, table):
    r = json.loads((out / "r.json").read_text(encoding="utf-8"))
    assert [e["id"] for e in r["entities"]] == table["id"].to_list()
    first = r["entities"][0]
    assert [k["value"] for k in first["kpis"]] == pytest.approx([table[k][0] for k in KPIS])
    p = r["population"]
    assert p["entities"] == table.height and p["shown"] == 2 * SHOWN
    counts = dict(table["grade"].value_counts().iter_rows())
    assert {g["grade"]: g["count"] for g in p["grades"]} == {g: counts.get(g, 0) for _, g in GRADES}
    bins = [sum(min(int(s // 10), 9) == i for s in table["score"]) for i in range(10)]
    assert [h["count"] for h in p["histogram"]] == bins
    fires = {a["id"]: a["count"] for a in p["actions"]}
    assert fires["champions_advocacy"] == counts["champions"]
    assert fires["service_recovery"] == table.filter((pl.col("complaints") >= 2) | (pl.col("open_tickets") >= 2)).height
    assert table.filter(pl.col("actions").str.contains("service_recovery")).height == fires["service_recovery"]
    # the actions' texts: for the entities kept as cards only
    assert {a["entity"] for a in r["actions"]} <= {e["id"] for e in r["entities"][:SHOWN] + r["entities"][-SHOWN:]}


def test_a_card_agrees_with_its_row_of_the_table(out, table, tmp_path):
    """The card of an entity from the middle of the ranking (`--entity`, built as a
    scorecard) and its entry in the complete JSON (written from the table) agree."""
    middle = table["id"][table.height // 2]
    assert main(["run", str(RULESET), "--entity", middle, "--format", "json", "--out", str(tmp_path / "one.json")]) == 0
    card = json.loads((tmp_path / "one.json").read_text(encoding="utf-8"))["entities"]
    row = next(e for e in json.loads((out / "r.json").read_text(encoding="utf-8"))["entities"] if e["id"] == middle)
    assert len(card) == 1 and card[0] == row


def test_reports_show_the_distribution_and_the_top_and_bottom(out, table):
    md = (out / "r.md").read_text(encoding="utf-8")
    assert f"## Scores of every entity: {table.height:,}" in md
    assert md.count("\n<details><summary>") == 2 * SHOWN  # one card each, folded
    html = (out / "r.html").read_text(encoding="utf-8")
    assert html.count('<div class="card entity">') == 2 * SHOWN
    for name in table["name"][:SHOWN].to_list() + table["name"][-SHOWN:].to_list():
        assert name in html
    terminal = (out / "r.table").read_text(encoding="utf-8")
    assert f"{table.height:,} entities by grade" in terminal
    assert table["name"][table.height // 2] not in terminal or table["name"][table.height // 2] in (
        table["name"][:SHOWN].to_list() + table["name"][-SHOWN:].to_list())


def test_xlsx_caps_the_ranking_sheet_with_a_note(monkeypatch, table, tmp_path):
    monkeypatch.setattr(workbook, "MAX_ROWS", 100)
    assert main(["run", str(RULESET), "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")]) == 0
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx").worksheets[1]
    rows = [r for r in sheet.iter_rows(values_only=True)]
    assert [r[1] for r in rows[1:101]] == table["id"][:100].to_list()
    assert rows[102][0].startswith(f"100 of {table.height:,}")


def test_few_entities_keep_every_card(tmp_path):
    assert main(["run", str(ROOT / "rulesets" / "vendor_scoring.yaml"), "--format", "json",
                 "--out", str(tmp_path / "v.json")]) == 0
    r = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert r["population"] is None and len(r["entities"]) == len(pl.read_csv(DATA / "vendors.csv"))


def test_an_entity_table_needs_entities(capsys):
    assert main(["run", str(ROOT / "rulesets" / "crm_assessment.yaml"), "--format", "parquet", "--out", "x.parquet"]) == 2
    assert "has no `by`" in capsys.readouterr().err


def test_the_json_of_every_entity_says_its_reasons_and_notes_in_the_results_language(tmp_path):
    # the many-entity JSON is written from the table (render._entities_json), the shown
    # cards one by one (run.cards): the two must say the same, in Chinese. 1,200 owners,
    # every third without a value of y: y is n/a there (a reason, a note on its weight)
    # and the owner is scored on x alone (an unranked reason)
    from engine.render import _json
    from engine.run import assess

    (tmp_path / "t.csv").write_text("owner,x,y\n" + "".join(
        f"o{i:04d},{i % 7},{'' if i % 3 == 0 else i % 5}\n" for i in range(CARDS + 200)), encoding="utf-8")
    (tmp_path / "r.yaml").write_text("""\
ruleset: r
by: owner
sources: {t: {path: t.csv}}
measures:
  x: {source: t, sum: x}
  y: {source: t, mean: y}
categories: {c: {}}
kpis:
  kx: {formula: x, target: 6, floor: 0, category: c}
  ky: {formula: y, target: 4, floor: 0, category: c}
""", encoding="utf-8")
    result = assess(tmp_path / "r.yaml", tmp_path, lang="zh")
    written = {e["id"]: e for e in json.loads(_json(result))["entities"]}
    assert len(written) == CARDS + 200 and len(result.entities) < len(written)
    for card in result.entities:
        e = written[card.id]
        assert [k["reason"] for k in e["kpis"]] == [k.reason for k in card.kpis]
        assert e["notes"] == card.notes and e["unranked"] == card.unranked
    o0 = written["o0000"]  # 0 % 3 == 0: no y
    assert o0["kpis"][1]["reason"] and o0["notes"] and o0["unranked"]
    said = {k["reason"] for e in written.values() for k in e["kpis"] if k["reason"]}
    said |= {n for e in written.values() for n in e["notes"]} | {e["unranked"] for e in written.values() if e["unranked"]}
    assert not any(text.isascii() for text in said)  # every reason and note in Chinese


def test_the_population_of_many_entities_counts_grades_bins_and_the_unscored(tmp_path):
    # owner i: x = 0, 3 or 6 by i % 3 (scores 0, 50, 100 from floor 0 to target 6); every
    # tenth owner has no x at all, so no score and the grade n/a
    from engine.run import assess

    n = CARDS + 200
    (tmp_path / "t.csv").write_text("owner,x\n" + "".join(
        f"o{i:04d},{'' if i % 10 == 0 else i % 3 * 3}\n" for i in range(n)), encoding="utf-8")
    (tmp_path / "r.yaml").write_text("""\
ruleset: r
by: owner
sources: {t: {path: t.csv}}
measures:
  x: {source: t, mean: x}
categories: {c: {}}
grades: [{min: 90, grade: A}, {min: 0, grade: B}]
kpis:
  kx: {formula: x, target: 6, floor: 0, category: c}
""", encoding="utf-8")
    population = assess(tmp_path / "r.yaml", tmp_path).population
    unscored = sum(1 for i in range(n) if i % 10 == 0)
    scored = [i % 3 * 50 for i in range(n) if i % 10]
    assert population["entities"] == n
    assert population["grades"] == [{"grade": "A", "label": "", "count": scored.count(100)},
                                    {"grade": "B", "label": "", "count": len(scored) - scored.count(100)},
                                    {"grade": "n/a", "label": "", "count": unscored}]
    # ten-point bins, 100 in the last; a bin nobody falls in counts 0
    expected = [scored.count(0)] + [0] * 4 + [scored.count(50)] + [0] * 3 + [scored.count(100)]
    assert [(h["from"], h["to"], h["count"]) for h in population["histogram"]] == \
        [(i * 10, i * 10 + 10, c) for i, c in enumerate(expected)]


@pytest.mark.parametrize("place", [0, SHOWN - 1, SHOWN, CARDS // 2, CARDS + 10 - SHOWN - 1, CARDS + 10 - SHOWN,
                                   CARDS + 9])
def test_a_named_entity_is_kept_once_wherever_it_ranks(place):
    n = CARDS + 10  # ranked best first: e0 .. e1009
    table = pl.DataFrame({ID: [f"e{i}" for i in range(n)], LABEL: [f"name {i}" for i in range(n)]})
    kept = shown(table, f"e{place}")[ID].to_list()
    # the top and bottom SHOWN, and the named one once, in rank order
    expected = [f"e{i}" for i in sorted({*range(SHOWN), *range(n - SHOWN, n), place})]
    assert kept == expected
    assert shown(table, f"name {place}")[ID].to_list() == expected  # named by its name too
