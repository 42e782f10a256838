"""The vectorised rule evaluation (duplicate jobs) equals the scalar one (saves)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupeguard.core.fields import FieldType
from dupeguard.core.rule_methods import METHODS
from dupeguard.core.rule_vectors import evaluate_pairs, field_values, normal_columns
from dupeguard.core.rules import compile_rule

TYPES = {
    "first_name": FieldType.TEXT,
    "last_name": FieldType.TEXT,
    "email": FieldType.EMAIL,
    "phone": FieldType.PHONE,
    "company": FieldType.TEXT,
    "street": FieldType.TEXT,
    "website": FieldType.URL,
    "amount": FieldType.NUMBER,
}
POOLS = {
    "first_name": ["Bob", "Robert", "Rob", "J.", "John", "Jon", "jane", "Jane ", "", None, "Ünal"],
    "last_name": ["Smith", "Smyth", "Schmidt", "O'Neil", "oneil", "", None, "Doe"],
    "email": ["jane@acme.com", "JANE@acme.com ", "j.ane@gmail.com", "jane@gmail.com", "x@y", None],
    "phone": ["415 555 0100", "+1 (415) 555-0100", "555-0100", "020 7946 0018", "abc", None],
    "company": ["Acme Corp", "ACME, Inc.", "IBM", "International Business Machines", "", None],
    "street": ["12 Main Street", "12 main st.", "12 Main St Apt 4", "1 Oak Ave", None],
    "website": ["https://www.acme.com/about", "acme.com", "gmail.com", None],
    "amount": [1200, "1,200", 1200.0, 5, None],
}
# every method on a field it suits
CONDITIONS = [
    {"field": "first_name", "method": "nickname", "threshold": 0.85},
    {"field": "first_name", "method": "initials"},
    {"field": "last_name", "method": "fuzzy_name", "threshold": 0.88},
    {"field": "last_name", "method": "phonetic", "blank": "match"},
    {"field": "email", "method": "email", "threshold": 0.7},
    {"field": "email", "method": "domain"},
    {"field": "phone", "method": "phone", "threshold": 0.9},
    {"field": "company", "method": "fuzzy_company", "threshold": 0.85},
    {"field": "street", "method": "fuzzy_text", "threshold": 0.8},
    {"field": "website", "method": "exact", "blank": "match"},
]
NUMBERS = compile_rule(
    id="n",
    name="numbers",
    conditions=[{"field": "amount", "method": "exact"}],
    expression=None,
    types=TYPES,
)
RULE = compile_rule(
    id="r",
    name="every method",
    conditions=CONDITIONS,
    expression="(1 OR 2) AND (3 OR 4) OR 5 OR 6 AND 7 OR 8 AND 9 OR 10",
    types=TYPES,
)

records = st.fixed_dictionaries({f: st.sampled_from(pool) for f, pool in POOLS.items()})


def test_every_method_is_covered() -> None:
    assert {c["method"] for c in CONDITIONS} | {"exact"} == set(METHODS)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=2, max_size=80))
def test_vectorised_evaluation_equals_the_scalar_one(batch) -> None:
    left, right = np.triu_indices(len(batch), k=1)
    for rule in (RULE, NUMBERS):
        columns, blank = normal_columns(rule, field_values(rule, batch), "US")
        hit, fields, mean = evaluate_pairs(rule, columns, blank, left, right)
        expected = [
            rule.evaluate(batch[i], batch[j], "US") for i, j in zip(left, right, strict=True)
        ]
        assert list(hit) == [e[0] for e in expected]
        assert fields == [e[1] for e in expected if e[0]]
        assert np.allclose(mean, [e[2] for e in expected if e[0]], atol=1e-9)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=300))
def test_block_values_of_a_batch_equal_each_records(batch) -> None:
    """A batch's block values (phones through the vectorised key normalisers) are each
    record's own: stored keys and batch lookups must agree."""
    for rule in (RULE, NUMBERS):
        assert rule.block_values_many(batch, "US") == [rule.block_values(r, "US") for r in batch]
