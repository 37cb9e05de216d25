"""MkDocs hook: tidy the Markdown that mkdocs-click generates from the commands' help, before it becomes HTML.

- A placeholder in a help text, such as `<run-dir>/<view>.png`, would be read by Markdown as an HTML tag and vanish
  from the page; outside code blocks and inline code, every `<name>` that is not an HTML element is escaped.
- Click 8.3 and later give an option without a default the default `Sentinel.UNSET`, which mkdocs-click 0.9.0's
  table style prints as it is; such a cell is left empty.

Only Markdown is touched, after mkdocs-click's preprocessor has run and before the HTML block preprocessor; HTML
comments (the results-table markers) and real HTML elements are left alone.
"""

from __future__ import annotations

import re

from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

# Elements a page may really use; any other `<name>` is a placeholder.
HTML_ELEMENTS = {
    "a", "abbr", "b", "br", "code", "details", "div", "em", "figcaption", "figure", "i", "img", "kbd", "li", "ol",
    "p", "pre", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "u",
    "ul",
}  # fmt: skip
PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9_.-]*)>")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
UNSET_CELL = "| `Sentinel.UNSET` |"


def escape_placeholders(text: str) -> str:
    def escape(match: re.Match) -> str:
        name = match.group(1)
        return match.group(0) if name.lower() in HTML_ELEMENTS else f"&lt;{name}&gt;"

    pieces, last = [], 0
    for code in INLINE_CODE.finditer(text):  # inline code shows `<name>` as it is already
        pieces.append(PLACEHOLDER.sub(escape, text[last : code.start()]))
        pieces.append(code.group(0))
        last = code.end()
    pieces.append(PLACEHOLDER.sub(escape, text[last:]))
    return "".join(pieces)


class TidyCommandHelp(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        tidied, fence = [], None
        for line in lines:
            stripped = line.lstrip()
            if fence is None and stripped.startswith(("```", "~~~")):
                fence = stripped[:3]
            elif fence is not None and stripped.startswith(fence):
                fence = None
            elif fence is None:
                line = escape_placeholders(line.replace(UNSET_CELL, "| |"))
            tidied.append(line)
        return tidied


class TidyCommandHelpExtension(Extension):
    def extendMarkdown(self, md) -> None:
        # After mkdocs-click (priority 141), before the HTML block preprocessor (20).
        md.preprocessors.register(TidyCommandHelp(md), "tidy_command_help", 100)


def on_config(config, **kwargs):
    config.markdown_extensions.append(TidyCommandHelpExtension())
    return config
