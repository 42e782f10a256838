"""Synthetic CRM data with ground truth for benchmarking duplicate detection.

Usage::

    python bench/generate.py --kind contacts --n 100000 --seed 1 \
        --out bench/data/contacts_100k.parquet
    python bench/generate.py --kind companies --n 50000 --seed 1 \
        --out bench/data/companies_50k.csv

Writes the records (Parquet or CSV, by extension) and, next to them,
``<stem>.truth.parquet`` with columns ``id, entity_id``: records sharing an
``entity_id`` are duplicates of each other. Importable as
``generate_contacts(n, seed)`` / ``generate_companies(n, seed)``, each returning
``(records, truth)`` polars frames.

How the data is built
---------------------
* ``n`` is the number of output records. About 35 % of entities get 1-3 duplicate
  records; each duplicate gets 1-3 corruptions (nicknames, typos, swapped names,
  initials, case/whitespace, phone formats and digit typos, e-mail variants such as
  ``+tags``/Gmail dots/googlemail, a work instead of a personal e-mail, legal-suffix
  changes, acronyms, street abbreviations, blanked fields, zip typos). A duplicate never
  has a corrupted name *and* neither e-mail nor phone (companies: website nor phone).
* About 7 % of entities belong to look-alike groups of distinct entities (hard
  negatives). Contacts: same common full name in different places; household members
  (same surname, address and landline, different first name and e-mail); colleagues
  (same company, e-mail domain, office address and phone prefix). Companies: names
  sharing a word ("Acme Logistics" / "Acme Foods"), and same-named companies in another
  city.
* Ground-truth conventions: distinct contacts never share an e-mail address (even after
  lower-casing, ``+tag`` removal and Gmail dot folding) and distinct companies never
  share a website domain. Households share a phone number; colleagues share a domain.
* Every record also has independent baseline missingness (null, or occasionally an empty
  string) so originals are not always complete. Rows are shuffled; ids carry no order.
  ``created_at`` of a duplicate is usually later than the entity's first record.
* Deterministic for a given ``(kind, n, seed)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from . import corruptions as cx
from . import pools

Row = dict[str, str | None]

_T0 = 1451606400  # 2016-01-01T00:00:00Z
_T1 = 1751241600  # 2025-06-30T00:00:00Z
DUP_ENTITY_FRACTION = 0.35
EXTRA_RECORD_WEIGHTS = (0.65, 0.25, 0.10)  # P(1, 2, 3 extra records | has duplicates)
LOOKALIKE_FRACTION = 0.07
CORRUPTIONS_PER_DUP_WEIGHTS = (0.45, 0.35, 0.20)  # P(1, 2, 3 corruptions)
EMPTY_STRING_SHARE = 0.2  # share of missing values written as "" rather than null

CONTACT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "street",
    "city",
    "state",
    "zip",
    "created_at",
)
COMPANY_COLUMNS = ("id", "name", "website", "phone", "street", "city", "state", "zip", "created_at")

# corruption -> relative weight. Dict order is the order in which they are applied.
CONTACT_CORRUPTIONS: dict[str, float] = {
    "nickname": 3.0,
    "initial": 1.0,
    "swap_names": 0.6,
    "first_typo": 2.0,
    "last_typo": 2.0,
    "alt_email": 1.0,
    "email_variant": 2.0,
    "phone_format": 2.5,
    "phone_typo": 0.8,
    "company_suffix": 1.2,
    "company_acronym": 0.3,
    "company_typo": 0.6,
    "street_abbrev": 1.5,
    "street_typo": 0.7,
    "zip_typo": 0.6,
    "case_ws": 1.5,
    "missing": 2.0,
}
CONTACT_NAME_CORRUPTIONS = frozenset(
    {"nickname", "initial", "swap_names", "first_typo", "last_typo"}
)
COMPANY_CORRUPTIONS: dict[str, float] = {
    "acronym": 0.6,
    "suffix_change": 3.0,
    "and_amp": 1.0,
    "name_typo": 2.0,
    "website_variant": 3.0,
    "phone_format": 2.5,
    "phone_typo": 0.7,
    "street_abbrev": 1.5,
    "zip_typo": 0.6,
    "case_ws": 1.5,
    "missing": 2.0,
}
COMPANY_NAME_CORRUPTIONS = frozenset({"acronym", "name_typo"})
_EXCLUSIVE = ({"nickname", "initial"}, {"initial", "first_typo"}, {"initial", "swap_names"})


# ------------------------------------------------------------------------- planning


def _plan_entities(n: int, rng: np.random.Generator) -> np.ndarray:
    """Number of records per entity; the counts sum to exactly ``n``."""
    mean_extra = float(np.dot((1, 2, 3), EXTRA_RECORD_WEIGHTS))
    n_ent = max(1, round(n / (1 + DUP_ENTITY_FRACTION * mean_extra)))
    extras = np.zeros(n_ent, dtype=np.int64)
    has_dup = rng.random(n_ent) < DUP_ENTITY_FRACTION
    extras[has_dup] = rng.choice((1, 2, 3), size=int(has_dup.sum()), p=EXTRA_RECORD_WEIGHTS)
    surplus = n_ent + int(extras.sum()) - n
    if surplus > 0:  # drop some duplicate records at random
        dup_owner = np.repeat(np.arange(n_ent), extras)
        drop = rng.choice(dup_owner.size, size=surplus, replace=False)
        extras -= np.bincount(dup_owner[drop], minlength=n_ent)
    elif surplus < 0:  # top up with singleton entities
        extras = np.concatenate([extras, np.zeros(-surplus, dtype=np.int64)])
    return extras + 1


def _records_of(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entity index, is-duplicate flag) for every record, entity-major order."""
    entity = np.repeat(np.arange(counts.size), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return entity, (np.arange(entity.size) - starts) > 0


@dataclass
class LookalikeGroups:
    """Members of look-alike groups of one kind, each paired with its group leader."""

    leaders: np.ndarray  # one entry per group
    members: np.ndarray  # non-leader members
    member_leader: np.ndarray  # the leader of each member


def _lookalike_groups(
    n_ent: int, rng: np.random.Generator, kinds: dict[str, float]
) -> dict[str, LookalikeGroups]:
    """Partition ~LOOKALIKE_FRACTION of the entities into groups of 2-4 per kind."""
    chosen = rng.permutation(n_ent)[: round(n_ent * LOOKALIKE_FRACTION)]
    sizes = rng.choice((2, 3, 4), size=max(1, chosen.size // 2), p=(0.65, 0.25, 0.10))
    bounds = np.cumsum(sizes)
    sizes = sizes[bounds <= chosen.size]
    starts = np.cumsum(sizes) - sizes
    names = list(kinds)
    p = np.asarray(list(kinds.values()))
    group_kind = rng.choice(len(names), size=sizes.size, p=p / p.sum())
    out: dict[str, LookalikeGroups] = {}
    for k, name in enumerate(names):
        sel = group_kind == k
        g_start, g_size = starts[sel], sizes[sel]
        leaders = chosen[g_start]
        member_pos = np.concatenate(
            [np.arange(s + 1, s + z) for s, z in zip(g_start, g_size, strict=True)]
            or [np.zeros(0, dtype=np.int64)]
        )
        member_leader = chosen[np.repeat(g_start, g_size - 1)]
        out[name] = LookalikeGroups(leaders, chosen[member_pos.astype(np.int64)], member_leader)
    return out


# ------------------------------------------------------------------ shared sampling


def _weighted(
    rng: np.random.Generator, weights: np.ndarray | Sequence[float], size: int
) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(p.size, size=size, p=p / p.sum())


def _zip_and_area(city: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A zip code and a phone area code consistent with each city."""
    t = pools.city_table()
    zips = t.zips[t.zip_offset[city] + (rng.random(city.size) * t.zip_count[city]).astype(int)]
    area = t.area_codes[
        t.area_offset[city] + (rng.random(city.size) * t.area_count[city]).astype(int)
    ]
    return zips, area


def _phones(area: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ten-digit US phone numbers (as strings) in the given area codes."""
    exchange = rng.integers(201, 1000, size=area.size)
    line = rng.integers(0, 10000, size=area.size)
    return (area.astype(np.int64) * 10**7 + exchange * 10**4 + line).astype(str)


def _streets(rng: np.random.Generator, size: int, *, office: bool) -> list[str]:
    """Street lines such as "1234 Oak Street Apt 5" / "200 Commerce Blvd Suite 400"."""
    number = np.where(
        rng.random(size) < 0.3,
        rng.integers(1, 100, size),
        np.where(
            rng.random(size) < 0.6, rng.integers(100, 1000, size), rng.integers(1000, 10000, size)
        ),
    )
    name = rng.integers(0, len(pools.STREET_NAMES), size)
    kind = _weighted(rng, [w for _, _, w in pools.STREET_TYPES], size)
    abbreviate = rng.random(size) < 0.4
    unit_draw = rng.random(size)
    unit_no = rng.integers(1, 40, size)
    unit_share = 0.35 if office else 0.10
    names, types = pools.STREET_NAMES, pools.STREET_TYPES
    out = []
    for i in range(size):
        full, abbr, _ = types[kind[i]]
        line = f"{number[i]} {names[name[i]]} {abbr if abbreviate[i] else full}"
        if unit_draw[i] < unit_share:
            if office:
                line += f" Suite {unit_no[i] * 10}" if unit_draw[i] < 0.25 else f" Ste {unit_no[i]}"
            else:
                line += f" Apt {unit_no[i]}" if unit_draw[i] < 0.07 else f" #{unit_no[i]}B"
        out.append(line)
    return out


def _created(rng: np.random.Generator, entity_ts: np.ndarray, is_dup: np.ndarray) -> np.ndarray:
    """Creation times: originals at the entity's time, duplicates mostly later."""
    later = rng.random(is_dup.size) < 0.85
    delay = rng.exponential(120 * 86400, is_dup.size) + rng.integers(60, 86400, is_dup.size)
    offset = np.where(later, delay, -rng.exponential(60 * 86400, is_dup.size))
    ts = entity_ts + np.where(is_dup, offset, 0).astype(np.int64)
    return np.clip(ts, _T0 - 400 * 86400, _T1)


def _iso(ts: np.ndarray) -> pl.Series:
    return pl.from_epoch(pl.Series("created_at", ts), time_unit="s").dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _unique_values(
    values: list[str],
    key: Callable[[str], str],
    alternative: Callable[[int, str, int], str],
    keys: list[str] | None = None,
) -> list[str]:
    """Make ``values`` unique under ``key``; ``alternative(i, value, attempt)`` proposes.

    ``keys`` may carry precomputed keys of ``values`` (faster than calling ``key``).
    """
    seen: set[str] = set()
    last_attempt: dict[str, int] = {}  # avoids re-trying taken alternatives (quadratic)
    out = []
    for i, value in enumerate(values):
        k = first_key = keys[i] if keys is not None else key(value)
        attempt = last_attempt.get(first_key, 0)
        while k in seen:
            attempt += 1
            value = alternative(i, values[i], attempt)
            k = key(value)
        if attempt:
            last_attempt[first_key] = attempt
        seen.add(k)
        out.append(value)
    return out


# ------------------------------------------------------------------------ companies


def _company_cores(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct company core names (without legal suffix) in several styles."""
    brands = pools.brand_names()
    surnames = pools.COMMON_SURNAMES[:250]
    leads, conns, inds = pools.COMPANY_LEADS, pools.COMPANY_CONNECTORS, pools.COMPANY_INDUSTRIES
    styles: list[tuple[float, Callable[[np.random.Generator], str]]] = [
        (0.15, lambda r: f"{leads[r.integers(len(leads))]} {inds[r.integers(len(inds))]}"),
        (0.25, lambda r: f"{brands[r.integers(len(brands))]} {inds[r.integers(len(inds))]}"),
        (0.07, lambda r: brands[r.integers(len(brands))]),
        (0.08, lambda r: "{} & {}".format(*r.choice(surnames, 2, replace=False))),
        (0.05, lambda r: f"{surnames[r.integers(250)]} {pools.FAMILY_FIRM_TAILS[r.integers(4)]}"),
        (
            0.25,
            lambda r: (
                f"{leads[r.integers(len(leads))]} {conns[r.integers(len(conns))]} "
                f"{inds[r.integers(len(inds))]}"
            ),
        ),
        (0.15, lambda r: f"{surnames[r.integers(250)]} {inds[r.integers(len(inds))]}"),
    ]
    p = np.asarray([w for w, _ in styles])
    seen: dict[str, None] = {}
    while len(seen) < n:
        style = rng.choice(len(styles), size=n - len(seen), p=p / p.sum())
        for s in style:
            seen.setdefault(styles[s][1](rng), None)
    return list(seen)[:n]


@dataclass
class CompanyEntities:
    """Per-entity company attributes (index = entity)."""

    core: list[str]
    suffix: list[str]
    style: np.ndarray
    acronym: list[str]
    domain: list[str]
    street: list[str]
    city: np.ndarray
    zip: np.ndarray
    phone: np.ndarray  # ten digits
    created: np.ndarray

    def name(self, i: int) -> str:
        return cx.render_suffix(self.core[i], self.suffix[i], int(self.style[i]))


def _company_entities(n_ent: int, rng: np.random.Generator, *, lookalikes: bool) -> CompanyEntities:
    cores = _company_cores(n_ent, rng)
    city = _weighted(rng, pools.city_table().weight, n_ent)
    if lookalikes:
        groups = _lookalike_groups(n_ent, rng, {"shared_word": 0.6, "same_name": 0.4})
        _shared_word_companies(cores, groups["shared_word"], rng)
        _same_name_companies(cores, city, groups["same_name"], rng)
    suffix_names = [s for s, _ in pools.LEGAL_SUFFIXES]
    suffix_idx = _weighted(rng, [w for _, w in pools.LEGAL_SUFFIXES], n_ent)
    suffix = [suffix_names[i] for i in suffix_idx]
    zips, area = _zip_and_area(city, rng)
    acronyms = [cx.acronym(c) for c in cores]
    return CompanyEntities(
        core=cores,
        suffix=suffix,
        style=_weighted(rng, (0.6, 0.25, 0.15), n_ent),
        acronym=acronyms,
        domain=_company_domains(cores, acronyms, city, rng),
        street=_streets(rng, n_ent, office=True),
        city=city,
        zip=zips,
        phone=_phones(area, rng),
        created=rng.integers(_T0, _T1, n_ent),
    )


def _shared_word_companies(cores: list[str], g: LookalikeGroups, rng: np.random.Generator) -> None:
    """Members become "<leader's first word> <other industry>" (Acme Foods vs Acme ...)."""
    taken = set(cores)
    for member, leader in zip(g.members, g.member_leader, strict=True):
        head = cores[leader].split()[0]
        for _ in range(20):
            candidate = f"{head} {pools.COMPANY_INDUSTRIES[rng.integers(60)]}"
            if candidate not in taken:
                taken.add(candidate)
                cores[member] = candidate
                break


def _same_name_companies(
    cores: list[str], city: np.ndarray, g: LookalikeGroups, rng: np.random.Generator
) -> None:
    """Members copy the leader's name but sit in a different city (different company)."""
    n_city = pools.city_table().city.size
    for member, leader in zip(g.members, g.member_leader, strict=True):
        cores[member] = cores[leader]
        while city[member] == city[leader]:
            city[member] = rng.integers(n_city)


def _company_domains(
    cores: list[str], acronyms: list[str], city: np.ndarray, rng: np.random.Generator
) -> list[str]:
    """One unique domain per company entity (acronym domains for some long names)."""
    tld_names = [t for t, _ in pools.WEBSITE_TLDS]
    tlds = [tld_names[i] for i in _weighted(rng, [w for _, w in pools.WEBSITE_TLDS], len(cores))]
    use_acronym = rng.random(len(cores)) < 0.25
    bases = [
        pools.slug(acronyms[i])
        if acronyms[i] and use_acronym[i]
        else pools.slug(c.replace("&", " "))
        for i, c in enumerate(cores)
    ]
    city_names = pools.city_table().city

    def alternative(i: int, value: str, attempt: int) -> str:
        if attempt == 1:
            return f"{pools.slug(cores[i])}{tlds[i]}"
        if attempt == 2:
            return f"{bases[i]}{pools.slug(city_names[city[i]])}{tlds[i]}"
        return f"{bases[i]}{attempt}{tlds[i]}"

    return _unique_values([b + t for b, t in zip(bases, tlds, strict=True)], str.lower, alternative)


# ------------------------------------------------------------------------- contacts


@dataclass
class ContactEntities:
    """Per-entity contact attributes (index = entity)."""

    first: np.ndarray  # index into FIRST_NAMES
    last: np.ndarray  # index into surnames()
    city: np.ndarray
    zip: np.ndarray
    street: list[str]
    phone: np.ndarray
    company: np.ndarray  # index into the company pool, -1 for none
    email: list[str]
    alt_email: list[str]
    created: np.ndarray


def _contact_base(
    n_ent: int, rng: np.random.Generator, companies: CompanyEntities
) -> ContactEntities:
    city = _weighted(rng, pools.city_table().weight, n_ent)
    zips, area = _zip_and_area(city, rng)
    n_pool = len(companies.core)
    company = np.where(
        rng.random(n_ent) < 0.65, _weighted(rng, pools.zipf_weights(n_pool, 0.8, 5.0), n_ent), -1
    )
    return ContactEntities(
        first=_weighted(rng, pools.first_name_weights(), n_ent),
        last=_weighted(rng, pools.surname_weights(), n_ent),
        city=city,
        zip=zips,
        street=_streets(rng, n_ent, office=False),
        phone=_phones(area, rng),
        company=company,
        email=[],
        alt_email=[],
        created=rng.integers(_T0, _T1, n_ent),
    )


def _apply_contact_lookalikes(
    e: ContactEntities, rng: np.random.Generator, companies: CompanyEntities
) -> np.ndarray:
    """Create hard negatives in place; returns a mask of entities whose e-mail is work."""
    n_ent = e.first.size
    groups = _lookalike_groups(
        n_ent, rng, {"common_name": 0.35, "household": 0.35, "colleague": 0.30}
    )
    g = groups["common_name"]
    e.first[g.leaders] = rng.integers(0, 25, g.leaders.size)
    e.last[g.leaders] = rng.integers(0, 15, g.leaders.size)
    e.first[g.members] = e.first[g.member_leader]
    e.last[g.members] = e.last[g.member_leader]

    g = groups["household"]
    e.last[g.members] = e.last[g.member_leader]
    e.city[g.members], e.zip[g.members] = e.city[g.member_leader], e.zip[g.member_leader]
    e.phone[g.members] = e.phone[g.member_leader]
    for m, lead in zip(g.members, g.member_leader, strict=True):
        e.street[m] = e.street[lead]
    _distinct_first_names(e.first, g, rng)

    g = groups["colleague"]
    no_company = g.leaders[e.company[g.leaders] < 0]
    e.company[no_company] = rng.integers(0, len(companies.core), no_company.size)
    e.company[g.members] = e.company[g.member_leader]
    staff = np.concatenate([g.leaders, g.members])
    comp = e.company[staff]
    e.city[staff], e.zip[staff] = companies.city[comp], companies.zip[comp]
    for s, c in zip(staff, comp, strict=True):
        e.street[s] = companies.street[c]
    e.phone[staff] = [
        p[:6] + f"{x:04d}"
        for p, x in zip(companies.phone[comp], rng.integers(0, 10000, staff.size), strict=True)
    ]
    _distinct_first_names(e.first, g, rng)
    force_work = np.zeros(n_ent, dtype=bool)
    force_work[staff] = True
    return force_work


def _distinct_first_names(first: np.ndarray, g: LookalikeGroups, rng: np.random.Generator) -> None:
    """Redraw first names so that no two members of a group share one (no two "Mary
    Perez" in one household: they would be indistinguishable, not a hard negative)."""
    used: dict[int, set[int]] = {int(lead): {int(first[lead])} for lead in g.leaders}
    weights = pools.first_name_weights()
    for member, leader in zip(g.members.tolist(), g.member_leader.tolist(), strict=True):
        taken = used[leader]
        while int(first[member]) in taken:
            first[member] = rng.choice(weights.size, p=weights)
        taken.add(int(first[member]))


def _local_part(f: str, lname: str, pattern: int, number: int) -> str:
    """E-mail local part from slugged first and last names."""
    return (
        f"{f}.{lname}",
        f"{f[0]}{lname}",
        f"{f}{lname[0]}",
        f"{f}_{lname}{number}",
        f"{f}{lname}",
        f"{f}.{lname}{number}",
        f"{f}{number}",
        f"{lname}.{f}",
    )[pattern]


def email_key(email: str) -> str:
    """Mailbox identity: lower case, no ``+tag``, Gmail dots removed, googlemail folded."""
    local, _, domain = email.lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def _email_keys(emails: list[str]) -> list[str]:
    """Vectorised ``email_key``."""
    parts = pl.Series(emails, dtype=pl.String).str.to_lowercase().str.split_exact("@", 1)
    frame = parts.struct.unnest()
    local = frame["field_0"].str.replace(r"\+.*$", "")
    domain = frame["field_1"]
    gmail = domain.is_in(["gmail.com", "googlemail.com"])
    key = pl.select(
        pl.when(gmail)
        .then(local.str.replace_all(".", "", literal=True) + "@gmail.com")
        .otherwise(local + "@" + domain)
    ).to_series()
    return key.to_list()


def _assign_emails(
    e: ContactEntities, rng: np.random.Generator, companies: CompanyEntities, force_work: np.ndarray
) -> None:
    """Primary and alternative (work vs personal) e-mails, unique per entity."""
    n_ent = e.first.size
    firsts = [pools.slug(x) or "x" for x in pools.FIRST_NAMES]
    lasts = [pools.slug(x) or "x" for x in pools.surnames()]
    providers = [p for p, _ in pools.FREE_PROVIDERS]
    prov_w = [w for _, w in pools.FREE_PROVIDERS]
    prov1, prov2 = _weighted(rng, prov_w, n_ent), _weighted(rng, prov_w, n_ent)
    pers1, pers2 = (_weighted(rng, (3, 1, 1, 2, 2, 2, 1, 1), n_ent) for _ in range(2))
    work_pat = _weighted(rng, (5, 3, 1, 0, 1, 0, 0, 0), n_ent)
    number = rng.integers(1, 100, n_ent)
    work_first = force_work | (rng.random(n_ent) < 0.6)
    primary, alternative = [], []
    for i in range(n_ent):
        f, lname = firsts[e.first[i]], lasts[e.last[i]]
        personal = f"{_local_part(f, lname, pers1[i], number[i])}@{providers[prov1[i]]}"
        if e.company[i] >= 0:
            work = (
                f"{_local_part(f, lname, work_pat[i], number[i])}@"
                + (companies.domain[e.company[i]])
            )
            pair = (work, personal) if work_first[i] else (personal, work)
        else:
            other = f"{_local_part(f, lname, pers2[i], number[i] + 7)}@{providers[prov2[i]]}"
            pair = (personal, other)
        primary.append(pair[0])
        alternative.append(pair[1])
    candidates = primary + alternative
    both = _unique_values(candidates, email_key, _bump_local_part, _email_keys(candidates))
    e.email, e.alt_email = both[:n_ent], both[n_ent:]


def _bump_local_part(_i: int, email: str, attempt: int) -> str:
    local, _, domain = email.partition("@")
    return f"{local}{attempt + 1}@{domain}"


# ------------------------------------------------------------------ record assembly


def _blank_baseline(
    df: pl.DataFrame, rng: np.random.Generator, rates: dict[str, float]
) -> pl.DataFrame:
    """Independent per-record missingness (null, sometimes an empty string)."""
    exprs = []
    for col, rate in rates.items():
        draw = rng.random(df.height)
        missing = pl.Series(draw < rate)
        as_empty = pl.Series(draw < rate * EMPTY_STRING_SHARE)
        exprs.append(
            pl.when(as_empty)
            .then(pl.lit(""))
            .when(missing)
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(pl.col(col))
            .alias(col)
        )
    return df.with_columns(exprs)


def _format_phones(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One display format per entity (duplicates start from the same formatting)."""
    fmt = _weighted(rng, cx.ORIGINAL_PHONE_FORMAT_WEIGHTS, len(digits))
    return np.asarray(
        [cx.format_phone(d, cx.PHONE_FORMATS[f]) for d, f in zip(digits, fmt, strict=True)],
        dtype=object,
    )


def _pick_corruptions(
    rng: random.Random, weights: dict[str, float], applicable: set[str]
) -> list[str]:
    """1-3 distinct applicable corruptions, weighted, in canonical application order."""
    draw = rng.random()
    k = (
        1
        if draw < CORRUPTIONS_PER_DUP_WEIGHTS[0]
        else (2 if draw < CORRUPTIONS_PER_DUP_WEIGHTS[0] + CORRUPTIONS_PER_DUP_WEIGHTS[1] else 3)
    )
    chosen: set[str] = set()
    pool = [c for c in weights if c in applicable]
    while pool and len(chosen) < k:
        target = rng.random() * sum(weights[c] for c in pool)
        for pick in pool:
            target -= weights[pick]
            if target <= 0:
                break
        chosen.add(pick)
        excluded = {x for pair in _EXCLUSIVE if pick in pair for x in pair}
        pool = [c for c in pool if c not in chosen and c not in excluded]
    return [c for c in weights if c in chosen]


def _blank(row: Row, field: str, rng: random.Random) -> None:
    row[field] = "" if rng.random() < EMPTY_STRING_SHARE else None


def _blank_some(row: Row, fields: Sequence[str], rng: random.Random, protect_contact: bool) -> None:
    """Blank 1-2 present fields; keep e-mail or phone when the name is corrupted too."""
    present = [f for f in fields if row.get(f)]
    rng.shuffle(present)
    for field in present[: rng.choice((1, 1, 2))]:
        contact_fields = [f for f in fields[:2] if row.get(f) and f != field]
        if protect_contact and field in fields[:2] and not contact_fields:
            continue
        _blank(row, field, rng)


def _corrupt_rows(
    df: pl.DataFrame, dup_rows: np.ndarray, seed: int, corrupt: Callable[[Row, random.Random], None]
) -> pl.DataFrame:
    """Run ``corrupt`` over the duplicate rows (per-row Python, ~1/3 of the rows)."""
    rng = random.Random(seed)
    sub = df[dup_rows]
    cols = {c: sub[c].to_list() for c in sub.columns}
    names = list(cols)
    for i in range(sub.height):
        row: Row = {c: cols[c][i] for c in names}
        corrupt(row, rng)
        for c in names:
            cols[c][i] = row[c]
    changed = pl.DataFrame(cols, schema=df.schema)
    position = pl.Series("_pos", dup_rows, dtype=pl.Int64)
    return (
        df.with_row_index("_pos")
        .with_columns(pl.col("_pos").cast(pl.Int64))
        .update(changed.with_columns(position), on="_pos", include_nulls=True)
        .drop("_pos")
    )


def _finish(
    records: pl.DataFrame, entity: np.ndarray, prefix: str, columns: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    width = max(7, len(str(records.height)))
    ids = pl.Series("id", [f"{prefix}{i:0{width}d}" for i in range(1, records.height + 1)])
    records = records.with_columns(ids).select(columns)
    truth = pl.DataFrame({"id": ids, "entity_id": pl.Series(entity, dtype=pl.Int64)})
    return records, truth


# ---------------------------------------------------------------- contact corruptor


def _contact_applicable(row: Row) -> set[str]:
    ok = {"swap_names", "case_ws", "missing"}
    first = row["first_name"] or ""
    if pools.nickname_group(first):
        ok.add("nickname")
    if len(first) > 1:
        ok |= {"initial", "first_typo"}
    if len(row["last_name"] or "") > 2:
        ok.add("last_typo")
    if row["email"]:
        ok.add("email_variant")
    if row["_alt_email"] and row["email"] != row["_alt_email"]:
        ok.add("alt_email")
    if row["phone"]:
        ok |= {"phone_format", "phone_typo"}
    if row["company"]:
        ok |= {"company_suffix", "company_typo"}
        if row["_acronym"]:
            ok.add("company_acronym")
    if row["street"]:
        ok |= {"street_abbrev", "street_typo"}
    if row["zip"]:
        ok.add("zip_typo")
    return ok


def _corrupt_contact(row: Row, rng: random.Random) -> None:
    chosen = _pick_corruptions(rng, CONTACT_CORRUPTIONS, _contact_applicable(row))
    name_hit = bool(CONTACT_NAME_CORRUPTIONS.intersection(chosen))
    for c in chosen:
        _CONTACT_OPS[c](row, rng, name_hit)
    if name_hit and not row["email"] and not row["phone"]:
        row["phone"] = row["_phone"]  # keep the duplicate identifiable


def _swap_names(row: Row, _rng: random.Random, _name_hit: bool) -> None:
    row["first_name"], row["last_name"] = row["last_name"], row["first_name"]


def _case_ws(row: Row, rng: random.Random, _name_hit: bool) -> None:
    fields = [
        f for f in ("first_name", "last_name", "company", "street", "city", "name") if row.get(f)
    ]
    for f in rng.sample(fields, min(len(fields), rng.choice((1, 1, 2)))):
        row[f] = cx.case_or_whitespace(row[f] or "", rng)


def _typo_op(field: str) -> Callable[[Row, random.Random, bool], None]:
    def op(row: Row, rng: random.Random, _name_hit: bool) -> None:
        value = row[field] or ""
        n_edits = 2 if len(value) >= 7 and rng.random() < 0.25 else 1
        row[field] = cx.typo(value, rng, n_edits)

    return op


def _company_suffix_op(row: Row, rng: random.Random, _name_hit: bool) -> None:
    row["company"] = cx.change_suffix(row["_core"] or "", row["_suffix"] or "", rng)


def _company_acronym_op(row: Row, rng: random.Random, _name_hit: bool) -> None:
    row["company"] = (
        cx.render_suffix(row["_acronym"] or "", row["_suffix"] or "", rng.randrange(3))
        if rng.random() < 0.5
        else row["_acronym"]
    )


_CONTACT_OPS: dict[str, Callable[[Row, random.Random, bool], None]] = {
    "nickname": lambda r, g, _: r.update(
        first_name=g.choice(pools.nickname_group(r["first_name"] or ""))
    ),
    "initial": lambda r, g, _: r.update(first_name=cx.first_initial(r["first_name"] or "", g)),
    "swap_names": _swap_names,
    "first_typo": _typo_op("first_name"),
    "last_typo": _typo_op("last_name"),
    "alt_email": lambda r, g, _: r.update(email=r["_alt_email"]),
    "email_variant": lambda r, g, _: r.update(email=cx.email_variant(r["email"] or "", g)),
    "phone_format": lambda r, g, _: r.update(phone=cx.reformat_phone(r["phone"] or "", g)),
    "phone_typo": lambda r, g, _: r.update(phone=cx.phone_digit_typo(r["phone"] or "", g)),
    "company_suffix": _company_suffix_op,
    "company_acronym": _company_acronym_op,
    "company_typo": _typo_op("company"),
    "street_abbrev": lambda r, g, _: r.update(street=cx.street_abbreviation(r["street"] or "", g)),
    "street_typo": _typo_op("street"),
    "zip_typo": lambda r, g, _: r.update(zip=cx.zip_typo(r["zip"] or "", g)),
    "case_ws": _case_ws,
    "missing": lambda r, g, hit: _blank_some(r, ("email", "phone", "company", "street"), g, hit),
}


# ---------------------------------------------------------------- company corruptor


def _company_applicable(row: Row) -> set[str]:
    ok = {"suffix_change", "name_typo", "case_ws", "missing"}
    name = row["name"] or ""
    if " & " in name or " and " in name:
        ok.add("and_amp")
    if row["_acronym"]:
        ok.add("acronym")
    if row["website"]:
        ok.add("website_variant")
    if row["phone"]:
        ok |= {"phone_format", "phone_typo"}
    if row["street"]:
        ok.add("street_abbrev")
    if row["zip"]:
        ok.add("zip_typo")
    return ok


def _corrupt_company(row: Row, rng: random.Random) -> None:
    chosen = _pick_corruptions(rng, COMPANY_CORRUPTIONS, _company_applicable(row))
    name_hit = bool(COMPANY_NAME_CORRUPTIONS.intersection(chosen))
    for c in chosen:
        _COMPANY_OPS[c](row, rng, name_hit)
    if name_hit and not row["website"] and not row["phone"]:
        row["website"] = row["_domain"]


def _company_name_acronym(row: Row, rng: random.Random, _name_hit: bool) -> None:
    acr = row["_acronym"] or ""
    row["name"] = (
        cx.render_suffix(acr, row["_suffix"] or "", rng.randrange(3)) if rng.random() < 0.5 else acr
    )


def _company_suffix_change(row: Row, rng: random.Random, _name_hit: bool) -> None:
    core = row["_core"] or ""
    if rng.random() < 0.15:
        core = f"The {core}"
    row["name"] = cx.change_suffix(core, row["_suffix"] or "", rng)


_COMPANY_OPS: dict[str, Callable[[Row, random.Random, bool], None]] = {
    "acronym": _company_name_acronym,
    "suffix_change": _company_suffix_change,
    "and_amp": lambda r, g, _: r.update(name=cx.swap_and_ampersand(r["name"] or "")),
    "name_typo": _typo_op("name"),
    "website_variant": lambda r, g, _: r.update(website=cx.website_variant(r["_domain"] or "", g)),
    "phone_format": lambda r, g, _: r.update(phone=cx.reformat_phone(r["phone"] or "", g)),
    "phone_typo": lambda r, g, _: r.update(phone=cx.phone_digit_typo(r["phone"] or "", g)),
    "street_abbrev": lambda r, g, _: r.update(street=cx.street_abbreviation(r["street"] or "", g)),
    "zip_typo": lambda r, g, _: r.update(zip=cx.zip_typo(r["zip"] or "", g)),
    "case_ws": _case_ws,
    "missing": lambda r, g, hit: _blank_some(r, ("website", "phone", "street"), g, hit),
}


# ------------------------------------------------------------------- public entry


def _take(values: Sequence[str | None] | np.ndarray, idx: np.ndarray) -> pl.Series:
    """``values[idx]`` as a String series (``idx`` may be -1 for a trailing None)."""
    seq = values.tolist() if isinstance(values, np.ndarray) else list(values)
    return pl.Series(seq, dtype=pl.String).gather(idx)


def _address_columns(
    city: np.ndarray,
    zips: np.ndarray,
    rng: np.random.Generator,
    entity: np.ndarray,
    is_dup: np.ndarray,
) -> dict[str, pl.Series]:
    """city/state/zip per record (indexed per entity); state spelled out or zip+4 now and
    then for the entity, and a state spelled out for a few extra duplicates."""
    t = pools.city_table()
    n_ent = city.size
    state_full = (rng.random(n_ent) < 0.03)[entity] ^ (is_dup & (rng.random(entity.size) < 0.07))
    plus4 = rng.random(n_ent) < 0.04
    zip_ent = [
        f"{z}-{x:04d}" if p else z
        for z, p, x in zip(zips, plus4, rng.integers(0, 10000, n_ent), strict=True)
    ]
    rec_city = city[entity]
    return {
        "city": _take(t.city, rec_city),
        "state": pl.Series(
            np.where(state_full, t.state_full[rec_city], t.state[rec_city]).tolist(),
            dtype=pl.String,
        ),
        "zip": _take(zip_ent, entity),
    }


def generate_contacts(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` contact records and their truth (``id, entity_id``)."""
    rng = np.random.default_rng([seed, 1])
    counts = _plan_entities(n, rng)
    n_ent = counts.size
    companies = _company_entities(max(20, n_ent // 4), rng, lookalikes=False)
    e = _contact_base(n_ent, rng, companies)
    force_work = _apply_contact_lookalikes(e, rng, companies)
    _assign_emails(e, rng, companies, force_work)

    entity, is_dup = _records_of(counts)
    order = rng.permutation(entity.size)
    entity, is_dup = entity[order], is_dup[order]
    comp = e.company[entity]
    comp = np.where(comp < 0, len(companies.core), comp)  # -> the trailing None
    company_cols = {
        "company": [companies.name(i) for i in range(len(companies.core))],
        "_core": companies.core,
        "_suffix": companies.suffix,
        "_acronym": companies.acronym,
    }
    per_company = {k: _take([*v, None], comp) for k, v in company_cols.items()}
    df = pl.DataFrame(
        {
            "first_name": _take(pools.FIRST_NAMES, e.first[entity]),
            "last_name": _take(pools.surnames(), e.last[entity]),
            "email": _take(e.email, entity),
            "phone": _take(_format_phones(e.phone, rng), entity),
            "company": per_company["company"],
            "street": _take(e.street, entity),
            **_address_columns(e.city, e.zip, rng, entity, is_dup),
            "created_at": _iso(_created(rng, e.created[entity], is_dup)),
            "_alt_email": _take(e.alt_email, entity),
            "_core": per_company["_core"],
            "_suffix": per_company["_suffix"],
            "_acronym": per_company["_acronym"],
        }
    )
    df = df.with_columns(pl.col("phone").alias("_phone"))
    df = _blank_baseline(
        df, rng, {"email": 0.04, "phone": 0.10, "company": 0.03, "street": 0.06, "zip": 0.02}
    )
    df = _corrupt_rows(df, np.flatnonzero(is_dup), seed, _corrupt_contact)
    return _finish(df, entity, "c", CONTACT_COLUMNS)


def generate_companies(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` company records and their truth (``id, entity_id``)."""
    rng = np.random.default_rng([seed, 2])
    counts = _plan_entities(n, rng)
    c = _company_entities(counts.size, rng, lookalikes=True)
    entity, is_dup = _records_of(counts)
    order = rng.permutation(entity.size)
    entity, is_dup = entity[order], is_dup[order]
    wrng = random.Random(seed)
    websites = [cx.website_variant(d, wrng, original=True) for d in c.domain]
    df = pl.DataFrame(
        {
            "name": _take([c.name(i) for i in range(len(c.core))], entity),
            "website": _take(websites, entity),
            "phone": _take(_format_phones(c.phone, rng), entity),
            "street": _take(c.street, entity),
            **_address_columns(c.city, c.zip, rng, entity, is_dup),
            "created_at": _iso(_created(rng, c.created[entity], is_dup)),
            "_core": _take(c.core, entity),
            "_suffix": _take(c.suffix, entity),
            "_acronym": _take(c.acronym, entity),
            "_domain": _take(c.domain, entity),
        }
    )
    df = _blank_baseline(df, rng, {"website": 0.06, "phone": 0.06, "street": 0.06, "zip": 0.02})
    df = _corrupt_rows(df, np.flatnonzero(is_dup), seed, _corrupt_company)
    return _finish(df, entity, "co", COMPANY_COLUMNS)


GENERATORS: dict[str, Callable[[int, int], tuple[pl.DataFrame, pl.DataFrame]]] = {
    "contacts": generate_contacts,
    "companies": generate_companies,
}


def truth_path(records_path: str | Path) -> Path:
    """``bench/data/x.parquet`` -> ``bench/data/x.truth.parquet``."""
    p = Path(records_path)
    return p.with_name(f"{p.stem}.truth.parquet")


def write(records: pl.DataFrame, truth: pl.DataFrame, out: str | Path) -> Path:
    """Write records (CSV or Parquet by extension) and the truth file; return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        records.write_csv(out)
    elif out.suffix.lower() == ".parquet":
        records.write_parquet(out)
    else:
        raise ValueError(f"unsupported output extension {out.suffix!r} (use .csv or .parquet)")
    tpath = truth_path(out)
    truth.write_parquet(tpath)
    return tpath
