"""`reconciler status`: drift signals (exit 1 when a recorded job failed or its model is gone), the `--json`
document, the `--markdown` table and `--plot NAME=FILE.svg`, as a real subprocess against the emulator."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import httpx
import jsonschema
import pytest

from reconciler.render import status as report

LONG_JOBS = pytest.mark.parametrize("cli", [{"job_duration": 3600}], ids=["hour-long-jobs"], indirect=True)


def _only(cli, *keep: str) -> None:
    for path in sorted((cli.cwd / "manifests").rglob("*.yaml")):
        if not str(path).endswith(keep) and path.name != "reconciler.yaml":
            path.unlink()


def _admin(cli, route: str, body: dict) -> None:
    response = httpx.post(f"{cli.endpoint}/__emulator__/{route}", json=body)
    assert response.status_code == 200, response.text


def _status(cli, *args: str) -> tuple[int, dict]:
    result = cli.run("status", "manifests", "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, report.SCHEMA)
    return result.returncode, document


@LONG_JOBS
def test_status_exits_1_when_a_recorded_job_failed_and_says_why(cli):
    _only(cli, "gemini/math-bot.yaml", "vertex/support-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    code, document = _status(cli)
    assert code == 0 and document["ok"] and document["attention"] == []
    assert {j["name"]: j["state"] for j in document["jobs"]} == {"math-bot": "training", "support-bot": "queued"}
    job = next(j for j in document["jobs"] if j["name"] == "support-bot")["job"]
    _admin(cli, "resources:fail", {"name": job, "message": "training data is <b>invalid</b> @someone"})
    code, document = _status(cli)
    assert code == 1 and not document["ok"]
    assert document["attention"] == [{"name": "support-bot",
                                      "reason": "failed: training data is <b>invalid</b> @someone"}]
    text = cli.run("status", "manifests")
    assert text.returncode == 1 and "⚠ support-bot: failed: training data is" in text.stdout
    markdown = cli.run("status", "manifests", "--markdown")
    assert markdown.returncode == 1 and "<b>" not in markdown.stdout and "@someone" not in markdown.stdout


@LONG_JOBS
def test_status_exits_1_when_a_model_was_deleted_out_of_band(cli):
    _only(cli, "gemini/math-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    cli.emulator.advance(3600)
    code, document = _status(cli)
    assert code == 0 and document["jobs"][0]["state"] == "succeeded"
    _admin(cli, "resources:delete", {"name": document["jobs"][0]["model"]})
    code, document = _status(cli)
    assert code == 1 and document["jobs"][0]["state"] == "gone" and document["attention"][0]["name"] == "math-bot"


@LONG_JOBS
def test_plot_writes_the_loss_curve_of_a_gemini_tune_and_refuses_a_model_without_one(cli):
    _only(cli, "gemini/number-generator.yaml", "vertex/support-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    cli.emulator.advance(1800)
    result = cli.run("status", "manifests", "--plot", "number-generator=loss.svg")
    assert result.returncode == 0, result.stderr
    assert "wrote the loss curve of number-generator to loss.svg" in result.stderr
    root = ET.parse(cli.cwd / "loss.svg").getroot()
    points = root.find("{http://www.w3.org/2000/svg}polyline").get("points").split()
    xs = [float(p.split(",")[0]) for p in points]
    assert len(points) > 2 and xs == sorted(xs)
    row = next(line for line in result.stdout.splitlines() if line.startswith("number-generator"))
    assert "training" in row and "%" in row and any(block in row for block in "▁▂▃▄▅▆▇█")
    vertex = cli.run("status", "manifests", "--plot", "support-bot=v.svg")
    assert vertex.returncode == 1 and "reports no training loss" in vertex.stderr
    unknown = cli.run("status", "manifests", "--plot", "nobody=n.svg")
    assert unknown.returncode == 1 and "no job recorded in the lock for 'nobody'" in unknown.stderr
    assert not (cli.cwd / "v.svg").exists() and not (cli.cwd / "n.svg").exists()
    bad = cli.run("status", "manifests", "--plot", "loss.svg")
    assert bad.returncode == 1 and "NAME=FILE.svg" in bad.stderr
