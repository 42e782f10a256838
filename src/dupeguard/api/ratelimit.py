"""Per-key rate limits on ``/v1``, with the `limits` library.

**Who is counted.** With an ``Authorization`` header the identity is the SHA-256 of the bearer
token: each key has its own budget, no database lookup is needed before the limit applies, and
invalid keys are limited like valid ones (so guessing keys is throttled too). Without one it is
the client address. Only the hash is ever stored.

**Where.** In process (``async+memory://``) by default: right for one server process. With
``DUPEGUARD_REDIS_URL`` (``redis://host:6379/0``) the counters live in Redis and every process
and machine shares one budget per key.

**Strategy: moving window.** A fixed window lets a client spend its whole budget at the end of
one window and again at the start of the next (twice the limit within seconds); the moving
window never allows more than the limit in *any* window-long period, and its reset time is
exact (when the oldest counted request ages out), which makes ``X-RateLimit-Reset`` and
``Retry-After`` honest. The price, one timestamp per counted request (at most ``limit`` per
active key: 600 small entries for the default ``600/minute``), is small. Refused requests are
not counted, so a client that backs off as told is served again on time.

**If Redis is unreachable the API fails open**: requests are served unlimited and a warning is
logged (at most every :data:`FAIL_OPEN_SECONDS`; Redis is not retried in between, so an outage
costs no latency). Refusing all traffic with 503 because a counter store is down would turn a
Redis outage into a full API outage; the limit is a fairness and abuse control, not a security
boundary. While open, responses still carry the rate-limit headers (the full budget).

Every ``/v1`` response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (epoch seconds); a 429 is the error envelope with ``rate_limited`` and a
``Retry-After`` of whole seconds (at least 1). ``/docs`` and ``/openapi.json`` are not limited.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import ConfigError
from ..settings import Settings
from .errors import error_response
from .middleware import request_id_of

__all__ = ["FAIL_OPEN_SECONDS", "Decision", "RateLimitMiddleware", "RateLimiter", "identity_of"]

logger = logging.getLogger("dupeguard.api")

FAIL_OPEN_SECONDS = 5.0
_NAMESPACE = "dupeguard"
_REDIS_KEY_PREFIX = "dupeguard:ratelimit"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    """Epoch seconds when the window frees up."""
    retry_after: int
    """Whole seconds (≥ 1) to wait when refused."""

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class RateLimiter:
    """One limit (e.g. ``600/minute``) applied per identity, in memory or in Redis."""

    def __init__(self, rate: str, storage_url: str | None = None) -> None:
        try:
            self.item: RateLimitItem = parse(rate)
        except ValueError as exc:
            raise ConfigError(f"rate limit must look like '600/minute', got {rate!r}") from exc
        self.storage_url = storage_url
        try:
            if storage_url:
                self.storage = storage_from_string(
                    "async+" + storage_url.removeprefix("async+"),
                    implementation="redispy",
                    wrap_exceptions=True,
                    key_prefix=_REDIS_KEY_PREFIX,
                    socket_connect_timeout=1.0,
                    socket_timeout=1.0,
                )
            else:
                self.storage = storage_from_string("async+memory://", wrap_exceptions=True)
        except ConfigurationError as exc:
            raise ConfigError(
                f"DUPEGUARD_REDIS_URL is not a usable Redis URL ({exc}): "
                "use redis://host:6379/0 or rediss://…"
            ) from exc
        self.strategy = MovingWindowRateLimiter(self.storage)
        self._open_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(settings.rate_limit, settings.redis_url)

    @property
    def description(self) -> str:
        amount, multiples, unit = self.item.amount, self.item.multiples, self.item.GRANULARITY.name
        per = unit if multiples == 1 else f"{multiples} {unit}s"
        return f"{amount} requests per {per}"

    async def hit(self, identity: str) -> Decision:
        """Count one request for ``identity`` and say whether it may proceed."""
        now = time.time()
        if now < self._open_until:
            return self._open(now)
        try:
            allowed = await self.strategy.hit(self.item, _NAMESPACE, identity)
            stats = await self.strategy.get_window_stats(self.item, _NAMESPACE, identity)
        except (StorageError, OSError) as exc:
            self._open_until = now + FAIL_OPEN_SECONDS
            cause = getattr(exc, "storage_error", exc)
            logger.warning(
                "rate limit storage unavailable (%s: %s); serving requests without limits "
                "for %.0f s",
                type(cause).__name__,
                cause,
                FAIL_OPEN_SECONDS,
            )
            return self._open(now)
        reset = math.ceil(stats.reset_time)
        return Decision(
            allowed=allowed,
            limit=self.item.amount,
            remaining=max(0, stats.remaining),
            reset=reset,
            retry_after=max(1, math.ceil(stats.reset_time - now)),
        )

    def _open(self, now: float) -> Decision:
        return Decision(
            allowed=True,
            limit=self.item.amount,
            remaining=self.item.amount,
            reset=math.ceil(now + self.item.get_expiry()),
            retry_after=1,
        )

    async def aclose(self) -> None:
        """Close the Redis connections (on application shutdown)."""
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()


def identity_of(scope: Scope) -> str:
    """``key:<sha256 of the bearer token>`` when a key is sent, else ``ip:<client address>``."""
    authorization = Headers(scope=scope).get("authorization", "").strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        secret = token.strip() if scheme.lower() == "bearer" else authorization
        return "key:" + hashlib.sha256(secret.encode()).hexdigest()
    client = scope.get("client")
    return "ip:" + (str(client[0]) if client else "unknown")


def _limited(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


class RateLimitMiddleware:
    """Counts every ``/v1`` request; answers 429 over the limit; adds the headers to all."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _limited(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.hit(identity_of(scope))
        headers = decision.headers()
        if not decision.allowed:
            response = error_response(
                429,
                "rate_limited",
                f"rate limit exceeded ({self.limiter.description}); "
                f"retry in {decision.retry_after} s",
                {"limit": decision.limit, "retry_after": decision.retry_after},
                request_id_of(scope),
                headers=headers,
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                mutable = MutableHeaders(scope=message)
                for name, value in headers.items():
                    mutable[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
