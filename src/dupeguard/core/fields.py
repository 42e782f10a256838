"""Field types, the built-in entities' standard fields, and column-name mapping.

A *field type* is how a value is stored (text, email, phone, …, seed 001). A *kind* is how two
values of a field are compared (a first name is compared differently from a street). Standard
fields carry a fixed kind; a custom field gets the kind of its type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .errors import ConfigError

__all__ = [
    "ENTITIES",
    "FieldSpec",
    "FieldType",
    "Kind",
    "infer_type",
    "match_key_ineligibility",
    "resolve_fields",
    "standard_field",
]


class FieldType(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    DATE = "date"
    SINGLE_SELECT = "single_select"
    MULTI_SELECT = "multi_select"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    BOOLEAN = "boolean"
    FILE = "file"
    LOCATION = "location"


class Kind(StrEnum):
    """How values of a field are normalised and compared."""

    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    FULL_NAME = "full_name"
    COMPANY = "company"
    EMAIL = "email"
    PHONE = "phone"
    DOMAIN = "domain"
    STREET = "street"
    CITY = "city"
    STATE = "state"
    ZIP = "zip"
    COUNTRY = "country"
    DATE = "date"
    NUMBER = "number"
    TEXT = "text"
    LONG_TEXT = "long_text"
    CATEGORY = "category"
    IDENTIFIER = "identifier"
    CREATED = "created"  # not compared: used to choose the primary record (oldest)


_INELIGIBLE_REASON = {
    FieldType.MULTI_SELECT: "multi-select values are arrays, and an array is not an identity",
    FieldType.LOCATION: "location fields are associative addresses, not a single key",
    FieldType.BOOLEAN: "a boolean has two values and cannot identify a record",
    FieldType.FILE: "file fields cannot be compared as identity values",
}

_KIND_OF_TYPE = {
    FieldType.TEXT: Kind.TEXT,
    FieldType.LONG_TEXT: Kind.LONG_TEXT,
    FieldType.NUMBER: Kind.NUMBER,
    FieldType.DATE: Kind.DATE,
    FieldType.SINGLE_SELECT: Kind.CATEGORY,
    FieldType.EMAIL: Kind.EMAIL,
    FieldType.PHONE: Kind.PHONE,
    FieldType.URL: Kind.DOMAIN,
}


def match_key_ineligibility(field_type: FieldType, *, encrypted: bool = False) -> str | None:
    """Why a field cannot be a match key (seed 001), or None when it can."""
    if encrypted:
        return "encrypted fields cannot be match keys: matching against ciphertext is not supported"
    return _INELIGIBLE_REASON.get(field_type)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an entity as the matcher sees it."""

    name: str
    type: FieldType
    kind: Kind
    column: str | None = None  # the input column it is read from, when scanning a file

    @property
    def comparable(self) -> bool:
        return self.kind is not Kind.CREATED and self.type in _KIND_OF_TYPE


def _f(name: str, type_: FieldType, kind: Kind | None = None) -> FieldSpec:
    return FieldSpec(name, type_, kind or _KIND_OF_TYPE[type_])


_T, _E, _P, _U, _D, _N, _S = (
    FieldType.TEXT,
    FieldType.EMAIL,
    FieldType.PHONE,
    FieldType.URL,
    FieldType.DATE,
    FieldType.NUMBER,
    FieldType.SINGLE_SELECT,
)

_ADDRESS = (
    _f("street", _T, Kind.STREET),
    _f("city", _T, Kind.CITY),
    _f("state", _T, Kind.STATE),
    _f("zip", _T, Kind.ZIP),
    _f("country", _T, Kind.COUNTRY),
)

_PERSON = (
    _f("first_name", _T, Kind.FIRST_NAME),
    _f("last_name", _T, Kind.LAST_NAME),
    _f("full_name", _T, Kind.FULL_NAME),
    _f("email", _E),
    _f("phone", _P),
    _f("mobile", _P),
    _f("company", _T, Kind.COMPANY),
    _f("job_title", _T),
    *_ADDRESS,
    _f("website", _U),
    _f("date_of_birth", _D),
    _f("external_id", _T, Kind.IDENTIFIER),
    _f("created_at", _D, Kind.CREATED),
)

