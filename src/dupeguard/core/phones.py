"""Phone-number normalisation to E.164 (scalar and vectorised forms).

``phonenumbers`` is the reference: a value normalises to
``format_number(parse(value, default_region), E164)`` when ``parse`` succeeds and
``is_possible_number_with_reason`` is ``IS_POSSIBLE``, else to None. Decisions:

* *possible*, not *valid*: the check is on length only (fictional 555 numbers pass), but
  ``IS_POSSIBLE_LOCAL_ONLY`` is rejected: a 7-digit US number without area code has no
  E.164 form (``phonenumbers.is_possible_number`` would accept it);
* a leading ``00`` is read as ``+`` whatever the default region (``phonenumbers`` only
  knows each region's own international prefix, e.g. ``011`` in the US);
* extensions are dropped; vanity letters ("1-800-FLOWERS") are converted by phonenumbers.

Calling phonenumbers costs ~20 µs, far too much per row for a scan. The expression form
therefore reduces values of the common shape (digits and ``space ( ) . - /``, optional
leading ``+``) to a key (``+`` and digits; phonenumbers gives the key the same result as the
raw text) and computes the result of the common key classes natively, mirroring
phonenumbers' country-code extraction, national-prefix stripping and length checks with
the metadata patterns: national numbers of the default region, and ``+`` numbers of every
geographic country code. Everything else (international-prefix dialling such as ``011``,
letters, extensions, regions whose national prefix needs a transform rule such as BR or
JP, non-geographic codes) goes through phonenumbers once per *unique* value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers
import polars as pl
from phonenumbers import NumberParseException, PhoneMetadata, ValidationResult

from dupeguard.core._textnorm import (
    WHITESPACE,
    empty_to_null,
    map_unique,
    on_subset,
    scatter,
    series_expr,
    strip_ws,
)
from dupeguard.core.errors import ConfigError

__all__ = ["normalize_phone", "phone_expr"]

_SIMPLE = r"\+?[0-9 ().\-/]*[0-9][0-9 ().\-/]*"
_SIMPLE_RE = re.compile(_SIMPLE)
_MAX_INPUT = 250  # phonenumbers refuses longer input
_MAX_LENGTH = 300  # status tables cover every length a simple key can have


def _check_region(default_region: str) -> str:
    region = default_region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"unknown phone region {default_region!r}: use an ISO 3166 code such as 'US'",
            details={"default_region": default_region},
        )
    return region


def _pre(s: str | None) -> str | None:
    s = strip_ws(s)
    if s is not None and s.startswith("00"):
        s = "+" + s[2:]
    return s


def _key(pre: str) -> str | None:
    if len(pre) > _MAX_INPUT or not _SIMPLE_RE.fullmatch(pre):
        return None
    digits = re.sub("[^0-9]", "", pre)
    return "+" + digits if pre.startswith("+") else digits


@lru_cache(maxsize=1 << 16)
def _e164(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(s: str | None, default_region: str = "US") -> str | None:
    """E.164 (``"+15551234567"``) or None; national numbers are read in ``default_region``.

    ``"(555) 123-4567"``, ``"555.123.4567"``, ``"+1 555-123-4567"`` and
    ``"001 555 123 4567"`` all give ``"+15551234567"`` with the default ``"US"``.
    Raises :class:`~dupeguard.core.errors.ConfigError` for an unknown region.
    """
    region = _check_region(default_region)
    pre = _pre(s)
    if pre is None:
        return None
    key = _key(pre)
    return _e164(pre if key is None else key, region)


# ----------------------------------------------------------- vectorised fast path


def _rust_regex_ok(pattern: str) -> bool:
    try:
        pl.Series(["0"]).str.contains(pattern)
    except Exception:
        return False
    return True


@dataclass(frozen=True)
class _Meta:
    """What the fast path needs of one region's metadata (lengths → length status)."""

    npp: str | None  # national prefix for parsing (regex, matched at the start)
    general: str  # national number pattern (full match)
    possible: tuple[int, ...]  # lengths that are IS_POSSIBLE
    strippable: tuple[int, ...]  # lengths accepted after stripping a national prefix
    too_long: tuple[int, ...]

    @classmethod
    def of(cls, meta: PhoneMetadata) -> _Meta | None:
        general = meta.general_desc.national_number_pattern if meta.general_desc else None
        patterns = [general, meta.national_prefix_for_parsing or None]
        if general is None or meta.national_prefix_transform_rule:
            return None
        if not all(_rust_regex_ok(p) for p in patterns if p is not None):
            return None
        status = {
            n: phonenumbers.phonenumberutil._test_number_length("0" * n, meta)
            for n in range(_MAX_LENGTH + 1)
        }
        bad = (
            ValidationResult.TOO_SHORT,
            ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
            ValidationResult.INVALID_LENGTH,
        )
        return cls(
            npp=meta.national_prefix_for_parsing or None,
            general=general,
            possible=tuple(n for n, r in status.items() if r == ValidationResult.IS_POSSIBLE),
            strippable=tuple(n for n, r in status.items() if r not in bad),
            too_long=tuple(n for n, r in status.items() if r == ValidationResult.TOO_LONG),
        )

    def matches(self, x: pl.Series) -> pl.Series:
        return x.str.contains(f"^(?:{self.general})$")

    def strip_prefix(self, x: pl.Series) -> pl.Series:
        """phonenumbers' ``_maybe_strip_national_prefix_carrier_code`` (no transform)."""
        if self.npp is None:
            return x
        prefix = f"^(?:{self.npp})"

        def strip(sub: pl.Series) -> pl.Series:
            stripped = sub.str.replace(prefix, "")
            keep = self.matches(sub) & ~self.matches(stripped)
            return sub.zip_with(keep, stripped)

        return on_subset(x, x.str.contains(prefix), strip)


