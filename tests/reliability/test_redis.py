"""Redis going away under a running server: the rate limits' counter store is cut (connections
refused) or hangs (a partition: only timeouts tell), behind a TCP proxy, and comes back.

While it is away every request is served — no 5xx, the rate-limit headers still there — the
limits fall back to counting in the process, one warning is logged per outage (not one per
request), and requests do not each wait for a socket timeout. When it is back, the shared
limits apply again within FAIL_OPEN_SECONDS, without a restart: a key over its limit gets 429.

The database is not what fails here, so these run on SQLite only.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from dupeguard.api.app import create_app
from dupeguard.api.ratelimit import FAIL_OPEN_SECONDS
from dupeguard.services.forms import create_form
from dupeguard.settings import Settings
from tests.api.conftest import LiveServer, _serve

from .conftest import Key
from .proxy import CuttableProxy

REDIS_URL = os.environ.get("DUPEGUARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WARNING = "rate limit storage unavailable"
TIMEOUT_SHOWN = 0.9
"""Redis calls time out after 1 s: a request this slow waited for one (in these tests the
requests themselves take milliseconds)."""

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def redis_proxy() -> Iterator[tuple[CuttableProxy, str]]:
    """A cuttable proxy in front of the test Redis and the URL that goes through it."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    finally:
        client.close()
    url = make_url(REDIS_URL)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 6379))
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.close()


@pytest.fixture
def serve(db_url: str) -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def start(**settings: Any) -> LiveServer:
        config = Settings(database_url=db_url, webhook_worker=False, **settings)
        live = _serve(create_app(config), config)
        servers.append(live)
        return live

    yield start
    for live in servers:
        live.stop()


def _timed_get(client: httpx.Client, key: Key) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.get("/v1/workspace", headers=key.headers)
    return response, time.perf_counter() - started


def _has_rate_headers(response: httpx.Response) -> None:
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert response.headers[name].isdigit(), (name, response.headers)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if WARNING in r.getMessage()]


