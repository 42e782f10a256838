"""What to compare for an entity: derived columns, comparisons and blocking rules.

A :class:`Plan` is pure data built from the entity's fields. The batch engine (local or Spark)
and single-record intake both execute the same plan: they derive the same normalised columns,
evaluate the same comparisons and generate candidates with the same blocking rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from . import comparisons as lib
from .compare import Comparison
from .errors import ConfigError
from .fields import FieldSpec, Kind

__all__ = ["BlockingRule", "Derived", "Plan", "build_plan"]

#: Operations a derived column may use (the engine maps each to a vectorised expression,
#: intake to a scalar function; both come from :mod:`dupeguard.core.normalize`).
OPS = frozenset(
    {
        "person_name",
        "first_token",
        "last_token",
        "email",
        "email_local",
        "phone",
        "company",
        "company_acronym",
        "company_key",
        "domain",
        "street",
        "zip",
        "text",
        "date_text",
        "date_days",
        "number",
        "concat",
        "phonetic",
        "sorted_pair",
        "first_letter",
        "category",
    }
)
NUMERIC_OPS = frozenset({"date_days", "number"})


@dataclass(frozen=True, slots=True)
class Derived:
    """A prepared column: ``op`` applied to source fields (or earlier derived columns)."""

    name: str
    op: str
    sources: tuple[str, ...]
    group: str | None = None  # columns of one group share a value dictionary

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ConfigError(f"unknown derivation {self.op!r} for column {self.name!r}")

    @property
    def numeric(self) -> bool:
        return self.op in NUMERIC_OPS


@dataclass(frozen=True, slots=True)
class BlockingRule:
    """Records sharing every ``columns`` value are candidates; big blocks are windowed by
    ``sort`` so that a giant block (gmail.com, "Smith") costs O(n·window), not O(n²)."""

    name: str
    columns: tuple[str, ...]
    sort: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    entity: str
    fields: tuple[FieldSpec, ...]
    derived: tuple[Derived, ...]
    comparisons: tuple[Comparison, ...]
    blocking: tuple[BlockingRule, ...]

    @property
    def created_field(self) -> str | None:
        return next((f.name for f in self.fields if f.kind is Kind.CREATED), None)

    @property
    def compared_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.comparable and f.kind is not Kind.CREATED)

    @property
    def tf_columns(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for comparison in self.comparisons:
            for level in comparison.levels:
                if level.tf:
                    seen[level.tf] = None
        return tuple(seen)

    @property
    def identity(self) -> int:
        """Index of the comparison that says *who* a record is (name, else company)."""
        for wanted in ("person_name", "company"):
            for i, c in enumerate(self.comparisons):
                if c.name == wanted or (wanted == "company" and c.label == "company"):
                    return i
        return 0


class _Builder:
    def __init__(self, entity: str, fields: Sequence[FieldSpec]) -> None:
        self.entity = entity
        self.by_kind: dict[Kind, list[FieldSpec]] = {}
        for f in fields:
            self.by_kind.setdefault(f.kind, []).append(f)
        self.derived: list[Derived] = []
        self.comparisons: list[Comparison] = []
        self.blocking: list[BlockingRule] = []

    def first(self, kind: Kind) -> FieldSpec | None:
        found = self.by_kind.get(kind)
        return found[0] if found else None

    def derive(self, name: str, op: str, *sources: str, group: str | None = None) -> str:
        if not any(d.name == name for d in self.derived):
            self.derived.append(Derived(name, op, sources, group))
        return name

    def block(self, name: str, columns: tuple[str, ...], sort: tuple[str, ...]) -> None:
        self.blocking.append(BlockingRule(name, columns, sort))


def build_plan(entity: str, fields: Sequence[FieldSpec]) -> Plan:
    """The comparisons and blocking rules for an entity with the given fields."""
    b = _Builder(entity, fields)
    _people(b)
    _contact_points(b)
    _organisations(b)
    _places(b)
    _generic(b, fields)
    if not b.comparisons:
        raise ConfigError(
            "nothing to compare: the input has no usable fields besides the id column"
        )
    if not b.blocking:
        raise ConfigError(
            "no field can generate candidate pairs (name, email, phone, company, domain, "
            "identifier or date): map at least one with --map or --field"
        )
    return Plan(entity, tuple(fields), tuple(b.derived), tuple(b.comparisons), tuple(b.blocking))


def _people(b: _Builder) -> None:
    first, last, full = b.first(Kind.FIRST_NAME), b.first(Kind.LAST_NAME), b.first(Kind.FULL_NAME)
    if last is not None:
        b.derive("last", "person_name", last.name, group="name")
        if first is not None:
            b.derive("first", "person_name", first.name, group="name")
            fields: tuple[str, ...] = (first.name, last.name)
        elif full is not None:
            b.derive("full_name", "person_name", full.name)
            b.derive("first", "first_token", "full_name", group="name")
            fields = (full.name, last.name)
        else:
            b.derive("first", "text", "__none__", group="name")
            fields = (last.name,)
    elif full is not None:
        b.derive("full_name", "person_name", full.name)
        b.derive("first", "first_token", "full_name", group="name")
        b.derive("last", "last_token", "full_name", group="name")
        fields = (full.name,)
    else:
        return
    from .normalize import nickname_pairs

    b.derive("full", "concat", "first", "last")
    b.derive("name_key", "sorted_pair", "first", "last")
    b.derive("last_sound", "phonetic", "last")
    b.derive("first_letter", "first_letter", "first")
    b.comparisons.append(
        lib.person_name_comparison(
            fields=fields, last_field=fields[-1], nickname_pairs=nickname_pairs
        )
    )
    b.block("name", ("name_key",), ("zip_key", "email_key"))
    b.block("surname_sound_locality", ("last_sound", "locality_key"), ("full",))


def _contact_points(b: _Builder) -> None:
    for spec in b.by_kind.get(Kind.EMAIL, []):
        col = b.derive(spec.name, "email", spec.name)
        local = b.derive(f"{spec.name}__local", "email_local", col)
        b.comparisons.append(lib.email_comparison(column=col, local=local, field=spec.name))
        b.block(spec.name, (col,), ("full",) if _has(b, "full") else ())
    for spec in b.by_kind.get(Kind.PHONE, []):
        col = b.derive(spec.name, "phone", spec.name)
        b.comparisons.append(lib.phone_comparison(column=col, field=spec.name))
        b.block(spec.name, (col,), ("full",) if _has(b, "full") else ())


def _organisations(b: _Builder) -> None:
    for spec in b.by_kind.get(Kind.COMPANY, []):
        col = b.derive(spec.name, "company", spec.name)
        acro = b.derive(f"{spec.name}__acronym", "company_acronym", col)
        b.comparisons.append(lib.company_comparison(column=col, acronym=acro, field=spec.name))
        if b.first(Kind.FIRST_NAME) is None and b.first(Kind.LAST_NAME) is None:
            # the company is the record's name (company entity, or a file with no person names)
            key = b.derive(f"{spec.name}__key", "company_key", col, acro)
            b.block(spec.name, (col,), ("locality_key",))
            b.block(f"{spec.name}_acronym", (key,), ("locality_key",))
            sound = b.derive(f"{spec.name}__sound", "phonetic", col)
            b.block(f"{spec.name}_sound_locality", (sound, "locality_key"), (col,))
    for spec in b.by_kind.get(Kind.DOMAIN, []):
        col = b.derive(spec.name, "domain", spec.name)
        b.comparisons.append(lib.exact_comparison(column=col, field=spec.name, label="website"))
        if b.first(Kind.COMPANY) is not None and b.first(Kind.LAST_NAME) is None:
            b.block(spec.name, (col,), ())


def _places(b: _Builder) -> None:
    street = b.first(Kind.STREET)
    if street is not None:
        col = b.derive("street", "street", street.name)
        b.comparisons.append(
            lib.text_comparison(column=col, field=street.name, label="street address", fuzzy=0.9)
        )
        b.block("address", (col, "locality_key"), ("full",))
    zip_, city = b.first(Kind.ZIP), b.first(Kind.CITY)
    zip_col = b.derive("zip", "zip", zip_.name) if zip_ else None
    city_col = b.derive("city", "text", city.name) if city else None
    if zip_col or city_col:
        fields = tuple(f.name for f in (zip_, city) if f is not None)
        b.comparisons.append(
            lib.locality_comparison(zip_column=zip_col, city_column=city_col, fields=fields)
        )
    # keys used to window and split big blocks; absent values sort last
    b.derive("locality_key", "text", zip_col or city_col or "__none__")
    b.derive("zip_key", "text", zip_col or city_col or "__none__")
    for kind, label in ((Kind.STATE, "state"), (Kind.COUNTRY, "country")):
        spec = b.first(kind)
        if spec is not None and (kind is Kind.COUNTRY or not (zip_col or city_col)):
            col = b.derive(spec.name, "text", spec.name)
            b.comparisons.append(lib.exact_comparison(column=col, field=spec.name, label=label))


def _generic(b: _Builder, fields: Sequence[FieldSpec]) -> None:
    if not _has(b, "email_key"):
        email = b.first(Kind.EMAIL)
        b.derive("email_key", "text", email.name if email else "__none__")
    if not _has(b, "full"):
        b.derive("full", "text", "__none__")
    handled = {
        Kind.FIRST_NAME,
        Kind.LAST_NAME,
        Kind.FULL_NAME,
        Kind.EMAIL,
        Kind.PHONE,
        Kind.COMPANY,
        Kind.DOMAIN,
        Kind.STREET,
        Kind.ZIP,
        Kind.CITY,
        Kind.STATE,
        Kind.COUNTRY,
        Kind.CREATED,
    }
    for spec in fields:
        if spec.kind in handled:
            continue
        label = spec.name.replace("_", " ")
        col = f"x__{spec.name}"
        if spec.kind is Kind.IDENTIFIER:
            b.derive(col, "text", spec.name)
            b.comparisons.append(
                lib.identifier_comparison(column=col, field=spec.name, label=label)
            )
            b.block(spec.name, (col,), ())
        elif spec.kind is Kind.DATE:
            text = b.derive(col, "date_text", spec.name)
            days = b.derive(f"{col}__days", "date_days", text)
            comparison = lib.date_comparison(
                column=days, field=spec.name, label=label, text_column=text
            )
            if spec.name == "date_of_birth":
                comparison = replace(comparison, personal=True)
            b.comparisons.append(comparison)
            if spec.name == "date_of_birth":
                b.block(spec.name, (text,), ("full",))
        elif spec.kind is Kind.NUMBER:
            b.derive(col, "number", spec.name)
            b.comparisons.append(lib.number_comparison(column=col, field=spec.name, label=label))
        elif spec.kind is Kind.CATEGORY:
            b.derive(col, "category", spec.name)
            b.comparisons.append(
                lib.exact_comparison(column=col, field=spec.name, label=label, tf=False)
            )
        elif spec.kind is Kind.LONG_TEXT:
            b.derive(col, "text", spec.name)
            b.comparisons.append(
                lib.text_comparison(
                    column=col,
                    field=spec.name,
                    label=label,
                    method="token_set",
                    fuzzy=0.9,
                    weak=0.7,
                    tf=False,
                )
            )
        else:  # plain text
            b.derive(col, "text", spec.name)
            b.comparisons.append(lib.text_comparison(column=col, field=spec.name, label=label))
    first_text = b.first(Kind.TEXT)
    if first_text is not None and (b.entity == "deal" or not b.blocking):
        # a deal's name; or, for a file of custom text only, the first text column
        b.block(first_text.name, (f"x__{first_text.name}",), ("locality_key",))


def _has(b: _Builder, name: str) -> bool:
    return any(d.name == name for d in b.derived)
