"""Duplicate rules at save time: find the records a save matches, and say what the rules do.

:class:`Checker` serves one intake batch. It looks up the candidates of all rows at once
(blocking keys in ``record_keys``, one ``IN`` query per key and 500 values), reads their data by
primary key, and then answers :meth:`Checker.check` row by row in batch order, seeing the records
created earlier in the same batch, so a batch behaves as the same saves one after another.

A block value held by more than :data:`MAX_BLOCK` records is too coarse to search ("j|SM0" on a
huge list) and is skipped; the rule's other keys still find candidates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from ..core.errors import DuplicatesDetected
from ..core.rule_vectors import evaluate_pairs, field_values, normal_columns
from ..core.rules import MatchingRule as CompiledRule
from ..core.rules import RuleMatch
from ..store.tables import Record, RecordKey
from . import crypto
from .rules import ActiveRule, RuleSet, Target

__all__ = ["MAX_BLOCK", "Checker", "Fired", "Verdict"]

MAX_BLOCK = 500
MAX_MATCHES = 50
_CHUNK = 500
_UNION = 8  # lookups per statement
_VECTOR_AT = 64  # rows from which a batch is pre-checked in one vectorised pass


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class Fired:
    """A duplicate rule that matched a save, and what it did: ``alert``, ``blocked``,
    ``override`` (a block lifted by ``allowSave``)."""

    rule: ActiveRule
    action: str
    matches: tuple[RuleMatch, ...]


@dataclass
class Verdict:
    fired: list[Fired] = field(default_factory=list)
    deleted: list[RuleMatch] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(f.action == "blocked" for f in self.fired)

    def alerts(self) -> list[dict[str, Any]]:
        """What an allowed save reports: each match once per rule, deleted ones marked."""
        out = [m.payload() for f in self.fired for m in f.matches]
        out.extend(m.payload() for m in self.deleted)
        return out

    def error(self) -> DuplicatesDetected:
        matches = [m for f in self.fired if f.action == "blocked" for m in f.matches]
        rules = list(dict.fromkeys(f.rule.name for f in self.fired if f.action == "blocked"))
        details: dict[str, Any] = {"matches": [m.payload() for m in matches], "rules": rules}
        if self.deleted:
            details["deleted_matches"] = [m.payload() for m in self.deleted]
        first = matches[0]
        more = f" and {len(matches) - 1} more" if len(matches) > 1 else ""
        return DuplicatesDetected(
            f"duplicate rule {rules[0]!r} blocked the save: it matches {first.entity} "
            f"{first.record_id} on {', '.join(first.matched_fields)}{more}; update that record, "
            "merge, or override the rule for this save (API header X-Duplicate-Rule-Header: "
            "allowSave=true)",
            details=details,
        )


def _fingerprint(data: Mapping[str, Any]) -> str:
    """The values of a row, as a key (equal values, equal key)."""
    return json.dumps(data, sort_keys=True, default=str)


_Blocks = tuple[ActiveRule, CompiledRule, Target, dict[str, str]]


@dataclass
class _Stored:
    data: dict[str, Any]
    deleted: bool


class Checker:
    def __init__(
        self,
        session: Session,
        workspace_id: str,
        rules: RuleSet,
        region: str,
        *,
        allow_save: bool = False,
    ) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.rules = rules
        self.region = region
        self.allow_save = allow_save
        # (target entity id, key, value) -> record ids holding it (stored, then batch-made)
        self._holders: dict[tuple[str, str, str], list[str]] = {}
        self._records: dict[str, _Stored] = {}
        # (a row's values, matching rule id) -> stored record id -> (hit, fields, similarity)
        self._pre: dict[tuple[str, str], dict[str, tuple[bool, tuple[str, ...], float]]] = {}
        self._changed: set[str] = set()  # records saved in this batch: pre-checks are stale

    @property
    def active(self) -> bool:
        return bool(self.rules.duplicate_rules)

    # -- candidates -----------------------------------------------------------------------

    def _blocks(self, data: Mapping[str, Any]) -> list[_Blocks]:
        """The block values of ``data`` under each matching rule of each duplicate rule."""
        return [
            (rule, matching, target, matching.block_values(data, self.region))
            for rule in self.rules.duplicate_rules
            for matching, target in rule.matching
        ]

    def prefetch(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Look up the candidates of many rows at once."""
        if self.active:
            self._fetch([b for data in rows for b in self._blocks(data)])

    def _fetch(self, blocks: Iterable[_Blocks]) -> None:
        wanted: dict[tuple[str, str], set[str]] = {}
        for _, _, target, values in blocks:
            for key, value in values.items():
                if (target.entity_id, key, value) not in self._holders:
                    wanted.setdefault((target.entity_id, key), set()).add(value)
        if not wanted:
            return
        # one statement for many (key, values) chunks: a UNION ALL of indexed lookups (a
        # row-value IN over (key, value) would not use the index on SQLite)
        parts = [
            (entity_id, key, chunk)
            for (entity_id, key), asked in wanted.items()
            for chunk in _chunks(sorted(asked), _CHUNK)
        ]
        found: set[str] = set()
        for start in range(0, len(parts), _UNION):
            group = parts[start : start + _UNION]
            holders: dict[tuple[str, str, str], list[str]] = {
                (entity_id, key, value): [] for entity_id, key, chunk in group for value in chunk
            }
            selects = [
                select(
                    RecordKey.entity_id, RecordKey.key, RecordKey.value, RecordKey.record_id
                ).where(
                    RecordKey.workspace_id == self.workspace_id,
                    RecordKey.entity_id == entity_id,
                    RecordKey.key == key,
                    RecordKey.value.in_(chunk),
                )
                for entity_id, key, chunk in group
            ]
            query = selects[0] if len(selects) == 1 else union_all(*selects)
            for entity_id, key, value, record_id in self.session.execute(query):
                holders[(entity_id, key, value)].append(record_id)
            for slot, ids in holders.items():
                kept = ids if len(ids) <= MAX_BLOCK else []
                self._holders[slot] = kept
                found.update(kept)
        self._load({i for i in found if i not in self._records})

    def precompute(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Decide every (row, stored candidate) pair of a big batch at once with the
        vectorised rule evaluation (:mod:`dupeguard.core.rule_vectors`, equal to the scalar
        one); :meth:`check` then reads the answers for the same values. Call after
        :meth:`prefetch`."""
        if not self.active or len(rows) < _VECTOR_AT:
            return
        prints = [_fingerprint(data) for data in rows]
        done: set[str] = set()
        for rule in self.rules.duplicate_rules:
            for matching, target in rule.matching:
                if matching.id in done:
                    continue
                done.add(matching.id)
                left: list[int] = []
                right: list[int] = []
                position: dict[str, int] = {}
                others: list[Mapping[str, Any]] = []
                for i, data in enumerate(rows):
                    ids: set[str] = set()
                    for key, value in matching.block_values(data, self.region).items():
                        ids.update(self._holders.get((target.entity_id, key, value), ()))
                    for record_id in ids:
                        stored = self._records.get(record_id)
                        if stored is None:
                            continue
                        if record_id not in position:
                            position[record_id] = len(others)
                            others.append(stored.data)
                        left.append(i)
                        right.append(len(rows) + position[record_id])
                if not left:
                    continue
                everyone = [*rows, *others]
                columns, blank = normal_columns(
                    matching, field_values(matching, everyone), self.region
                )
                lo, hi = np.array(left), np.array(right)
                hit, fields, mean = evaluate_pairs(matching, columns, blank, lo, hi)
                names = list(position)
                found = iter(zip(fields, mean, strict=True))
                for i, j, matched in zip(lo, hi, hit, strict=True):
                    answers = self._pre.setdefault((prints[i], matching.id), {})
                    record_id = names[j - len(rows)]
                    if matched:
                        agreed, similarity = next(found)
                        answers[record_id] = (True, agreed, float(similarity))
                    else:
                        answers[record_id] = (False, (), 0.0)

    def _load(self, ids: set[str]) -> None:
        encrypted = {
            t.entity_id: t.encrypted for r in self.rules.duplicate_rules for _, t in r.matching
        }
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            for record_id, workspace_id, entity_id, data, deleted_at in self.session.execute(
                select(
                    Record.id, Record.workspace_id, Record.entity_id, Record.data, Record.deleted_at
                ).where(Record.id.in_(chunk))
            ):
                if workspace_id != self.workspace_id:
                    continue
                hidden = encrypted.get(entity_id, ())
                plain = crypto.unseal(data, hidden) if hidden else data
                self._records[record_id] = _Stored(dict(plain), deleted_at is not None)

    # -- the check ------------------------------------------------------------------------

    def check(
        self,
        data: Mapping[str, Any],
        *,
        when: str,
        exclude: str | None = None,
        related: Sequence[str] = (),
    ) -> Verdict:
        """What the rules say about saving ``data`` (``when``: ``create`` or ``edit``);
        ``exclude`` is the record being edited."""
        verdict = Verdict()
        if not self.active:
            return verdict
        blocks = self._blocks(data)
        self._fetch(blocks)  # nothing to fetch for rows prefetched with the batch
        fingerprint = _fingerprint(data) if self._pre else ""
        deleted: dict[str, RuleMatch] = {}
        by_rule: dict[str, list[_Blocks]] = {}
        for item in blocks:
            by_rule.setdefault(item[0].id, []).append(item)
        for rule in self.rules.duplicate_rules:
            best: dict[str, RuleMatch] = {}
            for _, matching, target, values in by_rule.get(rule.id, []):
                seen: set[str] = set()
                for key, value in values.items():
                    for record_id in self._holders.get((target.entity_id, key, value), ()):
                        if record_id == exclude or record_id in seen or record_id in related:
                            continue
                        seen.add(record_id)
                        stored = self._records.get(record_id)
                        if stored is None:
                            continue
                        pre = self._pre.get((fingerprint, matching.id)) if self._pre else None
                        if pre is not None and record_id in pre and record_id not in self._changed:
                            hit, fields, similarity = pre[record_id]
                        else:
                            hit, fields, similarity = matching.evaluate(
                                data, stored.data, self.region
                            )
                        if not hit:
                            continue
                        match = RuleMatch(
                            record_id,
                            target.entity,
                            rule.name,
                            rule.id,
                            fields,
                            similarity,
                            deleted=stored.deleted,
                        )
                        if stored.deleted and not rule.include_deleted:
                            deleted.setdefault(record_id, match)
                            continue
                        if record_id not in best or best[record_id].similarity < similarity:
                            best[record_id] = match
            if not best:
                continue
            matches = sorted(best.values(), key=lambda m: (-m.similarity, m.record_id))
            action = rule.action_on_create if when == "create" else rule.action_on_edit
            if action == "block":
                action = "override" if self.allow_save else "blocked"
            else:
                action = "alert"
            verdict.fired.append(Fired(rule, action, tuple(matches[:MAX_MATCHES])))
        verdict.deleted = sorted(deleted.values(), key=lambda m: m.record_id)[:MAX_MATCHES]
        return verdict

    def saved(self, record_id: str, entity_id: str, data: Mapping[str, Any]) -> None:
        """A row of this batch was created or changed: later rows must find it."""
        if not self.active:
            return
        blocks = self._blocks(data)
        self._fetch(blocks)  # stored holders of its keys first, then this record
        self._records[record_id] = _Stored(dict(data), False)
        self._changed.add(record_id)
        for _, _, target, values in blocks:
            if target.entity_id != entity_id:
                continue
            for key, value in values.items():
                holders = self._holders.setdefault((entity_id, key, value), [])
                if record_id not in holders:
                    holders.append(record_id)
