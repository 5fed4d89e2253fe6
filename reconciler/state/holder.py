"""Who holds the run lock: the record both backends write into their lock (a file beside the state, or an object
beside it in a bucket), and read back to name the holder to anyone who finds the state locked."""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from reconciler.state.model import utc_now

@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the run lock; `lock_id` is what `reconciler force-unlock` must be given."""

    pid: int
    host: str
    command: str
    started: str
    lock_id: str = ""
    user: str = ""
    directory: str = ""
    ci: str = ""  # a link to the CI run holding it, when there is one
    lease_expires: str = ""  # remote locks: the holder renews this while it runs
    previous: Holder | None = field(default=None, compare=False)  # a dead holder this one took over from

    @classmethod
    def me(cls, command: str, *, previous: Holder | None = None, lease_expires: str = "") -> Holder:
        return cls(pid=os.getpid(), host=socket.gethostname(), command=command, started=utc_now(),
                   lock_id=secrets.token_hex(8), user=_user(), directory=os.getcwd(), ci=ci_link(os.environ),
                   lease_expires=lease_expires, previous=previous)

    def to_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "previous"}
        return {k: v for k, v in data.items() if v != ""}

    def text(self) -> bytes:
        return (json.dumps(self.to_json(), sort_keys=True) + "\n").encode()

    @classmethod
    def from_text(cls, text: str) -> Holder | None:
        """The holder recorded in a lock, or None when the record is missing or unreadable."""
        try:
            data = json.loads(text)
            holder = cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data and f.name != "previous"})
        except (ValueError, TypeError, KeyError):
            return None
        strings = [getattr(holder, f.name) for f in fields(cls) if f.name not in ("pid", "previous")]
        valid = isinstance(holder.pid, int) and not isinstance(holder.pid, bool) and all(
            isinstance(v, str) for v in strings)
        return holder if valid else None

    def describe(self) -> str:
        who = f"{self.user}@{self.host}" if self.user else f"host {self.host}"
        what = f"pid {self.pid} on {who} ({self.command}, started {self.started}"
        if self.lease_expires:
            what += f", lease until {self.lease_expires}"
        if self.ci:
            what += f", {self.ci}"
        what += ")"
        return f"{what}, lock ID {self.lock_id}" if self.lock_id else what


def ci_link(env: Mapping[str, str]) -> str:
    """Where the CI run holding the lock can be seen: GitHub Actions, GitLab CI or Jenkins; "" elsewhere."""
    github = [env.get(n) for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if all(github):
        return f"{github[0].rstrip('/')}/{github[1]}/actions/runs/{github[2]}"
    return env.get("CI_JOB_URL") or env.get("BUILD_URL") or ""


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container with an arbitrary uid)
        return ""
