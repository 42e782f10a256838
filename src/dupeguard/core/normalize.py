"""Normalisers of the matching core: "normalise once, compare many times".

Every concept has two forms that agree exactly:

* a scalar function ``str | None -> str | None`` for single-record intake (None for
  empty, blank or unparseable values; :func:`normalize_number` returns a float);
* an expression function ``pl.Expr -> pl.Expr`` for batch scans (null where the scalar
  gives None). Expressions use native polars string operations; Python runs only on the
  *unique* values that need it (non-ASCII text, unusual phone numbers, nickname/phonetic
  look-ups), never per row.

Text-derived normalisers build on :func:`normalize_text`. Person names, nicknames,
phonetic codes and companies live in :mod:`dupeguard.core.names`, phones in
:mod:`dupeguard.core.phones`, shared primitives in :mod:`dupeguard.core._textnorm`; all
are re-exported here, so ``from dupeguard.core.normalize import ...`` is the public API.

Regular expressions shared by both forms avoid ``\\d \\s \\w \\b`` (their Unicode meaning
differs between Python's ``re`` and polars' Rust ``regex``); Python anchors use ``\\Z``
where polars uses ``$``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import cache

import polars as pl

from dupeguard.core._textnorm import (
    WHITESPACE,
    first_token,
    first_token_expr,
    initial,
    initial_expr,
    is_non_ascii,
    last_token,
    last_token_expr,
    map_unique,
    non_empty,
    normalize_text,
    pad,
    pad_expr,
    read_data_lines,
    strip_ws,
    text_expr,
    token_alternation,
    unpad,
    unpad_expr,
)
from dupeguard.core.names import (
    ACRONYM_STOPWORDS,
    PERSON_SUFFIXES,
    PERSON_TITLES,
    are_nicknames,
    company_acronym,
    company_acronym_expr,
    company_expr,
    is_acronym_of,
    nickname_pairs,
    nickname_table,
    normalize_company,
    normalize_person_name,
    person_name_expr,
    phonetic,
    phonetic_expr,
)
from dupeguard.core.phones import normalize_phone, phone_expr

__all__ = [
    "ACRONYM_STOPWORDS",
    "PERSON_SUFFIXES",
    "PERSON_TITLES",
    "are_nicknames",
    "company_acronym",
    "company_acronym_expr",
    "company_expr",
    "date_expr",
    "domain_expr",
    "email_domain",
    "email_domain_expr",
    "email_expr",
    "email_local",
    "email_local_expr",
    "first_token",
    "first_token_expr",
    "initial",
    "initial_expr",
    "is_acronym_of",
    "last_token",
    "last_token_expr",
    "nickname_pairs",
    "nickname_table",
    "normalize_company",
    "normalize_date",
    "normalize_domain",
    "normalize_email",
    "normalize_number",
    "normalize_person_name",
    "normalize_phone",
    "normalize_street",
    "normalize_text",
    "normalize_zip",
    "number_expr",
    "person_name_expr",
    "phone_expr",
    "phonetic",
    "phonetic_expr",
    "street_expr",
    "text_expr",
    "zip_expr",
]


def _py(pattern: str) -> re.Pattern[str]:
    """Compile a polars pattern for Python: ``$`` (end of text in Rust) becomes ``\\Z``."""
    return re.compile(pattern.replace("$", r"\Z"))


# ------------------------------------------------------------------------- email

_MAILTO = "^mailto:"
_NON_ASCII = "\u0080-\U0010ffff"  # internationalised addresses are kept (scalar path)
_LOCAL = f"[a-z0-9!#\\x24%&'*+/=?^_`{{|}}~.\\-{_NON_ASCII}]+"
_LABEL = f"[a-z0-9_\\-{_NON_ASCII}]+"
_EMAIL = f"^{_LOCAL}@{_LABEL}(?:\\.{_LABEL})+$"
_TAG = r"^([^+]+)\+.*$"
_GMAIL = "gmail.com"
_EMAIL_RE, _MAILTO_RE = _py(_EMAIL), _py(_MAILTO)


def normalize_email(s: str | None) -> str | None:
    """Lowercase address with ``+tag`` removed; Gmail canonicalised; None if not an email.

    Valid means exactly one ``@``, a non-empty local part of RFC 5322 "atext" characters
    and dots, and a domain of at least two non-empty labels. ``mailto:`` is dropped.
    ``googlemail.com`` becomes ``gmail.com`` and dots are removed from Gmail local parts:
    ``" John.Doe+news@GoogleMail.com"`` → ``"johndoe@gmail.com"``.
    """
    s = strip_ws(s)
    if s is None:
        return None
    s = _MAILTO_RE.sub("", s.lower())
    if not _EMAIL_RE.match(s):
        return None
    local, domain = s.split("@")
    local = local.split("+", 1)[0] or local
    if domain in ("googlemail.com", _GMAIL):
        domain, local = _GMAIL, local.replace(".", "")
    return f"{local}@{domain}" if local else None


def email_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_email`."""
    x = e.str.strip_chars(WHITESPACE).str.to_lowercase().str.replace(_MAILTO, "")
    local = x.str.extract("^([^@]*)@", 1).str.replace(_TAG, "${1}")
    domain = x.str.extract("@(.*)$", 1)
    gmail = domain.is_in(["googlemail.com", _GMAIL])
    local = pl.when(gmail).then(local.str.replace_all(".", "", literal=True)).otherwise(local)
    domain = pl.when(gmail).then(pl.lit(_GMAIL)).otherwise(domain)
    valid = x.str.contains(_EMAIL) & (local.str.len_bytes() > 0)
    fast = pl.when(valid).then(pl.concat_str([local, pl.lit("@"), domain]))
    non_ascii = is_non_ascii(e)
    slow = map_unique(pl.when(non_ascii).then(e), normalize_email)
    return pl.when(non_ascii).then(slow).otherwise(fast)


