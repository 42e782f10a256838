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
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Text, cast, select, union_all
from sqlalchemy.orm import Session

from ..core.errors import DuplicatesDetected
from ..core.rule_vectors import evaluate_pairs, field_values, normal_columns
from ..core.rules import MatchingRule as CompiledRule
from ..core.rules import RuleMatch
from ..store.bulk import raw_rows
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


def _fingerprint(data: Mapping[str, Any]) -> Hashable:
    """The values of a row, as a key (equal values, equal key)."""
    key = tuple(sorted(data.items()))
    try:
        hash(key)
    except TypeError:  # a list or dict value
        return json.dumps(data, sort_keys=True, default=str)
    return key


_Blocks = tuple[ActiveRule, CompiledRule, Target, dict[str, str]]
_Slot = tuple[str, str, str]  # target entity id, blocking key, value
_Answer = tuple[bool, tuple[str, ...], float]  # hit, fields that agreed, similarity


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
        # slot -> record ids holding it (stored, then batch-made); a slot held by more than
        # MAX_BLOCK records is coarse and searched no more
        self._holders: dict[_Slot, list[str]] = {}
        self._coarse: set[_Slot] = set()
        self._records: dict[str, _Stored] = {}
        self._blocks_of: dict[Hashable, list[_Blocks]] = {}  # a row's print -> its block values
        self._last: tuple[dict[str, Any], Hashable] | None = None  # the last row printed
        # answers of the batch pre-check, by (a row's print, matching rule id): per stored
        # record id, and per print of another row of the batch (the data it would save)
        self._pre: dict[tuple[Hashable, str], dict[str, _Answer]] = {}
        self._pre_rows: dict[tuple[Hashable, str], dict[Hashable, _Answer]] = {}
        self._changed: dict[str, Hashable] = {}  # record saved in this batch -> print of its data

    @property
    def active(self) -> bool:
        return bool(self.rules.duplicate_rules)

    # -- candidates -----------------------------------------------------------------------

    def _print(self, data: Mapping[str, Any]) -> Hashable:
        if self._last is not None and self._last[0] == data:
            return self._last[1]
        printed = _fingerprint(data)
        self._last = (dict(data), printed)
        return printed

    def _blocks(self, data: Mapping[str, Any], printed: Hashable) -> list[_Blocks]:
        """The block values of ``data`` under each matching rule of each duplicate rule
        (computed once per distinct row)."""
        found = self._blocks_of.get(printed)
        if found is None:
            found = [
                (rule, matching, target, matching.block_values(data, self.region))
                for rule in self.rules.duplicate_rules
                for matching, target in rule.matching
            ]
            self._blocks_of[printed] = found
        return found

    def prefetch(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Look up the candidates of many rows at once (their block values computed at once)."""
        if not self.active:
            return
        prints = [self._print(data) for data in rows]
        new = list({p: i for i, p in enumerate(prints) if p not in self._blocks_of}.values())
        if new:
            subset = [rows[i] for i in new]
            computed: dict[str, list[dict[str, str]]] = {}
            columns = []
            for rule in self.rules.duplicate_rules:
                for matching, target in rule.matching:
                    if matching.id not in computed:
                        computed[matching.id] = matching.block_values_many(subset, self.region)
                    columns.append((rule, matching, target, computed[matching.id]))
            for k, i in enumerate(new):
                self._blocks_of[prints[i]] = [(r, m, t, v[k]) for r, m, t, v in columns]
        self._fetch([b for printed in prints for b in self._blocks_of[printed]])

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
            holders: dict[_Slot, list[str]] = {
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
            for entity_id, key, value, record_id in raw_rows(self.session, query):
                holders[(entity_id, key, value)].append(record_id)
            for slot, ids in holders.items():
                if len(ids) > MAX_BLOCK:
                    self._coarse.add(slot)
                    ids = []
                self._holders[slot] = ids
                found.update(ids)
        self._load({i for i in found if i not in self._records})

    def precompute(self, rows: Sequence[Mapping[str, Any]], entity_id: str) -> None:
        """Decide at once, with the vectorised rule evaluation (:mod:`~dupeguard.core.
        rule_vectors`, equal to the scalar one), every pair a big batch will ask about: each
        row against its stored candidates, and against the earlier rows of the batch (of
        ``entity_id``) that share a block value with it. :meth:`check` then reads the answers
        for the same values. Call after :meth:`prefetch` with the same rows."""
        if not self.active or len(rows) < _VECTOR_AT:
            return
        prints = [self._print(data) for data in rows]
        blocks = [self._blocks(data, printed) for data, printed in zip(rows, prints, strict=True)]
        done: set[str] = set()
        # each row's block values come in this order (see _blocks)
        flat = [pair for rule in self.rules.duplicate_rules for pair in rule.matching]
        for at, (matching, target) in enumerate(flat):
            if matching.id in done:
                continue
            done.add(matching.id)
            values = [b[at][3] for b in blocks]
            self._pre_pairs(matching, target, rows, prints, values, target.entity_id == entity_id)

    def _pre_pairs(
        self,
        matching: CompiledRule,
        target: Target,
        rows: Sequence[Mapping[str, Any]],
        prints: Sequence[Hashable],
        values: Sequence[Mapping[str, str]],
        same_entity: bool,
    ) -> None:
        n = len(rows)
        left: list[int] = []
        right: list[int] = []
        position: dict[str, int] = {}
        others: list[Mapping[str, Any]] = []
        earlier: dict[_Slot, list[int]] = {}  # slot -> rows of the batch holding it so far
        for i, held in enumerate(values):
            ids: set[str] = set()
            rows_before: set[int] = set()
            for key, value in held.items():
                slot = (target.entity_id, key, value)
                if slot in self._coarse:
                    continue
                ids.update(self._holders.get(slot, ()))
                if same_entity:
                    before = earlier.setdefault(slot, [])
                    if len(before) <= MAX_BLOCK:
                        rows_before.update(before)
                        before.append(i)
            for record_id in ids:
                stored = self._records.get(record_id)
                if stored is None:
                    continue
                if record_id not in position:
                    position[record_id] = len(others)
                    others.append(stored.data)
                left.append(i)
                right.append(n + position[record_id])
            for j in rows_before:
                if prints[j] != prints[i]:
                    left.append(i)
                    right.append(j)
        if not left:
            return
        everyone = [*rows, *others]
        columns, blank = normal_columns(matching, field_values(matching, everyone), self.region)
        lo, hi = np.array(left), np.array(right)
        hit, fields, mean = evaluate_pairs(matching, columns, blank, lo, hi)
        names = list(position)
        found = iter(zip(fields, mean, strict=True))
        for i, j, matched in zip(lo.tolist(), hi.tolist(), hit.tolist(), strict=True):
            answer: _Answer = (False, (), 0.0)
            if matched:
                agreed, similarity = next(found)
                answer = (True, agreed, float(similarity))
            if j >= n:
                self._pre.setdefault((prints[i], matching.id), {})[names[j - n]] = answer
            else:
                self._pre_rows.setdefault((prints[i], matching.id), {})[prints[j]] = answer

    def _load(self, ids: set[str]) -> None:
        encrypted = {
            t.entity_id: t.encrypted for r in self.rules.duplicate_rules for _, t in r.matching
        }
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            query = select(
                Record.id,
                Record.workspace_id,
                Record.entity_id,
                cast(Record.data, Text),
                Record.deleted_at.is_not(None),
            ).where(Record.id.in_(chunk))
            for record_id, workspace_id, entity_id, text, deleted in raw_rows(self.session, query):
                if workspace_id != self.workspace_id:
                    continue
                data = json.loads(text)
                hidden = encrypted.get(entity_id, ())
                plain = crypto.unseal(data, hidden) if hidden else data
                self._records[record_id] = _Stored(dict(plain), bool(deleted))

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
        printed = self._print(data)
        blocks = self._blocks(data, printed)
        self._fetch(blocks)  # nothing to fetch for rows prefetched with the batch
        deleted: dict[str, RuleMatch] = {}
        by_rule: dict[str, list[_Blocks]] = {}
        for item in blocks:
            by_rule.setdefault(item[0].id, []).append(item)
        for rule in self.rules.duplicate_rules:
            best: dict[str, RuleMatch] = {}
            for _, matching, target, values in by_rule.get(rule.id, []):
                seen: set[str] = set()
                pre = self._pre.get((printed, matching.id), {})
                pre_rows = self._pre_rows.get((printed, matching.id), {})
                for key, value in values.items():
                    slot = (target.entity_id, key, value)
                    if slot in self._coarse:
                        continue
                    for record_id in self._holders.get(slot, ()):
                        if record_id == exclude or record_id in seen or record_id in related:
                            continue
                        seen.add(record_id)
                        stored = self._records.get(record_id)
                        if stored is None:
                            continue
                        saved_as = self._changed.get(record_id)
                        answer = pre.get(record_id) if saved_as is None else pre_rows.get(saved_as)
                        if answer is None:
                            answer = matching.evaluate(data, stored.data, self.region)
                        hit, fields, similarity = answer
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
        printed = self._print(data)
        blocks = self._blocks(data, printed)
        self._fetch(blocks)  # stored holders of its keys first, then this record
        self._records[record_id] = _Stored(dict(data), False)
        self._changed[record_id] = printed
        for _, _, target, values in blocks:
            if target.entity_id != entity_id:
                continue
            for key, value in values.items():
                slot = (entity_id, key, value)
                if slot in self._coarse:
                    continue
                holders = self._holders.setdefault(slot, [])
                if record_id not in holders:
                    holders.append(record_id)
                    if len(holders) > MAX_BLOCK:  # as coarse as a stored one would now be
                        self._coarse.add(slot)
