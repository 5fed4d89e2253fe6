"""Connecting to the platforms a run needs: credentials per platform from the environment (or the emulator's
fake ones), an optional endpoint override for every call, and the rate limiters all workers share: one per quota
bucket (Vertex AI: per project and region; the Gemini API: one), `RateLimits`."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from reconciler import platforms
from reconciler.clients.auth import resolve_endpoint
from reconciler.clients.http import Limiter, RateLimiter, RateLimits, RetryPolicy
from reconciler.errors import UserError

USER_AGENT = "reconciler"
DEADLINE_ENV = "RECONCILER_REQUEST_DEADLINE"  # seconds one request may take, first byte to last (default 60)
POLL_ENV = "RECONCILER_POLL_INTERVAL"  # seconds between polls of jobs while waiting (cli.session)


@dataclass
class Clients:
    """The API client of each platform connected, by platform name; close it, or use it as a context."""

    by_platform: dict[str, Any] = field(default_factory=dict)
    limiter: Limiter | None = None
    # Cloud Storage with Vertex's credentials (cloud-platform covers it): the datasets a Vertex job trains on
    storage: Any = None
    _owned: list[httpx.Client] = field(default_factory=list, repr=False)

    def __getitem__(self, platform: str) -> Any:
        return self.by_platform[platform]

    def get(self, platform: str) -> Any | None:
        return self.by_platform.get(platform)

    def close(self) -> None:
        for client in self._owned:
            client.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_auth(platform: str, *, token_client: httpx.Client, env: Mapping[str, str] | None = None,
                 emulator: bool = False, adc: Callable | None = None) -> httpx.Auth:
    """Credentials for `platform` from the environment; `emulator=True`: the fixed fake ones it accepts."""
    return platforms.get(platform).auth(token_client=token_client, env=os.environ if env is None else env,
                                        emulator=emulator, adc=adc)


def credentials_for(names: list[str], *, token_client: httpx.Client, env: Mapping[str, str],
                    emulator: bool) -> dict[str, httpx.Auth]:
    """The credentials of every platform in `names`; when some have none, one UserError listing all of them."""
    found: dict[str, httpx.Auth] = {}
    missing: list[str] = []
    for name in names:
        try:
            found[name] = resolve_auth(name, token_client=token_client, env=env, emulator=emulator)
        except UserError as err:
            missing.append(str(err))
    if len(missing) == 1:
        raise UserError(missing[0])
    if missing:
        raise UserError("no credentials for several platforms this run needs:\n" +
                        "\n".join(f"  - {problem}" for problem in missing))
    return found


def with_quota_project(env: Mapping[str, str], configured: str | None) -> Mapping[str, str]:
    """`env` with reconciler.yaml's quota project as GOOGLE_CLOUD_QUOTA_PROJECT, unless that is already set."""
    from reconciler.clients.auth import QUOTA_PROJECT_ENV

    if not configured or env.get(QUOTA_PROJECT_ENV):
        return env
    return {**env, QUOTA_PROJECT_ENV: configured}


def request_policy(env: Mapping[str, str]) -> RetryPolicy:
    """The default policy, its per-request deadline from RECONCILER_REQUEST_DEADLINE when set, and operations
    polled no less often than RECONCILER_POLL_INTERVAL says jobs are (the tests' and the demo's tenth of a second:
    an emulator's three-second delete was otherwise noticed at 4.75 s)."""
    policy = RetryPolicy()
    text = env.get(DEADLINE_ENV)
    if text:
        try:
            seconds = float(text)
        except ValueError:
            seconds = float("nan")
        if not math.isfinite(seconds) or seconds <= 0:
            raise UserError(f"{DEADLINE_ENV}: not a positive number of seconds: {text!r}")
        policy = replace(policy, deadline=seconds)
    try:
        interval = float(env.get(POLL_ENV, ""))
    except ValueError:
        return policy  # not a number: `wait` says so when it polls; operations keep their pace
    if 0 < interval < policy.operation_poll:
        policy = replace(policy, operation_poll=interval)
    return policy


