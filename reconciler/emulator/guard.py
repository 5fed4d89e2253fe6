"""What keeps web pages from driving the unauthenticated admin surface (`/__emulator__/`) through a browser.

A page may send a cross-origin "simple request" (GET, or POST with a text/plain or form body) without any CORS
preflight. So an admin call with a body must say `Content-Type: application/json` (415 otherwise), which no
simple request can; a mutating call that carries an `Origin` header (browsers add one, other clients do not) must
come from the emulator's own origin; and while the emulator listens on loopback only, an admin call must be
addressed to a loopback name (`Host`), which defeats DNS rebinding. The API surfaces are not affected."""

from __future__ import annotations

from .limits import is_loopback
from .rpc import TYPE_PREFIX, RpcError

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()


def admin_refusal(method: str, headers: dict[str, str], raw_body: bytes, *, loopback: bool) -> RpcError | None:
    """Why an admin call is refused, or None. `loopback`: the emulator listens on a loopback address only."""
    host = headers.get("host", "").strip()
    if loopback and host and not is_loopback(_hostname(host)):
        return RpcError("PERMISSION_DENIED", f"The admin API answers only calls addressed to a loopback name "
                                             f"(localhost, 127.0.0.1, [::1]), not Host {host!r}.")
    origin = headers.get("origin")
    if method in MUTATING and origin is not None and origin.strip().rstrip("/").lower() != f"http://{host}".lower():
        return RpcError("PERMISSION_DENIED", f"Cross-origin admin calls are refused (Origin {origin!r}): drive "
                                             "the admin API from a test or a script, not from a web page.")
    if method in MUTATING and raw_body and _media_type(headers) != "application/json":
        sent = _media_type(headers) or "none"
        detail = {"@type": TYPE_PREFIX + "google.rpc.BadRequest", "fieldViolations": [
            {"field": "Content-Type", "description": "The admin API takes JSON bodies only."}]}
        return RpcError("INVALID_ARGUMENT", f"Unsupported Content-Type {sent!r}: send the admin request body as "
                                            "JSON with the header Content-Type: application/json.",
                        [detail], http_status=415)
    return None
