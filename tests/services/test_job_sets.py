"""A job's findings as frames (sets, members, pairs) and their bulk write, on both databases."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import polars as pl
import pytest
from sqlalchemy import select

from dupeguard.services import job_sets
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.bulk import insert_frame, json_texts, new_ids
from dupeguard.store.session import session_scope
from dupeguard.store.tables import (
    DuplicateJob,
    DuplicatePair,
    DuplicateRecordSet,
    DuplicateSetMember,
    Entity,
    Record,
)

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_new_ids_are_distinct_uuid7_strings() -> None:
    ids = new_ids(5_000).to_list()
    assert len(set(ids)) == 5_000
    assert all(UUID7.match(i) for i in ids)
    assert uuid.UUID(ids[0]).version == 7
    assert new_ids(0).to_list() == []


def test_json_texts_serialises_each_list() -> None:
    values = pl.Series([["email"], ["first_name", "phone"], [], ["email"], None])
    assert json_texts(values).to_list() == [
        '["email"]',
        '["first_name", "phone"]',
        "[]",
        '["email"]',
        "[]",
    ]


def _pairs(rows: list[tuple[str, str, float, list[str]]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(a, b, s, f, "because " + ",".join(f)) for a, b, s, f in rows],
        schema=job_sets.PAIRS_SCHEMA,
        orient="row",
    )


def test_sets_from_pairs_and_clusters() -> None:
    pairs = _pairs(
        [
            ("a", "b", 0.91234567, ["email"]),
            ("b", "c", 0.8, ["phone"]),
            ("x", "y", 1.0, ["email", "phone"]),
        ]
    )
    created = pl.DataFrame(
        {
            "id": ["a", "b", "c", "x", "y"],
            "created_at": ["2024-01-02", "2024-01-01", "2024-01-03", "2024-02-01", "2024-02-01"],
        }
    )
    clusters = job_sets.clusters_by_age(pairs, created)
    found = job_sets.sets_from(pairs, clusters)
    members = {
        r["record_id"]: (r["cluster_id"], r["score"], r["is_primary"])
        for r in found.members.iter_rows(named=True)
    }
    # a-b-c are one set (primary b, the oldest); x-y another (same time: smaller id wins)
    assert members["a"][0] == members["b"][0] == members["c"][0] != members["x"][0]
    assert [r for r, m in members.items() if m[2]] == ["b", "x"]
    # a member's score is its best pair's similarity, rounded as stored
    assert members["a"][1] == 0.912346 and members["b"][1] == 0.912346
    assert members["c"][1] == 0.8
    sets = {
        r["cluster_id"]: (r["size"], r["max_similarity"]) for r in found.sets.iter_rows(named=True)
    }
    assert sets[members["a"][0]] == (3, 0.912346)
    assert sets[members["x"][0]] == (2, 1.0)
    assert found.counts == (2, 3)


def test_sets_from_no_pairs() -> None:
    found = job_sets.sets_from(
        pl.DataFrame(schema=job_sets.PAIRS_SCHEMA), pl.DataFrame(schema=job_sets.CLUSTERS_SCHEMA)
    )
    assert found.counts == (0, 0) and found.members.height == 0


def test_write_inserts_sets_members_and_pairs(sessions) -> None:
    with session_scope(sessions) as session:
        workspace_id = create_workspace(session=session, name="w").id
    with session_scope(sessions) as session:
        entity_id = session.scalar(
            select(Entity.id).where(Entity.workspace_id == workspace_id, Entity.name == "contact")
        )
        job = DuplicateJob(
            workspace_id=workspace_id, entity_id=entity_id, method="rule", status="running"
        )
        records = [Record(workspace_id=workspace_id, entity_id=entity_id, data={}) for _ in "123"]
        session.add_all([job, *records])
        session.flush()
        job_id = job.id
        r1, r2, r3 = (r.id for r in records)
    pairs = _pairs([(r1, r2, 0.9, ["email"]), (r2, r3, 0.95, ["email", "phone"])])
    clusters = job_sets.clusters_by_age(
        pairs, pl.DataFrame({"id": [r1, r2, r3], "created_at": ["1", "2", "3"]})
    )
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with session_scope(sessions) as session:
        written = job_sets.write(
            session,
            job_sets.sets_from(pairs, clusters),
            workspace_id=workspace_id,
            entity_id=entity_id,
            job_id=job_id,
            now=now,
        )
    assert written == (1, 2)
    with session_scope(sessions) as session:
        (one,) = session.scalars(select(DuplicateRecordSet)).all()
        assert (one.size, one.max_similarity, one.status, one.source) == (3, 0.95, "open", "job")
        assert one.created_at == now and one.job_id == job_id and one.entity_id == entity_id
        members = session.scalars(select(DuplicateSetMember)).all()
        assert {m.record_id: (m.score, m.is_primary) for m in members} == {
            r1: (0.9, True),
            r2: (0.95, False),
            r3: (0.95, False),
        }
        stored = {
            (p.primary_id, p.duplicate_id): (p.similarity, p.matched_fields, p.reason, p.set_id)
            for p in session.scalars(select(DuplicatePair))
        }
        assert stored == {
            (r1, r2): (0.9, ["email"], "because email", one.id),
            (r2, r3): (0.95, ["email", "phone"], "because email,phone", one.id),
        }


def test_insert_frame_refuses_unknown_columns_and_unserialised_json(sessions) -> None:
    with session_scope(sessions) as session:
        with pytest.raises(ValueError, match="no column 'nope'"):
            insert_frame(session, DuplicatePair.__table__, pl.DataFrame({"nope": ["x"]}))
        with pytest.raises(ValueError, match="JSON columns take JSON text"):
            insert_frame(
                session,
                DuplicatePair.__table__,
                pl.DataFrame({"matched_fields": [["email"]]}),
            )
