"""Normalisers of the matching core: "normalise once, compare many times".

Every concept has two forms that agree exactly:

* a scalar function ``str | None -> str | None`` for single-record intake (None for
  empty, blank or unparseable values; :func:`normalize_number` returns a float);
* an expression function ``pl.Expr -> pl.Expr`` for batch scans (null where the scalar
  gives None). Each is one elementwise ``map_batches`` running a pipeline of native
  polars string operations on the column; Python only ever sees *unique* values that
  need it (scripts other than Latin, unusual phone numbers, IDNA hosts, phonetic codes),
  and columns with many repeated values are computed once per distinct value.

Polars does not de-duplicate these user functions: use one expression once per column
(``with_columns`` it, then refer to the column) rather than twice in one expression.

Person names, nicknames, phonetic codes and companies live in
:mod:`dupeguard.core.names`, phones in :mod:`dupeguard.core.phones`, shared primitives in
:mod:`dupeguard.core._textnorm`; everything public is re-exported here, so
``from dupeguard.core.normalize import ...`` is the API.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import cache

import polars as pl

from dupeguard.core._textnorm import (
    NATIVE,
    WHITESPACE,
    empty_to_null,
    first_token,
    first_token_expr,
    fold_scalar,
    fold_series,
    initial,
    initial_expr,
    last_token,
    last_token_expr,
    non_ascii,
    normalize_text,
    on_subset,
    py_re,
    read_data_lines,
    scatter,
    series_expr,
    strip_ws,
    text_expr,
    with_scalar_for,
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


# ------------------------------------------------------------------------- email

_MAILTO = "^mailto:"
_NON_ASCII = "\u0080-\U0010ffff"  # internationalised addresses are kept (scalar path)
_LOCAL_CHARS = f"a-z0-9!#\\x24%&'*/=?^_`{{|}}~.\\-{_NON_ASCII}"
_LABEL = f"[a-z0-9_\\-{_NON_ASCII}]+"
_DOMAIN = f"{_LABEL}(?:\\.{_LABEL})+"
_EMAIL = f"^[{_LOCAL_CHARS}+]+@{_DOMAIN}$"
_GMAIL = "gmail.com"
_EMAIL_RE, _MAILTO_RE = py_re(_EMAIL), py_re(_MAILTO)


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


def _email_fast(s: pl.Series) -> pl.Series:
    x = s.str.strip_chars(WHITESPACE).str.to_lowercase()
    x = on_subset(x, x.str.starts_with("mailto:"), lambda v: v.str.slice(len("mailto:")))
    x = x.zip_with(x.str.contains(_EMAIL).fill_null(False), x.clear(n=x.len()))
    parts = x.str.split_exact("@", 1)
    local, domain = parts.struct.field("field_0"), parts.struct.field("field_1")
    tagged = (local.str.find("+", literal=True) > 0).fill_null(False)
    local = on_subset(local, tagged, lambda v: v.str.split_exact("+", 1).struct.field("field_0"))
    gmail = domain.is_in(["googlemail.com", _GMAIL]).fill_null(False)
    local = on_subset(local, gmail, lambda v: v.str.replace_all(".", "", literal=True))
    domain = on_subset(domain, gmail, lambda v: v.clear(n=v.len()).fill_null(_GMAIL))
    local = empty_to_null(local)
    return pl.select(pl.concat_str([local, pl.lit("@"), domain])).to_series()


def _email_series(s: pl.Series) -> pl.Series:
    # Lowercasing agrees between Python and polars on Latin text; other scripts: scalar.
    other = (~s.str.contains(NATIVE)).fill_null(False)
    return with_scalar_for(other, s, _email_fast, normalize_email)


def _email_part(s: pl.Series, field: str) -> pl.Series:
    return _email_series(s).str.split_exact("@", 1).struct.field(field)


def email_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_email`."""
    return series_expr(e, _email_series)


def email_domain(s: str | None) -> str | None:
    """Domain of the normalised email (``"J@GoogleMail.com"`` → ``"gmail.com"``)."""
    email = normalize_email(s)
    return None if email is None else email.split("@", 1)[1]


def email_domain_expr(e: pl.Expr) -> pl.Expr:
    return series_expr(e, lambda s: _email_part(s, "field_1"))


def email_local(s: str | None) -> str | None:
    """Local part of the normalised email (``"John.Doe+x@gmail.com"`` → ``"johndoe"``)."""
    email = normalize_email(s)
    return None if email is None else email.split("@", 1)[0]


