"""Intake: the one path every inbound record takes (API, bulk, import, form, UI) — seed 001.

The entity defines identity (its match keys, in priority order); the source decides what a
match does (``dedup_mode``: ``skip`` — the default —, ``update`` or ``off``). For each inbound
record the matcher returns one of four decisions:

* ``created`` — no key configured, every inbound key value empty, mode ``off``, or no match
  at any key;
* ``updated`` — exactly one match at the first key whose inbound value is non-empty and
  matches something, mode ``update``, and at least one mapped value changed;
* ``skipped`` — exactly one match and mode ``skip``, or mode ``update`` with nothing to change;
* ``conflict`` — two or more matches at that key: nothing is written and lower-priority keys
  are *not* tried.

Keys are tried in priority order; a key whose inbound value is empty, or that matches nothing,
passes to the next. Values are compared normalised (:mod:`dupeguard.core.keys`) through the
``record_keys`` index, so a decision against a million records is a few index lookups.

An update writes only the fields the source sent with a value (empty values never erase),
never ``assignee`` or ``status``, records old and new values in the activity feed, and fires
no automation; a create fires ``record.created`` to the workspace's webhooks.

Rows of one call are decided in order, as if submitted one after another: a second row with
the key value of a first row created in the same call matches that record. Concurrent calls
with the same key value are serialised (SQLite: the write lock taken before the lookup;
PostgreSQL: advisory locks on the key values), so they create exactly one record.

Then the entity's duplicate rules (seed 002, :mod:`.rules`): a row that would be created is
checked with each rule's ``action_on_create``, a row that would update a record (and an edit)
with ``action_on_edit``. ``block`` turns the row into a ``duplicates_detected`` error naming the
matched records, the rule, the matched fields and the similarity (``allow_save`` lifts it for
that call, audited as an override); ``allow`` saves and lists the matches in the outcome's
``duplicates``; ``report`` files them as a duplicate record set. Every hit is audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NoReturn

from sqlalchemy import String, any_, bindparam, delete, select, text, union_all, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ..core.errors import ConflictError, DupeguardError, NotFoundError, ValidationError
from ..core.fields import FieldType
from ..core.keys import key_value, key_values
from ..store.session import begin_write
from ..store.tables import (
    Activity,
    Field,
    List,
    ListMember,
    Record,
    RecordKey,
    RecordTag,
    new_id,
    utcnow,
)
from . import crypto, rule_effects, webhooks
from .records import _clean_tags, entity_named
from .rule_check import Checker, Verdict
from .rules import EMPTY, RuleSet, load_for_entity
from .values import FieldDef, clean_for_fields, clean_rows

__all__ = [
    "DECISIONS",
    "MAX_BULK",
    "MODES",
    "PROTECTED_ON_UPDATE",
    "SOURCES",
    "Inbound",
    "Outcome",
    "RowError",
    "Schema",
    "edit",
    "encrypted_names",
    "load_schema",
    "parse_mode",
    "record_activity",
    "redact",
    "replace_keys",
    "submit",
    "submit_many",
    "upsert",
    "write_keys",
]

MODES = ("skip", "update", "off")
SOURCES = ("api", "import", "form", "ui")
DECISIONS = ("created", "updated", "skipped", "conflict")
PROTECTED_ON_UPDATE = frozenset({"assignee", "status"})
"""Workflow fields an intake update never overwrites (seed 001: assignee and status stay)."""

MAX_BULK = 10_000
"""Rows per bulk API call."""
MAX_REPORTED_MATCHES = 50
_LOOKUP_CHUNK = 500
_LOOKUP_PARTS = 4  # (key, chunk of values) pairs per lookup statement
_FEW_LOCKS = 32


def parse_mode(mode: str | None) -> str:
    mode = (mode or "skip").strip().lower()
    if mode not in MODES:
        raise ValidationError(
            f"dedup_mode: one of {', '.join(MODES)} (got {mode!r})",
            details={"field": "dedup_mode"},
        )
    return mode


@dataclass(frozen=True)
class Schema:
    """An entity as intake sees it, read afresh for every call (a changed key applies on
    the next request)."""

    workspace_id: str
    entity_id: str
    entity: str
    fields: Mapping[str, FieldDef]
    keys: tuple[FieldDef, ...]
    region: str
    rules: RuleSet = EMPTY

    @cached_property
    def encrypted(self) -> tuple[str, ...]:
        return tuple(name for name, f in self.fields.items() if f.encrypted)

    def key_values_many(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
        """:meth:`key_values` of many rows (vectorised normalisers for big batches)."""
        out: list[dict[str, str]] = [{} for _ in rows]
        for key in self.keys:
            values = key_values(key.type, [row.get(key.name) for row in rows], region=self.region)
            for found, value in zip(out, values, strict=True):
                if value is not None:
                    found[key.name] = value
        return out

    def index_values_many(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
        """What ``record_keys`` holds for each row: its match-key values and the blocking-key
        values of the matching rules that search this entity."""
        out = self.key_values_many(rows)
        if self.rules.blockers:
            blocks = self.rules.block_values_many(rows, self.region)
            for found, values in zip(out, blocks, strict=True):
                found.update(values)
        return out

    def key_values(self, data: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in self.keys:
            value = key_value(key.type, data.get(key.name), region=self.region)
            if value is not None:
                out[key.name] = value
        return out


def load_schema(*, session: Session, workspace_id: str, entity: str, region: str = "US") -> Schema:
    target = entity_named(session=session, workspace_id=workspace_id, name=entity)
    rows = session.scalars(select(Field).where(Field.entity_id == target.id)).all()
    fields = {
        f.name: FieldDef(
            f.name,
            FieldType(f.type),
            tuple((f.options or {}).get("choices") or ()),
            f.encrypted,
        )
        for f in rows
    }
    keys = sorted(
        (f for f in rows if f.match_key), key=lambda f: (f.match_key_priority or 0, f.name)
    )
    rules = load_for_entity(
        session=session,
        workspace_id=workspace_id,
        entity_id=target.id,
        entity=target.name,
        fields={name: f.type for name, f in fields.items()},
        encrypted=[name for name, f in fields.items() if f.encrypted],
    )
    return Schema(
        workspace_id=workspace_id,
        entity_id=target.id,
        entity=target.name,
        fields=fields,
        keys=tuple(fields[f.name] for f in keys),
        region=region,
        rules=rules,
    )


@dataclass(frozen=True)
class Inbound:
    """One inbound record: field values, and (on create) its tags and lists."""

    data: Mapping[str, Any]
    tags: Sequence[str] = ()
    list_ids: Sequence[str] = ()


@dataclass
class Outcome:
    index: int
    decision: str
    record_id: str | None = None
    changed_fields: list[str] = field(default_factory=list)
    matches: list[str] = field(default_factory=list)
    matched_by: str | None = None
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdict: Verdict | None = None

    @property
    def duplicates(self) -> list[dict[str, Any]]:
        """Records the duplicate rules matched on an allowed save (the alert)."""
        return self.verdict.alerts() if self.verdict else []

    def payload(self) -> dict[str, Any]:
        """The API shape; ``lead_id`` repeats ``record_id`` for clients that read only it."""
        return {
            "decision": self.decision,
            "record_id": self.record_id,
            "lead_id": self.record_id,
            "changed_fields": list(self.changed_fields),
            "matches": list(self.matches),
            "matched_by": self.matched_by,
            "duplicates": self.duplicates,
        }


@dataclass
class RowError:
    index: int
    error: DupeguardError
    verdict: Verdict | None = None  # set when a duplicate rule blocked the row


@dataclass
class _Valid:
    index: int
    data: dict[str, Any]
    tags: list[str]
    list_ids: list[str]
    keys: dict[str, str]

    @cached_property
    def sent(self) -> dict[str, Any]:
        """The values sent (what a create saves); one object, so the duplicate rules' batch
        pre-check and the row's own check meet on it."""
        return {k: v for k, v in self.data.items() if v is not None}


