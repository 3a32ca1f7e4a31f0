"""Actions: every fact a condition can name, the filters of a text, and the guards of the
text sandbox. Found by mutation testing (docs/testing.md): each test fails when one
line of engine/recommend.py is changed. The expected values are worked out in comments."""
from __future__ import annotations

import jinja2
import pytest

from engine.errors import AssessError
from engine.recommend import bounded, environment, number, percent
from engine.run import assess
from engine.validate import TEMPLATE_FILTERS
from test_edges import _february, run

# t has 3 rows, one without x. k = 3 rows, linear from floor 1 to target 4:
# (3 - 1) / (4 - 1) = 66.67, the only KPI, so the total is 66.67: grade D (60..70)
FACTS = {
    "value": "k.value == 3", "target": "k.target == 4", "floor": "k.floor == 1",
    "benchmark": "k.benchmark == 2", "weight": "k.weight == 2", "category_weight": "c.weight == 3",
    "category_score": "c.score > 66.6 and c.score < 66.7", "score": "score > 66.6 and score < 66.7",
    "grade": "grade == 'D'", "status": "k.status == 'missed'",
    "check_failed": "x_ok.failed == 1", "check_rows": "x_ok.rows == 3", "check_status": "x_ok.status == 'fail'",
    "check_ratio": "x_ok.ratio > 0.666 and x_ok.ratio < 0.667",
    # never: each would hold if a fact were read as another, or as nothing
    "not_target": "k.target == 1 or k.target == 2 or k.target == 3", "not_grade": "grade == 'A'",
    "not_weight": "k.weight == 0 or k.weight == 1", "not_missing": "k.floor != k.floor",
}


def _ruleset(actions: str) -> str:
    return f"""\
        categories: {{c: {{weight: 3}}}}
        measures:
          n: {{source: t, count: true}}
        kpis:
          k: {{formula: n, target: 4, floor: 1, benchmark: 2, weight: 2, category: c}}
        checks:
          - {{id: x_ok, source: t, rule: not_null, column: x}}
        actions:
{actions}"""


def test_a_condition_reads_every_fact_of_a_kpi_a_category_a_check_and_the_result(tmp_path):
    actions = "".join(f"          - {{id: {name}, when: \"{when}\", text: {name}}}\n" for name, when in FACTS.items())
    result = run(tmp_path, _ruleset(actions), t="x\n1\n\n2\n")
    assert sorted(a.id for a in result.actions) == sorted(n for n in FACTS if not n.startswith("not_"))


def test_the_number_and_percent_filters_of_a_text(tmp_path):
    # number: two decimals unless told, n/a for nothing (k has no previous value)
    text = "{{ k.value | number }} {{ (k.value / 7) | number }} {{ (k.value / 7) | number(1) }} " \
           "{{ k.previous | number }} {{ x_ok.ratio | percent }} {{ k.previous | percent }}"
    result = run(tmp_path, _ruleset(f"          - {{id: a, when: \"k.value > 0\", text: \"{text}\"}}\n"), t="x\n1\n\n2\n")
    # 3 / 7 = 0.428571..; the ratio 2 / 3 = 66.7 %
    assert result.actions[0].text == "3 0.43 0.4 n/a 66.7% n/a"


def test_filters_called_directly():
    assert number(1234.5678) == "1,234.57" and number(None) == "n/a"
    assert percent(0.8534) == "85.3%" and percent(0.8534, 2) == "85.34%"
    assert percent(None) == "n/a"


@pytest.mark.parametrize("text", ["{{ 'a' * 3 }}", "{{ 2 ** 3 }}", "{{ '%d' % 3 }}"])
def test_the_sandbox_refuses_repetition_and_formatting_when_validation_did_not(text):
    # validation refuses these first; should one reach the renderer, it fails rather than
    # building a gigabyte string
    with pytest.raises(jinja2.sandbox.SecurityError, match="is not allowed in a text"):
        environment().from_string(text).render()


def test_the_sandbox_has_no_autoescape_and_strict_names():
    env = environment()
    assert env.from_string("{{ a }}").render(a="<b>") == "<b>"  # texts are escaped by each format
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    assert sorted(env.filters) == sorted(TEMPLATE_FILTERS)  # only the filters validation allows


def test_bounded_cuts_at_the_limit_and_not_before():
    template = environment().from_string("{{ a }}{{ b }}")
    # "ab" (2 < 3 characters) then "cd": 4 >= 3, stop, cut to 3
    assert bounded(template, {"a": "ab", "b": "cd"}, limit=3) == "abc"
    assert bounded(template, {"a": "ab", "b": "cd"}, limit=4) == "abcd"
    assert bounded(template, {"a": "ab", "b": "cd"}, limit=10) == "abcd"


