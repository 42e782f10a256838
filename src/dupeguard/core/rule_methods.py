"""The comparison methods a matching-rule condition can use (seed 002).

Each method turns two raw field values into a similarity in ``[0, 1]`` (``None`` when a side
is blank after normalisation) and, where it can, one *block value* per record: a coarse
normalised form that two records a condition would match usually share, so candidates for a
rule are an index lookup instead of a scan (as Salesforce's match keys are).

=================  ============================================  ==========================
method             similarity                                    block value
=================  ============================================  ==========================
``exact``          1 if the match-key normal forms agree         the normal form
``fuzzy_name``     Jaro-Winkler of person names                  Metaphone
``phonetic``       1 if the Metaphone codes agree                Metaphone
``nickname``       1 for equal or nickname pairs (Bob/Robert),   —
                   else Jaro-Winkler
``initials``       1 if equal or one is the other's initial      first letter
``fuzzy_company``  token-set ratio without legal forms;          first word
                   1 for an acronym (IBM)
``email``          1 if the addresses agree, else ratio × 0.9    the address
``domain``         1 if the e-mail domain / web host agrees;     the domain
                   free-mail domains count as blank
``phone``          1 if E.164 agrees, 0.9 if the last 7 digits   the number
``fuzzy_text``     token-sort ratio (street abbreviations        first two words
                   folded)
=================  ============================================  ==========================

``nickname`` has no block value (Bob and Robert share nothing coarse), so a rule needs another
condition beside it. Blocking costs recall for typos in the block value itself ("Smiht"); the
other conditions of the same rule group still find such pairs when they block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import ratio, token_set_ratio, token_sort_ratio

from ._textnorm import read_data_lines
from .fields import FieldType
from .keys import key_value
from .names import (
    are_nicknames,
    is_acronym_of,
    normalize_company,
    normalize_person_name,
    phonetic,
)
from .normalize import email_domain, normalize_domain, normalize_email, normalize_street

__all__ = ["METHODS", "Method"]

_TEXTUAL = frozenset({FieldType.TEXT, FieldType.LONG_TEXT, FieldType.SINGLE_SELECT})


@cache
def free_mail_domains() -> frozenset[str]:
    return frozenset(read_data_lines("free_mail_domains.txt"))


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | list | dict):
        return None
    text = str(value).strip()
    return text or None


# Normal forms are cached by value: a batch and a job compare the same values many times.
_CACHE = 262_144


@lru_cache(maxsize=_CACHE)
def _person_of(text: str | None) -> str | None:
    return normalize_person_name(text)


def _person(value: Any) -> str | None:
    return _person_of(_text(value))


@lru_cache(maxsize=_CACHE)
def _company_of(text: str | None) -> str | None:
    return normalize_company(text)


@lru_cache(maxsize=_CACHE)
def _email_of(text: str | None) -> str | None:
    return normalize_email(text)


@lru_cache(maxsize=_CACHE)
def _phonetic_of(text: str | None) -> str | None:
    return phonetic(text)


@lru_cache(maxsize=_CACHE)
def _key_of(field_type: FieldType, text: str | None, region: str) -> str | None:
    return key_value(field_type, text, region=region)


def _key(field_type: FieldType, value: Any, region: str) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return _key_of(field_type, str(value) if not isinstance(value, str) else value, region)
    return key_value(field_type, value, region=region)


def _jaro(a: str, b: str) -> float:
    return float(JaroWinkler.similarity(a, b))


# --- similarity functions: (a, b, field type, region) -> similarity or None (a blank side) --


def _exact(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _key(t, a, region), _key(t, b, region)
    return None if x is None or y is None else float(x == y)


def _fuzzy_name(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _person(a), _person(b)
    return None if x is None or y is None else _jaro(x, y)


def _phonetic(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _phonetic_of(_text(a)), _phonetic_of(_text(b))
    return None if x is None or y is None else float(x == y)


def _nickname(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _person(a), _person(b)
    if x is None or y is None:
        return None
    return 1.0 if x == y or are_nicknames(x, y) else _jaro(x, y)


def _initials(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _person(a), _person(b)
    if x is None or y is None:
        return None
    if x == y:
        return 1.0
    short, long = sorted((x, y), key=len)
    return float(len(short) == 1 and long.startswith(short))


def _company(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _company_of(_text(a)), _company_of(_text(b))
    if x is None or y is None:
        return None
    if x == y or is_acronym_of(x, y) or is_acronym_of(y, x):
        return 1.0
    return token_set_ratio(x, y) / 100.0


def _email(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _email_of(_text(a)), _email_of(_text(b))
    if x is None or y is None:
        return None
    return 1.0 if x == y else 0.9 * ratio(x, y) / 100.0


def _domain_of(value: Any) -> str | None:
    return _domain_text(_text(value))


@lru_cache(maxsize=_CACHE)
def _domain_text(text: str | None) -> str | None:
    if text is None:
        return None
    domain = email_domain(normalize_email(text)) if "@" in text else normalize_domain(text)
    return None if domain is None or domain in free_mail_domains() else domain


def _domain(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _domain_of(a), _domain_of(b)
    return None if x is None or y is None else float(x == y)


def _phone(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x = _key(FieldType.PHONE, a, region)
    y = _key(FieldType.PHONE, b, region)
    if x is None or y is None:
        return None
    if x == y:
        return 1.0
    dx, dy = "".join(c for c in x if c.isdigit()), "".join(c for c in y if c.isdigit())
    return 0.9 if len(dx) >= 7 and dx[-7:] == dy[-7:] else 0.0


def _plain(value: Any) -> str | None:
    return _street_of(_text(value))


@lru_cache(maxsize=_CACHE)
def _street_of(text: str | None) -> str | None:
    return normalize_street(text)


def _fuzzy_text(a: Any, b: Any, t: FieldType, region: str) -> float | None:
    x, y = _plain(a), _plain(b)
    if x is None or y is None:
        return None
    return 1.0 if x == y else token_sort_ratio(x, y) / 100.0


# --- block values: (value, field type, region) -> coarse key or None ------------------------


def _first_word(text: str | None) -> str | None:
    return text.split(" ", 1)[0] if text else None


def _block_exact(v: Any, t: FieldType, region: str) -> str | None:
    return key_value(t, v, region=region)


def _block_phonetic(v: Any, t: FieldType, region: str) -> str | None:
    return phonetic(_text(v))


def _block_initial(v: Any, t: FieldType, region: str) -> str | None:
    name = _person(v)
    return name[0] if name else None


def _block_company(v: Any, t: FieldType, region: str) -> str | None:
    return _first_word(normalize_company(_text(v)))


def _block_email(v: Any, t: FieldType, region: str) -> str | None:
    return normalize_email(_text(v))


def _block_domain(v: Any, t: FieldType, region: str) -> str | None:
    return _domain_of(v)


def _block_phone(v: Any, t: FieldType, region: str) -> str | None:
    return key_value(FieldType.PHONE, v, region=region)


def _block_text(v: Any, t: FieldType, region: str) -> str | None:
    """The first two words: a street's number and name ("12 main"); one word alone (a house
    number) would put most of a town in one block."""
    text = _plain(v)
    return " ".join(text.split(" ")[:2]) if text else None


Similarity = Callable[[Any, Any, FieldType, str], float | None]
Blocker = Callable[[Any, FieldType, str], str | None]


@dataclass(frozen=True)
class Method:
    name: str
    similarity: Similarity
    block: Blocker | None
    types: frozenset[FieldType]
    default_threshold: float
    description: str

    def eligibility(self, field_type: FieldType) -> str | None:
        """Why a field of this type cannot use the method (None if it can)."""
        if field_type in self.types:
            return None
        kinds = ", ".join(sorted(t.value for t in self.types))
        return f"method {self.name!r} compares {kinds} fields, not {field_type.value}"


_EXACT = frozenset(
    {*_TEXTUAL, FieldType.EMAIL, FieldType.PHONE, FieldType.URL, FieldType.NUMBER, FieldType.DATE}
)

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("exact", _exact, _block_exact, _EXACT, 1.0, "equal after normalisation"),
        Method("fuzzy_name", _fuzzy_name, _block_phonetic, _TEXTUAL, 0.88, "similar person names"),
        Method("phonetic", _phonetic, _block_phonetic, _TEXTUAL, 1.0, "names that sound alike"),
        Method("nickname", _nickname, None, _TEXTUAL, 0.9, "first names, nicknames included"),
        Method("initials", _initials, _block_initial, _TEXTUAL, 1.0, "a name or its initial"),
        Method(
            "fuzzy_company",
            _company,
            _block_company,
            _TEXTUAL,
            0.85,
            "company names, legal forms and acronyms folded",
        ),
        Method(
            "email",
            _email,
            _block_email,
            frozenset({FieldType.EMAIL, *_TEXTUAL}),
            1.0,
            "e-mail addresses",
        ),
        Method(
            "domain",
            _domain,
            _block_domain,
            frozenset({FieldType.EMAIL, FieldType.URL, *_TEXTUAL}),
            1.0,
            "the company domain of an e-mail or web address (free-mail domains ignored)",
        ),
        Method(
            "phone",
            _phone,
            _block_phone,
            frozenset({FieldType.PHONE, *_TEXTUAL}),
            1.0,
            "phone numbers in E.164",
        ),
        Method("fuzzy_text", _fuzzy_text, _block_text, _TEXTUAL, 0.85, "similar text"),
    )
}
