"""The CI recipes of examples/ci/, run: every shell line of both YAML files runs as written, with bash, against
one emulator (the "cloud") and the gcs state backend, each job in a fresh clone of a manifest repository.

Flow proven for each recipe:
  1. a merge request / pull request with a broken manifest: the job fails, and the comment says why;
  2. the PR that adds the manifests (checkout A): validate and plan; a comment with the plan, the saved plan
     as an artifact, and nothing written to the cloud;
  3. the push of its merge to main (checkout B): the saved plan from A is applied, every tuning job created
     exactly once, the state in the bucket and its run lock released; re-running it refuses the stale plan;
  4. a push not merged from a PR with nothing to do: exit 0, nothing created;
  5. the scheduled drift check (checkout C): exit 0 in sync; after a live model's displayName is edited out of
     band with a PATCH on the Vertex API, it fails with exit 2 and says "drift"; after an API error, it fails
     and says it is an error, not drift.

What is not shell is simulated, each way written down in one table below, and nothing else is:
  - GitHub `uses:` steps: ACTIONS (an action missing from it fails the test);
  - `run:` blocks / script items that only set up the runner: RUN_SIMULATIONS, matched by their exact text
    (GitHub) or their first line (GitLab); each is still checked with `bash -n`, and the Python it carries is
    compiled, so even these cannot rot into nonsense;
  - GitHub `${{ }}` expressions: EXPRESSIONS (only in `env:` / `with:`; a `run:` holding one fails the test);
    `if:` conditions: CONDITIONS; GitLab `rules: if:`: RULES. Anything else fails the test;
  - the runner: PATH starts with a `reconciler` shim running this repository's reconciler (the install step),
    and Workload Identity Federation is replaced by what reconciler reads first (GOOGLE_OAUTH_ACCESS_TOKEN,
    before the Application Default Credentials WIF writes) plus RECONCILER_API_ENDPOINT=<the emulator>. The
    GitLab recipe writes its external-account ADC file itself (shell, run as written): the test loads it with
    google-auth.
Every job of a workflow clones to the same path (GITHUB_WORKSPACE, GitLab's GIT_CLONE_PATH), as hosted runners
do, the previous job's checkout moved away first: a saved plan records the absolute path of its manifests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from google.auth import identity_pool

from tests.testing import ROOT
from tests.testing.emulators import VERTEX_AUTH

RECIPES = ROOT / "examples" / "ci"
PROJECT, LOCATION = "acme-ml", "us-central1"
BUCKET, PREFIX = "acme-reconciler-state", "tuning/prod"
PROVIDER = "projects/123456789012/locations/global/workloadIdentityPools/ci/providers/repo"
CONFIG = f"""\
stack: acme-tuning
defaults:
  project: {PROJECT}
  location: {LOCATION}
  labels: {{cost-center: ml-platform, env: prod}}
state:
  backend: gcs
  bucket: {BUCKET}
  prefix: {PREFIX}
