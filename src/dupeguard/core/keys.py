"""Match-key values (seed 001): the normalised form two inbound values are compared in.

``key_value(FieldType.EMAIL, " Jane@Acme.COM ")`` and ``key_value(FieldType.EMAIL,
"jane@acme.com")`` are equal, so both records have the same identity. Empty, blank and
unparseable values give None, and an empty key value never matches anything.

| type | normalised as |
|---|---|
| email | trimmed, lower-cased, ``+tags`` dropped, Gmail dots folded (:func:`normalize_email`) |
| phone | E.164 with the workspace's default region (:func:`normalize_phone`) |
| url | host without scheme, ``www.`` or path (:func:`normalize_domain`) |
| number | the number (``"1,200"`` = ``1200`` = ``1200.0``) |
| date | ISO ``YYYY-MM-DD`` |
| text, long text, single select | Unicode NFKC, case-folded, runs of white space collapsed |

Values longer than :data:`MAX_STORED` characters are stored and compared as a SHA-256 digest,
so the index never holds megabytes and equality is kept.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from typing import Any

from .fields import FieldType
from .normalize import (
    normalize_date,
    normalize_domain,
    normalize_email,
    normalize_number,
    normalize_phone,
)

__all__ = ["MAX_STORED", "key_value"]

MAX_STORED = 200


def _number_text(value: float) -> str | None:
    if not math.isfinite(value):
        return None
    return str(int(value)) if value == int(value) else repr(value)


def _raw(field_type: FieldType, value: Any) -> str | None:
    if value is None or isinstance(value, bool | list | dict):
        return None
    if isinstance(value, int | float):
        if field_type is FieldType.NUMBER:
            return _number_text(float(value))
        value = _number_text(float(value)) if isinstance(value, float) else str(value)
        if value is None:
            return None
    text = str(value)
    if field_type is FieldType.EMAIL:
        return normalize_email(text)
    if field_type is FieldType.URL:
        return normalize_domain(text)
    if field_type is FieldType.NUMBER:
        number = normalize_number(text)
        return None if number is None else _number_text(number)
    if field_type is FieldType.DATE:
        return normalize_date(text)
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return folded or None


def key_value(field_type: FieldType, value: Any, *, region: str = "US") -> str | None:
    """The comparable form of ``value`` as a match key of ``field_type``; None when empty."""
    if field_type is FieldType.PHONE:
        if value is None or isinstance(value, bool | list | dict):
            return None
        out = normalize_phone(str(value), region)
    else:
        out = _raw(field_type, value)
    if out is None:
        return None
    if len(out) > MAX_STORED:
        return "sha256:" + hashlib.sha256(out.encode("utf-8", "surrogatepass")).hexdigest()
    return out
