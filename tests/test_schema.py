"""The ruleset schema itself: valid draft 2020-12, hover help on every key, no unknown keys."""
import json
from typing import Any, Iterator

import jsonschema
import pytest

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
