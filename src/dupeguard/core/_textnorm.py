"""Text-normalisation primitives shared by the normalisers (internal module).

Every normaliser exists twice: a scalar function for single-record intake and a polars
expression for batch scans. The two must agree exactly, so everything here is written
with that in mind:

* the expression forms use native polars string operations on ASCII values and only call
  Python (the scalar function) on the *unique* values that need it (:func:`map_unique`);
* regular expressions shared by both engines use explicit ASCII classes (``[0-9]``, ``[ ]``)
  rather than ``\\d``, ``\\s``, ``\\w`` or ``\\b``, whose Unicode meaning differs between
  Python's ``re`` and Rust's ``regex``;
* token operations work on a *padded* form (see :func:`pad`) in which every token is
  surrounded by its own pair of spaces, so whole-token replacements never overlap.

Public names are re-exported by :mod:`dupeguard.core.normalize`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache
from importlib.resources import files

import polars as pl

__all__ = [
    "WHITESPACE",
    "first_token",
    "first_token_expr",
    "initial",
    "initial_expr",
    "is_non_ascii",
    "last_token",
    "last_token_expr",
    "map_unique",
    "non_empty",
    "normalize_text",
    "pad",
    "pad_expr",
    "read_data_lines",
    "strip_ws",
    "text_expr",
    "token_alternation",
    "unpad",
    "unpad_expr",
]

#: Characters trimmed from both ends of raw values (ASCII whitespace, the ASCII
#: separators Python treats as whitespace, no-break and typographic spaces, zero-width
#: space and byte-order mark). Used identically by ``str.strip`` and ``strip_chars``.
WHITESPACE = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
)

# Letters that do not decompose under NFKD but have an obvious ASCII base.
_FOLD = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ł": "l",
        "ħ": "h",
        "ı": "i",
        "ŧ": "t",
        "ĸ": "k",
        "ŋ": "n",
        "ſ": "s",
    }
)
_NON_ALNUM = re.compile(r"[\W_]+")  # Python: anything that is not str.isalnum()
_ASCII_NON_ALNUM = "[^a-z0-9]+"  # the same thing on lowercase ASCII (polars fast path)
_SPACES = " +"


def strip_ws(s: str | None) -> str | None:
    """Trim :data:`WHITESPACE`; None for None or blank."""
    if s is None:
        return None
    s = s.strip(WHITESPACE)
    return s or None


def non_empty(e: pl.Expr) -> pl.Expr:
    """Null where the string is empty (the expression twin of ``x or None``)."""
    return pl.when(e.str.len_bytes() > 0).then(e)


def is_non_ascii(e: pl.Expr) -> pl.Expr:
    return e.str.len_bytes() != e.str.len_chars()


def map_unique(e: pl.Expr, fn: Callable[[str], str | None]) -> pl.Expr:
    """Apply a scalar ``str -> str | None`` function to the unique non-null values of ``e``.

    Python runs once per distinct value, never per row; the results are joined back
    with ``replace_strict``. Null in, null out. Wrap ``e`` in ``pl.when(mask).then(e)`` to
    restrict the work to the rows that need it.
    """

    def apply(s: pl.Series) -> pl.Series:
        s = s.cast(pl.String)
        uniq = s.drop_nulls().unique()
        if uniq.len() == 0:
            return s.clear(n=s.len())
        mapped = pl.Series([fn(v) for v in uniq.to_list()], dtype=pl.String)
        return s.replace_strict(uniq, mapped, default=None, return_dtype=pl.String)

    return e.map_batches(apply, return_dtype=pl.String, is_elementwise=True)


# --------------------------------------------------------------------------- text


def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).casefold()
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.category(c).startswith("M"))
    return s.translate(_FOLD)


def normalize_text(s: str | None) -> str | None:
    """Accent-free, case-folded, punctuation-free, single-spaced text.

    NFKD + casefold + combining marks removed (é→e, ü→u, ß→ss, ﬁ→fi), a few letters
    without a decomposition folded by hand (ø→o, æ→ae, ł→l, đ→d, þ→th), then every run of
    characters that are not letters or digits (any script) becomes one space.
    ``"  Zoë  O'Brien-Smith "`` → ``"zoe o brien smith"``. None when nothing is left.
    """
    if s is None:
        return None
    out = _NON_ALNUM.sub(" ", _fold(s)).strip(" ")
    return out or None


def text_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_text` (native on ASCII, scalar on unique non-ASCII)."""
    non_ascii = is_non_ascii(e)
    fast = e.str.to_lowercase().str.replace_all(_ASCII_NON_ALNUM, " ").str.strip_chars(" ")
    slow = map_unique(pl.when(non_ascii).then(e), normalize_text)
    return non_empty(pl.when(non_ascii).then(slow).otherwise(fast))


# ------------------------------------------------------------------ token helpers


def pad(s: str) -> str:
    """``"a b"`` → ``" a  b "``: every token gets its own surrounding spaces."""
    return " " + s.replace(" ", "  ") + " "


def pad_expr(e: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(" "), e.str.replace_all(" ", "  ", literal=True), pl.lit(" ")])


def unpad(s: str) -> str | None:
    """Collapse spaces and trim (inverse of :func:`pad`); None when empty."""
    return re.sub(_SPACES, " ", s).strip(" ") or None


def unpad_expr(e: pl.Expr) -> pl.Expr:
    return non_empty(e.str.replace_all(_SPACES, " ").str.strip_chars(" "))


def token_alternation(words: Iterable[str]) -> str:
    """Regex alternation of whole padded tokens, longest first: ``" (?:a  b|c) "``.

    ``words`` are normalised token sequences (``[a-z0-9 ]``); multi-word entries are
    written in padded form so they match consecutive tokens.
    """
    items = sorted(set(words), key=lambda w: (-len(w), w))
    for w in items:
        if not re.fullmatch(r"[a-z0-9]+(?: [a-z0-9]+)*", w):
            raise ValueError(f"not a normalised token sequence: {w!r}")
    return " (?:" + "|".join(w.replace(" ", "  ") for w in items) + ") "


@cache
def read_data_lines(name: str) -> tuple[str, ...]:
    """Non-blank, non-comment lines of a packaged data file in ``dupeguard.core.data``."""
    text = files("dupeguard.core.data").joinpath(name).read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


def first_token(s: str | None) -> str | None:
    """First space-separated token of an already normalised value."""
    return s.split(" ", 1)[0] or None if s else None


def first_token_expr(e: pl.Expr) -> pl.Expr:
    return non_empty(e.str.extract("^([^ ]*)", 1))


def last_token(s: str | None) -> str | None:
    """Last space-separated token of an already normalised value."""
    return s.rsplit(" ", 1)[-1] or None if s else None


def last_token_expr(e: pl.Expr) -> pl.Expr:
    return non_empty(e.str.extract("([^ ]*)$", 1))


def initial(s: str | None) -> str | None:
    """First character of an already normalised value (``"john smith"`` → ``"j"``)."""
    return s[0] if s else None


def initial_expr(e: pl.Expr) -> pl.Expr:
    return non_empty(e.str.slice(0, 1))
