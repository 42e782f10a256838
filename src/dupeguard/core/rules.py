"""Matching rules (seed 002): field conditions joined by an AND/OR expression.

A condition compares one field of two records with a :mod:`method <.rule_methods>` and holds
when the similarity reaches its threshold. Blank handling: ``no_match`` (the default; a blank
side never matches, as Salesforce does unless "match blank fields" is ticked) or ``match``
(two blank values count as agreeing; one blank side still does not).

The expression numbers the conditions from 1: ``"1 OR (2 AND 3 AND (4 OR 5))"``; without one
every condition must hold. It is compiled to disjunctive normal form: each *group* (a
conjunction) that would make the rule fire gets a blocking key built from the block values of
its conditions, so the candidates of a record are the records sharing one of its keys. A
group whose conditions have no block value at all (only ``nickname``) cannot find candidates,
and the rule is refused with that reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .errors import ValidationError
from .fields import FieldType
from .keys import key_values
from .rule_methods import METHODS

__all__ = [
    "BLANK",
    "MAX_CONDITIONS",
    "Condition",
    "MatchingRule",
    "RuleMatch",
    "compile_rule",
    "parse_expression",
]

BLANK = ("no_match", "match")
MAX_CONDITIONS = 10
MAX_GROUPS = 16
_MAX_VALUE = 200
_BLANK_PART = "\x00"


@dataclass(frozen=True)
class Condition:
    field: str
    method: str
    threshold: float
    blank: str = "no_match"

    def payload(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "method": self.method,
            "threshold": self.threshold,
            "blank": self.blank,
        }


# --- expressions ---------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+)|(AND|OR)\b|([()]))", re.IGNORECASE)

Node = int | tuple[str, tuple["Node", ...]]


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValidationError(
                f"expression: unexpected {text[pos:].strip()[:20]!r} "
                "(use condition numbers, AND, OR and parentheses)",
                details={"field": "expression"},
            )
        out.append((m.group(1) or m.group(2) or m.group(3)).upper())
        pos = m.end()
    return out


def parse_expression(text: str, count: int) -> Node:
    """Parse ``"1 AND (2 OR 3)"`` over ``count`` conditions; every condition must appear."""
    tokens = _tokens(text)
    pos = 0

    def bad(message: str) -> ValidationError:
        return ValidationError(f"expression: {message}", details={"field": "expression"})

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise bad("ends too early")
        pos += 1
        return tokens[pos - 1]

    def operand() -> Node:
        token = take()
        if token == "(":
            node = either()
            if peek() != ")":
                raise bad("a parenthesis is not closed")
            take()
            return node
        if token.isdigit():
            number = int(token)
            if not 1 <= number <= count:
                raise bad(f"there is no condition {number} (conditions are 1 to {count})")
            return number
        raise bad(f"expected a condition number or '(' but got {token!r}")

    def chain(op: str, inner: Any) -> Node:
        parts = [inner()]
        while peek() == op:
            take()
            parts.append(inner())
        return parts[0] if len(parts) == 1 else (op, tuple(parts))

    def both() -> Node:  # AND binds tighter than OR
        return chain("AND", operand)

    def either() -> Node:
        return chain("OR", both)

    if not tokens:
        raise bad("is empty")
    tree = either()
    if pos != len(tokens):
        raise bad(f"unexpected {tokens[pos]!r}")
    used = _numbers(tree)
    missing = sorted(set(range(1, count + 1)) - used)
    if missing:
        raise bad(f"condition {missing[0]} is not used")
    return tree


def _numbers(node: Node) -> set[int]:
    if isinstance(node, int):
        return {node}
    return set().union(*(_numbers(n) for n in node[1]))


def _evaluate(node: Node, holds: Callable[[int], bool]) -> bool:
    """The expression's truth, asking ``holds(i)`` (condition ``i``, 0-based) only for the
    conditions it needs: ``AND`` stops at the first false part, ``OR`` at the first true."""
    if isinstance(node, int):
        return holds(node - 1)
    op, parts = node
    if op == "AND":
        return all(_evaluate(p, holds) for p in parts)
    return any(_evaluate(p, holds) for p in parts)


def _dnf(node: Node) -> list[frozenset[int]]:
    if isinstance(node, int):
        return [frozenset({node - 1})]
    op, parts = node
    if op == "OR":
        groups = [g for p in parts for g in _dnf(p)]
    else:
        groups = [frozenset()]
        for p in parts:
            groups = [a | b for a in groups for b in _dnf(p)]
            if len(groups) > MAX_GROUPS:
                raise ValidationError(
                    f"expression: expands to more than {MAX_GROUPS} alternatives; simplify it",
                    details={"field": "expression"},
                )
    # drop groups that contain another group (they add no candidates)
    unique = sorted(set(groups), key=len)
    return [g for i, g in enumerate(unique) if not any(h < g for h in unique[:i])]


def default_expression(count: int) -> str:
    return " AND ".join(str(i) for i in range(1, count + 1))


# --- compiled rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleMatch:
    """One stored record a rule matched, with the evidence."""

    record_id: str
    entity: str
    rule: str
    rule_id: str
    matched_fields: tuple[str, ...]
    similarity: float
    deleted: bool = False

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "record_id": self.record_id,
            "entity": self.entity,
            "rule": self.rule,
            "rule_id": self.rule_id,
            "matched_fields": list(self.matched_fields),
            "similarity": round(self.similarity, 4),
        }
        if self.deleted:
            out["deleted"] = True
        return out


@dataclass(frozen=True)
class BlockKey:
    """The blocking key of one group: its name in ``record_keys`` and its conditions."""

    name: str
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class MatchingRule:
    id: str
    name: str
    conditions: tuple[Condition, ...]
    expression: str
    tree: Node
    types: Mapping[str, FieldType]
    blocks: tuple[BlockKey, ...] = field(default=())

    def evaluate(
        self, a: Mapping[str, Any], b: Mapping[str, Any], region: str
    ) -> tuple[bool, tuple[str, ...], float]:
        """Does the rule match ``a`` and ``b``; which fields agreed; their mean similarity.

        Conditions are compared as the expression needs them (most candidate pairs are
        decided by one or two), and all of them when the rule matches."""
        sims: dict[int, float | None] = {}

        def holds(i: int) -> bool:
            if i not in sims:
                c = self.conditions[i]
                x, y = a.get(c.field), b.get(c.field)
                sim = METHODS[c.method].similarity(x, y, self.types[c.field], region)
                if sim is None and c.blank == "match":
                    both_blank = _blank(x, c, self.types, region) and _blank(
                        y, c, self.types, region
                    )
                    sim = 1.0 if both_blank else None
                sims[i] = sim
            sim = sims[i]
            return sim is not None and sim >= self.conditions[i].threshold

        if not _evaluate(self.tree, holds):
            return False, (), 0.0
        agreed = [(c.field, sims[i]) for i, c in enumerate(self.conditions) if holds(i)]
        fields = tuple(dict.fromkeys(f for f, _ in agreed))
        mean = sum(s or 0.0 for _, s in agreed) / len(agreed)
        return True, fields, mean

    def block_values(self, data: Mapping[str, Any], region: str) -> dict[str, str]:
        """The record's value of each blocking key (a key with a blank part is left out)."""
        return self.block_values_many([data], region)[0]

    def block_values_many(
        self, rows: Sequence[Mapping[str, Any]], region: str
    ) -> list[dict[str, str]]:
        """:meth:`block_values` of many records: each (field, method) column is computed at
        once (phones and other key-normalised values through the vectorised normalisers of
        :func:`~dupeguard.core.keys.key_values`, which give the same values)."""
        parts = {(c.field, c.method) for key in self.blocks for c in key.parts}
        columns = {
            (name, method): _block_column(
                method, self.types[name], region, [row.get(name) for row in rows]
            )
            for name, method in parts
        }
        out: list[dict[str, str]] = []
        for i, row in enumerate(rows):
            found: dict[str, str] = {}
            for key in self.blocks:
                values: list[str] = []
                for c in key.parts:
                    value = columns[(c.field, c.method)][i]
                    if value is None:
                        if c.blank != "match" or not _blank(
                            row.get(c.field), c, self.types, region
                        ):
                            break
                        value = _BLANK_PART
                    values.append(value)
                else:
                    joined = "|".join(values)
                    if len(joined) > _MAX_VALUE:
                        joined = "sha256:" + hashlib.sha256(joined.encode()).hexdigest()
                    found[key.name] = joined
            out.append(found)
        return out


