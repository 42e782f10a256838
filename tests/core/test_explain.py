from __future__ import annotations

import numpy as np

from dupeguard.core import comparisons as lib
from dupeguard.core.explain import explain

COMPARISONS = [
    lib.person_name_comparison(nickname_pairs=lambda: frozenset()),
    lib.email_comparison(),
    lib.phone_comparison(),
]


def test_reason_names_the_strongest_agreements_and_quotes_fuzzy_values() -> None:
    gammas = np.array([[4, 1, 0]], dtype=np.int8)  # fuzzy name, same email, phone missing
    weights = np.array([[3.0, 9.0, 0.0]])
    details = {
        "name": (np.array(["Jon Smith"], dtype=object), np.array(["John Smith"], dtype=object))
    }
    fields, reasons = explain(COMPARISONS, gammas, weights, details)
    assert fields == [["email", "first_name", "last_name"]]
    assert reasons == ["Same email address and nearly identical names (Jon Smith ~ John Smith)."]


def test_reason_mentions_strong_disagreement_and_skips_missing() -> None:
    gammas = np.array([[1, 4, 0], [7, 0, 4]], dtype=np.int8)
    weights = np.array([[6.0, -5.0, 0.0], [0.5, 0.0, -4.0]])
    fields, reasons = explain(COMPARISONS, gammas, weights, None)
    assert fields[0] == ["first_name", "last_name"]
    assert reasons[0] == "Same name, but different email addresses."
    assert fields[1] == ["last_name"]  # "last_only" level: only the surname agrees
    assert reasons[1] == "Same last name, but different phone numbers."


def test_no_agreement_says_so() -> None:
    fields, reasons = explain(
        COMPARISONS, np.array([[8, 4, 4]], dtype=np.int8), np.array([[-1.0, -1.0, -1.0]]), None
    )
    assert fields == [[]]
    assert reasons == ["No field agrees strongly."]