"""
# The repository's examples, but for support-bot-continued: a fromManifest dependent is deferred by a detached
# apply until its upstream succeeds, and a later apply (a new reviewed plan) starts it; see examples/ci/README.md.
LEFT_OUT = {"reconciler.yaml", "vertex/support-bot-continued.yaml"}
VERTEX_BOTS, GEMINI_BOTS = {"support-bot", "support-bot-tier2"}, {"math-bot", "number-generator"}
BROKEN = "apiVersion: reconciler/v1\nkind: TunedModel\nmetadata: {name: broken-bot}\nspec:\n  platform: vertex\n" \
         "  baseModel: gemini-2.5-flash\n  training: {dataset: gs://acme/train.jsonl}\n  hyperParameters: {epochs: 2}\n"
FAKE_OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"
SECRETS = {"GEMINI_API_KEY": "test-key"}   # secrets / masked CI/CD variables the recipes name
VARIABLES = {"GCP_WORKLOAD_IDENTITY_PROVIDER": PROVIDER,    # GitHub `vars.*` / GitLab CI/CD variables
             "GCP_PLAN_SERVICE_ACCOUNT": "reconciler-plan@acme-ml.iam.gserviceaccount.com",
             "GCP_APPLY_SERVICE_ACCOUNT": "reconciler-apply@acme-ml.iam.gserviceaccount.com",
             "RECONCILER_GITLAB_TOKEN": "glpat-test"}


# ------------------------------------------------------------------------------------------------ the world

@dataclass
class Event:
    """What triggered a run: `kind` is pull_request | push | schedule; `pr` the PR/MR (number) it is for or
    that `sha` merged."""
    kind: str
    sha: str
    pr: int | None = None
    fork: bool = False


@dataclass
class Job:
    name: str
    ok: bool
    code: int            # the exit code of the step that failed (0 when none did)
    log: str
    workspace: Path      # the job's checkout, moved aside once the job ended
    summary: str = ""    # GitHub's $GITHUB_STEP_SUMMARY


@dataclass
class World:
    tmp: Path
    cloud: Any                          # the EmulatorProcess
    origin: Path
    bin: Path
    comments: dict[int, str] = field(default_factory=dict)           # PR/MR number -> sticky comment
    artifacts: dict[tuple[int, str], Path] = field(default_factory=dict)  # (PR, artifact name) -> directory
    used: set[str] = field(default_factory=set)                      # table entries that simulated something
    runs: int = 0

    def git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
                              cwd=cwd or self.origin, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def checkout(self, sha: str, workspace: Path) -> None:
        assert not workspace.exists(), "the previous job's checkout must be gone"
        workspace.parent.mkdir(parents=True, exist_ok=True)
        self.git("clone", "-q", str(self.origin), str(workspace), cwd=self.tmp)
        self.git("checkout", "-q", "--detach", sha, cwd=workspace)

    def retire(self, workspace: Path, name: str) -> Path:
        """The job ended: its checkout goes away (kept aside for the assertions)."""
        self.runs += 1
        aside = self.tmp / "finished" / f"{self.runs:02d}-{name}"
        aside.parent.mkdir(exist_ok=True)
        shutil.move(str(workspace), str(aside))
        return aside

    def runner_env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}{os.pathsep}/usr/local/bin:/usr/bin:/bin", "HOME": str(self.tmp / "home"),
                "LANG": "C.UTF-8", "COLUMNS": "200", "NO_GCE_CHECK": "True",
                "PIP_NO_INDEX": "1"}   # an install step the table does not know fails at once, offline

    def auth_env(self) -> dict[str, str]:
        """Workload Identity Federation, simulated: the token reconciler reads before ADC, and the cloud."""
        return {"GOOGLE_OAUTH_ACCESS_TOKEN": "test-token", "RECONCILER_API_ENDPOINT": self.cloud.base_url}

    def creates(self) -> dict[str, int]:
        log = [r for r in self.cloud.requests() if r["method"] == "POST" and r["status"] == 200]
        return {"tuningJobs": sum(r["path"].endswith("/tuningJobs") for r in log),
                "tunedModels": sum(r["path"] == "/v1beta/tunedModels" for r in log)}

    def writes(self) -> list[dict]:
        return [r for r in self.cloud.requests() if r["method"] in ("POST", "PATCH", "PUT", "DELETE")]


def bash(script: str, cwd: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    path = cwd.parent / ".step.sh"
    path.write_text(script, encoding="utf-8")
    try:
        return subprocess.run(["bash", "--noprofile", "--norc", *options, str(path)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        path.unlink()


def check_simulated_shell(script: str) -> None:
    """A simulated step still has to be valid bash, and the Python it embeds valid Python."""
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert syntax.returncode == 0, f"not valid bash:\n{script}\n{syntax.stderr}"
    for program in re.findall(r"<<'PY'.*?\n(.*?)\nPY\n", script + "\n", re.S):
        compile(program, "<recipe>", "exec")


# ------------------------------------------------------------------------------------------------ GitHub Actions

def _checkout(world: World, job: GitHubJob, step: dict) -> None:
    world.checkout(job.event.sha, job.workspace)


def _setup_python(world: World, job: GitHubJob, step: dict) -> None:
    assert isinstance(step["with"]["python-version"], str), "quote the Python version (3.10 is not 3.1)"


def _auth(world: World, job: GitHubJob, step: dict) -> None:
    inputs = job.inputs(step)
    assert inputs["workload_identity_provider"] == PROVIDER and inputs["service_account"].endswith(".com")
    job.env.update(world.auth_env())


def _sticky_comment(world: World, job: GitHubJob, step: dict) -> None:
    inputs = job.inputs(step)
    assert inputs["header"] == "reconciler-plan"
    world.comments[job.event.pr] = (job.workspace / inputs["path"]).read_text(encoding="utf-8")


def _upload(world: World, job: GitHubJob, step: dict) -> None:
    inputs = job.inputs(step)
    store = world.tmp / "artifacts" / f"pr{job.event.pr}-{inputs['name']}"
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    for name in inputs["path"].split():
        assert (job.workspace / name).is_file(), f"if-no-files-found: error: {name} is missing"
        shutil.copy(job.workspace / name, store / name)
    world.artifacts[(job.event.pr, inputs["name"])] = store


def _find_pr(world: World, job: GitHubJob, step: dict) -> None:
    script = job.inputs(step)["script"]
    assert "listPullRequestsAssociatedWithCommit" in script and "core.setOutput('number'" in script
    job.outputs[step["id"]] = {"number": str(job.event.pr or "")}


def _download(world: World, job: GitHubJob, step: dict) -> None:
    inputs = job.inputs(step)
    assert inputs["pr"] == str(job.event.pr) and inputs["if_no_artifact_found"] == "fail"
    store = world.artifacts.get((job.event.pr, inputs["name"]))
    if store is None:
        raise StepFailed(f"no artifact {inputs['name']} for #{job.event.pr}")
    shutil.copytree(store, job.workspace / inputs["path"], dirs_exist_ok=True)


# `uses:` -> how it is simulated. An action that is not here fails the test.
ACTIONS: dict[str, Callable[[World, GitHubJob, dict], None]] = {
    "actions/checkout@v4": _checkout,                          # a fresh `git clone` at GITHUB_WORKSPACE
    "actions/setup-python@v5": _setup_python,                  # the shim's Python is the one reconciler runs on
    "google-github-actions/auth@v2": _auth,                    # World.auth_env()
    "marocchino/sticky-pull-request-comment@v2": _sticky_comment,  # the file becomes the PR's one comment
    "actions/upload-artifact@v4": _upload,                     # copied to an artifact store, per PR
    "actions/github-script@v7": _find_pr,                      # the event's PR number (or '') as output `number`
    "dawidd6/action-download-artifact@v6": _download,          # copied from the store into `path`
}

# `run:` blocks (exact text) and GitLab script items (first line) that only set up the runner.
RUN_SIMULATIONS: dict[str, str] = {
    # install: `reconciler` is already first on PATH (a shim running this repository's reconciler)
    'python -m pip install "$RECONCILER_PIP"': 'test -n "$RECONCILER_PIP" && command -v reconciler',
    'python -m pip install --quiet "$RECONCILER_PIP"': 'test -n "$RECONCILER_PIP" && command -v reconciler',
    # GitLab: the MR note -> $SIMULATED_NOTE (the test reads it as the MR's one note)
    "# post plan.md as one note on the merge request, edited in place on every push":
        'if [ -s plan.md ]; then cp plan.md "$SIMULATED_NOTE"; fi',
    # GitLab: the reviewed plan of the merged MR -> copied from the artifact store, when the commit merged one
    "# fetch the plan reviewed in the merge request this commit merged":
        'if [ -n "$SIMULATED_ARTIFACT" ]; then mkdir -p "$(dirname "$REVIEWED_PLAN")"; '
        'cp "$SIMULATED_ARTIFACT/plan.json" "$REVIEWED_PLAN"; fi',
}

# `${{ expression }}` -> its value for a job.
EXPRESSIONS: dict[str, Callable[[GitHubJob], str]] = {
    "secrets.GEMINI_API_KEY": lambda job: SECRETS["GEMINI_API_KEY"],
    "vars.GCP_WORKLOAD_IDENTITY_PROVIDER": lambda job: VARIABLES["GCP_WORKLOAD_IDENTITY_PROVIDER"],
    "vars.GCP_PLAN_SERVICE_ACCOUNT": lambda job: VARIABLES["GCP_PLAN_SERVICE_ACCOUNT"],
    "vars.GCP_APPLY_SERVICE_ACCOUNT": lambda job: VARIABLES["GCP_APPLY_SERVICE_ACCOUNT"],
    "steps.pr.outputs.number": lambda job: job.outputs.get("pr", {}).get("number", ""),
    "github.ref": lambda job: job.ref,
}

# `if:` -> its value for a job (a step without `if:` runs while no earlier step failed).
CONDITIONS: dict[str, Callable[[GitHubJob], bool]] = {
    "github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name == github.repository":
        lambda job: job.event.kind == "pull_request" and not job.event.fork,
    "github.event_name == 'push' && github.ref == 'refs/heads/main'":
        lambda job: job.event.kind == "push" and job.ref == "refs/heads/main",
    "github.event_name == 'schedule'": lambda job: job.event.kind == "schedule",
    "always() && hashFiles('plan.md') != ''": lambda job: (job.workspace / "plan.md").is_file(),
    "steps.pr.outputs.number != ''": lambda job: EXPRESSIONS["steps.pr.outputs.number"](job) != "",
    "steps.pr.outputs.number == ''": lambda job: EXPRESSIONS["steps.pr.outputs.number"](job) == "",
}


class StepFailed(Exception):
    pass


@dataclass
class GitHubJob:
    world: World
    name: str
    spec: dict
    workflow: dict
    event: Event
    workspace: Path
    env: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"refs/pull/{self.event.pr}/merge" if self.event.kind == "pull_request" else "refs/heads/main"

    def expand(self, text: Any) -> str:
        def value(match: re.Match) -> str:
            expression = match.group(1)
            assert expression in EXPRESSIONS, f"unknown expression ${{{{ {expression} }}}}: add it to EXPRESSIONS"
            self.world.used.add(expression)
            return EXPRESSIONS[expression](self)
        return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", value, str(text))

    def inputs(self, step: dict) -> dict[str, str]:
        return {key: self.expand(value) for key, value in (step.get("with") or {}).items()}

    def condition(self, text: str) -> bool:
        assert text in CONDITIONS, f"unknown condition {text!r}: add it to CONDITIONS"
        self.world.used.add(text)
        return CONDITIONS[text](self)

    def run(self) -> Job:
        world, log, failed = self.world, [], 0
        home = world.tmp / "runner-temp" / self.name
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        files = {key: home / key.lower() for key in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
        for path in files.values():
            path.touch()
        declared = {**self.workflow.get("env", {}), **self.spec.get("env", {})}   # workflow, then job
        self.env = {**world.runner_env(), "CI": "true", "GITHUB_ACTIONS": "true",
                    "GITHUB_WORKSPACE": str(self.workspace), "GITHUB_EVENT_NAME": self.event.kind,
                    "GITHUB_SHA": self.event.sha, "GITHUB_REF": self.ref, "GITHUB_REPOSITORY": "acme/tuning",
                    "RUNNER_TEMP": str(home), **{k: str(v) for k, v in files.items()},
                    **{k: self.expand(v) for k, v in declared.items()}}
        if "concurrency" in self.spec:
            assert self.expand(self.spec["concurrency"]["group"]) == "reconciler-refs/heads/main"
        for step in self.spec["steps"]:
            title = step.get("name") or step.get("uses") or step["run"].splitlines()[0]
            wanted = self.condition(step["if"]) if "if" in step else not failed
            if not wanted:
                log.append(f"--- {title}: skipped")
                continue
            log.append(f"--- {title}")
            try:
                code, out = self.step(step, files)
            except StepFailed as err:
                code, out = 1, str(err)
            log.append(out)
            failed = failed or code
        summary = files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
        aside = world.retire(self.workspace, self.name)
        return Job(self.name, not failed, failed, "\n".join(log), aside, summary)

    def step(self, step: dict, files: dict[str, Path]) -> tuple[int, str]:
        if "uses" in step:
            assert step["uses"] in ACTIONS, f"unknown action {step['uses']}: add it to ACTIONS"
            self.world.used.add(step["uses"])
            ACTIONS[step["uses"]](self.world, self, step)
            return 0, ""
        script = step["run"]
        assert "${{" not in script, f"pass expressions through env:, not into run: ({script!r})"
        env = {**self.env, **{k: self.expand(v) for k, v in (step.get("env") or {}).items()}}
        if script.strip() in RUN_SIMULATIONS:
            check_simulated_shell(script)
            self.world.used.add(script.strip())
            script = RUN_SIMULATIONS[script.strip()]
        done = bash(script, self.workspace, env, "-eo", "pipefail")
        for key, value in _key_values(files["GITHUB_ENV"]).items():
            self.env[key] = value
        if "id" in step:
            self.outputs[step["id"]] = _key_values(files["GITHUB_OUTPUT"])
        return done.returncode, done.stdout + done.stderr


def _key_values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)


def github_run(world: World, event: Event) -> dict[str, Job]:
    workflow = yaml.safe_load((RECIPES / "github-actions.yml").read_text(encoding="utf-8"))
    workspace = world.tmp / "runner" / "work" / "tuning" / "tuning"
    jobs = {}
    for name, spec in workflow["jobs"].items():
        job = GitHubJob(world, name, spec, workflow, event, workspace)
        if job.condition(spec["if"]):
            jobs[name] = job.run()
    return jobs


# ------------------------------------------------------------------------------------------------ GitLab CI/CD

RULES: dict[str, Callable[[dict[str, str]], bool]] = {
    '$CI_PIPELINE_SOURCE == "merge_request_event"': lambda v: v["CI_PIPELINE_SOURCE"] == "merge_request_event",
    '$CI_PIPELINE_SOURCE == "schedule"': lambda v: v["CI_PIPELINE_SOURCE"] == "schedule",
    '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH':
        lambda v: v["CI_PIPELINE_SOURCE"] == "push" and v.get("CI_COMMIT_BRANCH") == v["CI_DEFAULT_BRANCH"],
}
SOURCES = {"pull_request": "merge_request_event", "push": "push", "schedule": "schedule"}


def _expand_gitlab(text: str, variables: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"${name} is not a variable GitLab would have here"
        return variables[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, str(text))


def _merged(base: dict, extra: dict) -> dict:
    """`extends:`: hashes merge deeply, anything else (lists, strings) is replaced."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _rules(world: World, rules: list[dict], variables: dict[str, str]) -> bool:
    for rule in rules:
        assert set(rule) == {"if"} and rule["if"] in RULES, f"unknown rule {rule}: add it to RULES"
        world.used.add(rule["if"])
        if RULES[rule["if"]](variables):
            return True
    return False