def _block_column(
    method: str, field_type: FieldType, region: str, values: Sequence[Any]
) -> list[str | None]:
    if len(values) > 1 and method in ("phone", "exact"):
        return key_values(
            FieldType.PHONE if method == "phone" else field_type, values, region=region
        )
    return [_block_value(method, field_type, region, v) for v in values]


def _block_value(method: str, field_type: FieldType, region: str, value: Any) -> str | None:
    if isinstance(value, str | int | float) or value is None:
        return _cached_block(method, field_type, region, value)
    block = METHODS[method].block
    assert block is not None
    return block(value, field_type, region)


@lru_cache(maxsize=262_144)
def _cached_block(method: str, field_type: FieldType, region: str, value: Any) -> str | None:
    """Block values repeat (a batch computes each row's several times, surnames recur)."""
    block = METHODS[method].block
    assert block is not None
    return block(value, field_type, region)


def _blank(value: Any, c: Condition, types: Mapping[str, FieldType], region: str) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


#: bump when a method's block value changes: stored keys get new names and are rebuilt
#: (``services.setup.prepare`` re-syncs every entity whose keys differ)
BLOCK_VERSION = 2


def _block_name(parts: Sequence[Condition]) -> str:
    spec = f"v{BLOCK_VERSION}:" + "+".join(f"{c.field}/{c.method}/{c.blank}" for c in parts)
    return "~" + hashlib.blake2b(spec.encode(), digest_size=8).hexdigest()