@dataclass
class _Current:
    """A matched or newly created record as the batch sees it."""

    data: dict[str, Any]
    version: int
    new: bool = False


def submit(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    inbound: Inbound,
    source: str,
    mode: str = "skip",
    region: str = "US",
    actor: str | None = None,
    allow_save: bool = False,
) -> Outcome:
    """Decide and apply one inbound record. Call it on a session that has not begun yet
    (it takes the write lock first); a bad value raises ``ValidationError``, a blocking
    duplicate rule ``DuplicatesDetected`` (after committing its audit entry)."""
    (result,) = submit_many(
        session=session,
        workspace_id=workspace_id,
        entity=entity,
        rows=[inbound],
        source=source,
        mode=mode,
        region=region,
        actor=actor,
        allow_save=allow_save,
    )
    if isinstance(result, RowError):
        _refuse(session, result)
    return result


def _refuse(session: Session, result: RowError) -> NoReturn:
    """Raise a row's error; a duplicate rule's block first commits its audit entry."""
    if result.verdict is not None:
        session.commit()  # the audit entry of the blocked save stays
    raise result.error


def submit_many(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    rows: Sequence[Inbound],
    source: str,
    mode: str = "skip",
    region: str = "US",
    actor: str | None = None,
    dry_run: bool = False,
    first_index: int = 0,
    allow_save: bool = False,
    decisions_only: bool = False,
) -> list[Outcome | RowError]:
    """Decide ``rows`` in order and (unless ``dry_run``) apply them; one result per row.

    A row with a bad value becomes a :class:`RowError` and aborts nothing. With ``dry_run``
    nothing is written and no lock is taken: the decisions are what applying would do now.
    ``decisions_only`` (a dry run whose caller shows decisions, not alerts: the import
    preview) checks only the duplicate rules that block; those that only alert cannot
    change a decision, so the outcomes carry no alerts from them.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if decisions_only and not dry_run:
        raise ValueError("decisions_only is for dry runs: a save records its alerts")
    mode = parse_mode(mode)
    if not dry_run:
        begin_write(session)
    schema = load_schema(session=session, workspace_id=workspace_id, entity=entity, region=region)
    valid, results = _validate(session, schema, rows, first_index, mode)
    matching = mode != "off"
    if not dry_run and matching:
        _lock(session, schema, valid)
    index = _lookup(session, schema, valid) if matching else _unmatched(valid)
    current = _currents(session, index, valid, schema) if mode == "update" else {}
    ruleset = schema.rules.blocking() if decisions_only else schema.rules
    checker = Checker(session, workspace_id, ruleset, region, allow_save=allow_save)
    if checker.active:
        # what the rows would save, checked against their stored candidates in one
        # vectorised pass (the row-by-row checks then read the answers)
        proposals = _proposals(valid, index, current, schema, mode)
        checker.prefetch(proposals)
        checker.precompute(proposals, schema.entity_id)
    decided = _decide(schema, valid, index, current, mode, checker)
    outcomes = [d for d in decided if isinstance(d, Outcome)]
    if not dry_run:
        _apply(session, schema, valid, outcomes, current, source, actor)
        if checker.active:
            data = {row.index: row.data for row in valid}
            rule_effects.record(
                session,
                workspace_id=schema.workspace_id,
                entity=schema.entity,
                entity_id=schema.entity_id,
                items=[
                    (
                        d.record_id if isinstance(d, Outcome) else None,
                        d.verdict,
                        redact_values(data[d.index], schema.encrypted),
                    )
                    for d in decided
                    if d.verdict is not None
                ],
                source=source,
                actor=actor,
            )
    for item in decided:
        results[item.index - first_index] = item
    return [r for r in results if r is not None]


def _proposals(
    valid: Sequence[_Valid],
    index: _Index,
    current: Mapping[str, _Current],
    schema: Schema,
    mode: str,
) -> list[dict[str, Any]]:
    """What each row would save, as the rules will be asked about it: the values sent (a row
    no match key matches is created), or the matched record with the row's changes (mode
    update), built as :func:`_update` builds it, so the batch pre-check answers its check."""
    out: list[dict[str, Any]] = []
    for row in valid:
        found = _first_match(row, index, schema, mode)
        matched = found[1] if found else None
        if matched is None:
            out.append(row.sent)
        elif len(matched) == 1 and mode == "update" and matched[0] in current:
            stored = current[matched[0]].data
            changes = _changes(row, stored, schema)
            if changes:
                out.append({**stored, **{name: c["new"] for name, c in changes.items()}})
    return out


# --- deciding ------------------------------------------------------------------------------


def _validate(
    session: Session, schema: Schema, rows: Sequence[Inbound], first: int, mode: str
) -> tuple[list[_Valid], list[Outcome | RowError | None]]:
    results: list[Outcome | RowError | None] = [None] * len(rows)
    known_lists: set[str] | None = None
    valid: list[_Valid] = []
    # field values are checked column by column: the same values and errors as row by row
    cleaned = clean_rows([row.data for row in rows], schema.fields, entity=schema.entity)
    for offset, (row, data) in enumerate(zip(rows, cleaned, strict=True)):
        index = first + offset
        try:
            if isinstance(data, DupeguardError):
                raise data
            tags = _clean_tags(row.tags)
            list_ids = list(dict.fromkeys(row.list_ids))
            if list_ids:
                if known_lists is None:
                    known_lists = set(
                        session.scalars(
                            select(List.id).where(List.workspace_id == schema.workspace_id)
                        )
                    )
                missing = [i for i in list_ids if i not in known_lists]
                if missing:
                    raise NotFoundError(
                        f"no list {missing[0]!r} in this workspace", details={"field": "list_ids"}
                    )
        except DupeguardError as exc:
            results[offset] = RowError(index, exc)
            continue
        valid.append(_Valid(index, data, tags, list_ids, {}))
    # key values are indexed whatever the mode; "off" only skips the matching
    for item, keys in zip(valid, schema.key_values_many([r.data for r in valid]), strict=True):
        item.keys = keys
    return valid, results


def _lock_id(*parts: str) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock(session: Session, schema: Schema, valid: Sequence[_Valid]) -> None:
    """Serialise intakes that could match each other (PostgreSQL; SQLite holds the write
    lock already). Few values: a shared lock on the entity plus one lock per key value; a big
    batch: the entity lock alone, exclusively."""
    if session.get_bind().dialect.name != "postgresql":
        return
    values = sorted({(k, v) for row in valid for k, v in row.keys.items()})
    if not values:
        return
    entity_lock = _lock_id(schema.workspace_id, schema.entity_id)
    if len(values) > _FEW_LOCKS:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": entity_lock})
        return
    # one round trip: the shared entity lock, then the value locks in ascending order (unnest
    # yields the array in order, so two intakes never take the same locks in opposite order)
    locks = sorted({_lock_id(schema.workspace_id, schema.entity_id, k, v) for k, v in values})
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock_shared(:entity), "
            "(SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k)"
        ),
        {"entity": entity_lock, "keys": locks},
    )


_Index = dict[tuple[str, str], list[str]]


def _lookup(session: Session, schema: Schema, valid: Sequence[_Valid]) -> _Index:
    """Live records holding each inbound key value, oldest first."""
    wanted: dict[str, set[str]] = {}
    for row in valid:
        for key, value in row.keys.items():
            wanted.setdefault(key, set()).add(value)
    # every key's chunks of values in one statement where they fit (a single intake: one
    # round trip for its e-mail and phone, not one per key): a UNION ALL of indexed lookups
    # (an OR of (key, values) terms would not use the index on SQLite)
    parts = [
        (key, ordered[start : start + _LOOKUP_CHUNK])
        for key, values in wanted.items()
        for ordered in [sorted(values)]
        for start in range(0, len(ordered), _LOOKUP_CHUNK)
    ]
    found: list[tuple[Any, str, str, str]] = []
    for first in range(0, len(parts), _LOOKUP_PARTS):
        selects = [
            select(Record.created_at, RecordKey.record_id, RecordKey.key, RecordKey.value)
            .join(Record, Record.id == RecordKey.record_id)
            .where(
                RecordKey.workspace_id == schema.workspace_id,
                RecordKey.entity_id == schema.entity_id,
                RecordKey.key == key,
                _among(session, RecordKey.value, chunk),
                Record.deleted_at.is_(None),
            )
            for key, chunk in parts[first : first + _LOOKUP_PARTS]
        ]
        query = selects[0] if len(selects) == 1 else union_all(*selects)
        found.extend(
            (at, record_id, key, value) for at, record_id, key, value in session.execute(query)
        )
    index: _Index = {}
    for _, record_id, key, value in sorted(found, key=lambda row: (row[0], row[1])):
        index.setdefault((key, value), []).append(record_id)
    for key, values in wanted.items():
        for value in values:
            index.setdefault((key, value), [])
    return index


def _among(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter instead
    of one per value (measured: the import preview's lookups ~20 % faster)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(values)


def _unmatched(valid: Sequence[_Valid]) -> _Index:
    """The index for mode ``off``: nothing matches."""
    return {(key, value): [] for row in valid for key, value in row.keys.items()}


def _currents(
    session: Session, index: _Index, valid: Sequence[_Valid], schema: Schema
) -> dict[str, _Current]:
    """Data and version of every record a row could update (a single match at some key)."""
    ids = sorted(
        {
            ids[0]
            for row in valid
            for key, value in row.keys.items()
            if len(ids := index[(key, value)]) == 1
        }
    )
    current: dict[str, _Current] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        # by primary key alone: with a workspace condition too, SQLite (no statistics) picks
        # the workspace index and reads every record of the workspace per chunk
        for record_id, workspace_id, data, version in session.execute(
            select(Record.id, Record.workspace_id, Record.data, Record.version).where(
                _among(session, Record.id, chunk)
            )
        ):
            if workspace_id == schema.workspace_id:
                current[record_id] = _Current(crypto.unseal(data, schema.encrypted), version)
    return current


def _first_match(
    row: _Valid, index: _Index, schema: Schema, mode: str
) -> tuple[str, list[str]] | None:
    """The first key, in priority order, whose inbound value matches records, and those
    records (seed 001: an empty value or no match passes to the next key; mode ``off`` never
    matches)."""
    for key in schema.keys if mode != "off" else ():
        value = row.keys.get(key.name)
        ids = index.get((key.name, value)) if value is not None else None
        if ids:
            return key.name, ids
    return None


def _decide(
    schema: Schema,
    valid: Sequence[_Valid],
    index: _Index,
    current: dict[str, _Current],
    mode: str,
    checker: Checker,
) -> list[Outcome | RowError]:
    decided: list[Outcome | RowError] = []
    types = {k.name: k.type for k in schema.keys}
    for row in valid:
        outcome = Outcome(row.index, "created")
        blocked: Verdict | None = None
        found = _first_match(row, index, schema, mode)
        if found is not None:
            outcome.matched_by, ids = found
            outcome.matches = ids[:MAX_REPORTED_MATCHES]
            if len(ids) > 1:
                outcome.decision = "conflict"
            else:
                outcome.record_id = ids[0]
                outcome.decision = "skipped"
                if mode == "update":
                    blocked = _update(outcome, row, current[ids[0]], index, schema, types, checker)
        if outcome.decision == "created":
            data = row.sent
            verdict = checker.check(data, when="create") if checker.active else None
            if verdict is not None and verdict.blocked:
                blocked = verdict
            else:
                outcome.verdict = (
                    verdict if verdict and (verdict.fired or verdict.deleted) else None
                )
                outcome.record_id = new_id()
                current[outcome.record_id] = _Current(dict(data), 1, new=True)
                for key_name, value in row.keys.items():
                    index[(key_name, value)].append(outcome.record_id)
                checker.saved(outcome.record_id, schema.entity_id, data)
        decided.append(
            RowError(row.index, blocked.error(), blocked) if blocked is not None else outcome
        )
    return decided


def _changes(row: _Valid, stored: Mapping[str, Any], schema: Schema) -> dict[str, dict[str, Any]]:
    """What the row would change on the stored values (mode update)."""
    return {
        name: {"old": stored.get(name), "new": value}
        for name, value in row.data.items()
        if value is not None
        and name not in PROTECTED_ON_UPDATE
        and not _same(schema.fields[name].type, stored.get(name), value, schema.region)
    }


def _update(
    outcome: Outcome,
    row: _Valid,
    record: _Current,
    index: _Index,
    schema: Schema,
    types: Mapping[str, FieldType],
    checker: Checker,
) -> Verdict | None:
    """Apply the row's changes to the matched record (in memory) unless a duplicate rule
    blocks the edit; returns the blocking verdict, if any."""
    region = schema.region
    changes = _changes(row, record.data, schema)
    if not changes:
        return None
    assert outcome.record_id is not None
    if checker.active:
        proposed = {**record.data, **{name: c["new"] for name, c in changes.items()}}
        verdict = checker.check(proposed, when="edit", exclude=outcome.record_id)
        if verdict.blocked:
            return verdict
        if verdict.fired or verdict.deleted:
            outcome.verdict = verdict
    for name, change in changes.items():
        record.data[name] = change["new"]
        if name in types:  # a key value moves: later rows of the batch must see it
            old = key_value(types[name], change["old"], region=region)
            new = key_value(types[name], change["new"], region=region)
            if old != new:
                if old is not None and outcome.record_id in index.get((name, old), []):
                    index[(name, old)].remove(outcome.record_id)
                if new is not None:
                    index.setdefault((name, new), []).append(outcome.record_id)
    record.version += 1
    outcome.decision = "updated"
    outcome.changes = changes
    outcome.changed_fields = list(changes)
    checker.saved(outcome.record_id, schema.entity_id, record.data)
    return None


_FORMATTED = frozenset({FieldType.EMAIL, FieldType.PHONE, FieldType.URL})


def _same(field_type: FieldType, old: Any, new: Any, region: str) -> bool:
    """Equal values; e-mails, phones and URLs also when they normalise alike (a re-sent
    ``Jane@Acme.com`` for a stored ``jane@acme.com`` changes nothing)."""
    if old == new:
        return True
    if field_type in _FORMATTED and old is not None:
        normalised = key_value(field_type, old, region=region)
        return normalised is not None and normalised == key_value(field_type, new, region=region)
    return False


# --- applying ------------------------------------------------------------------------------


def _apply(
    session: Session,
    schema: Schema,
    valid: Sequence[_Valid],
    outcomes: Sequence[Outcome],
    current: Mapping[str, _Current],
    source: str,
    actor: str | None,
) -> None:
    rows_by_index = {row.index: row for row in valid}
    now = utcnow()
    details = {"actor": actor} if actor else {}
    created = [o for o in outcomes if o.decision == "created"]
    updated = [o for o in outcomes if o.decision == "updated"]
    if created:
        record_rows: list[dict[str, Any]] = []
        key_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        member_rows: list[dict[str, Any]] = []
        activity_rows: list[dict[str, Any]] = []
        payloads: list[dict[str, Any]] = []
        saved = [
            {k: v for k, v in rows_by_index[o.index].data.items() if v is not None} for o in created
        ]
        blocks = schema.rules.block_values_many(saved, schema.region)
        for outcome, data, block in zip(created, saved, blocks, strict=True):
            row = rows_by_index[outcome.index]
            payloads.append(
                {
                    "record_id": outcome.record_id,
                    "entity": schema.entity,
                    "data": {k: v for k, v in data.items() if k not in schema.encrypted},
                    "source": source,
                    "created_at": now.isoformat(),
                }
            )
            record_rows.append(
                {
                    "id": outcome.record_id,
                    "workspace_id": schema.workspace_id,
                    "entity_id": schema.entity_id,
                    "data": crypto.seal(data, schema.encrypted),
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
            )
            key_rows.extend(
                _key_rows(
                    schema,
                    outcome.record_id,
                    {**row.keys, **block},
                )
            )
            tag_rows.extend(
                {"record_id": outcome.record_id, "tag": t, "workspace_id": schema.workspace_id}
                for t in row.tags
            )
            member_rows.extend(
                {
                    "list_id": list_id,
                    "record_id": outcome.record_id,
                    "workspace_id": schema.workspace_id,
                }
                for list_id in row.list_ids
            )
            activity_rows.append(
                _activity(schema, outcome.record_id, "created", source, {}, details, now)
            )
        _insert(session, Record, record_rows)
        for table, batch in (
            (RecordKey, key_rows),
            (RecordTag, tag_rows),
            (ListMember, member_rows),
            (Activity, activity_rows),
        ):
            if batch:
                _insert(session, table, batch)
        webhooks.emit(
            session=session,
            workspace_id=schema.workspace_id,
            event="record.created",
            payloads=payloads,
        )
    if updated:
        finals: dict[str, _Current] = {}
        activity_rows = []
        for outcome in updated:
            assert outcome.record_id is not None
            finals[outcome.record_id] = current[outcome.record_id]
            activity_rows.append(
                _activity(
                    schema,
                    outcome.record_id,
                    "updated",
                    source,
                    redact(outcome.changes, schema.encrypted),
                    details,
                    now,
                )
            )
        existing = {rid: cur for rid, cur in finals.items() if not cur.new}
        if existing:
            session.execute(
                update(Record),
                [
                    {
                        "id": rid,
                        "data": crypto.seal(cur.data, schema.encrypted),
                        "version": cur.version,
                        "updated_at": now,
                    }
                    for rid, cur in existing.items()
                ],
            )
        for rid, cur in finals.items():
            if cur.new:  # created earlier in this batch, then updated by a later row
                session.execute(
                    update(Record)
                    .where(Record.id == rid)
                    .values(
                        data=crypto.seal(cur.data, schema.encrypted),
                        version=cur.version,
                        updated_at=now,
                    )
                )
        replace_keys(session, schema, {rid: cur.data for rid, cur in finals.items()})
        _insert(session, Activity, activity_rows)


def _insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """A Core executemany insert on the session's connection (the ORM's bulk insert adds a
    per-row cost these plain rows do not need)."""
    session.connection().execute(table.__table__.insert(), rows)


def _key_rows(
    schema: Schema, record_id: str | None, keys: Mapping[str, str]
) -> list[dict[str, Any]]:
    return [
        {
            "record_id": record_id,
            "key": key,
            "workspace_id": schema.workspace_id,
            "entity_id": schema.entity_id,
            "value": value,
        }
        for key, value in keys.items()
    ]


def _activity(
    schema: Schema,
    record_id: str | None,
    kind: str,
    source: str,
    changes: Mapping[str, Any],
    details: Mapping[str, Any],
    now: Any,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": schema.workspace_id,
        "record_id": record_id,
        "kind": kind,
        "source": source,
        "changes": dict(changes),
        "details": dict(details),
        "created_at": now,
    }


def write_keys(session: Session, schema: Schema, record_id: str, data: Mapping[str, Any]) -> None:
    """Replace the record's rows in the match-key index with its current values."""
    replace_keys(session, schema, {record_id: data})


