"""Issue 15: every report opens with the truth. The verdict of the data-quality rules
(fail-level failures named first), a grade that cannot read "Trustworthy" while a rule
at level fail fails, the previous period, the period and the generation time, in every
format; `run` exiting 1 says why on stderr; --entity heads with the entity."""
from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from engine.cli import main
from engine.labels import ICONS, LABELS

ROOT = Path(__file__).resolve().parent.parent
CENSUS = ROOT / "rulesets" / "data_census.yaml"
DEPARTMENT = ROOT / "rulesets" / "crm_department.yaml"
VENDORS = ROOT / "rulesets" / "vendor_scoring.yaml"
SAMPLE = ROOT / "rulesets" / "sample-data"
EPOCH = "86400"  # 1970-01-02 00:00 UTC
WHEN = "1970-01-02 00:00 UTC"


def run(tmp_path: Path, ruleset: Path, fmt: str, *extra: str, lang: str = "en") -> tuple[int, Path]:
    out = tmp_path / f"{ruleset.stem}.{lang}.{fmt}"
    code = main(["run", str(ruleset), "--format", fmt, "--lang", lang, "--out", str(out), *extra])
    return code, out


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def orphans() -> int:
    """Interactions whose customer is not among the customers, in plain Polars."""
    customers = pl.read_csv(SAMPLE / "customers.csv", infer_schema=False)
    interactions = pl.read_csv(SAMPLE / "interactions.csv", infer_schema=False)
    return interactions.join(customers, on="customer_id", how="anti").height


def test_run_exiting_1_names_the_failed_rule_and_its_rows_on_stderr(tmp_path, capsys):
    code, _ = run(tmp_path, CENSUS, "json")
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"assess: 1 rule at level fail failed: interaction_customer_exists ({orphans():,} rows)"]


def test_the_json_verdict_counts_the_checks_fail_level_first(tmp_path, capsys):
    _, out = run(tmp_path, CENSUS, "json")
    r = json.loads(out.read_text(encoding="utf-8"))
    statuses = [c["status"] for c in r["checks"]]
    v = r["verdict"]
    assert (v["status"], v["passed"], v["warned"], v["failed"]) == (
        "fail", statuses.count("pass"), statuses.count("warn"), statuses.count("fail"))
    assert v["passed"] + v["warned"] + v["failed"] == len(r["checks"]) > 0
    assert [f["status"] for f in v["failures"]] == ["fail"] * v["failed"] + ["warn"] * v["warned"]
    assert v["failures"][0] == {"id": "interaction_customer_exists", "title": "Interactions belong to a known customer",
                                "status": "fail", "rows": orphans()}
    # the grade's label stays in the JSON as the ruleset says; the verdict withholds it in reports
    assert v["grade_withheld"] is True and r["grade_label"] == "Trustworthy"


