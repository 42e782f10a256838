"""String-level corruptions used to turn an entity's record into a realistic duplicate.

Every function is pure apart from the ``random.Random`` it is given, works on one value,
and returns the corrupted value (or the input unchanged when the corruption does not
apply). ``generate.py`` decides which corruptions a duplicate gets.
"""

from __future__ import annotations

import random
import re

from . import pools

_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_QWERTY_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[j] for j in (_c - 1, _c + 1) if 0 <= j < len(_row)]
        for _rr in (_r - 1, _r + 1):
            if 0 <= _rr < len(_QWERTY_ROWS):
                other = _QWERTY_ROWS[_rr]
                near += [other[j] for j in (_c - 1, _c) if 0 <= j < len(other)]
        _NEIGHBOURS[_ch] = "".join(near)

PHONE_FORMATS: tuple[str, ...] = (
    "({a}) {e}-{l}",
    "{a}-{e}-{l}",
    "{a}.{e}.{l}",
    "+1 {a} {e} {l}",
    "1-{a}-{e}-{l}",
    "{a}{e}{l}",
    "+1{a}{e}{l}",
    "{a} {e} {l}",
    "+1 ({a}) {e}-{l}",
)
# Original records mostly use the first two formats.
ORIGINAL_PHONE_FORMAT_WEIGHTS: tuple[float, ...] = (
    0.40,
    0.30,
    0.08,
    0.04,
    0.03,
    0.10,
    0.02,
    0.02,
    0.01,
)

_STREET_FULL_TO_ABBR = {full: abbr for full, abbr, _ in pools.STREET_TYPES}
_STREET_FULL_TO_ABBR |= {"Suite": "Ste", "Apartment": "Apt", "North": "N", "South": "S"}
_STREET_ABBR_TO_FULL = {abbr: full for full, abbr in _STREET_FULL_TO_ABBR.items()}
_STREET_WORD_RE = re.compile(
    r"\b(" + "|".join(sorted(_STREET_FULL_TO_ABBR) + sorted(_STREET_ABBR_TO_FULL)) + r")\b\.?"
)
_SUFFIX_TO_FAMILY = {s.lower(): fam for fam in pools.SUFFIX_FAMILIES for s in fam}


def _neighbour(ch: str, rng: random.Random) -> str:
    near = _NEIGHBOURS.get(ch.lower())
    if not near:
        return rng.choice("aeiou") if ch.isalpha() else ch
    out = rng.choice(near)
    return out.upper() if ch.isupper() else out


def typo(text: str, rng: random.Random, n_edits: int = 1) -> str:
    """Apply ``n_edits`` keyboard-style edits (insert/delete/substitute/transpose)."""
    chars = list(text)
    for _ in range(n_edits):
        letters = [i for i, ch in enumerate(chars) if ch.isalpha()]
        if len(letters) < 3:
            break
        i = rng.choice(letters[1:])  # keep the first letter: typos rarely hit it
        op = rng.random()
        if op < 0.25:
            chars.insert(i, _neighbour(chars[i], rng))
        elif op < 0.45:
            del chars[i]
        elif op < 0.80:
            chars[i] = _neighbour(chars[i], rng)
        elif i + 1 < len(chars) and chars[i + 1].isalpha() and chars[i] != chars[i + 1]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars[i] = _neighbour(chars[i], rng)
    return "".join(chars)


def case_or_whitespace(text: str, rng: random.Random) -> str:
    """Upper/lower case the value, or add stray whitespace."""
    op = rng.random()
    if op < 0.35:
        return text.upper()
    if op < 0.65:
        return text.lower()
    if op < 0.85 and " " in text:
        return text.replace(" ", "  ", 1)
    return rng.choice((" ", "", "  ")) + text + rng.choice((" ", "  ", "\t"))