def _items(world: World, items: list[str]) -> str:
    """The script items as one shell script (as the runner runs them), simulated items replaced."""
    lines = []
    for item in items:
        first = item.strip().splitlines()[0]
        if first in RUN_SIMULATIONS:
            check_simulated_shell(item)
            world.used.add(first)
            item = RUN_SIMULATIONS[first]
        lines.append(item)
    return "\n".join(lines) + "\n"


def gitlab_run(world: World, event: Event) -> dict[str, Job]:
    pipeline = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text(encoding="utf-8"))
    builds = world.tmp / "builds"
    variables = {"CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_SOURCE": SOURCES[event.kind],
                 "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_SHA": event.sha, "CI_BUILDS_DIR": str(builds),
                 "CI_PROJECT_PATH": "acme/tuning", "CI_PROJECT_NAME": "tuning", "CI_PROJECT_ID": "42",
                 "CI_API_V4_URL": "http://127.0.0.1:9/api/v4",   # nothing listens: a real API call fails
                 **({"CI_COMMIT_BRANCH": "main"} if event.kind != "pull_request" else
                    {"CI_MERGE_REQUEST_IID": str(event.pr)}),
                 **VARIABLES, **SECRETS}
    if not _rules(world, pipeline["workflow"]["rules"], variables):
        return {}
    for name, value in pipeline["variables"].items():
        variables[name] = _expand_gitlab(value, variables)
    workspace = Path(variables["GIT_CLONE_PATH"])
    assert workspace.is_relative_to(builds)
    jobs = {}
    for name, spec in pipeline.items():
        if name.startswith(".") or name in ("workflow", "variables", "default", "stages") or "extends" not in spec:
            continue
        spec = _merged(pipeline[spec["extends"]], spec)
        if _rules(world, spec["rules"], variables):
            jobs[name] = _gitlab_job(world, name, spec, dict(variables), event, workspace)
    return jobs


