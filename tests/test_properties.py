"""Properties checked on random inputs (hypothesis): the compiled expression agrees with a
row-by-row Python evaluation, totals are weighted means in 0..100, and the loader only
ever raises its own located error."""
import math
import operator

import polars as pl
import pytest
import simpleeval
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.compile import lit, row_compiler
from engine.errors import AssessError, Location
from engine.expressions import parse
from engine.load import load_text
from engine.model import DEFAULT_GRADES, Category, Kpi, Ruleset
from engine.score import TOTAL, weigh
from engine.validate import MIN_WEIGHT

HERE = Location("p.yaml", 1, 1)

# ---------------------------------------------------------------- expressions

def _null(f):
    """Python's operator with SQL's null: any null operand gives null."""
    return lambda a, b: None if a is None or b is None else f(a, b)


def _div(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _and(a, b):  # Kleene logic, as Polars
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


class RowEvaluator(simpleeval.SimpleEval):
    """simpleeval, row by row, with the null and division semantics the engine documents."""

    def __init__(self, row):
        super().__init__(operators={
            **{op: _null(f) for op, f in {
                simpleeval.ast.Add: operator.add, simpleeval.ast.Sub: operator.sub,
                simpleeval.ast.Mult: operator.mul, simpleeval.ast.Eq: operator.eq,
                simpleeval.ast.NotEq: operator.ne, simpleeval.ast.Lt: operator.lt,
                simpleeval.ast.LtE: operator.le, simpleeval.ast.Gt: operator.gt,
                simpleeval.ast.GtE: operator.ge}.items()},
            simpleeval.ast.Div: _div, simpleeval.ast.USub: lambda a: None if a is None else -a,
        }, names=row)

    def _eval_boolop(self, node):
        values = [self._eval(v) for v in node.values]
        combine = _and if isinstance(node.op, simpleeval.ast.And) else _or
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out

    def _eval_unaryop(self, node):
        value = self._eval(node.operand)
        if isinstance(node.op, simpleeval.ast.Not):
            return None if value is None else not value
        return self.operators[type(node.op)](value)

    def _eval_compare(self, node):
        left, out = self._eval(node.left), True
        for op, right_node in zip(node.ops, node.comparators):
            right = self._eval(right_node)
            out = _and(out, self.operators[type(op)](left, right))
            left = right
        return out

    def _eval_ifexp(self, node):
        return self._eval(node.body) if self._eval(node.test) is True else self._eval(node.orelse)


numbers = st.integers(-5, 5).map(str) | st.sampled_from(["a", "b"])


def arithmetic(depth: int):
    if depth == 0:
        return numbers
    inner = arithmetic(depth - 1)
    return numbers | st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})") | inner.map(lambda e: f"(-{e})")


def logic(depth: int):
    comparison = st.tuples(arithmetic(1), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
                           arithmetic(1)).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    if depth == 0:
        return comparison
    inner = logic(depth - 1)
    return comparison | st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})") | inner.map(lambda e: f"(not {e})")


expressions = arithmetic(3) | logic(2) | st.tuples(logic(1), arithmetic(2), arithmetic(2)).map(
    lambda t: f"({t[1]} if {t[0]} else {t[2]})")
cells = st.none() | st.integers(-3, 3)
frames = st.lists(st.tuples(cells, cells), min_size=1, max_size=8)


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and type(a) is type(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, frames)
def test_compiled_expressions_agree_with_python_row_by_row(text, rows):
    frame = pl.DataFrame({"a": [r[0] for r in rows], "b": [r[1] for r in rows]},
                         schema={"a": pl.Int64, "b": pl.Int64})
    compiled = lit(row_compiler({}).compile(parse(text, HERE)))
    got = frame.select(compiled.alias("x"))["x"].to_list()
    if len(got) == 1 and len(rows) > 1:  # a literal broadcasts
        got = got * len(rows)
    for (a, b), value in zip(rows, got):
        expected = RowEvaluator({"a": a, "b": b}).eval(text)
        if isinstance(value, float) and math.isnan(value):
            value = None  # 0/0 folded in floats; the engine reports it as no value
        assert same(expected, value), (text, a, b, expected, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, cells, cells)
# once a crash: 1 / 0 folds to null, which was divided again and negated as an expression
@example("(-((a / b) / b))", 1, 0)
@example("(-((a / b) / (b - b)))", 1, 0)
@example("((a / b) * (-(a / b)))", 0, 0)
def test_expressions_over_params_fold_like_python(text, a, b):
    """The same expressions with ``a`` and ``b`` params, not columns: folded to literals
    (or small expressions) at compile time, they must agree with the row-by-row answer."""
    compiled = lit(row_compiler({"a": a, "b": b}).compile(parse(text, HERE)))
    value = pl.select(compiled.alias("x"))["x"].to_list()[0]
    if isinstance(value, float) and math.isnan(value):
        value = None
    expected = RowEvaluator({"a": a, "b": b}).eval(text)
    assert same(expected, value), (text, a, b, expected, value)


