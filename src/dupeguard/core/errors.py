"""One exception tree for the whole product.

Domain code raises these; the CLI turns them into one clear line and exit status 2,
and the API (later) maps them to the error envelope. Nothing here knows about HTTP.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "ConflictError",
    "DupeguardError",
    "DuplicatesDetected",
    "IdempotencyConflict",
    "InputError",
    "InsufficientCredits",
    "InsufficientPermissions",
    "InvalidKey",
    "NotFoundError",
    "RateLimited",
    "ValidationError",
]


class DupeguardError(Exception):
    """Base of every error dupeguard raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationError(DupeguardError):
    """A value or configuration is not acceptable."""

    code = "validation_error"


class ConfigError(ValidationError):
    """A comparison, model or scan is configured wrongly (fails at construction)."""


class InputError(ValidationError):
    """An input file or stream cannot be used: missing, undecodable, empty, no ids…"""


class NotFoundError(DupeguardError):
    """No such thing in this workspace (also what another workspace's ids get: no leak)."""

    code = "not_found"


class InvalidKey(DupeguardError):
    """A missing, malformed, unknown, revoked or expired API key."""

    code = "invalid_key"


class InsufficientPermissions(DupeguardError):
    """The key lacks a scope the operation needs."""

    code = "insufficient_permissions"


class InsufficientCredits(DupeguardError):
    """The workspace's credit balance does not cover the operation; nothing was charged."""

    code = "insufficient_credits"


class RateLimited(DupeguardError):
    code = "rate_limited"


class ConflictError(DupeguardError):
    code = "conflict"


class IdempotencyConflict(ConflictError):
    """The same Idempotency-Key came back with a different request."""

    code = "idempotency_conflict"


class DuplicatesDetected(ConflictError):
    """A duplicate rule blocked the save; ``details.matches`` names the records and why."""

    code = "duplicates_detected"
