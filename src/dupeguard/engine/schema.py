"""Which field each input column feeds: standard names map themselves, the rest are inferred."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from ..core.fields import FieldSpec, FieldType, infer_type, resolve_fields

__all__ = ["fields_for", "fields_from_definitions"]

_SAMPLE = 2_000


def fields_for(
    records: pl.DataFrame,
    *,
    entity: str,
    id_column: str,
    maps: Mapping[str, str] | None = None,
    types: Mapping[str, str] | None = None,
) -> list[FieldSpec]:
    """Field specs for a frame's columns (the id column excluded)."""
    sample = records.head(_SAMPLE)
    inferred: dict[str, FieldType] = {
        column: infer_type(sample[column].cast(pl.String).to_list())
        for column in records.columns
        if column != id_column
    }
    return resolve_fields(
        records.columns, entity, id_column=id_column, maps=maps, types=types, infer=inferred
    )


def fields_from_definitions(
    columns: list[str], entity: str, definitions: list[tuple[str, str]]
) -> list[FieldSpec]:
    """Field specs for stored records: each defined field present as a column, by its type.

    Standard fields keep their comparison kind; custom fields get their type's kind; fields a
    scan cannot compare (multi-select, boolean, file, location) are left out. ``created_at``
    feeds the choice of primary record.
    """
    from ..core.fields import Kind, standard_field

    specs: list[FieldSpec] = []
    present = set(columns)
    for name, type_name in definitions:
        if name not in present:
            continue
        std = standard_field(entity, name)
        if std is not None:
            specs.append(FieldSpec(std.name, std.type, std.kind, column=name))
            continue
        try:
            ftype = FieldType(type_name)
        except ValueError:
            continue
        spec = resolve_fields([name], entity, id_column="", types={name: ftype.value})
        specs.extend(spec)
    if "created_at" in present:
        specs.append(FieldSpec("created_at", FieldType.DATE, Kind.CREATED, column="created_at"))
    return specs