def email_local_expr(e: pl.Expr) -> pl.Expr:
    return series_expr(e, lambda s: _email_part(s, "field_0"))


# ------------------------------------------------------------------------ domain

_SCHEME = "^(?:[a-z][a-z0-9+.\\-]*:)?//"
_AFTER_HOST = "(?s)[/?#\\\\].*"
_CREDENTIALS = "(?s)^.*@"
_PORT = ":[0-9]*$"
_WWW = "^(?:www[0-9]*\\.)+([^.]*\\..*)$"
_HOST = "^[a-z0-9_\\-]+(?:\\.[a-z0-9_\\-]+)+$"
# (pattern, cheap literal test for the rows it can change)
_DOMAIN_STEPS = [(_SCHEME, "//"), (_AFTER_HOST, "[/?#\\\\]"), (_CREDENTIALS, "@"), (_PORT, ":")]
_DOMAIN_PY = [py_re(p) for p, _ in _DOMAIN_STEPS]
_WWW_LABEL, _HOST_RE = re.compile("www[0-9]*"), py_re(_HOST)


def _strip_www(host: str) -> str:
    """:data:`_WWW` without regex backtracking: leading ``www.`` labels, keeping a dot."""
    labels = host.split(".")
    k = 0
    while k < len(labels) - 2 and _WWW_LABEL.fullmatch(labels[k]):
        k += 1
    return ".".join(labels[k:])


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
    for pattern in _DOMAIN_PY:
        s = pattern.sub("", s, count=1)
    if not s.isascii():
        try:
            s = s.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    s = _strip_www(s.rstrip("."))
    return s if _HOST_RE.match(s) else None


def _domain_fast(s: pl.Series) -> pl.Series:
    s = s.str.strip_chars(WHITESPACE).str.to_lowercase()
    for pattern, test in _DOMAIN_STEPS:
        idx = s.str.contains(test).fill_null(False).arg_true()
        s = scatter(s, idx, s.gather(idx).str.replace(pattern, ""))
    s = s.str.strip_chars_end(".")
    s = on_subset(s, s.str.starts_with("www"), lambda x: x.str.replace(_WWW, "${1}"))
    return s.zip_with(s.str.contains(_HOST).fill_null(False), s.clear(n=s.len()))


def domain_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_domain`."""
    # Non-ASCII hosts need IDNA encoding: scalar.
    return series_expr(
        e, lambda s: with_scalar_for(non_ascii(s), s, _domain_fast, normalize_domain)
    )


# ------------------------------------------------------------------------ street

_UNITS = ("apt", "ste", "unit", "bldg", "fl", "rm", "dept", "spc", "trlr", "box", "lot")
_UNIT_DUP = "( (?:" + "|".join(_UNITS) + ") )(?: apt )+"
_UNIT_DUP_RE = re.compile(_UNIT_DUP)


def _pad(s: str) -> str:
    return " " + s.replace(" ", "  ") + " "


@cache
def _street_abbreviations() -> dict[str, str]:
    pairs = dict(line.split(",") for line in read_data_lines("street_abbreviations.csv"))
    if set(pairs) & set(pairs.values()):
        raise ValueError("street abbreviations must not be abbreviated again")
    for word in [*pairs, *pairs.values()]:
        if not re.fullmatch(r"[a-z0-9]+(?: [a-z0-9]+)*", word):
            raise ValueError(f"not a normalised token sequence: {word!r}")
    order = sorted(pairs, key=lambda w: (-len(w), w))  # longest (multi-word) first
    return {_pad(w): _pad(pairs[w]) for w in order}


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
    abbreviations = _street_abbreviations()
    # Tokens are padded ("a b" → " a  b ") so whole-token replacements never overlap.
    padded = _street_re().sub(lambda m: abbreviations[m.group(0)], _pad(fold_scalar(s, "street")))
    return _UNIT_DUP_RE.sub(r"\1", padded).replace("  ", " ").strip(" ") or None


def _street_series(s: pl.Series) -> pl.Series:
    abbreviations = _street_abbreviations()
    folded = fold_series(s, "street")
    padded = " " + folded.str.replace_all(" ", "  ", literal=True) + " "
    padded = padded.str.replace_many(
        list(abbreviations), list(abbreviations.values()), leftmost=True
    )
    padded = on_subset(
        padded,
        padded.str.contains("  apt ", literal=True),
        lambda x: x.str.replace_all(_UNIT_DUP, "${1}"),
    )
    return empty_to_null(padded.str.replace_all("  ", " ", literal=True).str.strip_chars(" "))


def street_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_street`."""
    return series_expr(e, _street_series)


# --------------------------------------------------------------------------- zip

_ZIP_JUNK = "[^A-Za-z0-9]"
_ZIP_JUNK_RE = re.compile(_ZIP_JUNK)
_ZIP9 = "^([0-9]{5})[0-9]{4}$"
_ZIP9_RE = py_re(_ZIP9)


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
    """Vectorised :func:`normalize_zip`."""
    return (
        e.str.replace_all(_ZIP_JUNK, "")
        .str.to_uppercase()
        .str.replace(_ZIP9, "${1}")
        .replace("", None)
    )


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
_DATE_PY = [(py_re(p), order) for p, order in _DATE_FORMS]
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


def _date_series(s: pl.Series) -> pl.Series:
    x = s.str.strip_chars(WHITESPACE).str.to_lowercase()
    x = x.zip_with(~non_ascii(s), x.clear(n=x.len()))
    parts = {part: x.clear(n=x.len()) for part in "ymd"}
    todo = x.is_not_null()
    for pattern, order in _DATE_FORMS:
        idx = (todo & x.str.contains(pattern)).arg_true()
        if idx.len() == 0:
            continue
        groups = x.gather(idx).str.extract_groups(pattern)
        for i, part in enumerate(order, 1):
            parts[part] = scatter(parts[part], idx, groups.struct.field(str(i)))
        todo = scatter(todo, idx, False)
    month = parts["m"].replace(_MONTHS).str.zfill(2)
    iso = pl.select(pl.concat_str([parts["y"], month, parts["d"].str.zfill(2)], separator="-"))
    iso_s = iso.to_series()
    valid = iso_s.str.to_date("%Y-%m-%d", strict=False).is_not_null()
    return iso_s.zip_with(valid, iso_s.clear(n=iso_s.len()))


def date_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_date`."""
    return series_expr(e, _date_series)


