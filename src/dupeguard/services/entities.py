"""Entities, their fields, and match keys (seed 001: identity lives on the entity).

A field is a match key when ``match_key`` is set; ``match_key_priority`` (1, 2, …) orders the
keys. Only plain scalar values you own can be keys (:func:`match_key_ineligibility`). Every
record's normalised key values are kept in ``record_keys``; marking a field as a key fills in
the values of the records already stored, unmarking it removes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.fields import FieldType, match_key_ineligibility
from ..core.keys import key_value
from ..store.tables import Entity, Field, Record, RecordKey
from . import crypto

__all__ = [
    "MAX_CHOICES",
    "create_entity",
    "create_field",
    "entity_of",
    "field_named",
    "list_entities",
    "list_fields",
    "match_key_fields",
    "move_match_key",
    "set_match_keys",
    "update_field",
]

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_CHOICES = 500
_BACKFILL_CHUNK = 5_000
_RESERVED_FIELDS = frozenset({"id", "record_id", "created_at", "updated_at", "deleted_at"})


def _name(value: str, what: str) -> str:
    value = value.strip()
    if not NAME.match(value):
        raise ValidationError(
            f"{what}: lower-case letters, digits and _ (starting with a letter, at most 64)",
            details={"field": what},
        )
    return value


def _label(value: str | None, default: str) -> str:
    label = (value or "").strip() or default
    if len(label) > 200:
        raise ValidationError("label: at most 200 characters", details={"field": "label"})
    return label


def list_entities(*, session: Session, workspace_id: str) -> list[Entity]:
    return list(
        session.scalars(
            select(Entity)
            .where(Entity.workspace_id == workspace_id)
            .order_by(Entity.builtin.desc(), Entity.name)
        )
    )


def create_entity(
    *, session: Session, workspace_id: str, name: str, label: str | None = None
) -> Entity:
    """A custom entity (a record type of your own); it starts with no fields."""
    name = _name(name, "name")
    if session.scalar(
        select(Entity.id).where(Entity.workspace_id == workspace_id, Entity.name == name)
    ):
        raise ConflictError(f"an entity named {name!r} exists", details={"field": "name"})
    entity = Entity(
        workspace_id=workspace_id,
        name=name,
        label=_label(label, name.replace("_", " ").title()),
        builtin=False,
    )
    session.add(entity)
    session.flush()
    return entity


def entity_of(*, session: Session, workspace_id: str, name: str) -> Entity:
    entity = session.scalar(
        select(Entity).where(Entity.workspace_id == workspace_id, Entity.name == name)
    )
    if entity is None:
        raise NotFoundError(f"no entity {name!r} in this workspace")
    return entity


def list_fields(*, session: Session, workspace_id: str, entity: str) -> list[Field]:
    target = entity_of(session=session, workspace_id=workspace_id, name=entity)
    return list(
        session.scalars(
            select(Field)
            .where(Field.entity_id == target.id)
            .order_by(Field.builtin.desc(), Field.created_at, Field.name)
        )
    )


def field_named(*, session: Session, workspace_id: str, entity: str, name: str) -> Field:
    target = entity_of(session=session, workspace_id=workspace_id, name=entity)
    field = session.scalar(select(Field).where(Field.entity_id == target.id, Field.name == name))
    if field is None:
        raise NotFoundError(f"no field {name!r} on entity {entity!r}", details={"field": name})
    return field


def _options(field_type: FieldType, options: Mapping[str, Any] | None) -> dict[str, Any]:
    if not options:
        return {}
    unknown = set(options) - {"choices"}
    if unknown:
        raise ValidationError(
            f"options: unknown option {sorted(unknown)[0]!r} (known: choices)",
            details={"field": "options"},
        )
    choices = options.get("choices")
    if choices is None:
        return {}
    if field_type not in (FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT):
        raise ValidationError(
            "options.choices: only select fields have choices", details={"field": "options"}
        )
    if (
        not isinstance(choices, list)
        or len(choices) > MAX_CHOICES
        or not all(isinstance(c, str) and c.strip() and len(c) <= 200 for c in choices)
    ):
        raise ValidationError(
            f"options.choices: a list of at most {MAX_CHOICES} non-empty strings",
            details={"field": "options"},
        )
    return {"choices": list(dict.fromkeys(c.strip() for c in choices))}


def create_field(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    name: str,
    type: str,
    label: str | None = None,
    encrypted: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Field:
    """A custom field on an entity (built-in or custom)."""
    target = entity_of(session=session, workspace_id=workspace_id, name=entity)
    name = _name(name, "name")
    if name in _RESERVED_FIELDS:
        raise ValidationError(f"name: {name!r} is reserved", details={"field": "name"})
    try:
        field_type = FieldType(type)
    except ValueError:
        raise ValidationError(
            f"type: one of {', '.join(t.value for t in FieldType)}", details={"field": "type"}
        ) from None
    if encrypted:
        crypto.require()
    if session.scalar(select(Field.id).where(Field.entity_id == target.id, Field.name == name)):
        raise ConflictError(
            f"entity {entity!r} already has a field {name!r}", details={"field": "name"}
        )
    field = Field(
        workspace_id=workspace_id,
        entity_id=target.id,
        name=name,
        label=_label(label, name.replace("_", " ").capitalize()),
        type=field_type.value,
        builtin=False,
        encrypted=bool(encrypted),
        options=_options(field_type, options),
    )
    session.add(field)
    session.flush()
    return field


def match_key_fields(*, session: Session, entity_id: str) -> list[Field]:
    """The entity's match keys in priority order."""
    return list(
        session.scalars(
            select(Field)
            .where(Field.entity_id == entity_id, Field.match_key.is_(True))
            .order_by(Field.match_key_priority, Field.name)
        )
    )


