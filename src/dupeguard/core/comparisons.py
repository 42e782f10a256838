"""The comparison library: one builder per kind of field.

Each builder returns a :class:`~dupeguard.core.compare.Comparison` whose levels run from the
strongest agreement to *else*. Thresholds are constructor arguments and are validated at once.
Masks are computed lazily: a fuzzy score is only computed for pairs no stronger level took.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import polars as pl

from .compare import (
    ELSE,
    MISSING,
    Comparison,
    Level,
    NumericColumn,
    PairColumn,
    pair_similarity,
)
from .errors import ConfigError

__all__ = [
    "company_comparison",
    "date_comparison",
    "exact_comparison",
    "identifier_comparison",
    "locality_comparison",
    "number_comparison",
    "person_name_comparison",
    "phone_comparison",
    "text_comparison",
]

Columns = Mapping[str, PairColumn | NumericColumn]


def _threshold(value: float, what: str) -> float:
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{what} threshold must be in (0, 1], got {value}")
    return value


def _shape_of(column: PairColumn) -> tuple[np.ndarray, np.ndarray]:
    """Length and first character (as a 64-bit hash) of every dictionary value."""
    values = pl.Series(column.values.tolist(), dtype=pl.String)
    lengths = values.str.len_chars().fill_null(0).to_numpy().astype(np.int64)
    firsts = values.str.slice(0, 1).hash(seed=0).to_numpy()
    return lengths, firsts


def _plausible(column: PairColumn, rows: np.ndarray, max_len_diff: int) -> np.ndarray:
    """Cheap filter before a fuzzy score: same first character and similar length.

    A typo rarely hits the first character, and a fuzzy level needs similar lengths; this
    skips scoring the many candidate pairs whose values are plainly different.
    """
    if len(rows) == 0 or len(column.values) == 0:
        return np.zeros(len(rows), dtype=bool)
    lengths, firsts = _shape_of(column)
    left, right = column.left[rows], column.right[rows]
    return (firsts[left] == firsts[right]) & (
        np.abs(lengths[left] - lengths[right]) <= max_len_diff
    )


class _Lazy:
    """Builds level masks in order, computing each only where no earlier level matched."""

    def __init__(self, n: int) -> None:
        self.decided = np.zeros(n, dtype=bool)
        self.masks: list[np.ndarray] = []

    def add(self, mask: np.ndarray) -> None:
        mask = mask & ~self.decided
        self.decided |= mask
        self.masks.append(mask)

    def open_rows(self, *columns: PairColumn) -> np.ndarray:
        both = ~self.decided
        for column in columns:
            both &= ~column.missing
        return np.flatnonzero(both)

    def add_scored(self, rows: np.ndarray, ok: np.ndarray, n: int) -> None:
        mask = np.zeros(n, dtype=bool)
        mask[rows[ok]] = True
        self.add(mask)


def _sim(
    column: PairColumn, rows: np.ndarray, method: str, cutoff: float | None = None
) -> np.ndarray:
    return pair_similarity(column, rows, method, cutoff=cutoff)


def _as_str(columns: Columns, name: str) -> PairColumn:
    column = columns[name]
    assert isinstance(column, PairColumn)
    return column


def _as_num(columns: Columns, name: str) -> NumericColumn:
    column = columns[name]
    assert isinstance(column, NumericColumn)
    return column


# --------------------------------------------------------------------------------------------
# People


def person_name_comparison(
    *,
    first: str = "first",
    last: str = "last",
    full: str = "full",
    fields: tuple[str, ...] = ("first_name", "last_name"),
    last_field: str | None = None,
    nickname_pairs: Callable[[], frozenset[tuple[str, str]]] | None = None,
    fuzzy: float = 0.9,
    weak: float = 0.8,
) -> Comparison:
    """First and last name together: exact, swapped, nickname, typo, initial, surname only.

    ``first`` and ``last`` must share one dictionary (so a swap is a code comparison).
    """
    _threshold(fuzzy, "name fuzzy")
    _threshold(weak, "name weak")
    if weak > fuzzy:
        raise ConfigError("the weak name threshold must not exceed the fuzzy one")
    last_field = last_field or fields[-1]

    def assign(columns: Columns) -> Sequence[np.ndarray]:
        f, s = _as_str(columns, first), _as_str(columns, last)
        n = len(f.left)
        lazy = _Lazy(n)
        no_first_names = (f.left < 0) & (f.right < 0)  # e.g. a file with surnames only
        lazy.add((f.equal() | no_first_names) & s.equal())
        lazy.add((f.left == s.right) & (s.left == f.right) & (f.left >= 0) & (s.left >= 0))
        last_equal = s.equal()
        nick = np.zeros(n, dtype=bool)
        if nickname_pairs is not None:
            rows = np.flatnonzero(last_equal & ~lazy.decided & ~f.missing)
            nick[rows] = _known_pairs(f, rows, nickname_pairs())
        lazy.add(nick)
        rows = lazy.open_rows(f, s)
        last_sim = np.ones(len(rows))
        differs = np.flatnonzero(s.left[rows] != s.right[rows])
        last_sim[differs] = _sim(s, rows[differs], "jaro_winkler", weak)
        first_sim = np.zeros(len(rows))
        near = np.flatnonzero(last_sim >= weak)
        first_sim[near] = _sim(f, rows[near], "jaro_winkler", weak)
        lazy.add_scored(rows, (first_sim >= fuzzy) & (last_sim >= fuzzy), n)
        initial = _initial_match(f) | (f.missing & ~((f.left < 0) & (f.right < 0)))
        lazy.add(last_equal & initial)
        lazy.add_scored(rows, (first_sim >= weak) & (last_sim >= weak), n)
        lazy.add(last_equal)
        return lazy.masks

    def missing_when(columns: Columns) -> np.ndarray:
        return _as_str(columns, last).missing

    return Comparison(
        name="person_name",
        fields=fields,
        columns=(first, last, full),
        levels=(
            MISSING,
            Level("exact", "same name", tf=full),
            Level("swapped", "same name with first and last swapped"),
            Level("nickname", "same name with a nickname {detail}", tf=last),
            Level("fuzzy", "nearly identical names {detail}"),
            Level("initial", "matching initial and last name {detail}", tf=last),
            Level("similar", "similar names {detail}"),
            Level("last_only", "same last name", fields=(last_field,), tf=last),
            ELSE,
        ),
        assign=assign,
        missing_when=missing_when,
        label="name",
        detail="name",
    )


def _few_edits(
    column: PairColumn,
    rows: np.ndarray,
    *,
    max_edits: int,
    same_length: bool = False,
    min_length: int = 1,
) -> np.ndarray:
    """At most ``max_edits`` Levenshtein edits apart (a transposition counts as two)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=bool)
    lengths = np.fromiter((len(v) for v in column.values), dtype=np.int64, count=len(column.values))
    left, right = lengths[column.left[rows]], lengths[column.right[rows]]
    longest = np.maximum(left, right)
    edits = np.rint((1.0 - pair_similarity(column, rows, "levenshtein")) * longest)
    ok = (edits <= max_edits) & (longest >= min_length)
    if same_length:
        ok &= left == right
    return ok


