"""Every error the product raises on purpose, and the exit code each one means.

Foreign errors (YAML, pydantic, httpx, google.rpc) are translated into these once, at the boundary that
first sees them; `cli` maps them to exit codes in one place. Anything else that escapes is a bug (exit 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal


class ReconcilerError(Exception):
    """Base class: a failure we understand and can explain to a person."""

    exit_code = 1


class UserError(ReconcilerError):
    """Bad input or a refused request; the message says where and what to do."""


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One located problem in the user's files: `path:line:col: message`."""

    path: str
    line: int
    col: int
    message: str
    severity: Literal["error", "warning"] = "error"
    # a diagnostic that stands for the same problem in several places (grouped, cause first): how many, and
    # where ("path:line:col", this one first); the message says so too
    count: int = field(default=1, compare=False)
    locations: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        """One line for a terminal or CI log: control characters in the path or message (a file name may hold
        an ESC) are shown escaped, `\\x1b`, never interpreted. `to_json` keeps them exact."""
        path = self.escaped(self.path)
        where = path if self.line <= 0 else f"{path}:{self.line}:{self.col}"
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{self.escaped(self.message)}"

    # C0 and C1 controls and DEL as \xNN; the bidirectional marks and overrides that reorder a line as \uNNNN
    _ESCAPES: ClassVar[dict[int, str]] = {
        **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},
        **{c: f"\\u{c:04x}" for c in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}}

    @classmethod
    def escaped(cls, text: str) -> str:
        """`text` with every control character shown as an escape, so that no terminal interprets it."""
        return text if text.isprintable() else text.translate(cls._ESCAPES)

    def to_json(self) -> dict:
        grouped = {"count": self.count, "locations": list(self.locations)} if self.count > 1 else {}
        return {"path": self.path, "line": self.line, "col": self.col,
                "message": self.message, "severity": self.severity, **grouped}


class ManifestError(UserError):
    """One or more located problems in the manifests; all of them, not just the first."""

    def __init__(self, diagnostics: list[Diagnostic], *, ordered: bool = False):
        # `ordered`: the order given is the one to show (the loader puts causes first), else by place
        self.diagnostics = list(diagnostics) if ordered else sorted(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        super().__init__("\n".join(str(d) for d in errors) or "invalid manifests")


class LockfileError(UserError):
    """The lock file is corrupt, from a newer version, or otherwise unusable."""


class StalePlanError(UserError):
    """A saved plan no longer matches the lock or the live state."""


class StateLockedError(ReconcilerError):
    """Another run holds the exclusive state lock."""

    exit_code = 4


class ApiError(ReconcilerError):
    """A google.rpc error (or a transport failure) from one of the APIs, translated once."""

    status = "UNKNOWN"

    def __init__(self, message: str, *, method: str = "", url: str = "", http_status: int = 0,
                 status: str | None = None, details: list | None = None):
        self.method, self.url, self.http_status = method, url, http_status
        if status:
            self.status = status
        self.details = details or []
        self.api_message = message
        where = f"{method} {url}: " if method else ""
        super().__init__(f"{where}{self.status} ({http_status}): {message}" if http_status
                         else f"{where}{message}")


class InvalidArgument(ApiError):
    status = "INVALID_ARGUMENT"


class FailedPrecondition(ApiError):
    status = "FAILED_PRECONDITION"


class Unauthenticated(ApiError):
    status = "UNAUTHENTICATED"


class PermissionDenied(ApiError):
    status = "PERMISSION_DENIED"


class NotFound(ApiError):
    status = "NOT_FOUND"


class AlreadyExists(ApiError):
    status = "ALREADY_EXISTS"


class Aborted(ApiError):
    status = "ABORTED"


class ResourceExhausted(ApiError):
    status = "RESOURCE_EXHAUSTED"


class Unavailable(ApiError):
    status = "UNAVAILABLE"


class DeadlineExceeded(ApiError):
    status = "DEADLINE_EXCEEDED"


class Internal(ApiError):
    status = "INTERNAL"


class TransportError(ApiError):
    """No HTTP answer at all (connection refused, reset, timeout): the outcome is unknown."""

    status = "TRANSPORT"


API_ERRORS_BY_STATUS: dict[str, type[ApiError]] = {
    cls.status: cls for cls in (InvalidArgument, FailedPrecondition, Unauthenticated, PermissionDenied,
                                NotFound, AlreadyExists, Aborted, ResourceExhausted, Unavailable,
                                DeadlineExceeded, Internal)
}


class BadResponse(ApiError):
    """A server answered, but not with what the method returns: a redirect, a body that is not a JSON object
    (or not `application/json`), an `error` in a success, a required field missing or of the wrong type."""

    status = "BAD_RESPONSE"


class ResponseTooLarge(BadResponse):
    """A response body over the size cap, refused while it streamed in (never buffered whole)."""

    status = "RESPONSE_TOO_LARGE"


class NotOwned(FailedPrecondition):
    """A resource the state points at does not carry this tool's ownership labels for that manifest: it is
    never deleted or changed."""

    status = "NOT_OWNED"