def test_a_text_reads_the_total_a_categorys_weight_and_an_entitys_rank_and_composite_id(tmp_path):
    # two owners keyed by region and name: n = 3 rows (north / ann) and 1 row (south / bo);
    # linear from floor 0 to target 3: 100 and 33.3, ranks 1 and 2
    result = run(tmp_path, """\
        by: [region, name]
        categories: {c: {weight: 3}}
        measures:
          n: {source: t, count: true}
        kpis:
          k: {formula: n, target: 3, floor: 0, category: c}
        actions:
          - {id: all, when: "k.value > 0", text: "total {{ score | number(1) }}, weight {{ c.weight }}"}
          - {id: each, scope: entity, when: "k.value > 0", text: "{{ entity.id }} is {{ entity.rank }}"}
        """, t="region,name\nnorth,ann\nnorth,ann\nnorth,ann\nsouth,bo\n")
    assert [e.id for e in result.entities] == ["north / ann", "south / bo"]
    # overall: 4 rows >= 3, so 100
    assert sorted(a.text for a in result.actions) == ["north / ann is 1", "south / bo is 2", "total 100, weight 3.0"]


def test_an_entity_without_a_scored_category_has_no_strongest_or_weakest(tmp_path):
    # a: mean x 2 -> scored (category c, titled Care); b: no x -> k n/a, no category scored
    result = run(tmp_path, """\
        by: o
        categories: {c: {title: Care}}
        measures:
          x: {source: t, mean: x}
        kpis:
          k: {formula: x, target: 2, floor: 0, category: c}
        actions:
          - {id: each, scope: entity, when: "k.value > 0 or k.status == 'n/a'",
             text: "{{ entity.id }}:{{ entity.strongest_category }}|{{ entity.weakest_category }}"}
        """, t="o,x\na,2\nb,\n")
    assert sorted(a.text for a in result.actions) == ["a:Care|Care", "b:|"]


def _owners(tmp_path, when: str, text: str, table: str):
    """Owners o with a KPI k = sum of x (linear 0..3) and one entity action `each`."""
    return run(tmp_path, f"""\
        by: o
        measures:
          x: {{source: t, sum: x}}
        kpis:
          k: {{formula: x, target: 3, floor: 0, category: c}}
        actions:
          - {{id: each, scope: entity, when: "{when}", text: "{text}"}}
        """, t=table)


def test_entity_actions_fire_per_entity_after_one_that_fires_nothing(tmp_path):
    # c: x 3 ranks first and fires nothing (3 is not below 3); b: x 2 and a: x 1 fire, each named
    result = _owners(tmp_path, "k.value < 3", "{{ entity.id }}", "o,x\na,1\nb,2\nc,3\n")
    assert [e.id for e in result.entities] == ["c", "b", "a"]
    assert sorted((a.entity, a.text) for a in result.actions) == [("a", "a"), ("b", "b")]


def test_a_text_that_fails_when_rendered_names_its_action(tmp_path):
    # validation cannot know that an entity has no strength: `first` of none is undefined
    from engine.errors import AssessError

    with pytest.raises(AssessError) as info:
        _owners(tmp_path, "k.value > 0", "{{ entity.strengths | first }}", "o,x\na,1\n")
    [problem] = info.value.problems
    assert problem.rule == "template" and "action `each`" in problem.message
    assert (problem.location.file.endswith("r.yaml"), problem.location.line) == (True, 11)


def test_a_text_reads_the_params(tmp_path):
    result = run(tmp_path, "        params: {region: east, goal: 5}\n" + _ruleset(
        "          - {id: a, when: \"k.value > 0\", text: \"{{ params.region }} {{ params.goal }}\"}\n"),
        t="x\n1\n\n2\n")
    assert result.actions[0].text == "east 5"


def test_an_entitys_weakest_and_strongest_category_and_a_categorys_title(tmp_path):
    # one owner a: k1 = x = 3 of target 3 (100, category Care, listed first), k2 = y = 1 of
    # target 4, floor 0 (25, category Sales): Sales is the weakest, Care the strongest
    result = run(tmp_path, """\
        by: o
        categories: {care: {title: Care}, sales: {title: Sales}}
        measures:
          x: {source: t, sum: x}
          y: {source: t, sum: y}
        kpis:
          k1: {formula: x, target: 3, floor: 0, category: care}
          k2: {formula: y, target: 4, floor: 0, category: sales}
        actions:
          - {id: all, when: "k1.value > 0", text: "{{ care.title }} and {{ sales.title }}"}
          - {id: each, scope: entity, when: "k1.value > 0",
             text: "weakest {{ entity.weakest_category }}, strongest {{ entity.strongest_category }}"}
        """, t="o,x,y\na,3,1\n")
    assert sorted(a.text for a in result.actions) == ["Care and Sales", "weakest Sales, strongest Care"]


