"""Audit log: every duplicate decision, override, merge, undo and review mark, newest first,
filtered (kind, entity, source, actor, record, duplicate rule, date range) and keyset-paged
through ``merges.audit_entries`` (one indexed walk with a LIMIT per page)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Query, Request, Response

from ...api.deps import SessionDep
from ...core.errors import ValidationError
from ...services import merges
from ...services.entities import list_entities
from ...services.intake import SOURCES
from ..auth import ViewerDep
from ..pages import Pager, page_router, render

router = page_router()

PAGE_SIZE = 50
#: the kinds the services write (services/audit.py), with how the page names them
KINDS: dict[str, str] = {
    "duplicate_alert": "Duplicate allowed with an alert",
    "duplicate_blocked": "Duplicate blocked",
    "duplicate_override": "Block overridden",
    "merge": "Merge",
    "undo": "Merge undone",
    "not_duplicate": "Marked not a duplicate",
    "duplicate_job": "Duplicate job",
}
Text = Annotated[str, Query(max_length=200)]


def _day(value: str, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"{what}: a date such as 2026-01-31", details={"field": what}
        ) from None


@router.get("/audit")
def audit_log(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    kind: Annotated[str, Query(max_length=32)] = "",
    entity: Annotated[str, Query(max_length=64)] = "",
    source: Annotated[str, Query(max_length=16)] = "",
    actor: Text = "",
    record: Annotated[str, Query(max_length=36)] = "",
    rule: Annotated[str, Query(max_length=36)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    after: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    filters = {
        "kind": kind.strip(),
        "entity": entity.strip(),
        "source": source.strip(),
        "actor": actor.strip(),
        "record": record.strip(),
        "rule": rule.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    entries: list[Any] = []
    next_cursor = None
    try:
        first = _day(filters["since"], "since")
        last = _day(filters["until"], "until")
        entries, next_cursor = merges.audit_entries(
            session=session,
            workspace_id=viewer.workspace_id,
            kind=filters["kind"] or None,
            entity=filters["entity"] or None,
            source=filters["source"] or None,
            actor=filters["actor"] or None,
            record_id=filters["record"] or None,
            rule_id=filters["rule"] or None,
            # whole days, in UTC: from the first one's start to the last one's end
            created_after=(
                datetime.combine(first, time.min, UTC) - timedelta(microseconds=1)
                if first
                else None
            ),
            created_before=(datetime.combine(last, time.min, UTC) + timedelta(days=1))
            if last
            else None,
            limit=PAGE_SIZE,
            cursor=after,
        )
    except ValidationError as exc:
        request.state.messages = [{"level": "error", "text": exc.message}]
        after = None
    entities = list_entities(session=session, workspace_id=viewer.workspace_id)
    rule_name = next((e.rule_name for e in entries if e.rule_id == filters["rule"]), None)
    return render(
        request,
        "audit/list.html",
        {
            "entries": entries,
            "filters": filters,
            "filtered": any(filters.values()),
            "kinds": KINDS,
            "sources": SOURCES,
            "entities": entities,
            "rule_name": rule_name,
            "pages": Pager("/audit", filters, after, next_cursor),
        },
    )