def _refuse_ineligible(field: Field) -> None:
    reason = match_key_ineligibility(FieldType(field.type), encrypted=field.encrypted)
    if reason is not None:
        raise ValidationError(
            f"field {field.name!r} cannot be a match key: {reason}",
            details={"field": "match_key", "reason": reason, "type": field.type},
        )


def update_field(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    name: str,
    label: str | None = None,
    match_key: bool | None = None,
    encrypted: bool | None = None,
    options: Mapping[str, Any] | None = None,
    region: str = "US",
) -> Field:
    """Change a field's label, options, encrypted flag or match-key flag (saved at once).

    A new match key goes last in the priority order; removing one closes the gap.
    """
    field = field_named(session=session, workspace_id=workspace_id, entity=entity, name=name)
    if label is not None:
        field.label = _label(label, field.label)
    if options is not None:
        field.options = _options(FieldType(field.type), options)
    if encrypted is not None and encrypted != field.encrypted:
        if field.builtin:
            raise ValidationError(
                "encrypted: built-in fields cannot be encrypted", details={"field": "encrypted"}
            )
        if encrypted and field.match_key:
            raise ValidationError(
                f"field {field.name!r} is a match key: remove it from the match keys before "
                "marking it encrypted",
                details={"field": "encrypted"},
            )
        if encrypted:
            crypto.require()
        field.encrypted = encrypted
        _reseal(session, field, encrypt=encrypted)
    if match_key is not None and match_key != field.match_key:
        keys = [f.name for f in match_key_fields(session=session, entity_id=field.entity_id)]
        keys = [*keys, field.name] if match_key else [k for k in keys if k != field.name]
        set_match_keys(
            session=session, workspace_id=workspace_id, entity=entity, fields=keys, region=region
        )
    session.flush()
    return field