def test_a_condition_that_cannot_be_evaluated_is_located_at_its_action(tmp_path):
    # k.status is text: `k.status - 1` passes validation and fails on the data; the error
    # names the second action, at its line, with the first line of the engine's reason
    with pytest.raises(AssessError) as caught:
        run(tmp_path, _ruleset("          - {id: fine, when: \"k.value > 0\", text: a}\n"
                               "          - {id: broken, when: \"k.status - 1 > 0\", text: b}\n"), t="x\n1\n\n2\n")
    problem = caught.value.problems[0]
    assert (problem.rule, problem.location.line) == ("action", 13)
    assert problem.message.startswith("cannot evaluate the condition of `broken`: arithmetic on dtypes str")
    assert "\n" not in problem.message  # not the engine's query plan


def test_a_condition_reads_a_tracked_kpis_weight_as_0_and_change_pct_as_a_share(tmp_path):
    # k = v from -20 (January) to -10 (February): +10, +50 % of |-20|; the tracked KPI u
    # (no target) weighs nothing
    result = _february(tmp_path, """\
        kpis:
          k: {formula: v, target: 30, category: c}
          u: {formula: v, category: c}
        actions:
          - {id: pct, when: "k.change_pct > 0.49 and k.change_pct < 0.51", text: pct}
          - {id: tracked, when: "u.weight == 0", text: tracked}
        """, -20, -10)
    assert sorted(a.id for a in result.actions) == ["pct", "tracked"]


def test_an_action_that_does_not_fire_does_not_stop_the_next_one(tmp_path):
    # k.value is 3: `never` does not hold, `then` does, on the same scorecard
    result = run(tmp_path, _ruleset("          - {id: never, when: \"k.value > 3\", text: a}\n"
                                    "          - {id: then, when: \"k.value == 3\", text: b}\n"), t="x\n1\n\n2\n")
    assert [a.id for a in result.actions] == ["then"]


def test_an_actions_owner_in_the_language_and_an_entity_text_reads_the_params(tmp_path):
    # two owners a (x 1) and b (x 2); each entity action names its owner in the result's language
    ruleset = """\
        by: o
        params: {region: east}
        measures:
          x: {source: t, sum: x}
        kpis:
          k: {formula: x, target: 3, floor: 0, category: c}
        actions:
          - {id: each, scope: entity, when: "k.value > 0", owner: {en: Sales, zh: 销售},
             text: "{{ entity.id }} {{ params.region }}"}
        """
    english = run(tmp_path, ruleset, t="o,x\na,1\nb,2\n")
    chinese = assess(tmp_path / "r.yaml", tmp_path, lang="zh")
    for result, owner in ((english, "Sales"), (chinese, "销售")):
        assert sorted((a.text, a.owner) for a in result.actions) == [("a east", owner), ("b east", owner)]


def test_within_a_priority_an_action_without_a_gain_comes_after_one_with_a_small_gain(tmp_path):
    # k = 3 of target 3.02 (floor 0): 99.34, so meeting it gains 0.66 points of the total;
    # `whole` names no KPI and has no gain: it comes last, as a gain of 0 would
    result = run(tmp_path, """\
        measures:
          n: {source: t, count: true}
        kpis:
          k: {formula: n, target: 3.02, floor: 0, category: c}
        actions:
          - {id: whole, when: "score > 0", text: a}
          - {id: close, when: "k.value > 0", text: b}
        """, t="x\n1\n2\n3\n")
    assert [(a.id, a.gain) for a in result.actions] == [("close", pytest.approx(100 - 300 / 3.02)), ("whole", None)]


def test_an_entity_text_reads_its_strengths_and_weaknesses(tmp_path):
    # owner a: k1 = 3 of 3 (met, a strength), k2 = 1 of 4 (missed, a weakness)
    result = run(tmp_path, """\
        by: o
        measures:
          x: {source: t, sum: x}
          y: {source: t, sum: y}
        kpis:
          k1: {formula: x, target: 3, floor: 0, category: c}
          k2: {formula: y, target: 4, floor: 0, category: c}
        actions:
          - {id: each, scope: entity, when: "k1.value > 0",
             text: "strong {{ entity.strengths | join(',') }} weak {{ entity.weaknesses | join(',') }}"}
        """, t="o,x,y\na,3,1\n")
    assert [a.text for a in result.actions] == ["strong k1 weak k2"]
