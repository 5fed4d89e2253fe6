"""Waiting progress and `status` renderings: sparklines, ETA, the CI line policy, the live rows, the loss SVG, and the
`status --json` / `--markdown` documents. Decisions are data tables; nothing here talks to an API."""

from __future__ import annotations

import importlib
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import jsonschema
import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from reconciler.observed import Generation, state_word
from reconciler.render import jobs, status
from reconciler.render.console import console
from reconciler.render.plot import loss_svg
from reconciler.render.sparkline import BLOCKS, sparkline
from tests.testing.clock import FakeClock

progress = importlib.import_module("reconciler.render.progress")  # the package exports a function of that name
HOSTILE = "<script>alert(1)</script> @octocat | `x` \x1b[31mred\x1b[0m\n# heading </details>"
T0 = 1_800_000_000.0  # a wall-clock instant (epoch seconds)


def gemini(phase="running", **fields) -> Generation:
    return Generation(platform="gemini-api", owner="math-bot", digest="d", phase=phase,
                      model="tunedModels/math-bot-1a2b3c4d", **fields)


def vertex(phase="running", **fields) -> Generation:
    return Generation(platform="vertex", owner="support-bot", digest="d", phase=phase,
                      job="projects/acme-production-project/locations/us-central1/tuningJobs/1234567890123456789",
                      **fields)


def at(seconds: float) -> str:
    return jobs.datetime.fromtimestamp(T0 + seconds, jobs.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- sparklines ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, width, expected", [
    ([], 16, ""),                                   # nothing reported yet
    ([1.0], 16, "▄"),                               # one point: a middle block
    ([0.5, 0.5, 0.5], 16, "▄▄▄"),                   # flat: middle blocks, not a floor
    ([2.0, 1.0, 0.0], 16, "█▅▁"),                   # falling loss: highest first
    ([0.0, 7.0], 16, "▁█"),
    ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 16, BLOCKS),  # one block per level
    ([3.0, float("nan"), 1.0, float("inf")], 16, "█▁"),     # non-finite values are left out
    (list(range(100, 0, -1)), 10, "█▇▆▆▅▄▃▃▂▁"),    # long series: averaged into `width` buckets
])
def test_sparkline(values, width, expected):
    assert sparkline(values, width) == expected


def test_a_long_history_is_as_wide_as_asked_and_keeps_its_ends():
    line = sparkline([math.exp(-i / 50) for i in range(1000)], 16)
    assert len(line) == 16 and line[0] == "█" and line[-1] == "▁"


# --- ETA and durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("samples, percent, elapsed, expected", [
    ([], 40.0, None, None),                                     # no rate known
    ([(0.0, 40.0)], 40.0, None, None),                          # one sample: no rate
    ([(0.0, 40.0)], 40.0, 120.0, 180.0),                        # one sample: the average since training started
    ([(0.0, 10.0), (60.0, 20.0)], 20.0, None, 480.0),           # 10 % a minute, 80 % left
    ([(0.0, 10.0), (60.0, 20.0)], 20.0, 9999.0, 480.0),         # the observed rate wins over the average
    ([(0.0, 20.0), (60.0, 20.0)], 20.0, 60.0, 240.0),           # no movement observed: the average
    ([(0.0, 20.0), (60.0, 20.0)], 20.0, None, None),
    ([(0.0, 0.0), (10.0, 90.0), (700.0, 95.0), (760.0, 96.0)], 96.0, None, 240.0),  # only the last 10 minutes
    ([(0.0, 50.0), (30.0, 100.0)], 100.0, None, 0.0),
])
def test_eta_from_the_observed_rate(samples, percent, elapsed, expected):
    assert jobs.estimate_eta(samples, percent, elapsed) == pytest.approx(expected) if expected is not None \
        else jobs.estimate_eta(samples, percent, elapsed) is None


@pytest.mark.parametrize("seconds, text", [(None, ""), (0, "0s"), (45.4, "45s"), (192, "3m12s"), (3900, "1h05m"),
                                           (183600, "2d03h")])
def test_durations(seconds, text):
    assert jobs.duration(seconds) == text