def test_every_report_opens_with_the_verdict_and_never_says_trustworthy(tmp_path, capsys, pinned):
    _, out = run(tmp_path, CENSUS, "json")
    r = json.loads(out.read_text(encoding="utf-8"))
    statuses = [c["status"] for c in r["checks"]]
    counts = f"{statuses.count('pass')} passed · {ICONS['warn']} {statuses.count('warn')} warned · " \
             f"{ICONS['fail']} {statuses.count('fail')} failed"
    banner = LABELS["en"]["failed_banner"]

    _, md = run(tmp_path, CENSUS, "md")
    text = md.read_text(encoding="utf-8")
    head = text[:text.index("\n## ")]  # before the first section
    assert counts in head and banner in head and "Trustworthy" not in head
    assert "**Interactions belong to a known customer** (`interaction_customer_exists`): 242 rows" in head
    assert "period 2025-01-01 – 2025-12-31" in head and WHEN in head

    _, html = run(tmp_path, CENSUS, "html")
    page = html.read_text(encoding="utf-8")
    head = page[:page.index("<section")]
    assert counts in head and banner in head and "Trustworthy" not in head
    assert 'role="alert"' in head and "interaction_customer_exists" in head and WHEN in head

    _, table = run(tmp_path, CENSUS, "table")
    lines = table.read_text(encoding="utf-8").splitlines()
    assert "period 2025-01-01 – 2025-12-31" in lines[0] and WHEN in lines[0]
    assert banner in lines[1] and "Trustworthy" not in "\n".join(lines[:4])
    assert counts in lines[2] and "Interactions belong to a known customer (242 rows)" in lines[3]

    _, xlsx = run(tmp_path, CENSUS, "xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.read_bytes())).worksheets[0].iter_rows(values_only=True))
    assert rows[1][4] == banner and counts in rows[1][5]
    assert rows[1][6] == "fail: Interactions belong to a known customer (242 rows)"
    assert WHEN in rows[0][5]


def test_a_clean_run_keeps_its_grade_label_and_says_no_rule_failed(tmp_path, capsys):
    _, out = run(tmp_path, VENDORS, "json")
    r = json.loads(out.read_text(encoding="utf-8"))
    assert r["checks"] == [] and r["verdict"] == {"status": "pass", "passed": 0, "warned": 0, "failed": 0,
                                                  "failures": [], "grade_withheld": False}
    _, md = run(tmp_path, VENDORS, "md")
    assert f"({r['grade_label']})" in md.read_text(encoding="utf-8").split("\n## ")[0]
    assert capsys.readouterr().err == ""


def test_the_previous_period_heads_every_format_as_its_own_run_scores_it(tmp_path, capsys):
    """The previous period's total, grade and ranks are those of a run over that period
    (2024): the same rules on the values one period earlier."""
    _, now = run(tmp_path, DEPARTMENT, "json")
    r = json.loads(now.read_text(encoding="utf-8"))
    (tmp_path / "then").mkdir()
    main(["run", str(DEPARTMENT), "--format", "json", "--out", str(tmp_path / "then" / "r.json"),
          "--param", "period_start=2024-01-01", "--param", "period_end=2024-12-31"])
    then = json.loads((tmp_path / "then" / "r.json").read_text(encoding="utf-8"))
    assert r["previous"]["score"] == pytest.approx(then["score"])
    assert r["previous"]["grade"] == then["grade"]
    assert r["previous"]["change"] == pytest.approx(r["score"] - then["score"])
    before = {e["id"]: e for e in then["entities"]}
    for e in r["entities"]:
        assert e["previous"]["score"] == pytest.approx(before[e["id"]]["score"])
        assert e["previous"]["rank"] == before[e["id"]]["rank"]
        assert e["previous"]["rank_change"] == before[e["id"]]["rank"] - e["rank"]
    shown = f"previous period: {then['score']:.1f} · Grade {then['grade']} ({r['score'] - then['score']:+.1f})"
    _, md = run(tmp_path, DEPARTMENT, "md")
    assert shown in md.read_text(encoding="utf-8").split("\n## ")[0]
    _, html = run(tmp_path, DEPARTMENT, "html")
    page = html.read_text(encoding="utf-8")
    assert shown in page[:page.index("</header>")]
    _, table = run(tmp_path, DEPARTMENT, "table")
    assert shown in table.read_text(encoding="utf-8").splitlines()[1]


def test_entity_heads_the_report_with_its_own_total_grade_and_rank(tmp_path, capsys):
    _, whole = run(tmp_path, DEPARTMENT, "json")
    r = json.loads(whole.read_text(encoding="utf-8"))
    e04 = next(e for e in r["entities"] if e["id"] == "E04")
    assert round(e04["score"], 1) != round(r["score"], 1)  # the test can tell them apart
    (tmp_path / "one").mkdir()
    out = tmp_path / "one" / "e04.md"
    main(["run", str(DEPARTMENT), "--entity", "E04", "--format", "md", "--out", str(out)])
    head = out.read_text(encoding="utf-8").split("\n## ")[0]
    assert f"**Score: {e04['score']:.1f}** · **Grade: {e04['grade']}**" in head
    assert f"#{e04['previous']['rank']}" in head  # its previous rank, not the whole's
    out = tmp_path / "one" / "e04.html"
    main(["run", str(DEPARTMENT), "--entity", "E04", "--format", "html", "--out", str(out)])
    header = out.read_text(encoding="utf-8").split("</header>")[0]
    assert f'<div class="score">{e04["score"]:.1f}</div>' in header
    assert f'Grade {e04["grade"]} · #{e04["rank"]}' in header


def test_the_json_result_carries_no_generation_time(tmp_path, capsys):
    _, out = run(tmp_path, CENSUS, "json")
    assert "UTC" not in out.read_text(encoding="utf-8")
