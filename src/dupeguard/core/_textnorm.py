"""Text-normalisation primitives shared by the normalisers (internal module).

Every normaliser exists twice: a scalar function (the reference, used for single-record
intake) and a polars expression for batch scans. The two must agree exactly:

* expression forms run a *Series pipeline* inside ``map_batches`` (:func:`series_expr`):
  each step is a native polars string operation evaluated once (nested expression trees
  re-evaluate shared sub-expressions), expensive steps run only on the rows that can
  need them (:func:`on_subset`), low-cardinality columns are computed once per distinct
  value, and Python only ever sees unique values (:func:`map_unique`);
* text folding (accents, case, punctuation) runs natively through a per-character table
  for values made only of Latin / general-punctuation characters (:func:`fold_series`);
  the table is *derived from* the scalar implementation, so both agree by construction.
  Other scripts go through the scalar function, once per unique value;
* regular expressions shared by both engines use explicit ASCII classes (``[0-9]``, ``[ ]``)
  rather than ``\\d``, ``\\s``, ``\\w``, ``\\b``, whose Unicode meaning differs between
  Python's ``re`` and Rust's ``regex``, and Python anchors use ``\\Z`` (see :func:`py_re`).

Public names are re-exported by :mod:`dupeguard.core.normalize`.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache
from importlib.resources import files
from typing import Literal

import polars as pl

__all__ = [
    "NATIVE",
    "WHITESPACE",
    "FoldKind",
    "drop_tokens_pattern",
    "empty_to_null",
    "first_token",
    "first_token_expr",
    "fold_scalar",
    "fold_series",
    "initial",
    "initial_expr",
    "last_token",
    "last_token_expr",
    "map_unique",
    "non_ascii",
    "normalize_text",
    "on_subset",
    "py_re",
    "read_data_lines",
    "scatter",
    "series_expr",
    "strip_ws",
    "text_expr",
    "with_scalar_for",
]

#: Characters trimmed from both ends of raw values (ASCII whitespace, the ASCII
#: separators Python treats as whitespace, no-break and typographic spaces, zero-width
#: space and byte-order mark). Used identically by ``str.strip`` and ``strip_chars``.
WHITESPACE = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
)

SeriesFn = Callable[[pl.Series], pl.Series]


def py_re(pattern: str) -> re.Pattern[str]:
    """Compile a polars (Rust) pattern for Python: ``$`` becomes ``\\Z``.

    Only for patterns where ``$`` is an anchor (write a literal dollar as ``\\x24``).
    """
    return re.compile(pattern.replace("$", r"\Z"))


def strip_ws(s: str | None) -> str | None:
    """Trim :data:`WHITESPACE`; None for None or blank."""
    if s is None:
        return None
    s = s.strip(WHITESPACE)
    return s or None


def empty_to_null(s: pl.Series) -> pl.Series:
    return s.replace("", None)


# ------------------------------------------------------------ series machinery


def series_expr(
    e: pl.Expr, fn: SeriesFn, *, dtype: type[pl.DataType] = pl.String, dedup: bool = True
) -> pl.Expr:
    """Wrap a Series pipeline as an elementwise expression.

    With ``dedup``, a column with fewer than half distinct values is computed once per
    distinct value and joined back; results are identical either way.
    """

    def apply(s: pl.Series) -> pl.Series:
        s = s.cast(pl.String)
        if dedup and s.len() >= 4096 and s.n_unique() < 0.5 * s.len():
            uniq = s.unique()
            table = pl.DataFrame({"k": uniq, "v": fn(uniq).cast(dtype)})
            out = s.to_frame("k").join(table, on="k", how="left", maintain_order="left")
            return out["v"].alias(s.name)
        return fn(s).cast(dtype).alias(s.name)

    return e.map_batches(apply, return_dtype=dtype, is_elementwise=True)


def scatter(s: pl.Series, idx: pl.Series, values: pl.Series | bool) -> pl.Series:
    """A copy of ``s`` with ``values`` at ``idx`` (``Series.scatter`` works in place)."""
    return s.clone().scatter(idx, values) if idx.len() else s


def on_subset(s: pl.Series, mask: pl.Series, fn: SeriesFn) -> pl.Series:
    """``s`` with ``fn`` applied to the rows where ``mask`` is true (null = false)."""
    idx = mask.fill_null(False).arg_true()
    if idx.len() == 0:
        return s
    if idx.len() == s.len():
        return fn(s)
    return scatter(s, idx, fn(s.gather(idx)))


def map_unique(s: pl.Series, fn: Callable[[str], str | None]) -> pl.Series:
    """Apply a Python ``str -> str | None`` function once per unique non-null value."""
    uniq = s.drop_nulls().unique()
    if uniq.len() == 0:
        return s.cast(pl.String).clear(n=s.len())
    mapped = pl.Series([fn(v) for v in uniq.to_list()], dtype=pl.String)
    return s.replace_strict(uniq, mapped, default=None, return_dtype=pl.String)


def non_ascii(s: pl.Series) -> pl.Series:
    return (s.str.len_bytes() != s.str.len_chars()).fill_null(False)


def with_scalar_for(
    other: pl.Series,
    s: pl.Series,
    fast: Callable[[pl.Series], pl.Series],
    scalar: Callable[[str], str | None],
) -> pl.Series:
    """``fast`` on every value, then the scalar on the unique values where ``other``."""
    idx = other.arg_true()
    return scatter(fast(s), idx, map_unique(s.gather(idx), scalar))


# ------------------------------------------------------------------- folding

# Letters that do not decompose under NFKD but have an obvious ASCII base.
_LETTERS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th", "ł": "l", "ħ": "h"}
    | {"ı": "i", "ŧ": "t", "ĸ": "k", "ŋ": "n", "ſ": "s"}
)
_NON_ALNUM = re.compile(r"[\W_]+")  # anything that is not str.isalnum(), any script
_NON_ALNUM_CHAR = re.compile(r"[\W_]")
_SPACES = " {2,}"
_SPACES_RE = re.compile(_SPACES)

#: Apostrophes deleted from person names (O'Brien → obrien).
APOSTROPHES = "'`´ʼ′‘’"
_NO_APOSTROPHES = str.maketrans("", "", APOSTROPHES)
_AMPERSAND_RE = re.compile("[&＆﹠]")
_HASH_RE = re.compile("[#＃]")

FoldKind = Literal["text", "person", "company", "street"]

# Characters folded natively: Latin (Basic, Latin-1, Extended-A/B and Additional),
# combining diacritics, general punctuation, super/subscripts, currency, letterlike
# symbols and number forms. Values with any other character use the scalar function.
# (Python's str.lower and polars' to_lowercase also agree on these characters.)
_NATIVE_RANGES = ((0x0000, 0x024F), (0x0300, 0x036F), (0x1E00, 0x1EFF), (0x2000, 0x218F))
NATIVE = "^[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _NATIVE_RANGES) + "]*$"


@cache
def _marks() -> re.Pattern[str]:
    """All combining marks (category M) of Python's Unicode database, as one class."""
    ranges: list[list[int]] = []
    for i in range(sys.maxunicode + 1):
        if unicodedata.category(chr(i))[0] == "M":
            if ranges and ranges[-1][1] == i - 1:
                ranges[-1][1] = i
            else:
                ranges.append([i, i])
    return re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]+")


