"""Request and response shapes of the webhooks API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .common import UTCDateTime

__all__ = ["DeliveryRead", "WebhookCreate", "WebhookRead"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="http(s) URL at a public address.")
    events: list[str] = Field(
        default_factory=lambda: ["record.created"],
        min_length=1,
        max_length=20,
        description="Events to deliver: record.created (fired on create, never on update).",
    )


class WebhookRead(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: UTCDateTime
    secret: str | None = Field(
        default=None,
        description="Signing secret, shown once at creation: X-Dupeguard-Signature is "
        "sha256=<hex HMAC-SHA256 of the body with this secret>.",
    )


class DeliveryRead(BaseModel):
    id: str
    event: str
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: UTCDateTime
    last_status: int | None
    last_error: str | None
    created_at: UTCDateTime
    delivered_at: UTCDateTime | None
    payload: dict[str, Any]