_FastPath = Callable[[pl.Series], tuple[pl.Series, pl.Series]]


def _finish(nat: pl.Series, meta: _Meta, check: _Meta, cc: str) -> pl.Series:
    """National prefix stripping (``meta``), length check (``check``), E.164 formatting."""
    stripped = meta.strip_prefix(nat)
    nat2 = stripped.zip_with(stripped.str.len_bytes().is_in(meta.strippable), nat)
    ok = (nat.str.len_bytes() >= 2) & nat2.str.len_bytes().is_in(check.possible)
    e164 = ("+" + cc) + nat2
    return e164.zip_with(ok, e164.clear(n=e164.len()))


@dataclass(frozen=True)
class _Plan:
    """Fast path for national numbers (no ``+``) read in a default region."""

    cc: str
    idd: str | None
    default: _Meta  # metadata of the default region
    main: _Meta  # metadata of the country code's main region

    def national(self, n: pl.Series) -> tuple[pl.Series, pl.Series]:
        """(result, handled) for digits-only keys."""
        result = _finish(n, self.default, self.main, self.cc)
        idx = n.str.starts_with(self.cc).arg_true()
        if idx.len():
            # Country code written without "+": phonenumbers keeps it stripped if the
            # rest is a better national number or the whole is too long.
            full = n.gather(idx)
            rest = self.default.strip_prefix(full.str.slice(len(self.cc)))
            extract = (~self.default.matches(full) & self.default.matches(rest)) | (
                full.str.len_bytes().is_in(self.default.too_long)
            )
            found = _finish(rest.filter(extract), self.main, self.main, self.cc)
            result = scatter(result, idx.filter(extract), found)
        if self.idd is None:
            return result, n.is_not_null()
        return result, ~n.str.contains(f"^(?:{self.idd})")


def _metadata(country_code: int) -> PhoneMetadata | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    return PhoneMetadata.metadata_for_region(region)  # None for non-geographic codes


@cache
def _plan(region: str) -> _Plan | None:
    """Fast-path plan for a region, or None when its metadata needs phonenumbers."""
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.country_code is None:
        return None
    main_meta = _metadata(meta.country_code)
    idd = meta.international_prefix or None
    if main_meta is None or (idd is not None and not _rust_regex_ok(idd)):
        return None
    default, main = _Meta.of(meta), _Meta.of(main_meta)
    if default is None or main is None:
        return None
    return _Plan(cc=str(meta.country_code), idd=idd, default=default, main=main)


@cache
def _country_meta(cc: str) -> _Meta | None:
    meta = _metadata(int(cc))
    return None if meta is None else _Meta.of(meta)


@cache
def _country_codes() -> str:
    # Country calling codes form a prefix-free set, so the alternation is unambiguous.
    codes = sorted(str(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    return "^(" + "|".join(codes) + ")"


def _international(d: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(result, handled) for the digits after a ``+`` (any geographic country code)."""
    result = d.clear(n=d.len())
    handled = pl.Series([False] * d.len(), dtype=pl.Boolean)
    codes = d.str.extract(_country_codes(), 1)
    codes = codes.zip_with(d.str.len_bytes() > 2, codes.clear(n=codes.len()))
    for cc in codes.drop_nulls().unique().to_list():
        meta = _country_meta(cc)
        if meta is not None:
            idx = (codes == cc).fill_null(False).arg_true()
            found = _finish(d.gather(idx).str.slice(len(cc)), meta, meta, cc)
            result, handled = scatter(result, idx, found), scatter(handled, idx, True)
    return result, handled


def _phone_series(s: pl.Series, region: str) -> pl.Series:
    pre = s.str.strip_chars(WHITESPACE)
    pre = on_subset(pre, pre.str.starts_with("00"), lambda x: "+" + x.str.slice(2))
    pre = empty_to_null(pre)
    simple = pre.str.contains(f"^(?:{_SIMPLE})$") & (pre.str.len_chars() <= _MAX_INPUT)
    simple = simple.fill_null(False)
    plus = pre.str.starts_with("+").fill_null(False)
    digits = on_subset(pre, simple, lambda x: x.str.replace_all("[^0-9]", ""))
    source = on_subset(digits, simple & plus, lambda x: "+" + x)  # key, or the raw text
    result = pre.clear(n=pre.len())
    done = pre.is_null()
    plan = _plan(region)
    fast: list[tuple[pl.Series, _FastPath]] = [(simple & plus, _international)]
    if plan is not None:
        fast.append((simple & ~plus, plan.national))
    for mask, method in fast:
        idx = mask.arg_true()
        if idx.len():
            found, handled = method(digits.gather(idx))
            result = scatter(result, idx.filter(handled), found.filter(handled))
            done = scatter(done, idx.filter(handled), True)
    idx = (~done).arg_true()
    if idx.len():
        result = scatter(result, idx, map_unique(source.gather(idx), _e164_in(region)))
    return result


@cache
def _e164_in(region: str) -> Callable[[str], str | None]:
    return lambda text: _e164(text, region)


def phone_expr(e: pl.Expr, default_region: str = "US") -> pl.Expr:
    """Vectorised :func:`normalize_phone` (same results; see the module docstring)."""
    region = _check_region(default_region)
    return series_expr(e, lambda s: _phone_series(s, region))
