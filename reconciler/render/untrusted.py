"""Text we did not write (a server's error message, a label key, a manifest name) made inert for where it is shown.

A plan quotes strings from the APIs and from manifests. In a pull-request comment such a string must read as the
literal text it is: never raw HTML, a closed `<details>`, a heading, a link, an `@` ping or the end of a code
fence. On a terminal it must never move the cursor, recolour, retitle, hyperlink (OSC 8) or reorder (bidi
overrides) what follows. Every renderer passes such strings through one of these functions, once, at the point
where it places them. Pure: no rich, no I/O.

- `for_markdown(text)`: inline GitHub-Flavored Markdown (a paragraph, a list item, a table cell).
- `in_code(text)`: a code span; `in_code(text, table=True)` inside a table cell.
- `fence(lines, info)`: a fenced code block that no line of `lines` can close.
- `for_html(text)`: inside the raw HTML we write ourselves (`<summary>…</summary>`).
- `for_terminal(text)`: terminal output and error lines.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

# ESC-introduced sequences (ECMA-48): CSI (colours, cursor moves), OSC (titles, OSC 8 hyperlinks) ended by BEL or
# ST, DCS/SOS/PM/APC strings ended by ST, then any other two-character escape; and their 8-bit (C1) forms.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, to BEL or ST (or to the end: an unterminated one)
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC
    r"|[\x90\x98\x9e\x9f][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"  # nF and Fp/Fe/Fs escapes (ESC 7, ESC c, ESC ( B ...), or a lone ESC
)
# Bidirectional embeddings, overrides, isolates and marks: they reorder what a reader sees (CVE-2021-42574).
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROLS = {c: None for c in (*range(0x20), *range(0x7F, 0xA0), *map(ord, _BIDI))}
_KEEP_LINES = {**_CONTROLS, 0x09: "\t", 0x0A: "\n"}
_ONE_LINE = {**_CONTROLS, 0x09: " "}
_LINE_BREAK = re.compile(r"\s*(?:\r\n|\r|\n|\u2028|\u2029)\s*")

# Markdown: characters that start inline constructs anywhere (code, emphasis, strikethrough, links, images,
# tables, GitHub math) are backslash-escaped; those HTML would read are entities.
_MARKDOWN_INLINE = {**{c: "\\" + c for c in "\\`*_[]|~$"}, "<": "&lt;", ">": "&gt;", "&": "&amp;"}
_MARKDOWN_ESCAPES = str.maketrans(_MARKDOWN_INLINE)
# What only means something at the start of a line (headings, lists, quotes, breaks, setext underlines).
_LINE_START = re.compile(r"^(?:[#+\-=]|\d+(?=[.)]))")
# `@` is followed by a zero-width space (the entity: the form Renovate and Dependabot use), so that GitHub links no
# user or team, unless it cannot start a mention: after a letter or digit and before a digit (`models/123@1`).
_MENTION = re.compile(r"(?<![0-9A-Za-z])@|@(?![0-9])")


def for_terminal(text: str, *, newlines: bool = True) -> str:
    """`text` without escape sequences, C0/C1 controls or bidi controls. Tabs and line breaks stay when
    `newlines` (an error message over several lines); otherwise each break becomes a space (one line of a table
    or a plan, which a break would let a string forge the next line of)."""
    text = str(text)
    if text.isprintable():
        return text
    text = _ESCAPE_SEQUENCE.sub("", text.replace("\r\n", "\n"))
    if newlines:
        return text.translate(_KEEP_LINES)
    return _LINE_BREAK.sub(" ", text).translate(_ONE_LINE)


def _one_line(text: str) -> str:
    """Controls out, line breaks (and the spaces around them) as one space: a string stays inside its block."""
    return for_terminal(text, newlines=False)


def for_markdown(text: str) -> str:
    """`text` as literal inline Markdown: on one line (breaks collapsed), with nothing GitHub would render as
    HTML, a heading, a list, a quote, a link, an image, emphasis, a table cell border, math or a mention."""
    text = _one_line(text).strip()
    text = _MENTION.sub("@&#8203;", text.translate(_MARKDOWN_ESCAPES))
    match = _LINE_START.match(text)
    if match:  # a digit run before "." or ")" is an ordered list: escape the punctuation after it
        end = match.end()
        text = (text[:end] + "\\" + text[end:]) if text[0].isdigit() else "\\" + text
    return text


def for_html(text: str) -> str:
    """`text` inside HTML we write (a `<summary>`): entities for `<>&"'`, one line, and no `@` mention."""
    return html.escape(_one_line(text).strip(), quote=True).replace("@", "@&#8203;")


def in_code(text: str, *, table: bool = False) -> str:
    """`text` as a code span: fenced by a backtick run longer than any inside it (CommonMark), padded when it
    starts or ends with a backtick. In a table cell (`table`), `|` is escaped, as GFM splits cells first."""
    text = _one_line(text)
    if table:
        text = text.replace("|", "\\|")
    ticks = "`" * (_longest_run(text, "`") + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or not text else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(lines: Iterable[str], info: str = "") -> str:
    """A fenced code block of `lines` (each made one line, controls out) that none of them can close: its fence
    is a backtick run longer than any backtick run in them (a run of tildes cannot close a backtick fence)."""
    body = [_one_line(line) for line in lines]
    ticks = "`" * max(3, max((_longest_run(line, "`") for line in body), default=0) + 1)
    return "\n".join([ticks + info, *body, ticks])


def for_marker(text: str) -> str:
    """`text` inside an HTML comment we write: one line, and no `--` or `>` that could end the comment early."""
    return _one_line(text).strip().replace("--", "-&#45;").replace(">", "&gt;").replace("<", "&lt;")


def _longest_run(text: str, char: str) -> int:
    if char not in text:
        return 0
    return max(len(run) for run in re.findall(f"{re.escape(char)}+", text))
