"""A matching rule compares only the conditions its expression needs, and reports every
condition that agreed when it matches."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dupeguard.core import rules
from dupeguard.core.fields import FieldType
from dupeguard.core.rule_methods import METHODS
from dupeguard.core.rules import compile_rule

TYPES = {"email": FieldType.EMAIL, "first_name": FieldType.TEXT, "phone": FieldType.PHONE}
CONDITIONS = [
    {"field": "email", "method": "email", "threshold": 1.0},
    {"field": "first_name", "method": "fuzzy_name", "threshold": 0.85},
    {"field": "phone", "method": "phone", "threshold": 0.9},
]


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fields compared, in order (each method wrapped to note its field)."""
    seen: list[str] = []
    for name in ("email", "fuzzy_name", "phone"):
        method = METHODS[name]

        def similarity(a: Any, b: Any, t: FieldType, region: str, _m: Any = method) -> Any:
            seen.append(_m.name)
            return _m.similarity(a, b, t, region)

        monkeypatch.setitem(METHODS, name, dataclasses.replace(method, similarity=similarity))
    return seen


def _rule(expression: str) -> rules.MatchingRule:
    return compile_rule(id="r", name="r", conditions=CONDITIONS, expression=expression, types=TYPES)


ANN = {"email": "ann@x.example", "first_name": "Ann", "phone": "+1 415 555 0101"}


def test_a_false_and_part_stops_the_comparison(compared: list[str]) -> None:
    rule = _rule("2 AND 3 AND 1")
    other = {"email": "zed@y.example", "first_name": "Zed", "phone": "+1 415 555 0101"}
    assert rule.evaluate(ANN, other, "US") == (False, (), 0.0)
    assert compared == ["fuzzy_name"]  # neither the phone nor the e-mail


def test_a_true_or_part_decides_but_every_agreeing_field_is_reported(
    compared: list[str],
) -> None:
    rule = _rule("1 OR (2 AND 3)")
    same = dict(ANN, phone="(415) 555-0101")
    hit, fields, similarity = rule.evaluate(ANN, same, "US")
    assert hit and fields == ("email", "first_name", "phone") and similarity == 1.0
    assert sorted(compared) == ["email", "fuzzy_name", "phone"]


def test_each_condition_is_compared_once(compared: list[str]) -> None:
    rule = _rule("(2 AND 1) OR (2 AND 3)")
    other = dict(ANN, email="other@x.example")
    hit, fields, _ = rule.evaluate(ANN, other, "US")
    assert hit and fields == ("first_name", "phone")
    assert sorted(compared) == ["email", "fuzzy_name", "phone"]