def email_domain(s: str | None) -> str | None:
    """Domain of the normalised email (``"J@GoogleMail.com"`` → ``"gmail.com"``)."""
    email = normalize_email(s)
    return None if email is None else email.split("@", 1)[1]


def email_domain_expr(e: pl.Expr) -> pl.Expr:
    return email_expr(e).str.extract("@(.*)$", 1)


def email_local(s: str | None) -> str | None:
    """Local part of the normalised email (``"John.Doe+x@gmail.com"`` → ``"johndoe"``)."""
    email = normalize_email(s)
    return None if email is None else email.split("@", 1)[0]


def email_local_expr(e: pl.Expr) -> pl.Expr:
    return email_expr(e).str.extract("^([^@]*)@", 1)


# ------------------------------------------------------------------------ domain

_SCHEME = "^(?:[a-z][a-z0-9+.\\-]*:)?//"
_AFTER_HOST = "(?s)[/?#\\\\].*"
_CREDENTIALS = "(?s)^.*@"
_PORT = ":[0-9]*$"
_TRAILING_DOTS = "\\.+$"
_WWW = "^(?:www[0-9]*\\.)+([^.]*\\..*)$"
_HOST = "^[a-z0-9_\\-]+(?:\\.[a-z0-9_\\-]+)+$"
_DOMAIN_STEPS = [(_SCHEME, ""), (_AFTER_HOST, ""), (_CREDENTIALS, ""), (_PORT, "")]
_DOMAIN_PY = [(_py(p), r) for p, r in _DOMAIN_STEPS]
_TRAILING_DOTS_RE, _WWW_RE, _HOST_RE = _py(_TRAILING_DOTS), _py(_WWW), _py(_HOST)


