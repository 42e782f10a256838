"""Web forms: public submissions into an entity, through intake (seed 001).

A form maps its inputs to the fields of one entity::

    [{"name": "work_email", "field": "email", "label": "Work e-mail", "required": true}, …]

and picks its own action on a match-key hit (``dedup_mode``): ``skip`` (the default, for
re-capture forms), ``update`` (profile-refresh forms) or ``off`` (funnel forms where every
submission must create a lead). Every submission is kept with its decision in
``form_submissions`` — a conflict writes no record, so that row is its only trace.

Submitting needs no API key but the form's token (``wbf_…``, 192 random bits): like API keys
it is stored only as a SHA-256 hash, shown once at creation or rotation, and rotating it
retires the old one at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ..core.errors import DuplicatesDetected, InvalidKey, NotFoundError, ValidationError
from ..store.session import begin_write
from ..store.tables import Entity, Field, Form, FormSubmission
from . import intake
from .records import entity_named

__all__ = [
    "MAX_INPUTS",
    "TOKEN_PREFIX",
    "create_form",
    "delete_form",
    "entity_name",
    "get_form",
    "list_forms",
    "list_submissions",
    "public_form",
    "rotate_token",
    "submit_public",
    "update_form",
]

TOKEN_PREFIX = "wbf_"
MAX_INPUTS = 100
MAX_PAGE = 500
_INPUT = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
_RESERVED_INPUTS = frozenset({"token"})
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str, str]:
    """``(plaintext, prefix, hash)`` of a fresh token."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(24)
    return plaintext, plaintext[:12], _hash(plaintext)


# --- definitions ---------------------------------------------------------------------------


