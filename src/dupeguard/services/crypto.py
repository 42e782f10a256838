"""Encrypted fields: their values are stored as Fernet tokens (AES-128-CBC + HMAC-SHA256).

A field marked ``encrypted`` keeps its values in ``records.data`` as ``"enc:v1:<token>"``;
services seal values on write (:func:`seal`) and open them on read (:func:`unseal`). The key
comes from ``DUPEGUARD_ENCRYPTION_KEY`` — one or more Fernet keys, comma-separated: the first
encrypts, all decrypt, so a key is rotated by putting the new one first. Without a key,
encrypted fields cannot be created or written (a clear error, never plaintext at rest).

Matching against ciphertext is not supported (seed 001): encrypted fields cannot be match keys
and are left out of scans; activity entries show ``"[encrypted]"`` instead of their values and
webhook payloads leave them out.
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
    "require",
    "seal",
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
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
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