def test_a_view_measures_from_the_start_the_api_reports_and_stops_at_the_end_seen():
    running = gemini(progress=25.0, start_time=at(0), create_time=at(-30))
    v = jobs.view("math-bot", running, now=T0 + 100)
    assert (v.word, v.elapsed, v.eta) == ("training", 100.0, pytest.approx(300.0))
    done = jobs.view("math-bot", replace(running, phase="succeeded"), now=T0 + 500, ended_at=T0 + 400)
    assert (done.word, done.percent, done.elapsed, done.eta) == ("succeeded", 100.0, 400.0, None)
    unseen_end = jobs.view("math-bot", replace(running, phase="succeeded"), now=T0 + 500)
    assert unseen_end.elapsed is None  # `status` of a job that ended long ago: its length is not known


@pytest.mark.parametrize("generation, word", [
    (None, "gone"), (vertex("queued"), "queued"), (vertex("running"), "training"), (vertex("cancelling"), "cancelling"),
    (vertex("succeeded"), "succeeded"), (vertex("succeeded", model_exists=False), "gone"), (vertex("failed"), "failed"),
    (vertex("cancelled"), "cancelled"), (vertex("expired"), "expired"),
])
def test_one_set_of_state_words(generation, word):
    assert state_word(generation) == word


# --- CI logs: one line per state change, at most one progress line per job per minute -----------------

def test_ci_lines_say_each_state_change_and_at_most_one_progress_line_a_minute():
    clock, lines = FakeClock(), []
    log = progress.LineLog(lines.append, progress.Watching(clock=lambda: T0 + clock.now), clock=clock)
    polls = [  # (seconds, math-bot, support-bot)
        (0, gemini(progress=1.0, loss=2.5, start_time=at(0)), vertex("queued")),
        (5, gemini(progress=2.0, loss=2.4, start_time=at(0)), vertex("queued")),   # moved, but < 1 min: silent
        (30, gemini(progress=10.0, loss=2.0, start_time=at(0)), vertex("running")),  # support-bot: state change
        (61, gemini(progress=20.0, loss=1.5, start_time=at(0)), vertex("running")),  # math-bot: 1st progress line
        (90, gemini(progress=30.0, loss=1.2, start_time=at(0)), vertex("running")),  # < 1 min since: silent
        (125, gemini(progress=40.0, loss=1.0, start_time=at(0)), vertex("running")),  # math-bot: 2nd; support-bot
        (190, gemini(progress=40.0, loss=1.0, start_time=at(0)), vertex("running")),  # nothing moved: silent
        (200, gemini("succeeded", loss=0.1, start_time=at(0)), vertex("failed", error="quota exceeded")),
        (260, gemini("succeeded", loss=0.1, start_time=at(0)), vertex("failed", error="quota exceeded")),
    ]
    said = []
    for seconds, math_bot, support_bot in polls:
        clock.now = seconds
        log.update({"math-bot": math_bot, "support-bot": support_bot})
        said.append([line.split(":")[0].strip() + ("" if "%" not in line or "eta" not in line else " (progress)")
                     for line in lines])
        lines.clear()
    assert said == [
        ["math-bot", "support-bot"], [], ["support-bot"], ["math-bot (progress)"], [], ["math-bot (progress)"],
        [], ["math-bot", "support-bot"], [],
    ]  # support-bot never reports progress (Vertex): only its state changes are lines


def test_ci_lines_never_cut_a_resource_name_and_say_why_a_job_ended():
    lines = []
    log = progress.LineLog(lines.append, progress.Watching(clock=lambda: T0), clock=lambda: 0.0)
    long_job = vertex("running").job + "/" + "x" * 200
    log.update({"support-bot": replace(vertex("running", data_stats={"examples": 500, "tokens": 1_250_000}),
                                       job=long_job),
                "other": vertex("failed", error=HOSTILE)})
    assert lines[0] == f"  support-bot: training · 500 examples · 1.2M tokens  {long_job}"
    assert lines[1].startswith("  other: failed · failed: <script>") and "\x1b" not in lines[1] \
        and "\n" not in lines[1]


def test_ci_progress_lines_carry_percent_elapsed_eta_and_the_loss_curve():
    history = tuple((i, 2.0 - i / 10) for i in range(1, 11))
    v = jobs.view("math-bot", gemini(progress=50.0, loss=1.0, loss_history=history, start_time=at(0)), now=T0 + 300)
    assert progress.progress_line(v) == "  math-bot: training 50% · elapsed 5m00s · eta 5m00s · loss 1.000 █▇▆▆▅▄▃▃▂▁"


