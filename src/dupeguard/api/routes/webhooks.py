"""Webhooks: where automation events (``record.created``) are delivered. Admin keys only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response

from ...services import webhooks as svc
from ...store.tables import Webhook
from ..deps import Admin, SessionDep
from ..errors import error_responses
from ..schemas.webhooks import DeliveryRead, WebhookCreate, WebhookRead

router = APIRouter(tags=["webhooks"])

WebhookId = Annotated[str, Path(min_length=1, max_length=64)]
ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "rate_limited"
)


def _read(hook: Webhook, secret: str | None = None) -> WebhookRead:
    return WebhookRead(
        id=hook.id,
        url=hook.url,
        events=list(hook.events),
        active=hook.active,
        created_at=hook.created_at,
        secret=secret,
    )


@router.post(
    "/v1/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookRead,
    responses=ERRORS,
)
def create_webhook(
    body: WebhookCreate, request: Request, session: SessionDep, key: Admin
) -> WebhookRead:
    """Subscribe a URL to events. The URL must be http(s) at a public address (loopback,
    private, link-local and reserved addresses are refused). The answer shows the signing
    `secret` once: each delivery carries `X-Dupeguard-Signature: sha256=<hex HMAC-SHA256 of
    the body>`, `X-Dupeguard-Event` and `X-Dupeguard-Delivery`."""
    hook, secret = svc.create_webhook(
        session=session,
        workspace_id=key.workspace_id,
        url=body.url,
        events=body.events,
        allow_private=request.app.state.settings.webhook_allow_private,
    )
    return _read(hook, secret)


@router.get("/v1/webhooks", response_model=list[WebhookRead], responses=ERRORS)
def list_webhooks(session: SessionDep, key: Admin) -> list[WebhookRead]:
    return [_read(h) for h in svc.list_webhooks(session=session, workspace_id=key.workspace_id)]


@router.delete(
    "/v1/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS
)
def delete_webhook(webhook_id: WebhookId, session: SessionDep, key: Admin) -> Response:
    """Unsubscribe; pending deliveries are dropped."""
    svc.delete_webhook(session=session, workspace_id=key.workspace_id, webhook_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryRead], responses=ERRORS
)
def list_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    key: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[DeliveryRead]:
    """The most recent deliveries, newest first: state (pending, delivered, failed),
    attempts, the last HTTP status and error."""
    rows = svc.list_deliveries(
        session=session, workspace_id=key.workspace_id, webhook_id=webhook_id, limit=limit
    )
    return [
        DeliveryRead(
            id=d.id,
            event=d.event,
            state=d.state,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            payload=d.payload,
        )
        for d in rows
    ]
