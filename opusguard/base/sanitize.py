"""Text from scanned code, file names and user files, made safe for each output.

Every human-readable output (text, github, markdown, html, policy show, the
diff's headers, error and warning lines) passes such text through here; json
and sarif keep the exact data, only made encodable (`json_safe`).

- `printable`: control characters (C0, DEL, C1), bidirectional overrides and
  the surrogates of a non-UTF-8 file name are shown escaped (`\\x1b`,
  `\\u202e`, `\\xff`), so nothing read from a repository can move the cursor,
  retitle the terminal, open a hyperlink or reorder what a reviewer reads.
- `rich_text`: a rich `Text` of printable text; rich never reads markup from it.
- `html_text`, `html_href`: escaped text, and links that stay relative paths.
- `markdown_cell`: a table cell whose pipes, backticks and markup stay literal.
- `github_data`, `github_property`: workflow-command values.

Plain text output does not import rich: only `rich_text` does.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.text import Text

# C0 and C1 controls and DEL; the bidi embeddings, overrides and isolates (the
# "Trojan Source" characters), line/paragraph separators, the BOM; surrogates (a
# non-UTF-8 file name decoded with surrogateescape, or a lone one in a literal).
UNSAFE_CHARACTERS = "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
SURROGATES = "[\ud800-\udfff]"


@lru_cache(maxsize=None)
def _pattern(characters: str) -> re.Pattern:
    # Compiled on first need: nearly every run prints only printable ASCII.
    return re.compile(characters)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` on one line with every control, bidi and surrogate character escaped."""
    text = str(text)
    if text.isascii() and text.isprintable():  # the common case, without the regex
        return text
    return _pattern(UNSAFE_CHARACTERS).sub(_escaped, text)


def printable_lines(text: str) -> str:
    """Multi-line text with each line made printable (the line breaks, LF or CRLF, are kept)."""
    return "\n".join(
        printable(line[:-1]) + "\r" if line.endswith("\r") else printable(line) for line in text.split("\n")
    )


def valid_unicode(text: str) -> str:
    """`text` encodable as UTF-8: a surrogate (a byte of a non-UTF-8 file name) becomes `\\xNN`."""
    if text.isascii():
        return text
    return _pattern(SURROGATES).sub(_escaped, text)


def json_safe(value: object) -> object:
    """A JSON document (dicts, lists, strings, numbers) with every string `valid_unicode`."""
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def rich_text(text: object, style: str = "") -> Text:
    """A rich Text of printable `text`: what it says is shown, never read as markup."""
    from rich.text import Text

    return Text(printable(text), style=style)


def html_text(text: object) -> str:
    """Text for an HTML element or a quoted attribute."""
    from html import escape

    return escape(printable(text), quote=True)


def uri_path(path: str) -> str:
    """A relative URI reference to `path`: its bytes percent-encoded, '/' kept.

    `:`, `?`, `#` and `%` are encoded too, so `javascript:alert(1).py` stays a file
    name and no scheme can start the reference; a non-UTF-8 name keeps its bytes."""
    from urllib.parse import quote

    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no file-name byte
        raw = valid_unicode(path).encode("utf-8")
    encoded = quote(raw, safe="/")
    return "." + encoded if encoded.startswith("//") else encoded  # never a network-path reference


def html_href(path: str, line: int | None = None, link_base: str = "") -> str:
    """An href attribute value: `link_base` (the user's own option, checked by the
    CLI) then `path` as a relative URI reference, then `#L<line>`."""
    from html import escape

    href = link_base + uri_path(path) + (f"#L{line}" if line is not None else "")
    return escape(href, quote=True)


def markdown_cell(text: object) -> str:
    """Table-cell text: pipes escaped, no line breaks, markup characters kept literal."""
    value = printable(str(text).replace("\n", " ")).replace("\\", "\\\\").replace("|", "\\|")
    for char in "`*_<>[]":
        value = value.replace(char, "\\" + char)
    return value


def github_data(text: object) -> str:
    """A workflow command's message: '%', CR and LF are the command syntax's own escapes."""
    text = str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return printable(text)


def github_property(text: object) -> str:
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def use_color(out: TextIO) -> bool:
    """Whether to colour what goes to `out`: a terminal, and NO_COLOR not set."""
    return out.isatty() and not os.environ.get("NO_COLOR")
