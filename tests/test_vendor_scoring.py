"""vendor_scoring end to end on hand-made tables (tests/data/vendors), every number by hand.

Period 2025-01-01..2025-12-31 (365 days). `compare: previous`: the period is whole months,
so the previous period is the same number of calendar months before, 2024-01-01..
2024-12-31 (366 days: period_days differs), and that period's own revenue_before is 2023.

Four vendors: V1 Alpha CRM and V2 Beta Soft tie (different rows, same scores), V3 Gamma
Cloud scores lower, V4 Delta Desk has no ticket in the period (its only one is 2024-11-11).

customers (active on d: created_at <= d and churned_at empty or later than d):
  V1: C01 (2023, active), C02 (new 2025-03-01)
      at start 1 (C01), retained 1, new 1
  V2: C03 (2024-02-01), C04 (2023), C05 (new 2025-05-05), C06 (new 2025-12-31, last day)
      at start 2 (C03, C04), retained 2, new 2
  V3: C07 (2024-06-01, churned 2025-06-30), C08 (created 2025-01-01, the start day),
      C09 (created 2024-01-01, churned 2025-01-01, the start day: not active), C10 (2022)
      at start 3 (C07, C08, C10), retained 2 (C08, C10), new 1 (C08: created on the start
      day, so both at start and new)
  V4: C11 (2024-03-03, churned 2025-12-31 = period_end: not retained), C12 (new 2025-02-02),
      C13 (new 2025-08-08)
      at start 1, retained 0, new 2
  overall: at start 1+2+3+1 = 7, retained 1+2+2+0 = 5, new 1+2+1+2 = 6
previous period (2024), active on 2024-01-01:
  V1 C01 -> 1, retained 1; V2 C04 -> 1 (C03 created later), retained 1; V3 C09 (created
  that day), C10 -> 2 (C09 churned 2025-01-01, after 2024-12-31: retained), retained 2;
  V4 none -> 0
  new in 2024: V1 none, V2 C03, V3 C07 and C09, V4 C11 -> 0, 1, 2, 1 (overall 4)
costs: 2025-01 5000+2000, 2025-12 4000+3000 -> 14000 (2026-01 is outside); 2024: 2024-01
  500+500, 2024-12 1000+1000 -> 3000
  allocated by customers at start, 14000 x n / 7 = 2000 per customer at start:
  V1 2000, V2 4000, V3 6000, V4 2000
  2024: 3000 x n / 4 (at start 1, 1, 2, 0) -> V1 750, V2 750, V3 1500, V4 0
orders, 2025 / 2024 / 2023:
  V1 O01 600 + O02 400 (2025-12-31) = 1000 / O03 800 / O04 500 (2023-12-31)
  V2 O05 1500 (2025-01-01) + O06 500 = 2000 / O07 1000 (2024-12-31) / none
  V3 O08 3000 (O10 is 2026-01-01) / O09 3000 / none
  V4 O11 500 / O12 1000 / none
"""
from pathlib import Path

import pytest

from engine.run import assess

ROOT = Path(__file__).resolve().parent.parent
RULESET = ROOT / "rulesets" / "vendor_scoring.yaml"
DATA = Path(__file__).resolve().parent / "data" / "vendors"


@pytest.fixture(scope="module")
def result():
    return assess(RULESET, DATA)