def _gitlab_job(world: World, name: str, spec: dict, variables: dict[str, str], event: Event,
                workspace: Path) -> Job:
    world.checkout(event.sha, workspace)
    variables["CI_PROJECT_DIR"] = str(workspace)
    variables["CI_JOB_NAME"] = name
    for key, value in (spec.get("variables") or {}).items():
        variables[key] = _expand_gitlab(value, variables)
    audience = _expand_gitlab(spec["id_tokens"]["GCP_ID_TOKEN"]["aud"], variables)
    assert audience == f"https://iam.googleapis.com/{PROVIDER}"
    note = world.tmp / f"note-{event.pr}.md"
    note.unlink(missing_ok=True)
    artifact = world.artifacts.get((event.pr, "reconciler-plan")) if event.kind == "push" else None
    env = {**world.runner_env(), **variables, **world.auth_env(), "GCP_ID_TOKEN": FAKE_OIDC_TOKEN,
           "SIMULATED_NOTE": str(note), "SIMULATED_ARTIFACT": str(artifact or "")}
    main = bash(_items(world, spec["before_script"] + spec["script"]), workspace, env, "-eo", "pipefail")
    log = main.stdout + main.stderr
    if spec.get("after_script"):
        after = bash(_items(world, spec["after_script"]), workspace, env, "-eo", "pipefail")
        log += after.stdout + after.stderr
    _check_adc_file(builds=Path(variables["CI_BUILDS_DIR"]), service_account=variables["GCP_SERVICE_ACCOUNT"])
    if note.exists():
        world.comments[event.pr] = note.read_text(encoding="utf-8")
    paths = (spec.get("artifacts") or {}).get("paths", [])
    if event.kind == "pull_request" and paths and (main.returncode == 0 or spec["artifacts"].get("when") == "always"):
        store = world.tmp / "artifacts" / f"mr{event.pr}-{name}"
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        for path in paths:
            if (workspace / path).is_file():
                shutil.copy(workspace / path, store / path)
        if main.returncode == 0:   # the apply job fetches the plan of the MR's successful pipeline only
            world.artifacts[(event.pr, spec["artifacts"]["name"])] = store
    aside = world.retire(workspace, name.replace(":", "-"))
    return Job(name, main.returncode == 0, main.returncode, log, aside)


