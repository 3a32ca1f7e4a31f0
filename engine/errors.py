"""Problems found in a ruleset or its data, each with the place it was found."""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from html import escape  # not xml.sax.saxutils: it imports urllib and http (20 ms a start)
from typing import Iterable

from .safe import printable


@dataclass(frozen=True)
class Location:
    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file


@dataclass(frozen=True)
class Problem:
    """One thing wrong, located: what rule it breaks, and how to fix it where we can tell."""

    location: Location
    rule: str
    message: str
    hint: str = ""
    severity: str = "error"  # error | warning
    excerpt: str = ""  # the offending line and a caret under the spot, for syntax errors

    def __str__(self) -> str:
        """One line (and the excerpt's), printable: a value quoted from the data or the
        ruleset shows its control characters escaped, never sends them to a terminal."""
        hint = f" ({self.hint})" if self.hint else ""
        excerpt = "".join(f"\n{printable(line)}" for line in self.excerpt.split("\n")) if self.excerpt else ""
        return printable(f"{self.location}: {self.severity} [{self.rule}] {self.message}{hint}") + excerpt


class AssessError(Exception):
    """Raised when a ruleset or its data cannot be used; carries every problem found."""

    def __init__(self, problems: Iterable[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


MAX_NAME = 100  # longer names get no suggestion: comparing two is quadratic in their length
MAX_CHOICES = 1_000  # compared with each name, at most: a suggestion costs milliseconds, not seconds


def closest(name: str, choices: Iterable[str]) -> str | None:
    if len(name) > MAX_NAME:
        return None
    close = difflib.get_close_matches(name, [c for c, _ in zip(choices, range(MAX_CHOICES))], n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = closest(name, choices)
    return f"did you mean `{close}`?" if close else ""


@dataclass
class Suggestions:
    """:func:`did_you_mean` with a budget: a ruleset with thousands of unknown names among
    thousands of known ones gets the first suggestions, in seconds, not all in minutes."""

    left: int = 20

    def __call__(self, name: str, choices: Iterable[str]) -> str:
        self.left -= 1
        return did_you_mean(name, choices) if self.left >= 0 else ""


def render_problems(found: dict[str, list[Problem]], fmt: str) -> str:
    """Problems of several files as text, json, github annotations, junit or sarif."""
    problems = [p for ps in found.values() for p in ps]
    if fmt == "text":
        return "".join(f"{p}\n" for p in problems)
    if fmt == "github":  # workflow commands: annotations on the pull request's files
        def clean(text: str) -> str:
            return printable(text, lines=True).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

        def prop(text: str) -> str:  # a property value also ends at , and :
            return clean(text).replace(":", "%3A").replace(",", "%2C")
        return "".join(
            f"::{p.severity} file={prop(p.location.file)},line={p.location.line or 1},"
            f"col={p.location.column or 1},title={prop(p.rule)}::{clean(p.message + (f' ({p.hint})' if p.hint else ''))}\n"
            for p in problems)
    if fmt == "json":
        return json.dumps([{"file": p.location.file, "line": p.location.line, "column": p.location.column,
                            "severity": p.severity, "rule": p.rule, "message": p.message, "hint": p.hint}
                           for p in problems], ensure_ascii=False, indent=2) + "\n"
    if fmt == "sarif":
        rules = sorted({p.rule for p in problems})
        return json.dumps({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "assess", "informationUri": "https://example.invalid/assess",
                                          "rules": [{"id": r} for r in rules]}},
                      "results": [{"ruleId": p.rule, "level": "error" if p.severity == "error" else "warning",
                                   "message": {"text": p.message + (f" ({p.hint})" if p.hint else "")},
                                   "locations": [{"physicalLocation": {
                                       "artifactLocation": {"uri": p.location.file},
                                       "region": {"startLine": p.location.line or 1,
                                                  "startColumn": p.location.column or 1}}}]}
                                  for p in problems]}]}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "junit":  # one test case per file, its errors as the failure
        cases = []
        for file, ps in found.items():
            errors = [p for p in ps if p.severity == "error"]
            body = escape("\n".join(map(str, ps)), quote=False)
            inner = f'<failure message="{len(errors)} error(s)">{body}</failure>' if errors else \
                (f"<system-out>{body}</system-out>" if ps else "")
            cases.append(f'<testcase classname="assess.validate" name="{escape(printable(file))}">{inner}</testcase>')
        failures = sum(any(p.severity == "error" for p in ps) for ps in found.values())
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<testsuite name="assess validate" tests="{len(found)}" failures="{failures}">\n'
                + "\n".join(cases) + "\n</testsuite>\n")
    raise ValueError(f"unknown format {fmt}")


def first_line(exc: BaseException) -> str:
    """An engine's error without what follows its first line (Polars adds its query plan)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