# every KPI value of every vendor, by hand
VALUES = {
    # csat 4-5 / answers with a csat, 2025:
    #   V1 S01 5, S02 4 -> 2/2; V2 S04 4 (S05 has no csat) -> 1/1; V3 S06 2, S07 4, S08 5
    #   (2025-12-31) -> 2/3; V4 S10 3 -> 0/1
    "customer_csat": {"V1": 1.0, "V2": 1.0, "V3": 2 / 3, "V4": 0.0},
    # retained / at start: 1/1, 2/2, 2/3, 0/1
    "retention_rate": {"V1": 1.0, "V2": 1.0, "V3": 2 / 3, "V4": 0.0},
    # revenue / revenue before - 1: 1000/800, 2000/1000, 3000/3000, 500/1000
    "sales_growth": {"V1": 0.25, "V2": 1.0, "V3": 0.0, "V4": -0.5},
    # allocated cost / new customers: 2000/1, 4000/2, 6000/1, 2000/2
    "cac": {"V1": 2000.0, "V2": 2000.0, "V3": 6000.0, "V4": 1000.0},
    # revenue / at start x 365/365 x min(1 / (1 - retention), 10) - cac
    #   V1 1000/1 x min(1/0 -> no value, 10) = 10 years -> 10000 - 2000 = 8000
    #   V2 2000/2 x 10 - 2000 = 8000 (ties with V1)
    #   V3 3000/3 x 1/(1 - 2/3) = 1000 x 3 - 6000 = -3000
    #   V4 500/1 x 1/(1 - 0) = 500 - 1000 = -500
    "clv": {"V1": 8000.0, "V2": 8000.0, "V3": -3000.0, "V4": -500.0},
    # mean uptime_pct of the 2025 months / 100:
    #   V1 (100 + 99.95)/2 = 99.975; V2 99.99; V3 (99.0 + 99.5)/2 = 99.25; V4 99.95
    "uptime": {"V1": 0.99975, "V2": 0.9999, "V3": 0.9925, "V4": 0.9995},
    # incidents / months: V1 (0+1)/2, V2 0/1, V3 (1+2)/2, V4 3/1
    "incidents": {"V1": 0.5, "V2": 0.0, "V3": 1.5, "V4": 3.0},
    # median hours to first response, tickets opened in 2025 (by the date opened):
    #   V1 T01 1h, T02 13h, T03 30h (opened 2025-12-31 20:00) -> 13 (not the mean 14.67)
    #   V2 T04 6h, T05 20h -> (6 + 20) / 2 = 13 (T06 was opened 2024-12-31 23:30)
    #   V3 T07 4h, T08 2h, T09 24h -> 4; V4 no ticket in 2025 -> n/a
    "first_response_hours": {"V1": 13.0, "V2": 13.0, "V3": 4.0, "V4": None},
    # resolved within sla_hours / opened: V1 T01 4<=8, T02 24<=24, T03 48<=72 -> 3/3;
    #   V2 T04 8<=8, T05 24<=48 -> 2/2; V3 T07 24>8, T08 4<=8, T09 unresolved -> 1/3; V4 0/0
    "sla_met_rate": {"V1": 1.0, "V2": 1.0, "V3": 1 / 3, "V4": None},
    # training hours of 2025 reviews: V1 10+15, V2 30+0, V3 40 (R6 is 2024), V4 45
    "training_hours": {"V1": 25.0, "V2": 30.0, "V3": 40.0, "V4": 45.0},
    # mean satisfaction: V1 (4+3)/2, V2 (5+2)/2, V3 5, V4 5
    "vendor_satisfaction": {"V1": 3.5, "V2": 3.5, "V3": 5.0, "V4": 5.0},
}

SCORES = {
    # linear (v - 0.5) / (0.8 - 0.5); 2/3 -> 0.1667 / 0.3 = 55.56
    "customer_csat": {"V1": 100.0, "V2": 100.0, "V3": 500 / 9, "V4": 0.0},
    # linear (v - 0.6) / 0.3; 2/3 -> 0.0667 / 0.3 = 22.22
    "retention_rate": {"V1": 100.0, "V2": 100.0, "V3": 200 / 9, "V4": 0.0},
    # linear (v + 0.1) / 0.2: 0.25 and 1.0 clip to 100, 0 -> 50, -0.5 clips to 0
    "sales_growth": {"V1": 100.0, "V2": 100.0, "V3": 50.0, "V4": 0.0},
    # percentile, lower is better, 3 others: (beaten + ties / 2) / 3
    #   V1 beats V3, ties V2: (1 + 0.5)/3 = 50; V2 the same; V3 beats none: 0; V4 beats 3: 100
    "cac": {"V1": 50.0, "V2": 50.0, "V3": 0.0, "V4": 100.0},
    # percentile, higher is better: V1 beats V3, V4 and ties V2: (2 + 0.5)/3 = 83.33;
    #   V3 0; V4 beats V3: 1/3 = 33.33
    "clv": {"V1": 250 / 3, "V2": 250 / 3, "V3": 0.0, "V4": 100 / 3},
    # linear (v - 0.99) / 0.009: V3 0.0025 / 0.009 = 27.78; the others are above 0.999
    "uptime": {"V1": 100.0, "V2": 100.0, "V3": 250 / 9, "V4": 100.0},
    # lower is better, (v - 3) / (0.5 - 3): 0.5 -> 100, 0 -> 100, 1.5 -> 60, 3 -> 0
    "incidents": {"V1": 100.0, "V2": 100.0, "V3": 60.0, "V4": 0.0},
    # (v - 24) / (2 - 24): 13 -> 50, 4 -> 90.91
    "first_response_hours": {"V1": 50.0, "V2": 50.0, "V3": 1000 / 11, "V4": None},
    # (v - 0.6) / 0.35: 1 -> 100, 1/3 -> below the floor: 0
    "sla_met_rate": {"V1": 100.0, "V2": 100.0, "V3": 0.0, "V4": None},
    # bands [[40, 100], [20, 70], [10, 40]]: 25 -> 70, 30 -> 70, 40 -> 100, 45 -> 100
    "training_hours": {"V1": 70.0, "V2": 70.0, "V3": 100.0, "V4": 100.0},
    # (v - 2.5) / 2: 3.5 -> 50, 5 -> 100
    "vendor_satisfaction": {"V1": 50.0, "V2": 50.0, "V3": 100.0, "V4": 100.0},
}

