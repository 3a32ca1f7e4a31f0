"""The expression language, parsed and checked without touching data or Polars.

One language for KPI formulas, ``where`` filters, check expressions and action
conditions: names, literals, arithmetic, comparisons (chained too), ``and``/``or``/``not``,
``x if c else y``, ``x in (a, b)`` and calls of the documented functions. Everything
else Python would accept (attributes, subscripts, lambdas, comprehensions, f-strings,
keyword arguments, assignments) is refused here, so the compiler only ever sees this
subset. Sizes are bounded: an expression cannot be long, deep or carry huge literals.
"""
from __future__ import annotations

import ast
import operator
import unicodedata
import warnings
from typing import Callable

import simpleeval

from .errors import AssessError, Location, Problem, did_you_mean
from .functions import FUNCTIONS, RETURNS, TAKES_DATES, arity
from .model import Expression

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_NODES = 400
MAX_NUMBER = 1e18
MAX_TEXT = 1000
_FOLD = {ast.Add: simpleeval.safe_add, ast.Sub: operator.sub, ast.Mult: simpleeval.safe_mult,
         ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
         ast.Pow: simpleeval.safe_power}

_ALLOWED = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp,
            ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Tuple, ast.List,
            ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_REFUSED_OPS = (ast.MatMult, ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift,
                ast.Invert, ast.Is, ast.IsNot)
_WHY = {
    ast.Attribute: "attributes (`x.y`) are not part of the language",
    ast.Subscript: "subscripts (`x[...]`) are not part of the language",
    ast.Lambda: "lambdas are not part of the language",
    ast.JoinedStr: "f-strings are not part of the language",
    ast.NamedExpr: "assignments are not part of the language",
    ast.Dict: "dictionaries are not part of the language",
    ast.Set: "sets are not part of the language; write a tuple: x in (1, 2)",
}


def _fail(location: Location, node: ast.AST | None, message: str, hint: str = "",
          rule: str = "expression") -> AssessError:
    return AssessError(Problem(_at(location, node), rule, message, hint))


def _at(location: Location, node: ast.AST | None) -> Location:
    if node is None or not hasattr(node, "col_offset") or not location.line:
        return location
    return Location(location.file, location.line, location.column + node.col_offset)


def _folded_names(source: str, location: Location) -> None:
    """Python reads the name `ｓ` as `s` (NFKC): say so rather than guess. Text in quotes
    is data and keeps its full-width letters."""
    import io
    import tokenize  # only for text that is not ASCII: a few milliseconds off every start

    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME]
    except (tokenize.TokenError, SyntaxError):
        return  # ast.parse says what is wrong
    for token in tokens:
        folded = unicodedata.normalize("NFKC", token.string)
        if folded != token.string:
            where = Location(location.file, location.line, location.column + token.start[1]) if location.line else location
            raise AssessError(Problem(where, "expression-name", f"`{token.string}` reads as `{folded}`",
                                      f"write `{folded}`: full-width or styled letters are not names"))


def parse(text: str, location: Location, attributes: bool = False) -> Expression:
    """Parse and check ``text``; ``attributes`` admits ``name.field`` (action conditions)."""
    if not isinstance(text, str):
        text = str(text).lower() if isinstance(text, bool) else str(text)
    if len(text) > MAX_LENGTH:
        raise _fail(location, None, f"expression longer than {MAX_LENGTH} characters",
                    "split it into measures or KPIs")
    source = " ".join(text.splitlines())  # YAML folds lines; so do we
    if not source.isascii():
        _folded_names(source, location)
    try:
        with warnings.catch_warnings():  # Python's warnings about `1if x` are not ours to print
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        where = Location(location.file, location.line, location.column + (exc.offset or 1) - 1) \
            if location.line else location
        raise AssessError(Problem(where, "expression-syntax",
                                  f"cannot read `{text}`: {exc.msg}")) from None
    names: set[str] = set()
    attrs: set[tuple[str, str]] = set()
    count = 0

    def walk(node: ast.AST, depth: int) -> None:
        nonlocal count
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            raise _fail(location, node, "expression too large or too deeply nested",
                        "split it into measures or KPIs")
        if isinstance(node, ast.Attribute) and attributes:
            if not isinstance(node.value, ast.Name):
                raise _fail(location, node, "only `name.field` is allowed here")
            attrs.add((node.value.id, node.attr))
            return
        if not isinstance(node, _ALLOWED) or isinstance(node, _REFUSED_OPS):
            why = _WHY.get(type(node), f"`{type(node).__name__}` is not part of the language")
            raise _fail(location, node, why, rule="expression-forbidden")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and not abs(value) <= MAX_NUMBER:
                raise _fail(location, node, f"number too large (more than {MAX_NUMBER:g})")
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise _fail(location, node, f"text longer than {MAX_TEXT} characters")
            if not isinstance(value, (int, float, str, bool, type(None))):
                raise _fail(location, node, f"literal {value!r} is not allowed")
        if isinstance(node, ast.BinOp):
            _fold(node, location)  # arithmetic on literals is done now, with simpleeval's bounds
        if isinstance(node, ast.Name):
            names.add(node.id)
        if isinstance(node, ast.Call):
            _check_call(node, location)
            for arg in node.args:
                walk(arg, depth + 1)
            return
        for child in ast.iter_child_nodes(node):
            walk(child, depth + 1)

    walk(tree, 0)
    return Expression(text, tree.body, location, frozenset(names), frozenset(attrs))