#: Standard fields of the built-in entities.
ENTITIES: Mapping[str, tuple[FieldSpec, ...]] = {
    "contact": _PERSON,
    "lead": (*_PERSON, _f("status", _S)),
    "company": (
        _f("name", _T, Kind.COMPANY),
        _f("domain", _U),
        _f("phone", _P),
        _f("email", _E),
        *_ADDRESS,
        _f("industry", _S),
        _f("external_id", _T, Kind.IDENTIFIER),
        _f("created_at", _D, Kind.CREATED),
    ),
    "deal": (
        _f("name", _T),
        _f("amount", _N),
        _f("close_date", _D),
        _f("company", _T, Kind.COMPANY),
        _f("contact", _T, Kind.FULL_NAME),
        _f("stage", _S),
        _f("external_id", _T, Kind.IDENTIFIER),
        _f("created_at", _D, Kind.CREATED),
    ),
}

# Header spellings that map themselves to a standard field (after lower-casing and removing
# everything that is not a letter or digit). Entity-specific spellings come first.
_ALIASES_COMMON: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "emailid", "workemail", "primaryemail"),
    "phone": ("phone", "phonenumber", "telephone", "tel", "phoneno", "workphone", "mainphone"),
    "mobile": ("mobile", "mobilephone", "cell", "cellphone", "mobilenumber"),
    "street": (
        "street",
        "address",
        "address1",
        "addressline1",
        "streetaddress",
        "addr",
        "mailingstreet",
        "billingstreet",
    ),
    "city": ("city", "town", "locality", "mailingcity", "billingcity"),
    "state": ("state", "province", "region", "stateprovince", "mailingstate", "billingstate"),
    "zip": (
        "zip",
        "zipcode",
        "postcode",
        "postalcode",
        "postal",
        "mailingpostalcode",
        "billingpostalcode",
    ),
    "country": ("country", "countrycode", "mailingcountry", "billingcountry"),
    "created_at": ("createdat", "created", "createddate", "createdon", "datecreated"),
    "external_id": ("externalid", "extid", "crmid", "sourceid"),
}
_ALIASES_ENTITY: dict[str, dict[str, tuple[str, ...]]] = {
    "person": {
        "first_name": ("firstname", "first", "givenname", "fname", "forename"),
        "last_name": ("lastname", "last", "surname", "familyname", "lname"),
        "full_name": ("name", "fullname", "contactname", "leadname", "personname"),
        "company": (
            "company",
            "companyname",
            "organization",
            "organisation",
            "account",
            "accountname",
            "employer",
        ),
        "job_title": ("title", "jobtitle", "position", "role"),
        "website": ("website", "url", "web", "homepage", "domain"),
        "date_of_birth": ("dob", "dateofbirth", "birthdate", "birthday"),
        "status": ("status", "leadstatus"),
    },
    "company": {
        "name": (
            "name",
            "companyname",
            "company",
            "accountname",
            "account",
            "organization",
            "organisation",
            "businessname",
        ),
        "domain": ("domain", "website", "url", "web", "homepage", "companydomain"),
        "industry": ("industry", "sector"),
    },
    "deal": {
        "name": ("name", "dealname", "opportunity", "opportunityname", "title"),
        "amount": ("amount", "value", "dealvalue", "dealamount", "revenue"),
        "close_date": ("closedate", "expectedclosedate", "closedat", "close"),
        "company": ("company", "companyname", "account", "accountname"),
        "contact": ("contact", "contactname", "person"),
        "stage": ("stage", "dealstage", "pipelinestage"),
    },
}