CASES = [(k, v) for k in VALUES for v in ("V1", "V2", "V3", "V4")]


@pytest.mark.parametrize("kpi,vendor", CASES)
def test_kpi_value_per_vendor(result, kpi, vendor):
    expected = VALUES[kpi][vendor]
    value = result.entity(vendor).kpi(kpi).value
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)


@pytest.mark.parametrize("kpi,vendor", CASES)
def test_kpi_score_per_vendor(result, kpi, vendor):
    expected = SCORES[kpi][vendor]
    score = result.entity(vendor).kpi(kpi).score
    if expected is None:
        assert score is None
    else:
        assert score == pytest.approx(expected)


def test_percentile_ties_are_exactly_equal(result):
    # V1 and V2 tie on cac (2000) and clv (8000): the same score to the last bit, or the
    # rank tie below could not hold
    v1, v2 = result.entity("V1"), result.entity("V2")
    assert v1.kpi("cac").value == v2.kpi("cac").value
    assert v1.kpi("cac").score == v2.kpi("cac").score == pytest.approx(50.0)
    assert v1.kpi("clv").score == v2.kpi("clv").score == pytest.approx(250 / 3)


def test_statuses(result):
    v1, v3, v4 = result.entity("V1"), result.entity("V3"), result.entity("V4")
    # 13 hours against a target of 2 (near only up to 2 + 5% x 2 = 2.1)
    assert v1.kpi("first_response_hours").status == "missed"
    assert v1.kpi("incidents").status == "met"  # 0.5 <= 0.5
    assert v3.kpi("sla_met_rate").status == "missed"
    assert v4.kpi("sla_met_rate").status == "n/a"
    # cac has no target: met only at a score of 100 (V4 is the cheapest)
    assert v4.kpi("cac").status == "met"
    assert v1.kpi("cac").status == "missed"


def test_na_kpis_say_why(result):
    v4 = result.entity("V4")
    sla, response = v4.kpi("sla_met_rate"), v4.kpi("first_response_hours")
    assert "division by zero" in sla.reason and "tickets_opened" in sla.reason
    assert "response_hours_median" in response.reason
    assert any("first_response_hours" in n for n in v4.notes)
    assert any("sla_met_rate" in n for n in v4.notes)


def test_categories_and_totals(result):
    v1 = {c.id: c.score for c in result.entity("V1").categories}
    # business, weights 3/3/2/1/1: (300 + 300 + 200 + 50 + 83.33) / 10 = 93.33
    assert v1["business"] == pytest.approx(280 / 3)
    assert v1["stability"] == pytest.approx(100.0)
    # support, weights 2/2/1: (2 x 50 + 2 x 100 + 70) / 5 = 74
    assert v1["support"] == pytest.approx(74.0)
    assert v1["satisfaction"] == pytest.approx(50.0)
    # 40/20/25/15: (40 x 93.33 + 20 x 100 + 25 x 74 + 15 x 50) / 100 = 83.33
    assert result.entity("V1").score == pytest.approx(250 / 3)
    v3 = {c.id: c.score for c in result.entity("V3").categories}
    # business (3 x 55.56 + 3 x 22.22 + 2 x 50 + 0 + 0) / 10 = 33.33
    assert v3["business"] == pytest.approx(100 / 3)
    # stability (2 x 27.78 + 60) / 3 = 1040/27 = 38.52
    assert v3["stability"] == pytest.approx(1040 / 27)
    # support (2 x 90.91 + 2 x 0 + 100) / 5 = 620/11 = 56.36
    assert v3["support"] == pytest.approx(620 / 11)
    # (40 x 33.33 + 20 x 38.52 + 25 x 56.36 + 15 x 100) / 100 = 50.13
    assert result.entity("V3").score == pytest.approx(
        (40 * 100 / 3 + 20 * 1040 / 27 + 25 * 620 / 11 + 15 * 100) / 100)
    v4 = result.entity("V4")
    cats = {c.id: c.score for c in v4.categories}
    # business (0 + 0 + 0 + 100 + 33.33) / 10 = 13.33; stability (2 x 100 + 0) / 3
    assert cats["business"] == pytest.approx(40 / 3)
    assert cats["stability"] == pytest.approx(200 / 3)
    # support: first_response_hours and sla_met_rate are n/a, training (100) stands alone
    assert cats["support"] == pytest.approx(100.0)
    # (40 x 13.33 + 20 x 66.67 + 25 x 100 + 15 x 100) / 100 = 58.67
    assert v4.score == pytest.approx((40 * 40 / 3 + 20 * 200 / 3 + 2500 + 1500) / 100)
    # the n/a KPIs count for nothing; training holds the whole support weight (25%)
    assert v4.kpi("sla_met_rate").share == 0
    assert v4.kpi("training_hours").share == pytest.approx(0.25)


