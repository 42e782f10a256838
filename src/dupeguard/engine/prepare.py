"""Stage 1, normalise: derive a plan's prepared columns from raw records (vectorised).

``prepare`` is a plain function from a frame of raw string columns to a frame of prepared
columns, row for row, so it runs unchanged on one machine or inside a Spark ``mapInArrow``.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from ..core import normalize as norm
from ..core.errors import ConfigError
from ..core.plan import Derived, Plan

__all__ = ["derive_expr", "prepare"]

NONE = "__none__"


def _src(name: str, derived: set[str], raw: set[str]) -> pl.Expr:
    """A source is an earlier derived column if there is one, else the raw field, else null."""
    if name in derived:
        return pl.col(name)
    if _RAW + name in raw:
        return pl.col(_RAW + name).cast(pl.String)
    return pl.lit(None, dtype=pl.String)


_RAW = "__raw__"


def _token(expr: pl.Expr, which: str) -> pl.Expr:
    """First or last token of an already normalised name (a lone token is a last name)."""
    tokens = expr.str.split(" ")
    count = tokens.list.len()
    if which == "first":
        return pl.when(count >= 2).then(tokens.list.first()).otherwise(None)
    return pl.when(count >= 1).then(tokens.list.last()).otherwise(None)


def _sorted_pair(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    lo = pl.when(a.is_null() | (b.is_not_null() & (b < a))).then(b).otherwise(a)
    hi = pl.when(a.is_null() | (b.is_not_null() & (b < a))).then(a).otherwise(b)
    return pl.concat_str([lo, hi], separator="|", ignore_nulls=True)


def _date_days(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_date("%Y-%m-%d", strict=False).cast(pl.Int32).cast(pl.Float64)


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.len_chars() > 0).then(expr).otherwise(None)


_UNARY: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "person_name": norm.person_name_expr,
    "first_token": lambda e: _token(e, "first"),
    "last_token": lambda e: _token(e, "last"),
    "email": norm.email_expr,
    "email_local": lambda e: e.str.split("@").list.first(),
    "company": norm.company_expr,
    "company_acronym": norm.company_acronym_expr,
    "domain": norm.domain_expr,
    "street": norm.street_expr,
    "zip": norm.zip_expr,
    "text": norm.text_expr,
    "category": norm.text_expr,
    "date_text": norm.date_expr,
    "date_days": _date_days,
    "number": norm.number_expr,
    "phonetic": norm.phonetic_expr,
    "first_letter": lambda e: e.str.slice(0, 1),
}


def derive_expr(
    d: Derived, derived: set[str], raw: set[str], *, default_region: str = "US"
) -> pl.Expr:
    """The polars expression computing one derived column."""
    sources = [_src(s, derived, raw) for s in d.sources]
    if d.op == "phone":
        expr = norm.phone_expr(sources[0], default_region=default_region)
    elif d.op == "concat":
        expr = _blank_to_null(pl.concat_str(sources, separator=" ", ignore_nulls=True))
    elif d.op == "company_key":  # the acronym of a multi-word name, else the name itself
        expr = pl.coalesce(sources[1], sources[0])
    elif d.op == "sorted_pair":
        expr = _blank_to_null(_sorted_pair(sources[0], sources[1]))
    elif d.op in _UNARY:
        expr = _UNARY[d.op](sources[0])
    else:  # pragma: no cover - Derived validates ops
        raise ConfigError(f"no vectorised form for derivation {d.op!r}")
    return expr.alias(d.name)


def prepare(raw: pl.DataFrame, plan: Plan, *, default_region: str = "US") -> pl.DataFrame:
    """Prepared columns for every raw record (same row order, one column per derivation).

    Derivations run in dependency layers, each layer one parallel ``with_columns``.
    """
    columns = {f.column: _RAW + f.name for f in plan.fields if f.column and f.column in raw.columns}
    frame = raw.lazy().select([pl.col(c).alias(n) for c, n in columns.items()])
    raw_names = set(columns.values())
    done: set[str] = set()
    pending = list(plan.derived)
    while pending:
        names = {d.name for d in pending}
        layer = [d for d in pending if not any(s in names and s != d.name for s in d.sources)]
        if not layer:
            raise ConfigError("derived columns depend on each other in a cycle")
        frame = frame.with_columns(
            [derive_expr(d, done, raw_names, default_region=default_region) for d in layer]
        )
        done |= {d.name for d in layer}
        pending = [d for d in pending if d not in layer]
    return frame.select([d.name for d in plan.derived]).collect()
