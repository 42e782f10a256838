"""Matching rules and duplicate rules (seed 002): storage, checks, standard rules, blocking keys.

A *matching rule* belongs to an entity and says when two records are the same (conditions
joined by an expression, :mod:`dupeguard.core.rules`); with ``against`` it compares the
entity's records with another entity's (a lead against contacts). A *duplicate rule* names
matching rules of its entity and what a save that matches does: ``block`` or ``allow`` (with an
alert), on create and on edit, optionally ``report`` (file the matches as a duplicate record set)
and ``include_deleted`` (let deleted records block; by default they are only mentioned).

Every save reads the rules afresh (:func:`load_for_entity`), so a changed rule applies to the
next request. Candidates come from blocking keys in ``record_keys``: :func:`sync_blocks` keeps
the keys of an entity's records in step with the active rules that search it, in the same
transaction as the rule change.

Standard rules (``standard``: they can be edited and deactivated, not deleted) exist for contact,
lead and company in every workspace: e-mail, or name with phone / company / street, for people;
name with domain / phone / city for companies. Their duplicate rules allow with an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.fields import FieldType
from ..core.rules import MatchingRule as CompiledRule
from ..core.rules import compile_rule
from ..store.tables import (
    AuditEntry,
    DuplicateRule,
    Entity,
    Field,
    MatchingRule,
    Record,
    RecordKey,
    utcnow,
)
from . import crypto

__all__ = [
    "ACTIONS",
    "ActiveRule",
    "RuleSet",
    "create_duplicate_rule",
    "create_matching_rule",
    "delete_duplicate_rule",
    "delete_matching_rule",
    "ensure_standard_rules",
    "field_types",
    "get_duplicate_rule",
    "get_matching_rule",
    "list_duplicate_rules",
    "list_matching_rules",
    "load_for_entity",
    "rule_stats",
    "sync_all_blocks",
    "sync_blocks",
    "update_duplicate_rule",
    "update_matching_rule",
]

log = logging.getLogger(__name__)

ACTIONS = ("block", "allow")
MAX_RULES = 50
MAX_MATCHING_PER_DUPLICATE = 3
_BACKFILL_CHUNK = 5_000

_PERSON_CONDITIONS = [
    {"field": "email", "method": "email", "threshold": 1.0, "blank": "no_match"},
    {"field": "first_name", "method": "nickname", "threshold": 0.85, "blank": "no_match"},
    {"field": "last_name", "method": "fuzzy_name", "threshold": 0.88, "blank": "no_match"},
    {"field": "phone", "method": "phone", "threshold": 0.9, "blank": "no_match"},
    {"field": "company", "method": "fuzzy_company", "threshold": 0.85, "blank": "no_match"},
    {"field": "street", "method": "fuzzy_text", "threshold": 0.85, "blank": "no_match"},
]
_COMPANY_CONDITIONS = [
    {"field": "name", "method": "fuzzy_company", "threshold": 0.85, "blank": "no_match"},
    {"field": "domain", "method": "domain", "threshold": 1.0, "blank": "no_match"},
    {"field": "phone", "method": "phone", "threshold": 0.9, "blank": "no_match"},
    {"field": "city", "method": "fuzzy_text", "threshold": 0.9, "blank": "no_match"},
]
#: entity → (matching rule name, conditions, expression)
STANDARD: Mapping[str, tuple[str, list[dict[str, Any]], str]] = {
    "contact": (
        "Standard contact matching rule",
        _PERSON_CONDITIONS,
        "1 OR (2 AND 3 AND (4 OR 5 OR 6))",
    ),
    "lead": ("Standard lead matching rule", _PERSON_CONDITIONS, "1 OR (2 AND 3 AND (4 OR 5 OR 6))"),
    "company": ("Standard company matching rule", _COMPANY_CONDITIONS, "1 AND (2 OR 3 OR 4)"),
}


# --- reading rules for a save --------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The entity a matching rule searches."""

    entity_id: str
    entity: str
    encrypted: tuple[str, ...]


@dataclass(frozen=True)
class ActiveRule:
    """An active duplicate rule with its compiled matching rules and their targets."""

    id: str
    name: str
    action_on_create: str
    action_on_edit: str
    report: bool
    include_deleted: bool
    matching: tuple[tuple[CompiledRule, Target], ...]


