"""Person-name and company-name normalisers: names, nicknames, phonetic codes, companies.

Scalar and expression forms agree exactly (see :mod:`dupeguard.core._textnorm`); the
public names are re-exported by :mod:`dupeguard.core.normalize`.
"""

from __future__ import annotations

import re
from functools import cache

import jellyfish
import polars as pl
from nicknames import NickNamer

from dupeguard.core._textnorm import (
    map_unique,
    normalize_text,
    pad,
    pad_expr,
    read_data_lines,
    text_expr,
    token_alternation,
    unpad,
    unpad_expr,
)

__all__ = [
    "ACRONYM_STOPWORDS",
    "PERSON_SUFFIXES",
    "PERSON_TITLES",
    "are_nicknames",
    "company_acronym",
    "company_acronym_expr",
    "company_expr",
    "is_acronym_of",
    "nickname_pairs",
    "nickname_table",
    "normalize_company",
    "normalize_person_name",
    "person_name_expr",
    "phonetic",
    "phonetic_expr",
]

# ------------------------------------------------------------------ person names

#: Honorifics dropped from person names (whole tokens, anywhere in the name).
PERSON_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir"})
#: Generational and professional suffixes dropped from person names.
PERSON_SUFFIXES = frozenset({"jr", "jnr", "sr", "snr", "ii", "iii", "iv", "phd", "md", "esq"})

# Apostrophes are deleted (O'Brien → obrien) before punctuation becomes a space.
_APOSTROPHES = "'`´ʼ′‘’"
_APOS_TABLE = str.maketrans("", "", _APOSTROPHES)
_APOS_RE = "[" + _APOSTROPHES + "]"
_PERSON_DROP = token_alternation(PERSON_TITLES | PERSON_SUFFIXES)
_PERSON_DROP_RE = re.compile(_PERSON_DROP)


def normalize_person_name(s: str | None) -> str | None:
    """Normalise a person name (or a first/last-name field).

    :func:`normalize_text` after deleting apostrophes, then titles (:data:`PERSON_TITLES`)
    and suffixes (:data:`PERSON_SUFFIXES`) are dropped as whole tokens; hyphens become
    spaces. ``"Dr. Seán O'Brien-Smith Jr."`` → ``"sean obrien smith"``. None when nothing
    is left (``"Mr."``).
    """
    if s is None:
        return None
    text = normalize_text(s.translate(_APOS_TABLE))
    if text is None:
        return None
    # NFKD can produce a modifier-letter apostrophe ("ŉ" → "ʼn"): delete it again.
    return unpad(_PERSON_DROP_RE.sub(" ", pad(text.translate(_APOS_TABLE))))


