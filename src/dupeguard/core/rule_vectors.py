"""Matching rules over many pairs at once: the vectorised twin of ``MatchingRule.evaluate``.

A duplicate job decides millions of candidate pairs. Per record, each condition's field is
normalised once with the matching core's vectorised normalisers (polars, or the batch key
normalisers for e-mails, phones and URLs); per pair, similarities come from rapidfuzz's
``cpdist`` (C++, both cores) and numpy, and the expression is evaluated on boolean arrays.
The results equal the scalar path's (a property test holds them together).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import ratio, token_set_ratio, token_sort_ratio
from rapidfuzz.process import cpdist

from .fields import FieldType
from .keys import key_values
from .names import (
    _acronym,
    company_expr,
    nickname_pairs,
    person_name_expr,
    phonetic_expr,
)
from .normalize import street_expr
from .rule_methods import _text, free_mail_domains
from .rules import MatchingRule, Node

__all__ = [
    "Column",
    "Columns",
    "evaluate_pair_evidence",
    "evaluate_pairs",
    "field_values",
    "normal_columns",
]


@dataclass(frozen=True)
class Column:
    """One (field, method) of a rule over all records: the normal forms (object array of
    ``str | None``) and what the method derives from them once per record (a phone's last
    seven digits; a company's acronym and whether it is one word; a first name's code)."""

    normal: np.ndarray
    extra: dict[str, np.ndarray]
    nicknames: np.ndarray | None = None  # encoded code pairs that are nicknames


Columns = dict[tuple[str, str], Column]


def _series(values: Sequence[Any], expr: Callable[[pl.Expr], pl.Expr]) -> list[Any]:
    text = [_text(v) for v in values]
    frame = pl.DataFrame({"v": text}, schema={"v": pl.String})
    return frame.select(expr(pl.col("v")).alias("n"))["n"].to_list()


def _domains(values: Sequence[Any], region: str) -> list[str | None]:
    text = [_text(v) for v in values]
    emails = key_values(
        FieldType.EMAIL, [t if t and "@" in t else None for t in text], region=region
    )
    hosts = key_values(
        FieldType.URL, [t if t and "@" not in t else None for t in text], region=region
    )
    free = free_mail_domains()
    out: list[str | None] = []
    for email, host in zip(emails, hosts, strict=True):
        domain = email.split("@", 1)[1] if email and "@" in email else host
        out.append(None if domain is None or domain in free else domain)
    return out


def _normals(method: str, values: Sequence[Any], field_type: FieldType, region: str) -> list[Any]:
    if method == "exact":
        return key_values(field_type, values, region=region)
    if method in ("fuzzy_name", "nickname", "initials"):
        return _series(values, person_name_expr)
    if method == "phonetic":
        return _series(values, phonetic_expr)
    if method == "fuzzy_company":
        return _series(values, company_expr)
    if method == "email":
        return key_values(FieldType.EMAIL, [_text(v) for v in values], region=region)
    if method == "domain":
        return _domains(values, region)
    if method == "phone":
        return key_values(FieldType.PHONE, [_text(v) for v in values], region=region)
    if method == "fuzzy_text":
        return _series(values, street_expr)
    raise ValueError(f"unknown method {method!r}")


def normal_columns(
    rule: MatchingRule, values: Mapping[str, Sequence[Any]], region: str
) -> tuple[Columns, dict[str, np.ndarray]]:
    """Per (field, method) of the rule, the normal form of every record (``values``: each
    field's raw values, one per record); per field, whether the raw value is blank."""
    columns: Columns = {}
    blank: dict[str, np.ndarray] = {}
    for c in rule.conditions:
        raw = values[c.field]
        if (c.field, c.method) not in columns:
            normals = np.array(_normals(c.method, raw, rule.types[c.field], region), dtype=object)
            columns[(c.field, c.method)] = _column(c.method, normals)
        if c.field not in blank:
            blank[c.field] = np.array(
                [v is None or (isinstance(v, str) and not v.strip()) for v in raw], dtype=bool
            )
    return columns, blank


def field_values(rule: MatchingRule, records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The raw values of the rule's fields, one list per field (from record dicts)."""
    return {c.field: [r.get(c.field) for r in records] for c in rule.conditions}


def _column(method: str, normal: np.ndarray) -> Column:
    if method == "phone":
        return Column(normal, {"tail": np.array([_tail(v) if v else None for v in normal], object)})
    if method == "fuzzy_company":
        acronym = np.array([_acronym(v) if v else None for v in normal], dtype=object)
        single = np.array([bool(v) and " " not in v for v in normal], dtype=bool)
        return Column(normal, {"acronym": acronym, "single": single})
    if method == "nickname":
        names = sorted({v for v in normal if v is not None})
        code_of = {name: i for i, name in enumerate(names)}
        codes = np.array([code_of.get(v, -1) if v else -1 for v in normal], dtype=np.int64)
        size = len(names) + 1
        pairs = np.array(
            sorted(
                code_of[a] * size + code_of[b]
                for a, b in nickname_pairs()
                if a in code_of and b in code_of
            ),
            dtype=np.int64,
        )
        return Column(normal, {"code": codes, "size": np.array([size])}, pairs)
    return Column(normal, {})


def _cp(scorer: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    fx = np.where(x == None, "", x)  # noqa: E711 - elementwise on an object array
    fy = np.where(y == None, "", y)  # noqa: E711
    return np.asarray(cpdist(list(fx), list(fy), scorer=scorer, workers=-1, dtype=np.float64))


def _similarity(method: str, column: Column, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Similarities of the record pairs; NaN where a side is blank."""
    x, y = column.normal[left], column.normal[right]
    known = (x != None) & (y != None)  # noqa: E711
    sim = np.full(len(x), np.nan)
    if not known.any():
        return sim
    left, right = left[known], right[known]
    a, b = x[known], y[known]
    same = a == b
    if method in ("exact", "phonetic", "domain"):
        out = same.astype(float)
    elif method == "fuzzy_name":
        out = _cp(JaroWinkler.similarity, a, b)
    elif method == "nickname":
        out = _cp(JaroWinkler.similarity, a, b)
        assert column.nicknames is not None
        code, size = column.extra["code"], int(column.extra["size"][0])
        nick = np.isin(code[left] * size + code[right], column.nicknames)
        out[same | nick] = 1.0
    elif method == "initials":  # equal, or one side is the other's one-letter initial
        starts = np.fromiter(
            (
                (len(p) == 1 and q.startswith(p)) or (len(q) == 1 and p.startswith(q))
                for p, q in zip(a, b, strict=True)
            ),
            bool,
            len(a),
        )
        out = (same | starts).astype(float)
    elif method == "fuzzy_company":
        out = _cp(token_set_ratio, a, b) / 100.0
        acronyms, single = column.extra["acronym"], column.extra["single"]
        acronym = (single[left] & (a == acronyms[right])) | (single[right] & (b == acronyms[left]))
        out[same | acronym] = 1.0
    elif method == "email":
        out = 0.9 * _cp(ratio, a, b) / 100.0
        out[same] = 1.0
    elif method == "phone":
        tail = column.extra["tail"]
        tails = (tail[left] == tail[right]) & (tail[left] != None)  # noqa: E711
        out = np.where(same, 1.0, np.where(tails, 0.9, 0.0))
    elif method == "fuzzy_text":
        out = _cp(token_sort_ratio, a, b) / 100.0
        out[same] = 1.0
    else:
        raise ValueError(f"unknown method {method!r}")
    sim[known] = out
    return sim


def _tail(phone: str) -> str | None:
    digits = "".join(c for c in phone if c.isdigit())
    return digits[-7:] if len(digits) >= 7 else None


#: relative cost of a condition per pair: cheap tests first, so the fuzzy ones run only on
#: the pairs whose outcome is still open
_COST = {
    "exact": 1,
    "phonetic": 1,
    "domain": 1,
    "initials": 2,
    "phone": 2,
    "email": 3,
    "nickname": 4,
    "fuzzy_name": 4,
    "fuzzy_text": 6,
    "fuzzy_company": 6,
}


def _cost(node: Node, rule: MatchingRule) -> int:
    if isinstance(node, int):
        return _COST[rule.conditions[node - 1].method]
    return sum(_cost(p, rule) for p in node[1])


def _holds(
    rule: MatchingRule,
    number: int,
    columns: Columns,
    blank: Mapping[str, np.ndarray],
    left: np.ndarray,
    right: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether condition ``number`` holds for the pairs, and its similarities."""
    c = rule.conditions[number - 1]
    sim = _similarity(c.method, columns[(c.field, c.method)], left, right)
    if c.blank == "match":
        both = blank[c.field][left] & blank[c.field][right]
        sim = np.where(np.isnan(sim) & both, 1.0, sim)
    return np.nan_to_num(sim, nan=-1.0) >= c.threshold, sim


def _decide(
    node: Node,
    rule: MatchingRule,
    columns: Columns,
    blank: Mapping[str, np.ndarray],
    left: np.ndarray,
    right: np.ndarray,
) -> np.ndarray:
    """The expression for the pairs, each part computed only where still undecided."""
    if isinstance(node, int):
        return _holds(rule, node, columns, blank, left, right)[0]
    op, parts = node
    out = np.full(len(left), op == "AND")
    open_ = np.ones(len(left), dtype=bool)
    for part in sorted(parts, key=lambda p: _cost(p, rule)):
        rows = np.flatnonzero(open_)
        if not len(rows):
            break
        value = _decide(part, rule, columns, blank, left[rows], right[rows])
        if op == "AND":
            out[rows[~value]] = False
            open_[rows[~value]] = False
        else:
            out[rows[value]] = True
            open_[rows[value]] = False
    return out


def evaluate_pairs(
    rule: MatchingRule,
    columns: Columns,
    blank: Mapping[str, np.ndarray],
    left: np.ndarray,
    right: np.ndarray,
) -> tuple[np.ndarray, list[tuple[str, ...]], np.ndarray]:
    """For record-index pairs ``left``/``right``: which the rule matches, the fields that
    agreed for each match, and the mean similarity of the agreeing conditions."""
    hit, held, mean = evaluate_pair_evidence(rule, columns, blank, left, right)
    names = [c.field for c in rule.conditions]
    fields = [tuple(dict.fromkeys(names[i] for i in np.flatnonzero(column))) for column in held.T]
    return hit, fields, mean


def evaluate_pair_evidence(
    rule: MatchingRule,
    columns: Columns,
    blank: Mapping[str, np.ndarray],
    left: np.ndarray,
    right: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`evaluate_pairs` with the evidence as arrays: ``hit`` (per pair), ``held``
    (conditions × matches: which condition held for each match) and ``mean``."""
    hit = _decide(rule.tree, rule, columns, blank, left, right)
    # every condition on the matches alone, for their evidence
    pairs = [
        _holds(rule, i + 1, columns, blank, left[hit], right[hit])
        for i in range(len(rule.conditions))
    ]
    held = np.vstack([h for h, _ in pairs]) if pairs else np.zeros((0, 0), dtype=bool)
    values = np.nan_to_num(np.vstack([v for _, v in pairs]), nan=0.0)
    counts = held.sum(axis=0)
    mean = np.where(counts > 0, (values * held).sum(axis=0) / np.maximum(counts, 1), 0.0)
    return hit, held, mean
