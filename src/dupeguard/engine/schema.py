"""Which field each input column feeds: standard names map themselves, the rest are inferred."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from ..core.fields import FieldSpec, FieldType, infer_type, resolve_fields

__all__ = ["fields_for"]

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
