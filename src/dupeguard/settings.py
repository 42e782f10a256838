"""Settings from the environment (``DUPEGUARD_*``), validated when they are first asked for.

Nothing is read at import time: call :func:`get_settings` (cached) or build :class:`Settings`
yourself in tests.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

_RATE = re.compile(r"^\s*\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUPEGUARD_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./dupeguard.db",
        description="SQLAlchemy URL; SQLite file by default, postgresql://… for production.",
    )
    redis_url: str | None = Field(default=None, description="Shared rate limits when set.")
    rate_limit: str = Field(default="600/minute", description="Requests per key, e.g. 600/minute.")
    default_region: str = Field(default="US", description="Default phone region (ISO code).")
    encryption_key: str | None = Field(
        default=None,
        description="Fernet key(s) for encrypted fields and webhook signing secrets, "
        "comma-separated; the first encrypts, "
        "all decrypt (rotation). Make one with `dupeguard encryption-key`.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhooks to loopback, private and link-local addresses (tests only).",
    )
    webhook_worker: bool = Field(
        default=True, description="Deliver webhooks from a background thread of the server."
    )
    form_rate_limit: str = Field(
        default="20/minute", description="Public form submissions per form and client address."
    )

    cookie_secure: bool | None = Field(
        default=None,
        description="Mark the web UI's cookies Secure (HTTPS only). Default: Secure unless the "
        "request came over plain HTTP to a loopback address (localhost development).",
    )
    session_idle_minutes: int = Field(
        default=120, ge=1, description="A web UI session ends after this long without use."
    )
    session_max_hours: int = Field(
        default=12, ge=1, description="A web UI session ends this long after sign-in, used or not."
    )
    login_rate_limit: str = Field(
        default="10/minute", description="Sign-in attempts per client address and per e-mail."
    )
    allowed_hosts: str = Field(
        default="*",
        description="Host names the server answers to, comma-separated (e.g. "
        "crm.example.com,localhost); other Host headers get 400. `*` accepts any.",
    )

    @field_validator("rate_limit", "form_rate_limit", "login_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        if not _RATE.match(value):
            raise ValueError(f"rate limit must look like '600/minute', got {value!r}")
        return value.strip()

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2}", value.strip()):
            raise ValueError(f"default region must be a two-letter ISO code, got {value!r}")
        return value.strip().upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
