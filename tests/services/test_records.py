"""Records, lists, credits, idempotency and detect-duplicates as services, on both databases."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dupeguard.core.errors import (
    ConflictError,
    IdempotencyConflict,
    InsufficientCredits,
    NotFoundError,
    ValidationError,
)
from dupeguard.services import idempotency
from dupeguard.services import records as svc
from dupeguard.services.credits import charge, scan_cost
from dupeguard.services.detect import detect_duplicates, load_frame
from dupeguard.services.intake import Inbound, Outcome, submit_many
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import CreditEntry, Workspace


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        return create_workspace(session=s, name="Acme", credits=20).id


def test_create_read_update_delete_restore(sessions, ws: str) -> None:
    with session_scope(sessions) as s:
        rec = svc.create_record(
            session=s,
            workspace_id=ws,
            entity="contact",
            data={"first_name": "Jane", "email": "jane@acme.com"},
            tags=["vip", "vip", " lead "],
        )
        rid = rec.id
    with session_scope(sessions) as s:
        got = svc.get_record(session=s, workspace_id=ws, entity="contact", record_id=rid)
        assert got.data == {"first_name": "Jane", "email": "jane@acme.com"}
        assert svc.tags_of(session=s, record_ids=[rid]) == {rid: ["lead", "vip"]}
        svc.update_record(
            session=s,
            workspace_id=ws,
            entity="contact",
            record_id=rid,
            data={"email": None, "phone": "555"},
        )
    with session_scope(sessions) as s:
        got = svc.get_record(session=s, workspace_id=ws, entity="contact", record_id=rid)
        assert got.data == {"first_name": "Jane", "phone": "555"} and got.version == 2
        svc.delete_record(session=s, workspace_id=ws, entity="contact", record_id=rid)
    with session_scope(sessions) as s:
        page, _ = svc.list_records(
            session=s, workspace_id=ws, entity="contact", scope=svc.RecordFilter()
        )
        assert page == []
        with pytest.raises(NotFoundError):
            svc.update_record(
                session=s, workspace_id=ws, entity="contact", record_id=rid, data={"x": "y"}
            )
        svc.restore_record(session=s, workspace_id=ws, entity="contact", record_id=rid)
    with session_scope(sessions) as s:
        page, _ = svc.list_records(
            session=s, workspace_id=ws, entity="contact", scope=svc.RecordFilter()
        )
        assert [r.id for r in page] == [rid]


@pytest.mark.parametrize(
    "data",
    [
        {"Bad Name": "x"},
        {"a": {"nested": 1}},
        {"a": "x" * 70_000},
        {"a": "nul\x00"},
        {"a": [1, 2]},
        {"a": float("nan")},
    ],
)
def test_bad_data_is_refused_and_nothing_is_written(sessions, ws: str, data: dict) -> None:
    with pytest.raises(ValidationError), session_scope(sessions) as s:
        svc.create_record(session=s, workspace_id=ws, entity="contact", data=data)
    with session_scope(sessions) as s:
        assert svc.record_counts(session=s, workspace_id=ws)["contact"] == 0


def test_filters_and_pagination(sessions, ws: str) -> None:
    with session_scope(sessions) as s:
        vip = svc.create_list(session=s, workspace_id=ws, name="Q3 webinar")
        ids = []
        for i in range(7):
            r = svc.create_record(
                session=s,
                workspace_id=ws,
                entity="contact",
                data={"last_name": f"N{i}"},
                tags=["even"] if i % 2 == 0 else [],
                list_ids=[vip.id] if i < 3 else [],
            )
            ids.append(r.id)
        with pytest.raises(ConflictError):
            svc.create_list(session=s, workspace_id=ws, name="Q3 webinar")
    with session_scope(sessions) as s:
        seen, cursor = [], None
        while True:
            page, cursor = svc.list_records(
                session=s,
                workspace_id=ws,
                entity="contact",
                scope=svc.RecordFilter(),
                limit=3,
                cursor=cursor,
            )
            seen += [r.id for r in page]
            if cursor is None:
                break
        assert sorted(seen) == sorted(ids) and len(seen) == 7
        tagged, _ = svc.list_records(
            session=s, workspace_id=ws, entity="contact", scope=svc.RecordFilter(tag="even")
        )
        assert len(tagged) == 4
        listed, _ = svc.list_records(
            session=s, workspace_id=ws, entity="contact", scope=svc.RecordFilter(list_id=vip.id)
        )
        assert len(listed) == 3
        future = datetime.now(UTC) + timedelta(days=1)
        later, _ = svc.list_records(
            session=s,
            workspace_id=ws,
            entity="contact",
            scope=svc.RecordFilter(created_after=future),
        )
        assert later == []
        quote, _ = svc.list_records(
            session=s, workspace_id=ws, entity="contact", scope=svc.RecordFilter(tag="x' OR '1'='1")
        )
        assert quote == []
        with pytest.raises(ValidationError):
            svc.list_records(
                session=s,
                workspace_id=ws,
                entity="contact",
                scope=svc.RecordFilter(),
                cursor="garbage!",
            )


def test_workspaces_do_not_see_each_other(sessions, ws: str) -> None:
    with session_scope(sessions) as s:
        other = create_workspace(session=s, name="Other").id
        rid = svc.create_record(session=s, workspace_id=ws, entity="contact", data={"a": "1"}).id
        other_list = svc.create_list(session=s, workspace_id=other, name="theirs").id
    with session_scope(sessions) as s:
        for call in (svc.get_record, svc.delete_record, svc.restore_record):
            with pytest.raises(NotFoundError):
                call(session=s, workspace_id=other, entity="contact", record_id=rid)
        with pytest.raises(NotFoundError):
            svc.create_record(
                session=s, workspace_id=ws, entity="contact", data={}, list_ids=[other_list]
            )
        page, _ = svc.list_records(
            session=s, workspace_id=other, entity="contact", scope=svc.RecordFilter()
        )
        assert page == []


def test_credit_tiers_and_atomic_charge(sessions, ws: str) -> None:
    assert [scan_cost(n) for n in (0, 10_000, 10_001, 100_000, 100_001)] == [3, 3, 5, 5, 10]
    with session_scope(sessions) as s:
        assert charge(session=s, workspace_id=ws, amount=15, reason="t") == 5
    with pytest.raises(InsufficientCredits), session_scope(sessions) as s:
        charge(session=s, workspace_id=ws, amount=6, reason="t")
    with session_scope(sessions) as s:
        assert s.get(Workspace, ws).credits == 5
        entries = s.scalars(select(CreditEntry).where(CreditEntry.workspace_id == ws)).all()
        assert sorted(e.delta for e in entries) == [-15, 20]


def test_detect_duplicates_charges_once_and_finds_pairs(sessions, ws: str) -> None:
    with session_scope(sessions) as s:
        for i in range(40):
            svc.create_record(
                session=s,
                workspace_id=ws,
                entity="contact",
                data={
                    "first_name": f"P{i}",
                    "last_name": f"Family{i}",
                    "email": f"p{i}@example{i}.com",
                },
            )
        a = svc.create_record(
            session=s,
            workspace_id=ws,
            entity="contact",
            data={
                "first_name": "John",
                "last_name": "Smith",
                "email": "john.smith@gmail.com",
                "phone": "555-123-4567",
            },
        ).id
        b = svc.create_record(
            session=s,
            workspace_id=ws,
            entity="contact",
            data={
                "first_name": "Jon",
                "last_name": "Smith",
                "email": "JohnSmith@googlemail.com",
                "phone": "(555) 123 4567",
            },
        ).id
    with session_scope(sessions) as s:
        frame, specs = load_frame(
            session=s, workspace_id=ws, entity="contact", scope=svc.RecordFilter()
        )
        assert frame.height == 42 and {"email", "first_name"} <= {sp.name for sp in specs}
        result = detect_duplicates(
            session=s,
            workspace_id=ws,
            entity_type="contact",
            threshold=0.85,
            limit=100,
            scope=svc.RecordFilter(),
        )
    assert result.total_candidates == 42 and result.credits_remaining == 17
    assert {frozenset((p["primary_id"], p["duplicate_id"])) for p in result.pairs} == {
        frozenset((a, b))
    }
    pair = result.pairs[0]
    assert "email" in pair["matched_fields"] and pair["reason"].endswith(".")
    with session_scope(sessions) as s:
        s.get(Workspace, ws).credits = 2
    with pytest.raises(InsufficientCredits), session_scope(sessions) as s:
        detect_duplicates(
            session=s,
            workspace_id=ws,
            entity_type="contact",
            threshold=0.85,
            limit=100,
            scope=svc.RecordFilter(),
        )
    with session_scope(sessions) as s:
        assert s.get(Workspace, ws).credits == 2


def test_idempotency_replay_conflict_and_single_run(sessions, ws: str) -> None:
    key = str(uuid.uuid4())
    fp = idempotency.request_hash("POST", "/x", {"a": 1})
    claim = idempotency.begin(sessions=sessions, workspace_id=ws, key=key, fingerprint=fp)
    assert isinstance(claim, idempotency.Claim)
    results: list[object] = []

    def second() -> None:
        results.append(
            idempotency.begin(sessions=sessions, workspace_id=ws, key=key, fingerprint=fp)
        )

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.3)
    assert results == []  # still waiting for the first request
    idempotency.finish(sessions=sessions, claim=claim, status_code=200, body={"ok": 1})
    waiter.join(10)
    assert results == [idempotency.Replay(200, {"ok": 1})]
    with pytest.raises(IdempotencyConflict):
        idempotency.begin(
            sessions=sessions,
            workspace_id=ws,
            key=key,
            fingerprint=idempotency.request_hash("POST", "/x", {"a": 2}),
        )
    with pytest.raises(ValidationError):
        idempotency.begin(sessions=sessions, workspace_id=ws, key="not-a-uuid", fingerprint=fp)
    released = idempotency.begin(
        sessions=sessions, workspace_id=ws, key=str(uuid.uuid4()), fingerprint=fp
    )
    assert isinstance(released, idempotency.Claim)
    idempotency.release(sessions=sessions, claim=released)


def test_bulk_intake_gives_a_result_per_row_and_one_bad_row_aborts_nothing(sessions, ws) -> None:
    rows = [Inbound({"email": f"u{i}@x.com"}, tags=["bulk"]) for i in range(5)]
    rows.insert(2, Inbound({"Bad Key": 1}))
    rows.append(Inbound({"email": "b@x.com"}, list_ids=["no-such-list"]))
    with session_scope(sessions) as s:
        results = submit_many(session=s, workspace_id=ws, entity="contact", rows=rows, source="api")
    kinds = [r.decision if isinstance(r, Outcome) else r.error.code for r in results]
    assert kinds == ["created"] * 2 + ["validation_error"] + ["created"] * 3 + ["not_found"]
    assert [r.index for r in results] == list(range(7))
    with session_scope(sessions) as s:
        page, _ = svc.list_records(
            session=s, workspace_id=ws, entity="contact", scope=svc.RecordFilter(tag="bulk")
        )
        assert sorted(r.id for r in page) == sorted(
            r.record_id for r in results if isinstance(r, Outcome)
        )


def test_scan_cost_follows_the_workspace_size(sessions, ws: str) -> None:
    for start in (0, 5_001):
        with session_scope(sessions) as s:
            submit_many(
                session=s,
                workspace_id=ws,
                entity="company",
                rows=[Inbound({"name": f"Co {i}"}) for i in range(start, start + 5_000)],
                source="import",
            )
    with session_scope(sessions) as s:
        svc.create_record(session=s, workspace_id=ws, entity="company", data={"name": "last"})
        result = detect_duplicates(
            session=s,
            workspace_id=ws,
            entity_type="contact",
            threshold=0.85,
            limit=10,
            scope=svc.RecordFilter(),
        )
    # 10,001 records in the workspace (all entities count): the 5-credit tier
    assert result.credits_remaining == 15 and result.total_candidates == 0
