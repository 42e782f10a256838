"""Encrypted fields: their values are stored as Fernet tokens (AES-128-CBC + HMAC-SHA256).

A field marked ``encrypted`` keeps its values in ``records.data`` as ``"enc:v1:<token>"``;
services seal values on write (:func:`seal`) and open them on read (:func:`unseal`). The key
comes from ``DUPEGUARD_ENCRYPTION_KEY`` — one or more Fernet keys, comma-separated: the first
encrypts, all decrypt, so a key is rotated by putting the new one first. Without a key,
encrypted fields cannot be created or written (a clear error, never plaintext at rest).

Matching against ciphertext is not supported (seed 001): encrypted fields cannot be match keys
and are left out of scans; activity entries show ``"[encrypted]"`` instead of their values and
webhook payloads leave them out.

Webhook signing secrets use the same key (:func:`seal_secret`, :func:`open_secret`): sealed
as ``"enc:v1:<token>"`` when a key is configured, stored as they are without one (the server
must be able to sign with them, so they cannot be hashed; docs/SECURITY.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ..core.errors import ConfigError, ValidationError

__all__ = [
    "PREFIX",
    "REDACTED",
    "Cipher",
    "configure",
    "current",
    "new_key",
    "open_secret",
    "require",
    "seal",
    "seal_secret",
    "unseal",
]

PREFIX = "enc:v1:"
REDACTED = "[encrypted]"

_current: Cipher | None = None


class Cipher:
    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ConfigError("DUPEGUARD_ENCRYPTION_KEY is empty")
        try:
            fernets = [Fernet(k.encode()) for k in parts]
            self._primary = fernets[0]
            self._fernet = MultiFernet(fernets)
        except ValueError:
            raise ConfigError(
                "DUPEGUARD_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded "
                "bytes); make one with `dupeguard encryption-key`"
            ) from None

    def encrypt(self, value: Any) -> str:
        plain = json.dumps(value, ensure_ascii=False).encode()
        return PREFIX + self._fernet.encrypt(plain).decode()

    def decrypt(self, stored: Any) -> Any:
        if not isinstance(stored, str) or not stored.startswith(PREFIX):
            return stored  # written before the field was marked encrypted
        try:
            return json.loads(self._fernet.decrypt(stored[len(PREFIX) :].encode()))
        except InvalidToken:
            raise ConfigError(
                "an encrypted value cannot be decrypted with DUPEGUARD_ENCRYPTION_KEY "
                "(was the key replaced instead of rotated?)"
            ) from None

    def is_primary(self, stored: str) -> bool:
        """Whether ``stored`` (``enc:v1:…``) is encrypted with the first (current) key."""
        try:
            self._primary.decrypt(stored.removeprefix(PREFIX).encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, stored: str) -> str:
        """``stored`` encrypted again with the first key (``ConfigError`` if no key opens it)."""
        try:
            return PREFIX + self._fernet.rotate(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise ConfigError(
                "an encrypted value cannot be decrypted with DUPEGUARD_ENCRYPTION_KEY "
                "(was the key replaced instead of rotated?)"
            ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()


def configure(keys: str | None) -> None:
    """Set the process's cipher from the settings (``None``: no encrypted fields)."""
    global _current
    _current = Cipher(keys) if keys else None


def current() -> Cipher | None:
    return _current


def require() -> Cipher:
    if _current is None:
        raise ValidationError(
            "encrypted fields need an encryption key: set DUPEGUARD_ENCRYPTION_KEY (make one "
            "with `dupeguard encryption-key`)",
            details={"field": "encrypted"},
        )
    return _current


def seal(data: Mapping[str, Any], encrypted: Iterable[str]) -> dict[str, Any]:
    """``data`` with the values of the ``encrypted`` fields encrypted."""
    names = [n for n in encrypted if data.get(n) is not None]
    if not names:
        return dict(data)
    cipher = require()
    out = dict(data)
    for name in names:
        value = out[name]
        if not (isinstance(value, str) and value.startswith(PREFIX)):
            out[name] = cipher.encrypt(value)
    return out


def unseal(data: Mapping[str, Any], encrypted: Iterable[str]) -> dict[str, Any]:
    """``data`` with the values of the ``encrypted`` fields decrypted."""
    names = [n for n in encrypted if isinstance(data.get(n), str)]
    if not names:
        return dict(data)
    cipher = require()
    out = dict(data)
    for name in names:
        out[name] = cipher.decrypt(out[name])
    return out


def seal_secret(secret: str) -> str:
    """A webhook signing secret as it is stored: sealed (``enc:v1:…``) when a key is
    configured, else as it is."""
    if _current is None or secret.startswith(PREFIX):
        return secret
    return _current.encrypt(secret)


def open_secret(stored: str) -> str:
    """The signing secret in ``stored`` (as :func:`seal_secret` wrote it); ``ConfigError``
    with a clear message when it is sealed and the key is missing or wrong."""
    if not stored.startswith(PREFIX):
        return stored
    if _current is None:
        raise ConfigError(
            "the webhook signing secret is encrypted, but DUPEGUARD_ENCRYPTION_KEY is not set "
            "(set the key it was sealed with)"
        )
    try:
        value = _current.decrypt(stored)
    except ConfigError:
        raise ConfigError(
            "the webhook signing secret cannot be decrypted with DUPEGUARD_ENCRYPTION_KEY "
            "(was the key replaced instead of rotated? list the old key after the new one)"
        ) from None
    if not isinstance(value, str):
        raise ConfigError("the webhook signing secret is not a sealed string")
    return value