def person_name_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_person_name`."""
    text = text_expr(e.str.replace_all(_APOS_RE, "")).str.replace_all(_APOS_RE, "")
    return unpad_expr(pad_expr(text).str.replace_all(_PERSON_DROP, " "))


# --------------------------------------------------------------------- nicknames


@cache
def nickname_pairs() -> frozenset[tuple[str, str]]:
    """Every ordered pair of distinct nickname-equivalent first names (both orders).

    From the ``nicknames`` package dataset (``canonical has_nickname nick``): a pair is a
    canonical name with one of its nicknames (robert~bob) or two nicknames of the same
    canonical (bob~rob, liz~beth, kate~katie). Exactly one hop: two canonicals that only
    share a nickname (aaron and ronald via "ron") are *not* paired. Names are normalised
    with :func:`normalize_person_name`.
    """
    pairs: set[tuple[str, str]] = set()
    for canonical, nicks in NickNamer.default_lookup().items():
        group = {normalize_person_name(n) for n in (canonical, *nicks)}
        members = sorted(n for n in group if n)
        pairs.update((a, b) for a in members for b in members if a != b)
    return frozenset(pairs)


def are_nicknames(a: str | None, b: str | None) -> bool:
    """True if two *normalised*, different first names are nickname-equivalent."""
    return a is not None and b is not None and (a, b) in nickname_pairs()


def nickname_table() -> pl.DataFrame:
    """:func:`nickname_pairs` as a DataFrame ``name_l, name_r`` (both orders) for joins."""
    rows = sorted(nickname_pairs())
    return pl.DataFrame(
        {"name_l": [a for a, _ in rows], "name_r": [b for _, b in rows]},
        schema={"name_l": pl.String, "name_r": pl.String},
    )


# ---------------------------------------------------------------------- phonetic


def _phonetic_of_normalized(name: str) -> str | None:
    codes = (jellyfish.metaphone(token) for token in name.split(" "))
    return " ".join(code for code in codes if code) or None


def phonetic(s: str | None) -> str | None:
    """Metaphone code of each token of the normalised person name (``"smyth"`` → ``"SM0"``).

    Metaphone rather than NYSIIS: on single-typo surnames it keeps more of them in the
    same code (higher recall for blocking) at a similar collision rate; see the report in
    ``tests/core/test_normalize.py``.
    """
    name = normalize_person_name(s)
    return None if name is None else _phonetic_of_normalized(name)


def phonetic_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`phonetic` (jellyfish on unique normalised names only)."""
    return map_unique(person_name_expr(e), _phonetic_of_normalized)


# --------------------------------------------------------------------- companies

#: Tokens skipped when building a company acronym.
ACRONYM_STOPWORDS = frozenset({"and", "of", "the", "for", "de"})

_AMPERSAND = "[&＆﹠]"
_AMPERSAND_RE = re.compile(_AMPERSAND)
_LEADING_THE = "^(?:the )+"
_LEADING_THE_RE = re.compile(_LEADING_THE)
_ACRONYM_STOP = token_alternation(ACRONYM_STOPWORDS)
_INITIALS = "([^ ])[^ ]* ?"


@cache
def _suffix_pattern() -> str:
    # A trailing run of legal-form words (possibly joined by "and": "smith and co ltd")
    # that ends in a legal-form word. Each alternative is preceded by a space, so the
    # first token is never stripped and the name never becomes empty.
    words = sorted(set(read_data_lines("legal_suffixes.txt")), key=lambda w: (-len(w), w))
    token_alternation(words)  # validates the file's format
    alt = "|".join(words)
    return f"(?: (?:{alt}|and))*(?: (?:{alt}))$"


@cache
def _suffix_re() -> re.Pattern[str]:
    return re.compile(_suffix_pattern())


def normalize_company(s: str | None) -> str | None:
    """Normalise a company name.

    ``&`` → ``and``, :func:`normalize_text`, leading ``the`` removed, then trailing
    legal-form words (``data/legal_suffixes.txt``: inc, corp, llc, ltd, gmbh, "s a", …)
    stripped repeatedly. A name is never stripped to nothing: "The Company" → "company".
    ``"ACME, Inc."``, ``"Acme Corp"``, ``"Acme Corporation"`` → ``"acme"``.
    """
    if s is None:
        return None
    text = normalize_text(_AMPERSAND_RE.sub(" and ", s))
    if text is None:
        return None
    return _suffix_re().sub("", _LEADING_THE_RE.sub("", text))


def company_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_company`."""
    text = text_expr(e.str.replace_all(_AMPERSAND, " and "))
    return text.str.replace(_LEADING_THE, "").str.replace(_suffix_pattern(), "")


def _acronym(name: str) -> str | None:
    tokens = [t for t in name.split(" ") if t not in ACRONYM_STOPWORDS]
    return "".join(t[0] for t in tokens) if len(tokens) >= 2 else None


def company_acronym(s: str | None) -> str | None:
    """Initials of the normalised company's tokens, stopwords skipped; None under 2 tokens.

    ``"International Business Machines Corp."`` → ``"ibm"``.
    """
    name = normalize_company(s)
    return None if name is None else _acronym(name)


def company_acronym_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`company_acronym`."""
    tokens = unpad_expr(pad_expr(company_expr(e)).str.replace_all(_ACRONYM_STOP, " "))
    return pl.when(tokens.str.contains(" ", literal=True)).then(
        tokens.str.replace_all(_INITIALS, "${1}")
    )


def is_acronym_of(short: str | None, long: str | None) -> bool:
    """True if normalised ``short`` is one token equal to normalised ``long``'s acronym."""
    if not short or not long or " " in short:
        return False
    return _acronym(long) == short