def compile_rule(
    *,
    id: str,
    name: str,
    conditions: Sequence[Mapping[str, Any]],
    expression: str | None,
    types: Mapping[str, FieldType],
    other_types: Mapping[str, FieldType] | None = None,
    encrypted: Sequence[str] = (),
) -> MatchingRule:
    """Check and compile a rule; ``types`` are the entity's field types (``other_types``
    the target entity's, for a rule across entities). Raises ``ValidationError`` saying what
    is wrong."""
    if not isinstance(conditions, Sequence) or isinstance(conditions, str) or not conditions:
        raise ValidationError(
            "conditions: give at least one condition", details={"field": "conditions"}
        )
    if len(conditions) > MAX_CONDITIONS:
        raise ValidationError(
            f"conditions: at most {MAX_CONDITIONS} conditions", details={"field": "conditions"}
        )
    parsed = tuple(
        _condition(i + 1, raw, types, other_types, encrypted) for i, raw in enumerate(conditions)
    )
    text = (expression or "").strip() or default_expression(len(parsed))
    tree = parse_expression(text, len(parsed))
    blocks: dict[str, BlockKey] = {}
    for group in _dnf(tree):
        parts = tuple(
            sorted(
                (parsed[i] for i in group if METHODS[parsed[i].method].block is not None),
                key=lambda c: (c.field, c.method),
            )
        )
        if not parts:
            numbers = ", ".join(str(i + 1) for i in sorted(group))
            raise ValidationError(
                f"conditions {numbers}: this alternative can only compare, not find "
                "candidates (nickname has no blocking value); add a condition with another "
                "method to it",
                details={"field": "expression"},
            )
        name_ = _block_name(parts)
        blocks[name_] = BlockKey(name_, parts)
    return MatchingRule(
        id=id,
        name=name,
        conditions=parsed,
        expression=text,
        tree=tree,
        types=dict(types),
        blocks=tuple(blocks.values()),
    )


def _condition(
    number: int,
    raw: Any,
    types: Mapping[str, FieldType],
    other_types: Mapping[str, FieldType] | None,
    encrypted: Sequence[str],
) -> Condition:
    where = f"conditions[{number - 1}]"

    def bad(message: str) -> ValidationError:
        return ValidationError(f"{where}: {message}", details={"field": where})

    if not isinstance(raw, Mapping):
        raise bad("must be an object with field, method, threshold and blank")
    unknown = sorted(set(raw) - {"field", "method", "threshold", "blank"})
    if unknown:
        raise bad(f"unknown key {unknown[0]!r}")
    name = raw.get("field")
    if not isinstance(name, str) or name not in types:
        raise bad(f"no field {name!r} on this entity")
    if other_types is not None and name not in other_types:
        raise bad(f"the target entity has no field {name!r}")
    if name in encrypted:
        raise bad(f"field {name!r} is encrypted; rules cannot compare encrypted values")
    method_name = raw.get("method", "exact")
    method = METHODS.get(method_name) if isinstance(method_name, str) else None
    if method is None:
        raise bad(f"method: one of {', '.join(METHODS)} (got {method_name!r})")
    reason = method.eligibility(types[name])
    if reason:
        raise bad(reason)
    threshold = raw.get("threshold", method.default_threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise bad("threshold: a number between 0 and 1")
    if not 0.0 < float(threshold) <= 1.0:
        raise bad("threshold: a number above 0 and at most 1")
    blank = raw.get("blank", "no_match")
    if blank not in BLANK:
        raise bad(f"blank: one of {', '.join(BLANK)} (got {blank!r})")
    return Condition(name, method.name, float(threshold), blank)
