"""Entities → Fields (seed 001): the entities, their fields, and the match keys.

- ``/entities``: built-in and custom entities; an admin creates a custom one.
- ``/entities/{name}``: the Fields tab — the priority strip (two or more keys, ↑/↓ to
  reorder), the fields with "Edit Field", and (admin) a form to add a field.
- ``/entities/{name}/fields/{field}?tab=general|rules``: the Edit Field panel; its Rules tab
  holds "Use as match key for duplicate detection", disabled with the reason for a type that
  cannot be a key (the same rule the API applies: ``core.fields.match_key_ineligibility``).

Every change is one POST that saves at once (with JavaScript the checkbox submits itself).
Members see everything and change nothing (controls hidden or disabled; POSTs answer 403).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from sqlalchemy.orm import Session

from ...api.deps import SessionDep, region_of
from ...core.errors import ConflictError, ValidationError
from ...core.fields import FieldType, match_key_ineligibility
from ...services import entities as svc
from ..auth import AdminDep, ViewerDep
from ..pages import flash, page_router, render, run_once

router = page_router()

Name = Annotated[str, Path(max_length=64)]
TABS = ("general", "rules")
TYPES = [t.value for t in FieldType]


def _form(request: Request) -> Any:
    return request.state.form


@router.get("/entities")
def entity_list(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    entities = svc.list_entities(session=session, workspace_id=viewer.workspace_id)
    return render(request, "entities/list.html", {"entities": entities, "typed": {}})


@router.post("/entities")
def entity_create(request: Request, viewer: AdminDep, session: SessionDep) -> Response:
    form = _form(request)
    name = str(form.get("name", "")).strip()
    label = str(form.get("label", "")).strip()

    def work(work_session: Session) -> str:
        entity = svc.create_entity(
            session=work_session, workspace_id=viewer.workspace_id, name=name, label=label
        )
        flash(request, f"Entity {entity.label} created. Add its fields below.", "success")
        return f"/entities/{entity.name}"

    try:
        return run_once(request, viewer, work)
    except (ValidationError, ConflictError) as exc:
        flash(request, exc.message, "error")
        entities = svc.list_entities(session=session, workspace_id=viewer.workspace_id)
        return render(
            request,
            "entities/list.html",
            {"entities": entities, "typed": {"name": name, "label": label}},
            status_code=400,
        )


def _fields_page(
    request: Request,
    viewer: Any,
    session: Session,
    name: str,
    typed: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    entity = svc.entity_of(session=session, workspace_id=viewer.workspace_id, name=name)
    fields = svc.list_fields(session=session, workspace_id=viewer.workspace_id, entity=name)
    keys = svc.match_key_fields(session=session, entity_id=entity.id)
    return render(
        request,
        "entities/fields.html",
        {
            "entity": entity,
            "fields": fields,
            "keys": keys,
            "types": TYPES,
            "typed": typed or {},
        },
        status_code=status_code,
    )


@router.get("/entities/{name}")
def entity_fields(request: Request, viewer: ViewerDep, session: SessionDep, name: Name) -> Response:
    return _fields_page(request, viewer, session, name)


@router.post("/entities/{name}/fields")
def field_create(request: Request, viewer: AdminDep, session: SessionDep, name: Name) -> Response:
    form = _form(request)
    typed = {
        "name": str(form.get("name", "")).strip(),
        "label": str(form.get("label", "")).strip(),
        "type": str(form.get("type", "text")),
        "encrypted": form.get("encrypted") == "on",
        "choices": str(form.get("choices", "")),
    }
    choices = [c.strip() for c in typed["choices"].splitlines() if c.strip()]

    def work(work_session: Session) -> str:
        field = svc.create_field(
            session=work_session,
            workspace_id=viewer.workspace_id,
            entity=name,
            name=typed["name"],
            type=typed["type"],
            label=typed["label"],
            encrypted=typed["encrypted"],
            options={"choices": choices} if choices else None,
        )
        flash(request, f"Field {field.label} added.", "success")
        return f"/entities/{name}"

    try:
        return run_once(request, viewer, work)
    except (ValidationError, ConflictError) as exc:
        flash(request, exc.message, "error")
        return _fields_page(request, viewer, session, name, typed, status_code=400)


@router.post("/entities/{name}/keys/{field}/move")
def key_move(request: Request, viewer: AdminDep, name: Name, field: Name) -> Response:
    up = _form(request).get("direction") != "down"

    def work(work_session: Session) -> str:
        keys = svc.move_match_key(
            session=work_session,
            workspace_id=viewer.workspace_id,
            entity=name,
            name=field,
            up=up,
            region=region_of(request),
        )
        order = ", ".join(k.label for k in keys)
        flash(request, f"Match key order saved: {order}.", "success")
        return f"/entities/{name}"

    return run_once(request, viewer, work)


@router.get("/entities/{name}/fields/{field}")
def field_edit(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    name: Name,
    field: Name,
    tab: Annotated[str, Query(max_length=16)] = "general",
) -> Response:
    entity = svc.entity_of(session=session, workspace_id=viewer.workspace_id, name=name)
    target = svc.field_named(
        session=session, workspace_id=viewer.workspace_id, entity=name, name=field
    )
    reason = match_key_ineligibility(FieldType(target.type), encrypted=target.encrypted)
    keys = svc.match_key_fields(session=session, entity_id=entity.id)
    return render(
        request,
        "entities/field.html",
        {
            "entity": entity,
            "field": target,
            "tab": tab if tab in TABS else "general",
            "reason": reason,
            "keys": keys,
        },
    )


@router.post("/entities/{name}/fields/{field}/match-key")
def field_match_key(request: Request, viewer: AdminDep, name: Name, field: Name) -> Response:
    wanted = _form(request).get("match_key") == "on"

    def work(work_session: Session) -> str:
        target = svc.update_field(
            session=work_session,
            workspace_id=viewer.workspace_id,
            entity=name,
            name=field,
            match_key=wanted,
            region=region_of(request),
        )
        if wanted:
            flash(request, f"{target.label} is now a match key.", "success")
        else:
            flash(request, f"{target.label} is no longer a match key.", "success")
        return f"/entities/{name}/fields/{field}?tab=rules"

    return run_once(request, viewer, work)


@router.post("/entities/{name}/fields/{field}")
def field_update(request: Request, viewer: AdminDep, name: Name, field: Name) -> Response:
    label = str(_form(request).get("label", ""))

    def work(work_session: Session) -> str:
        target = svc.update_field(
            session=work_session,
            workspace_id=viewer.workspace_id,
            entity=name,
            name=field,
            label=label,
        )
        flash(request, f"Field {target.label} saved.", "success")
        return f"/entities/{name}/fields/{field}"

    return run_once(request, viewer, work)