def _phone_digits(column: PairColumn) -> tuple[np.ndarray, np.ndarray]:
    """Every dictionary value's digits as an integer (-1 if none or too long) and their count."""
    digits = pl.Series(column.values.tolist(), dtype=pl.String).str.replace_all(r"\D", "")
    lengths = digits.str.len_chars().fill_null(0).to_numpy().astype(np.int64)
    numbers = digits.str.slice(0, 18).cast(pl.Int64, strict=False).fill_null(-1).to_numpy()
    return numbers, lengths


def _known_pairs(
    column: PairColumn, rows: np.ndarray, known: frozenset[tuple[str, str]]
) -> np.ndarray:
    """Whether each row's (left, right) value pair is in ``known`` (once per distinct pair)."""
    codes = _pair_keys(column, rows)
    uniq, inverse = np.unique(codes, return_inverse=True)
    width = len(column.values) + 1
    lo, hi = np.divmod(uniq, width)
    hits = np.fromiter(
        ((column.values[a], column.values[b]) in known for a, b in zip(lo, hi, strict=True)),
        dtype=bool,
        count=len(uniq),
    )
    return hits[inverse]


def _pair_keys(column: PairColumn, rows: np.ndarray) -> np.ndarray:
    left = column.left[rows].astype(np.int64)
    right = column.right[rows].astype(np.int64)
    return np.minimum(left, right) * (len(column.values) + 1) + np.maximum(left, right)


