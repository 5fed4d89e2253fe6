"""Strings a server, a lock file or a manifest could hand to a renderer, each trying to escape the place it is shown:
end a collapsed section or a code fence, add HTML, a heading, a list, a table, a link, an image or a mention to a
pull-request comment, or recolour, hyperlink, overwrite or reorder a terminal line."""

from __future__ import annotations

HOSTILE: tuple[str, ...] = (
    "</details></details><details open><summary>ok</summary>",
    "</summary><b>bold</b>",
    "<script>alert(document.cookie)</script>",
    '<img src=x onerror="alert(1)">',
    "<!-- hidden --> visible",
    "-->",
    "<https://evil.example/autolink>",
    "# heading",
    "## another heading",
    "heading\n=======",
    "list\n- item\n1. item",
    "> quoted\n>> more",
    "@someone and @acme/security-team please approve",
    "mail admin@example.com",
    "```",
    "````diff\n+ approved\n````",
    "~~~\nfence\n~~~",
    "`code` ``double`` ```triple```",
    "| pipes | in | a | row |",
    "|---|---|",
    "[link](javascript:alert(1))",
    "[ref]: https://evil.example/ref",
    "![img](https://evil.example/pixel.png)",
    "**bold** _em_ ~~strike~~ $x^2$ $$\\Huge big$$",
    "&lt;script&gt; &amp; &#60;b&#62;",
    "\\[escaped\\] \\`tick\\`",
    "line one\n\nline two\r\n\r\n    indented code",
    "\x1b[31mred\x1b[0m \x1b[2J\x1b[H cleared",
    "\x1b]8;;http://evil.example\x07click me\x1b]8;;\x07",
    "\x1b]0;window title\x1b\\ after title",
    "\x9b31m C1 CSI \x9d8;;http://evil.example\x9c",
    "progress 10%\rprogress 100% (overwritten)",
    "user\u202egnp.exe",
    "\u2066isolate\u2069 \u200fmark",
    "nul\x00byte bell\x07 backspace\x08 delete\x7f",
    "x" * 5000,
    "label`key``with```ticks",
    "1. numbered",
    "+ plus",
    "- minus",
    "    four spaces",
    "***",
    "<details>",
)

# Label keys and values for field diffs and specs (a server may return any key).
HOSTILE_KEYS: tuple[str, ...] = ("labels.`evil`", "labels.```", "labels.</details>", "labels.\x1b[31mkey",
                                 "labels.a\nb", "labels.@team")