# ---------------------------------------------------------------- scoring

@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), st.floats(0, 100) | st.none(),
                          st.just(0.0) | st.floats(MIN_WEIGHT, 50)), min_size=1, max_size=8),
       st.dictionaries(st.sampled_from(["x", "y", "z"]), st.just(0.0) | st.floats(MIN_WEIGHT, 20),
                       min_size=3, max_size=3))
# the smallest weight validation lets through, alone and beside a large one
@example([("x", 1.5, 1.0)], {"x": MIN_WEIGHT, "y": 0.0, "z": 0.0})
@example([("z", 0.0, 1.0), ("y", 100.0, MIN_WEIGHT)], {"x": 0.0, "y": 20.0, "z": MIN_WEIGHT})
@example([("x", 1.192092896e-07, 1.0)], {"x": 1.0, "y": 0.0, "z": 0.0})  # kept to 9 decimals: 1.19e-07
def test_totals_are_weighted_means_in_0_100(kpis, category_weights):
    categories = {c: Category(c, {}, w) for c, w in category_weights.items()}
    ruleset = Ruleset("r", None, {}, {}, "", {}, {}, {},
                      {f"k{i}": Kpi(f"k{i}", {}, parse("x", HERE), c, HERE, weight=w) for i, (c, _, w) in enumerate(kpis)},
                      categories, list(DEFAULT_GRADES), [], [])
    row = pl.DataFrame({f"k{i}.score": [s] for i, (_, s, _) in enumerate(kpis)},
                       schema={f"k{i}.score": pl.Float64 for i in range(len(kpis))})
    card = weigh(ruleset, row.lazy()).collect().row(0, named=True)
    total = card[TOTAL]
    # no re-computation of the rollup: the properties any weighted mean of the counted
    # scores has (a KPI counts with a score, a weight > 0, in a category of weight > 0)
    counted = [s for c, s, w in kpis if s is not None and w > 0 and categories[c].weight > 0]
    if not counted:
        assert total is None
        return
    assert min(counted) - 1e-9 <= total <= max(counted) + 1e-9
    shares = [card[f"k{i}.share"] for i in range(len(kpis))]
    assert sum(shares) == pytest.approx(1.0)
    # each KPI's effective share of the total, times its score, adds up to the total
    assert sum(sh * s for sh, (_, s, _) in zip(shares, kpis) if s is not None) == pytest.approx(total, abs=1e-6)
    if len(set(counted)) == 1:  # one score everywhere: the total is that score, to 9 decimals
        assert total == pytest.approx(counted[0], rel=1e-9, abs=5e-10)


# ---------------------------------------------------------------- loading

@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300) | st.lists(st.sampled_from(
    ["a:", " b", "- ", "&x", "*x", "!!python/object:os.system", "{", "}", "[", "]", "'", '"', "\n",
     ":", "  ", "<<: *x", "? ", "|", ">", "%YAML 1.1", "---", "...", "#", "\t", "1", "2025-01-01"]),
    max_size=40).map("".join))
def test_the_loader_only_raises_its_own_located_error(text):
    try:
        load_text(text, "f.yaml")
    except AssessError as exc:
        assert all(str(p.location).startswith("f.yaml") for p in exc.problems)


# ---------------------------------------------------------------- fuzzing regressions

def test_mutated_rulesets_only_raise_located_errors():
    """The fuzzer's (tests/fuzz_rulesets.py) first finds: odd values where the schema wants
    others (a list as a KPI's category, a number as `requires`) crashed the semantic pass
    with TypeError before the schema's own messages could be shown."""
    import random
    import sys
    from pathlib import Path

    import yaml

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fuzz_rulesets import mutate

    from engine.validate import validate

    root = Path(__file__).resolve().parent.parent
    sources = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((root / "rulesets").glob("*.yaml"))
               if not p.name.endswith(".tests.yaml")]
    rng = random.Random(7)
    for _ in range(80):
        text = yaml.safe_dump(mutate(rng.choice(sources), rng), allow_unicode=True, sort_keys=False)
        try:
            validate(load_text(text, str(root / "rulesets" / "fuzz.yaml")))
        except AssessError as exc:
            assert exc.problems and all(p.location.file.endswith("fuzz.yaml") for p in exc.problems)
