"""Records: a searchable, keyset-paged list per entity and a detail page with the activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request, Response

from ...api.deps import SessionDep, region_of
from ...core.errors import ValidationError
from ...services import crypto, intake
from ...services import records as svc
from ...services.browse import browse_records
from ...services.entities import list_entities
from ...store.tables import Record
from ..auth import ViewerDep
from ..pages import Pager, flash, page_router, render
from .duplicates import record_review

router = page_router()

PAGE_SIZE = 50


@router.get("/records")
def records_list(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    entity: Annotated[str, Query(max_length=64)] = "contact",
    q: Annotated[str, Query(max_length=200)] = "",
    after: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    entities = list_entities(session=session, workspace_id=viewer.workspace_id)
    if entity not in {e.name for e in entities}:
        entity = entities[0].name if entities else "contact"
    try:
        page = browse_records(
            session=session,
            workspace_id=viewer.workspace_id,
            entity=entity,
            query=q,
            cursor=after,
            limit=PAGE_SIZE,
            region=region_of(request),
        )
    except ValidationError as exc:
        flash(request, exc.message, "error")
        page = browse_records(
            session=session, workspace_id=viewer.workspace_id, entity=entity, limit=PAGE_SIZE
        )
        after = None
    columns = _columns(page.records, page.encrypted)
    rows = [(r, crypto.unseal(r.data, page.encrypted)) for r in page.records]
    pager = Pager("/records", {"entity": entity, "q": q}, after, page.next_cursor)
    return render(
        request,
        "records/list.html",
        {
            "entities": entities,
            "entity": entity,
            "q": q,
            "page": page,
            "rows": rows,
            "columns": columns,
            "pages": pager,
        },
    )


def _columns(records: list[Record], encrypted: list[str], at_most: int = 5) -> list[str]:
    """The fields shown as columns: the most often filled on this page (encrypted ones last)."""
    counts: dict[str, int] = {}
    for record in records:
        for name, value in record.data.items():
            if value not in (None, "", []) and name not in encrypted:
                counts[name] = counts.get(name, 0) + 1
    preferred = ("first_name", "last_name", "name", "email", "phone", "company", "city")
    rank = {name: i for i, name in enumerate(preferred)}
    ranked = sorted(counts, key=lambda n: (rank.get(n, len(preferred)), -counts[n], n))
    return ranked[:at_most]


@router.get("/records/{entity}/{record_id}")
def record_detail(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    entity: Annotated[str, Path(max_length=64)],
    record_id: Annotated[str, Path(max_length=64)],
) -> Response:
    record = svc.get_record(
        session=session, workspace_id=viewer.workspace_id, entity=entity, record_id=record_id
    )
    encrypted = intake.encrypted_names(session=session, entity_id=record.entity_id)
    activity = intake.record_activity(
        session=session, workspace_id=viewer.workspace_id, record_id=record.id, limit=100
    )
    return render(
        request,
        "records/detail.html",
        {
            "entity": entity,
            "record": record,
            "values": sorted(crypto.unseal(record.data, encrypted).items()),
            "encrypted": encrypted,
            "tags": svc.tags_of(session=session, record_ids=[record.id])[record.id],
            "activity": activity,
            **record_review(  # duplicate alerts and merges (web/routes/duplicates.py)
                session=session, workspace_id=viewer.workspace_id, record=record, activity=activity
            ),
        },
    )