def _initial_match(column: PairColumn) -> np.ndarray:
    """One side is a single letter (an initial) equal to the other side's first letter."""
    n = len(column.left)
    out = np.zeros(n, dtype=bool)
    ok = ~column.missing
    if not ok.any() or len(column.values) == 0:
        return out
    lengths, firsts = _shape_of(column)
    rows = np.flatnonzero(ok)
    left, right = column.left[rows], column.right[rows]
    one_initial = (lengths[left] == 1) | (lengths[right] == 1)
    out[rows] = one_initial & (firsts[left] == firsts[right])
    return out


# --------------------------------------------------------------------------------------------
# Contact points


def email_comparison(
    *,
    column: str = "email",
    local: str = "email_local",
    fuzzy: float = 0.92,
    field: str = "email",
) -> Comparison:
    _threshold(fuzzy, "email fuzzy")

    def assign(columns: Columns) -> Sequence[np.ndarray]:
        e, loc = _as_str(columns, column), _as_str(columns, local)
        n = len(e.left)
        lazy = _Lazy(n)
        lazy.add(e.equal())
        rows = lazy.open_rows(e)
        rows = rows[_plausible(e, rows, max_len_diff=2)]
        lazy.add_scored(rows, _sim(e, rows, "jaro_winkler", fuzzy) >= fuzzy, n)
        local_equal = loc.equal()
        lengths = np.fromiter((len(v) for v in loc.values), dtype=np.int32, count=len(loc.values))
        long_enough = np.zeros(n, dtype=bool)
        ok = np.flatnonzero(local_equal)
        long_enough[ok] = lengths[loc.left[ok]] >= 5
        lazy.add(local_equal & long_enough)
        return lazy.masks

    return Comparison(
        name=field,
        fields=(field,),
        columns=(column, local),
        levels=(
            MISSING,
            Level("exact", "same email address", tf=column),
            Level("fuzzy", "nearly identical email addresses {detail}"),
            Level("same_local", "same email user name at another domain"),
            ELSE,
        ),
        assign=assign,
        missing_when=lambda columns: _as_str(columns, column).missing,
        label="email address",
        personal=True,
        detail=field,
    )


