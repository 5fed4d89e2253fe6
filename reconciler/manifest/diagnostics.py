"""Collecting located diagnostics while loading, and the small wording helpers every stage shares.

Credentials: `Diagnostics.secrets` holds the current values of the credential variables reconciler reads, from
os.environ and from the environment manifests are interpolated from (given by the loader). No
manifest value may contain one, and no diagnostic ever quotes one: they are masked as `<VARIABLE>`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yaml.nodes import Node

from reconciler.errors import Diagnostic

MAX_MESSAGE = 400
# The variables reconciler takes credentials from (reconciler.clients.auth: TOKEN_ENV, API_KEY_ENVS; not imported
# here, as that would load httpx and google-auth into `validate`). GOOGLE_APPLICATION_CREDENTIALS names a file.
CREDENTIAL_VARIABLES = ("GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_API_KEY", "GEMINI_API_KEY")
MIN_SECRET_LENGTH = 8  # shorter values ("x", as the emulator accepts) are too common to refuse by value


def credentials(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(variable, value) of every credential variable `env` sets to at least MIN_SECRET_LENGTH characters."""
    return tuple((name, env[name]) for name in CREDENTIAL_VARIABLES if len(env.get(name) or "") >= MIN_SECRET_LENGTH)


@dataclass
class Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)
    # (variable, value) of the credentials reconciler would call the APIs with (and, when the loader is given
    # another environment to interpolate from, of those in it)
    secrets: tuple[tuple[str, str], ...] = field(default_factory=lambda: credentials(os.environ))

    # variable -> every (path, line, col) that uses it unset: one error per variable, however many uses
    unset: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)

    def unset_variable(self, name: str, path: str, node: Node) -> None:
        place = (self._masked(path), node.start_mark.line + 1, node.start_mark.column + 1)
        uses = self.unset.setdefault(name, [])
        if place not in uses:
            uses.append(place)

    def add(self, path: str, line: int, col: int, message: str, severity: str = "error") -> None:
        path, message = self._masked(path), self._masked(message)  # before the cut, which could leave half a one
        if len(message) > MAX_MESSAGE:  # a message quotes user input, which may be huge
            message = message[:MAX_MESSAGE - 3] + "..."
        self.items.append(Diagnostic(path, line, col, message, severity))

    def at(self, path: str, node: Node, message: str, severity: str = "error") -> None:
        self.add(path, node.start_mark.line + 1, node.start_mark.column + 1, message, severity)

    def _masked(self, text: str) -> str:
        for name, secret in self.secrets:
            if secret in text:
                text = text.replace(secret, f"<{name}>")
        return text

    @property
    def count(self) -> int:
        """How many diagnostics and uses of unset variables were recorded so far."""
        return len(self.items) + sum(len(places) for places in self.unset.values())

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(sorted(d for d in self.items if d.severity == "warning"))


MAX_ROW_ERRORS = 20  # located row errors reported per file of examples; the rest are counted
RECOMMENDED_EXAMPLES = 100  # the guides' minimum for good results (Vertex AI: 100-500; the Gemini API tutorial)


def more_invalid(bad: int) -> str:
    """What is said of the row errors past MAX_ROW_ERRORS."""
    return f"{bad - MAX_ROW_ERRORS} more rows are invalid"


def few_examples(rows: int) -> str:
    return f"only {rows} training examples; at least {RECOMMENDED_EXAMPLES} are recommended for good results"


def secret_refused(subject: str, remedy: str) -> str:
    """The message for a manifest value that would carry a credential: `subject` names the credential."""
    return (f"{subject}, a credential reconciler calls the APIs with; manifest values are shown in plans, diffs "
            f"and pull-request comments and written to the lock file, so they must never hold one: {remedy}")


def holds_secret(where: str, name: str) -> str:
    """The message for `where` (a value, a row) holding the current value of the credential variable `name`."""
    return secret_refused(f"{where} contains the value of {name}", "remove it, and rotate the credential if this "
                          "file was ever committed or shared")


def brief(value: Any) -> str:
    """A value as a message quotes it: repr, cut short."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "a huge number"
    return text if len(text) <= 60 else f"{text[:57]}..."


def did_you_mean(value: Any, choices: Any) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
