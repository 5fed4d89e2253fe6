"""reconciler.yaml's `stack:` and `state:`, and the workspace: what is accepted, and what each refusal says."""

from __future__ import annotations

import pytest

from reconciler import manifest
from reconciler.errors import ManifestError
from tests.testing.manifests import VERTEX

ACCEPTED = [
    # reconciler.yaml, workspace -> (backend, bucket, prefix, stack, identity, lock file name)
    ("", None, ("local", None, "", None, None, "reconciler.lock")),
    ("stack: acme-tuning\n", None, ("local", None, "", "acme-tuning", "acme-tuning", "reconciler.lock")),
    ("stack: acme\n", "staging", ("local", None, "", "acme", "acme_staging", "reconciler.staging.lock")),
    ("stack: acme\nlockFile: state/models.json\n", "prod", ("local", None, "", "acme", "acme_prod",
                                                             "models.prod.json")),
    ("stack: acme\nstate: {backend: gcs, bucket: acme-state, prefix: tuning/prod}\n", None,
     ("gcs", "acme-state", "tuning/prod", "acme", "acme", "reconciler.lock")),
    ("stack: acme\nstate: {backend: gcs, bucket: acme-state}\n", "default",
     ("gcs", "acme-state", "", "acme", "acme", "reconciler.lock")),
]

REFUSED = [
    # reconciler.yaml, workspace -> what the message says
    ("state: {backend: gcs}\n", None, "backend gcs needs a bucket"),
    ("state: {backend: s3, bucket: b}\n", None, "'gcs'"),
    ("state: {bucket: acme-state}\n", None, "bucket and prefix are for `backend: gcs`"),
    ("state: {backend: gcs, bucket: Bad_Bucket!}\n", None, "invalid bucket name"),
    ("state: {backend: gcs, bucket: acme, prefix: /abs}\n", None, "invalid prefix '/abs'"),
    ("state: {backend: gcs, bucket: acme, prefix: a/../b}\n", None, "invalid prefix"),
    ("stack: Acme\n", None, "invalid stack 'Acme'"),
    ("stack: " + "a" * 31 + "\n", None, "invalid stack"),
    ("", "staging", "workspace 'staging' needs a `stack:`"),
    ("defaults: {}\n", "staging", "workspace 'staging' needs a `stack:`"),
    ("stack: acme\n", "Prod!", "invalid workspace 'Prod!'"),
]


def _root(tmp_path, config: str):
    (tmp_path / "bot.yaml").write_text(VERTEX)
    if config:
        (tmp_path / "reconciler.yaml").write_text(config)
    return tmp_path


@pytest.mark.parametrize(("config", "workspace", "expected"), ACCEPTED)
def test_accepted(tmp_path, config, workspace, expected):
    env = {"RECONCILER_WORKSPACE": workspace} if workspace else {}
    loaded = manifest.load(_root(tmp_path, config), env=env).config
    backend, bucket, prefix, stack, identity, lock_name = expected
    assert (loaded.state.backend, loaded.state.bucket, loaded.state.prefix) == (backend, bucket, prefix)
    assert (loaded.stack, loaded.identity, loaded.lock_path.name) == (stack, identity, lock_name)


@pytest.mark.parametrize(("config", "workspace", "message"), REFUSED)
def test_refused(tmp_path, config, workspace, message):
    env = {"RECONCILER_WORKSPACE": workspace} if workspace else {}
    with pytest.raises(ManifestError) as raised:
        manifest.load(_root(tmp_path, config), env=env)
    assert message in "\n".join(str(d) for d in raised.value.diagnostics)


def test_the_workspace_interpolates_in_manifests(tmp_path):
    (tmp_path / "reconciler.yaml").write_text("stack: acme\n")
    (tmp_path / "bot.yaml").write_text(VERTEX.replace("Support bot", "Support bot ${RECONCILER_WORKSPACE}"))
    assert manifest.load(tmp_path, env={}).resources["support-bot"].mutable["displayName"] == "Support bot default"
    staged = manifest.load(tmp_path, env={"RECONCILER_WORKSPACE": "staging"})
    assert staged.resources["support-bot"].mutable["displayName"] == "Support bot staging"