def normalize_domain(s: str | None) -> str | None:
    """Host of a URL, bare domain or email address; None unless it looks like a hostname.

    Lowercase; scheme, credentials / email local part, port, path, query, fragment,
    trailing dots and leading ``www.`` (``www2.``…) removed; internationalised names are
    IDNA-encoded (``münchen.de`` → ``xn--mnchen-3ya.de``). At least two labels are
    required. ``"https://www.Acme.com/about?x=1"`` → ``"acme.com"``.
    """
    s = strip_ws(s)
    if s is None:
        return None
    s = s.lower()
    for pattern, repl in _DOMAIN_PY:
        s = pattern.sub(repl, s, count=1)
    if not s.isascii():
        try:
            s = s.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    s = _WWW_RE.sub(r"\1", _TRAILING_DOTS_RE.sub("", s))
    return s if _HOST_RE.match(s) else None


def domain_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_domain`."""
    x = e.str.strip_chars(WHITESPACE).str.to_lowercase()
    for pattern, repl in _DOMAIN_STEPS:
        x = x.str.replace(pattern, repl)
    x = x.str.replace(_TRAILING_DOTS, "").str.replace(_WWW, "${1}")
    fast = pl.when(x.str.contains(_HOST)).then(x)
    non_ascii = is_non_ascii(e)
    slow = map_unique(pl.when(non_ascii).then(e), normalize_domain)
    return pl.when(non_ascii).then(slow).otherwise(fast)


# ------------------------------------------------------------------------ street

_HASH = "[#＃]"
_HASH_RE = re.compile(_HASH)
_UNITS = ("apt", "ste", "unit", "bldg", "fl", "rm", "dept", "spc", "trlr", "box", "lot")
_UNIT_DUP = "(" + token_alternation(_UNITS) + ")(?: apt )+"
_UNIT_DUP_RE = re.compile(_UNIT_DUP)


@cache
def _street_abbreviations() -> dict[str, str]:
    pairs = dict(line.split(",") for line in read_data_lines("street_abbreviations.csv"))
    if set(pairs) & set(pairs.values()):
        raise ValueError("street abbreviations must not be abbreviated again")
    token_alternation([*pairs, *pairs.values()])  # validates the file's format
    order = sorted(pairs, key=lambda w: (-len(w), w))
    return {pad(w): pad(pairs[w]) for w in order}


@cache
def _street_re() -> re.Pattern[str]:
    return re.compile("|".join(_street_abbreviations()))


def normalize_street(s: str | None) -> str | None:
    """Street line with USPS-style abbreviations (``data/street_abbreviations.csv``).

    :func:`normalize_text`, then whole tokens abbreviated (street→st, avenue→ave,
    north→n, suite→ste, apartment→apt, "post office box"→"po box", first→1st, …). ``#``
    reads as ``apt`` unless it follows a unit designator: ``"12 Main Street #4"`` and
    ``"12 Main St. Apt 4"`` → ``"12 main st apt 4"``, ``"Suite #200"`` → ``"ste 200"``.
    """
    if s is None:
        return None
    text = normalize_text(_HASH_RE.sub(" apt ", s))
    if text is None:
        return None
    abbreviations = _street_abbreviations()
    padded = _street_re().sub(lambda m: abbreviations[m.group(0)], pad(text))
    return unpad(_UNIT_DUP_RE.sub(r"\1", padded))


def street_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_street`."""
    abbreviations = _street_abbreviations()
    padded = pad_expr(text_expr(e.str.replace_all(_HASH, " apt ")))
    padded = padded.str.replace_many(
        list(abbreviations), list(abbreviations.values()), leftmost=True
    )
    return unpad_expr(padded.str.replace_all(_UNIT_DUP, "${1}"))


# --------------------------------------------------------------------------- zip

_ZIP_JUNK = "[^A-Za-z0-9]"
_ZIP_JUNK_RE = re.compile(_ZIP_JUNK)
_ZIP9 = "^([0-9]{5})[0-9]{4}$"
_ZIP9_RE = _py(_ZIP9)


def normalize_zip(s: str | None) -> str | None:
    """Postal code: ASCII letters and digits only, uppercase; US ZIP+4 → 5 digits.

    ``"sw1a 1aa"`` → ``"SW1A1AA"``, ``"02134-1234"`` → ``"02134"``. Leading zeros lost by
    spreadsheets (``"2134"``) are *not* restored: 4-digit codes are valid in many
    countries.
    """
    if s is None:
        return None
    s = _ZIP9_RE.sub(r"\1", _ZIP_JUNK_RE.sub("", s).upper())
    return s or None


def zip_expr(e: pl.Expr) -> pl.Expr:
    return non_empty(e.str.replace_all(_ZIP_JUNK, "").str.to_uppercase().str.replace(_ZIP9, "${1}"))


# -------------------------------------------------------------------------- date

_Y = "([1-9][0-9]{3})"
_M_D = "([0-9]{1,2})"
_TIME = "(?:[t ].*)?"
_ORD = "(?:st|nd|rd|th)?"
# (pattern, order of the captured groups as year/month/day); first match wins.
_DATE_FORMS: list[tuple[str, str]] = [
    (f"^{_Y}[-/.]{_M_D}[-/.]{_M_D}{_TIME}$", "ymd"),
    (f"^{_Y}([0-9]{{2}})([0-9]{{2}})$", "ymd"),
    (f"^{_M_D}[/-]{_M_D}[/-]{_Y}{_TIME}$", "mdy"),
    (f"^{_M_D}\\.{_M_D}\\.{_Y}{_TIME}$", "dmy"),
    (f"^{_M_D}{_ORD}[ -]([a-z]{{3,9}})\\.?,?[ -]{_Y}$", "dmy"),
    (f"^([a-z]{{3,9}})\\.? {_M_D}{_ORD},? {_Y}$", "mdy"),
]
_DATE_PY = [(_py(p), order) for p, order in _DATE_FORMS]
_MONTH_NAMES = [
    *("january", "february", "march", "april", "may", "june"),
    *("july", "august", "september", "october", "november", "december"),
]
_MONTHS = {name: str(i) for i, name in enumerate(_MONTH_NAMES, 1)}
_MONTHS |= {name[:3]: str(i) for i, name in enumerate(_MONTH_NAMES, 1)} | {"sept": "9"}


def normalize_date(s: str | None) -> str | None:
    """ISO ``YYYY-MM-DD`` from common forms; None if unrecognised or not a calendar date.

    Accepted: ``2024-03-05`` (also ``/`` or ``.``, with an optional time part after ``T``
    or a space, kept as written: no time-zone conversion), ``20240305``, ``03/05/2024``
    and ``03-05-2024`` (**slash or dash with the year last = US month-first**),
    ``05.03.2024`` (dots = day-first), ``5 March 2024``, ``05-Mar-2024``,
    ``March 5th, 2024``. Years are four digits from 1000; two-digit years are rejected.
    """
    s = strip_ws(s)
    if s is None or not s.isascii():
        return None
    s = s.lower()
    for pattern, order in _DATE_PY:
        m = pattern.match(s)
        if m:
            parts = dict(zip(order, m.groups(), strict=True))
            month = _MONTHS.get(parts["m"], parts["m"])
            try:
                date = dt.date(int(parts["y"]), int(month), int(parts["d"]))
            except ValueError:
                return None
            return date.isoformat()
    return None


def date_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_date`."""
    x = e.str.strip_chars(WHITESPACE).str.to_lowercase()
    year = month = day = pl.lit(None, dtype=pl.String)
    for pattern, order in reversed(_DATE_FORMS):
        groups = {part: x.str.extract(pattern, i) for i, part in enumerate(order, 1)}
        hit = x.str.contains(pattern)
        year = pl.when(hit).then(groups["y"]).otherwise(year)
        month = pl.when(hit).then(groups["m"]).otherwise(month)
        day = pl.when(hit).then(groups["d"]).otherwise(day)
    month = month.replace(_MONTHS)
    iso = pl.concat_str([year, month.str.zfill(2), day.str.zfill(2)], separator="-")
    valid = iso.str.to_date("%Y-%m-%d", strict=False).is_not_null() & ~is_non_ascii(e)
    return pl.when(valid).then(iso)


