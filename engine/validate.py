"""Stage 2, validate: the JSON Schema first, then what a schema cannot say.

Every problem is collected (not only the first) with its file:line:column and, where a
name is unknown, the closest known name. The result is the typed :class:`Ruleset`.
"""
from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterator

import jinja2.nodes
import jinja2.sandbox

from . import resource
from .checks import COMMON, RULES
from .errors import AssessError, Location, Problem, Suggestions, closest, did_you_mean
from .expressions import parse, position, typed
from .load import Document, load_file
from .model import (DATA_FORMATS, DEFAULT_GRADES, PEER_METHODS, Action, Breakdown, Category, Check, Expression, Grade,
                    Join, Kpi, Measure, Ruleset, Scoring, Source, Text, derived_params, period_problem, quality_name,
                    reversed_period)
from .result import KpiResult

AGGREGATIONS = ("count", "sum", "mean", "median", "min", "max", "n_unique", "quantile", "top")
KPI_FIELDS = ("value", "score", "status", "target", "floor", "benchmark", "weight", "gain",
              "previous", "change", "change_pct")
CHECK_FIELDS = ("status", "ratio", "failed", "rows")
CATEGORY_FIELDS = ("score", "weight")
RESULT_NAMES = ("score", "grade")
KPI_STATUSES = ("met", "near", "missed", "n/a", "tracked")
CHECK_STATUSES = ("pass", "warn", "fail")
# what an action text can print: the names and fields recommend._context gives it
TEXT_CHECK_FIELDS = CHECK_FIELDS + ("title",)
TEXT_CATEGORY_FIELDS = CATEGORY_FIELDS + ("title",)
ENTITY_FIELDS = ("id", "name", "rank", "score", "grade", "weakest_category", "strongest_category",
                 "weaknesses", "strengths")
COLUMN_KINDS = {"int": "number", "float": "number", "bool": "bool", "date": "date", "datetime": "date",
                "string": "text"}


