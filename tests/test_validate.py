"""Stage 2, validate: schema and semantic problems, each located, all reported at once."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from engine.errors import AssessError, Location
from engine.load import load_text
from engine.validate import load_ruleset, validate

ROOT = Path(__file__).resolve().parent.parent

BASE: dict[str, Any] = {
    "ruleset": "r",
    "params": {"period_end": "2025-12-31"},
    "sources": {"orders": {"path": "orders.csv",
                           "columns": {"amount": "float", "status": "string", "day": "date"}}},
    "measures": {
        "revenue": {"source": "orders", "sum": "amount", "where": "status == 'paid'"},
        "orders_n": {"source": "orders", "count": True},
    },
    "kpis": {
        # avg_k uses avg_order, but is declared first: validate must reorder them
        "avg_k": {"formula": "avg_order / 1000", "category": "sales", "target": 0.1},
        "avg_order": {"formula": "revenue / orders_n", "category": "sales",
                      "target": 100, "floor": 50},
    },
    "categories": {"sales": {"weight": 1}},
    "actions": [{"id": "a1", "when": "avg_order.score < 50",
                 "text": "Average is {{ avg_order.value }}"}],
}


def dump(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=1000)


def mutated(change: Callable[[dict], Any]) -> str:
    data = copy.deepcopy(BASE)
    change(data)
    return dump(data)


def problems(text: str) -> list:
    with pytest.raises(AssessError) as info:
        validate(load_text(text, "r.yaml"))
    return info.value.problems


def find(text: str, line_text: str, word: str) -> Location:
    """Where ``word`` stands on the (first) line containing ``line_text``, counted here."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line_text in line:
            return Location("r.yaml", number, line.index(word) + 1)
    raise AssertionError(f"no line with {line_text!r}")


def one(text: str, rule: str):
    found = [p for p in problems(text) if p.rule == rule]
    assert len(found) == 1, problems(text)
    return found[0]


# ---------------------------------------------------------------- valid rulesets

def test_minimal_ruleset_is_valid_and_kpis_come_in_dependency_order():
    ruleset = validate(load_text(dump(BASE), "r.yaml"))
    assert list(ruleset.kpis) == ["avg_order", "avg_k"]  # avg_k uses avg_order
    assert set(ruleset.measures) == {"revenue", "orders_n"}
    kpi = ruleset.kpis["avg_order"]
    assert (kpi.target, kpi.floor, kpi.category) == (100, 50, "sales")
    assert kpi.scoring.method == "linear"  # a floor is given
    assert ruleset.kpis["avg_k"].scoring.method == "ratio"  # no floor
    assert ruleset.kpis["avg_k"].formula.names == {"avg_order"}


def test_dependency_order_over_a_chain():
    def chain(d):
        d["kpis"] = {
            "c": {"formula": "b + 1", "category": "sales", "target": 1},
            "b": {"formula": "a + 1", "category": "sales", "target": 1},
            "a": {"formula": "revenue", "category": "sales", "target": 1},
        }
        d["actions"] = []
    assert list(validate(load_text(mutated(chain), "r.yaml")).kpis) == ["a", "b", "c"]


def test_the_crm_ruleset_is_valid():
    ruleset = load_ruleset(ROOT / "rulesets" / "crm_assessment.yaml")
    assert ruleset.id == "crm_assessment"
    assert list(ruleset.kpis) == ["retention_rate", "conversion_rate", "csat", "nps",
                                  "complaint_rate"]
    assert set(ruleset.categories) == {"loyalty", "acquisition", "feedback"}
    assert ruleset.kpis["complaint_rate"].better == "lower"
    assert len(ruleset.checks) == 4 and len(ruleset.actions) == 4


# ---------------------------------------------------------------- located problems

def test_misspelt_measure_in_a_formula():
    text = mutated(lambda d: d["kpis"]["avg_order"].update(formula="2 * revenu / orders_n"))
    p = one(text, "unknown-name")
    assert p.location == find(text, "formula: 2 * revenu", "revenu")
    assert p.hint == "did you mean `revenue`?"
    assert "revenu" in p.message


def test_misspelt_name_in_a_quoted_formula_points_at_the_name():
    text = "\n".join(dump(BASE).splitlines()).replace(
        "formula: revenue / orders_n", "formula: 'orders_n * revenu'") + "\n"
    p = one(text, "unknown-name")
    assert p.location == find(text, "formula: 'orders_n", "revenu")


