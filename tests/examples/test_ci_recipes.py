"""The CI recipes of examples/ci/, run: every shell line of both YAML files runs as written, with bash, against
one emulator (the "cloud") and the gcs state backend, each job in a fresh clone of a manifest repository.

Flow proven for each recipe (every job in its own checkout, at its own path: saved plans are portable):
  1. a merge request / pull request with a broken manifest: the job fails, and the comment (from
     `plan --markdown`, with its marker and the commit in the title) carries the located errors;
     a plan that fails for another reason (an API error) gets a short fallback comment, with the marker;
  2. the PR that adds the manifests, a fromManifest dependent included: a comment with the plan and its
     `then:` follow-up, the saved plan as an artifact, and nothing written to the cloud;
  3. the push of its merge to main: the saved plan is applied, every tuning job created exactly once (the
     dependent deferred: its upstream is training), the state in the bucket and its run lock released;
     re-running the job is a no-op that exits 0 ("already applied"), nothing created;
  4. a push not merged from a PR with nothing unreviewed to do (the reviewed follow-up pending): exit 0,
     nothing created or written;
  5. the scheduled follow-ups and drift jobs: while the upstream trains, the follow-up is deferred and the
     drift check passes; once it succeeded, the follow-ups job starts the dependent ("reviewed in plan") and
     leaves an out-of-band displayName edit alone, which the drift check then reports (exit 2, "drift");
     in sync once the edit is undone;
  6. two PRs planned from the same main: applying the first does not make the second's plan stale; a third
     whose model is edited out of band after its review is refused as stale ("was not applied"), nothing written;
  7. a model deleted out of band is drift (attention), and the follow-ups job retrains nothing; after an API
     error both scheduled jobs fail, the drift check saying it is an error, not drift.

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
Every job clones to a path of its own (as jobs on different self-hosted runners do), the previous job's checkout
moved away first: a saved plan records its root relative to the working directory, so it applies from any
checkout. A job runs after the jobs it `needs:`, and is skipped when one of them failed unless its condition says
`!cancelled()` (GitHub) or its rule `when: always` (GitLab).
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
from tests.testing.emulators import GEMINI_AUTH, VERTEX_AUTH

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
# The repository's examples, all of them: support-bot-continued (fromManifest: support-bot) is a reviewed
# follow-up of the plan that trains support-bot, started by the follow-ups job once support-bot succeeded.
LEFT_OUT = {"reconciler.yaml"}
VERTEX_BOTS, GEMINI_BOTS = {"support-bot", "support-bot-tier2"}, {"math-bot", "number-generator"}
DEPENDENT = "support-bot-continued"
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
    "# post plan.md as one note on the merge request, edited in place on every push: the note is found by the":
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
    "github.event.pull_request.head.sha": lambda job: job.event.sha,
}

# `if:` -> its value for a job (a step without `if:` runs while no earlier step failed).
CONDITIONS: dict[str, Callable[[GitHubJob], bool]] = {
    "github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name == github.repository":
        lambda job: job.event.kind == "pull_request" and not job.event.fork,
    "github.event_name == 'push' && github.ref == 'refs/heads/main'":
        lambda job: job.event.kind == "push" and job.ref == "refs/heads/main",
    "github.event_name == 'schedule'": lambda job: job.event.kind == "schedule",
    "!cancelled() && github.event_name == 'schedule'": lambda job: job.event.kind == "schedule",
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
                    "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242",
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
    jobs: dict[str, Job] = {}
    for name, spec in workflow["jobs"].items():   # in file order: a job comes after the jobs it needs
        workspace = world.tmp / f"runner-{world.runs + 1:02d}" / "work" / "tuning" / "tuning"
        job = GitHubJob(world, name, spec, workflow, event, workspace)
        needs = spec.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        assert all(n in workflow["jobs"] and list(workflow["jobs"]).index(n) < list(workflow["jobs"]).index(name)
                   for n in needs), f"{name} needs {needs}: list them first"
        if any(n not in jobs for n in needs) and not spec["if"].startswith("!cancelled()"):
            continue   # a needed job was skipped
        if any(not jobs[n].ok for n in needs if n in jobs) and not spec["if"].startswith("!cancelled()"):
            continue   # a needed job failed
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


def _rules(world: World, rules: list[dict], variables: dict[str, str]) -> str | None:
    """The `when:` of the first rule that matches (on_success unless it says), None when none does."""
    for rule in rules:
        assert set(rule) <= {"if", "when"} and rule["if"] in RULES, f"unknown rule {rule}: add it to RULES"
        assert rule.get("when", "on_success") in ("on_success", "always"), rule
        world.used.add(rule["if"])
        if RULES[rule["if"]](variables):
            return rule.get("when", "on_success")
    return None


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
                 "CI_COMMIT_SHORT_SHA": event.sha[:8], "CI_JOB_URL": "https://gitlab.com/acme/tuning/-/jobs/4242",
                 "CI_PROJECT_PATH": "acme/tuning", "CI_PROJECT_NAME": "tuning", "CI_PROJECT_ID": "42",
                 "CI_API_V4_URL": "http://127.0.0.1:9/api/v4",   # nothing listens: a real API call fails
                 **({"CI_COMMIT_BRANCH": "main"} if event.kind != "pull_request" else
                    {"CI_MERGE_REQUEST_IID": str(event.pr)}),
                 **VARIABLES, **SECRETS}
    if not _rules(world, pipeline["workflow"]["rules"], variables):
        return {}
    for name, value in pipeline["variables"].items():
        variables[name] = _expand_gitlab(value, variables)
    assert "GIT_CLONE_PATH" not in variables, "saved plans are portable: no pinned clone path"
    jobs: dict[str, Job] = {}
    for name, spec in pipeline.items():   # in file order: a job comes after the jobs it needs
        if name.startswith(".") or name in ("workflow", "variables", "default", "stages") or "extends" not in spec:
            continue
        spec = _merged(pipeline[spec["extends"]], spec)
        when = _rules(world, spec["rules"], variables)
        needs = spec.get("needs", [])
        assert all(isinstance(n, str) and n in pipeline and list(pipeline).index(n) < list(pipeline).index(name)
                   for n in needs), f"{name} needs {needs}: list them first"
        if when is None or (when != "always" and any(n not in jobs or not jobs[n].ok for n in needs)):
            continue
        workspace = builds / f"runner-{world.runs + 1:02d}" / variables["CI_PROJECT_PATH"]
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


def only(jobs: dict[str, Job], *names: str) -> Job:
    assert list(jobs) == list(names), f"expected only {names} to run, ran {list(jobs)}"
    return jobs[names[-1]]


RUNNERS = {"github": (github_run, "plan", "apply", "follow-ups", "drift"),
           "gitlab": (gitlab_run, "reconciler:plan", "reconciler:apply", "reconciler:follow-ups",
                      "reconciler:drift")}
MARKER = "<!-- reconciler-plan: manifests -->"


@pytest.mark.parametrize("recipe", sorted(RUNNERS))
def test_the_ci_recipe_plans_in_review_applies_the_reviewed_plan_then_its_follow_ups_and_catches_drift(
        world: World, recipe):
    run, plan_job, apply_job, follow_ups_job, drift_job = RUNNERS[recipe]
    trained = {"tuningJobs": len(VERTEX_BOTS), "tunedModels": len(GEMINI_BOTS)}

    # 1. A PR with a broken manifest: the job fails, and the comment (plan --markdown) carries the errors.
    broken = commit_on_branch(world, "broken", {"manifests/broken-bot.yaml": BROKEN})
    job = only(run(world, Event("pull_request", broken, pr=6)), plan_job)
    comment = world.comments[6]
    assert not job.ok and job.code == 1 and comment.startswith(MARKER + "\n"), job.log
    assert "The manifests are invalid" in comment and broken[:8] in comment.splitlines()[1]   # --title
    assert "`manifests/broken-bot.yaml:8:21`" in comment
    assert "unknown field 'epochs'; did you mean 'epochCount'?" in comment
    assert (6, "reconciler-plan") not in world.artifacts

    # 2. The PR adding the manifests. A plan that fails for another reason than validation (the API refuses):
    #    a short fallback comment, with the marker and no stderr text in it, and no artifact.
    head = commit_on_branch(world, "tuning", example_manifests())
    world.cloud.faults([{"method": "GET", "path": "*", "status": 403}])
    job = only(run(world, Event("pull_request", head, pr=7)), plan_job)
    world.cloud.clear_faults()
    comment = world.comments[7]
    assert not job.ok and comment.startswith(MARKER + "\n") and "**Plan failed** (exit 1)" in comment, job.log
    assert "403" not in comment and "`" not in comment and "403" in job.log, comment
    assert (7, "reconciler-plan") not in world.artifacts
    #    Re-run: the same sticky comment now holds the plan and its follow-up; the saved plan is the artifact.
    job = only(run(world, Event("pull_request", head, pr=7)), plan_job)
    assert job.ok, job.log
    comment = world.comments[7]
    assert comment.startswith(MARKER + "\n") and head[:8] in comment.splitlines()[1], comment
    assert all(f"`{n}`" in comment for n in VERTEX_BOTS | GEMINI_BOTS | {DEPENDENT}), comment
    assert re.search(rf"then:? .*train.*{DEPENDENT}", comment), comment
    saved = json.loads((world.artifacts[(7, "reconciler-plan")] / "plan.json").read_text())
    assert saved["root"] == "manifests"   # relative: it applies from any checkout
    assert {c["name"] for c in saved["changes"] if c["action"] == "train"} >= VERTEX_BOTS | GEMINI_BOTS
    assert world.writes() == [], "planning writes nothing to the cloud"

    # 3. The merge, pushed to main: exactly the reviewed plan is applied; every job created once, the dependent
    #    deferred (its upstream is training) and recorded as an authorized follow-up.
    world.git("merge", "-q", "--no-ff", "-m", "Merge !7", "tuning")
    merge = world.git("rev-parse", "HEAD")
    job = only(run(world, Event("push", merge, pr=7)), apply_job)
    assert job.ok and "deferred" in job.log, job.log
    assert world.creates() == trained
    state = world.cloud.get(f"/storage/v1/b/{BUCKET}/o/{PREFIX.replace('/', '%2F')}%2Fdefault%2Freconciler.lock")
    assert int(state["generation"]) > 0
    names = [o["name"] for o in world.cloud.get(f"/storage/v1/b/{BUCKET}/o").get("items", [])]
    assert names == [f"{PREFIX}/default/reconciler.lock"], "the run lock was released"
    # the same reviewed plan again (a re-run of the job): already applied, a no-op that passes, nothing created
    job = only(run(world, Event("push", merge, pr=7)), apply_job)
    assert job.ok and "was already applied" in job.log, job.log
    assert world.creates() == trained

    # 4. A push not merged from a PR, nothing unreviewed to do (only the reviewed follow-up): exit 0, no write.
    world.git("commit", "-q", "--allow-empty", "-m", "docs")
    sha = world.git("rev-parse", "HEAD")
    before = len(world.writes())
    job = only(run(world, Event("push", sha)), apply_job)
    assert job.ok and job.code == 0, job.log
    assert len(world.writes()) == before

    # 5. The schedule: follow-ups, then the drift check.
    #    a. The upstream still trains: the follow-up waits, and a pending reviewed follow-up is not drift.
    jobs = run(world, Event("schedule", sha))
    only(jobs, follow_ups_job, drift_job)
    assert jobs[follow_ups_job].ok and "deferred" in jobs[follow_ups_job].log, jobs[follow_ups_job].log
    assert jobs[drift_job].ok and "Only reviewed follow-ups are pending" in jobs[drift_job].log, jobs[drift_job].log
    assert world.creates() == trained
    #    b. Every job succeeded, and a live model is edited out of band: the follow-ups job starts the dependent
    #       (reviewed in plan ...) and reverts nothing; the drift check reports the edit.
    world.cloud.advance(120)
    models = world.cloud.listing(f"/v1/projects/{PROJECT}/locations/{LOCATION}/models", "models")
    support = next(m for m in models if m["labels"].get("reconciler-name") == "support-bot")
    with httpx.Client(base_url=world.cloud.base_url, headers=VERTEX_AUTH, timeout=30) as http:
        edited = http.patch(f"/v1/{support['name']}", params={"updateMask": "displayName"},
                            json={"displayName": "Edited by hand"})
        assert edited.status_code == 200, edited.text
        patches = len([w for w in world.writes() if w["method"] == "PATCH"])
        jobs = run(world, Event("schedule", sha))
        only(jobs, follow_ups_job, drift_job)
        follow_ups, drift = jobs[follow_ups_job], jobs[drift_job]
        assert follow_ups.ok and f"+ train {DEPENDENT}" in follow_ups.log and "reviewed in plan" in follow_ups.log
        assert world.creates() == {**trained, "tuningJobs": trained["tuningJobs"] + 1}, follow_ups.log
        assert len([w for w in world.writes() if w["method"] == "PATCH"]) == patches, "no unreviewed update"
        assert http.get(f"/v1/{support['name']}").json()["displayName"] == "Edited by hand"
        assert not drift.ok and drift.code == 2 and "Edited by hand" in drift.log, drift.log
        assert re.search(r"drift", drift.log, re.I) and "an error, not drift" not in drift.log
        if recipe == "github":
            assert "support-bot" in drift.summary and "Edited by hand" in drift.summary
        #  c. The edit undone by hand, the dependent trained: in sync, nothing to follow up.
        undone = http.patch(f"/v1/{support['name']}", params={"updateMask": "displayName"},
                            json={"displayName": support["displayName"]})
        assert undone.status_code == 200, undone.text
    world.cloud.advance(120)
    jobs = run(world, Event("schedule", sha))
    only(jobs, follow_ups_job, drift_job)
    assert jobs[follow_ups_job].ok and jobs[drift_job].ok, jobs[follow_ups_job].log + jobs[drift_job].log
    assert "No drift" in jobs[drift_job].log, jobs[drift_job].log

    # 6. Two PRs planned from the same main: applying one does not make the other's plan stale. A third, whose
    #    model is edited out of band after its review, is refused as stale and nothing is written.
    tier2 = (ROOT / "manifests" / "vertex" / "support-bot-tier2.yaml").read_text(encoding="utf-8")
    numbers = (ROOT / "manifests" / "gemini" / "number-generator.yaml").read_text(encoding="utf-8")
    def renamed(text: str, old: str, new: str) -> str:
        assert f"displayName: {old}\n" in text
        return text.replace(f"displayName: {old}\n", f"displayName: {new}\n")
    pr8 = commit_on_branch(world, "pr8", {"manifests/vertex/support-bot-tier2.yaml":
                                          renamed(tier2, "Support bot (tier 2)", "Support bot (escalations)")})
    pr9 = commit_on_branch(world, "pr9", {"manifests/gemini/number-generator.yaml":
                                          renamed(numbers, "number generator model", "Number generator")})
    for number, head in ((8, pr8), (9, pr9)):
        assert only(run(world, Event("pull_request", head, pr=number)), plan_job).ok
        assert "**Plan: 1 to update.**" in world.comments[number], world.comments[number]
    for number, branch in ((8, "pr8"), (9, "pr9")):
        world.git("merge", "-q", "--no-ff", "-m", f"Merge !{number}", branch)
        job = only(run(world, Event("push", world.git("rev-parse", "HEAD"), pr=number)), apply_job)
        assert job.ok and "stale" not in job.log, job.log
    patched = [w for w in world.writes() if w["method"] == "PATCH"]
    assert len(patched) == patches + 1 + 2, patched   # the hand edit's undo, then one update per PR
    pr10 = commit_on_branch(world, "pr10", {"manifests/gemini/number-generator.yaml":
                                            renamed(numbers, "number generator model", "Numbers")})
    assert only(run(world, Event("pull_request", pr10, pr=10)), plan_job).ok
    with httpx.Client(base_url=world.cloud.base_url, headers=GEMINI_AUTH, timeout=30) as http:
        edited = http.patch(f"/v1beta/tunedModels/{_tuned_model_id(world, 'number-generator')}",
                            params={"updateMask": "displayName"}, json={"displayName": "Edited by hand"})
    assert edited.status_code == 200, edited.text
    world.git("merge", "-q", "--no-ff", "-m", "Merge !10", "pr10")
    before = len(world.writes())
    job = only(run(world, Event("push", world.git("rev-parse", "HEAD"), pr=10)), apply_job)
    assert not job.ok and job.code == 1 and "stale" in job.log and "was not applied" in job.log, job.log
    assert [w for w in world.writes()[before:] if "/o" not in w["path"]] == [], "nothing but the state lock"
    sha = world.git("rev-parse", "HEAD")

    # 7. A production model deleted out of band: drift (a fact that needs attention); nothing retrains it.
    with httpx.Client(base_url=world.cloud.base_url, headers=GEMINI_AUTH, timeout=30) as http:
        gone = http.delete(f"/v1beta/tunedModels/{_tuned_model_id(world, 'math-bot')}")
    assert gone.status_code == 200, gone.text
    jobs = run(world, Event("schedule", sha))
    only(jobs, follow_ups_job, drift_job)
    assert jobs[follow_ups_job].ok and world.creates()["tunedModels"] == trained["tunedModels"]
    drift = jobs[drift_job]
    assert not drift.ok and drift.code == 2 and "math-bot" in drift.log and "an error, not drift" not in drift.log
    #    An API error: both fail, and the drift check (which runs even so) says it is an error, not drift.
    world.cloud.faults([{"method": "GET", "path": "*/tuningJobs", "status": 403}])
    jobs = run(world, Event("schedule", sha))
    only(jobs, follow_ups_job, drift_job)
    assert not jobs[follow_ups_job].ok, jobs[follow_ups_job].log
    drift = jobs[drift_job]
    assert not drift.ok and drift.code == 1 and "an error, not drift" in drift.log, drift.log
    world.cloud.clear_faults()
    assert world.creates() == {**trained, "tuningJobs": trained["tuningJobs"] + 1}

    # every simulation the tables describe was needed by this recipe (none is dead weight hiding a rename)
    own = {"github": set(ACTIONS) | set(CONDITIONS) | set(EXPRESSIONS) | {'python -m pip install "$RECONCILER_PIP"'},
           "gitlab": set(RULES) | {k for k in RUN_SIMULATIONS if k != 'python -m pip install "$RECONCILER_PIP"'}}
    assert own[recipe] <= world.used, own[recipe] - world.used


def _tuned_model_id(world: World, name: str) -> str:
    models = world.cloud.listing("/v1beta/tunedModels", "tunedModels")
    return next(m["name"].split("/")[-1] for m in models if m["name"].split("/")[-1].startswith(f"{name}-"))


def test_the_github_workflow_asks_for_the_least_it_needs():
    workflow = yaml.safe_load((RECIPES / "github-actions.yml").read_text(encoding="utf-8"))
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert jobs["apply"]["permissions"] == {"contents": "read", "pull-requests": "read", "actions": "read",
                                            "id-token": "write"}
    assert jobs["follow-ups"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["drift"]["permissions"] == {"contents": "read", "id-token": "write"}
    for writer in ("apply", "follow-ups"):   # the two jobs that change things run one at a time, never cancelled
        assert jobs[writer]["concurrency"] == {"group": "reconciler-${{ github.ref }}", "cancel-in-progress": False}
        assert "--lock-timeout" in "".join(s.get("run", "") for s in jobs[writer]["steps"])
    assert "--reviewed-only" in "".join(s.get("run", "") for s in jobs["follow-ups"]["steps"])
    runs = "\n".join(s.get("run", "") for job in jobs.values() for s in job["steps"])
    assert not re.search(r"reconciler apply[^\n]*--yes", runs), "nothing is applied unreviewed"
    assert set(workflow[True]) == {"pull_request", "push", "schedule"}   # YAML 1.1 reads `on:` as True


def test_the_gitlab_pipeline_serialises_applies():
    pipeline = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text(encoding="utf-8"))
    for writer in ("reconciler:apply", "reconciler:follow-ups"):
        assert pipeline[writer]["resource_group"] == "reconciler-prod"
        assert "--lock-timeout" in "".join(pipeline[writer]["script"])
    assert "--reviewed-only" in "".join(pipeline["reconciler:follow-ups"]["script"])
    assert pipeline["reconciler:plan"]["artifacts"]["paths"] == ["plan.json", "plan.md"]
