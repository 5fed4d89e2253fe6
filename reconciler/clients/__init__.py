"""API clients: Vertex AI and the Gemini API over one shared HTTP policy.

`connect` is the wiring the CLI needs: credentials per platform from the environment (or the emulator's
fake ones), an optional endpoint override for every call, and one rate limiter shared by all workers.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import httpx

from reconciler.clients.auth import resolve_auth, resolve_endpoint
from reconciler.clients.gemini import GeminiClient
from reconciler.clients.http import RateLimiter, RetryPolicy, Session
from reconciler.clients.vertex import VertexClient

__all__ = ["Clients", "GeminiClient", "RateLimiter", "RetryPolicy", "Session", "VertexClient", "connect"]

USER_AGENT = "reconciler"


@dataclass
class Clients:
    """The clients for the platforms asked for (None for the others); close it, or use it as a context."""

    vertex: VertexClient | None = None
    gemini: GeminiClient | None = None
    limiter: RateLimiter | None = None
    _owned: list[httpx.Client] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for client in self._owned:
            client.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(platforms: Collection[str], *, api_endpoint: str | None = None, emulator: bool = False,
            env: Mapping[str, str] | None = None, limiter: RateLimiter | None = None,
            policy: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None) -> Clients:
    """Clients for `platforms` ("vertex", "gemini-api").

    api_endpoint: the `--api-endpoint` flag (RECONCILER_API_ENDPOINT otherwise) sends every call there.
    emulator: use the fixed fake credentials the emulator accepts (requires an endpoint).
    Raises UserError when a platform has no credentials.
    """
    env = os.environ if env is None else env
    endpoint = resolve_endpoint(api_endpoint, env)
    if emulator and endpoint is None:
        raise ValueError("emulator mode needs the emulator's URL as api_endpoint")
    # The emulator has no steady quota (it can inject 429s): there, only server push-back slows workers down.
    limiter = limiter or (RateLimiter(rate=10_000, burst=10_000) if emulator else RateLimiter())
    clients = Clients(limiter=limiter)
    tls = httpx.create_ssl_context()  # one TLS context for every client: building each costs ~40 ms
    token_client = httpx.Client(transport=transport, headers={"user-agent": USER_AGENT}, verify=tls)
    clients._owned.append(token_client)
    try:
        for platform in sorted(set(platforms)):
            auth = resolve_auth(platform, token_client=token_client, env=env, emulator=emulator)
            http = httpx.Client(auth=auth, transport=transport, headers={"user-agent": USER_AGENT}, verify=tls)
            clients._owned.append(http)
            if platform == "vertex":
                clients.vertex = VertexClient(http, endpoint=endpoint, policy=policy, limiter=limiter)
            else:
                clients.gemini = GeminiClient(http, endpoint=endpoint, policy=policy, limiter=limiter)
    except BaseException:
        clients.close()
        raise
    return clients