def _bad(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", details={"field": field})


def _name(value: str) -> str:
    value = (value or "").strip()
    if not 1 <= len(value) <= 200:
        raise _bad("name", "1 to 200 characters")
    return value


def _thank_you(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > 1000:
        raise _bad("thank_you", "at most 1000 characters")
    return value


def _inputs(session: Session, entity: Entity, inputs: Sequence[Any]) -> list[dict[str, Any]]:
    """Checked input definitions: unique input names, each mapped to a distinct field of the
    entity."""
    if not isinstance(inputs, Sequence) or isinstance(inputs, str) or not inputs:
        raise _bad("fields", "a list of at least one input")
    if len(inputs) > MAX_INPUTS:
        raise _bad("fields", f"at most {MAX_INPUTS} inputs")
    labels = dict(
        session.execute(select(Field.name, Field.label).where(Field.entity_id == entity.id)).all()
    )
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    targets: set[str] = set()
    for i, item in enumerate(inputs):
        where = f"fields[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"name", "field", "label", "required"}:
            raise _bad(where, 'an object {"name", "field", "label", "required"}')
        target = str(item.get("field") or "").strip()
        name = str(item.get("name") or target).strip()
        if not _INPUT.match(name) or name in _RESERVED_INPUTS:
            raise _bad(
                f"{where}.name",
                "letters, digits, _ . - (starting with a letter, at most 64), not 'token'",
            )
        if target not in labels:
            raise _bad(f"{where}.field", f"entity {entity.name!r} has no field {target!r}")
        if name in names:
            raise _bad(f"{where}.name", f"input {name!r} is defined twice")
        if target in targets:
            raise _bad(f"{where}.field", f"field {target!r} is mapped twice")
        label = str(item.get("label") or labels[target] or target).strip()
        if len(label) > 200:
            raise _bad(f"{where}.label", "at most 200 characters")
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise _bad(f"{where}.required", "true or false")
        names.add(name)
        targets.add(target)
        out.append({"name": name, "field": target, "label": label, "required": required})
    return out


def create_form(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    name: str,
    fields: Sequence[Any],
    dedup_mode: str = "skip",
    thank_you: str | None = None,
) -> tuple[Form, str]:
    """A new form; returns it and its submission token (shown once)."""
    target = entity_named(session=session, workspace_id=workspace_id, name=entity)
    plaintext, prefix, digest = _new_token()
    form = Form(
        workspace_id=workspace_id,
        entity_id=target.id,
        name=_name(name),
        fields=_inputs(session, target, fields),
        dedup_mode=intake.parse_mode(dedup_mode),
        token_prefix=prefix,
        token_hash=digest,
        thank_you=_thank_you(thank_you),
        active=True,
    )
    session.add(form)
    session.flush()
    return form, plaintext


def list_forms(*, session: Session, workspace_id: str) -> list[Form]:
    return list(
        session.scalars(
            select(Form).where(Form.workspace_id == workspace_id).order_by(Form.created_at, Form.id)
        )
    )


def get_form(*, session: Session, workspace_id: str, form_id: str) -> Form:
    form = session.scalar(select(Form).where(Form.id == form_id, Form.workspace_id == workspace_id))
    if form is None:
        raise NotFoundError(f"no form {form_id!r} in this workspace")
    return form


def entity_name(*, session: Session, form: Form) -> str:
    name = session.scalar(select(Entity.name).where(Entity.id == form.entity_id))
    if name is None:
        raise NotFoundError("the form's entity no longer exists")
    return name


def update_form(
    *,
    session: Session,
    workspace_id: str,
    form_id: str,
    name: str | None = None,
    fields: Sequence[Any] | None = None,
    dedup_mode: str | None = None,
    thank_you: str | None = None,
    active: bool | None = None,
) -> Form:
    """Change what is given; the rest stays (the entity and the token do not change here)."""
    form = get_form(session=session, workspace_id=workspace_id, form_id=form_id)
    if name is not None:
        form.name = _name(name)
    if fields is not None:
        target = session.get(Entity, form.entity_id)
        if target is None:
            raise NotFoundError("the form's entity no longer exists")
        form.fields = _inputs(session, target, fields)
    if dedup_mode is not None:
        form.dedup_mode = intake.parse_mode(dedup_mode)
    if thank_you is not None:
        form.thank_you = _thank_you(thank_you)
    if active is not None:
        form.active = bool(active)
    session.flush()
    return form


def delete_form(*, session: Session, workspace_id: str, form_id: str) -> None:
    """Delete the form and its submission log (records it created stay)."""
    session.delete(get_form(session=session, workspace_id=workspace_id, form_id=form_id))
    session.flush()


def rotate_token(*, session: Session, workspace_id: str, form_id: str) -> tuple[Form, str]:
    """A new token for the form; the old one stops working at once. Returns the plaintext."""
    form = get_form(session=session, workspace_id=workspace_id, form_id=form_id)
    plaintext, form.token_prefix, form.token_hash = _new_token()
    session.flush()
    return form, plaintext


# --- submissions ---------------------------------------------------------------------------


def _authorised(session: Session, token: str | None, form_id: str) -> Form:
    token = (token or "").strip()
    if not token:
        raise InvalidKey("missing form token: send X-Form-Token or a 'token' field")
    if (
        not token.startswith(TOKEN_PREFIX)
        or len(token) > 100
        or not set(token[len(TOKEN_PREFIX) :]) <= _TOKEN_CHARS
    ):
        raise InvalidKey("malformed form token")
    form = session.scalar(select(Form).where(Form.id == form_id, Form.token_hash == _hash(token)))
    if form is None:  # one answer whether the form exists or not: ids must not be probed
        raise NotFoundError(f"no form {form_id!r} takes this token")
    if not form.active:
        raise NotFoundError(f"form {form_id!r} is not accepting submissions")
    return form


def public_form(*, session: Session, token: str | None, form_id: str) -> Form:
    """The form a public page shows: the same token and ``active`` checks as a submission
    (``InvalidKey`` for a missing or wrong token, ``NotFoundError`` for no such form)."""
    return _authorised(session, token, form_id)


def _mapped(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """Input values → field values, checking required and unknown inputs."""
    if not isinstance(values, Mapping):
        raise _bad("data", "an object of input values")
    by_name = {item["name"]: item for item in form.fields}
    unknown = sorted(str(k) for k in values if k not in by_name)
    if unknown:
        raise ValidationError(
            f"{unknown[0]}: this form has no input {unknown[0]!r}", details={"field": unknown[0]}
        )
    data: dict[str, Any] = {}
    for name, item in by_name.items():
        value = values.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value in ("", []):
            if item.get("required"):
                raise ValidationError(
                    f"{name}: {item.get('label') or name} is required", details={"field": name}
                )
            continue
        data[item["field"]] = value
    return data


def _renamed(error: ValidationError, form: Form) -> ValidationError:
    """An intake error about ``data.<field>`` as one about the form's input."""
    field = str(error.details.get("field") or "")
    for item in form.fields:
        if field == f"data.{item['field']}":
            message = error.message.removeprefix(f"{field}: ")
            return ValidationError(f"{item['name']}: {message}", details={"field": item["name"]})
    return error


def submit_public(
    *,
    session: Session,
    token: str | None,
    form_id: str,
    values: Mapping[str, Any],
    region: str = "US",
) -> tuple[Form, intake.Outcome, FormSubmission]:
    """One public submission: the token must be the form's, the form active, the required
    inputs filled and no unknown input sent; then intake with source ``form`` and the form's
    ``dedup_mode``, and the outcome logged (``blocked`` when a duplicate rule refused it).
    Call on a session that has not begun yet."""
    begin_write(session)  # intake's write transaction, begun before the first read
    form = _authorised(session, token, form_id)
    data = _mapped(form, values)
    try:
        outcome = intake.submit(
            session=session,
            workspace_id=form.workspace_id,
            entity=entity_name(session=session, form=form),
            inbound=intake.Inbound(data=data),
            source="form",
            mode=form.dedup_mode,
            region=region,
            actor=f"form:{form.id}",
        )
    except ValidationError as exc:
        raise _renamed(exc, form) from None
    except DuplicatesDetected as exc:
        # a blocking duplicate rule: nothing saved (the audit entry is committed); the
        # submitter sees the same thank-you page, so a form cannot probe for records
        matched = [m["record_id"] for m in exc.details.get("matches", [])]
        outcome = intake.Outcome(0, "blocked", matches=matched)
    submission = FormSubmission(
        workspace_id=form.workspace_id,
        form_id=form.id,
        decision=outcome.decision,
        record_id=outcome.record_id,
        matches=list(outcome.matches),
        matched_by=outcome.matched_by,
        changed_fields=list(outcome.changed_fields),
    )
    session.add(submission)
    session.flush()
    return form, outcome, submission


def list_submissions(
    *,
    session: Session,
    workspace_id: str,
    form_id: str,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[FormSubmission], str | None]:
    """A page of the form's submissions, oldest first (keyset on created_at, id)."""
    if not 1 <= limit <= MAX_PAGE:
        raise _bad("limit", f"between 1 and {MAX_PAGE}")
    form = get_form(session=session, workspace_id=workspace_id, form_id=form_id)
    query = select(FormSubmission).where(FormSubmission.form_id == form.id)
    if cursor:
        after_time, after_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                FormSubmission.created_at > after_time,
                and_(FormSubmission.created_at == after_time, FormSubmission.id > after_id),
            )
        )
    rows = list(
        session.scalars(
            query.order_by(FormSubmission.created_at, FormSubmission.id).limit(limit + 1)
        )
    )
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _encode_cursor(row: FormSubmission) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(stamp), str(row_id)
    except Exception:
        raise _bad("cursor", "not a cursor this API gave out") from None