def connect(names: Collection[str], *, api_endpoint: str | None = None, emulator: bool = False,
            env: Mapping[str, str] | None = None, limiter: Limiter | None = None,
            policy: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
            quota_project: str | None = None) -> Clients:
    """Clients for the platforms `names`.

    api_endpoint: the `--api-endpoint` flag (RECONCILER_API_ENDPOINT otherwise) sends every call there.
    emulator: use the fixed fake credentials the emulator accepts (requires an endpoint).
    quota_project: reconciler.yaml `quotaProject`, billed for OAuth calls unless GOOGLE_CLOUD_QUOTA_PROJECT is set.
    Raises one UserError naming every platform that has no credentials, and what to set for each.
    """
    env = with_quota_project(os.environ if env is None else env, quota_project)
    endpoint = resolve_endpoint(api_endpoint, env)
    policy = policy or request_policy(env)
    if emulator and endpoint is None:
        raise ValueError("emulator mode needs the emulator's URL as api_endpoint")
    # The emulator has no steady quota (it can inject 429s): there, only server push-back slows workers down.
    limiter = limiter or (RateLimits(rate=10_000, burst=10_000) if emulator else RateLimits())
    clients = Clients(limiter=limiter)
    tls = httpx.create_ssl_context()  # one TLS context for every client: building each costs ~40 ms
    token_client = httpx.Client(transport=transport, headers={"user-agent": USER_AGENT}, verify=tls)
    clients._owned.append(token_client)
    try:
        auths = credentials_for(sorted(set(names)), token_client=token_client, env=env, emulator=emulator)
        for name, auth in auths.items():
            platform = platforms.get(name)
            http = httpx.Client(auth=auth, transport=transport, headers={"user-agent": USER_AGENT}, verify=tls)
            clients._owned.append(http)
            clients.by_platform[name] = platform.connect(http, endpoint=endpoint, policy=policy, limiter=limiter)
            if name == "vertex":
                from reconciler.clients.storage import StorageClient
                # dataset reads and uploads: Cloud Storage serves thousands of object reads a second per bucket
                clients.storage = StorageClient(http, endpoint=endpoint, policy=policy,
                                                limiter=RateLimiter(rate=1000, burst=1000))
    except BaseException:
        clients.close()
        raise
    return clients


STORAGE_NO_CREDENTIALS = ("no Google credentials for the Cloud Storage state backend: run `gcloud auth "
                          "application-default login`, use Workload Identity Federation in CI, or set "
                          "GOOGLE_OAUTH_ACCESS_TOKEN")


@contextmanager
def connect_storage(*, api_endpoint: str | None = None, emulator: bool = False,
                    env: Mapping[str, str] | None = None, policy: RetryPolicy | None = None,
                    transport: httpx.BaseTransport | None = None, adc: Callable | None = None,
                    no_credentials: str = STORAGE_NO_CREDENTIALS) -> Iterator[Any]:
    """A Cloud Storage client for the block (its own limiter: the state object is not the tuning APIs' quota),
    sent to `--api-endpoint` / RECONCILER_API_ENDPOINT when set, with the emulator's fake token in emulator mode."""
    from reconciler.clients import auth
    from reconciler.clients.storage import SCOPES, StorageClient

    env = os.environ if env is None else env
    endpoint = resolve_endpoint(api_endpoint, env)
    if emulator and endpoint is None:
        raise ValueError("emulator mode needs the emulator's URL as api_endpoint")
    tls = httpx.create_ssl_context()  # one TLS context for both clients, as `connect` shares one: ~50 ms each
    with httpx.Client(transport=transport, headers={"user-agent": USER_AGENT}, verify=tls) as token_client:
        credentials = auth.BearerToken(auth.EMULATOR_TOKEN) if emulator else auth.oauth(
            env, SCOPES, token_client=token_client, no_credentials=no_credentials, adc=adc)
        with httpx.Client(auth=credentials, transport=transport, headers={"user-agent": USER_AGENT},
                          verify=tls) as http:
            yield StorageClient(http, endpoint=endpoint, policy=policy or request_policy(env),
                                limiter=RateLimiter(rate=100, burst=100))
