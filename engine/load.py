"""Stage 1, load: YAML text -> plain data, every node keeping its file:line:column.

Safe by construction: only YAML's plain types are built (``yaml.SafeLoader``), duplicate
keys are errors (PyYAML would silently keep the last one), and aliases are expanded under
a node budget so a "billion laughs" document is refused instead of eating the memory.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import AssessError, Location, Problem

Path_ = tuple[str | int, ...]
MAX_NODES = 100_000
MAX_DEPTH = 100  # nesting: a ruleset needs about 8; Python's recursion would give out near 1,000
MAX_BYTES = 2_000_000
PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
STR = "tag:yaml.org,2002:str"
EXPONENT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


@dataclass
class Document:
    """A loaded YAML file: its data and where every value (and every mapping key) stands."""

    file: str
    data: Any
    values: dict[Path_, Location] = field(default_factory=dict)
    keys: dict[Path_, Location] = field(default_factory=dict)
    text: str = ""
    spans: dict[Path_, tuple[int, int]] = field(default_factory=dict)  # scalars over several lines

    def location_of(self, index: int) -> Location:
        """The line and column of a character of the file."""
        line_start = self.text.rfind("\n", 0, index) + 1
        return Location(self.file, self.text.count("\n", 0, index) + 1, index - line_start + 1)

    def at(self, path: Path_, key: bool = False) -> Location:
        """The location of ``path``, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        path = tuple(path)
        while path:
            if path in table:
                return table[path]
            path = path[:-1]
        return self.values.get((), Location(self.file, 1, 1))


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, doc: Document):
        self.doc = doc
        self.loader = yaml.SafeLoader("")
        self.budget = MAX_NODES
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: Path_, open_: frozenset[int] = frozenset()) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise AssessError(Problem(_loc(self.doc.file, node), "yaml-too-large",
                                      f"the document expands to more than {MAX_NODES} nodes",
                                      "remove recursive or repeated aliases"))
        if id(node) in open_:  # a: &a [*a]
            raise AssessError(Problem(_loc(self.doc.file, node), "yaml-alias",
                                      "an alias refers to the value that holds it, so it never ends",
                                      "refer to another anchor, or write the value out"))
        if len(path) > MAX_DEPTH:
            raise AssessError(_too_deep(_loc(self.doc.file, node)))
        open_ = open_ | {id(node)} if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) else open_
        where = _loc(self.doc.file, node)
        if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
            # point into the text, so an expression's column offsets land on the character
            where = Location(where.file, where.line, where.column + 1)
        self.doc.values[path] = where
        if node.tag not in PLAIN_TAGS and not isinstance(node, yaml.ScalarNode):
            raise AssessError(Problem(where, "yaml-tag", f"tag {node.tag} is not allowed",
                                      "only plain YAML values are accepted"))
        if isinstance(node, yaml.ScalarNode) and node.start_mark.line != node.end_mark.line:
            quoted = node.style in ("'", '"')  # the span holds the text, not its quotes
            self.doc.spans[path] = (node.start_mark.index + quoted, node.end_mark.index - quoted)
        if isinstance(node, yaml.MappingNode):
            own = sum(k.tag != "tag:yaml.org,2002:merge" for k, _ in node.value)
            try:
                self.loader.flatten_mapping(node)  # applies YAML merge keys (<<)
            except yaml.MarkedYAMLError as exc:  # `<<: 1`: a merge of something not a mapping
                mark = exc.problem_mark or node.start_mark
                raise AssessError(Problem(Location(self.doc.file, mark.line + 1, mark.column + 1), "yaml-merge",
                                          str(exc.problem), "merge a mapping: <<: *anchor")) from None
            merged = len(node.value) - own  # merged pairs come first; explicit keys override them
            out: dict[str, Any] = {}
            for i, (key_node, value_node) in enumerate(node.value):
                # the key's own text: YAML 1.1 would read `on:` as True and `2025-01-01:` as a date
                key = self.key(key_node)
                if key in out and i >= merged and path + (key,) not in self.doc.keys:
                    out.pop(key)  # an explicit key overriding a merged one
                if key in out and i >= merged:
                    first = self.doc.keys[path + (key,)]
                    self.problems.append(Problem(
                        _loc(self.doc.file, key_node), "duplicate-key",
                        f"key `{key}` appears twice in one mapping",
                        f"the first is at line {first.line}; keep one"))
                    continue
                if i >= merged:
                    self.doc.keys[path + (key,)] = _loc(self.doc.file, key_node)
                out[key] = self.build(value_node, path + (key,), open_)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), open_) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def key(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise AssessError(Problem(_loc(self.doc.file, node), "yaml-key",
                                      "a mapping key must be a plain value"))
        return str(node.value)

    def scalar(self, node: yaml.Node) -> Any:
        if node.tag == STR and not node.style and EXPONENT.fullmatch(node.value):
            return float(node.value)  # YAML 1.1 reads 1e9 as text; YAML 1.2 and users, as a number
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            raise AssessError(Problem(_loc(self.doc.file, node), "yaml-tag",
                                      f"tag {node.tag} is not allowed",
                                      "only plain YAML values are accepted")) from None


# PyYAML's words for the usual slips, and what they mean to someone editing a ruleset
PLAIN = {
    "expected <block end>": ("the indentation of this line does not match the block above it",
                             "indent it exactly as the keys it belongs with, using spaces"),
    "cannot start any token": ("a tab: YAML indents with spaces only", "replace the tab with spaces"),
    "mapping values are not allowed here": (
        "a second `key:` on this line, or a value holding `: ` that is not quoted",
        "quote the value (\"a: b\"), or indent this line as the keys it belongs with"),
    "could not find expected ':'": ("a line that is neither `key: value` nor a list item",
                                    "add the `:` after the key, or close the quote opened before"),
}


def _caret(text: str, mark: yaml.Mark) -> str:
    """The line the mark is on, and a caret under its column."""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    number = f"{mark.line + 1} | "
    shown = line.replace("\t", "→")  # a tab must be seen to be fixed
    return f"    {number}{shown}\n    {' ' * len(number)}{' ' * mark.column}^"


def _too_deep(where: Location) -> Problem:
    return Problem(where, "yaml-too-deep", f"values are nested more than {MAX_DEPTH} deep",
                   "a ruleset needs a few levels; flatten the structure")


def _deepest(text: str, file: str) -> Location:
    """Where the nesting first goes past MAX_DEPTH, found from the parser's events (a
    loop, not a recursion like composing)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        if depth > MAX_DEPTH:
            return _loc(file, event)
    return Location(file, 1, 1)


def _compose(text: str) -> yaml.Node | None:
    fast = getattr(yaml, "CSafeLoader", None)  # libyaml, when PyYAML was built with it
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass  # parsed again below: the pure-Python parser words its errors better
    return yaml.compose(text, Loader=yaml.SafeLoader)


def load_text(text: str, file: str = "<string>") -> Document:
    """Parse YAML text into a located :class:`Document`; raise :class:`AssessError`."""
    doc = Document(file, None, text=text)
    if len(text) > MAX_BYTES:
        raise AssessError(Problem(Location(file), "yaml-too-large",
                                  f"the file is larger than {MAX_BYTES} bytes"))
    try:
        root = _compose(text)
    except RecursionError:
        raise AssessError(_too_deep(_deepest(text, file))) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raw = str(exc.problem or exc)
        reading, fix = next(((r, f) for key, (r, f) in PLAIN.items() if key in raw), ("", ""))
        raise AssessError(Problem(where, "yaml-syntax", f"{reading} (YAML says: {raw})" if reading else raw,
                                  fix, excerpt=_caret(text, mark) if mark else "")) from None
    except yaml.YAMLError as exc:
        raise AssessError(Problem(Location(file), "yaml-syntax", str(exc))) from None
    if root is None:
        raise AssessError(Problem(Location(file, 1, 1), "yaml-empty", "the file is empty"))
    builder = _Builder(doc)
    doc.data = builder.build(root, ())
    if builder.problems:
        raise AssessError(builder.problems)
    return doc


def load_file(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AssessError(Problem(Location(str(path)), "file", "no such file")) from None
    except UnicodeDecodeError as exc:
        raise AssessError(Problem(Location(str(path)), "encoding",
                                  f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                  "save the ruleset as UTF-8")) from None
    except OSError as exc:
        raise AssessError(Problem(Location(str(path)), "file", exc.strerror or str(exc))) from None
    return load_text(text, str(path))
