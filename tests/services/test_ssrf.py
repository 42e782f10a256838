"""Webhook targets (SSRF) and DNS rebinding: a delivery connects to the address it checked.

The resolver is a fake (``resolve=``), so these tests need no DNS and make no real
connection; deliveries go through an ``httpx.MockTransport`` that records where they went.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import pytest

from dupeguard.core.errors import ValidationError
from dupeguard.services import webhook_delivery as delivery
from dupeguard.services import webhooks
from dupeguard.services.entities import set_match_keys
from dupeguard.services.intake import Inbound, submit
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope

PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1: not global
    ],
)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="public addresses only"):
        webhooks.check_target("https://hooks.example.com/x", resolve=lambda h, p: [address])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.0.0.1/",
        "http://017700000001/",  # octal
        "http://127.1/",
        "http://0/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_loopback_spellings_are_refused_with_the_real_resolver(url: str) -> None:
    """Numeric host spellings resolve locally (no network): every one is loopback, the
    metadata address, or unspecified."""
    with pytest.raises(ValidationError):
        webhooks.check_target(url)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http://user:pw@example.com/"],
)
def test_other_schemes_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        webhooks.check_target(url, resolve=lambda h, p: [PUBLIC])


def test_pin_target_connects_to_the_checked_address() -> None:
    pinned = webhooks.pin_target(
        "https://Hooks.Example.com:8443/in?a=1", resolve=lambda h, p: [PUBLIC]
    )
    assert pinned.url == f"https://{PUBLIC}:8443/in?a=1"
    assert pinned.host_header == "Hooks.Example.com:8443"
    assert pinned.server_name == "hooks.example.com"
    assert pinned.address == PUBLIC
    six = webhooks.pin_target("http://h.example/", resolve=lambda h, p: ["2606:2800:220:1::1"])
    assert six.url == "http://[2606:2800:220:1::1]/"


class _Rebinder:
    """A resolver whose answer changes: public for the first ``public`` lookups, then
    loopback (a DNS-rebinding attacker's server)."""

    def __init__(self, public: int = 1) -> None:
        self.calls = 0
        self.public = public

    def __call__(self, host: str, port: int) -> Iterable[str]:
        self.calls += 1
        return [PUBLIC] if self.calls <= self.public else ["127.0.0.1"]


def _setup(sessions) -> str:
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="Acme").id
        set_match_keys(session=s, workspace_id=ws, entity="lead", fields=["email"])
        webhooks.create_webhook(
            session=s,
            workspace_id=ws,
            url="https://hooks.example.com/in",
            resolve=lambda h, p: [PUBLIC],
        )
    with session_scope(sessions) as s:
        submit(
            session=s,
            workspace_id=ws,
            entity="lead",
            inbound=Inbound({"email": "ann@example.com"}),
            source="api",
            mode="skip",
        )
    return ws


def test_a_delivery_resolves_once_and_connects_to_that_address(sessions) -> None:
    _setup(sessions)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    resolver = _Rebinder(public=1)  # the second lookup would answer 127.0.0.1
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        report = delivery.deliver_due(sessions, client=client, resolve=resolver)
    assert report.delivered == 1
    assert resolver.calls == 1
    (request,) = seen
    assert request.url.host == PUBLIC  # the connection goes to the checked address
    assert request.headers["Host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"  # TLS checks the name


def test_a_target_that_now_resolves_privately_is_not_contacted(sessions) -> None:
    _setup(sessions)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        report = delivery.deliver_due(sessions, client=client, resolve=_Rebinder(public=0))
    assert report.retrying == 1 and seen == []