def test_unknown_property_at_its_key():
    text = mutated(lambda d: d["kpis"]["avg_order"].update(wieght=3))
    p = one(text, "unknown-property")
    assert p.location == find(text, "wieght:", "wieght")
    assert p.hint == "did you mean `weight`?"


def test_unknown_top_level_property():
    text = mutated(lambda d: d.update(categorys={}))
    p = one(text, "unknown-property")
    assert p.location == Location("r.yaml", find(text, "categorys:", "c").line, 1)
    assert p.hint == "did you mean `categories`?"


@pytest.mark.parametrize("formulas, cycle", [
    # avg_k is declared first, so the walk enters the cycle there
    ({"avg_order": "avg_k * 2"}, "avg_k -> avg_order -> avg_k"),
    ({"avg_order": "avg_order + 1"}, "avg_order -> avg_order"),
])
def test_kpi_cycle(formulas, cycle):
    def change(d):
        for name, formula in formulas.items():
            d["kpis"][name]["formula"] = formula
    p = one(mutated(change), "kpi-cycle")
    assert cycle in p.message


def test_unknown_category():
    text = mutated(lambda d: d["kpis"]["avg_order"].update(category="sale"))
    p = one(text, "unknown-category")
    line = text.splitlines().index("    category: sale") + 1
    assert p.location == Location("r.yaml", line, 15)  # "    category: sale": s is column 15
    assert p.hint == "did you mean `sales`?"


@pytest.mark.parametrize("better, target, floor", [
    ("higher", 100, 120),  # higher is better: the floor must lie below the target
    ("higher", 100, 100),  # equal is no range at all
    ("lower", 4, 2),       # lower is better: the floor must lie above the target
])
def test_floor_on_the_wrong_side_of_the_target(better, target, floor):
    text = mutated(lambda d: d["kpis"]["avg_order"].update(better=better, target=target,
                                                           floor=floor))
    p = one(text, "target-floor")
    assert p.location == find(text, f"floor: {floor}", str(floor))


def test_floor_above_target_is_fine_when_lower_is_better():
    text = mutated(lambda d: d["kpis"]["avg_order"].update(better="lower", target=4, floor=24))
    assert validate(load_text(text, "r.yaml")).kpis["avg_order"].floor == 24


def test_unknown_source_in_a_measure():
    text = mutated(lambda d: d["measures"]["revenue"].update(source="order"))
    p = one(text, "unknown-source")
    assert p.location == find(text, "source: order", "order")
    assert p.hint == "did you mean `orders`?"


def test_undeclared_column_in_a_where():
    text = mutated(lambda d: d["measures"]["revenue"].update(where="state == 'paid'"))
    p = one(text, "unknown-column")
    assert p.location == find(text, "where: state ==", "state")
    assert p.hint == "did you mean `status`?"


def test_params_are_allowed_beside_declared_columns():
    text = mutated(lambda d: d["measures"]["revenue"].update(where="day <= period_end"))
    assert validate(load_text(text, "r.yaml")).measures["revenue"].where.names == \
        {"day", "period_end"}


def test_unknown_function_in_a_formula():
    text = mutated(lambda d: d["kpis"]["avg_k"].update(formula="rnd(avg_order / 1000)"))
    p = one(text, "unknown-function")
    assert p.hint == "did you mean `round`?"
    assert p.location == find(text, "formula: rnd(", "rnd")


def test_several_problems_are_reported_together_in_file_order():
    def change(d):
        d["measures"]["revenue"]["where"] = "statuz == 'paid'"     # unknown-column
        d["kpis"]["avg_order"]["formula"] = "revenu / orders_n"    # unknown-name
        d["kpis"]["avg_order"]["category"] = "salez"               # unknown-category
        d["kpis"]["avg_order"]["unitt"] = "x"                      # unknown-property
        d["actions"][0]["text"] = "{{ x"                           # template
    found = problems(mutated(change))
    assert [p.rule for p in found] == ["unknown-column", "unknown-name", "unknown-category",
                                       "unknown-property", "template"]
    lines = [p.location.line for p in found]
    assert lines == sorted(lines)


def test_unknown_field_in_an_action_condition():
    text = mutated(lambda d: d["actions"][0].update(when="avg_order.scor < 50"))
    p = one(text, "unknown-field")
    assert p.hint == "did you mean `score`?"
    assert p.location.line == find(text, "when: avg_order.scor", "avg_order").line


def test_unknown_kpi_in_an_action_condition():
    text = mutated(lambda d: d["actions"][0].update(when="avg_ordr.score < 50"))
    p = one(text, "unknown-name")
    assert p.hint == "did you mean `avg_order`?"