def replace_keys(
    session: Session, schema: Schema, records: Mapping[str, Mapping[str, Any]]
) -> None:
    """Replace the match-key index rows of many records at once (one delete and one insert
    per chunk, not two statements per record)."""
    ids = list(records)
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        session.execute(
            delete(RecordKey)
            .where(_among(session, RecordKey.record_id, chunk))
            .execution_options(synchronize_session=False)
        )
    keys = schema.index_values_many(list(records.values()))
    rows = [
        row
        for record_id, found in zip(records, keys, strict=True)
        for row in _key_rows(schema, record_id, found)
    ]
    if rows:
        _insert(session, RecordKey, rows)


# --- edits ---------------------------------------------------------------------------------


def edit(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    record_id: str,
    data: Mapping[str, Any] | None,
    tags: Iterable[str] | None = None,
    list_ids: Sequence[str] | None = None,
    source: str = "api",
    region: str = "US",
    actor: str | None = None,
    allow_save: bool = False,
) -> tuple[Record, list[dict[str, Any]]]:
    """Edit a record (PATCH, the UI): values checked against the fields, ``null`` clears a
    field, the key index follows, the activity feed records old and new values, and the
    duplicate rules check the result (``action_on_edit``). Returns the record and the
    duplicate alerts of an allowed save."""
    begin_write(session)
    schema = load_schema(session=session, workspace_id=workspace_id, entity=entity, region=region)
    record, _, verdict = _edit(
        session, schema, record_id, data, tags, list_ids, source, actor, allow_save
    )
    return record, verdict.alerts() if verdict else []


