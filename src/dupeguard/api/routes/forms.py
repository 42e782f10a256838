"""Forms: CRUD with an API key, and public submissions with the form's token (seed 001)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl

import pydantic
from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette import formparsers

from ...core.errors import RateLimited, ValidationError
from ...services import forms as svc
from ...store.session import session_scope
from ...store.tables import Entity, Form
from ..deps import Reader, SessionDep, Writer
from ..errors import describe_validation, error_responses
from ..ratelimit import RateLimiter
from ..schemas.forms import (
    FormCreate,
    FormPage,
    FormRead,
    FormSubmit,
    FormUpdate,
    SubmissionPage,
    SubmissionRead,
    SubmissionResult,
)

router = APIRouter(tags=["forms"])

FormId = Annotated[str, Path(min_length=1, max_length=64)]
ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "rate_limited"
)
_MAX_FORM_FIELDS = svc.MAX_INPUTS + 10


def _read(request: Request, form: Form, entity: str, token: str | None = None) -> FormRead:
    return FormRead.model_validate(
        {
            "id": form.id,
            "name": form.name,
            "entity": entity,
            "fields": form.fields,
            "dedup_mode": form.dedup_mode,
            "thank_you": form.thank_you,
            "active": form.active,
            "token_prefix": form.token_prefix,
            "token": token,
            "submit_url": str(request.url_for("submit_form", form_id=form.id)),
            "created_at": form.created_at,
        }
    )


def _entity(session: SessionDep, form: Form) -> str:
    return svc.entity_name(session=session, form=form)


def _inputs(body: FormCreate | FormUpdate) -> list[dict[str, Any]] | None:
    if body.fields is None:
        return None
    return [item.model_dump() for item in body.fields]


@router.post(
    "/v1/forms", status_code=status.HTTP_201_CREATED, response_model=FormRead, responses=ERRORS
)
def create_form(body: FormCreate, request: Request, session: SessionDep, key: Writer) -> FormRead:
    """A form feeding an entity; the answer shows its submission `token` once."""
    form, token = svc.create_form(
        session=session,
        workspace_id=key.workspace_id,
        entity=body.entity,
        name=body.name,
        fields=_inputs(body) or [],
        dedup_mode=body.dedup_mode,
        thank_you=body.thank_you,
    )
    return _read(request, form, body.entity, token)


@router.get("/v1/forms", response_model=FormPage, responses=ERRORS)
def list_forms(request: Request, session: SessionDep, key: Reader) -> FormPage:
    rows = svc.list_forms(session=session, workspace_id=key.workspace_id)
    names = dict(
        session.execute(
            select(Entity.id, Entity.name).where(Entity.id.in_({f.entity_id for f in rows}))
        ).all()
    )
    return FormPage(data=[_read(request, f, names.get(f.entity_id, "")) for f in rows])


@router.get("/v1/forms/{form_id}", response_model=FormRead, responses=ERRORS)
def get_form(form_id: FormId, request: Request, session: SessionDep, key: Reader) -> FormRead:
    form = svc.get_form(session=session, workspace_id=key.workspace_id, form_id=form_id)
    return _read(request, form, _entity(session, form))


@router.patch("/v1/forms/{form_id}", response_model=FormRead, responses=ERRORS)
def update_form(
    form_id: FormId, body: FormUpdate, request: Request, session: SessionDep, key: Writer
) -> FormRead:
    """Change the name, inputs, action (`dedup_mode`), thank-you message or `active`."""
    form = svc.update_form(
        session=session,
        workspace_id=key.workspace_id,
        form_id=form_id,
        name=body.name,
        fields=_inputs(body),
        dedup_mode=body.dedup_mode,
        thank_you=body.thank_you,
        active=body.active,
    )
    return _read(request, form, _entity(session, form))


@router.delete("/v1/forms/{form_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
def delete_form(form_id: FormId, session: SessionDep, key: Writer) -> Response:
    """Delete the form and its submission log; records it created stay."""
    svc.delete_form(session=session, workspace_id=key.workspace_id, form_id=form_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/forms/{form_id}/rotate-token", response_model=FormRead, responses=ERRORS)
def rotate_token(form_id: FormId, request: Request, session: SessionDep, key: Writer) -> FormRead:
    """A new submission token (shown once); the old one stops working at once."""
    form, token = svc.rotate_token(session=session, workspace_id=key.workspace_id, form_id=form_id)
    return _read(request, form, _entity(session, form), token)


@router.get("/v1/forms/{form_id}/submissions", response_model=SubmissionPage, responses=ERRORS)
def list_submissions(
    form_id: FormId,
    session: SessionDep,
    key: Reader,
    limit: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SubmissionPage:
    """The form's submissions with their decisions, oldest first."""
    rows, next_cursor = svc.list_submissions(
        session=session, workspace_id=key.workspace_id, form_id=form_id, limit=limit, cursor=cursor
    )
    return SubmissionPage(
        data=[
            SubmissionRead(
                id=r.id,
                form_id=r.form_id,
                decision=r.decision,
                record_id=r.record_id,
                matches=r.matches,
                matched_by=r.matched_by,
                changed_fields=r.changed_fields,
                created_at=r.created_at,
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


# --- the public door -----------------------------------------------------------------------


async def _limit(request: Request, form_id: str) -> None:
    """Per form and client address, before anything else (wrong tokens count too)."""
    limiter: RateLimiter = request.app.state.form_limiter
    client = request.client.host if request.client else "unknown"
    decision = await limiter.hit(f"form:{form_id}:ip:{client}")
    if not decision.allowed:
        raise RateLimited(
            f"too many submissions to this form ({limiter.description}); "
            f"retry in {decision.retry_after} s",
            details={"limit": decision.limit, "retry_after": decision.retry_after},
        )


def _from_json(raw: bytes) -> tuple[str | None, Mapping[str, Any]]:
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        raise ValidationError("request body is not valid JSON") from None
    try:
        body = FormSubmit.model_validate(payload)
    except pydantic.ValidationError as exc:
        message, details = describe_validation(exc.errors())
        raise ValidationError(message, details=details) from None
    return body.token, body.data


def _from_fields(pairs: list[tuple[str, Any]]) -> tuple[str | None, Mapping[str, Any]]:
    values: dict[str, Any] = {}
    for name, value in pairs:
        if not isinstance(value, str):
            raise ValidationError(f"{name}: file uploads are not accepted", details={"field": name})
        if name in values:  # a repeated input (checkboxes) is a list
            previous = values[name]
            values[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            values[name] = value
    token = values.pop("token", None)
    return (token if isinstance(token, str) else None), values


async def _submission(request: Request) -> tuple[str | None, Mapping[str, Any]]:
    """``(token, input values)`` from a JSON, URL-encoded or (with python-multipart)
    multipart body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        if formparsers.multipart is None:
            raise ValidationError(
                "multipart/form-data is not supported here: send JSON or "
                "application/x-www-form-urlencoded"
            )
        async with request.form(max_files=0, max_fields=_MAX_FORM_FIELDS) as form:
            return _from_fields(list(form.multi_items()))
    raw = await request.body()
    if media == "application/x-www-form-urlencoded":
        try:
            text = raw.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise ValidationError("the form body is not valid UTF-8 form data") from None
        return _from_fields(list(pairs))
    if media not in ("", "application/json") and not media.endswith("+json"):
        raise ValidationError(
            f"content type {media!r}: send application/json or application/x-www-form-urlencoded"
        )
    return _from_json(raw)


_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": FormSubmit.model_json_schema()},
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "description": "The inputs as fields, plus `token` unless sent as X-Form-Token.",
                "additionalProperties": {"type": "string"},
            }
        },
    },
}


@router.post(
    "/v1/forms/{form_id}/submissions",
    name="submit_form",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmissionResult,
    responses={
        **error_responses("validation_error", "invalid_key", "not_found", "rate_limited"),
    },
    openapi_extra={"security": [], "requestBody": _BODY},
)
async def submit_form(
    form_id: FormId,
    request: Request,
    x_form_token: Annotated[
        str | None,
        Header(alias="X-Form-Token", max_length=100, description="The form's token (wbf_…)."),
    ] = None,
) -> JSONResponse:
    """Public: no API key, but the form's token (`X-Form-Token`, or `token` in the body).
    Runs intake with the form's `dedup_mode` and answers 201 with the submission id and the
    thank-you message — never the decision or record ids, which would tell an anonymous
    visitor whether an address is already in the CRM (the owner reads them under
    `GET /v1/forms/{id}/submissions`). Limited per form and client address."""
    await _limit(request, form_id)
    body_token, values = await _submission(request)
    token = x_form_token or body_token
    region = str(request.app.state.settings.default_region)

    def work() -> dict[str, Any]:
        with session_scope(request.app.state.sessions) as session:
            form, _, submission = svc.submit_public(
                session=session, token=token, form_id=form_id, values=values, region=region
            )
            return {"submission_id": submission.id, "thank_you": form.thank_you}

    payload = await run_in_threadpool(work)
    body = SubmissionResult.model_validate(payload).model_dump(mode="json")
    return JSONResponse(body, status.HTTP_201_CREATED)
