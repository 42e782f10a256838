"""Forms (seed 001): the list, the form builder, and the public page of each form.

- ``/forms``: the workspace's forms.
- ``/forms/new`` and ``/forms/{id}`` (admin to change): the builder — the entity (fixed once
  created), its fields as inputs (include, input name, label, required), the thank-you
  message and Settings → Submission → Duplicate detection (Skip / Update / Off; Skip
  preselected). Creating a form shows its public URL with the token once (only its hash is
  stored); "New token" rotates it. The form's page lists its submissions with their
  decisions (keyset-paged).
- ``/f/{id}?token=wbf_…``: the public page, no sign-in. It posts the token with the inputs,
  like the API's ``POST /v1/forms/{id}/submissions`` (same service, same per-form and
  per-address rate limit) and shows the thank-you page whatever the decision: the answer
  tells a visitor nothing about what is already stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from ...api.deps import SessionDep
from ...api.routes.forms import _limit
from ...core.errors import InvalidKey, NotFoundError, ValidationError
from ...services import entities as entity_svc
from ...services import forms as svc
from ...store.session import session_scope
from ...store.tables import Field, Form
from ..auth import AdminDep, ViewerDep
from ..pages import Pager, flash, page_router, render, run_once

router = page_router()

FormId = Annotated[str, Path(max_length=64)]
PAGE_SIZE = 50
MODE_LABELS = {
    "skip": "Skip duplicates (keep the existing record)",
    "update": "Update the existing record",
    "off": "Off, always create a new record",
}
_INPUT_TYPES = {
    "email": "email",
    "number": "number",
    "date": "date",
    "url": "url",
    "phone": "tel",
}


def _public_url(request: Request, form_id: str, token: str | None = None) -> str:
    base = str(request.base_url).rstrip("/")
    return f"{base}/f/{form_id}?token={token or '…'}"


@router.get("/forms")
def form_list(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    forms = svc.list_forms(session=session, workspace_id=viewer.workspace_id)
    names = {
        e.id: e.label
        for e in entity_svc.list_entities(session=session, workspace_id=viewer.workspace_id)
    }
    return render(
        request, "forms/list.html", {"forms": forms, "entities": names, "modes": MODE_LABELS}
    )


# --- the builder ---------------------------------------------------------------------------


def _rows(fields: list[Field], inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One builder row per entity field: included or not, with the input's settings."""
    by_field = {item["field"]: item for item in inputs}
    rows = []
    for f in fields:
        item = by_field.get(f.name)
        rows.append(
            {
                "field": f,
                "include": item is not None,
                "name": item["name"] if item else f.name,
                "label": item["label"] if item else f.label,
                "required": bool(item and item.get("required")),
            }
        )
    return rows


def _typed_inputs(request: Request, fields: list[Field]) -> list[dict[str, Any]]:
    """The builder's rows as the service's input definitions (entity field order)."""
    form = request.state.form
    inputs = []
    for f in fields:
        if form.get(f"include_{f.name}") != "on":
            continue
        inputs.append(
            {
                "name": str(form.get(f"name_{f.name}", "") or f.name).strip(),
                "field": f.name,
                "label": str(form.get(f"label_{f.name}", "")).strip(),
                "required": form.get(f"required_{f.name}") == "on",
            }
        )
    return inputs