def _fold(s: str) -> str:
    """NFKD, casefold, NFKD again, combining marks removed, remaining letters folded."""
    s = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", s).casefold())
    return _marks().sub("", s).translate(_LETTERS)


def _pre(s: str, kind: FoldKind) -> str:
    if kind == "person":
        return s.translate(_NO_APOSTROPHES)
    if kind == "company":
        return _AMPERSAND_RE.sub(" and ", s)
    if kind == "street":
        return _HASH_RE.sub(" apt ", s)
    return s


def fold_scalar(s: str, kind: FoldKind = "text") -> str:
    """Reference text folding; ``""`` when nothing is left.

    ``text``: :func:`normalize_text`. ``person``: apostrophes deleted before and after.
    ``company``: ``&`` → ``and``. ``street``: ``#`` → ``apt``.
    """
    out = _NON_ALNUM.sub(" ", _fold(_pre(s, kind)))
    if kind == "person":
        out = _SPACES_RE.sub(" ", out.translate(_NO_APOSTROPHES))
    return out.strip(" ")


@cache
def _fold_table(kind: FoldKind) -> tuple[list[str], list[str]]:
    """Per-character replacements equivalent to :func:`fold_scalar` (before collapsing)."""
    table: dict[str, str] = {}
    for first, last in _NATIVE_RANGES:
        for c in map(chr, range(first, last + 1)):
            value = _NON_ALNUM_CHAR.sub(" ", _fold(_pre(c, kind)))
            if kind == "person":
                value = value.translate(_NO_APOSTROPHES)
            if value != c:
                table[c] = value
    return list(table), list(table.values())