# ------------------------------------------------------------------------ number

_NUM_SPACES = "[ \u00a0\u2009\u202f'\u2019]"
_NUM_SPACES_RE = re.compile(_NUM_SPACES)
_PARENS = r"(?s)^\((.*)\)$"
_PARENS_RE = py_re(_PARENS)
_CUR = (
    "(?:(?:[Uu][Ss]|[CcAa])?\\x24|€|£|¥|₹|₩|₽|¢|₺|₪|₫|฿|[Uu][Ss][Dd]|[Ee][Uu][Rr]|[Gg][Bb][Pp]"
    "|[Cc][Aa][Dd]|[Aa][Uu][Dd]|[Jj][Pp][Yy]|[Cc][Hh][Ff]|[Ii][Nn][Rr]|[Cc][Nn][Yy])"
)
_SIGN = "([+\\-\u2212]?)"
_NUM = "([0-9]{1,3}(?:,[0-9]{3})+(?:\\.[0-9]*)?|[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)"
_NUMBER = f"^{_SIGN}{_CUR}?{_SIGN}{_NUM}([kKmMbB]?){_CUR}?$"
_NUMBER_RE = py_re(_NUMBER)
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


def _number_series(s: pl.Series) -> pl.Series:
    x = s.str.strip_chars(WHITESPACE).str.replace_all(_NUM_SPACES, "")
    parens = x.str.contains(_PARENS).fill_null(False)
    x = on_subset(x, parens, lambda v: v.str.replace(_PARENS, "${1}"))
    idx = x.str.contains(_NUMBER).fill_null(False).arg_true()
    v, negative = x.gather(idx), parens.gather(idx)
    # v matches _NUMBER: signs are its only "+-−", a suffix currency its only tail letters.
    signs = v.str.count_matches("[-+\u2212]").cast(pl.Int32) + negative.cast(pl.Int32)
    negative = negative | v.str.contains("[-\u2212]")
    core = v.str.replace(f"{_CUR}$", "")
    factor = core.str.slice(-1).str.to_lowercase().replace_strict(_SCALE, default=1.0)
    value = core.str.replace_all("[^0-9.]", "").cast(pl.Float64) * factor
    value = value.zip_with(~negative, -value)
    value = value.zip_with((signs <= 1) & value.is_finite(), value.clear(n=value.len()))
    return scatter(pl.Series(s.name, [None] * s.len(), dtype=pl.Float64), idx, value)


def number_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`normalize_number` (Float64)."""
    return series_expr(e, _number_series, dtype=pl.Float64)