def _check_adc_file(builds: Path, service_account: str) -> None:
    """The external-account file the recipe wrote is one google-auth loads (no network: nothing is exchanged)."""
    credentials = identity_pool.Credentials.from_file(str(builds / "gcp-credentials.json"))
    assert credentials.info["audience"] == f"//iam.googleapis.com/{PROVIDER}"
    assert credentials.service_account_email == service_account
    assert (builds / "gcp-oidc-token.jwt").read_text() == FAKE_OIDC_TOKEN


# ------------------------------------------------------------------------------------------------ the test

@pytest.fixture
def world(tmp_path: Path, spawn_emulator) -> World:
    cloud = spawn_emulator(state_file=tmp_path / "cloud.json")
    with httpx.Client(base_url=cloud.base_url, headers=VERTEX_AUTH, timeout=30) as http:   # as an operator
        created = http.post("/storage/v1/b", params={"project": PROJECT}, json={"name": BUCKET})  # would, once
    assert created.status_code == 200, created.text
    cloud.clear_requests()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "reconciler"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m reconciler "$@"\n')
    shim.chmod(0o755)
    (tmp_path / "home").mkdir()
    world = World(tmp_path, cloud, tmp_path / "origin", bin_dir)
    world.origin.mkdir()
    world.git("init", "-q", "-b", "main")
    (world.origin / "manifests").mkdir()
    (world.origin / "manifests" / "reconciler.yaml").write_text(CONFIG, encoding="utf-8")
    (world.origin / ".gitignore").write_text(".reconciler/\nreconciler.lock.backup\n*.plan.json\n")
    world.git("add", "-A")
    world.git("commit", "-q", "-m", "reconciler: the gcs state backend")
    return world