def _edit(
    session: Session,
    schema: Schema,
    record_id: str,
    data: Mapping[str, Any] | None,
    tags: Iterable[str] | None,
    list_ids: Sequence[str] | None,
    source: str,
    actor: str | None,
    allow_save: bool = False,
) -> tuple[Record, dict[str, Any], Verdict | None]:
    from .records import get_record, update_record

    record = get_record(
        session=session,
        workspace_id=schema.workspace_id,
        entity=schema.entity,
        record_id=record_id,
        include_deleted=False,
    )
    before = crypto.unseal(record.data, schema.encrypted)
    after = dict(before)
    if data is not None:
        for name, value in clean_for_fields(data, schema.fields, entity=schema.entity).items():
            if value is None:
                after.pop(name, None)
            else:
                after[name] = value
    changes = {
        name: {"old": before.get(name), "new": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
    if not changes and tags is None and list_ids is None:
        return record, changes, None
    verdict = None
    if changes and schema.rules.duplicate_rules:
        checker = Checker(
            session, schema.workspace_id, schema.rules, schema.region, allow_save=allow_save
        )
        verdict = checker.check(after, when="edit", exclude=record.id)
        effects = [(record.id, verdict, redact_values(after, schema.encrypted))]
        if verdict.blocked:
            rule_effects.record(
                session,
                workspace_id=schema.workspace_id,
                entity=schema.entity,
                entity_id=schema.entity_id,
                items=effects,
                source=source,
                actor=actor,
            )
            session.commit()  # the audit entry of the blocked save stays
            raise verdict.error()
    record = update_record(
        session=session,
        workspace_id=schema.workspace_id,
        entity=schema.entity,
        record_id=record_id,
        tags=tags,
        list_ids=list_ids,
    )
    if changes:
        record.data = crypto.seal(after, schema.encrypted)
        write_keys(session, schema, record.id, after)
        session.add(
            Activity(
                workspace_id=schema.workspace_id,
                record_id=record.id,
                kind="updated",
                source=source,
                changes=redact(changes, schema.encrypted),
                details={"actor": actor} if actor else {},
            )
        )
        if verdict is not None and verdict.fired:
            rule_effects.record(
                session,
                workspace_id=schema.workspace_id,
                entity=schema.entity,
                entity_id=schema.entity_id,
                items=[(record.id, verdict, redact_values(after, schema.encrypted))],
                source=source,
                actor=actor,
            )
    session.flush()
    return record, changes, verdict


def upsert(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    field: str,
    value: str,
    data: Mapping[str, Any],
    source: str = "api",
    region: str = "US",
    actor: str | None = None,
    allow_save: bool = False,
) -> Outcome:
    """Upsert by an identifying field (``PUT …/records/by/{field}/{value}``): insert when no
    live record has that value, update the one that has it (``null`` clears a field, as in
    an edit), and refuse with ``conflict`` listing the records when several have it.

    The value is compared normalised, like a match key; a match-key field is an index lookup,
    any other field a scan of the entity's records. Concurrent upserts of one value are
    serialised, so they insert once. The inserted record goes through intake with mode
    ``off``: the upsert field, not the other match keys, decides identity.
    """
    begin_write(session)
    schema = load_schema(session=session, workspace_id=workspace_id, entity=entity, region=region)
    definition = schema.fields.get(field)
    if definition is None:
        raise NotFoundError(f"no field {field!r} on entity {entity!r}", details={"field": "field"})
    if definition.encrypted or definition.type not in _UPSERT_TYPES:
        raise ValidationError(
            f"field {field!r} cannot identify records for an upsert (type {definition.type}"
            f"{', encrypted' if definition.encrypted else ''})",
            details={"field": "field"},
        )
    normalised = key_value(definition.type, value, region=region)
    if normalised is None:
        raise ValidationError(
            f"value: {value!r} is empty or not a valid {definition.type}",
            details={"field": "value"},
        )
    if session.get_bind().dialect.name == "postgresql":
        lock = _lock_id(schema.workspace_id, schema.entity_id, field, normalised)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
    ids = _holders(session, schema, definition, normalised)
    if len(ids) > 1:
        raise ConflictError(
            f"{len(ids)} {entity} records have {field} = {value!r}; upsert needs one: "
            "merge them or update one by id",
            details={"matches": ids[:MAX_REPORTED_MATCHES], "field": field},
        )
    if not ids:
        inbound = Inbound({**{k: v for k, v in data.items() if v is not None}, field: value})
        (result,) = submit_many(
            session=session,
            workspace_id=workspace_id,
            entity=entity,
            rows=[inbound],
            source=source,
            mode="off",
            region=region,
            actor=actor,
            allow_save=allow_save,
        )
        if isinstance(result, RowError):
            _refuse(session, result)
        result.matched_by = field
        return result
    _, changes, verdict = _edit(
        session, schema, ids[0], data, None, None, source, actor, allow_save
    )
    return Outcome(
        0,
        "updated" if changes else "skipped",
        record_id=ids[0],
        changed_fields=list(changes),
        matches=ids,
        matched_by=field,
        changes=changes,
        verdict=verdict if verdict and (verdict.fired or verdict.deleted) else None,
    )


_UPSERT_TYPES = frozenset(
    {
        FieldType.TEXT,
        FieldType.NUMBER,
        FieldType.DATE,
        FieldType.SINGLE_SELECT,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
    }
)


def _holders(session: Session, schema: Schema, field: FieldDef, normalised: str) -> list[str]:
    """Live records of the entity whose ``field`` normalises to ``normalised``."""
    if any(k.name == field.name for k in schema.keys):
        return list(
            session.scalars(
                select(RecordKey.record_id)
                .join(Record, Record.id == RecordKey.record_id)
                .where(
                    RecordKey.workspace_id == schema.workspace_id,
                    RecordKey.entity_id == schema.entity_id,
                    RecordKey.key == field.name,
                    RecordKey.value == normalised,
                    Record.deleted_at.is_(None),
                )
                .order_by(Record.created_at, Record.id)
            )
        )
    value_of = Record.data[field.name].as_string()
    rows = session.execute(
        select(Record.id, value_of)
        .where(
            Record.workspace_id == schema.workspace_id,
            Record.entity_id == schema.entity_id,
            Record.deleted_at.is_(None),
            value_of.is_not(None),
        )
        .order_by(Record.created_at, Record.id)
    )
    return [
        record_id
        for record_id, raw in rows
        if key_value(field.type, raw, region=schema.region) == normalised
    ]


def redact_values(data: Mapping[str, Any], encrypted: Sequence[str]) -> dict[str, Any]:
    """Record values with those of encrypted fields replaced by ``[encrypted]``."""
    return {k: crypto.REDACTED if k in encrypted and v is not None else v for k, v in data.items()}


def redact(changes: Mapping[str, Any], encrypted: Sequence[str]) -> dict[str, Any]:
    """Activity changes with the values of encrypted fields replaced by ``[encrypted]``."""
    return {
        name: (
            {k: (crypto.REDACTED if v is not None else None) for k, v in change.items()}
            if name in encrypted
            else change
        )
        for name, change in changes.items()
    }


def encrypted_names(*, session: Session, entity_id: str) -> list[str]:
    """The entity's encrypted fields (their stored values are ciphertext)."""
    return list(
        session.scalars(
            select(Field.name).where(Field.entity_id == entity_id, Field.encrypted.is_(True))
        )
    )


def record_activity(
    *, session: Session, workspace_id: str, record_id: str, limit: int = 100
) -> list[Activity]:
    """The record's activity feed, newest first."""
    return list(
        session.scalars(
            select(Activity)
            .where(Activity.workspace_id == workspace_id, Activity.record_id == record_id)
            .order_by(Activity.created_at.desc(), Activity.id)
            .limit(limit)
        )
    )
