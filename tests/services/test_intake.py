"""The intake service (seed 001) on both databases: match keys, actions, the four decisions."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dupeguard.core.errors import NotFoundError, ValidationError
from dupeguard.core.fields import FieldType
from dupeguard.core.keys import key_value
from dupeguard.services import entities, intake
from dupeguard.services.intake import Inbound, RowError
from dupeguard.services.records import delete_record, get_record
from dupeguard.services.webhooks import create_webhook
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope, sessionmaker_for
from dupeguard.store.tables import Activity, Record, RecordKey, WebhookDelivery


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        return create_workspace(session=s, name="Acme").id


def keys(sessions, ws: str, *fields: str, entity: str = "lead") -> None:
    with session_scope(sessions) as s:
        entities.set_match_keys(session=s, workspace_id=ws, entity=entity, fields=list(fields))


def submit(sessions, ws: str, data: dict, mode: str = "skip", source: str = "api"):
    with session_scope(sessions) as s:
        return intake.submit(
            session=s,
            workspace_id=ws,
            entity="lead",
            inbound=Inbound(data),
            source=source,
            mode=mode,
        )


def record(sessions, ws: str, record_id: str) -> dict:
    with session_scope(sessions) as s:
        return dict(get_record(session=s, workspace_id=ws, entity="lead", record_id=record_id).data)


def count(sessions, ws: str) -> int:
    with session_scope(sessions) as s:
        return s.scalar(
            select(func.count())
            .select_from(Record)
            .where(Record.workspace_id == ws, Record.deleted_at.is_(None))
        )


# --- the four outcomes ------------------------------------------------------------------------


def test_no_match_keys_means_every_lead_is_created(sessions, ws) -> None:
    first = submit(sessions, ws, {"email": "jane@acme.com"})
    second = submit(sessions, ws, {"email": "jane@acme.com"}, mode="update")
    assert first.decision == second.decision == "created"
    assert first.record_id != second.record_id and count(sessions, ws) == 2


def test_skip_is_the_default_and_keeps_the_existing_lead_untouched(sessions, ws) -> None:
    keys(sessions, ws, "email")
    created = submit(sessions, ws, {"email": "Jane@Acme.com", "first_name": "Jane"})
    skipped = submit(sessions, ws, {"email": "  jane@acme.COM ", "first_name": "Janet"})
    assert created.decision == "created" and created.matched_by is None
    assert skipped.decision == "skipped" and skipped.record_id == created.record_id
    assert skipped.matches == [created.record_id] and skipped.matched_by == "email"
    assert record(sessions, ws, created.record_id)["first_name"] == "Jane"
    assert count(sessions, ws) == 1


def test_update_overwrites_mapped_fields_only_and_records_old_and_new(sessions, ws) -> None:
    keys(sessions, ws, "email")
    created = submit(
        sessions,
        ws,
        {"email": "jane@acme.com", "first_name": "Jane", "city": "Boston", "status": "Working"},
    )
    updated = submit(
        sessions,
        ws,
        {"email": "JANE@acme.com", "first_name": "Janet", "status": "New", "phone": ""},
        mode="update",
    )
    assert updated.decision == "updated" and updated.record_id == created.record_id
    assert updated.changed_fields == ["first_name"]  # status stays, the e-mail is the same one
    data = record(sessions, ws, created.record_id)
    assert data == {
        "email": "jane@acme.com",
        "first_name": "Janet",
        "city": "Boston",
        "status": "Working",
    }
    with session_scope(sessions) as s:
        feed = s.scalars(
            select(Activity)
            .where(Activity.record_id == created.record_id)
            .order_by(Activity.created_at)
        ).all()
        assert [(a.kind, a.source) for a in feed] == [("created", "api"), ("updated", "api")]
        assert feed[1].changes == {"first_name": {"old": "Jane", "new": "Janet"}}


def test_update_that_changes_nothing_is_skipped(sessions, ws) -> None:
    keys(sessions, ws, "email")
    submit(sessions, ws, {"email": "jane@acme.com", "first_name": "Jane"})
    again = submit(sessions, ws, {"email": "jane@acme.com", "first_name": "Jane"}, mode="update")
    assert again.decision == "skipped" and again.changed_fields == []


def test_off_always_creates(sessions, ws) -> None:
    keys(sessions, ws, "email")
    submit(sessions, ws, {"email": "jane@acme.com"})
    off = submit(sessions, ws, {"email": "jane@acme.com"}, mode="off")
    assert off.decision == "created" and count(sessions, ws) == 2


def test_two_matches_is_a_conflict_and_lower_keys_are_not_tried(sessions, ws) -> None:
    a = submit(sessions, ws, {"email": "shared@acme.com", "external_id": "A"})
    b = submit(sessions, ws, {"email": "shared@acme.com", "external_id": "B"})
    keys(sessions, ws, "email", "external_id")  # marked after the data: existing values indexed
    conflict = submit(sessions, ws, {"email": "shared@acme.com", "external_id": "A"}, "update")
    assert conflict.decision == "conflict" and conflict.record_id is None
    assert sorted(conflict.matches) == sorted([a.record_id, b.record_id])
    assert conflict.matched_by == "email"
    assert count(sessions, ws) == 2  # nothing written


def test_first_non_empty_key_with_one_match_wins(sessions, ws) -> None:
    keys(sessions, ws, "external_id", "email")
    by_email = submit(sessions, ws, {"email": "jane@acme.com"})
    by_id = submit(sessions, ws, {"external_id": "CRM-1", "email": "other@acme.com"})
    # external id empty -> email decides
    assert submit(sessions, ws, {"email": "jane@acme.com"}).record_id == by_email.record_id
    # external id matches nothing -> falls through to email
    fell = submit(sessions, ws, {"external_id": "CRM-404", "email": "jane@acme.com"})
    assert fell.decision == "skipped" and fell.matched_by == "email"
    assert fell.record_id == by_email.record_id
    # external id matches -> it wins even though the email points elsewhere
    won = submit(sessions, ws, {"external_id": "crm-1", "email": "jane@acme.com"})
    assert won.matched_by == "external_id" and won.record_id == by_id.record_id


def test_all_key_values_empty_is_created(sessions, ws) -> None:
    keys(sessions, ws, "email", "phone")
    submit(sessions, ws, {"email": "jane@acme.com"})
    assert submit(sessions, ws, {"first_name": "Jane", "email": " "}).decision == "created"


def test_phones_match_as_e164_and_deleted_records_do_not_match(sessions, ws) -> None:
    keys(sessions, ws, "phone")
    first = submit(sessions, ws, {"phone": "(415) 555-0100"})
    assert submit(sessions, ws, {"phone": "+1 415 555 0100"}).record_id == first.record_id
    with session_scope(sessions) as s:
        delete_record(session=s, workspace_id=ws, entity="lead", record_id=first.record_id)
    assert submit(sessions, ws, {"phone": "415.555.0100"}).decision == "created"


def test_unmarking_a_key_turns_it_off_and_marking_indexes_existing_records(sessions, ws) -> None:
    old = submit(sessions, ws, {"email": "jane@acme.com"})
    keys(sessions, ws, "email")
    assert submit(sessions, ws, {"email": "jane@acme.com"}).record_id == old.record_id
    keys(sessions, ws)
    assert submit(sessions, ws, {"email": "jane@acme.com"}).decision == "created"
    with session_scope(sessions) as s:
        # no match-key rows left (blocking keys of the duplicate rules start with "~")
        match_keys = (
            select(func.count()).select_from(RecordKey).where(~RecordKey.key.startswith("~"))
        )
        assert s.scalar(match_keys) == 0


# --- batches: rows decided as if submitted one after another ----------------------------------


def test_rows_of_one_batch_see_each_other(sessions, ws) -> None:
    keys(sessions, ws, "email")
    rows = [
        Inbound({"email": "a@x.com", "first_name": "A"}),
        Inbound({"email": "A@x.com", "first_name": "Ann"}),
        Inbound({"email": "a@x.com", "first_name": "Ann"}),
        Inbound({"email": "b@x.com", "bogus": 1}),
        Inbound({"email": "b@x.com"}),
    ]
    with session_scope(sessions) as s:
        out = intake.submit_many(
            session=s, workspace_id=ws, entity="lead", rows=rows, source="import", mode="update"
        )
    decisions = [o.decision if not isinstance(o, RowError) else "error" for o in out]
    assert decisions == ["created", "updated", "skipped", "error", "created"]
    assert out[1].record_id == out[0].record_id and out[1].changed_fields == ["first_name"]
    assert isinstance(out[3], RowError) and "bogus" in out[3].error.message
    assert record(sessions, ws, out[0].record_id)["first_name"] == "Ann"
    assert count(sessions, ws) == 2


def test_dry_run_decides_without_writing(sessions, ws) -> None:
    keys(sessions, ws, "email")
    submit(sessions, ws, {"email": "a@x.com"})
    with session_scope(sessions) as s:
        out = intake.submit_many(
            session=s,
            workspace_id=ws,
            entity="lead",
            source="import",
            mode="update",
            rows=[
                Inbound({"email": "a@x.com", "city": "Rome"}),
                Inbound({"email": "n@x.com"}),
                Inbound({"email": "n@x.com"}),
            ],
            dry_run=True,
        )
    assert [o.decision for o in out] == ["updated", "created", "skipped"]
    assert count(sessions, ws) == 1
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Activity)) == 1


@settings(
    max_examples=25,
    deadline=None,
    # each example makes its own workspace, so sharing the database between examples is safe
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a@x.com", "A@X.com", "b@x.com", "", None]),
            st.sampled_from(["Ann", "Bob", None]),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["skip", "update"]),
)
def test_a_batch_equals_the_same_rows_one_by_one(engine, rows, mode) -> None:
    """Property: one submit_many call decides exactly like single submits in sequence."""
    sessions = sessionmaker_for(engine)
    results = []
    for batched in (True, False):
        with session_scope(sessions) as s:
            w = create_workspace(session=s, name="P").id
        keys(sessions, w, "email")
        inbound = [Inbound({"email": e, "first_name": n}) for e, n in rows]
        if batched:
            with session_scope(sessions) as s:
                out = intake.submit_many(
                    session=s,
                    workspace_id=w,
                    entity="lead",
                    rows=inbound,
                    source="api",
                    mode=mode,
                )
        else:
            out = [submit(sessions, w, dict(i.data), mode) for i in inbound]
        ids: dict[str, int] = {}
        results.append(
            [
                (
                    o.decision,
                    ids.setdefault(o.record_id, len(ids)) if o.record_id else None,
                    o.changed_fields,
                )
                for o in out
            ]
        )
    assert results[0] == results[1]


# --- values, events, concurrency ---------------------------------------------------------------


def test_values_are_checked_against_the_fields(sessions, ws) -> None:
    with pytest.raises(ValidationError, match="no field 'nickname'"):
        submit(sessions, ws, {"nickname": "JJ"})
    with session_scope(sessions) as s:
        entities.create_field(
            session=s, workspace_id=ws, entity="lead", name="score", type="number"
        )
    assert record(sessions, ws, submit(sessions, ws, {"score": "1,200"}).record_id) == {
        "score": 1200
    }
    with pytest.raises(ValidationError, match="not a number"):
        submit(sessions, ws, {"score": "lots"})
    with pytest.raises(ValidationError, match="dedup_mode"):
        submit(sessions, ws, {"email": "a@x.com"}, mode="merge")
    with pytest.raises(NotFoundError), session_scope(sessions) as s:
        intake.submit(
            session=s, workspace_id=ws, entity="vendor", inbound=Inbound({}), source="api"
        )


def test_record_created_event_on_create_only(sessions, ws) -> None:
    with session_scope(sessions) as s:
        create_webhook(
            session=s,
            workspace_id=ws,
            url="https://hooks.example.com/dupeguard",
            events=["record.created"],
            allow_private=True,
        )
    keys(sessions, ws, "email")
    created = submit(sessions, ws, {"email": "a@x.com"})
    submit(sessions, ws, {"email": "a@x.com", "city": "Rome"}, mode="update")
    submit(sessions, ws, {"email": "a@x.com"})
    with session_scope(sessions) as s:
        events = s.scalars(select(WebhookDelivery)).all()
        assert [e.event for e in events] == ["record.created"]
        assert events[0].payload["data"]["record_id"] == created.record_id


@pytest.mark.parametrize("mode", ["skip", "update"])
def test_simultaneous_intakes_with_one_key_value_create_one_record(sessions, ws, mode) -> None:
    keys(sessions, ws, "email")
    n = 8
    barrier = threading.Barrier(n)
    decisions: list[str] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            outcome = submit(sessions, ws, {"email": "race@acme.com", "city": f"C{i}"}, mode)
            decisions.append(outcome.decision)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    tally = Counter(decisions)
    assert tally["created"] == 1 and sum(tally.values()) == n
    assert set(tally) <= {"created", "skipped", "updated"}
    assert count(sessions, ws) == 1


def test_key_values_normalise_by_type() -> None:
    assert key_value(FieldType.EMAIL, " Jane.Doe+news@GMail.com ") == key_value(
        FieldType.EMAIL, "janedoe@gmail.com"
    )
    assert key_value(FieldType.PHONE, "(415) 555-0100") == "+14155550100"
    assert key_value(FieldType.NUMBER, "1,200") == key_value(FieldType.NUMBER, 1200.0) == "1200"
    assert key_value(FieldType.TEXT, "  CRM-1 ") == "crm-1"
    assert key_value(FieldType.URL, "https://www.acme.com/about") == "acme.com"
    assert key_value(FieldType.TEXT, "   ") is None and key_value(FieldType.EMAIL, "n/a") is None
    long = key_value(FieldType.LONG_TEXT, "x" * 1000)
    assert long is not None and long.startswith("sha256:") and len(long) < 100