def commit_on_branch(world: World, branch: str, files: dict[str, str | Path]) -> str:
    world.git("checkout", "-q", "-b", branch, "main")
    for name, content in files.items():
        target = world.origin / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, target)
        else:
            target.write_text(content, encoding="utf-8")
    world.git("add", "-A")
    world.git("commit", "-q", "-m", f"{branch}")
    sha = world.git("rev-parse", "HEAD")
    world.git("checkout", "-q", "main")
    return sha


def example_manifests() -> dict[str, Path]:
    source = ROOT / "manifests"
    return {f"manifests/{p.relative_to(source)}": p for p in sorted(source.rglob("*"))
            if p.is_file() and str(p.relative_to(source)) not in LEFT_OUT}


def only(jobs: dict[str, Job], name: str) -> Job:
    assert list(jobs) == [name], f"expected only {name} to run, ran {list(jobs)}"
    return jobs[name]


RUNNERS = {"github": (github_run, "plan", "apply", "drift"),
           "gitlab": (gitlab_run, "reconciler:plan", "reconciler:apply", "reconciler:drift")}


@pytest.mark.parametrize("recipe", sorted(RUNNERS))
def test_the_ci_recipe_plans_in_review_applies_the_reviewed_plan_once_and_catches_drift(world: World, recipe):
    run, plan_job, apply_job, drift_job = RUNNERS[recipe]

    # 1. A PR with a broken manifest: the job fails, and the comment carries the diagnostics.
    broken = commit_on_branch(world, "broken", {"manifests/broken-bot.yaml": BROKEN})
    job = only(run(world, Event("pull_request", broken, pr=6)), plan_job)
    assert not job.ok and "Validation failed" in world.comments[6], job.log
    assert "unknown field 'epochs'; did you mean 'epochCount'?" in world.comments[6]
    assert (6, "reconciler-plan") not in world.artifacts

    # 2. The PR adding the manifests, in checkout A: a comment with the plan, the saved plan as an artifact.
    head = commit_on_branch(world, "tuning", example_manifests())
    job = only(run(world, Event("pull_request", head, pr=7)), plan_job)
    assert job.ok, job.log
    comment = world.comments[7]
    assert "**Plan: 4 to train ($).**" in comment and all(f"`{n}`" in comment for n in VERTEX_BOTS | GEMINI_BOTS)
    saved = json.loads((world.artifacts[(7, "reconciler-plan")] / "plan.json").read_text())
    assert {k: v for k, v in saved["summary"].items() if v} == {"train": 4} and saved["root"].endswith("/manifests")
    assert world.writes() == [], "planning writes nothing to the cloud"

    # 3. The merge, pushed to main, in checkout B: exactly the reviewed plan is applied; every job created once.
    world.git("merge", "-q", "--no-ff", "-m", "Merge !7", "tuning")
    merge = world.git("rev-parse", "HEAD")
    job = only(run(world, Event("push", merge, pr=7)), apply_job)
    assert job.ok, job.log
    assert world.creates() == {"tuningJobs": len(VERTEX_BOTS), "tunedModels": len(GEMINI_BOTS)}
    state = world.cloud.get(f"/storage/v1/b/{BUCKET}/o/{PREFIX.replace('/', '%2F')}%2Fdefault%2Freconciler.lock")
    assert int(state["generation"]) > 0
    names = [o["name"] for o in world.cloud.get(f"/storage/v1/b/{BUCKET}/o").get("items", [])]
    assert names == [f"{PREFIX}/default/reconciler.lock"], "the run lock was released"
    # the same reviewed plan again (a re-run of the job): stale, refused loudly, nothing created
    job = only(run(world, Event("push", merge, pr=7)), apply_job)
    assert not job.ok and "the saved plan is stale" in job.log, job.log
    assert world.creates() == {"tuningJobs": len(VERTEX_BOTS), "tunedModels": len(GEMINI_BOTS)}

    # 4. A push not merged from a PR, nothing to do: exit 0, nothing created or written.
    world.git("commit", "-q", "--allow-empty", "-m", "docs")
    before = len(world.writes())
    job = only(run(world, Event("push", world.git("rev-parse", "HEAD"))), apply_job)
    assert job.ok and job.code == 0, job.log
    assert len(world.writes()) == before

    # 5. The scheduled drift check, in checkout C: in sync, then drift made out of band, then an error.
    world.cloud.advance(120)   # every job succeeded: models live
    sha = world.git("rev-parse", "HEAD")
    job = only(run(world, Event("schedule", sha)), drift_job)
    assert job.ok, job.log
    models = world.cloud.listing(f"/v1/projects/{PROJECT}/locations/{LOCATION}/models", "models")
    support = next(m for m in models if m["labels"].get("reconciler-name") == "support-bot")
    with httpx.Client(base_url=world.cloud.base_url, headers=VERTEX_AUTH, timeout=30) as http:
        edited = http.patch(f"/v1/{support['name']}", params={"updateMask": "displayName"},
                            json={"displayName": "Edited by hand"})
    assert edited.status_code == 200, edited.text
    job = only(run(world, Event("schedule", sha)), drift_job)
    assert not job.ok and job.code == 2 and "Edited by hand" in job.log, job.log
    assert re.search(r"drift", job.log, re.I) and "an error, not drift" not in job.log
    if recipe == "github":
        assert "support-bot" in job.summary and "Edited by hand" in job.summary
    world.cloud.faults([{"method": "GET", "path": "*/tuningJobs", "status": 403}])
    job = only(run(world, Event("schedule", sha)), drift_job)
    assert not job.ok and job.code == 1 and "an error, not drift" in job.log, job.log
    world.cloud.clear_faults()
    assert world.creates() == {"tuningJobs": len(VERTEX_BOTS), "tunedModels": len(GEMINI_BOTS)}

    # every simulation the tables describe was needed by this recipe (none is dead weight hiding a rename)
    own = {"github": set(ACTIONS) | set(CONDITIONS) | set(EXPRESSIONS) | {'python -m pip install "$RECONCILER_PIP"'},
           "gitlab": set(RULES) | {k for k in RUN_SIMULATIONS if k != 'python -m pip install "$RECONCILER_PIP"'}}
    assert own[recipe] <= world.used, own[recipe] - world.used


def test_the_github_workflow_asks_for_the_least_it_needs():
    workflow = yaml.safe_load((RECIPES / "github-actions.yml").read_text(encoding="utf-8"))
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert jobs["apply"]["permissions"] == {"contents": "read", "pull-requests": "read", "actions": "read",
                                            "id-token": "write"}
    assert jobs["drift"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["apply"]["concurrency"] == {"group": "reconciler-${{ github.ref }}", "cancel-in-progress": False}
    assert "--lock-timeout" in "".join(s.get("run", "") for s in jobs["apply"]["steps"])
    assert set(workflow[True]) == {"pull_request", "push", "schedule"}   # YAML 1.1 reads `on:` as True


def test_the_gitlab_pipeline_serialises_applies():
    pipeline = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text(encoding="utf-8"))
    assert pipeline["reconciler:apply"]["resource_group"] == "reconciler-prod"
    assert "--lock-timeout" in "".join(pipeline["reconciler:apply"]["script"])
    assert pipeline["reconciler:plan"]["artifacts"]["paths"] == ["plan.json", "plan.md"]
