"""Stage 1, load: YAML text -> located plain data, refusing what is unsafe or ambiguous."""
from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import AssessError, Location
from engine.load import MAX_BYTES, MAX_NODES, load_text

NESTED = """\
top:
  name: crm
  items:
    - plain
    - 'quoted'
    - {k: "v"}
  count: 3
"""


def problems(text: str) -> list:
    with pytest.raises(AssessError) as info:
        load_text(text, "r.yaml")
    return info.value.problems


def only(text: str):
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- values and locations

def test_values_of_nested_keys_and_list_items():
    doc = load_text(NESTED, "r.yaml")
    assert doc.file == "r.yaml"
    assert doc.data == {"top": {"name": "crm", "items": ["plain", "quoted", {"k": "v"}],
                                "count": 3}}


@pytest.mark.parametrize("path, line, column", [
    ((), 1, 1),                       # the root mapping starts at the first key
    (("top", "name"), 2, 9),          # "  name: crm": c of crm is column 9
    (("top", "items", 0), 4, 7),      # "    - plain": p is column 7
    (("top", "items", 2), 6, 7),      # the flow mapping's "{" is column 7
    (("top", "items", 2, "k"), 6, 12),  # '{k: "v"}' from col 7: { k : sp " -> quote at 11, v at 12
    (("top", "count"), 7, 10),        # "  count: 3": 3 is column 10
])
def test_value_locations(path, line, column):
    doc = load_text(NESTED, "r.yaml")
    assert doc.values[path] == Location("r.yaml", line, column)


@pytest.mark.parametrize("path, line, column", [
    (("top",), 1, 1),
    (("top", "name"), 2, 3),
    (("top", "items"), 3, 3),
    (("top", "items", 2, "k"), 6, 8),  # "    - {k": { at 7, k at 8
    (("top", "count"), 7, 3),
])
def test_key_locations(path, line, column):
    doc = load_text(NESTED, "r.yaml")
    assert doc.keys[path] == Location("r.yaml", line, column)


def test_quoted_scalar_location_points_one_column_into_the_quote():
    doc = load_text("a: 'x + y'\nb: \"z\"\nc: plain\n", "r.yaml")
    # "a: 'x + y'": the quote is column 4, so the text starts at column 5
    assert doc.values[("a",)] == Location("r.yaml", 1, 5)
    # 'b: "z"': the quote is column 4, z is column 5
    assert doc.values[("b",)] == Location("r.yaml", 2, 5)
    # a plain scalar is not shifted: p is column 4
    assert doc.values[("c",)] == Location("r.yaml", 3, 4)


def test_at_falls_back_to_the_nearest_ancestor():
    doc = load_text(NESTED, "r.yaml")
    assert doc.at(("top", "items", 1)) == Location("r.yaml", 5, 8)  # '- 'quoted'': q is col 8
    # no item 9: the list itself, whose first item starts at line 4 column 5 ("- ")
    assert doc.at(("top", "items", 9, "x")) == doc.values[("top", "items")]
    assert doc.values[("top", "items")] == Location("r.yaml", 4, 5)
    assert doc.at(("nowhere", "at", "all")) == Location("r.yaml", 1, 1)
    assert doc.at(("top", "items", 2, "k"), key=True) == Location("r.yaml", 6, 8)
    # list items have no key: the nearest key is `items`, line 3 column 3
    assert doc.at(("top", "items", 0), key=True) == Location("r.yaml", 3, 3)


def test_keys_keep_their_text_and_values_their_yaml_type():
    doc = load_text("on: 1\n2025-01-01: 2\nd: 2025-01-01\nn: null\nf: 0.5\n", "r.yaml")
    # YAML 1.1 would read `on` as True and the date key as a date: keys stay text
    assert doc.data == {"on": 1, "2025-01-01": 2, "d": dt.date(2025, 1, 1), "n": None,
                        "f": 0.5}


def test_merge_key_applies_the_anchor():
    doc = load_text("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  z: 3\n", "r.yaml")
    assert doc.data["m"] == {"x": 1, "y": 2, "z": 3}


