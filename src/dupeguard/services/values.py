"""Field values checked against the entity's field definitions (one place for every door).

Values arrive as JSON (API, forms) or as text (CSV import); each is checked and stored in
the form its field type asks for:

| type | accepted | stored |
|---|---|---|
| text, long_text, email, phone, url, file, location | a string (or a number) | as text |
| number | a number, or text like ``1,200`` / ``$1.5M`` | a number |
| date | ``2024-03-05``, ``03/05/2024``, ``5 March 2024``, … | ``YYYY-MM-DD`` |
| boolean | true/false, yes/no, 1/0 | true/false |
| single_select | a string; one of the choices when the field has choices | the choice |
| multi_select | a list of strings, or text separated by ``;`` | a list |

Empty values (null, ``""``, blanks, ``[]``) are returned as None: "no value".

:func:`clean_rows` checks a batch (a CSV import, a bulk call): its number and date columns
are parsed at once by the vectorised normalisers; it gives every row exactly what
:func:`clean_for_fields` gives it (the same values, or the same first error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..core.errors import ValidationError
from ..core.fields import FieldType
from ..core.normalize import date_expr, normalize_date, normalize_number, number_expr
from .records import MAX_VALUE, check_values

__all__ = ["FieldDef", "clean_for_fields", "clean_rows"]

_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    type: FieldType
    choices: tuple[str, ...] = field(default=())
    encrypted: bool = False


def _bad(name: str, message: str) -> ValidationError:
    return ValidationError(f"data.{name}: {message}", details={"field": f"data.{name}"})


def _number(name: str, value: Any) -> int | float:
    number = float(value) if isinstance(value, int | float) else normalize_number(str(value))
    if number is None:
        raise _bad(name, f"{value!r} is not a number")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if not choices:
        return value
    folded = {c.casefold(): c for c in choices}
    found = folded.get(value.casefold())
    if found is None:
        shown = ", ".join(choices[:10]) + (" …" if len(choices) > 10 else "")
        raise _bad(name, f"{value!r} is not one of the choices ({shown})")
    return found


def _one(definition: FieldDef, value: Any) -> Any:
    name, ftype = definition.name, definition.type
    if value is None or (isinstance(value, str) and not value.strip()) or value == []:
        return None
    if ftype is FieldType.MULTI_SELECT:
        items = value if isinstance(value, list) else str(value).split(";")
        cleaned = [str(v).strip() for v in items if str(v).strip()]
        return [_choice(name, v, definition.choices) for v in dict.fromkeys(cleaned)] or None
    if isinstance(value, list):
        raise _bad(name, "a list is only allowed for multi-select fields")
    if ftype is FieldType.NUMBER:
        if isinstance(value, bool):
            raise _bad(name, "a boolean is not a number")
        return _number(name, value)
    if ftype is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        word = str(value).strip().casefold()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise _bad(name, f"{value!r} is not true or false")
    text = str(value) if not isinstance(value, bool) else ("true" if value else "false")
    if ftype is FieldType.DATE:
        iso = normalize_date(text)
        if iso is None:
            raise _bad(name, f"{text!r} is not a date (use YYYY-MM-DD)")
        return iso
    if ftype is FieldType.SINGLE_SELECT:
        return _choice(name, text.strip(), definition.choices)
    return text


def clean_for_fields(
    data: Mapping[str, Any], fields: Mapping[str, FieldDef], *, entity: str
) -> dict[str, Any]:
    """``data`` checked against the entity's fields; empty values come back as None.

    An unknown field is a ``validation_error`` naming it (define it first with
    ``POST /v1/entities/{entity}/fields``).
    """
    result = _row(data, fields, entity, 0, {})
    if isinstance(result, ValidationError):
        raise result
    return result


def _clean(name: str, value: Any, fields: Mapping[str, FieldDef], entity: str) -> Any:
    """One value of :func:`clean_for_fields` (raises its error)."""
    definition = fields.get(name)
    if definition is None:
        check_values({name: value})  # a malformed name or value says so first
        raise ValidationError(
            f"data.{name}: entity {entity!r} has no field {name!r}; define it with "
            f"POST /v1/entities/{entity}/fields",
            details={"field": f"data.{name}"},
        )
    if type(value) is str and definition.type in _PLAIN and _plain_ok(value):
        return value if value.strip() else None  # the common case, kept cheap
    return _one(definition, check_values({name: value})[name])


_PLAIN = frozenset(
    {
        FieldType.TEXT,
        FieldType.LONG_TEXT,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
        FieldType.FILE,
        FieldType.LOCATION,
    }
)


def _plain_ok(value: str) -> bool:
    return len(value) <= MAX_VALUE and "\x00" not in value


# --- many rows: number and date columns parsed at once ------------------------------------------

_VECTOR_AT = 64
"""Below this many values a column is not worth parsing at once."""

_PARSED = frozenset({FieldType.NUMBER, FieldType.DATE})
_SCALAR = object()
"""A cell the vectorised parse leaves to the scalar path (:func:`_clean`)."""


def clean_rows(
    rows: Sequence[Mapping[str, Any]], fields: Mapping[str, FieldDef], *, entity: str
) -> list[dict[str, Any] | ValidationError]:
    """:func:`clean_for_fields` of every row — its dict, or the error it would raise.

    Number and date columns of a large batch are parsed at once by the vectorised
    normalisers (polars, property-tested equal to the scalar ones); every other value, and
    any value those do not settle (not a string, bad, odd), is checked as row by row, in the
    row's own field order, so each row gets exactly its :func:`clean_for_fields` result.
    Text-like values stay in the row pass: their check (length, NUL, blank) is cheaper per
    row than gathering a column of Python strings (measured: 0.5 s against 1.1 s for
    100,000 rows of 9 text fields)."""
    parsed: dict[str, dict[int, Any]] = {}
    if len(rows) >= _VECTOR_AT:
        for name in set().union(*rows):
            definition = fields.get(name)
            if definition is None or definition.type not in _PARSED:
                continue
            positions = [i for i, row in enumerate(rows) if name in row]
            if len(positions) < _VECTOR_AT:
                continue
            settled = _parsed([rows[i][name] for i in positions], definition.type)
            parsed[name] = {
                i: value
                for i, value in zip(positions, settled, strict=True)
                if value is not _SCALAR
            }
    return [_row(data, fields, entity, position, parsed) for position, data in enumerate(rows)]


def _row(
    data: Mapping[str, Any],
    fields: Mapping[str, FieldDef],
    entity: str,
    position: int,
    parsed: Mapping[str, Mapping[int, Any]],
) -> dict[str, Any] | ValidationError:
    """:func:`clean_for_fields` of one row, taking the values ``parsed`` settled."""
    out: dict[str, Any] = {}
    try:
        for name, value in data.items():
            definition = fields.get(name)
            if definition is not None:
                if type(value) is str and definition.type in _PLAIN and _plain_ok(value):
                    out[name] = value if value.strip() else None  # the common case, kept cheap
                    continue
                done = parsed.get(name)
                if done is not None and position in done:
                    out[name] = done[position]
                    continue
            out[name] = _clean(name, value, fields, entity)
    except ValidationError as exc:
        return exc
    return out


def _parsed(values: list[Any], kind: FieldType) -> list[Any]:
    """Numbers or dates of a column through the vectorised normalisers: the cleaned value of
    each string they parse, None for a None, else :data:`_SCALAR`."""
    text = [v if type(v) is str else None for v in values]
    try:
        column = pl.Series("v", text, dtype=pl.String)
    except UnicodeEncodeError:  # lone surrogates: polars holds UTF-8 only; scalar for them
        column = pl.Series("v", [v if _utf8(v) else None for v in text], dtype=pl.String)
    v = pl.col("v")
    ok = (v.str.len_chars() <= MAX_VALUE) & ~v.str.contains("\x00", literal=True)
    parse = number_expr(v) if kind is FieldType.NUMBER else date_expr(v)
    frame = pl.DataFrame([column]).select(ok.alias("ok"), parse.alias("out"))
    flags, parsed = frame["ok"].to_list(), frame["out"].to_list()
    integral = kind is FieldType.NUMBER
    return [
        None
        if raw is None
        else (_integral(x) if integral else x)
        if good and x is not None
        else _SCALAR
        for raw, good, x in zip(values, flags, parsed, strict=True)
    ]


def _utf8(value: str | None) -> bool:
    if value is None:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _integral(number: float) -> int | float:
    return int(number) if number.is_integer() and abs(number) < 2**53 else number