@dataclass(frozen=True)
class RuleSet:
    """What intake needs of the rules for one entity.

    ``blockers``: active matching rules whose target is this entity (their blocking keys are
    written with its records). ``duplicate_rules``: the entity's active duplicate rules.
    """

    blockers: tuple[CompiledRule, ...] = ()
    duplicate_rules: tuple[ActiveRule, ...] = ()

    def block_values(self, data: Mapping[str, Any], region: str) -> dict[str, str]:
        return self.block_values_many([data], region)[0]

    def blocking(self) -> RuleSet:
        """Only the duplicate rules that block a create or an edit (what can change a
        decision; the others only alert)."""
        return replace(
            self,
            duplicate_rules=tuple(
                r for r in self.duplicate_rules if "block" in (r.action_on_create, r.action_on_edit)
            ),
        )

    def block_values_many(
        self, rows: Sequence[Mapping[str, Any]], region: str
    ) -> list[dict[str, str]]:
        out: list[dict[str, str]] = [{} for _ in rows]
        for rule in self.blockers:
            for found, values in zip(out, rule.block_values_many(rows, region), strict=True):
                found.update(values)
        return out


EMPTY = RuleSet()


def field_types(session: Session, entity_id: str) -> tuple[dict[str, FieldType], tuple[str, ...]]:
    rows = session.execute(
        select(Field.name, Field.type, Field.encrypted).where(Field.entity_id == entity_id)
    ).all()
    return {n: FieldType(t) for n, t, _ in rows}, tuple(n for n, _, e in rows if e)


def _compile(rule: MatchingRule, types: Mapping[str, FieldType]) -> CompiledRule | None:
    try:
        return compile_rule(
            id=rule.id,
            name=rule.name,
            conditions=rule.conditions,
            expression=rule.expression,
            types=types,
        )
    except ValidationError as exc:  # a field it uses was changed since: skip, say so
        log.warning("matching rule %s (%s) is not usable: %s", rule.id, rule.name, exc.message)
        return None


def load_for_entity(
    *,
    session: Session,
    workspace_id: str,
    entity_id: str,
    entity: str,
    fields: Mapping[str, FieldType],
    encrypted: Sequence[str],
) -> RuleSet:
    """The rules a save into ``entity`` applies, read afresh (two small queries when the
    entity has rules; nothing is cached between requests)."""
    matching = session.scalars(
        select(MatchingRule).where(
            MatchingRule.workspace_id == workspace_id,
            MatchingRule.active.is_(True),
            or_(MatchingRule.entity_id == entity_id, MatchingRule.against_entity_id == entity_id),
        )
    ).all()
    if not matching:
        return EMPTY
    blockers = []
    own: dict[str, tuple[CompiledRule, Target]] = {}
    names: dict[str, Target] = {}
    for rule in matching:
        compiled = _compile(rule, fields)
        if compiled is None:
            continue
        target_id = rule.against_entity_id or rule.entity_id
        if target_id == entity_id:
            blockers.append(compiled)
        if rule.entity_id == entity_id:
            if target_id == entity_id:
                target = Target(entity_id, entity, tuple(encrypted))
            else:
                if target_id not in names:
                    name = session.scalar(select(Entity.name).where(Entity.id == target_id)) or ""
                    names[target_id] = Target(target_id, name, field_types(session, target_id)[1])
                target = names[target_id]
            own[rule.id] = (compiled, target)
    duplicate_rules: list[ActiveRule] = []
    if own:
        for d in session.scalars(
            select(DuplicateRule)
            .where(DuplicateRule.entity_id == entity_id, DuplicateRule.active.is_(True))
            .order_by(DuplicateRule.created_at, DuplicateRule.id)
        ):
            used = tuple(own[i] for i in d.matching_rule_ids if i in own)
            if used:
                duplicate_rules.append(
                    ActiveRule(
                        d.id,
                        d.name,
                        d.action_on_create,
                        d.action_on_edit,
                        d.report,
                        d.include_deleted,
                        used,
                    )
                )
    return RuleSet(tuple(blockers), tuple(duplicate_rules))


# --- blocking keys -------------------------------------------------------------------------


def sync_all_blocks(session: Session, *, region: str = "US") -> int:
    """:func:`sync_blocks` for every entity whose stored blocking keys are not the ones its
    active rules want (after an upgrade that changed a block value); returns how many."""
    done = 0
    for entity in session.scalars(select(Entity)).all():
        if _wanted(session, entity) != set(entity.block_keys or []):
            sync_blocks(session, entity, region=region)
            done += 1
    return done