def set_match_keys(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    fields: Sequence[str],
    region: str = "US",
) -> list[Field]:
    """Make exactly ``fields`` the entity's match keys, in this priority order."""
    target = entity_of(session=session, workspace_id=workspace_id, name=entity)
    if len(set(fields)) != len(fields):
        raise ValidationError("fields: a field is listed twice", details={"field": "fields"})
    by_name = {
        f.name: f for f in session.scalars(select(Field).where(Field.entity_id == target.id))
    }
    missing = [n for n in fields if n not in by_name]
    if missing:  # the entity exists; a wrong name in the body is the body's fault
        raise ValidationError(
            f"fields: no field {missing[0]!r} on entity {entity!r}", details={"field": "fields"}
        )
    for name in fields:
        _refuse_ineligible(by_name[name])
    wanted = set(fields)
    for field in by_name.values():
        if field.match_key and field.name not in wanted:
            field.match_key, field.match_key_priority = False, None
            session.execute(
                delete(RecordKey).where(
                    RecordKey.entity_id == target.id, RecordKey.key == field.name
                )
            )
    for priority, name in enumerate(fields, 1):
        field = by_name[name]
        newly = not field.match_key
        field.match_key, field.match_key_priority = True, priority
        if newly:
            _backfill(session, target, field, region)
    session.flush()
    return [by_name[n] for n in fields]


def move_match_key(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    name: str,
    up: bool,
    region: str = "US",
) -> list[Field]:
    """Move the match key ``name`` one place up (higher priority) or down; at either end it
    stays where it is. Returns the keys in their new order."""
    target = entity_of(session=session, workspace_id=workspace_id, name=entity)
    keys = [f.name for f in match_key_fields(session=session, entity_id=target.id)]
    if name not in keys:
        field_named(session=session, workspace_id=workspace_id, entity=entity, name=name)
        raise ValidationError(f"field {name!r} is not a match key", details={"field": "match_key"})
    at = keys.index(name)
    to = at - 1 if up else at + 1
    if 0 <= to < len(keys):
        keys[at], keys[to] = keys[to], keys[at]
    return set_match_keys(
        session=session, workspace_id=workspace_id, entity=entity, fields=keys, region=region
    )


def _reseal(session: Session, field: Field, *, encrypt: bool) -> None:
    """Encrypt (or decrypt) the field's stored values when its ``encrypted`` flag changes,
    so no plaintext stays at rest."""
    value_of = Record.data[field.name]
    after = ""
    while True:
        records = session.scalars(
            select(Record)
            .where(
                Record.entity_id == field.entity_id,
                Record.id > after,
                func.coalesce(value_of.as_string(), "") != "",
            )
            .order_by(Record.id)
            .limit(_BACKFILL_CHUNK)
        ).all()
        if not records:
            return
        after = records[-1].id
        for record in records:
            change = crypto.seal if encrypt else crypto.unseal
            record.data = change(record.data, [field.name])
        session.flush()


def _backfill(session: Session, entity: Entity, field: Field, region: str) -> None:
    """Index the key values of every stored record of the entity (deleted ones too: a restore
    must find its keys in place)."""
    field_type = FieldType(field.type)
    session.execute(
        delete(RecordKey).where(RecordKey.entity_id == entity.id, RecordKey.key == field.name)
    )
    value_of = Record.data[field.name].as_string()
    after = ""
    while True:
        rows = session.execute(
            select(Record.id, value_of)
            .where(
                Record.workspace_id == entity.workspace_id,
                Record.entity_id == entity.id,
                Record.id > after,
                func.coalesce(value_of, "") != "",
            )
            .order_by(Record.id)
            .limit(_BACKFILL_CHUNK)
        ).all()
        if not rows:
            return
        after = rows[-1][0]
        batch = []
        for record_id, raw in rows:
            value = key_value(field_type, raw, region=region)
            if value is not None:
                batch.append(
                    {
                        "record_id": record_id,
                        "key": field.name,
                        "workspace_id": entity.workspace_id,
                        "entity_id": entity.id,
                        "value": value,
                    }
                )
        if batch:
            session.execute(insert(RecordKey), batch)