def test_grades(result):
    # 83.33 -> B (>= 70), 50.13 -> D (< 55), 58.67 -> C
    assert {e.id: (e.grade, e.grade_label) for e in result.entities} == {
        "V1": ("B", "Approved"), "V2": ("B", "Approved"), "V3": ("D", "To replace"),
        "V4": ("C", "On watch")}


def test_ranks_tie_and_unranked_last(result):
    # V1 and V2 both 83.33: rank 1, 1; V3 50.13: rank 3; V4 (58.67, more than V3) is scored
    # without first_response_hours and sla_met_rate, so it is not ranked and comes last
    assert [(e.id, e.rank) for e in result.entities] == [("V1", 1), ("V2", 1), ("V3", 3), ("V4", None)]
    assert result.entity("V1").score == result.entity("V2").score
    v4 = result.entity("V4")
    assert v4.score > result.entity("V3").score
    assert "`first_response_hours`" in v4.unranked and "`sla_met_rate`" in v4.unranked
    assert all(e.unranked is None for e in result.entities[:3])


def test_display_names(result):
    assert {e.id: e.name for e in result.entities} == {
        "V1": "Alpha CRM", "V2": "Beta Soft", "V3": "Gamma Cloud", "V4": "Delta Desk"}


def test_previous_period_and_change(result):
    v1, v2, v3, v4 = (result.entity(v) for v in ("V1", "V2", "V3", "V4"))
    # sales_growth, previous period 2024: V1 800 against 2023 (O04, 500): 800/500 - 1 = 0.6;
    # now 0.25
    g = v1.kpi("sales_growth")
    assert g.previous == pytest.approx(0.6)
    assert g.change == pytest.approx(0.25 - 0.6)
    assert g.change_pct == pytest.approx(-0.35 / 0.6)
    assert g.improved is False
    # V2: 1000 in the previous period against nothing before it: n/a, so no change
    assert v2.kpi("sales_growth").previous is None
    assert v2.kpi("sales_growth").change is None and v2.kpi("sales_growth").improved is None
    # retention: V3 2/2 -> 2/3 (down 1/3); V1 1/1 -> 1/1 (unchanged: improved None);
    # V4 had nobody at the start of the previous period
    r3 = v3.kpi("retention_rate")
    assert (r3.previous, r3.improved) == (pytest.approx(1.0), False)
    assert r3.change == pytest.approx(-1 / 3) and r3.change_pct == pytest.approx(-1 / 3)
    r1 = v1.kpi("retention_rate")
    assert (r1.previous, r1.change, r1.improved) == (pytest.approx(1.0), pytest.approx(0.0), None)
    assert v4.kpi("retention_rate").previous is None
    # customer_csat V1: S03 (csat 3) in 2024 -> 0/1 = 0; now 1.0: change_pct has no base
    c1 = v1.kpi("customer_csat")
    assert (c1.previous, c1.change, c1.change_pct, c1.improved) == (0.0, pytest.approx(1.0), None, True)
    # incidents (lower is better) V1: 2024-06 -> 2 a month; now 0.5: improved
    i1 = v1.kpi("incidents")
    assert (i1.previous, i1.change, i1.improved) == (pytest.approx(2.0), pytest.approx(-1.5), True)
    # first response (lower is better) V2: T06 2h in 2024; now 13h: worse
    f2 = v2.kpi("first_response_hours")
    assert (f2.previous, f2.change, f2.improved) == (pytest.approx(2.0), pytest.approx(11.0), False)
    # V4: 3h in 2024 (T10), nothing now: a previous value but no change
    f4 = v4.kpi("first_response_hours")
    assert (f4.previous, f4.change, f4.improved) == (pytest.approx(3.0), None, None)
    # cac previous: 3000 allocated 750/750/1500/0 over new customers 0/1/2/1:
    # V1 n/a, V2 750, V3 750, V4 0
    assert v1.kpi("cac").previous is None
    assert [v.kpi("cac").previous for v in (v2, v3, v4)] == [pytest.approx(750), pytest.approx(750), 0.0]
    assert v3.kpi("cac").change_pct == pytest.approx((6000 - 750) / 750)
    assert v3.kpi("cac").improved is False  # lower is better, it rose
    # clv previous, over 2024's own 366 days: V3 3000/2 x 365/366 x min(1/(1 - 2/2), 10)
    # - 750 = 1500 x 365/366 x 10 - 750
    assert v3.kpi("clv").previous == pytest.approx(1500 * 365 / 366 * 10 - 750)