def digits_of(phone: str) -> str:
    """The last ten digits of a phone string."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-10:]


def format_phone(digits: str, fmt: str) -> str:
    """Render ten digits with one of ``PHONE_FORMATS``."""
    return fmt.format(a=digits[:3], e=digits[3:6], l=digits[6:])


def reformat_phone(phone: str, rng: random.Random) -> str:
    """Same number, different format."""
    digits = digits_of(phone)
    if len(digits) != 10:
        return phone
    options = [f for f in PHONE_FORMATS if format_phone(digits, f) != phone]
    return format_phone(digits, rng.choice(options))


def phone_digit_typo(phone: str, rng: random.Random) -> str:
    """Change one digit of the subscriber part (last seven digits)."""
    positions = [i for i, ch in enumerate(phone) if ch.isdigit()]
    if len(positions) < 7:
        return phone
    i = rng.choice(positions[-7:])
    new = rng.choice([d for d in "0123456789" if d != phone[i]])
    return phone[:i] + new + phone[i + 1 :]


def email_variant(email: str, rng: random.Random) -> str:
    """Same mailbox, different spelling: case, ``+tag``, Gmail dots, googlemail.com."""
    local, _, domain = email.partition("@")
    is_gmail = domain.lower() == "gmail.com"
    ops = ["upper", "capitalise", "plus"] + (["dots", "googlemail"] if is_gmail else [])
    op = rng.choice(ops)
    if op == "upper":
        return email.upper()
    if op == "capitalise":
        return ".".join(p[:1].upper() + p[1:] for p in local.split(".")) + "@" + domain
    if op == "plus":
        return f"{local}+{rng.choice(pools.PLUS_TAGS)}@{domain}"
    if op == "dots":
        return f"{_insert_dot(local, rng)}@{domain}"
    return f"{local}@googlemail.com"


def _insert_dot(local: str, rng: random.Random) -> str:
    spots = [i for i in range(1, len(local)) if local[i - 1] != "." and local[i] != "."]
    if not spots:
        return local
    i = rng.choice(spots)
    return local[:i] + "." + local[i:]


def street_abbreviation(street: str, rng: random.Random) -> str:
    """Flip Street<->St, Avenue<->Ave, Suite<->Ste ... (at least one word if possible)."""

    def flip(match: re.Match[str]) -> str:
        word = match.group(1)
        if word in _STREET_FULL_TO_ABBR:
            return _STREET_FULL_TO_ABBR[word] + ("." if rng.random() < 0.3 else "")
        return _STREET_ABBR_TO_FULL[word]

    return _STREET_WORD_RE.sub(flip, street)


def zip_typo(zip_code: str, rng: random.Random) -> str:
    """Change one of the last three digits of a zip code (or add/drop a +4 part)."""
    if rng.random() < 0.25:
        return zip_code[:5] if "-" in zip_code else f"{zip_code}-{rng.randrange(10000):04d}"
    positions = [i for i in range(2, min(5, len(zip_code))) if zip_code[i].isdigit()]
    if not positions:
        return zip_code
    i = rng.choice(positions)
    new = rng.choice([d for d in "0123456789" if d != zip_code[i]])
    return zip_code[:i] + new + zip_code[i + 1 :]


def first_initial(first: str, rng: random.Random) -> str:
    """``"John"`` -> ``"J."`` or ``"J"``."""
    return first[:1].upper() + ("." if rng.random() < 0.7 else "")


def render_suffix(core: str, suffix: str, style: int) -> str:
    """Company name from core + legal suffix; ``style`` picks "Inc", "Inc." or ", Inc."."""
    if not suffix:
        return core
    if style == 1 and suffix in {"Inc", "Corp", "Ltd", "Co"}:
        return f"{core} {suffix}."
    if style == 2:
        return f"{core}, {suffix}"
    return f"{core} {suffix}"


def change_suffix(core: str, suffix: str, rng: random.Random) -> str:
    """Legal-suffix change: within its family, to another family, or dropped."""
    op = rng.random()
    family = _SUFFIX_TO_FAMILY.get(suffix.lower(), ())
    if suffix and op < 0.55 and len(family) > 1:
        new = rng.choice([s for s in family if s != suffix])
    elif suffix and op < 0.8:
        return core
    else:
        new = rng.choice([f[0] for f in pools.SUFFIX_FAMILIES if suffix not in f][:5])
    return render_suffix(core, new, rng.randrange(3))


def swap_and_ampersand(name: str) -> str:
    """``"Johnson & Miller"`` <-> ``"Johnson and Miller"``."""
    if " & " in name:
        return name.replace(" & ", " and ", 1)
    if " and " in name:
        return name.replace(" and ", " & ", 1)
    return name


def acronym(core: str) -> str:
    """``"Pacific Data Systems"`` -> ``"PDS"`` (empty if the core has fewer than 3 words)."""
    words = [w for w in core.replace("-", " ").split() if w.lower() not in pools.ACRONYM_STOPWORDS]
    if len(words) < 3:
        return ""
    return "".join(w[0].upper() for w in words)


def website_variant(domain: str, rng: random.Random, *, original: bool = False) -> str:
    """A URL for ``domain``: scheme, ``www.``, trailing slash and path all vary."""
    forms: tuple[str, ...]
    weights: tuple[float, ...]
    if original:
        forms = ("https://www.{d}", "www.{d}", "{d}", "http://www.{d}", "https://{d}")
        weights = (0.35, 0.25, 0.2, 0.1, 0.1)
    else:
        forms = (
            "https://www.{d}/",
            "{d}",
            "http://{d}/about",
            "www.{d}",
            "https://{d}/contact-us",
            "http://www.{d}/",
            "https://{d}",
            "{D}",
        )
        weights = (0.2, 0.2, 0.12, 0.15, 0.08, 0.1, 0.1, 0.05)
    form = rng.choices(forms, weights=weights)[0]
    return form.format(d=domain, D=domain.upper())