@pytest.mark.parametrize("failure", ["cut", "hang"])
def test_redis_away_serves_with_local_limits_and_recovers(
    failure: str,
    key: Key,
    sessions,
    redis_proxy: tuple[CuttableProxy, str],
    serve: Callable[..., LiveServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, redis_url = redis_proxy
    live = serve(redis_url=redis_url, rate_limit="30/minute")
    other = _another_key(sessions, key)
    caplog.set_level(logging.INFO, logger="dupeguard.api")
    with httpx.Client(base_url=live.url, timeout=30) as client:
        # the shared limit holds: 30 requests, then 429
        for _ in range(30):
            response, _ = _timed_get(client, key)
            assert response.status_code == 200, response.text
        over = client.get("/v1/workspace", headers=key.headers)
        assert over.status_code == 429 and over.headers["retry-after"]

        getattr(proxy, failure)()
        outage_started = time.monotonic()
        # the key over its shared limit is served: the process counts for itself meanwhile
        first, first_seconds = _timed_get(client, key)
        assert first.status_code == 200, first.text
        _has_rate_headers(first)
        # sequential: served, headers present, and no request waits for Redis (the first one
        # found it away; the next probe is FAIL_OPEN_SECONDS later)
        results = [_timed_get(client, other) for _ in range(20)]
        assert [r.status_code for r, _ in results] == [200] * 20, [r.text for r, _ in results]
        for response, _ in results:
            _has_rate_headers(response)
        latencies = sorted(seconds for _, seconds in results)
        assert latencies[-1] < TIMEOUT_SHOWN, latencies  # none waited for a socket timeout
        assert statistics.median(latencies) < 0.3, latencies
        assert first_seconds < 3.0  # the one that found Redis away: within the socket timeouts

        # concurrent: served, no 5xx
        with ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(lambda _: _timed_get(client, other)[0], range(8)))
        assert [r.status_code for r in burst] == [200] * 8, [r.text for r in burst]
        assert time.monotonic() - outage_started < FAIL_OPEN_SECONDS  # all within one period

        # the in-process budget is a real limit (30/minute: 28 used by `other`)
        more = [client.get("/v1/workspace", headers=other.headers) for _ in range(3)]
        assert [r.status_code for r in more] == [200, 200, 429], [r.text for r in more]
        assert more[2].json()["error"]["code"] == "rate_limited"

        (warning,) = _warnings(caplog)  # one for the whole outage, not one per request
        assert warning.levelno == logging.WARNING and warning.exc_info is None
        assert "API limits" in warning.getMessage()

        proxy.restore()
        restored = time.monotonic()
        while True:  # `key` (its 30 counts are still in Redis) is refused again
            response = client.get("/v1/workspace", headers=key.headers)
            assert response.status_code in (200, 429), response.text
            if response.status_code == 429:
                break
            assert time.monotonic() - restored < FAIL_OPEN_SECONDS + 2, "limits not back"
            time.sleep(0.2)
        # in memory `key` had used 1 + the probes of 30: a 429 now is Redis's count
        assert time.monotonic() - restored <= FAIL_OPEN_SECONDS + 2
        assert any("rate limit storage is back" in r.getMessage() for r in caplog.records)
        assert len(_warnings(caplog)) == 1


def _another_key(sessions, key: Key) -> Key:
    from dupeguard.services.keys import create_key
    from dupeguard.store.session import session_scope

    with session_scope(sessions) as s:
        _, plaintext = create_key(session=s, workspace_id=key.workspace_id, scopes=("read",))
    return Key(key.workspace_id, plaintext)


def test_form_and_sign_in_limits_degrade_the_same_way(
    key: Key,
    sessions,
    redis_proxy: tuple[CuttableProxy, str],
    serve: Callable[..., LiveServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The public form's and the web UI sign-in's limiters also use Redis: while it is away
    they answer as usual (no 5xx) and still limit, per process."""
    from dupeguard.store.session import session_scope

    proxy, redis_url = redis_proxy
    live = serve(redis_url=redis_url, form_rate_limit="3/minute", login_rate_limit="3/minute")
    with session_scope(sessions) as s:
        form, token = create_form(
            session=s,
            workspace_id=key.workspace_id,
            name="Signup",
            entity="lead",
            fields=[{"field": "email"}],
        )
        form_id = form.id
    proxy.cut()
    with httpx.Client(base_url=live.url, timeout=30) as client:
        submissions = [
            client.post(
                f"/v1/forms/{form_id}/submissions",
                json={"token": token, "data": {"email": f"f{i}@x.com"}},
            )
            for i in range(4)
        ]
        codes = [r.status_code for r in submissions]
        assert codes[:3] == [codes[0]] * 3 and codes[0] < 300, [r.text for r in submissions]
        assert codes[3] == 429 and submissions[3].json()["error"]["code"] == "rate_limited"

        logins = [
            client.post("/login", data={"email": "x@y.com", "password": "wrong-password"})
            for _ in range(4)
        ]
        assert [r.status_code < 500 for r in logins] == [True] * 4, [r.text for r in logins]
        assert logins[3].status_code == 429
    messages = sorted(r.getMessage() for r in _warnings(caplog))
    assert len(messages) == 3, messages  # one per limiter (a submission is under /v1 too)
    for name, message in zip(("API", "form", "sign-in"), messages, strict=True):
        assert f"for {name} limits" in message, messages


def test_a_hung_redis_is_probed_by_one_request_at_a_time(
    key: Key,
    redis_proxy: tuple[CuttableProxy, str],
    serve: Callable[..., LiveServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every FAIL_OPEN_SECONDS one request asks Redis again; while it waits for the timeout the
    requests that arrive meanwhile are counted in memory, not held behind the same timeout."""
    proxy, redis_url = redis_proxy
    live = serve(redis_url=redis_url)
    proxy.hang()
    with httpx.Client(base_url=live.url, timeout=30) as client:
        first, first_seconds = _timed_get(client, key)  # finds Redis hung: waits the timeout
        assert first.status_code == 200 and TIMEOUT_SHOWN < first_seconds < 3, first_seconds
        time.sleep(FAIL_OPEN_SECONDS + 0.2)
        with ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(lambda _: _timed_get(client, key), range(8)))
    assert [r.status_code for r, _ in burst] == [200] * 8
    latencies = sorted(seconds for _, seconds in burst)
    assert latencies[-1] > TIMEOUT_SHOWN, latencies  # one request probed Redis and waited
    assert latencies[-2] < TIMEOUT_SHOWN, latencies  # the others did not
    assert len(_warnings(caplog)) == 1
