"""Untrusted text is inert: the hostile corpus, placed everywhere a plan quotes a server or a manifest, changes
nothing in the structure of the PR comment (parsed as GitHub-Flavored Markdown by markdown-it-py) and puts no
escape sequence or control character on a terminal or in an error line."""

from __future__ import annotations

import importlib
import io
import re
from types import SimpleNamespace

import pytest

from reconciler import render
from reconciler.errors import ApiError, Diagnostic
from reconciler.observed import Generation
from reconciler.plan.model import Change, FieldDiff, Plan
from reconciler.render import plan_text, untrusted
from tests.render import plans
from tests.render.hostile_corpus import HOSTILE, HOSTILE_KEYS

markdown_it = pytest.importorskip("markdown_it")

md_module = importlib.import_module("reconciler.render.markdown")  # the package exports a function of that name
MENTION = re.compile(r"(^|\s)@[A-Za-z0-9]")
# rich's own colours when asked for, and the cursor moves of its live display on a terminal
SGR = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[hl]|\x1b\[2K|\x1b\[[0-9]*A|\r")
FORBIDDEN_INLINE = {"link_open", "image", "html_inline", "s_open", "autolink"}  # em and strong: counted
# The only HTML the comment holds is what the renderer writes: these, with no `<` inside the parts it fills in.
OUR_HTML = re.compile(r"<!-- reconciler-plan: [^<>]*? -->\n?"
                      r"|<details><summary>(<code>[^<>]*</code> [^<>]*<b>[^<>]*</b>|[^<>]*)</summary>\n"
                      r"|</details>\n")


def gfm():
    """CommonMark with GitHub's table and strikethrough extensions, raw HTML recognised (as GitHub does)."""
    return markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def inline_children(tokens):
    return [child for token in tokens if token.type == "inline" for child in token.children or ()]


def one_line(text: str) -> str:
    return untrusted.for_terminal(text, newlines=False).strip()


def shown(text: str) -> str:
    """What a reader sees of text rendered as Markdown (the zero-width space after `@` removed)."""
    return text.replace("\u200b", "")


# ---- the functions, one hostile string at a time ----

@pytest.mark.parametrize("text", HOSTILE)
def test_for_markdown_renders_as_one_literal_paragraph(text):
    tokens = gfm().parse(untrusted.for_markdown(text))
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    children = inline_children(tokens)
    assert {c.type for c in children} <= {"text", "softbreak"}
    assert shown("".join(c.content for c in children)) == one_line(text)
    assert not any(MENTION.search(c.content) for c in children)


@pytest.mark.parametrize("text", HOSTILE)
def test_for_markdown_stays_inside_its_table_cell(text):
    tokens = gfm().parse(f"| a | b |\n|---|---|\n| {untrusted.for_markdown(text)} | {untrusted.in_code(text, table=True)} |\n")
    assert [t.type for t in tokens].count("td_open") == 2
    cells = [t for t in tokens if t.type == "inline"][2:]
    assert shown("".join(c.content for c in cells[0].children)) == one_line(text)
    assert [c.type for c in cells[1].children] == ["code_inline"]
    assert cells[1].children[0].content.strip() == one_line(text).strip()


@pytest.mark.parametrize("text", HOSTILE)
def test_in_code_is_one_code_span_of_the_text(text):
    tokens = gfm().parse("see " + untrusted.in_code(text))
    children = inline_children(tokens)
    assert [c.type for c in children] == ["text", "code_inline"]
    assert children[1].content.strip() == one_line(text).strip()


@pytest.mark.parametrize("text", HOSTILE)
def test_a_fence_cannot_be_closed_by_its_lines(text):
    lines = [text, "``" + text, "~~~", "    ```", "````````````"]
    tokens = gfm().parse(untrusted.fence(lines, "diff") + "\n\nafter\n")
    assert [t.type for t in tokens][:1] == ["fence"] and tokens[0].info == "diff"
    assert tokens[0].content.splitlines() == [untrusted.for_terminal(line, newlines=False) for line in lines]
    assert [t.type for t in tokens[1:]] == ["paragraph_open", "inline", "paragraph_close"]


@pytest.mark.parametrize("text", HOSTILE)
def test_for_terminal_leaves_no_escape_or_control(text):
    for cleaned in (untrusted.for_terminal(text), untrusted.for_terminal(text, newlines=False)):
        assert not any(ord(c) < 0x20 and c not in "\n\t" or 0x7F <= ord(c) < 0xA0 for c in cleaned)
        assert not set(cleaned) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
    assert "\n" not in untrusted.for_terminal(text, newlines=False)


def test_for_terminal_keeps_the_text_of_a_hyperlink_and_drops_the_target():
    assert untrusted.for_terminal("\x1b]8;;http://evil.example\x07click me\x1b]8;;\x07") == "click me"
    assert untrusted.for_terminal("\x1b[31mred\x1b[0m") == "red"
    assert untrusted.for_terminal("plain text, kept as is") == "plain text, kept as is"


def test_for_html_is_entities_only():
    assert untrusted.for_html('</summary><b x="1">&@me') == "&lt;/summary&gt;&lt;b x=&quot;1&quot;&gt;&amp;@&#8203;me"


# ---- a whole plan of hostile strings ----

def hostile_warnings():
    return tuple(Diagnostic(f"manifests/{text[:40]}.yaml", 3, 1, text, "warning") for text in HOSTILE[:6])


def expected_shape(plan: Plan, warnings) -> dict[str, int]:
    """What the comment's structure must be, from the plan's shape alone."""
    steps = plan_text.steps(plan)
    flat = md_module._flatten(steps)
    inline = len(flat) <= md_module.INLINE_CHANGES
    in_sync = [c for c in plan.changes if not c.is_change and not c.attention]
    noop_list = 1 if in_sync and len(in_sync) <= md_module.LISTED_NOOPS else 0
    paid = any(c.costly for c in plan.changes)
    destructive = any(c.action in ("cancel", "delete", "retire") for c in plan.changes)
    facts = any(c.attention for c in plan.changes)
    changes = [c for c, _ in flat]
    return {
        "details": (0 if inline else len(steps)) + noop_list,
        "headings": 1 + (len(steps) if inline else 0),
        "tables": 1 if flat or facts else 0,
        "fences": sum(bool(getattr(c, "spec", {})) + bool(c.diffs) for c in changes),
        "blockquotes": facts + paid + destructive + bool(warnings),
        "rows": len(flat) + sum(1 for c in plan.changes if not c.is_change and c.attention),
        "ems": sum(bool(getattr(c, "reviewed_in", "")) for c in changes),
        # the summary, the count in sync, each alert's title, each `then:` line, the spec and diff labels, moves
        "strong": (1 + bool(in_sync) + facts + paid + destructive + bool(warnings) + len(flat) - len(steps)
                   + sum(bool(getattr(c, "spec", {})) * (1 + bool(c.diffs)) for c in changes)
                   + sum(bool(getattr(c, "moved_from", "")) for c in changes)),
    }


def structure(comment: str) -> dict[str, int]:
    tokens = gfm().parse(comment)
    html = [t.content for t in tokens if t.type == "html_block"]
    return {
        "details": sum(h.startswith("<details>") for h in html),
        "closed": sum(h == "</details>\n" for h in html),
        "headings": sum(t.type == "heading_open" for t in tokens),
        "tables": sum(t.type == "table_open" for t in tokens),
        "fences": sum(t.type in ("fence", "code_block") for t in tokens),
        "code_blocks": sum(t.type == "code_block" for t in tokens),
        "blockquotes": sum(t.type == "blockquote_open" and t.level == 0 for t in tokens),
        "rows": sum(t.type == "tr_open" for t in tokens) - sum(t.type == "table_open" for t in tokens),
        "ems": sum(c.type == "em_open" for c in inline_children(tokens)),
        "bad_html": [h for h in html if not OUR_HTML.fullmatch(h)],
        "inline": {c.type for c in inline_children(tokens)} & FORBIDDEN_INLINE,
        "strong": sum(c.type == "strong_open" for c in inline_children(tokens)),
        "mentions": [c.content for c in inline_children(tokens) if c.type == "text" and MENTION.search(c.content)],
        "lists": sum(t.type in ("bullet_list_open", "ordered_list_open") for t in tokens),
        "hr": sum(t.type == "hr" for t in tokens),
    }


@pytest.mark.parametrize("limit", [render.MARKDOWN_LIMIT, 10**9])
@pytest.mark.parametrize("inline", [False, True], ids=["collapsed", "inline"])
def test_a_hostile_plan_renders_a_comment_of_exactly_its_shape(limit, inline):
    plan = plans.hostile()
    if inline:  # few changes: the details are shown without <details>
        kept = [c for c in plan.changes if c.is_change][:3] + [c for c in plan.changes if not c.is_change]
        plan = Plan(changes=tuple(kept), root=plan.root)
    warnings = hostile_warnings()
    comment = render.markdown(plan, limit=limit, title=HOSTILE[0] + HOSTILE[7], warnings=warnings)
    assert len(comment) < limit  # nothing cut: the whole shape is there
    expected = expected_shape(plan, warnings)
    found = structure(comment)

    assert found["bad_html"] == []
    assert found["inline"] == set()
    assert found["mentions"] == []
    assert found["code_blocks"] == 0  # no indented code block: every block is a fence we wrote
    assert found["hr"] == 0
    for key in ("details", "headings", "tables", "fences", "blockquotes", "rows", "ems", "strong"):
        assert found[key] == expected[key], key
    assert found["closed"] == found["details"]
    html = gfm().render(comment)
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.replace("(javascript:", "")


def test_hostile_text_is_still_readable_in_the_comment():
    comment = render.markdown(plans.hostile(), limit=10**9)
    text = "".join(c.content for c in inline_children(gfm().parse(comment)))
    assert "<script>alert(document.cookie)</script>" in text  # shown, not run
    assert "@\u200bsomeone" in text


def test_validation_errors_become_a_comment_of_the_same_shape():
    diagnostics = [Diagnostic(f"manifests/{text[:30]}.yaml", i + 1, 1, text) for i, text in enumerate(HOSTILE)]
    diagnostics.append(Diagnostic("reconciler.yaml", 3, 5, "unused default 'labels'", "warning"))
    comment = render.markdown_invalid(diagnostics, root="manifests", title=HOSTILE[12])
    assert comment.startswith("<!-- reconciler-plan: manifests -->\n### reconciler plan: ")
    assert f"**The manifests are invalid: {len(HOSTILE)} errors and 1 warning. Nothing was planned.**" in comment
    found = structure(comment)
    assert (found["tables"], found["rows"], found["headings"], found["blockquotes"]) == (1, len(diagnostics), 1, 1)
    assert found["bad_html"] == [] and found["inline"] == set() and found["mentions"] == []
    assert found["strong"] == 2 and found["ems"] == 0  # the summary and the alert's title
    assert found["fences"] == 0 and found["details"] == 0 and found["lists"] == 0


def test_validation_comment_keeps_under_its_limit():
    diagnostics = [Diagnostic(f"m/{i}.yaml", 1, 1, "x" * 300) for i in range(1_000)]
    comment = render.markdown_invalid(diagnostics, root="m", limit=20_000)
    assert len(comment) <= 20_000 and "more not shown |" in comment


# ---- the terminal ----

def assert_inert(output: str) -> None:
    """No escape sequence (other than rich's colours, when asked) and no control character except newlines."""
    left = SGR.sub("", output)
    bad = sorted({f"U+{ord(c):04X}" for c in left if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0
                  or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"})
    assert bad == []


@pytest.mark.parametrize("color", [False, True])
def test_the_text_plan_is_inert(color):
    stream = io.StringIO()
    render.text(plans.hostile(), render.console(stream, color=color))
    output = stream.getvalue()
    assert_inert(output)
    lines = SGR.sub("", output).splitlines()
    hostile_changes = [c for c in plans.hostile().changes if c.is_change]
    # one line per change (plus its diffs and follow-up lines): a line break in a string forged no extra line
    assert sum(line.startswith(("  + ", "  ~ ", "  - ")) for line in lines) == len(hostile_changes)


def test_markup_in_untrusted_text_is_shown_not_interpreted():
    plan = Plan(changes=(Change("[red]bot[/red]", "noop", "[link=http://evil]click[/link] [bold]x", "vertex"),))
    stream = io.StringIO()
    render.text(plan, render.console(stream, color=True))
    output = SGR.sub("", stream.getvalue())
    assert "[red]bot[/red]" in output and "[link=http://evil]click[/link] [bold]x" in output
    assert "\x1b]8" not in stream.getvalue()


def generation(text: str, phase: str = "failed") -> Generation:
    return Generation("vertex", text, "", phase, job=f"projects/p/locations/l/tuningJobs/{text}", error=text,
                      state=text, model=text)


@pytest.mark.parametrize("color", [False, True])
def test_status_tables_and_outcomes_are_inert(color):
    stream = io.StringIO()
    out = render.console(stream, color=color)
    render.progress({text: generation(text) for text in HOSTILE}, out)
    results = [SimpleNamespace(status="failed", action="train", name=text, detail=text) for text in HOSTILE]
    render.outcomes(results, out)
    with render.live_progress(out, {}) as update:  # not a terminal: one line per state change
        update({text: generation(text) for text in HOSTILE})
    output = stream.getvalue()
    assert_inert(output)
    assert "\x1b]8" not in output


def test_listener_lines_are_inert(capsys):
    from reconciler.cli.session import Terminal, print_warnings

    stream = io.StringIO()
    terminal = Terminal(render.console(stream, color=True), confirm=False)
    for text in HOSTILE:
        terminal.say(text)
        terminal.did(text)
        terminal.warn(text)
    print_warnings([Diagnostic(text, 1, 1, text, "warning") for text in HOSTILE])
    assert_inert(stream.getvalue())
    captured = capsys.readouterr()
    assert_inert(captured.err + captured.out)


def test_error_lines_are_inert(monkeypatch, capsys):
    from reconciler.cli.commands import schema

    main = importlib.import_module("reconciler.cli.main")

    message = "".join(HOSTILE[27:36])

    def fail(args):
        raise ApiError(message)

    monkeypatch.setattr(schema, "run", fail)
    assert main.main(["schema"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert_inert(err.replace("\n", " ", err.count("\n") - 1))
    assert "click me" in err and "http://evil.example" not in err


def test_label_keys_with_backticks_cannot_break_the_diff_fence():
    changes = (Change("bot", "update", "labels differ", "vertex",
                      diffs=tuple(FieldDiff(key, "a", "b") for key in HOSTILE_KEYS)),)
    comment = render.markdown(Plan(changes=changes))
    tokens = gfm().parse(comment)
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and len(fences[0].content.splitlines()) == len(HOSTILE_KEYS)


@pytest.mark.parametrize("limit", [5_000, 12_000, 30_000])
def test_a_hostile_plan_cut_to_fit_is_still_well_formed(limit):
    comment = render.markdown(plans.hostile(), limit=limit)
    assert len(comment) <= limit
    found = structure(comment)
    assert found["bad_html"] == [] and found["closed"] == found["details"]
    assert found["inline"] == set() and found["mentions"] == [] and found["code_blocks"] == 0


def test_the_head_that_always_stays_is_bounded_by_a_server_s_long_messages():
    changes = tuple(Change(f"bot-{i}", "noop", "failed", "vertex", attention="x" * 100_000) for i in range(100))
    comment = render.markdown(Plan(changes=changes), title="t" * 100_000)
    assert len(comment) <= render.MARKDOWN_LIMIT and "and 80 more" in comment
