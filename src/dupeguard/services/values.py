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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ValidationError
from ..core.fields import FieldType
from ..core.normalize import normalize_date, normalize_number
from .records import MAX_VALUE, check_values

__all__ = ["FieldDef", "clean_for_fields"]

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
    out: dict[str, Any] = {}
    for name, value in data.items():
        definition = fields.get(name)
        if definition is None:
            check_values({name: value})  # a malformed name or value says so first
            raise ValidationError(
                f"data.{name}: entity {entity!r} has no field {name!r}; define it with "
                f"POST /v1/entities/{entity}/fields",
                details={"field": f"data.{name}"},
            )
        if type(value) is str and definition.type in _PLAIN and _plain_ok(value):
            out[name] = value if value.strip() else None  # the common case, kept cheap
            continue
        out[name] = _one(definition, check_values({name: value})[name])
    return out


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
