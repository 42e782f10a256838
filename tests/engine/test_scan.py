"""The local engine on small frames: companies, deals, custom fields, determinism."""

from __future__ import annotations

import polars as pl
import pytest

from dupeguard.core.errors import ConfigError
from dupeguard.core.fields import FieldType, Kind
from dupeguard.core.plan import build_plan
from dupeguard.engine.scan import scan
from dupeguard.engine.schema import fields_for


def background(n: int, kind: str) -> list[dict[str, str]]:
    """Unrelated records so the model has something to learn from."""
    rows = []
    for i in range(n):
        if kind == "company":
            rows.append(
                {
                    "id": f"b{i}",
                    "name": f"Filler {i} Holdings",
                    "website": f"filler{i}.com",
                    "phone": f"555-{i:03d}-{(i * 7919) % 10000:04d}",
                    "city": f"Town{i % 7}",
                }
            )
        else:
            rows.append(
                {
                    "id": f"b{i}",
                    "name": f"Project {i}",
                    "amount": str(1000 + 37 * i),
                    "close_date": f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}",
                    "company": f"Buyer {i}",
                    "contact": f"Person{i} Family{i}",
                }
            )
    return rows


def pairs_of(result) -> set[frozenset[str]]:
    return {frozenset(p) for p in result.pairs.select("primary_id", "duplicate_id").iter_rows()}


def run(rows: list[dict[str, str]], entity: str, **kwargs) -> object:
    records = pl.DataFrame(rows).select(pl.all().cast(pl.String))
    return scan(
        records, fields_for(records, entity=entity, id_column="id", **kwargs), entity=entity
    )


def test_companies_legal_suffixes_acronyms_and_domains() -> None:
    rows = [
        {
            "id": "a1",
            "name": "Acme Corp",
            "website": "https://www.acme.com/about",
            "phone": "(555) 010-2000",
            "city": "Springfield",
        },
        {
            "id": "a2",
            "name": "ACME Corporation",
            "website": "acme.com",
            "phone": "555-010-2000",
            "city": "Springfield",
        },
        {
            "id": "i1",
            "name": "International Business Machines",
            "website": "ibm.com",
            "phone": "555 777 1000",
            "city": "Armonk",
        },
        {
            "id": "i2",
            "name": "IBM",
            "website": "http://ibm.com",
            "phone": "+1 555 777 1000",
            "city": "Armonk",
        },
        {
            "id": "x1",
            "name": "Acme Logistics",
            "website": "acmelogistics.com",
            "phone": "555-999-1234",
            "city": "Shelbyville",
        },
        *background(40, "company"),
    ]
    result = run(rows, "company")
    found = pairs_of(result)
    assert frozenset({"a1", "a2"}) in found
    assert frozenset({"i1", "i2"}) in found
    assert not any("x1" in p for p in found)
    ibm = result.pairs.filter(pl.col("primary_id").is_in(["i1", "i2"])).row(0, named=True)
    assert {"domain", "phone", "name"} <= set(ibm["matched_fields"])


def test_deals_amount_tolerance_close_date_window() -> None:
    rows = [
        {
            "id": "d1",
            "name": "Acme renewal 2024",
            "amount": "$12,000",
            "close_date": "2024-03-01",
            "company": "Acme Inc",
            "contact": "Jane Doe",
        },
        {
            "id": "d2",
            "name": "ACME Renewal 2024",
            "amount": "12050",
            "close_date": "2024-03-04",
            "company": "Acme",
            "contact": "Jane Doe",
        },
        {
            "id": "d3",
            "name": "Acme renewal 2024",
            "amount": "90000",
            "close_date": "2025-11-30",
            "company": "Globex",
            "contact": "Ann Lee",
        },
        *background(40, "deal"),
    ]
    result = run(rows, "deal")
    found = pairs_of(result)
    assert frozenset({"d1", "d2"}) in found
    assert frozenset({"d1", "d3"}) not in found
    row = result.pairs.filter(pl.col("primary_id").is_in(["d1", "d2"])).row(0, named=True)
    assert {"amount", "close_date", "company"} <= set(row["matched_fields"])
    assert (
        "amounts within 1%" in row["reason"]
        or "same amount" in row["reason"]
        or ("close dates within 7 days" in row["reason"])
    )


def test_every_eligible_custom_type_gets_a_comparison() -> None:
    records = pl.DataFrame(
        {
            "id": ["1"],
            "t": ["a"],
            "lt": ["b"],
            "n": ["1"],
            "d": ["2024-01-01"],
            "s": ["x"],
            "e": ["a@b.co"],
            "p": ["5551234567"],
            "u": ["a.com"],
            "last_name": ["Doe"],
        }
    )
    types = {
        "t": "text",
        "lt": "long_text",
        "n": "number",
        "d": "date",
        "s": "single_select",
        "e": "email",
        "p": "phone",
        "u": "url",
    }
    specs = fields_for(records, entity="contact", id_column="id", types=types)
    kinds = {s.name: s.kind for s in specs}
    assert kinds == {
        "t": Kind.TEXT,
        "lt": Kind.LONG_TEXT,
        "n": Kind.NUMBER,
        "d": Kind.DATE,
        "s": Kind.CATEGORY,
        "e": Kind.EMAIL,
        "p": Kind.PHONE,
        "u": Kind.DOMAIN,
        "last_name": Kind.LAST_NAME,
    }
    plan = build_plan("contact", specs)
    compared = {f for c in plan.comparisons for f in c.fields}
    assert set(types) <= compared
    # types that cannot identify a record are not compared
    ignored = fields_for(
        records,
        entity="contact",
        id_column="id",
        types={"t": "boolean", "lt": "multi_select", "n": "file", "d": "location"},
    )
    assert not {"t", "lt", "n", "d"} & {s.name for s in ignored}
    assert FieldType.BOOLEAN not in {s.type for s in ignored}


def test_custom_fields_count_as_evidence() -> None:
    rows = [
        {
            "id": str(i),
            "last_name": f"Name{i}",
            "member_no": f"M-{1000 + i}",
            "tier": ["gold", "silver", "bronze"][i % 3],
        }
        for i in range(60)
    ]
    rows.append({"id": "dup", "last_name": "Name7", "member_no": "M-1007", "tier": "silver"})
    result = run(rows, "contact", types={"member_no": "text"})
    assert frozenset({"7", "dup"}) in pairs_of(result)
    row = result.pairs.filter(pl.col("duplicate_id").is_in(["7", "dup"])).row(0, named=True)
    assert "member_no" in row["matched_fields"]


def test_results_are_deterministic() -> None:
    rows = [
        *background(30, "company"),
        {"id": "z1", "name": "Zeta Ltd", "website": "zeta.io", "phone": "1", "city": "X"},
        {"id": "z2", "name": "Zeta Limited", "website": "zeta.io", "phone": "1", "city": "X"},
    ]
    first, again = run(rows, "company"), run(rows, "company")
    assert first.pairs.equals(again.pairs) and first.clusters.equals(again.clusters)
    # the order of the input does not matter
    assert run(list(reversed(rows)), "company").pairs.equals(first.pairs)


def test_nothing_to_compare_is_a_clear_error() -> None:
    records = pl.DataFrame({"id": ["1", "2"], "flag": ["true", "false"]})
    with pytest.raises(ConfigError, match="nothing to compare"):
        scan(
            records,
            fields_for(records, entity="contact", id_column="id", types={"flag": "boolean"}),
        )
