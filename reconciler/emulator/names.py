"""Resource-name helpers: project numbers, generated IDs."""

from __future__ import annotations

import hashlib
import random
import re
import string

_random = random.SystemRandom()


def project_number(project: str) -> str:
    """Names returned by Vertex use the project NUMBER; derive a stable 12-digit one from a project ID."""
    if project.isdigit():
        return project
    digest = int(hashlib.sha256(project.encode("utf-8")).hexdigest(), 16)
    return str(digest % 900_000_000_000 + 100_000_000_000)


_PROJECT_RE = re.compile(r"^projects/([^/]+)/")


def canonical(name: str) -> str:
    """`projects/my-project/...` -> `projects/123456789012/...` (accept either in requests)."""
    match = _PROJECT_RE.match(name)
    if not match:
        return name
    return f"projects/{project_number(match.group(1))}/" + name[match.end():]


def numeric_id(digits: int, taken: set[str] | dict | None = None) -> str:
    while True:
        candidate = str(_random.randrange(10 ** (digits - 1), 10 ** digits))
        if not taken or candidate not in taken:
            return candidate


def slug_id(length: int) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return _random.choice(string.ascii_lowercase) + "".join(_random.choice(alphabet) for _ in range(length - 1))


def stable_int(text: str, low: int, high: int) -> int:
    """A deterministic pseudo-random integer in [low, high] derived from `text`."""
    digest = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], 16)
    return low + digest % (high - low + 1)