def test_action_condition_may_use_results_categories_and_params():
    text = mutated(lambda d: d["actions"][0].update(
        when="grade == 'E' or score < 50 or sales.score < 30 or avg_k < 0.05"))
    assert validate(load_text(text, "r.yaml")).actions[0].when.attributes == {("sales", "score")}


@pytest.mark.parametrize("text", ["Average is {{ avg_order.value", "{% if x %}open"])
def test_bad_jinja_in_an_action_text(text):
    source = mutated(lambda d: d["actions"][0].update(text=text))
    p = one(source, "template")
    assert p.location.line == find(source, "text:", "text").line


def test_bad_jinja_in_one_language_of_an_action_text():
    source = mutated(lambda d: d["actions"][0].update(text={"en": "fine", "zh": "{{ x"}))
    p = one(source, "template")
    assert p.location.line == find(source, "zh:", "zh").line


# ---------------------------------------------------------------- robustness

@pytest.mark.parametrize("change", [
    lambda d: d["kpis"]["avg_order"].update(weight="heavy"),
    lambda d: d["kpis"]["avg_order"].update(target="high"),
    lambda d: d["categories"]["sales"].update(weight="x"),
    lambda d: d.update(settings={"near_margin": "x"}),
    lambda d: d.update(grades=[{"min": "x", "grade": "A"}]),
    lambda d: d["measures"]["revenue"].update(q="x"),
    lambda d: d["kpis"]["avg_order"].update(scoring={"method": "bands", "bands": [1, 2]}),
    lambda d: d["sources"]["orders"].update(key=5),
], ids=["kpi-weight", "target", "category-weight", "near_margin", "grade-min", "q", "bands",
        "key"])
def test_wrongly_typed_values_are_problems_not_crashes(change):
    assert any(p.rule == "schema" for p in problems(mutated(change)))


@pytest.mark.parametrize("formula", [">-\n      revenu * 2", "2 *\n      revenu",
                                     "'2 *\n      revenu'"])
def test_names_in_multi_line_formulas_are_located(formula):
    text = dump(BASE).replace("formula: revenue / orders_n", "formula: " + formula)
    p = one(text, "unknown-name")
    assert p.location == find(text, "      revenu", "revenu")  # line 2 of the scalar, column 7


@pytest.mark.parametrize("change, rule", [
    (lambda d: d["measures"]["revenue"].update(source="order"), "unknown-source"),
    (lambda d: d["kpis"]["avg_order"].update(formula="rnd(revenue)"), "unknown-function"),
])
def test_one_mistake_gives_one_problem(change, rule):
    assert [p.rule for p in problems(mutated(change))] == [rule]


# ---------------------------------------------------------------- known defects

def test_multi_line_name_is_not_located_inside_a_string_literal():
    text = mutated(lambda d: d["measures"]["revenue"].update(where="W")).replace(
        "where: W", "where: >-\n      status == 'statuz' or\n      statuz == 'x'")
    p = one(text, "unknown-column")
    assert p.location == find(text, "      statuz ==", "statuz")  # the name, not the text


def test_an_overall_kpi_summing_entity_values_against_a_per_entity_target_is_warned(tmp_path):
    """Five vendors' training hours summed on the overall scorecard, scored against a
    target set for one vendor; a rate (a division) or a mean is not warned."""
    from engine.validate import load_ruleset
    path = tmp_path / "r.yaml"
    path.write_text(
        "ruleset: r\nby: vendor\n"
        "sources: {t: {path: t.csv, columns: {vendor: string, hours: float, ok: int}}}\n"
        "measures:\n  hours: {source: t, sum: hours}\n  rows: {source: t, count: true}\n"
        "  good: {source: t, count: true, where: ok == 1}\n  mean_hours: {source: t, mean: hours}\n"
        "kpis:\n  training: {formula: hours, target: 40, category: c}\n"
        "  good_rate: {formula: good / rows, target: 0.9, category: c}\n"
        "  typical: {formula: mean_hours, target: 40, category: c}\n"
        "categories: {c: {}}\n")
    (tmp_path / "t.csv").write_text("vendor,hours,ok\nV1,1,1\n")
    warned = [w for w in load_ruleset(path).warnings if w.rule == "summed-over-entities"]
    assert [str(w.location).rsplit(":", 2)[-2] for w in warned] == ["10"]  # the line of `training` (line 10)
    assert "`training`" in warned[0].message and "`hours` (sum)" in warned[0].message