# ------------------------------------------------------------------------ number

_NUM_SPACES = "[ \u00a0\u2009\u202f'\u2019]"
_NUM_SPACES_RE = re.compile(_NUM_SPACES)
_PARENS = r"(?s)^\((.*)\)$"
_PARENS_RE = _py(_PARENS)
_CUR = (
    "(?:(?:[Uu][Ss]|[CcAa])?\\x24|€|£|¥|₹|₩|₽|¢|₺|₪|₫|฿|[Uu][Ss][Dd]|[Ee][Uu][Rr]|[Gg][Bb][Pp]"
    "|[Cc][Aa][Dd]|[Aa][Uu][Dd]|[Jj][Pp][Yy]|[Cc][Hh][Ff]|[Ii][Nn][Rr]|[Cc][Nn][Yy])"
)
_SIGN = "([+\\-\u2212]?)"
_NUM = "([0-9]{1,3}(?:,[0-9]{3})+(?:\\.[0-9]*)?|[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)"
_NUMBER = f"^{_SIGN}{_CUR}?{_SIGN}{_NUM}([kKmMbB]?){_CUR}?$"
_NUMBER_RE = _py(_NUMBER)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def normalize_number(s: str | None) -> float | None:
    """A number from a formatted amount; None if it is not one.

    Spaces (incl. no-break/thin) and ``'`` are removed; currency symbols and codes
    ($, US$, €, £, ¥, ₹, USD, EUR, GBP, …) are allowed before or after; commas must be
    thousands separators in groups of three (``"1,234.5"``; ``"1,5"`` and European
    ``"1.234,56"`` are None); a ``k``/``m``/``b`` suffix scales by 10³/10⁶/10⁹
    (``"$1.5M"`` → 1500000.0); ``-5``, ``−5`` and accounting ``(5)`` are negative.
    Exponents, percentages and non-finite values are None.
    """
    s = strip_ws(s)
    if s is None:
        return None
    s = _NUM_SPACES_RE.sub("", s)
    parens = _PARENS_RE.match(s)
    if parens:
        s = parens.group(1)
    m = _NUMBER_RE.match(s)
    if m is None:
        return None
    sign1, sign2, digits, scale = m.groups()
    if bool(parens) + bool(sign1) + bool(sign2) > 1:
        return None
    value = float(digits.replace(",", "")) * _SCALE[scale.lower()]
    if parens or sign1 not in ("", "+") or sign2 not in ("", "+"):
        value = -value
    return value if math.isfinite(value) else None


def number_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_number` (Float64)."""
    x = e.str.strip_chars(WHITESPACE).str.replace_all(_NUM_SPACES, "")
    parens = x.str.contains(_PARENS)
    x = pl.when(parens).then(x.str.replace(_PARENS, "${1}")).otherwise(x)
    groups = x.str.extract_groups(_NUMBER)
    sign1, sign2 = groups.struct.field("1"), groups.struct.field("2")
    digits, scale = groups.struct.field("3"), groups.struct.field("4")
    signs = parens.cast(pl.Int8) + (sign1 != "").cast(pl.Int8) + (sign2 != "").cast(pl.Int8)
    factor = scale.str.to_lowercase().replace_strict(_SCALE, return_dtype=pl.Float64)
    value = digits.str.replace_all(",", "", literal=True).cast(pl.Float64) * factor
    negative = parens | sign1.is_in(["-", "\u2212"]) | sign2.is_in(["-", "\u2212"])
    value = pl.when(negative).then(-value).otherwise(value)
    return pl.when((signs <= 1) & value.is_finite()).then(value)