@cache
def ruleset_schema() -> dict[str, Any]:
    return json.loads((resource("schemas") / "ruleset.schema.json").read_text(encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    """YAML dates become ISO text, as the schema (JSON) sees them."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _matches(pattern: str, text: str) -> bool:
    """`pattern` as JSON Schema means it: `$` is the end of the text. Python's `$` also
    matches before a final newline, so `"name\n"` would pass `^[a-z]+$` (and become a file name)."""
    strict = pattern.endswith("$") and not pattern.endswith("\\$")
    return re.search(pattern[:-1] + r"\Z" if strict else pattern, text) is not None


@cache
def _validator(make: Callable[[], dict[str, Any]]) -> Any:
    """One validator per schema, built once: a folder of rulesets does not rebuild it
    (and re-resolve its references) for every file. jsonschema is imported here, only
    for a document the fast check below does not accept."""
    import jsonschema

    def pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
        if isinstance(instance, str) and not _matches(pattern, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})(make())


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_ANNOTATIONS = {"$defs", "$id", "$schema", "description", "examples", "title"}
_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda x: isinstance(x, dict), "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str), "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number, "integer": lambda x: isinstance(x, int) and not isinstance(x, bool) or isinstance(x, float) and x.is_integer()}


def _same(a: Any, b: Any) -> bool:
    """JSON equality of scalars: True is not 1."""
    return isinstance(a, bool) == isinstance(b, bool) and type(a) in (str, int, float, bool, type(None)) and a == b


def _of(kind: type | tuple[type, ...], check: Callable[[Any, Any, Any, dict[str, Any]], bool]
        ) -> Callable[[Any, Any, Any, dict[str, Any]], bool]:
    """A keyword about one kind of value: any other kind holds it."""
    def keyword(root: Any, want: Any, x: Any, schema: dict[str, Any]) -> bool:
        return not isinstance(x, kind) or check(root, want, x, schema)
    return keyword


# each keyword the project's schemas use, as Draft 2020-12 reads it: (root, its value, the
# instance, the schema it is in) -> whether the instance holds it
KEYWORDS: dict[str, Callable[[Any, Any, Any, dict[str, Any]], bool]] = {
    "$ref": lambda root, want, x, _: str(want).startswith("#/") and conforms(root, _resolve(root, {"$ref": want}), x),
    "type": lambda root, want, x, _: any(_JSON_TYPES[t](x) for t in (want if isinstance(want, list) else [want])),
    "enum": lambda root, want, x, _: any(_same(x, v) for v in want),
    "const": lambda root, want, x, _: _same(x, want),
    "allOf": lambda root, want, x, _: all(conforms(root, s, x) for s in want),
    "oneOf": lambda root, want, x, _: sum(conforms(root, s, x) for s in want) == 1,
    "if": lambda root, want, x, schema: not conforms(root, want, x) or conforms(root, schema.get("then", True), x),
    "then": lambda root, want, x, _: True,  # read with `if`
    "minimum": lambda root, want, x, _: not _is_number(x) or x >= want,
    "maximum": lambda root, want, x, _: not _is_number(x) or x <= want,
    "exclusiveMinimum": lambda root, want, x, _: not _is_number(x) or x > want,
    "minLength": _of(str, lambda root, want, x, _: len(x) >= want),
    "maxLength": _of(str, lambda root, want, x, _: len(x) <= want),
    "pattern": _of(str, lambda root, want, x, _: _matches(want, x)),
    "properties": _of(dict, lambda root, want, x, _: all(conforms(root, want[k], v) for k, v in x.items() if k in want)),
    "additionalProperties": _of(dict, lambda root, want, x, schema: all(
        conforms(root, want, v) for k, v in x.items() if k not in schema.get("properties", {}))),
    "required": _of(dict, lambda root, want, x, _: all(k in x for k in want)),
    "propertyNames": _of(dict, lambda root, want, x, _: all(conforms(root, want, k) for k in x)),
    "minProperties": _of(dict, lambda root, want, x, _: len(x) >= want),
    "prefixItems": _of(list, lambda root, want, x, _: all(conforms(root, s, v) for s, v in zip(want, x))),
    "items": _of(list, lambda root, want, x, schema: all(
        conforms(root, want, v) for v in x[len(schema.get("prefixItems", [])):])),
    "minItems": _of(list, lambda root, want, x, _: len(x) >= want),
    "maxItems": _of(list, lambda root, want, x, _: len(x) <= want),
}


def conforms(root: dict[str, Any], schema: Any, x: Any) -> bool:
    """Whether ``x`` holds ``schema`` (KEYWORDS; a keyword not there makes the answer
    False). The fast path of validation: a ruleset it accepts is valid, any other goes
    to jsonschema for its located errors; tests/test_schema.py checks that the two agree."""
    if isinstance(schema, bool):
        return schema
    return all(key in _ANNOTATIONS or key in KEYWORDS and KEYWORDS[key](root, want, x, schema)
               for key, want in schema.items())


def schema_problems(doc: Document, schema: Callable[[], dict[str, Any]] = ruleset_schema) -> Iterator[Problem]:
    """The document against a schema (``schema()`` makes it; the ruleset schema by
    default), each problem located, unknown keys with the closest known one."""
    data = _jsonable(doc.data)
    if conforms(schema(), schema(), data):  # the usual case, without importing jsonschema
        return
    import jsonschema

    validator = _validator(schema)
    root = validator.schema
    for error in validator.iter_errors(data):
        if error.context:  # oneOf/anyOf: the branch of the instance's shape says the most
            branches = error.validator_value if isinstance(error.validator_value, list) else []
            fitting = [e for e in error.context if e.relative_schema_path and isinstance(e.relative_schema_path[0], int)
                       and e.relative_schema_path[0] < len(branches)
                       and _fits(_resolve(root, branches[e.relative_schema_path[0]]), error.instance)]
            one_branch = len({e.relative_schema_path[0] for e in fitting}) == 1
            error = jsonschema.exceptions.best_match(fitting if one_branch else error.context)
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            for key in error.instance:
                if key not in known:
                    # a key one level too high: `scor` beside `expect` means expect.score
                    below = {inner: k for k, sub in known.items() for inner in _resolve(root, sub).get("properties", {})}
                    deeper = closest(key, below)
                    yield Problem(doc.at(path + (key,), key=True), "unknown-property",
                                  f"unknown property `{key}`" + (f" in `{'.'.join(map(str, path))}`" if path else ""),
                                  did_you_mean(key, known) or (f"did you mean `{below[deeper]}: {{{deeper}: ...}}`?"
                                                               if deeper else f"allowed: {', '.join(known)}"))
            continue
        if error.validator == "required":
            yield Problem(doc.at(path), "schema", error.message.replace("'", "`"))
            continue
        where = ".".join(map(str, path)) or "the ruleset"
        message = error.message
        if error.validator == "type" and isinstance(error.instance, str) and (fix := _as_number(error.instance)):
            yield Problem(doc.at(path), "schema", f"{where}: {error.instance!r} is text, not a number", fix)
            continue
        if error.validator == "enum" and isinstance(error.instance, str):
            yield Problem(doc.at(path), "schema", f"{where}: {error.instance!r} is not one of "
                          + ", ".join(map(str, error.validator_value)),
                          did_you_mean(error.instance, map(str, error.validator_value)))
            continue
        if error.validator in ("oneOf", "anyOf"):  # the message would repeat the whole value
            message = "matches none of the forms it can take"
        yield Problem(doc.at(path), "schema", f"{where}: {_short(message)}",
                      error.schema.get("description", "")[:160] if isinstance(error.schema, dict) else "")


def _resolve(root: dict[str, Any], schema: Any) -> dict[str, Any]:
    """A subschema with its local $ref (``#/$defs/...``) followed."""
    while isinstance(schema, dict) and str(schema.get("$ref", "")).startswith("#/"):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = target
    return schema if isinstance(schema, dict) else {}


def _fits(branch: dict[str, Any], instance: Any) -> bool:
    """Whether a oneOf branch is about values of the instance's shape (a mapping, a list or
    a scalar), so its error is the one to show."""
    types = branch.get("type", "object" if "properties" in branch else None)
    types = types if isinstance(types, list) else [types]
    shape = "object" if isinstance(instance, dict) else "array" if isinstance(instance, list) else None
    return shape in types if shape else not {"object", "array"} & set(types)


def _as_number(text: str) -> str:
    """How to write as a number what was written as text the way people write numbers."""
    percent = re.fullmatch(r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*%\s*", text)
    if percent:
        return f"write {float(percent.group(1)) / 100:g}: percent KPIs are fractions"
    if re.fullmatch(r"\s*-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?\s*", text):
        return f"write {text.strip().replace(',', '')}, without thousands separators"
    return ""


def _non_finite(doc: Document) -> Iterator[Problem]:
    """`.nan` and `.inf` anywhere: YAML reads them as numbers, and a NaN target would score
    every value 100 (no comparison with NaN holds)."""
    stack: list[tuple[Any, tuple]] = [(doc.data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            yield Problem(doc.at(path), "number", f"`{'.'.join(map(str, path))}`: {value} is not a number a ruleset can use",
                          "write a finite number")
        elif isinstance(value, dict):
            stack += [(v, path + (k,)) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, path + (i,)) for i, v in enumerate(value)]


def _short(message: str) -> str:
    return message if len(message) < 200 else message[:200] + "..."


def _text(value: Any) -> Text:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {"": str(value)} if value is not None else {}


MIN_WEIGHT, MAX_WEIGHT = 1e-6, 1e6


def _number(value: Any, default: float) -> float:
    """A number from checked data; a wrong type (already a schema problem) gives the default."""
    # .inf and .nan too (refused by _non_finite): int(.inf) would stop the checks short
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else default


def _optional(value: Any) -> float | None:
    return _number(value, float("nan")) if value is not None else None


def _pairs(on: Any) -> tuple[tuple[str, str], ...]:
    """A join key as (own column, lender's column) pairs: a name or a list of names means
    the same name on both sides, a mapping pairs differently named columns."""
    if isinstance(on, dict):
        return tuple((str(k), str(v)) for k, v in on.items())
    return tuple((str(c), str(c)) for c in (on if isinstance(on, list) else [on]))


def key_kind(kind: str) -> str:
    """What a key column of a declared type compares as: numbers with numbers, whatever
    their type, and dates with datetimes."""
    return {"int": "number", "float": "number", "date": "time", "datetime": "time"}.get(kind, kind)


_THRESHOLD = re.compile(r"\s*(?:(failed_ratio|ratio|failed|rows)\s*)?(<=|<|>=|>|==|!=)\s*(-?[0-9.]+)\s*(%?)\s*")
SHARES = ("ratio", "failed_ratio")  # shares of the rows in scope, 0..1


def _threshold(text: Any) -> tuple[str, str, float] | None:
    """``"< 0.95"`` -> (ratio, <, 0.95); ``"failed_ratio > 5%"`` -> (failed_ratio, >, 0.05);
    ``"failed > 10"`` -> (failed, >, 10)."""
    match = _THRESHOLD.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    metric, op, number, percent = match.groups()
    return metric or "ratio", op, float(number) / (100 if percent else 1)


def _never_or_always(threshold: tuple[str, str, float]) -> str | None:
    """'never' or 'always' when a threshold cannot depend on the data: a share lies in
    0..1 and a count is at least 0."""
    metric, op, x = threshold
    low, high = (0.0, 1.0) if metric in SHARES else (0.0, float("inf"))
    never = {"<": x <= low, "<=": x < low, ">": x >= high, ">=": x > high, "==": not low <= x <= high,
             "!=": False}[op]
    always = {"<": x > high, "<=": x >= high, ">": x < low, ">=": x <= low, "!=": not low <= x <= high,
              "==": False}[op]
    return "never" if never else "always" if always else None


def _param_kind(value: Any) -> str | None:
    """A param's kind as expressions see it: text written as an ISO date is a date."""
    if isinstance(value, (dt.date, dt.datetime)) or (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        return "date"
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "text" if isinstance(value, str) else None


def quality_names(data: dict[str, Any]) -> list[str]:
    """Names a KPI formula can use for data quality: each check id (its passing ratio),
    data_quality (the overall score) and data_quality_<source or area>."""
    checks = data.get("checks") if isinstance(data.get("checks"), list) else []
    ids = [c["id"] for c in checks if isinstance(c, dict) and isinstance(c.get("id"), str)]
    groups = [*(data.get("sources") or {}), *(data.get("areas") or {})] if ids else []
    return ids + ([quality_name()] + [quality_name(g) for g in groups] if ids else [])


# An action text prints values: it needs no loops, macros, includes or assignments, and
# without them no template can run long or reach past the values it is given.
_TEMPLATE_REFUSED = (jinja2.nodes.For, jinja2.nodes.Macro, jinja2.nodes.CallBlock, jinja2.nodes.Include,
                     jinja2.nodes.Import, jinja2.nodes.FromImport, jinja2.nodes.Extends,
                     jinja2.nodes.Assign, jinja2.nodes.AssignBlock, jinja2.nodes.FilterBlock,
                     jinja2.nodes.With, jinja2.nodes.Block)


# The filters a text may use, each with the most its numeric arguments may ask for: no
# filter can make a text much longer than the values it prints (center, indent, format,
# batch, wordwrap and replace can, so they are not here).
TEMPLATE_FILTERS: dict[str, int] = {
    "percent": 6, "number": 6, "round": 6, "abs": 0, "int": 0, "float": 0, "string": 0, "lower": 0,
    "upper": 0, "title": 0, "capitalize": 0, "trim": 0, "default": 0, "d": 0, "length": 0, "count": 0,
    "first": 0, "last": 0, "join": 0, "truncate": 1000}
MAX_TEMPLATE_ARGUMENT = 100  # characters of a text argument (a join separator, a default)


def _filter_problem(node: jinja2.nodes.Filter) -> str | None:
    if node.name not in TEMPLATE_FILTERS:
        return (f"filter `{node.name}` is not allowed in a text; "
                f"allowed: {', '.join(sorted(TEMPLATE_FILTERS))}")
    for arg in [*node.args, *(k.value for k in node.kwargs)]:
        if not isinstance(arg, jinja2.nodes.Const):
            return f"filter `{node.name}`: its arguments must be written out, not computed"
        value, bound = arg.value, TEMPLATE_FILTERS[node.name]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not -bound <= value <= bound:
            return f"filter `{node.name}`: {value} is out of range (at most {bound})"
        if isinstance(value, str) and len(value) > MAX_TEMPLATE_ARGUMENT:
            return f"filter `{node.name}`: a text argument of more than {MAX_TEMPLATE_ARGUMENT} characters"
    return None


def _template_problem(tree: jinja2.nodes.Template) -> str | None:
    for node in tree.find_all((jinja2.nodes.Stmt, jinja2.nodes.Getattr, jinja2.nodes.Getitem,
                               jinja2.nodes.Call, jinja2.nodes.Name, jinja2.nodes.Mul, jinja2.nodes.Pow,
                               jinja2.nodes.Mod, jinja2.nodes.Filter)):
        if isinstance(node, (jinja2.nodes.Mul, jinja2.nodes.Pow)):  # 'a' * 10**9 is a gigabyte
            return "`*` and `**` are not allowed in a text; use filters: {{ value | percent }}"
        if isinstance(node, jinja2.nodes.Mod):  # "%03000000000d" % 1 is three gigabytes
            return "`%` is not allowed in a text; use filters: {{ value | number(1) }}"
        if isinstance(node, jinja2.nodes.Filter) and (problem := _filter_problem(node)):
            return problem
        if isinstance(node, _TEMPLATE_REFUSED):
            return f"`{type(node).__name__.lower()}` is not allowed: a text prints values, with if/else and filters"
        attribute = getattr(node, "attr", None) or getattr(getattr(node, "arg", None), "value", None)
        name = getattr(node, "name", None)
        if any(isinstance(x, str) and x.startswith("_") for x in (attribute, name)):
            return "names starting with `_` are not allowed"
        if isinstance(node, jinja2.nodes.Call):
            return "calls are not allowed in a text; use filters: {{ value | percent }}"
    return None


def _subject(node: Any) -> tuple[str, str | None] | None:
    """(name, field) of `name.field` or of a bare name, in a Python or a Jinja2 tree."""
    if isinstance(node, ast.Name):
        return node.id, None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    if isinstance(node, jinja2.nodes.Name):
        return node.name, None
    if isinstance(node, jinja2.nodes.Getattr) and isinstance(node.node, jinja2.nodes.Name):
        return node.node.name, node.attr
    return None


def _strings(node: Any) -> list[str] | None:
    """The text literal(s) of a node: 'x', or ('x', 'y') after `in`; None for anything else."""
    if isinstance(node, (ast.Constant, jinja2.nodes.Const)):
        return [node.value] if isinstance(node.value, str) else None
    items = getattr(node, "elts", None) or getattr(node, "items", None) \
        if isinstance(node, (ast.Tuple, ast.List, jinja2.nodes.Tuple, jinja2.nodes.List)) else None
    found = [_strings(i) for i in items or []]
    return [v for f in found if f for v in f] if found and all(found) else None


def _literals(tree: Any, allowed: dict[tuple[str, str | None], tuple[str, ...]]) -> Iterator[tuple[str, str]]:
    """Text literals compared with a status or a grade that it can never have."""
    nodes = ast.walk(tree) if isinstance(tree, ast.AST) else tree.find_all(jinja2.nodes.Compare)
    for node in nodes:
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
        elif isinstance(node, jinja2.nodes.Compare):
            sides = [node.expr, *(o.expr for o in node.ops)]
        else:
            continue
        for a, b in zip(sides, sides[1:]):
            for subject, other in ((_subject(a), b), (_subject(b), a)):
                values = _strings(other)
                if subject not in allowed or values is None:
                    continue
                for value in values:
                    if value not in allowed[subject]:
                        what = ".".join(s for s in subject if s)
                        yield (f"`{what}` is never {value!r}",
                               did_you_mean(value, allowed[subject]) or "it is one of: " + ", ".join(allowed[subject]))


def _template_names(tree: jinja2.nodes.Template, context: dict[str, tuple[str, ...]],
                    allowed: dict[tuple[str, str | None], tuple[str, ...]]) -> Iterator[tuple[str, str]]:
    """Names and fields an action text prints that its context lacks: each would stop the
    run when the action fires, which may be long after the typo was made."""
    for node in tree.find_all((jinja2.nodes.Name, jinja2.nodes.Getattr)):
        subject = _subject(node)
        if subject is None:
            continue
        name, attr = subject
        if name not in context:
            yield f"`{name}` is not a KPI, check, category, `score`, `grade` or `params`" + \
                  (" (`entity` is there for actions with scope: entity)" if name == "entity" else ""), \
                  did_you_mean(name, context)
        elif attr is not None and context[name] and attr not in context[name]:
            yield f"`{name}` has no field `{attr}`", did_you_mean(attr, context[name]) or \
                  f"fields: {', '.join(context[name])}"
    yield from _literals(tree, allowed)


class _Builder:
    """Turns checked plain data into the model, collecting every problem on the way."""

    def __init__(self, doc: Document, allow: tuple[Path, ...] = ()):
        self.doc = doc
        self.allow = allow
        self.problems: list[Problem] = []
        self.did_you_mean = Suggestions()
        self.paths: dict[int, tuple] = {}  # id of each parsed expression -> its YAML path
        params = self.mapping("params")
        self.params: dict[str, Any] = {**params, **derived_params(params)}  # names usable
        self.computed: dict[tuple[str, str], str | None] = {}  # (source, column) -> kind
        self.measure_kinds: dict[str, str | None] = {}

    def problem(self, location: Location, rule: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(location, rule, message, hint))

    def expr(self, value: Any, path: tuple, attributes: bool = False) -> Expression | None:
        if value is None or isinstance(value, (dict, list)):
            return None
        try:
            expression = parse(value, self.doc.at(path), attributes)
            self.paths[id(expression)] = path
            return expression
        except AssessError as exc:
            self.problems.extend(exc.problems)
            return None

    def position(self, expression: Expression, name: str) -> Location:
        """Where ``name`` first stands in the file; a scalar over several lines is searched
        in the file's own text, since its lines were folded into one."""
        span = self.doc.spans.get(self.paths.get(id(expression), ()))
        if span is None:
            return position(expression, name)
        # quoted text is skipped, so a name is not found inside a string literal
        tokens = re.finditer(rf"'[^']*'|\"[^\"]*\"|\b{re.escape(name)}\b", self.doc.text[span[0]:span[1]])
        found = next((t for t in tokens if t.group() == name), None)
        return self.doc.location_of(span[0] + found.start()) if found else expression.location

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.doc.data.get(key)
        return value if isinstance(value, dict) else {}

    def build(self, file: Path) -> Ruleset:
        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        self.doc.data = data
        settings = self.mapping("settings")
        by = data.get("by", [])
        names = self.mapping("names")
        ruleset = Ruleset(
            id=str(data.get("ruleset", file.stem)), file=file,
            title=_text(data.get("title", data.get("ruleset", file.stem))),
            description=_text(data.get("description")), version=str(data.get("version", "")),
            params=dict(self.mapping("params")),
            sources=self.sources(), measures={}, kpis={}, categories=self.categories(),
            grades=self.grades(), checks=[], actions=[],
            samples=int(_number(settings.get("samples"), 100)),
            areas={k: _text(v) for k, v in self.mapping("areas").items()},
            by=[by] if isinstance(by, str) else [b for b in by if isinstance(b, str)] if isinstance(by, list) else [],
            names=(names["source"], names["column"]) if {"source", "column"} <= set(names) else None,
            compare=data.get("compare"), trend=data.get("trend"))
        ruleset.measures = self.measures(ruleset)
        ruleset.kpis = self.kpis(ruleset, _number(settings.get("near_margin"), 0.05))
        ruleset.checks = self.checks(ruleset)
        ruleset.breakdowns = self.breakdowns(ruleset)
        ruleset.actions = self.actions(ruleset)
        self.entities(ruleset)
        if wrong := reversed_period(ruleset.params):
            self.problem(self.doc.at(("params", "period_start")), "period", wrong, "swap the two dates")
        checks = {c.id for c in ruleset.checks}
        for kpi in ruleset.kpis.values():
            for name in kpi.requires:
                if name not in checks:
                    self.problem(self.doc.at(("kpis", kpi.id, "requires")), "unknown-name",
                                 f"`{kpi.id}` requires `{name}`, which is not a check", self.did_you_mean(name, checks))
        return ruleset

    def entities(self, ruleset: Ruleset) -> None:
        """What `by`, `names`, per_entity, peer scoring and periods need from the rest."""
        at = self.doc.at
        if not ruleset.by:
            for m in ruleset.measures.values():
                if m.shared or m.allocate:
                    self.problem(at(("measures", m.name, "per_entity")), "entities",
                                 f"`{m.name}` says how it applies per entity, but the ruleset has no `by`")
            for k in ruleset.kpis.values():
                if k.scoring.method in PEER_METHODS:
                    self.problem(at(("kpis", k.id, "scoring")), "entities",
                                 f"`{k.id}` is scored against other entities ({k.scoring.method}), "
                                 "but the ruleset has no `by`", "add `by:` or score against a target")
        for m in ruleset.measures.values():
            source = ruleset.sources[m.source]
            key = ruleset.key_of(source)
            path = ("measures", m.name)
            if m.allocate and m.allocate not in ruleset.measures:
                self.problem(at(path + ("per_entity", "allocate")), "unknown-name",
                             f"`{m.name}` is allocated by `{m.allocate}`, which is not a measure",
                             self.did_you_mean(m.allocate, ruleset.measures))
            elif m.allocate and (ruleset.measures[m.allocate].shared or ruleset.measures[m.allocate].allocate):
                self.problem(at(path + ("per_entity", "allocate")), "entities",
                             f"`{m.name}` is allocated by `{m.allocate}`, which is not computed per entity")
            missing = [c for c in key if source.columns is not None and c not in source.columns]
            if ruleset.by and missing and not (m.shared or m.allocate):
                self.problem(at(path + ("source",)), "entity-key",
                             f"`{m.name}` reads `{source.name}`, which has no `{missing[0]}` column to group by",
                             "give the source its key column (`by:` on the source), or say how the measure "
                             "applies per entity: `per_entity: shared` or `per_entity: {allocate: MEASURE}`")
        if ruleset.names:
            name_source, column = ruleset.names
            source = self.known_source(name_source, ("names", "source"), ruleset.sources)
            if source is not None and source.columns is not None:
                for c in [*ruleset.key_of(source), column]:
                    if c not in source.columns:
                        self.problem(at(("names",)), "unknown-column",
                                     f"names: source `{source.name}` declares no column `{c}`",
                                     self.did_you_mean(c, source.columns))
        period = period_problem(ruleset.params, ruleset.trend)
        if period:
            self.problem(at(("params", "period_start")), "period", period)
        for option in ("compare", "trend"):
            if getattr(ruleset, option) and not derived_params(ruleset.params):
                self.problem(at((option,)), "period",
                             f"`{option}` needs the date params period_start and period_end")

    def sources(self) -> dict[str, Source]:
        out = {}
        for name, spec in self.mapping("sources").items():
            path = ("sources", name)
            if isinstance(spec, str):
                out[name] = Source(name, spec, self.doc.at(path))
            elif isinstance(spec, dict) and isinstance(spec.get("path"), str):
                key = spec.get("key", [])
                columns = spec.get("columns")
                out[name] = Source(name, spec["path"], self.doc.at(path + ("path",)),
                                   columns=dict(columns) if isinstance(columns, dict) else None,
                                   key=[key] if isinstance(key, str) else
                                   [k for k in key if isinstance(k, str)] if isinstance(key, list) else [],
                                   encoding=spec.get("encoding"), sheet=spec.get("sheet"),
                                   table=spec.get("table"), schema=spec.get("schema"))
                by = spec.get("by")
                out[name].by = [by] if isinstance(by, str) else by if isinstance(by, list) else None
                joins = spec.get("join", [])
                many = isinstance(joins, list)
                out[name].joins = [Join(j["source"], _pairs(j["on"]), tuple(j["columns"]),
                                        self.doc.at(path + (("join", i) if many else ("join",))))
                                   for i, j in enumerate(joins if many else [joins])
                                   if isinstance(j, dict) and {"source", "on", "columns"} <= set(j)]
                out[name].where = self.expr(spec.get("where"), path + ("where",))
                compute = spec.get("compute") if isinstance(spec.get("compute"), dict) else {}
                out[name].compute = {c: e for c, text in compute.items()
                                     if (e := self.expr(text, path + ("compute", c))) is not None}
            elif isinstance(spec, dict) and isinstance(spec.get("from"), str):
                group_by, key = spec.get("group_by", []), spec.get("key", [])
                out[name] = Source(name, "", self.doc.at(path + ("from",)), parent=spec["from"],
                                   group_by=[group_by] if isinstance(group_by, str) else list(group_by),
                                   key=[key] if isinstance(key, str) else list(key))
                out[name].where = self.expr(spec.get("where"), path + ("where",))
        for source in out.values():
            if source.parent is None:
                self.inside(source)
        for source in out.values():
            self.derived(source, out)
        for source in out.values():  # computed columns can be a join's key, or be borrowed
            if source.columns is not None:
                source.columns |= {c: "float" for c in source.compute if c not in source.columns}
        for source in out.values():
            self.joined(source, out)
        self.acyclic(out)
        for source in out.values():  # each computed column may use the ones before it
            for column, expression in source.compute.items():
                self.computed[source.name, column] = self.row_names(expression, source, out, self.params)
                if source.columns is not None:
                    source.columns[column] = "float"
        for source in out.values():
            if source.where:
                self.row_names(source.where, source, out, self.params)
        return out

    def aggregation(self, name: str, spec: Any, path: tuple, source: Source | None) -> Measure | None:
        """One aggregation (a measure, or a column of a derived source) over ``source``."""
        agg = next((a for a in AGGREGATIONS if a in spec), None) if isinstance(spec, dict) else None
        if agg is None:
            return None
        of = None if spec[agg] is True else self.expr(spec[agg], path + (agg,))
        where = self.expr(spec.get("where"), path + ("where",))
        label = self.expr(spec.get("label"), path + ("label",))
        if agg == "top" and label is None:
            self.problem(self.doc.at(path + (agg,)), "schema", f"`{name}`: `top` needs a `label`",
                         "say what to report of the top row, e.g. label: step")
        for e in (of, where, label):
            if e and source is not None:
                kind = self.row_names(e, source, {}, self.params)
                if e is of:  # a min, max or quantile of dates is a date
                    self.measure_kinds[name] = kind if agg in ("min", "max", "median", "quantile") else "number"
        if of is None:
            self.measure_kinds[name] = "number"
        return Measure(name, source.name if source else "", agg, of, where,
                       self.doc.at(path, key=True), q=_number(spec.get("q"), 0.5), label=label)

    def inside(self, source: Source) -> None:
        """A source reads under the ruleset's folder (or an allowed one): never
        ../../etc/passwd, an absolute path elsewhere, or a symlink pointing out."""
        folder = Path(self.doc.file).parent
        target = (folder / source.path).resolve()
        roots = [folder.resolve(), *(a.resolve() for a in self.allow)]
        if not any(target.is_relative_to(root) for root in roots):
            self.problem(source.location, "path-outside",
                         f"source `{source.name}`: {source.path} lies outside the ruleset's folder",
                         "keep the data beside the ruleset, pass --data DIR, or add a root with --allow-path DIR")

    def derived(self, source: Source, sources: dict[str, Source]) -> None:
        """A derived source: its parent exists and has the columns; its own columns are
        the group_by columns and the aggregates."""
        if source.parent is None:
            return
        path = ("sources", source.name)
        parent = self.known_source(source.parent, path + ("from",), sources)
        if parent is None:
            return
        if parent.parent is not None:
            self.problem(self.doc.at(path + ("from",)), "derived",
                         f"`{parent.name}` is derived itself; derive from a source read from a file")
            return
        for column in source.group_by:
            if parent.columns is not None and column not in parent.columns:
                self.problem(self.doc.at(path + ("group_by",)), "unknown-column",
                             f"source `{parent.name}` declares no column `{column}`",
                             self.did_you_mean(column, parent.columns))
        raw = self.mapping("sources")[source.name].get("aggregate", {})
        for name, spec in (raw.items() if isinstance(raw, dict) else []):
            measure = self.aggregation(name, spec, path + ("aggregate", name), parent)
            if measure is not None:
                source.aggregate[name] = measure
        known = parent.columns or {}
        source.columns = {c: known.get(c, "string") for c in source.group_by} | {
            n: known.get(m.of.text, "float") if m.agg in ("min", "max", "top") and m.of else "float"
            for n, m in source.aggregate.items()}

    def joined(self, source: Source, sources: dict[str, Source]) -> None:
        """Borrowed columns join the source's contract, typed as in the source they come from."""
        for i, join in enumerate(source.joins):
            path = ("sources", source.name, "join") + ((i,) if len(source.joins) > 1 else ())
            self.join(source, join, sources, path)
        for join in source.joins:
            path = ("sources", source.name, "join") + ((source.joins.index(join),) if len(source.joins) > 1 else ())
            for own, theirs in join.on:
                if source.columns is not None and own not in source.columns:
                    self.problem(self.doc.at(path + ("on",)), "unknown-column",
                                 f"join: source `{source.name}` declares no column `{own}`",
                                 self.did_you_mean(own, source.columns))
                other = sources.get(join.source)
                self.key_types(source, own, other, theirs, self.doc.at(path + ("on",)), "join")
        unordered = [s for s in [*source.compute, *source.joins] if s not in source.steps()]
        if unordered:
            names = ", ".join(f"`{s}`" if isinstance(s, str) else f"the join to `{s.source}`" for s in unordered)
            self.problem(self.doc.at(("sources", source.name)), "join",
                         f"source `{source.name}`: {names} need each other's columns",
                         "compute the key from the file's own columns, or borrow the column it needs first")

    def join(self, source: Source, join: Join, sources: dict[str, Source], path: tuple) -> None:
        other = self.known_source(join.source, path + ("source",), sources)
        if other is None:
            return
        if other.joins:
            self.problem(self.doc.at(path + ("source",)), "join",
                         f"`{other.name}` borrows columns itself; borrow from the source that has them")
        for column in [*(theirs for _, theirs in join.on), *join.columns]:
            if other.columns is not None and column not in other.columns:
                self.problem(self.doc.at(path), "unknown-column",
                             f"join: source `{other.name}` declares no column `{column}`",
                             self.did_you_mean(column, other.columns))
        if source.columns is not None:
            for column in join.columns:
                source.columns.setdefault(column, (other.columns or {}).get(column, "string"))

    def key_types(self, source: Source, own: str, other: Source | None, theirs: str,
                  location: Location, what: str) -> None:
        """Key columns declared with types that can never be equal: text against a number."""
        if other is None or own in source.compute or theirs in other.compute:
            return  # a computed column's type is known only when it is computed
        mine, lent = (source.columns or {}).get(own), (other.columns or {}).get(theirs)
        if mine and lent and key_kind(mine) != key_kind(lent):
            self.problem(location, "key-type",
                         f"{what}: `{own}` of `{source.name}` is {mine} but `{theirs}` of `{other.name}` "
                         f"is {lent}; they can never be equal", "declare both key columns with one type")

    def acyclic(self, sources: dict[str, Source]) -> None:
        """No source may need its own rows: through `from` and `join`, in a loop."""
        def needs(name: str) -> list[str]:
            s = sources[name]
            return [n for n in ([s.parent] if s.parent else []) + [j.source for j in s.joins] if n in sources]

        done: set[str] = set()

        def visit(name: str, trail: list[str]) -> None:
            if name in trail:
                loop = trail[trail.index(name):] + [name]
                self.problem(sources[loop[0]].location, "cycle",
                             "sources need each other's rows in a loop: " + " -> ".join(loop),
                             "borrow from, or derive from, a source that does not lead back")
                return
            if name not in done:
                for n in needs(name):
                    visit(n, trail + [name])
                done.add(name)

        for name in sources:
            visit(name, [])

    def row_names(self, expr: Expression, source: Source, sources: dict[str, Source],
                  params: dict[str, Any]) -> str | None:
        """Names in a row expression are the source's columns (when declared) or params, of
        a kind their use suits; the expression's kind where it is known."""
        if source.columns is None:
            return None
        for name in sorted(expr.names - set(source.columns) - set(params)):
            self.problem(self.position(expr, name), "unknown-column",
                         f"`{name}` is neither a column of source `{source.name}` nor a param",
                         self.did_you_mean(name, [*source.columns, *params]))

        def kind_of(name: str) -> str | None:
            if name in source.compute:  # known once computed, in order
                return self.computed.get((source.name, name))
            if name in source.columns:
                return COLUMN_KINDS.get(source.columns[name])
            return _param_kind(params[name]) if name in params else None

        def what(name: str) -> str:
            return f"column `{name}`" if name in source.columns else f"param `{name}`"
        kind, problems = typed(expr, kind_of, what)
        self.problems.extend(problems)
        return kind

    def known_source(self, name: Any, path: tuple, sources: dict[str, Source]) -> Source | None:
        if name in sources:
            return sources[name]
        if isinstance(name, str):
            self.problem(self.doc.at(path), "unknown-source", f"unknown source `{name}`",
                         self.did_you_mean(name, sources))
        return None

    def measures(self, ruleset: Ruleset) -> dict[str, Measure]:
        out = {}
        for name, spec in self.mapping("measures").items():
            path = ("measures", name)
            if not isinstance(spec, dict):
                continue
            source = self.known_source(spec.get("source"), path + ("source",), ruleset.sources)
            if name in self.params:
                self.problem(self.doc.at(path, key=True), "name-clash",
                             f"measure `{name}` has the name of a param", "rename one of them")
            measure = self.aggregation(name, spec, path, source)
            if source is None or measure is None:
                continue
            per_entity, by = spec.get("per_entity"), spec.get("by", [])
            measure.shared = per_entity == "shared"
            measure.allocate = per_entity.get("allocate") if isinstance(per_entity, dict) else None
            measure.by = [by] if isinstance(by, str) else [b for b in by if isinstance(b, str)]
            measure.title = _text(spec.get("title", name))
            for column in measure.by:
                if source.columns is not None and column not in source.columns:
                    self.problem(self.doc.at(path + ("by",)), "unknown-column",
                                 f"source `{source.name}` declares no column `{column}`",
                                 self.did_you_mean(column, source.columns))
            out[name] = measure
        return out

    def weight(self, spec: dict[str, Any], path: tuple[Any, ...]) -> float:
        """A weight, 0 or between MIN_WEIGHT and MAX_WEIGHT: weights are relative, and a
        weight times a score must neither underflow nor overflow a float."""
        weight = _number(spec.get("weight"), 1)
        if weight and not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            self.problem(self.doc.at(path + ("weight",)), "weight-range",
                         f"weight {weight:g} is out of range: 0, or from {MIN_WEIGHT:g} to {MAX_WEIGHT:g}",
                         "weights are relative: 1 and 3 weigh as 0.001 and 0.003 do; 0 leaves it out of the total")
        return weight

    def categories(self) -> dict[str, Category]:
        out = {}
        for name, spec in self.mapping("categories").items():
            spec = spec if isinstance(spec, dict) else {}
            out[name] = Category(name, _text(spec.get("title", name)),
                                 self.weight(spec, ("categories", name)), str(spec.get("rollup", "mean")))
        return out

    def grades(self) -> list[Grade]:
        raw = self.doc.data.get("grades")
        if not isinstance(raw, list):
            return list(DEFAULT_GRADES)
        grades = [Grade(_number(g["min"], 0), str(g["grade"]), _text(g.get("label")))
                  for g in raw if isinstance(g, dict) and "min" in g and "grade" in g]
        grades.sort(key=lambda g: -g.min)
        if grades and grades[-1].min > 0:
            self.problem(self.doc.at(("grades",)), "grades",
                         f"no grade for scores below {grades[-1].min:g}", "add a grade with min: 0")
        return grades

    def kpis(self, ruleset: Ruleset, near_margin: float) -> dict[str, Kpi]:
        raw = self.mapping("kpis")
        out: dict[str, Kpi] = {}
        # every declared name counts, built or not, so one mistake is reported once
        measures = list(self.mapping("measures"))
        inputs = {**{m: "measure" for m in measures}, **{p: "param" for p in self.params},
                  **{c: "check" for c in quality_names(self.doc.data)}}
        for name, spec in raw.items():
            path = ("kpis", name)
            if not isinstance(spec, dict):
                continue
            formula = self.expr(spec.get("formula"), path + ("formula",))
            if name in inputs:
                self.problem(self.doc.at(path, key=True), "name-clash",
                             f"KPI `{name}` has the name of a {inputs[name]}", "rename one of them")
            if formula is None:
                continue
            for ref in sorted(formula.names & {m.name for m in ruleset.measures.values() if m.by}):
                self.problem(self.position(formula, ref), "breakdown",
                             f"`{ref}` is reported by {', '.join(ruleset.measures[ref].by)} (a breakdown), "
                             "so a formula cannot use it", "declare a measure without `by` for the formula")
            for ref in sorted(formula.names - set(raw) - set(inputs)):
                if ref in self.mapping("breakdowns"):
                    self.problem(self.position(formula, ref), "breakdown",
                                 f"`{ref}` is a breakdown, a value per group, so the formula of `{name}` cannot use it",
                                 "combine measures without `by` for the overall value")
                    continue
                self.problem(self.position(formula, ref), "unknown-name",
                             f"`{ref}` in the formula of `{name}` is not a measure, KPI, check or param",
                             self.did_you_mean(ref, [*measures, *raw, *self.params]))
            self.problems.extend(typed(formula, lambda n: self.measure_kinds.get(n) if n in measures else
                                       _param_kind(self.params[n]) if n in self.params else
                                       "number" if n in raw or n in inputs else None,
                                       lambda n: f"{inputs.get(n, 'KPI')} `{n}`")[1])
            kpi = Kpi(id=name, title=_text(spec.get("title", name)), formula=formula,
                      category=str(spec.get("category")), location=self.doc.at(path, key=True),
                      unit=spec.get("unit", "ratio"), better=spec.get("better", "higher"),
                      decimals=spec["decimals"] if type(spec.get("decimals")) is int else None,
                      target=_optional(spec.get("target")), floor=_optional(spec.get("floor")),
                      benchmark=_optional(spec.get("benchmark")), weight=self.weight(spec, path),
                      near=_number(spec.get("near"), near_margin), on_null=spec.get("on_null", "n/a"),
                      requires=[r for r in spec.get("requires", []) if isinstance(r, str)],
                      description=_text(spec.get("description")))
            kpi.scoring = self.scoring(kpi, spec.get("scoring"), path)
            if kpi.category not in ruleset.categories:
                self.problem(self.doc.at(path + ("category",)), "unknown-category",
                             f"KPI `{name}` is in category `{kpi.category}`, which `categories` does not declare",
                             self.did_you_mean(kpi.category, ruleset.categories) or "declare it under `categories`")
            out[name] = kpi
        return self.in_order(out)

    def breakdowns(self, ruleset: Ruleset) -> dict[str, Breakdown]:
        """Formulas per group: each name in one is a measure broken down by the same
        columns, or a param; a column of the data is read only through a measure."""
        out = {}
        measures = self.mapping("measures")  # declared, built or not: one mistake, one report
        taken = {**{m: "measure" for m in measures}, **{k: "KPI" for k in self.mapping("kpis")},
                 **{p: "param" for p in self.params}, **{c: "check" for c in quality_names(self.doc.data)}}
        groupings = {tuple(m.by) for m in ruleset.measures.values() if m.by}
        for name, spec in self.mapping("breakdowns").items():
            path = ("breakdowns", name)
            if not isinstance(spec, dict):
                continue
            if name in taken:
                self.problem(self.doc.at(path, key=True), "name-clash",
                             f"breakdown `{name}` has the name of a {taken[name]}", "rename one of them")
            raw = spec.get("by")
            by = [raw] if isinstance(raw, str) else [b for b in raw if isinstance(b, str)] if isinstance(raw, list) else []
            formula = self.expr(spec.get("formula"), path + ("formula",))
            if formula is None or not by:
                continue
            shown = ", ".join(by)
            if name in by:
                self.problem(self.doc.at(path, key=True), "name-clash",
                             f"breakdown `{name}` has the name of its own `by` column", "rename the breakdown")
            if tuple(by) not in groupings:
                self.problem(self.doc.at(path + ("by",)), "breakdown",
                             f"no measure is broken down by {shown}, so `{name}` has no groups",
                             self.did_you_mean(shown, [", ".join(g) for g in groupings])
                             or f"give the measures of its formula `by: {raw}`")
                continue
            for ref in sorted(formula.names - set(self.params)):
                measure = ruleset.measures.get(ref)
                if measure is not None and measure.by != by:
                    grouped = f"by {', '.join(measure.by)}" if measure.by else "not broken down"
                    self.problem(self.position(formula, ref), "breakdown",
                                 f"`{ref}` is {grouped}, so `{name}` (by {shown}) cannot use it per group",
                                 f"use a measure with `by: {raw}`")
                elif ref not in measures:
                    columns = [s.name for s in ruleset.sources.values() if ref in (s.columns or {})]
                    self.problem(self.position(formula, ref), "unknown-name",
                                 f"`{ref}` in the formula of breakdown `{name}` is not a measure or a param"
                                 + (f"; it is a column of `{columns[0]}`" if columns else ""),
                                 f"a formula per group combines measures: declare one such as "
                                 f"`{{source: {columns[0]}, sum: {ref}, by: {raw}}}`" if columns else
                                 self.did_you_mean(ref, [m.name for m in ruleset.measures.values() if m.by == by]
                                                   + list(self.params)))
            if not formula.names - set(self.params):
                self.problem(formula.location, "breakdown", f"the formula of `{name}` uses no measure broken "
                             f"down by {shown}, so it has no groups", "use the measures it compares per group")
            self.problems.extend(typed(formula, lambda n: self.measure_kinds.get(n) if n in measures else
                                       _param_kind(self.params[n]) if n in self.params else None,
                                       lambda n: f"{taken.get(n, 'name')} `{n}`")[1])
            out[name] = Breakdown(name, by, formula, self.doc.at(path, key=True), _text(spec.get("title", name)),
                                  spec.get("unit", "ratio"))
        return out

    def scoring(self, kpi: Kpi, spec: Any, path: tuple) -> Scoring:
        if isinstance(spec, str):
            spec = {"method": spec}
        if not isinstance(spec, dict):
            spec = {"method": "linear" if kpi.floor is not None else "ratio"}
        bands = spec.get("bands")
        scoring = Scoring(str(spec.get("method")),
                          [(_number(b[0], 0), _number(b[1], 0)) for b in bands
                           if isinstance(b, list) and len(b) == 2] if isinstance(bands, list) else [],
                          _optional(spec.get("low")), _optional(spec.get("high")),
                          _optional(spec.get("tolerance")), _number(spec.get("clip"), 2.0))
        where = self.doc.at(path + ("scoring",)) if "scoring" in self.doc.data["kpis"][kpi.id] \
            else kpi.location
        raw = self.doc.data["kpis"][kpi.id]
        # without a target, a floor or a way to score, a KPI is reported, not scored
        kpi.scored = raw.get("scored", True) is not False and not (
            kpi.target is None and kpi.floor is None and "scoring" not in raw)
        needs = {"linear": ("target", "floor"), "ratio": ("target",)}.get(scoring.method, ()) if kpi.scored else ()
        for field in needs:
            if getattr(kpi, field) is None:
                self.problem(where, "scoring", f"`{scoring.method}` scoring of `{kpi.id}` needs a `{field}`")
        if scoring.method == "bands" and not scoring.bands:
            self.problem(where, "scoring", f"`bands` scoring of `{kpi.id}` needs `bands`")
        if scoring.method == "range" and None in (scoring.low, scoring.high, scoring.tolerance):
            self.problem(where, "scoring", f"`range` scoring of `{kpi.id}` needs `low`, `high` and `tolerance`")
        if scoring.method == "ratio" and kpi.target == 0:
            self.problem(where, "scoring", f"`ratio` scoring of `{kpi.id}` needs a target other than 0",
                         "use linear scoring with a floor")
        if kpi.target is not None and kpi.floor is not None:
            wrong = kpi.floor >= kpi.target if kpi.better == "higher" else kpi.floor <= kpi.target
            if wrong:
                side = "below" if kpi.better == "higher" else "above"
                self.problem(self.doc.at(path + ("floor",)), "target-floor",
                             f"`{kpi.id}`: better is {kpi.better}, so floor ({kpi.floor:g}) must be {side} target ({kpi.target:g})",
                             "swap them or change `better`")
        return scoring

    def in_order(self, kpis: dict[str, Kpi]) -> dict[str, Kpi]:
        """Every KPI after the KPIs its formula uses; a cycle is an error. A loop with its
        own stack, not a recursion: 1,200 KPIs chained one on the next are fine."""
        ordered: dict[str, Kpi] = {}
        state: dict[str, str] = {}
        for root in kpis:
            stack = [(root, iter(kpis[root].uses(kpis)))] if root not in state else []
            state.setdefault(root, "open")
            while stack:
                name, refs = stack[-1]
                ref = next((r for r in refs if state.get(r) != "done"), None)
                if ref is None:
                    stack.pop()
                    state[name] = "done"
                    ordered[name] = kpis[name]
                elif state.get(ref) == "open":
                    trail = [n for n, _ in stack]
                    self.problem(kpis[ref].location, "kpi-cycle",
                                 "KPIs depend on each other in a cycle: " + " -> ".join(trail[trail.index(ref):] + [ref]))
                else:
                    state[ref] = "open"
                    stack.append((ref, iter(kpis[ref].uses(kpis))))
        return ordered

    def checks(self, ruleset: Ruleset) -> list[Check]:
        out: list[Check] = []
        raw = self.doc.data.get("checks")
        seen: set[str] = set()
        for i, spec in enumerate(raw if isinstance(raw, list) else []):
            path = ("checks", i)
            if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
                continue
            source = self.known_source(spec.get("source"), path + ("source",), ruleset.sources)
            by = spec.get("by", [])
            check = Check(id=spec["id"], source=str(spec.get("source")), rule=str(spec.get("rule")),
                          location=self.doc.at(path), title=_text(spec.get("title", spec["id"])),
                          options={k: v for k, v in spec.items() if k not in COMMON},
                          expression=self.expr(spec.get("expression"), path + ("expression",)),
                          where=self.expr(spec.get("where"), path + ("where",)),
                          warn=_threshold(spec.get("warn")), fail=_threshold(spec.get("fail")),
                          by=[by] if isinstance(by, str) else [b for b in by if isinstance(b, str)],
                          severity=str(spec.get("severity", "medium")), area=spec.get("area"),
                          fix=_text(spec.get("fix")), description=_text(spec.get("description")))
            if check.id in seen or check.id in ruleset.kpis:
                self.problem(self.doc.at(path + ("id",)), "duplicate-id",
                             f"`{check.id}` names another check or KPI already")
            seen.add(check.id)
            if check.rule not in RULES:
                continue
            for key in check.options:
                if key not in RULES[check.rule].keys:
                    self.problem(self.doc.at(path + (key,), key=True), "rule-key",
                                 f"`{key}` does not apply to rule `{check.rule}`",
                                 "it takes: " + ", ".join(RULES[check.rule].needs + RULES[check.rule].takes))
            for level in ("warn", "fail"):
                written = spec.get(level)
                if isinstance(written, str) and "%" in written and getattr(check, level)[0] not in SHARES:
                    self.problem(self.doc.at(path + (level,)), "thresholds",
                                 f"`{check.id}`: {level}: a percent is a share of rows, not a count",
                                 "write failed_ratio > 5% or ratio < 95%, or a count: failed > 10")
            if check.warn is not None and check.warn == check.fail:
                self.problem(self.doc.at(path + ("warn",)), "thresholds",
                             f"`{check.id}`: warn and fail are the same condition", "make warn the milder one")
            if check.area is not None and check.area not in ruleset.areas:
                self.problem(self.doc.at(path + ("area",)), "unknown-area",
                             f"area `{check.area}` is not declared under `areas`",
                             self.did_you_mean(check.area, ruleset.areas))
            if source is None:
                continue
            self.check_columns(check, source, ruleset, path)
            self.check_values(check, source, path)
            for e in (check.expression, check.where):
                if e:
                    self.row_names(e, source, ruleset.sources, self.params)
            out.append(check)
        return out

    def check_values(self, check: Check, source: Source, path: tuple) -> None:
        """Values a rule compares with must have the declared type of the column."""
        kind = (source.columns or {}).get(str(check.options.get("column")))
        numeric = kind in ("int", "float")
        for key in ("values", "min", "max"):
            given = check.options.get(key)
            if key in ("min", "max") and isinstance(given, str) and not self.moment(given, check.rule):
                self.problem(self.doc.at(path + (key,)), "value-type",
                             f"`{check.id}`: {given!r} is neither a number, a date, a date and time nor a param",
                             "write 1997-01-01, 1997-01-01T08:00:00 or a param's name such as period_start"
                             if check.rule == "range" else "give a number of rows")
                return
            for value in given if isinstance(given, list) else [] if given is None else [given]:
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                if kind in ("date", "datetime") and number and key in ("min", "max"):
                    self.problem(self.doc.at(path + (key,)), "value-type",
                                 f"`{check.id}`: {value!r} is not a date, the type of column "
                                 f"`{check.options['column']}`", "write a date (1997-01-01) or a param's name")
                    return
                if kind and (numeric != number or (kind == "bool") != isinstance(value, bool)) \
                        and kind not in ("date", "datetime"):
                    self.problem(self.doc.at(path + (key,)), "value-type",
                                 f"`{check.id}`: {value!r} is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}, "
                                 f"the type of column `{check.options['column']}`",
                                 "write the values as the column holds them")
                    return

    def moment(self, text: str, rule: str) -> bool:
        """A `range` bound written as text is a param's name or an ISO date or datetime."""
        if rule != "range":
            return False
        if text in self.params:
            return True
        try:
            dt.datetime.fromisoformat(text)
            return True
        except ValueError:
            return False

    def check_columns(self, check: Check, source: Source, ruleset: Ruleset, path: tuple) -> None:
        """Columns a check names exist in the contracts that declare columns."""
        named = [(k, c) for k in ("column",) if isinstance(check.options.get(k), str)
                 for c in [check.options[k]]]
        named += [("columns", c) for c in check.options.get("columns", []) if isinstance(c, str)]
        named += [("by", c) for c in check.by]
        for key, column in named:
            if source.columns is not None and column not in source.columns:
                self.problem(self.doc.at(path + (key,)), "unknown-column",
                             f"source `{source.name}` declares no column `{column}`",
                             self.did_you_mean(column, source.columns))
        to = check.options.get("to")
        if isinstance(to, dict) and isinstance(to.get("source"), str):
            other = self.known_source(to["source"], path + ("to", "source"), ruleset.sources)
            key = "columns" if "columns" in to else "column"
            theirs = to[key] if isinstance(to.get(key), list) else [to.get(key)]
            mine = check.options.get("columns") or [check.options.get("column")]
            if len(mine) != len(theirs):
                self.problem(self.doc.at(path + ("to", key)), "references",
                             f"`{check.id}`: {len(mine)} key column(s) against {len(theirs)} in `to`",
                             "name as many columns in `to` as the check has, in the same order")
            for column in theirs:
                if other is not None and other.columns is not None and column not in other.columns:
                    self.problem(self.doc.at(path + ("to", key)), "unknown-column",
                                 f"source `{other.name}` declares no column `{column}`",
                                 self.did_you_mean(str(column), other.columns))
            for own, column in zip(mine, theirs):
                self.key_types(source, str(own), other, str(column), self.doc.at(path + ("to", key)),
                               f"`{check.id}`")
        as_of = check.options.get("as_of", "period_end" if check.rule == "freshness" else None)
        if isinstance(as_of, str) and as_of not in self.params:
            try:
                dt.date.fromisoformat(as_of)
            except ValueError:
                self.problem(self.doc.at(path + ("as_of",)) if "as_of" in check.options else check.location,
                             "unknown-name", f"as_of `{as_of}` is neither a date param nor a date",
                             self.did_you_mean(as_of, self.params) or "add a period_end param or give as_of")

    def actions(self, ruleset: Ruleset) -> list[Action]:
        out: list[Action] = []
        raw = self.doc.data.get("actions")
        fields = {**{k: KPI_FIELDS for k in self.mapping("kpis")},
                  **{c.id: CHECK_FIELDS for c in ruleset.checks},
                  **{c: CATEGORY_FIELDS for c in ruleset.categories}}
        known = [*fields, *RESULT_NAMES, *self.params]
        env = jinja2.sandbox.ImmutableSandboxedEnvironment()
        text_fields: dict[str, tuple[str, ...]] = {
            "score": (), "grade": (), "params": tuple(self.params),
            **{k: tuple(f.name for f in dataclasses.fields(KpiResult)) for k in self.mapping("kpis")},
            **{c.id: TEXT_CHECK_FIELDS for c in ruleset.checks},
            **{c: TEXT_CATEGORY_FIELDS for c in ruleset.categories}}
        grades = tuple(g.grade for g in ruleset.grades)
        # the values a status or a grade can take, by (name, field): a literal compared
        # with one of them must be one of these, or the comparison never holds
        allowed = {**{(k, "status"): KPI_STATUSES for k in self.mapping("kpis")},
                   **{(c.id, "status"): CHECK_STATUSES for c in ruleset.checks},
                   ("grade", None): grades, ("entity", "grade"): grades}
        for i, spec in enumerate(raw if isinstance(raw, list) else []):
            path = ("actions", i)
            if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
                continue
            when = self.expr(spec.get("when"), path + ("when",), attributes=True)
            text = _text(spec.get("text"))
            context = {**text_fields, **({"entity": ENTITY_FIELDS} if spec.get("scope") == "entity" else {})}
            for lang, template in text.items():
                where = self.doc.at(path + ("text",) + ((lang,) if lang else ()))
                try:
                    tree = env.parse(template)
                    refused = _template_problem(tree)
                except jinja2.TemplateSyntaxError as exc:
                    refused = f"{exc.message} (template line {exc.lineno})"
                if refused:
                    self.problem(where, "template", f"action text: {refused}")
                    continue
                for message, hint in _template_names(tree, context, allowed):
                    self.problem(where, "template", f"action text: {message}", hint)
            if when is None:
                continue
            for message, hint in _literals(when.tree, allowed):
                self.problem(when.location, "unknown-value", f"`when`: {message}", hint)
            for name in sorted(when.names - set(known)):
                self.problem(self.position(when, name), "unknown-name",
                             f"`{name}` in `when` is not a KPI, check, category or param",
                             self.did_you_mean(name, known))
            for name, attr in sorted(when.attributes):
                if name in fields and attr not in fields[name]:
                    self.problem(when.location, "unknown-field", f"`{name}` has no field `{attr}`",
                                 self.did_you_mean(attr, fields[name]) or f"fields: {', '.join(fields[name])}")
                elif name not in fields:
                    self.problem(when.location, "unknown-name",
                                 f"`{name}.{attr}`: `{name}` is not a KPI, check or category",
                                 self.did_you_mean(name, fields))
            out.append(Action(id=spec["id"], when=when, text=text, location=self.doc.at(path),
                              priority=str(spec.get("priority", "medium")),
                              owner=_text(spec.get("owner")), scope=str(spec.get("scope", "overall"))))
            if out[-1].scope == "entity" and not ruleset.by:
                self.problem(self.doc.at(path + ("scope",)), "entities",
                             f"action `{out[-1].id}` is judged per entity, but the ruleset has no `by`")
        return out


def missing_files(ruleset: Ruleset, data: Path | None = None) -> list[Problem]:
    """Source files that are not there. Without ``data``, a warning for each file not beside
    the ruleset (`run --data DIR` may supply it); with it, an error for each file in neither
    place (DIR holds a source by its file name, in any supported format, as `run` reads it)."""
    folder = Path(ruleset.file).parent
    out = []
    for source in ruleset.sources.values():
        if source.parent is not None or not source.path or (folder / source.path).exists():
            continue
        name = Path(source.path)
        if data is not None and any((data / n).is_file() for n in [name.name, *(name.stem + e for e in DATA_FORMATS)]):
            continue
        where = (data, Path(name.name)) if data is not None else (folder, name)
        present = [str(where[1].parent / f.name) for f in (where[0] / where[1].parent).iterdir() if f.is_file()] \
            if (where[0] / where[1].parent).is_dir() else []
        close = did_you_mean(str(where[1]), present)
        if data is None:
            out.append(Problem(source.location, "missing-file", f"source `{source.name}`: no file {source.path} beside the ruleset",
                               (close + " " if close else "") + "ignore this if `run --data DIR` supplies it",
                               severity="warning"))
        else:
            out.append(Problem(source.location, "missing-file",
                               f"source `{source.name}`: no file {source.path} beside the ruleset, nor {name.stem}.* in {data}",
                               close))
    return out


def summed_over_entities(ruleset: Ruleset, warn: Callable[..., Problem]) -> Iterator[Problem]:
    """A KPI that only adds up sums and counts is, on the overall scorecard, the total of
    every entity's value, while its target reads per entity: five vendors' 30 training hours
    each make 150 against a target of 40, a headline strength nobody earned."""
    if not ruleset.by:
        return
    for k in ruleset.kpis.values():
        measures = [ruleset.measures.get(n) for n in k.formula.names]
        if (not k.scored or k.target is None or k.scoring.method in PEER_METHODS or not measures
                or any(m is None or m.agg not in ("sum", "count") or m.shared for m in measures)
                or re.search(r"[/*]", k.formula.text)):
            continue
        yield warn(k.formula.location, "summed-over-entities",
                   f"KPI `{k.id}` adds up {', '.join(f'`{m.name}` ({m.agg})' for m in measures)} over every "
                   f"`{', '.join(ruleset.by)}`: the overall value is the entities' total, scored against a "
                   f"target ({k.target:g}) that reads per entity",
                   "score a mean per entity (divide by a count of the entities), or a rate")


def lint(ruleset: Ruleset, doc: Document) -> Iterator[Problem]:
    """Warnings: what is allowed but probably not meant."""
    def warn(location: Location, rule: str, message: str, hint: str = "") -> Problem:
        return Problem(location, rule, message, hint, severity="warning")

    yield from missing_files(ruleset)
    used = {n for k in ruleset.kpis.values() for n in k.formula.names}
    used |= {m.allocate for m in ruleset.measures.values() if m.allocate}
    for m in ruleset.measures.values():
        if not m.by and m.name not in used:
            yield warn(m.location, "unused-measure", f"measure `{m.name}` is used by no KPI",
                       "use it in a formula, or remove it")
    for k in ruleset.kpis.values():
        if not k.formula.names:
            yield warn(k.formula.location, "constant-kpi", f"KPI `{k.id}` has no inputs: it is a constant")
    yield from summed_over_entities(ruleset, warn)
    for check in ruleset.checks:
        for level in ("warn", "fail"):
            threshold = getattr(check, level)
            if threshold is None:
                continue
            where = doc.at(("checks", ruleset.checks.index(check), level))
            metric, op, x = threshold
            if judged := _never_or_always(threshold):
                yield warn(where, "thresholds", f"`{check.id}`: {level} `{metric} {op} {x:g}` {judged} holds: "
                           f"{'ratio is the share of rows that pass' if metric == 'ratio' else 'failed_ratio is the share that fail' if metric == 'failed_ratio' else f'{metric} counts rows'}",
                           "write a limit the data can cross")
            elif metric == "ratio" and op in (">", ">="):
                yield warn(where, "thresholds",
                           f"`{check.id}`: {level} when `ratio {op} {x:g}`, the share of rows that PASS, "
                           "is above a limit: the better the data, the more it fires",
                           f"for the failing share write `failed_ratio {op} {x:g}`")
    for c in ruleset.categories.values():
        if not any(k.category == c.id for k in ruleset.kpis.values()):
            yield warn(doc.at(("categories", c.id), key=True), "empty-category",
                       f"category `{c.id}` has no KPI", "give it a KPI or remove it")
    for a in ruleset.actions:
        if not a.when.names and not a.when.attributes:
            yield warn(a.when.location, "constant-action", f"action `{a.id}` refers to nothing: it always or never fires")
    covered = {n for a in ruleset.actions for n in a.when.names | {x for x, _ in a.when.attributes}}
    if ruleset.actions and not covered & set(RESULT_NAMES):  # an action on the total covers every KPI
        for k in ruleset.kpis.values():
            if k.weight > 0 and k.id not in covered and k.category not in covered:
                yield warn(k.location, "no-action", f"no action says what to do when `{k.id}` misses",
                           "add an action with when: \"" + k.id + ".status == 'missed'\"")
    total = doc.data.get("settings", {}).get("weight_total") if isinstance(doc.data.get("settings"), dict) else None
    if isinstance(total, (int, float)):
        weights = sum(c.weight for c in ruleset.categories.values())
        if abs(weights - total) > 1e-9:
            yield warn(doc.at(("categories",)), "weights", f"category weights sum to {weights:g}, not {total:g}",
                       "they are normalised anyway; fix them or the stated total")


def validate(doc: Document, file: Path | None = None, allow: tuple[Path, ...] = ()) -> Ruleset:
    """Check a loaded document; return the ruleset (its warnings attached) or raise
    with every problem found, errors and warnings."""
    problems = list(schema_problems(doc)) + list(_non_finite(doc))
    if not isinstance(doc.data, dict):  # a list or a text: the schema has said so, nothing more to check
        raise AssessError(problems)
    builder = _Builder(doc, allow)
    try:
        ruleset = builder.build(file or Path(doc.file))
    except (TypeError, ValueError, AttributeError, KeyError, IndexError):
        if not problems:
            raise  # on a ruleset the schema accepts, a crash is ours to fix
        raise AssessError(_unique(problems)) from None  # the schema has said what is wrong
    problems += builder.problems
    if not problems:
        ruleset.warnings = list(lint(ruleset, doc))
        return ruleset
    problems.sort(key=lambda p: (p.location.line, p.location.column))
    raise AssessError(_unique(problems))


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.location, p.message) not in seen:
            seen.add((p.location, p.message))
            out.append(p)
    return out


def load_ruleset(path: Path, allow: tuple[Path, ...] = ()) -> Ruleset:
    """Load and validate a ruleset file; its sources may lie under its own folder or
    one of the ``allow`` folders."""
    return validate(load_file(path), path, allow)