def test_waiting_without_a_terminal_prints_lines_not_a_live_table():
    stream = io.StringIO()
    out = console(stream)
    with progress.live_progress(out, {"math-bot": gemini()}) as show:
        show({"math-bot": gemini(progress=10.0)})
        show({"math-bot": gemini("succeeded")})
    assert stream.getvalue().splitlines() == ["  math-bot: training 10%  tunedModels/math-bot-1a2b3c4d",
                                              "  math-bot: succeeded  tunedModels/math-bot-1a2b3c4d"]


def test_live_rows_show_bar_percent_elapsed_eta_loss_and_data():
    watching = progress.Watching(clock=lambda: T0 + 120)
    watching.see({"math-bot": gemini(progress=40.0, loss=0.8, start_time=at(0),
                                     loss_history=((1, 2.0), (2, 1.2), (3, 0.8))),
                  "support-bot": vertex("running", start_time=at(60), data_stats={"examples": 778, "tokens": 700_200}),
                  "gone-bot": None})
    stream = io.StringIO()
    Console(file=stream, width=120).print(progress.rows(watching.views()))
    math_row, support_row, gone_row, footer = stream.getvalue().splitlines()
    assert math_row.split()[:2] == ["math-bot", "training"] and "40%" in math_row and "2m00s" in math_row
    assert "eta 3m00s" in math_row and "loss 0.800 █▃▁" in math_row
    assert support_row.split()[:2] == ["support-bot", "training"] and "1m00s" in support_row
    assert "778 examples · 700.2k tokens" in support_row
    assert gone_row.split()[:2] == ["gone-bot", "gone"] and "no longer exists" in gone_row
    assert footer.startswith("2 training, 1 gone · Ctrl-C stops waiting")


# --- status: text, exit decision, JSON, Markdown -------------------------------------------------------

NOW = {
    "math-bot": gemini(progress=40.0, loss=0.8, loss_history=((1, 2.0), (2, 1.2), (3, 0.8)), start_time=at(0)),
    "support-bot": vertex("succeeded", model="projects/p/locations/l/models/7@1",
                          data_stats={"examples": 500, "tokens": 150_000, "steps": 32}),
    "broken-bot": vertex("failed", error=HOSTILE),
    "deleted-bot": vertex("succeeded", model="projects/p/locations/l/models/9@1", model_exists=False),
    "lost-bot": None,
}


def test_status_needs_attention_when_a_job_ended_badly_or_its_model_is_gone():
    assert [name for name, _ in status.attention(NOW)] == ["broken-bot", "deleted-bot", "lost-bot"]
    assert status.attention({"math-bot": NOW["math-bot"], "support-bot": NOW["support-bot"]}) == []
    assert status.attention({"x": vertex("cancelled")}) and status.attention({"x": vertex("expired")})


def test_the_status_table_never_cuts_a_name_and_lists_what_needs_attention():
    stream = io.StringIO()
    progress.progress(NOW, console(stream))
    text = stream.getvalue()
    assert text.splitlines()[0].split() == list(progress.COLUMNS)
    assert NOW["broken-bot"].job in text and "projects/p/locations/l/models/7@1" in text
    assert "\x1b" not in text and "⚠ lost-bot: no longer exists" in text


def test_the_status_table_without_colour_is_the_coloured_one_without_its_escapes(monkeypatch):
    """Without colour the table is written as its plain text (rich lays out a thousand lines slowly): the same
    characters a terminal gets, less the colours."""
    monkeypatch.setattr(jobs, "now_epoch", lambda: T0 + 3600)
    plain, coloured = io.StringIO(), io.StringIO()
    progress.progress(NOW, console(plain))
    progress.progress(NOW, console(coloured, color=True))
    assert "\x1b[" in coloured.getvalue()
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.getvalue()) == plain.getvalue()


