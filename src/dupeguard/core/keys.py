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
from collections.abc import Sequence
from typing import Any

import polars as pl

from .fields import FieldType
from .normalize import (
    domain_expr,
    email_expr,
    normalize_date,
    normalize_domain,
    normalize_email,
    normalize_number,
    normalize_phone,
    phone_expr,
)

__all__ = ["MAX_STORED", "key_value", "key_values"]

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


_VECTOR_AT = 64
"""Below this many values the scalar form is faster than building a column."""


def _vector(field_type: FieldType, region: str) -> Any:
    if field_type is FieldType.EMAIL:
        return email_expr(pl.col("v"))
    if field_type is FieldType.PHONE:
        return phone_expr(pl.col("v"), region)
    if field_type is FieldType.URL:
        return domain_expr(pl.col("v"))
    return None


def key_values(
    field_type: FieldType, values: Sequence[Any], *, region: str = "US"
) -> list[str | None]:
    """:func:`key_value` of many values at once (the same results): e-mails, phones and URLs
    of a large batch go through the vectorised normalisers of the matching core."""
    expr = _vector(field_type, region) if len(values) >= _VECTOR_AT else None
    if expr is None:
        return [key_value(field_type, v, region=region) for v in values]
    text = [v if isinstance(v, str) else None for v in values]
    column = pl.DataFrame({"v": text}, schema={"v": pl.String}).select(expr.alias("k"))["k"]
    out: list[str | None] = []
    for value, normalised in zip(values, column.to_list(), strict=True):
        if not isinstance(value, str) or (normalised is not None and len(normalised) > MAX_STORED):
            out.append(key_value(field_type, value, region=region))
        else:
            out.append(normalised)
    return out
