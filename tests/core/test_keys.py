"""Match-key values: the batch form agrees with the scalar form on every value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dupeguard.core.fields import FieldType
from dupeguard.core.keys import key_value, key_values

SAMPLES = {
    FieldType.EMAIL: ["Jane.Doe+x@GMail.com", " a@b.co ", "n/a", "", "x@y", "é@ü.de"],
    FieldType.PHONE: ["(415) 555-0100", "+44 20 7946 0958", "555", "1-800-FLOWERS", "", "0"],
    FieldType.URL: ["https://www.Acme.com/about", "acme.com", "http://", "bücher.de", ""],
}


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(sorted(SAMPLES)),
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.sampled_from([v for vs in SAMPLES.values() for v in vs]),
            st.none(),
            st.integers(),
        ),
        min_size=64,
        max_size=120,
    ),
)
def test_batch_equals_scalar(field_type: FieldType, values: list) -> None:
    assert key_values(field_type, values, region="US") == [
        key_value(field_type, v, region="US") for v in values
    ]


def test_long_values_are_digests_in_both_forms() -> None:
    long = "a" * 300 + "@example.com"
    (batch,) = key_values(FieldType.EMAIL, [long] * 64)[:1]
    assert batch == key_value(FieldType.EMAIL, long) and batch.startswith("sha256:")