def _fold(node: ast.expr, location: Location) -> float | None:
    """The value of an arithmetic of number literals, or None when it names anything else;
    a result too large to hold (``9**9**9``, ``2.0 ** 10000``) is refused here, at validation."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, (int, float)) and not isinstance(node.value, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _fold(node.operand, location)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if not isinstance(node, ast.BinOp) or type(node.op) not in _FOLD:
        return None
    left, right = _fold(node.left, location), _fold(node.right, location)
    if left is None or right is None:
        return None
    try:
        value = _FOLD[type(node.op)](left, right)
    except ZeroDivisionError:
        return None  # a null at run time, like any division by zero
    except (ArithmeticError, simpleeval.InvalidExpression, ValueError):
        raise _fail(location, node, "number too large", "write the number, not its computation") from None
    if not abs(value) <= MAX_NUMBER:
        raise _fail(location, node, f"number too large (more than {MAX_NUMBER:g})")
    return value


def _check_call(node: ast.Call, location: Location) -> None:
    if not isinstance(node.func, ast.Name):
        raise _fail(location, node, "only the documented functions can be called",
                    rule="expression-forbidden")
    name = node.func.id
    if node.keywords:
        raise _fail(location, node, f"`{name}` takes its arguments by position, not by name")
    if any(isinstance(a, ast.Starred) for a in node.args):
        raise _fail(location, node, "`*` arguments are not part of the language",
                    rule="expression-forbidden")
    if name not in FUNCTIONS:
        raise _fail(location, node, f"unknown function `{name}`",
                    did_you_mean(name, FUNCTIONS) or "see `assess functions`",
                    rule="unknown-function")
    low, high = arity(name)
    n = len(node.args)
    if n < low or (high is not None and n > high):
        want = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
        raise _fail(location, node, f"`{name}` takes {want} arguments, not {n}",
                    rule="function-arguments")


def position(expression: Expression, name: str) -> Location:
    """Where ``name`` first appears in the expression, for pointing at it."""
    for node in ast.walk(expression.tree):
        if isinstance(node, ast.Name) and node.id == name:
            return _at(expression.location, node)
    return expression.location


def _kind_of_constant(value: object) -> str | None:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "text" if isinstance(value, str) else None


def typed(expression: Expression, kind_of: Callable[[str], str | None],
          what: Callable[[str], str] = lambda name: f"`{name}`") -> tuple[str | None, list[Problem]]:
    """The kind of the expression's value, and the uses of a value of the wrong kind that
    would fail at run time: text in arithmetic, a date function on a number or a text. ``kind_of`` gives each name's kind (number,
    date, text, bool) where it is known, None where not; ``what`` says what a name is."""
    problems: list[Problem] = []

    def said(node: ast.AST) -> str:
        return what(node.id) if isinstance(node, ast.Name) else f"`{ast.unparse(node)}`"

    def kind(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant):
            return _kind_of_constant(node.value)
        if isinstance(node, ast.Name):
            return kind_of(node.id)
        if isinstance(node, ast.BinOp):
            left, right = kind(node.left), kind(node.right)
            for side, k in ((node.left, left), (node.right, right)):
                if k == "text" and isinstance(side, ast.Constant):  # two text columns may join
                    problems.append(Problem(_at(expression.location, side), "expression-type",
                                            f"{said(side)} is text: text can be compared, not used in arithmetic"))
                    return None
            return "number" if left == right == "number" else None
        if isinstance(node, ast.UnaryOp):
            inner = kind(node.operand)
            return "bool" if isinstance(node.op, ast.Not) else inner
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            for child in ast.iter_child_nodes(node):
                kind(child)
            return "bool"
        if isinstance(node, ast.IfExp):
            kind(node.test)
            body, orelse = kind(node.body), kind(node.orelse)
            return body if body == orelse else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            args = [kind(a) for a in node.args]
            for i in TAKES_DATES.get(name, ()):
                if i < len(args) and args[i] in ("number", "text", "bool", "duration"):
                    problems.append(Problem(
                        _at(expression.location, node.args[i]), "expression-type",
                        f"`{name}` takes a date, but {said(node.args[i])} is {_a(args[i])}",
                        "give it a date or datetime column, or a date param"))
            result = RETURNS.get(name)
            return next((a for a in args if a), None) if result == "same" else result
        for child in ast.iter_child_nodes(node):
            kind(child)
        return None

    return kind(expression.tree), problems


def _a(kind: str | None) -> str:
    return {"number": "a number", "text": "text", "bool": "true/false", "duration": "a duration"}.get(
        kind or "", "of another kind")