def phone_comparison(*, column: str = "phone", field: str = "phone") -> Comparison:
    def assign(columns: Columns) -> Sequence[np.ndarray]:
        p = _as_str(columns, column)
        n = len(p.left)
        lazy = _Lazy(n)
        lazy.add(p.equal())
        rows = lazy.open_rows(p)
        digits, lengths = _phone_digits(p)
        a, b = digits[p.left[rows]], digits[p.right[rows]]
        lazy.add_scored(rows, (a % 10**7 == b % 10**7) & (a >= 0), n)
        rows = lazy.open_rows(p)
        a, b = digits[p.left[rows]], digits[p.right[rows]]
        same_length = lengths[p.left[rows]] == lengths[p.right[rows]]
        # one mistyped digit, or two swapped, leaves one half of the number intact
        half = (a // 10**6 == b // 10**6) | (a % 10**6 == b % 10**6)
        near = np.flatnonzero(same_length & half & (a >= 0) & (b >= 0))
        differ = np.zeros(len(near), dtype=np.int64)
        x, y = a[near], b[near]
        for _ in range(16):
            differ += (x % 10) != (y % 10)
            x, y = x // 10, y // 10
        ok = np.zeros(len(rows), dtype=bool)
        ok[near] = differ <= 2
        lazy.add_scored(rows, ok, n)
        return lazy.masks

    return Comparison(
        name=field,
        fields=(field,),
        columns=(column,),
        levels=(
            MISSING,
            Level("exact", "same phone number", tf=column),
            Level("same_local", "same local phone number"),
            Level("typo", "phone numbers one or two digits apart"),
            ELSE,
        ),
        assign=assign,
        label="phone number",
    )


# --------------------------------------------------------------------------------------------
# Organisations and places


def company_comparison(
    *,
    column: str = "company",
    acronym: str = "company_acronym",
    field: str = "company",
    fuzzy: float = 0.92,
    weak: float = 0.8,
) -> Comparison:
    _threshold(fuzzy, "company fuzzy")
    _threshold(weak, "company weak")

    def assign(columns: Columns) -> Sequence[np.ndarray]:
        c, a = _as_str(columns, column), _as_str(columns, acronym)
        n = len(c.left)
        lazy = _Lazy(n)
        lazy.add(c.equal())
        lazy.add(_cross_equal(c, a))
        rows = lazy.open_rows(c)
        rows = rows[_plausible(c, rows, max_len_diff=1_000)]
        jaro = _sim(c, rows, "jaro_winkler", weak)
        high = (jaro >= fuzzy) | (_sim(c, rows, "token_set", fuzzy) >= fuzzy)
        lazy.add_scored(rows, high, n)
        lazy.add_scored(rows, jaro >= weak, n)
        return lazy.masks

    return Comparison(
        name=field,
        fields=(field,),
        columns=(column, acronym),
        levels=(
            MISSING,
            Level("exact", "same company", tf=column),
            Level("acronym", "company name and its acronym {detail}"),
            Level("fuzzy", "nearly identical company names {detail}"),
            Level("similar", "similar company names {detail}"),
            ELSE,
        ),
        assign=assign,
        missing_when=lambda columns: _as_str(columns, column).missing,
        label="company",
        detail=field,
    )


def _cross_equal(name: PairColumn, acronym: PairColumn) -> np.ndarray:
    """A name on one side equals the acronym of the name on the other side."""
    if len(name.values) == 0 or len(acronym.values) == 0:
        return np.zeros(len(name.left), dtype=bool)
    # translate acronym codes into the name dictionary
    index = {v: i for i, v in enumerate(name.values)}
    into_name = np.fromiter(
        (index.get(v, -2) for v in acronym.values), dtype=np.int64, count=len(acronym.values)
    )
    into_name = np.append(into_name, -3)  # code -1 (null) maps to -3
    left_acro = into_name[acronym.left]
    right_acro = into_name[acronym.right]
    return ((name.left == right_acro) | (name.right == left_acro)) & ~name.missing


def locality_comparison(
    *,
    zip_column: str | None = "zip",
    city_column: str | None = "city",
    fields: tuple[str, ...] = ("zip", "city"),
) -> Comparison:
    """Postal code, else city: one comparison, since the two are strongly dependent."""
    columns = tuple(c for c in (zip_column, city_column) if c)
    if not columns:
        raise ConfigError("a locality comparison needs a zip or a city column")

    def assign(cols: Columns) -> Sequence[np.ndarray]:
        n = len(cols[columns[0]].left)
        zero = np.zeros(n, dtype=bool)
        zip_eq = _as_str(cols, zip_column).equal() if zip_column else zero
        city_eq = _as_str(cols, city_column).equal() if city_column else zero
        return [zip_eq, city_eq & ~zip_eq]

    def missing_when(cols: Columns) -> np.ndarray:
        out = np.ones(len(cols[columns[0]].left), dtype=bool)
        for c in columns:
            out &= _as_str(cols, c).missing
        return out

    zip_field = fields[0] if zip_column else None
    city_field = fields[-1] if city_column else None
    return Comparison(
        name="locality",
        fields=fields,
        columns=columns,
        levels=(
            MISSING,
            Level(
                "zip", "same postal code", fields=(zip_field,) if zip_field else None, tf=zip_column
            ),
            Level(
                "city", "same city", fields=(city_field,) if city_field else None, tf=city_column
            ),
            ELSE,
        ),
        assign=assign,
        missing_when=missing_when,
        label="location",
    )


# --------------------------------------------------------------------------------------------
# Generic kinds


def text_comparison(
    *,
    column: str,
    field: str,
    label: str,
    method: str = "jaro_winkler",
    fuzzy: float = 0.92,
    weak: float = 0.8,
    tf: bool = True,
) -> Comparison:
    """Exact (term-frequency adjusted), nearly identical, similar, else."""
    _threshold(fuzzy, f"{field} fuzzy")
    _threshold(weak, f"{field} weak")

    def assign(columns: Columns) -> Sequence[np.ndarray]:
        c = _as_str(columns, column)
        n = len(c.left)
        lazy = _Lazy(n)
        lazy.add(c.equal())
        rows = lazy.open_rows(c)
        if method == "jaro_winkler":  # prefix-sensitive: different first letters score low
            rows = rows[_plausible(c, rows, max_len_diff=1_000)]
        score = _sim(c, rows, method, weak)
        lazy.add_scored(rows, score >= fuzzy, n)
        lazy.add_scored(rows, score >= weak, n)
        return lazy.masks

    return Comparison(
        name=field,
        fields=(field,),
        columns=(column,),
        levels=(
            MISSING,
            Level("exact", f"same {label}", tf=column if tf else None),
            Level("fuzzy", f"nearly identical {label}s {{detail}}"),
            Level("similar", f"similar {label}s {{detail}}"),
            ELSE,
        ),
        assign=assign,
        label=label,
        detail=field,
    )


def exact_comparison(*, column: str, field: str, label: str, tf: bool = True) -> Comparison:
    """Equal after normalisation, else different (categories, states, domains, countries)."""
    return Comparison(
        name=field,
        fields=(field,),
        columns=(column,),
        levels=(MISSING, Level("exact", f"same {label}", tf=column if tf else None), ELSE),
        assign=lambda columns: [_as_str(columns, column).equal()],
        label=label,
    )


def identifier_comparison(*, column: str, field: str, label: str) -> Comparison:
    """Identifiers: exact, or one typo apart (a mistyped digit or a transposition)."""

    def assign(columns: Columns) -> Sequence[np.ndarray]:
        c = _as_str(columns, column)
        n = len(c.left)
        lazy = _Lazy(n)
        lazy.add(c.equal())
        rows = lazy.open_rows(c)
        lazy.add_scored(rows, _few_edits(c, rows, max_edits=2, min_length=4), n)
        return lazy.masks

    return Comparison(
        name=field,
        fields=(field,),
        columns=(column,),
        levels=(
            MISSING,
            Level("exact", f"same {label}", tf=column),
            Level("typo", f"{label}s a typo apart"),
            ELSE,
        ),
        assign=assign,
        label=label,
        personal=True,
    )


def number_comparison(
    *, column: str, field: str, label: str, close: float = 0.01, near: float = 0.1
) -> Comparison:
    """Equal, within ``close`` (relative), within ``near``, else."""
    if not 0 <= close <= near:
        raise ConfigError(f"{field}: tolerances must satisfy 0 <= close <= near")

    def assign(columns: Columns) -> Sequence[np.ndarray]:
        c = _as_num(columns, column)
        with np.errstate(invalid="ignore"):
            diff = np.abs(c.left - c.right)
            scale = np.maximum(np.abs(c.left), np.abs(c.right))
            exact = diff == 0
            return [exact, diff <= close * scale, diff <= near * scale]

    return Comparison(
        name=field,
        fields=(field,),
        columns=(column,),
        levels=(
            MISSING,
            Level("exact", f"same {label}"),
            Level("close", f"{label}s within {close:.0%}"),
            Level("near", f"{label}s within {near:.0%}"),
            ELSE,
        ),
        assign=assign,
        label=label,
    )


def date_comparison(
    *, column: str, field: str, label: str, text_column: str, days: tuple[int, ...] = (7, 31)
) -> Comparison:
    """Same day, one typo apart (or day and month swapped), within N days, else."""
    if not days or any(d <= 0 for d in days) or list(days) != sorted(days):
        raise ConfigError(f"{field}: day windows must be positive and increasing")

    def assign(columns: Columns) -> Sequence[np.ndarray]:
        c = _as_num(columns, column)
        t = _as_str(columns, text_column)
        n = len(c.left)
        lazy = _Lazy(n)
        with np.errstate(invalid="ignore"):
            diff = np.abs(c.left - c.right)
        lazy.add(diff == 0)
        rows = lazy.open_rows(t)
        if len(rows):
            sim = _sim(t, rows, "levenshtein")
            swapped = _day_month_swapped(t, rows)
            lazy.add_scored(rows, (sim >= 0.89) | swapped, n)  # one edit in YYYY-MM-DD
        else:
            lazy.add(np.zeros(n, dtype=bool))
        for window in days:
            lazy.add(diff <= window)
        return lazy.masks

    return Comparison(
        name=field,
        fields=(field,),
        columns=(column, text_column),
        levels=(
            MISSING,
            Level("exact", f"same {label}"),
            Level("typo", f"{label}s a typo apart"),
            *(Level(f"within_{d}", f"{label}s within {d} days") for d in days),
            ELSE,
        ),
        assign=assign,
        missing_when=lambda columns: _as_num(columns, column).missing,
        label=label,
    )


def _day_month_swapped(column: PairColumn, rows: np.ndarray) -> np.ndarray:
    left = column.values[column.left[rows]]
    right = column.values[column.right[rows]]
    return np.fromiter(
        (
            a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]
            for a, b in zip(left, right, strict=True)
        ),
        dtype=bool,
        count=len(rows),
    )