def test_merge_key_can_be_overridden():
    doc = load_text("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", "r.yaml")
    assert doc.data["m"] == {"x": 1, "y": 3}  # the explicit key wins, and is no duplicate
    assert doc.keys[("m", "y")] == Location("r.yaml", 4, 3)
    assert doc.values[("m", "y")] == Location("r.yaml", 4, 6)


def test_a_key_repeated_after_a_merge_is_still_a_duplicate():
    p = only("base: &b {x: 1}\nm:\n  <<: *b\n  y: 3\n  y: 4\n")
    assert (p.rule, p.location.line) == ("duplicate-key", 5)


# ---------------------------------------------------------------- refusals

def test_duplicate_key_is_an_error_at_the_second_key():
    p = only("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n")
    assert p.rule == "duplicate-key"
    assert p.location == Location("r.yaml", 5, 3)  # the second `c`
    assert "line 3" in p.hint  # where the first one is


def test_every_duplicate_key_is_reported():
    found = problems("a: 1\na: 2\nb: 1\nb: 2\n")
    assert [(p.rule, p.location.line) for p in found] == [("duplicate-key", 2),
                                                          ("duplicate-key", 4)]


@pytest.mark.parametrize("text", [
    "a: !!python/object:os.system x\n",
    "a: !!python/name:os.system ''\n",
    "a: !custom 1\n",
])
def test_python_and_custom_tags_on_scalars_are_refused(text):
    p = only(text)
    assert p.rule == "yaml-tag"
    assert p.location == Location("r.yaml", 1, 4)  # the tag starts after "a: "


@pytest.mark.parametrize("text", [
    "a: !!python/object:os.system {b: 1}\n",
    "a: !!python/object/apply:os.system [ls]\n",
    "!!python/object/new:builtins.dict {a: 1}\n",
])
def test_python_tags_on_collections_are_refused(text):
    assert only(text).rule == "yaml-tag"


def test_billion_laughs_is_refused_quickly():
    # 10 levels of 9 aliases each would expand to 9**10 (about 3.5 billion) nodes
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    p = only("\n".join(lines) + "\n")
    assert p.rule == "yaml-too-large"  # the node budget stopped it: nothing was expanded
    assert f"more than {MAX_NODES} nodes" in p.message


def test_oversized_text_is_refused_before_parsing():
    p = only("#" * (MAX_BYTES + 1))
    assert p.rule == "yaml-too-large"


@pytest.mark.parametrize("text, line, column", [
    ("a: b: c\n", 1, 5),               # the second ":" is column 5
    ("a:\n  b: 1\n c: 2\n", 3, 2),     # c is indented by one: column 2 of line 3
    ("a: [1, 2\n", 2, 1),              # the stream ends before "]"
])
def test_yaml_syntax_error_is_located(text, line, column):
    p = only(text)
    assert p.rule == "yaml-syntax"
    assert (p.location.file, p.location.line, p.location.column) == ("r.yaml", line, column)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_document(text):
    p = only(text)
    assert p.rule == "yaml-empty"
    assert p.location == Location("r.yaml", 1, 1)


def test_complex_key_is_refused():
    assert only("[a, b]: 1\n").rule == "yaml-key"


def test_numbers_with_an_exponent_are_numbers():
    # YAML 1.1 (PyYAML) wants a dot in 1.0e9 and reads 1e9 as text; users mean a number
    data = load_text("a: 1e9\nb: 2.5E-3\nc: '1e9'\nd: 1.0e9\ne: 1e\nf: -3e+2\ng: .5e1\n").data
    assert data == {"a": 1e9, "b": 0.0025, "c": "1e9", "d": 1e9, "e": "1e", "f": -300.0, "g": 5.0}


def test_syntax_errors_keep_the_clearer_message_of_the_python_parser():
    with pytest.raises(AssessError) as caught:
        load_text("a: [1, 2\n", "r.yaml")
    assert "expected ',' or ']'" in str(caught.value)
