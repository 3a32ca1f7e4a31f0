"""The ruleset schema itself: valid draft 2020-12, hover help on every key, no unknown keys."""
import json
from typing import Any, Iterator

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT

SCHEMAS = ["ruleset.schema.json", "result.schema.json"]


def load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))


def objects(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from objects(value, f"{path}/{i}")


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft_2020_12(name):
    schema = load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_ruleset_property_has_a_description():
    missing = [f"{path}/{prop}" for path, node in objects(load("ruleset.schema.json"))
               if isinstance(node.get("properties"), dict) and "/if" not in path
               for prop, spec in node["properties"].items()
               if "description" not in spec]
    assert missing == []


def test_every_ruleset_object_rejects_unknown_keys():
    open_objects = [path for path, node in objects(load("ruleset.schema.json"))
                    if node.get("type") == "object" and "properties" in node
                    and node.get("additionalProperties") is not False]
    assert open_objects == []


# ---------------------------------------------------------------- the fast path of validation

def _rulesets() -> list[Any]:
    from engine.load import load_file
    from engine.validate import _jsonable

    files = [p for p in sorted((ROOT / "rulesets").glob("*.yaml")) if not p.name.endswith(".tests.yaml")]
    files += sorted((ROOT / "tests" / "data").rglob("*.yaml"))
    return [_jsonable(load_file(p).data) for p in files]


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _replaced(doc: Any, path: tuple, value: Any, drop: bool) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        out = dict(doc)
        if drop and not rest:
            del out[head]
        else:
            out[head] = _replaced(doc[head], rest, value, drop)
        return out
    out_list = list(doc)
    if drop and not rest:
        del out_list[head]
    else:
        out_list[head] = _replaced(doc[head], rest, value, drop)
    return out_list


RULESETS = _rulesets()
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False),
                   st.sampled_from(["", "x", "bad id", "rate", "percent", "mean", "2025-01-01", "a\n"]),
                   st.just([]), st.just({}), st.just({"x": 1}), st.just(["x"]))


def test_every_shipped_ruleset_takes_the_fast_path():
    from engine.validate import conforms, ruleset_schema

    schema = ruleset_schema()
    shipped = [p for p in sorted((ROOT / "rulesets").glob("*.yaml")) if not p.name.endswith(".tests.yaml")]
    assert all(conforms(schema, schema, d) for d in RULESETS[:len(shipped)])


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_the_fast_path_accepts_only_what_jsonschema_accepts(data):
    # a ruleset of the project with one value replaced or one key dropped: whenever the
    # fast check accepts it, jsonschema finds nothing wrong
    from engine.validate import _validator, conforms, ruleset_schema

    schema = ruleset_schema()
    doc = data.draw(st.sampled_from(RULESETS))
    path = data.draw(st.sampled_from(list(_paths(doc))[1:]))
    changed = _replaced(doc, path, data.draw(VALUES), drop=data.draw(st.booleans()))
    if conforms(schema, schema, changed):
        assert list(_validator(ruleset_schema).iter_errors(changed)) == [], path


@pytest.mark.parametrize("schema, value, expected", [
    ({"type": "integer"}, 2.0, True), ({"type": "integer"}, True, False), ({"type": "integer"}, 10 ** 400, True),
    ({"type": "number"}, False, False), ({"enum": [1]}, True, False), ({"const": "a"}, "a", True),
    ({"pattern": "^[a-z]+$"}, "name\n", False), ({"pattern": "^[a-z]+$"}, "name", True),
    ({"minimum": 0}, "text", True), ({"minimum": 0}, -1, False), ({"exclusiveMinimum": 0}, 0, False),
    ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, "a", False),  # both branches: not one
    ({"if": {"const": 1}, "then": {"type": "integer"}}, 2, True),
    ({"properties": {"a": False}}, {"a": 1}, False), ({"additionalProperties": False}, {}, True),
    ({"items": {"type": "string"}, "prefixItems": [{"type": "integer"}]}, [1, "x"], True),
    ({"format": "email"}, "a@b.cn", False),  # a keyword it does not know: jsonschema decides
])
def test_the_fast_check_at_its_edges(schema, value, expected):
    from engine.validate import conforms

    assert conforms(schema, schema, value) is expected