def _searching(session: Session, entity: Entity) -> list[CompiledRule]:
    """The compiled active matching rules whose target is ``entity``."""
    fields, _ = field_types(session, entity.id)
    rules = session.scalars(
        select(MatchingRule).where(
            MatchingRule.workspace_id == entity.workspace_id,
            MatchingRule.active.is_(True),
            or_(
                and_(MatchingRule.entity_id == entity.id, MatchingRule.against_entity_id.is_(None)),
                MatchingRule.against_entity_id == entity.id,
            ),
        )
    ).all()
    return [c for r in rules if (c := _compile(r, fields)) is not None]


def _wanted(session: Session, entity: Entity) -> set[str]:
    return {b.name for c in _searching(session, entity) for b in c.blocks}


def sync_blocks(session: Session, entity: Entity, *, region: str = "US") -> None:
    """Make ``record_keys`` hold exactly the blocking keys of the active matching rules that
    search ``entity``: drop keys no rule uses, backfill new ones for every stored record
    (deleted ones too: a rule may count them)."""
    _, encrypted = field_types(session, entity.id)
    compiled = _searching(session, entity)
    wanted = {b.name for c in compiled for b in c.blocks}
    have = set(entity.block_keys or [])
    gone = sorted(have - wanted)
    if gone:
        session.execute(
            delete(RecordKey).where(RecordKey.entity_id == entity.id, RecordKey.key.in_(gone))
        )
    new = wanted - have
    if new:
        session.execute(
            delete(RecordKey).where(
                RecordKey.entity_id == entity.id, RecordKey.key.in_(sorted(new))
            )
        )
        _backfill(
            session,
            entity,
            [c for c in compiled if any(b.name in new for b in c.blocks)],
            new,
            encrypted,
            region,
        )
    entity.block_keys = sorted(wanted)
    session.flush()


def _backfill(
    session: Session,
    entity: Entity,
    rules: Sequence[CompiledRule],
    names: set[str],
    encrypted: Sequence[str],
    region: str,
) -> None:
    after = ""
    while True:
        rows = session.execute(
            select(Record.id, Record.data)
            .where(Record.entity_id == entity.id, Record.id > after)
            .order_by(Record.id)
            .limit(_BACKFILL_CHUNK)
        ).all()
        if not rows:
            return
        after = rows[-1][0]
        batch: list[dict[str, Any]] = []
        for record_id, data in rows:
            plain = crypto.unseal(data, encrypted) if encrypted else data
            values: dict[str, str] = {}
            for rule in rules:
                values.update(rule.block_values(plain, region))
            batch.extend(
                {
                    "record_id": record_id,
                    "key": key,
                    "workspace_id": entity.workspace_id,
                    "entity_id": entity.id,
                    "value": value,
                }
                for key, value in values.items()
                if key in names
            )
        if batch:
            session.execute(insert(RecordKey), batch)


# --- standard rules ------------------------------------------------------------------------


def ensure_standard_rules(
    session: Session, *, workspace_id: str | None = None, region: str = "US"
) -> int:
    """Create the standard matching and duplicate rules of contact, lead and company where a
    workspace has none yet (new workspaces; workspaces from before rules existed). Returns
    how many entities got them."""
    has_standard = (
        select(MatchingRule.id)
        .where(MatchingRule.entity_id == Entity.id, MatchingRule.standard.is_(True))
        .exists()
    )
    query = select(Entity).where(
        Entity.builtin.is_(True), Entity.name.in_(sorted(STANDARD)), ~has_standard
    )
    if workspace_id is not None:
        query = query.where(Entity.workspace_id == workspace_id)
    done = 0
    for entity in session.scalars(query).all():
        fields, _ = field_types(session, entity.id)
        name, conditions, expression = STANDARD[entity.name]
        usable = [c for c in conditions if c["field"] in fields]
        if len(usable) != len(conditions):
            continue  # a customised built-in entity without the standard fields
        matching = MatchingRule(
            workspace_id=entity.workspace_id,
            entity_id=entity.id,
            name=name,
            description="Created with the workspace; edit or deactivate it as needed.",
            conditions=[dict(c) for c in conditions],
            expression=expression,
            standard=True,
        )
        session.add(matching)
        session.flush()
        session.add(
            DuplicateRule(
                workspace_id=entity.workspace_id,
                entity_id=entity.id,
                name=f"Standard {entity.name} duplicate rule",
                description="Allows the save and alerts with the matches.",
                matching_rule_ids=[matching.id],
                action_on_create="allow",
                action_on_edit="allow",
                report=False,
                standard=True,
            )
        )
        sync_blocks(session, entity, region=region)
        done += 1
    session.flush()
    return done


