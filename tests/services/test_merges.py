"""Merges and their undo (services), on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from dupeguard.core.errors import ConflictError, NotFoundError, ValidationError
from dupeguard.services import crypto, entities, intake, links, merges
from dupeguard.services.intake import Inbound
from dupeguard.services.records import create_list, delete_record, get_record
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import (
    Activity,
    AuditEntry,
    ListMember,
    Merge,
    Record,
    RecordLink,
    RecordTag,
)


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        return create_workspace(session=s, name="Acme").id


def make(
    sessions,
    ws: str,
    data: dict,
    *,
    tags: tuple[str, ...] = (),
    list_ids: tuple[str, ...] = (),
    entity: str = "contact",
) -> str:
    with session_scope(sessions) as s:
        outcome = intake.submit(
            session=s,
            workspace_id=ws,
            entity=entity,
            inbound=Inbound(data, tags, list_ids),
            source="api",
            mode="off",
        )
        assert outcome.record_id is not None
        return outcome.record_id


def merge(sessions, ws: str, primary: str, dups: list[str], choices=None, entity="contact"):
    with session_scope(sessions) as s:
        return merges.merge(
            session=s,
            workspace_id=ws,
            entity=entity,
            primary_id=primary,
            duplicate_ids=dups,
            choices=choices,
            actor="key:test",
        )


def undo(sessions, ws: str, merge_id: str):
    with session_scope(sessions) as s:
        return merges.undo(session=s, workspace_id=ws, merge_id=merge_id, actor="key:test")


def link(sessions, ws: str, source: str, target: str, label: str = "", entity="contact") -> str:
    with session_scope(sessions) as s:
        made = links.create_link(
            session=s,
            workspace_id=ws,
            entity=entity,
            record_id=source,
            target_id=target,
            label=label,
        )
        s.flush()
        return made.id


def data_of(sessions, ws: str, record_id: str, entity: str = "contact") -> Record:
    with session_scope(sessions) as s:
        return get_record(session=s, workspace_id=ws, entity=entity, record_id=record_id)


def state(sessions, ws: str) -> dict[str, Any]:
    """Everything a merge touches and an undo must restore."""
    with session_scope(sessions) as s:
        return {
            "records": {
                r.id: (r.data, r.deleted_at, r.merged_into)
                for r in s.scalars(select(Record).where(Record.workspace_id == ws))
            },
            "tags": set(
                s.execute(
                    select(RecordTag.record_id, RecordTag.tag).where(RecordTag.workspace_id == ws)
                ).all()
            ),
            "lists": set(
                s.execute(
                    select(ListMember.record_id, ListMember.list_id).where(
                        ListMember.workspace_id == ws
                    )
                ).all()
            ),
            "links": {
                (link.id, link.record_id, link.target_id, link.label, link.created_at)
                for link in s.scalars(select(RecordLink).where(RecordLink.workspace_id == ws))
            },
            "activities": dict(
                s.execute(
                    select(Activity.id, Activity.record_id).where(Activity.workspace_id == ws)
                ).all()
            ),
        }


def same_as_before(before: dict[str, Any], after: dict[str, Any]) -> None:
    for part in ("records", "tags", "lists", "links"):
        assert after[part] == before[part], part
    for activity_id, record_id in before["activities"].items():
        assert after["activities"][activity_id] == record_id


# --- merging ----------------------------------------------------------------------------------


def test_default_values_survivor_first_then_most_recent_duplicate(sessions, ws) -> None:
    primary = make(sessions, ws, {"first_name": "Jane", "email": "", "phone": "+14155550100"})
    older = make(sessions, ws, {"first_name": "Janet", "email": "old@x.com", "company": "Acme"})
    newer = make(sessions, ws, {"email": "new@x.com", "job_title": "CEO", "company": "  "})
    done = merge(sessions, ws, primary, [older, newer])
    survivor = data_of(sessions, ws, primary)
    assert survivor.data == {
        "first_name": "Jane",
        "email": "new@x.com",
        "phone": "+14155550100",
        "company": "Acme",
        "job_title": "CEO",
    }
    assert survivor.version == 2 and survivor.deleted_at is None
    for loser in (older, newer):
        gone = data_of(sessions, ws, loser)
        assert gone.merged_into == primary and gone.deleted_at is not None and gone.version == 2
    with session_scope(sessions) as s:
        feed = intake.record_activity(session=s, workspace_id=ws, record_id=primary)
        merged = next(a for a in feed if a.kind == "merged")
        assert merged.details["merge_id"] == done.id
        assert merged.details["duplicate_ids"] == [older, newer]
        assert merged.changes["email"] == {"old": None, "new": "new@x.com"}
        assert set(merged.changes) == {"email", "company", "job_title"}
        entry = s.scalar(select(AuditEntry).where(AuditEntry.workspace_id == ws))
        assert entry is not None and entry.kind == "merge" and entry.record_id == primary
        assert entry.matched_ids == [older, newer] and entry.actor == "key:test"
        assert entry.entity == "contact" and entry.details["merge_id"] == done.id


def test_choices_pick_the_surviving_value_field_by_field(sessions, ws) -> None:
    primary = make(sessions, ws, {"first_name": "Jane", "email": "jane@x.com"})
    dup = make(sessions, ws, {"first_name": "Janet", "phone": "+14155550100"})
    merge(sessions, ws, primary, [dup], choices={"first_name": dup, "phone": primary})
    # phone chosen from the primary, which has none: the field stays empty
    assert data_of(sessions, ws, primary).data == {"first_name": "Janet", "email": "jane@x.com"}


def test_related_records_activity_tags_and_lists_move_and_undo_restores(sessions, ws) -> None:
    with session_scope(sessions) as s:
        vip = create_list(session=s, workspace_id=ws, name="VIP").id
        news = create_list(session=s, workspace_id=ws, name="News").id
    primary = make(sessions, ws, {"first_name": "Ann"}, tags=("x",), list_ids=(news,))
    loser = make(sessions, ws, {"first_name": "Anne"}, tags=("x", "vip"), list_ids=(vip, news))
    deal = make(sessions, ws, {"name": "Big deal"}, entity="deal")
    company = make(sessions, ws, {"name": "Acme"}, entity="company")
    kept = link(sessions, ws, deal, primary, "contact", entity="deal")
    repeat = link(sessions, ws, deal, loser, "contact", entity="deal")  # dropped: repeat
    moved = link(sessions, ws, loser, company, "company")  # moved
    self_link = link(sessions, ws, primary, loser, "related")  # dropped: self-link
    before = state(sessions, ws)
    loser_activity = [a for a, r in before["activities"].items() if r == loser]
    done = merge(sessions, ws, primary, [loser])
    after = state(sessions, ws)
    links_now = {lk[0]: lk[1:3] for lk in after["links"]}
    assert links_now == {kept: (deal, primary), moved: (primary, company)}
    assert repeat not in links_now and self_link not in links_now
    assert all(after["activities"][a] == primary for a in loser_activity)
    assert {t for r, t in after["tags"] if r == primary} == {"x", "vip"}
    assert {li for r, li in after["lists"] if r == primary} == {vip, news}
    assert done.snapshot["tags_added"] == ["vip"] and done.snapshot["lists_added"] == [vip]
    assert merges.moved_counts(done.snapshot) == {
        "links_moved": 1,
        "links_dropped": 2,
        "activities": len(loser_activity),
        "tags_added": 1,
        "lists_added": 1,
    }
    undone = undo(sessions, ws, done.id)
    assert undone.undone_at is not None
    same_as_before(before, state(sessions, ws))
    with session_scope(sessions) as s:
        kinds = [
            a.kind for a in intake.record_activity(session=s, workspace_id=ws, record_id=primary)
        ]
        assert kinds[:2] == ["unmerged", "merged"]
        assert s.scalar(select(Record.version).where(Record.id == primary)) == 1
        audit_kinds = s.scalars(
            select(AuditEntry.kind).where(AuditEntry.workspace_id == ws).order_by(AuditEntry.kind)
        ).all()
        assert audit_kinds == ["merge", "undo"]


def test_key_index_follows_the_survivor(sessions, ws) -> None:
    with session_scope(sessions) as s:
        entities.set_match_keys(session=s, workspace_id=ws, entity="contact", fields=["email"])
    primary = make(sessions, ws, {"first_name": "Bo"})
    other = make(sessions, ws, {"email": "robert@x.com"})
    took = make(sessions, ws, {"email": "bo@x.com"})
    done = merge(sessions, ws, primary, [other, took])  # took is newer: its email survives
    assert data_of(sessions, ws, primary).data["email"] == "bo@x.com"

    def intake_of(email: str) -> intake.Outcome:
        with session_scope(sessions) as s:
            return intake.submit(
                session=s,
                workspace_id=ws,
                entity="contact",
                inbound=Inbound({"email": email}),
                source="api",
            )

    hit = intake_of("BO@x.com")
    assert hit.decision == "skipped" and hit.record_id == primary and hit.matches == [primary]
    miss = intake_of("robert@x.com")  # the deleted loser is never matched
    assert miss.decision == "created" and other not in miss.matches
    undo(sessions, ws, done.id)
    back = intake_of("bo@x.com")
    assert back.decision == "skipped" and back.record_id == took


@pytest.fixture
def cipher():
    crypto.configure(crypto.new_key())
    yield
    crypto.configure(None)


def test_encrypted_fields_merge_and_undo_exactly(sessions, ws, cipher) -> None:
    with session_scope(sessions) as s:
        entities.create_field(
            session=s, workspace_id=ws, entity="contact", name="ssn", type="text", encrypted=True
        )
    primary = make(sessions, ws, {"first_name": "Cy"})
    dup = make(sessions, ws, {"ssn": "123-45-6789"})
    before = state(sessions, ws)
    done = merge(sessions, ws, primary, [dup])
    stored = data_of(sessions, ws, primary).data
    assert stored["ssn"].startswith(crypto.PREFIX)
    assert crypto.unseal(stored, ["ssn"])["ssn"] == "123-45-6789"
    assert done.snapshot["changes"]["ssn"] == {"old": None, "new": crypto.REDACTED}
    undo(sessions, ws, done.id)
    same_as_before(before, state(sessions, ws))


# --- errors -----------------------------------------------------------------------------------


def test_request_errors(sessions, ws) -> None:
    ids = [make(sessions, ws, {"first_name": f"P{i}"}) for i in range(12)]
    with pytest.raises(ValidationError, match="at most 10"):
        merge(sessions, ws, ids[0], ids[1:])
    with pytest.raises(ValidationError, match="primary"):
        merge(sessions, ws, ids[0], [ids[0], ids[1]])
    with pytest.raises(ValidationError, match="each record once"):
        merge(sessions, ws, ids[0], [ids[1], ids[1]])
    with pytest.raises(ValidationError, match="at least one"):
        merge(sessions, ws, ids[0], [])
    with pytest.raises(ValidationError, match=r"choices\.email"):
        merge(sessions, ws, ids[0], [ids[1]], choices={"email": ids[5]})
    with pytest.raises(ValidationError, match="no field"):
        merge(sessions, ws, ids[0], [ids[1]], choices={"nothing": ids[1]})
    with session_scope(sessions) as s:
        foreign_ws = create_workspace(session=s, name="Other").id
    foreign = make(sessions, foreign_ws, {"first_name": "X"})
    with pytest.raises(NotFoundError):
        merge(sessions, ws, ids[0], [foreign])
    with pytest.raises(NotFoundError):
        merge(sessions, ws, foreign, [ids[0]])
    deal = make(sessions, ws, {"name": "D"}, entity="deal")
    with pytest.raises(NotFoundError):  # another entity's record
        merge(sessions, ws, ids[0], [deal])
    with session_scope(sessions) as s:
        delete_record(session=s, workspace_id=ws, entity="contact", record_id=ids[2])
    with pytest.raises(ConflictError, match="deleted"):
        merge(sessions, ws, ids[0], [ids[2]])
    merge(sessions, ws, ids[3], [ids[4]])
    with pytest.raises(ConflictError, match="merged into"):
        merge(sessions, ws, ids[0], [ids[4]])
    with pytest.raises(ConflictError, match="merged into"):
        merge(sessions, ws, ids[4], [ids[0]])
    assert data_of(sessions, ws, ids[0]).version == 1  # nothing was written by the failures


def test_undo_twice_after_30_days_and_after_changes(sessions, ws) -> None:
    a, b, c, d = (make(sessions, ws, {"first_name": n}) for n in "abcd")
    first = merge(sessions, ws, a, [b])
    undo(sessions, ws, first.id)
    with pytest.raises(ConflictError, match="undone already"):
        undo(sessions, ws, first.id)

    old = merge(sessions, ws, a, [b])
    with session_scope(sessions) as s:
        s.execute(
            update(Merge)
            .where(Merge.id == old.id)
            .values(created_at=old.created_at - timedelta(days=30, seconds=1))
        )
    with pytest.raises(ConflictError, match="30 days") as expired:
        undo(sessions, ws, old.id)
    assert expired.value.details["reason"] == "expired"

    with session_scope(sessions) as s:  # back inside the window
        s.execute(update(Merge).where(Merge.id == old.id).values(created_at=old.created_at))
    again = merge(sessions, ws, c, [a])  # the survivor of `old` is merged again
    with pytest.raises(ConflictError, match=f"merged into {c}") as blocked:
        undo(sessions, ws, old.id)
    assert blocked.value.details["merge_id"] == again.id
    undo(sessions, ws, again.id)
    undo(sessions, ws, old.id)  # in order, both undo
    assert data_of(sessions, ws, b).deleted_at is None

    edited = merge(sessions, ws, c, [d])
    with session_scope(sessions) as s:
        intake.edit(
            session=s, workspace_id=ws, entity="contact", record_id=c, data={"city": "Oslo"}
        )
    with pytest.raises(ConflictError, match="changed since the merge") as changed:
        undo(sessions, ws, edited.id)
    assert changed.value.details["reason"] == "changed"

    e = make(sessions, ws, {"first_name": "e"})
    gone = merge(sessions, ws, b, [e])
    with session_scope(sessions) as s:
        s.execute(delete(Record).where(Record.id == e))
    with pytest.raises(ConflictError, match="deleted permanently"):
        undo(sessions, ws, gone.id)
    with pytest.raises(NotFoundError):
        undo(sessions, ws, "nope")


# --- property: merge then undo is the identity ------------------------------------------------

FIELDS = ("first_name", "email", "company", "job_title")
VALUES = st.sampled_from([None, "", "a", "b@x.com", "Acme"])


@st.composite
def scenarios(draw):
    n = draw(st.integers(min_value=2, max_value=5))
    rows = [
        (
            {f: v for f in FIELDS if (v := draw(VALUES)) is not None},
            draw(st.sets(st.sampled_from(["t1", "t2", "t3"]))),
            draw(st.sets(st.sampled_from([0, 1]))),
        )
        for _ in range(n)
    ]
    # index n is a deal outside the merge
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n), st.integers(0, n), st.sampled_from(["", "contact", "x"])),
            max_size=8,
        )
    )
    order = draw(st.permutations(range(n)))
    k = draw(st.integers(min_value=1, max_value=n - 1))
    primary, dups = order[0], list(order[1 : 1 + k])
    choices = draw(
        st.dictionaries(st.sampled_from(FIELDS), st.sampled_from([primary, *dups]), max_size=2)
    )
    return rows, pairs, primary, dups, choices


@settings(
    max_examples=20,
    deadline=None,
    # each example makes its own workspace, so sharing the database between examples is safe
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenarios())
def test_merge_then_undo_restores_the_exact_prior_state(sessions, scenario) -> None:
    rows, pairs, primary, dups, choices = scenario
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="P").id
        lists = [create_list(session=s, workspace_id=ws, name=f"L{i}").id for i in range(2)]
    ids = [
        make(sessions, ws, data, tags=tuple(sorted(tags)), list_ids=tuple(lists[i] for i in ls))
        for data, tags, ls in rows
    ]
    ids.append(make(sessions, ws, {"name": "D"}, entity="deal"))
    for source, target, label in pairs:
        if source == target:
            continue
        entity = "deal" if source == len(rows) else "contact"
        with contextlib.suppress(ConflictError):  # the same link drawn twice
            link(sessions, ws, ids[source], ids[target], label, entity=entity)
    before = state(sessions, ws)
    done = merge(
        sessions,
        ws,
        ids[primary],
        [ids[i] for i in dups],
        choices={f: ids[i] for f, i in choices.items()},
    )
    during = state(sessions, ws)
    losers = {ids[i] for i in dups}
    assert all(during["records"][i][2] == ids[primary] for i in losers)
    assert not any(lk[1] in losers or lk[2] in losers for lk in during["links"])
    assert all(during["activities"][a] not in losers for a in before["activities"])
    for field, i in choices.items():
        assert during["records"][ids[primary]][0].get(field) == before["records"][ids[i]][0].get(
            field
        )
    undo(sessions, ws, done.id)
    same_as_before(before, state(sessions, ws))