def _builder(
    request: Request,
    viewer: Any,
    session: Session,
    *,
    entity: str,
    values: dict[str, Any],
    inputs: list[dict[str, Any]],
    form: Form | None = None,
    status_code: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response:
    entities = entity_svc.list_entities(session=session, workspace_id=viewer.workspace_id)
    fields = entity_svc.list_fields(
        session=session, workspace_id=viewer.workspace_id, entity=entity
    )
    entity_row = next(e for e in entities if e.name == entity)
    keys = entity_svc.match_key_fields(session=session, entity_id=entity_row.id)
    context = {
        "form": form,
        "entities": entities,
        "entity": entity_row,
        "rows": _rows(fields, inputs),
        "values": values,
        "modes": MODE_LABELS,
        "keys": keys,
        **(extra or {}),
    }
    return render(request, "forms/builder.html", context, status_code=status_code)


@router.get("/forms/new")
def form_new(
    request: Request,
    viewer: AdminDep,
    session: SessionDep,
    entity: Annotated[str, Query(max_length=64)] = "contact",
) -> Response:
    entities = entity_svc.list_entities(session=session, workspace_id=viewer.workspace_id)
    if entity not in {e.name for e in entities}:
        entity = entities[0].name if entities else entity
    fields = entity_svc.list_fields(
        session=session, workspace_id=viewer.workspace_id, entity=entity
    )
    inputs = [
        {"name": f.name, "field": f.name, "label": f.label, "required": f.type == "email"}
        for f in fields
        if f.type in ("email", "text") and f.name in ("first_name", "last_name", "email")
    ]
    values = {"name": "", "thank_you": "Thank you! We will be in touch.", "dedup_mode": "skip"}
    return _builder(request, viewer, session, entity=entity, values=values, inputs=inputs)


@router.post("/forms/new")
def form_create(request: Request, viewer: AdminDep, session: SessionDep) -> Response:
    typed = request.state.form
    entity = str(typed.get("entity", ""))
    fields = entity_svc.list_fields(
        session=session, workspace_id=viewer.workspace_id, entity=entity
    )
    inputs = _typed_inputs(request, fields)
    values = {
        "name": str(typed.get("name", "")),
        "thank_you": str(typed.get("thank_you", "")),
        "dedup_mode": str(typed.get("dedup_mode", "skip")),
    }
    created: dict[str, str] = {}

    def work(work_session: Session) -> str:
        form, token = svc.create_form(
            session=work_session,
            workspace_id=viewer.workspace_id,
            entity=entity,
            name=values["name"],
            fields=inputs,
            dedup_mode=values["dedup_mode"],
            thank_you=values["thank_you"],
        )
        created.update(id=form.id, name=form.name, token=token)
        return f"/forms/{form.id}"

    try:
        response = run_once(request, viewer, work)
    except ValidationError as exc:
        flash(request, exc.message, "error")
        return _builder(
            request, viewer, session, entity=entity, values=values, inputs=inputs, status_code=400
        )
    if not created:  # the same form sent twice: the token was shown the first time
        return response
    return render(
        request,
        "forms/created.html",
        {
            "form_id": created["id"],
            "name": created["name"],
            "token": created["token"],
            "public_url": _public_url(request, created["id"], created["token"]),
        },
        status_code=201,
    )


@router.get("/forms/{form_id}")
def form_detail(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    form_id: FormId,
    after: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    form = svc.get_form(session=session, workspace_id=viewer.workspace_id, form_id=form_id)
    entity = svc.entity_name(session=session, form=form)
    try:
        submissions, next_cursor = svc.list_submissions(
            session=session,
            workspace_id=viewer.workspace_id,
            form_id=form.id,
            limit=PAGE_SIZE,
            cursor=after,
        )
    except ValidationError as exc:
        flash(request, exc.message, "error")
        after = None
        submissions, next_cursor = svc.list_submissions(
            session=session, workspace_id=viewer.workspace_id, form_id=form.id, limit=PAGE_SIZE
        )
    values = {
        "name": form.name,
        "thank_you": form.thank_you,
        "dedup_mode": form.dedup_mode,
        "active": form.active,
    }
    return _builder(
        request,
        viewer,
        session,
        entity=entity,
        values=values,
        inputs=list(form.fields),
        form=form,
        extra={
            "submissions": submissions,
            "pages": Pager(f"/forms/{form.id}", {}, after, next_cursor),
            "public_url": _public_url(request, form.id),
        },
    )


@router.post("/forms/{form_id}")
def form_update(
    request: Request, viewer: AdminDep, session: SessionDep, form_id: FormId
) -> Response:
    form = svc.get_form(session=session, workspace_id=viewer.workspace_id, form_id=form_id)
    entity = svc.entity_name(session=session, form=form)
    fields = entity_svc.list_fields(
        session=session, workspace_id=viewer.workspace_id, entity=entity
    )
    typed = request.state.form
    inputs = _typed_inputs(request, fields)
    values = {
        "name": str(typed.get("name", "")),
        "thank_you": str(typed.get("thank_you", "")),
        "dedup_mode": str(typed.get("dedup_mode", "skip")),
        "active": typed.get("active") == "on",
    }

    def work(work_session: Session) -> str:
        svc.update_form(
            session=work_session,
            workspace_id=viewer.workspace_id,
            form_id=form_id,
            fields=inputs,
            **values,
        )
        flash(request, "Form saved.", "success")
        return f"/forms/{form_id}"

    try:
        return run_once(request, viewer, work)
    except ValidationError as exc:
        flash(request, exc.message, "error")
        return _builder(
            request,
            viewer,
            session,
            entity=entity,
            values=values,
            inputs=inputs,
            form=form,
            status_code=400,
            extra={"submissions": [], "pages": None, "public_url": _public_url(request, form.id)},
        )


@router.post("/forms/{form_id}/rotate-token")
def form_rotate(request: Request, viewer: AdminDep, form_id: FormId) -> Response:
    created: dict[str, str] = {}

    def work(work_session: Session) -> str:
        form, token = svc.rotate_token(
            session=work_session, workspace_id=viewer.workspace_id, form_id=form_id
        )
        created.update(id=form.id, name=form.name, token=token)
        return f"/forms/{form.id}"

    response = run_once(request, viewer, work)
    if not created:
        return response
    return render(
        request,
        "forms/created.html",
        {
            "form_id": created["id"],
            "name": created["name"],
            "token": created["token"],
            "public_url": _public_url(request, created["id"], created["token"]),
            "rotated": True,
        },
    )


# --- the public page -----------------------------------------------------------------------

_GONE = "This form is not available. Check the link you were given."


def _public_inputs(session: Session, form: Form) -> list[dict[str, Any]]:
    """The form's inputs with how to render each (HTML input type, choices)."""
    fields = {
        f.name: f
        for f in entity_svc.list_fields(
            session=session,
            workspace_id=form.workspace_id,
            entity=svc.entity_name(session=session, form=form),
        )
    }
    out = []
    for item in form.fields:
        field = fields.get(item["field"])
        ftype = field.type if field is not None else "text"
        choices = list((field.options or {}).get("choices", [])) if field is not None else []
        out.append(
            {**item, "type": ftype, "html": _INPUT_TYPES.get(ftype, "text"), "choices": choices}
        )
    return out


def _not_available(request: Request) -> Response:
    return render(
        request,
        "error.html",
        {"title": "Form not available", "message": _GONE, "status": 404},
        status_code=404,
    )


@router.get("/f/{form_id}")
def public_page(
    request: Request,
    session: SessionDep,
    form_id: FormId,
    token: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    try:
        form = svc.public_form(session=session, token=token, form_id=form_id)
    except (InvalidKey, NotFoundError):
        return _not_available(request)
    return render(
        request,
        "forms/public.html",
        {"form": form, "inputs": _public_inputs(session, form), "token": token, "typed": {}},
    )


@router.post("/f/{form_id}")
async def public_submit(request: Request, form_id: FormId) -> Response:
    await _limit(request, form_id)  # the API's limiter: per form and client address
    async with request.form(max_files=0, max_fields=svc.MAX_INPUTS + 10) as body:
        pairs = [(k, v) for k, v in body.multi_items() if isinstance(v, str)]
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key in values:  # a repeated input (checkboxes) is a list
            old = values[key]
            values[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            values[key] = value
    token = values.pop("token", "")
    token = token if isinstance(token, str) else ""
    region = str(request.app.state.settings.default_region)
    sessions = request.app.state.sessions

    def work() -> tuple[str, str | None, Form | None, list[dict[str, Any]]]:
        """``("thanks", message, …)``, ``("gone", …)`` or ``("invalid", message, form, inputs)``."""
        try:
            with session_scope(sessions) as session:
                form, _, _ = svc.submit_public(
                    session=session, token=token, form_id=form_id, values=values, region=region
                )
                return "thanks", form.thank_you, None, []
        except (InvalidKey, NotFoundError):
            return "gone", None, None, []
        except ValidationError as exc:
            with session_scope(sessions) as session:
                form = svc.public_form(session=session, token=token, form_id=form_id)
                inputs = _public_inputs(session, form)
                session.expunge(form)
                return "invalid", exc.message, form, inputs

    try:
        outcome, message, form, inputs = await run_in_threadpool(work)
    except (InvalidKey, NotFoundError):
        outcome, message, form, inputs = "gone", None, None, []
    if outcome == "gone":
        return _not_available(request)
    if outcome == "invalid":
        request.state.messages = [{"level": "error", "text": message}]
        return render(
            request,
            "forms/public.html",
            {"form": form, "inputs": inputs, "token": token, "typed": values},
            status_code=400,
        )
    return render(request, "forms/thanks.html", {"message": message})