# --- matching rules CRUD -------------------------------------------------------------------


def _entity(session: Session, workspace_id: str, name: str) -> Entity:
    entity = session.scalar(
        select(Entity).where(Entity.workspace_id == workspace_id, Entity.name == name)
    )
    if entity is None:
        raise NotFoundError(f"no entity {name!r} in this workspace")
    return entity


def _text(value: Any, what: str, *, limit: int, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(f"{what}: a non-empty string", details={"field": what})
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{what}: at most {limit} characters", details={"field": what})
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{what}: true or false", details={"field": what})
    return value


def _rules_of(session: Session, table: Any, workspace_id: str, entity: str) -> list[Any]:
    target = _entity(session, workspace_id, entity)
    return list(
        session.scalars(
            select(table).where(table.entity_id == target.id).order_by(table.created_at, table.id)
        )
    )


def _rule(
    session: Session, table: Any, what: str, workspace_id: str, entity: str, rule_id: str
) -> Any:
    """A rule of the entity by id or by name."""
    target = _entity(session, workspace_id, entity)
    rule = session.scalar(
        select(table).where(
            table.entity_id == target.id, or_(table.id == rule_id, table.name == rule_id)
        )
    )
    if rule is None:
        raise NotFoundError(f"no {what} {rule_id!r} on entity {entity!r}")
    return rule


_MATCHING_KEYS = frozenset({"name", "description", "conditions", "expression", "against", "active"})


def _known(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(f"unknown key {unknown[0]!r}", details={"field": unknown[0]})


def list_matching_rules(*, session: Session, workspace_id: str, entity: str) -> list[MatchingRule]:
    return _rules_of(session, MatchingRule, workspace_id, entity)


def get_matching_rule(
    *, session: Session, workspace_id: str, entity: str, rule_id: str
) -> MatchingRule:
    """By id or by name."""
    return _rule(session, MatchingRule, "matching rule", workspace_id, entity, rule_id)


def entity_name(session: Session, entity_id: str | None) -> str | None:
    if entity_id is None:
        return None
    return session.scalar(select(Entity.name).where(Entity.id == entity_id))


def _checked(
    session: Session,
    entity: Entity,
    *,
    conditions: Any,
    expression: Any,
    against: Entity | None,
) -> tuple[list[dict[str, Any]], str]:
    if expression is not None and not isinstance(expression, str):
        raise ValidationError(
            'expression: a string such as "1 AND (2 OR 3)"', details={"field": "expression"}
        )
    types, encrypted = field_types(session, entity.id)
    other, other_encrypted = field_types(session, against.id) if against else (None, ())
    compiled = compile_rule(
        id="",
        name="",
        conditions=conditions,
        expression=expression,
        types=types,
        other_types=other,
        encrypted=(*encrypted, *other_encrypted),
    )
    return [c.payload() for c in compiled.conditions], compiled.expression


def _against(session: Session, entity: Entity, value: Any) -> Entity | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("against: an entity name", details={"field": "against"})
    try:
        other = _entity(session, entity.workspace_id, value)
    except NotFoundError:
        raise ValidationError(
            f"against: no entity {value!r} in this workspace", details={"field": "against"}
        ) from None
    return None if other.id == entity.id else other


def create_matching_rule(
    *, session: Session, workspace_id: str, entity: str, body: Mapping[str, Any], region: str = "US"
) -> MatchingRule:
    target = _entity(session, workspace_id, entity)
    _known(body, _MATCHING_KEYS)
    name = _text(body.get("name"), "name", limit=200, required=True)
    against = _against(session, target, body.get("against"))
    conditions, expression = _checked(
        session,
        target,
        conditions=body.get("conditions"),
        expression=body.get("expression"),
        against=against,
    )
    count = session.scalar(
        select(func.count()).select_from(MatchingRule).where(MatchingRule.entity_id == target.id)
    )
    if (count or 0) >= MAX_RULES:
        raise ValidationError(f"an entity has at most {MAX_RULES} matching rules")
    _unique_name(session, MatchingRule, target.id, name)
    rule = MatchingRule(
        workspace_id=workspace_id,
        entity_id=target.id,
        against_entity_id=against.id if against else None,
        name=name,
        description=_text(body.get("description"), "description", limit=1000, required=False),
        conditions=conditions,
        expression=expression,
        active=_bool(body.get("active", True), "active"),
    )
    session.add(rule)
    session.flush()
    sync_blocks(session, against or target, region=region)
    return rule


def update_matching_rule(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    rule_id: str,
    body: Mapping[str, Any],
    region: str = "US",
) -> MatchingRule:
    rule = get_matching_rule(
        session=session, workspace_id=workspace_id, entity=entity, rule_id=rule_id
    )
    target = session.get(Entity, rule.entity_id)
    assert target is not None
    _known(body, _MATCHING_KEYS)
    old_target = rule.against_entity_id or rule.entity_id
    if "name" in body:
        name = _text(body["name"], "name", limit=200, required=True)
        if name != rule.name:
            _unique_name(session, MatchingRule, target.id, name)
        rule.name = name
    if "description" in body:
        rule.description = _text(body["description"], "description", limit=1000, required=False)
    against = session.get(Entity, rule.against_entity_id) if rule.against_entity_id else None
    if "against" in body:
        against = _against(session, target, body["against"])
    if {"conditions", "expression", "against"} & set(body):
        conditions = body.get("conditions", rule.conditions)
        expression = body.get("expression", rule.expression if "conditions" not in body else None)
        rule.conditions, rule.expression = _checked(
            session, target, conditions=conditions, expression=expression, against=against
        )
        rule.against_entity_id = against.id if against else None
    if "active" in body:
        rule.active = _bool(body["active"], "active")
    rule.version += 1
    rule.updated_at = utcnow()
    session.flush()
    for entity_id in {old_target, rule.against_entity_id or rule.entity_id}:
        changed = session.get(Entity, entity_id)
        if changed is not None:
            sync_blocks(session, changed, region=region)
    return rule


def delete_matching_rule(
    *, session: Session, workspace_id: str, entity: str, rule_id: str, region: str = "US"
) -> None:
    rule = get_matching_rule(
        session=session, workspace_id=workspace_id, entity=entity, rule_id=rule_id
    )
    if rule.standard:
        raise ConflictError(
            f"{rule.name!r} is a standard rule: deactivate it (PATCH active=false) instead"
        )
    users = [
        d.name
        for d in session.scalars(
            select(DuplicateRule).where(DuplicateRule.entity_id == rule.entity_id)
        )
        if rule.id in d.matching_rule_ids
    ]
    if users:
        raise ConflictError(
            f"matching rule {rule.name!r} is used by duplicate rule {users[0]!r}; "
            "remove it there first",
            details={"duplicate_rules": users},
        )
    target_id = rule.against_entity_id or rule.entity_id
    session.delete(rule)
    session.flush()
    target = session.get(Entity, target_id)
    if target is not None:
        sync_blocks(session, target, region=region)


def _unique_name(session: Session, table: Any, entity_id: str, name: str) -> None:
    taken = session.scalar(select(table.id).where(table.entity_id == entity_id, table.name == name))
    if taken:
        raise ConflictError(
            f"a rule named {name!r} exists already on this entity", details={"field": "name"}
        )


# --- duplicate rules CRUD ------------------------------------------------------------------


def list_duplicate_rules(
    *, session: Session, workspace_id: str, entity: str
) -> list[DuplicateRule]:
    return _rules_of(session, DuplicateRule, workspace_id, entity)


def get_duplicate_rule(
    *, session: Session, workspace_id: str, entity: str, rule_id: str
) -> DuplicateRule:
    """By id or by name."""
    return _rule(session, DuplicateRule, "duplicate rule", workspace_id, entity, rule_id)


def _action(value: Any, what: str) -> str:
    if value not in ACTIONS:
        raise ValidationError(
            f"{what}: one of {', '.join(ACTIONS)} (got {value!r})", details={"field": what}
        )
    return str(value)


def _matching_ids(session: Session, entity: Entity, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError(
            "matching_rules: a list of matching rule ids or names",
            details={"field": "matching_rules"},
        )
    if len(value) > MAX_MATCHING_PER_DUPLICATE:
        raise ValidationError(
            f"matching_rules: at most {MAX_MATCHING_PER_DUPLICATE}",
            details={"field": "matching_rules"},
        )
    ids: list[str] = []
    for ref in value:
        rule = session.scalar(
            select(MatchingRule).where(
                MatchingRule.entity_id == entity.id,
                or_(MatchingRule.id == ref, MatchingRule.name == ref),
            )
        )
        if rule is None:
            raise ValidationError(
                f"matching_rules: no matching rule {ref!r} on entity {entity.name!r}",
                details={"field": "matching_rules"},
            )
        if rule.id not in ids:
            ids.append(rule.id)
    return ids


_DUPLICATE_KEYS = frozenset(
    {
        "name",
        "description",
        "matching_rules",
        "action_on_create",
        "action_on_edit",
        "report",
        "include_deleted",
        "active",
    }
)


def create_duplicate_rule(
    *, session: Session, workspace_id: str, entity: str, body: Mapping[str, Any]
) -> DuplicateRule:
    target = _entity(session, workspace_id, entity)
    _known(body, _DUPLICATE_KEYS)
    name = _text(body.get("name"), "name", limit=200, required=True)
    rule = DuplicateRule(
        workspace_id=workspace_id,
        entity_id=target.id,
        name=name,
        description=_text(body.get("description"), "description", limit=1000, required=False),
        matching_rule_ids=_matching_ids(session, target, body.get("matching_rules")),
        action_on_create=_action(body.get("action_on_create", "allow"), "action_on_create"),
        action_on_edit=_action(body.get("action_on_edit", "allow"), "action_on_edit"),
        report=_bool(body.get("report", False), "report"),
        include_deleted=_bool(body.get("include_deleted", False), "include_deleted"),
        active=_bool(body.get("active", True), "active"),
    )
    count = session.scalar(
        select(func.count()).select_from(DuplicateRule).where(DuplicateRule.entity_id == target.id)
    )
    if (count or 0) >= MAX_RULES:
        raise ValidationError(f"an entity has at most {MAX_RULES} duplicate rules")
    _unique_name(session, DuplicateRule, target.id, name)
    session.add(rule)
    session.flush()
    return rule


def update_duplicate_rule(
    *, session: Session, workspace_id: str, entity: str, rule_id: str, body: Mapping[str, Any]
) -> DuplicateRule:
    rule = get_duplicate_rule(
        session=session, workspace_id=workspace_id, entity=entity, rule_id=rule_id
    )
    target = session.get(Entity, rule.entity_id)
    assert target is not None
    _known(body, _DUPLICATE_KEYS)
    if "name" in body:
        name = _text(body["name"], "name", limit=200, required=True)
        if name != rule.name:
            _unique_name(session, DuplicateRule, target.id, name)
        rule.name = name
    if "description" in body:
        rule.description = _text(body["description"], "description", limit=1000, required=False)
    if "matching_rules" in body:
        rule.matching_rule_ids = _matching_ids(session, target, body["matching_rules"])
    for key in ("action_on_create", "action_on_edit"):
        if key in body:
            setattr(rule, key, _action(body[key], key))
    for key in ("report", "include_deleted", "active"):
        if key in body:
            setattr(rule, key, _bool(body[key], key))
    rule.version += 1
    rule.updated_at = utcnow()
    session.flush()
    return rule


def delete_duplicate_rule(
    *, session: Session, workspace_id: str, entity: str, rule_id: str
) -> None:
    rule = get_duplicate_rule(
        session=session, workspace_id=workspace_id, entity=entity, rule_id=rule_id
    )
    if rule.standard:
        raise ConflictError(
            f"{rule.name!r} is a standard rule: deactivate it (PATCH active=false) instead"
        )
    session.delete(rule)
    session.flush()


#: audit kinds counted per duplicate rule, by statistic
STAT_KINDS: Mapping[str, str] = {
    "duplicate_alert": "alerts",
    "duplicate_blocked": "blocks",
    "duplicate_override": "overrides",
    "merge": "merges",
    "not_duplicate": "not_duplicates",
}


def rule_stats(
    session: Session, workspace_id: str, rule_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per duplicate rule: ``hits`` (saves that matched: alerts + blocks + overrides),
    ``alerts``, ``blocks``, ``overrides``, ``merges`` and ``not_duplicates`` (review outcomes
    of the sets the rule reported). One group-by over the audit log's rule index."""
    out = {rid: {"hits": 0, **dict.fromkeys(STAT_KINDS.values(), 0)} for rid in rule_ids}
    if not rule_ids:
        return out
    for rule_id, kind, count in session.execute(
        select(AuditEntry.rule_id, AuditEntry.kind, func.count())
        .where(
            AuditEntry.workspace_id == workspace_id,
            AuditEntry.rule_id.in_(list(rule_ids)),
            AuditEntry.kind.in_(list(STAT_KINDS)),
        )
        .group_by(AuditEntry.rule_id, AuditEntry.kind)
    ):
        stats = out[str(rule_id)]
        stats[STAT_KINDS[kind]] += count
        if kind in ("duplicate_alert", "duplicate_blocked", "duplicate_override"):
            stats["hits"] += count
    return out