def _header_key(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


def _alias_table(entity: str) -> dict[str, str]:
    group = "person" if entity in ("contact", "lead") else entity
    table: dict[str, str] = {}
    for source in (_ALIASES_ENTITY.get(group, {}), _ALIASES_COMMON):
        for field, spellings in source.items():
            for spelling in spellings:
                table.setdefault(spelling, field)
    return table


def standard_field(entity: str, name: str) -> FieldSpec | None:
    for spec in ENTITIES.get(entity, ()):
        if spec.name == name:
            return spec
    return None


def resolve_fields(
    columns: Sequence[str],
    entity: str,
    *,
    id_column: str,
    maps: Mapping[str, str] | None = None,
    types: Mapping[str, str] | None = None,
    infer: Mapping[str, FieldType] | None = None,
) -> list[FieldSpec]:
    """Decide which field each input column feeds.

    ``maps`` (``--map COLUMN=FIELD``) names a standard field or a custom field name for a column;
    ``types`` (``--field COLUMN=TYPE``) forces a column to be a custom field of that type;
    ``infer`` gives the inferred type of every other column. Columns named like a standard
    field map themselves; every other column becomes a custom field of its inferred type.
    A column mapped to ``ignore`` (or ``-``) is skipped.
    """
    if entity not in ENTITIES:
        raise ConfigError(f"unknown entity {entity!r}: choose one of {', '.join(sorted(ENTITIES))}")
    maps = dict(maps or {})
    types = dict(types or {})
    infer = infer or {}
    for option, given in (("--map", maps), ("--field", types)):
        unknown = [c for c in given if c not in columns]
        if unknown:
            raise ConfigError(f"{option} names a column that is not in the input: {unknown[0]!r}")
    parsed_types: dict[str, FieldType] = {}
    for column, type_name in types.items():
        try:
            parsed_types[column] = FieldType(type_name.strip().lower())
        except ValueError:
            raise ConfigError(
                f"unknown field type {type_name!r} for column {column!r}: choose one of "
                + ", ".join(t.value for t in FieldType)
            ) from None

    aliases = _alias_table(entity)
    specs: list[FieldSpec] = []
    taken: dict[str, str] = {}
    for column in columns:
        if column == id_column:
            continue
        target = maps.get(column)
        if target is not None and target.strip().lower() in ("ignore", "-", ""):
            continue
        spec = _spec_for(column, entity, target, parsed_types.get(column), infer, aliases)
        if spec is None:
            continue
        if spec.name in taken:
            if target is None and column not in parsed_types:
                # two columns both look like e.g. "phone": keep the first, treat the other as custom
                spec = _custom(column, column, parsed_types.get(column) or infer.get(column))
                if spec is None:
                    continue
            else:
                raise ConfigError(
                    f"columns {taken[spec.name]!r} and {column!r} both map to field {spec.name!r}"
                )
        taken[spec.name] = column
        specs.append(spec)
    return specs


def _spec_for(
    column: str,
    entity: str,
    target: str | None,
    forced: FieldType | None,
    infer: Mapping[str, FieldType],
    aliases: Mapping[str, str],
) -> FieldSpec | None:
    if target is not None:
        name = target.strip()
        std = standard_field(entity, name) or standard_field(
            entity, aliases.get(_header_key(name), "")
        )
        if std is not None and forced is None:
            return FieldSpec(std.name, std.type, std.kind, column)
        return _custom(column, name, forced or infer.get(column))
    if forced is not None:
        return _custom(column, column, forced)
    std_name = aliases.get(_header_key(column))
    std = standard_field(entity, std_name) if std_name else None
    if std is not None:
        return FieldSpec(std.name, std.type, std.kind, column)
    return _custom(column, column, infer.get(column))


def _custom(column: str, name: str, type_: FieldType | None) -> FieldSpec | None:
    type_ = type_ or FieldType.TEXT
    if type_ not in _KIND_OF_TYPE:
        return None  # not comparable (multi-select, boolean, file, location): ignored by scans
    return FieldSpec(name, type_, _KIND_OF_TYPE[type_], column)


def infer_type(values: Iterable[str | None]) -> FieldType:
    """Infer a custom column's type from a sample of its non-empty values."""
    sample = [v.strip() for v in values if v is not None and v.strip()]
    if not sample:
        return FieldType.TEXT
    share = len(sample)

    def frac(pattern: re.Pattern[str]) -> float:
        return sum(1 for v in sample if pattern.fullmatch(v)) / share

    if frac(_EMAIL_RE) >= 0.9:
        return FieldType.EMAIL
    if frac(_URL_RE) >= 0.9:
        return FieldType.URL
    if frac(_DATE_RE) >= 0.9:
        return FieldType.DATE
    if frac(_NUMBER_RE) >= 0.95:
        return FieldType.NUMBER
    if frac(_PHONE_RE) >= 0.9:
        return FieldType.PHONE
    distinct = len(set(sample))
    if distinct <= 20 and share >= 5 * distinct:
        return FieldType.SINGLE_SELECT
    if sum(len(v) for v in sample) / share > 80:
        return FieldType.LONG_TEXT
    return FieldType.TEXT


_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URL_RE = re.compile(r"(https?://)?(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(/\S*)?", re.IGNORECASE)
_DATE_RE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([ T].*)?|\d{1,2}[/.]\d{1,2}[/.]\d{4}")
_NUMBER_RE = re.compile(r"[-+]?[$€£]?\s?\d[\d,]*(\.\d+)?")
_PHONE_RE = re.compile(r"\+?[\d\s().-]{7,20}")
