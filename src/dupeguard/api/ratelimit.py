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

**If Redis is unreachable the limits fall back to this process's memory**: requests are
served and counted per process — as without ``DUPEGUARD_REDIS_URL``, so N processes allow up
to N × the limit — and one warning is logged per outage. Redis is not asked again for
:data:`FAIL_OPEN_SECONDS`; then one request probes it while the others keep counting in
memory, so an outage, even one where Redis only stops answering (a partition: every call would
wait for the socket timeout), costs one request at most one timeout per period, not every
request. Redis calls time out after 1 s and are retried once only on a dropped connection (a
restarted Redis), never after a timeout. When a probe succeeds, the shared counts apply again
(counts made in memory meanwhile are not carried over) and an INFO line says so. Refusing all
traffic with 503 because a counter store is down would turn a Redis outage into a full API
outage; counting in memory keeps the limit's purpose (fairness, and slowing down key or
password guessing) at per-process strength meanwhile.

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
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
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
    """One limit (e.g. ``600/minute``) applied per identity, in memory or in Redis (with the
    process's memory as the fallback while Redis is away). ``name`` says which limit in logs."""

    def __init__(self, rate: str, storage_url: str | None = None, *, name: str = "API") -> None:
        self.name = name
        try:
            self.item: RateLimitItem = parse(rate)
        except ValueError as exc:
            raise ConfigError(f"rate limit must look like '600/minute', got {rate!r}") from exc
        self.storage_url = storage_url
        try:
            if storage_url:
                options: dict[str, Any] = {
                    "implementation": "redispy",
                    "wrap_exceptions": True,
                    "key_prefix": _REDIS_KEY_PREFIX,
                    "socket_connect_timeout": 1.0,
                    "socket_timeout": 1.0,
                    # once on a dropped connection (Redis restarted); never after a timeout,
                    # which would make every probe of a hung Redis wait several times over
                    "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
                }
                self.storage = storage_from_string(
                    "async+" + storage_url.removeprefix("async+"), **options
                )
            else:
                self.storage = storage_from_string("async+memory://", wrap_exceptions=True)
        except ConfigurationError as exc:
            raise ConfigError(
                f"DUPEGUARD_REDIS_URL is not a usable Redis URL ({exc}): "
                "use redis://host:6379/0 or rediss://…"
            ) from exc
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.fallback: MovingWindowRateLimiter | None = None
        if storage_url:
            self.fallback = MovingWindowRateLimiter(MemoryStorage(wrap_exceptions=True))
        self._open_until = 0.0
        """While Redis is away: until when the fallback counts without asking Redis."""
        self._probing = False

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(settings.rate_limit, settings.redis_url, name="API")

    @property
    def description(self) -> str:
        amount, multiples, unit = self.item.amount, self.item.multiples, self.item.GRANULARITY.name
        per = unit if multiples == 1 else f"{multiples} {unit}s"
        return f"{amount} requests per {per}"

    async def hit(self, identity: str) -> Decision:
        """Count one request for ``identity`` and say whether it may proceed."""
        now = time.time()
        degraded = self._open_until > 0
        if degraded and (now < self._open_until or self._probing):
            return await self._fall_back(identity, now)
        self._probing = degraded  # this request probes Redis; the others keep to the fallback
        try:
            decision = await self._count(self.strategy, identity, now)
        except (StorageError, OSError) as exc:
            failed = time.time()
            if failed >= self._open_until:  # concurrent failures of one outage: one warning
                cause = getattr(exc, "storage_error", exc)
                if not degraded:
                    logger.warning(
                        "rate limit storage unavailable for %s limits (%s: %s); counting in "
                        "this process only, asking Redis again every %.0f s",
                        self.name,
                        type(cause).__name__,
                        str(cause).splitlines()[0] if str(cause) else "",
                        FAIL_OPEN_SECONDS,
                    )
                self._open_until = failed + FAIL_OPEN_SECONDS
            return await self._fall_back(identity, now)
        finally:
            if degraded:
                self._probing = False
        if degraded:  # this request was the probe (a success begun before the outage is not)
            self._open_until = 0.0
            logger.info("rate limit storage is back for %s limits; shared limits apply", self.name)
        return decision

    async def _count(
        self, strategy: MovingWindowRateLimiter, identity: str, now: float
    ) -> Decision:
        allowed = await strategy.hit(self.item, _NAMESPACE, identity)
        stats = await strategy.get_window_stats(self.item, _NAMESPACE, identity)
        return Decision(
            allowed=allowed,
            limit=self.item.amount,
            remaining=max(0, stats.remaining),
            reset=math.ceil(stats.reset_time),
            retry_after=max(1, math.ceil(stats.reset_time - now)),
        )

    async def _fall_back(self, identity: str, now: float) -> Decision:
        if self.fallback is None:  # the memory store itself failed: serve, unlimited
            return self._open(now)
        return await self._count(self.fallback, identity, now)

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