def test_overall_values(result):
    # the whole, not the sum of vendors: csat answers 2+1+3+1 = 7, satisfied 2+1+2+0 = 5
    assert result.kpi("customer_csat").value == pytest.approx(5 / 7)
    assert result.kpi("retention_rate").value == pytest.approx(5 / 7)
    # revenue 1000+2000+3000+500 = 6500 against 800+1000+3000+1000 = 5800
    assert result.kpi("sales_growth").value == pytest.approx(6500 / 5800 - 1)
    # 14000 / 6 new customers, not allocated
    cac = result.kpi("cac")
    assert cac.value == pytest.approx(14000 / 6)
    # previous: 3000 / 4 new customers in 2024 (C03, C07, C09, C11)
    assert cac.previous == pytest.approx(3000 / 4)
    assert cac.improved is False
    # clv: 6500/7 x min(1 / (1 - 5/7), 10) = 928.57 x 3.5 = 3250, - 2333.33
    clv = result.kpi("clv")
    assert clv.value == pytest.approx(3250 - 14000 / 6)
    assert clv.score is None and "other entities" in clv.reason  # percentile needs peers
    # mean uptime of the six 2025 vendor-months: (100 + 99.95 + 99.99 + 99.0 + 99.5 + 99.95)/6
    assert result.kpi("uptime").value == pytest.approx(598.39 / 6 / 100)
    # incidents 0+1+0+1+2+3 = 7 over 6 months
    assert result.kpi("incidents").value == pytest.approx(7 / 6)
    # median of 1, 13, 30, 6, 20, 4, 2, 24 -> sorted 1 2 4 6 13 20 24 30 -> (6 + 13) / 2
    assert result.kpi("first_response_hours").value == pytest.approx(9.5)
    # in SLA 3 + 2 + 1 = 6 of 8 opened
    assert result.kpi("sla_met_rate").value == pytest.approx(0.75)
    # training (25 + 30 + 40 + 45) / 4 vendors reviewed; satisfaction (4+3+5+2+5+5) / 6
    assert result.kpi("training_hours").value == pytest.approx(140.0 / 4)
    assert result.kpi("vendor_satisfaction").value == pytest.approx(4.0)


def test_entity_actions_name_the_vendor(result):
    fired = {(a.id, a.entity) for a in result.actions}
    # score < 70: V3 (50.13) and V4 (58.67); SLA missed: V3 only (V4 is n/a, V1/V2 met)
    assert fired == {("improvement_plan", "V3"), ("improvement_plan", "V4"), ("sla_escalation", "V3")}
    # high priority before medium
    assert [a.priority for a in result.actions] == ["high", "high", "medium"]
    texts = {(a.id, a.entity): a.text for a in result.actions}
    plan = texts[("improvement_plan", "V3")]
    # weakest category of V3: business 33.33
    assert plan.startswith("Gamma Cloud scores 50.1 (grade D), weakest in Business outcomes")
    assert texts[("improvement_plan", "V4")].startswith(
        "Delta Desk scores 58.7 (grade C), weakest in Business outcomes")
    sla = texts[("sla_escalation", "V3")]
    assert sla.startswith("Gamma Cloud resolves 33.3% of tickets within SLA (target 95.0%)")
    # sla_met_rate holds 2/5 of support (25%) = 10% of V3's total, scoring 0: gains 10 points
    assert next(a for a in result.actions if a.id == "sla_escalation").gain == pytest.approx(10.0)
