"""Opening the state backend reconciler.yaml chooses: the local lock file, or a Cloud Storage object (connected,
and with `--emulator` its bucket created, for the length of the command)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reconciler.desired import Config
from reconciler.errors import UserError
from reconciler.state.backend import StateBackend
from reconciler.state.local import LocalBackend


@contextmanager
def open_backend(config: Config, *, api_endpoint: str | None = None,
                 emulator: bool = False) -> Iterator[StateBackend]:
    """The state backend reconciler.yaml chooses."""
    if config.state.backend == "local":
        yield LocalBackend(config.lock_path)
        return
    from reconciler.platforms.connect import connect_storage
    from reconciler.state.gcs import GcsBackend

    settings, lease = config.state, lease_seconds()
    with connect_storage(api_endpoint=api_endpoint, emulator=emulator) as client:
        if emulator:
            ensure_bucket(client, config.defaults.project or "emulator-project", settings.bucket)
        yield GcsBackend(client, settings.bucket, settings.prefix, config.workspace, lease=lease)


def ensure_bucket(client: Any, project: str, bucket: str) -> None:
    """`--emulator` starts empty: create the configured bucket there (the state's, the staging location's), so
    that a demo needs one command."""
    from reconciler.errors import AlreadyExists

    try:
        client.create_bucket(project, bucket)
    except AlreadyExists:  # 409: the emulator's state kept it from an earlier run
        pass


LEASE_VARIABLE = "RECONCILER_STATE_LEASE"  # seconds a remote run lock lives unless renewed (default 60)


def lease_seconds() -> float:
    from reconciler.state.lease import DEFAULT_LEASE, MAX_LEASE, MIN_LEASE  # shorter: not renewed in time

    text = os.environ.get(LEASE_VARIABLE, f"{DEFAULT_LEASE:g}")
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not MIN_LEASE <= seconds <= MAX_LEASE:
        raise UserError(f"{LEASE_VARIABLE}: not a number of seconds between {MIN_LEASE:g} and {MAX_LEASE:g}: "
                        f"{text!r}")
    return seconds