def fold_series(s: pl.Series, kind: FoldKind = "text") -> pl.Series:
    """Vectorised :func:`fold_scalar` (``""`` kept; null stays null)."""
    keys, values = _fold_table(kind)
    out = s.str.replace_many(keys, values).str.replace_all(_SPACES, " ").str.strip_chars(" ")
    wide = non_ascii(s).arg_true()
    if wide.len() == 0:
        return out
    idx = wide.filter(~s.gather(wide).str.contains(NATIVE))
    return scatter(out, idx, map_unique(s.gather(idx), _fold_one(kind)))


@cache
def _fold_one(kind: FoldKind) -> Callable[[str], str]:
    return lambda v: fold_scalar(v, kind)


def normalize_text(s: str | None) -> str | None:
    """Accent-free, case-folded, punctuation-free, single-spaced text.

    NFKD + casefold + combining marks removed (é→e, ü→u, ß→ss, ﬁ→fi), a few letters
    without a decomposition folded by hand (ø→o, æ→ae, ł→l, đ→d, þ→th), then every run of
    characters that are not letters or digits (any script) becomes one space.
    ``"  Zoë  O'Brien-Smith "`` → ``"zoe o brien smith"``. None when nothing is left.
    """
    return None if s is None else fold_scalar(s) or None


def text_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_text`."""
    return series_expr(e, lambda s: empty_to_null(fold_series(s)))


# ------------------------------------------------------------------ tokens


def drop_tokens_pattern(words: Iterable[str]) -> str:
    """Regex removing whole tokens (runs of them) from single-spaced text; replace by " "."""
    items = sorted(set(words), key=lambda w: (-len(w), w))
    for w in items:
        if not re.fullmatch(r"[a-z0-9]+(?: [a-z0-9]+)*", w):
            raise ValueError(f"not a normalised token sequence: {w!r}")
    return "(?:^| )(?:(?:" + "|".join(items) + ")(?: |$))+"


@cache
def read_data_lines(name: str) -> tuple[str, ...]:
    """Non-blank, non-comment lines of a packaged data file in ``dupeguard.core.data``."""
    text = files("dupeguard.core.data").joinpath(name).read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


def first_token(s: str | None) -> str | None:
    """First space-separated token of an already normalised value."""
    return (s.split(" ", 1)[0] or None) if s else None


def first_token_expr(e: pl.Expr) -> pl.Expr:
    return e.str.extract("^([^ ]*)", 1).replace("", None)


def last_token(s: str | None) -> str | None:
    """Last space-separated token of an already normalised value."""
    return (s.rsplit(" ", 1)[-1] or None) if s else None


def last_token_expr(e: pl.Expr) -> pl.Expr:
    return e.str.extract("([^ ]*)$", 1).replace("", None)


def initial(s: str | None) -> str | None:
    """First character of an already normalised value (``"john smith"`` → ``"j"``)."""
    return s[0] if s else None


def initial_expr(e: pl.Expr) -> pl.Expr:
    return e.str.slice(0, 1).replace("", None)