def test_status_json_is_the_documented_document():
    document = json.loads(status.as_json(NOW))
    jsonschema.validate(document, status.SCHEMA)
    assert document["formatVersion"] == 1 and document["ok"] is False
    assert document["summary"] == {"training": 1, "succeeded": 1, "failed": 1, "gone": 2}
    assert [a["name"] for a in document["attention"]] == ["broken-bot", "deleted-bot", "lost-bot"]
    by_name = {job["name"]: job for job in document["jobs"]}
    assert list(by_name) == sorted(NOW)
    assert by_name["math-bot"]["lossHistory"] == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.2},
                                                  {"step": 3, "loss": 0.8}]
    assert by_name["support-bot"]["dataStats"] == {"examples": 500, "tokens": 150_000, "steps": 32}
    assert by_name["lost-bot"] == {"name": "lost-bot", "state": "gone", "exists": False,
                                   "attention": "no longer exists (deleted out of band?)"}
    assert json.loads(status.as_json({})) == {"formatVersion": 1, "ok": True, "summary": {}, "attention": [],
                                              "jobs": []}


def _tokens(text: str):
    return MarkdownIt("commonmark").enable("table").parse(text)


def test_status_markdown_is_one_table_with_sparklines_and_inert_api_text():
    text = status.markdown(NOW)
    tokens = _tokens(text)
    types = [t.type for t in tokens]
    assert types.count("table_open") == 1 and "heading_open" in types
    assert [t.content for t in tokens if t.type == "html_block"] == [status.MARKER + "\n"]  # ours, first
    assert types.count("tr_open") == 1 + len(NOW)  # header + one row per job
    inline = [child for t in tokens if t.type == "inline" for child in (t.children or [])]
    assert not [c for c in inline if c.type in ("html_inline", "link_open")]
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script>" not in rendered and "</details>" not in rendered and "@octocat" not in rendered
    assert text.startswith(status.MARKER)
    assert "`█▃▁`" in text and "\x1b" not in text
    cells = [t.content for t in tokens if t.type == "inline"]
    assert any(c.startswith("**3 need attention:**") for c in cells)


def test_status_markdown_of_nothing_recorded():
    assert "Nothing recorded in the lock." in status.markdown({})


# --- the loss curve as SVG ------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("points", [
    [(s, 0.05 + 2.5 * math.exp(-4 * s / 200)) for s in range(1, 201)],
    [(1, 0.8), (2, 0.3), (3, 0.096)],
    [(5, 0.5)],
    [(10, 1.0), (20, 1.0), (30, 1.0)],
])
def test_the_loss_svg_parses_with_one_point_per_step_in_order_inside_the_view_box(points):
    root = ET.fromstring(loss_svg(points, title='bot <script>&"', subtitle="tunedModels/bot-1 · training"))
    assert root.tag == f"{SVG}svg"
    x0, y0, width, height = map(float, root.get("viewBox").split())
    polyline = root.find(f"{SVG}polyline")
    plotted = [tuple(map(float, pair.split(","))) for pair in polyline.get("points").split()]
    assert len(plotted) == len(points)
    xs = [x for x, _ in plotted]
    assert xs == sorted(xs) and (len(xs) == 1 or len(set(xs)) == len(xs))
    assert all(x0 <= x <= x0 + width and y0 <= y <= y0 + height for x, y in plotted)
    for (_, y1), (_, y2), (_, loss1), (_, loss2) in zip(plotted, plotted[1:], points, points[1:]):
        assert (y1 <= y2) == (loss1 >= loss2) or abs(y1 - y2) < 0.2  # a higher loss is drawn higher (smaller y)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert 'bot <script>&"' in texts and root.find(f"{SVG}title").text == 'bot <script>&"'
    assert "step" in texts and "mean training loss" in texts
    assert not list(root.iter(f"{SVG}script"))


def test_the_loss_svg_needs_a_point():
    with pytest.raises(ValueError):
        loss_svg([(1, float("nan"))], title="empty")


@pytest.mark.parametrize("width", [80, 100, 160])
def test_live_rows_stay_one_line_each_on_a_narrow_terminal(width):
    watching = progress.Watching(clock=lambda: T0 + 120)
    watching.see({"a-rather-long-manifest-name": gemini(progress=40.0, loss=0.8, start_time=at(0),
                                                        loss_history=tuple((i, 2 / i) for i in range(1, 30))),
                  "support-bot": vertex("failed", error="quota exceeded for aiplatform.googleapis.com " * 3)})
    stream = io.StringIO()
    Console(file=stream, width=width).print(progress.rows(watching.views(), width))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and all(len(line.rstrip()) <= width for line in lines)
    assert lines[0].split()[:3] == ["a-rather-long-manifest-name", "training", "━━━━╸" if width < 110 else "━━━━━━━━━╸"]
