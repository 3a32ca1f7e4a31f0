"""Text from data and rulesets made harmless where it lands: a terminal, Markdown, XML,
a spreadsheet. Every output goes through one of these at its boundary, so a vendor name
cannot retitle the terminal, inject a link, break the JUnit XML or become a formula."""
from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a reader
# sees ("Trojan Source"); tab and newline are handled by each caller
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]")
_BREAKS = re.compile("[\t\n]")


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: Any, lines: bool = False) -> str:
    """``text`` with every control character shown as its escape (``\\x1b``), never
    sent; tab and newline too unless ``lines`` (text meant to span lines)."""
    text = _CONTROL.sub(_visible, str(text))
    return text if lines else _BREAKS.sub(_visible, text)


def terminal(text: Any) -> str:
    """Text for a Rich console: printable, and its ``[markup]`` escaped to show as written."""
    from rich.markup import escape

    return escape(printable(text))


# `<` and `&` open raw HTML and entities; `[` `]` links and images; `|` ends a table cell;
# a backtick opens a code span and `*` emphasis that would swallow the text after it.
# A lone `>` opens nothing inside a line, so `a -> b` stays as written.
_MARKDOWN = {"&": "&amp;", "<": "&lt;", "\\": "\\\\", "|": "\\|", "[": "\\[", "]": "\\]",
             "`": "\\`", "*": "\\*", "\n": " ", "\r": " "}
_MARKDOWN_RE = re.compile("[&<\\\\|\\[\\]`*\n\r]")


def markdown(text: Any, spans: bool = False) -> Markup:
    """Text for Markdown: raw HTML, links, table pipes, code spans and emphasis shown as
    written, not rendered; one line. ``spans``: keep the backticks of a line the program
    wrote around ids. Marked safe, so the template does not escape it twice."""
    if isinstance(text, Markup):
        return text
    return Markup(_MARKDOWN_RE.sub(lambda m: m.group() if spans and m.group() == "`" else _MARKDOWN[m.group()],
                                   printable(text, lines=True)))


def finalize_markdown(value: Any) -> Any:
    """Every ``{{ }}`` of the Markdown template: escaped unless already made safe (a
    macro's table, a filter's cell)."""
    if value is None or isinstance(value, (Markup, int, float)):
        return value
    return markdown(value)


def finalize_xml(value: Any) -> Any:
    """Every ``{{ }}`` of the HTML and XML templates (then escaped by autoescape): control
    characters, which XML 1.0 forbids and a CI server rejects the whole report for, shown."""
    return value if value is None or isinstance(value, (Markup, int, float)) else printable(value, lines=True)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral(text: str) -> str:
    """A CSV value a spreadsheet will not run (OWASP, CSV injection): one starting with
    = + - @ tab or carriage return gets a leading apostrophe."""
    return "'" + text if text.startswith(FORMULA_START) else text
