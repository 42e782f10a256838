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
raw text) and computes the result of the common key classes natively: national numbers of
the default region and ``+<its country code>`` numbers, mirroring phonenumbers' country-code
extraction, national-prefix stripping and length checks with the region's metadata
patterns. Everything else (other country codes, international-prefix dialling, letters,
extensions, regions whose national prefix needs a transform rule) goes through
phonenumbers once per *unique* value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers
import polars as pl
from phonenumbers import NumberParseException, PhoneMetadata, ValidationResult

from dupeguard.core._textnorm import WHITESPACE, map_unique, non_empty, strip_ws
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

    def matches(self, x: pl.Expr) -> pl.Expr:
        return x.str.contains(f"^(?:{self.general})$")

    def strip_prefix(self, x: pl.Expr) -> pl.Expr:
        """phonenumbers' ``_maybe_strip_national_prefix_carrier_code`` (no transform)."""
        if self.npp is None:
            return x
        prefix = f"^(?:{self.npp})"
        stripped = x.str.replace(prefix, "")
        keep = self.matches(x) & ~self.matches(stripped)
        return pl.when(x.str.contains(prefix) & ~keep).then(stripped).otherwise(x)


@dataclass(frozen=True)
class _Plan:
    cc: str
    idd: str | None
    default: _Meta  # metadata of the default region (national numbers)
    main: _Meta  # metadata of the country code's main region (everything else)

    def finish(self, nat: pl.Expr, meta: _Meta) -> pl.Expr:
        """National prefix stripping, length checks and E.164 formatting of ``nat``."""
        stripped = meta.strip_prefix(nat)
        accept = stripped.str.len_bytes().is_in(meta.strippable)
        nat2 = pl.when(accept).then(stripped).otherwise(nat)
        ok = (nat.str.len_bytes() >= 2) & nat2.str.len_bytes().is_in(self.main.possible)
        return pl.when(ok).then(pl.concat_str([pl.lit("+" + self.cc), nat2]))

    def national(self, n: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        """(result, handled) for a digits-only key read in the default region."""
        rest = self.default.strip_prefix(n.str.slice(len(self.cc)))
        extract = n.str.starts_with(self.cc) & (
            (~self.default.matches(n) & self.default.matches(rest))
            | n.str.len_bytes().is_in(self.default.too_long)
        )
        result = (
            pl.when(extract)
            .then(self.finish(rest, self.main))
            .otherwise(self.finish(n, self.default))
        )
        handled = pl.lit(True) if self.idd is None else ~n.str.contains(f"^(?:{self.idd})")
        return result, handled

    def international(self, d: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        """(result, handled) for the digits after a ``+``: own country code only."""
        handled = d.str.starts_with(self.cc) & (d.str.len_bytes() > 2)
        return self.finish(d.str.slice(len(self.cc)), self.main), handled


@cache
def _plan(region: str) -> _Plan | None:
    """Fast-path plan for a region, or None when its metadata needs phonenumbers."""
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.country_code is None:
        return None
    cc = str(meta.country_code)
    main_region = phonenumbers.region_code_for_country_code(meta.country_code)
    main_meta = PhoneMetadata.metadata_for_region(main_region)
    if main_meta is None:
        return None
    # The fast path assumes no shorter prefix of the country code is a country code.
    if any(int(cc[:i]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for i in range(1, len(cc))):
        return None
    idd = meta.international_prefix or None
    default, main = _Meta.of(meta), _Meta.of(main_meta)
    if default is None or main is None or (idd is not None and not _rust_regex_ok(idd)):
        return None
    return _Plan(cc=cc, idd=idd, default=default, main=main)


def phone_expr(e: pl.Expr, default_region: str = "US") -> pl.Expr:
    """Vectorised :func:`normalize_phone` (same results; see the module docstring)."""
    region = _check_region(default_region)
    trimmed = e.str.strip_chars(WHITESPACE)
    pre = non_empty(
        pl.when(trimmed.str.starts_with("00"))
        .then(pl.concat_str([pl.lit("+"), trimmed.str.slice(2)]))
        .otherwise(trimmed)
    )
    simple = pre.str.contains(f"^(?:{_SIMPLE})$") & (pre.str.len_chars() <= _MAX_INPUT)
    plus = pre.str.starts_with("+")
    digits = pre.str.replace_all("[^0-9]", "")
    key = pl.when(plus).then(pl.concat_str([pl.lit("+"), digits])).otherwise(digits)
    plan = _plan(region)
    if plan is None:
        fast: pl.Expr = pl.lit(None, dtype=pl.String)
        handled: pl.Expr = pl.lit(False)
    else:
        nat_result, nat_handled = plan.national(digits)
        int_result, int_handled = plan.international(digits)
        fast = pl.when(plus).then(int_result).otherwise(nat_result)
        handled = simple & pl.when(plus).then(int_handled).otherwise(nat_handled)
    source = pl.when(simple).then(key).otherwise(pre)
    slow = map_unique(pl.when(~handled).then(source), lambda t: _e164(t, region))
    return pl.when(handled).then(fast).otherwise(slow)
