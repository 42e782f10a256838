"""Duplicate jobs and record sets as services, on both databases: a job finds the synthetic
duplicates, reports progress, can be cancelled (queued or running), fails cleanly, reads
``interrupted`` when its server died; "not a duplicate" drops a pair for good; a second job
supersedes the first's open sets; the review queue pages and filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dupeguard.core.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from dupeguard.services import duplicate_jobs as jobs
from dupeguard.services import intake
from dupeguard.services import record_sets as sets
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import (
    AuditEntry,
    DuplicateJob,
    DuplicatePair,
    DuplicateRecordSet,
    DuplicateSetMember,
    NotDuplicate,
    utcnow,
)
from dupeguard.synthetic import generate_contacts


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        return create_workspace(session=s, name="Acme").id


def load_contacts(sessions, ws: str, n: int = 200, seed: int = 1) -> dict[str, int]:
    """Store ``n`` synthetic contacts; returns record id → true entity number."""
    records, truth = generate_contacts(n, seed=seed)
    entity_of = dict(zip(truth["id"], truth["entity_id"], strict=True))
    rows = [
        intake.Inbound({k: v for k, v in r.items() if k not in ("id", "created_at") and v})
        for r in records.iter_rows(named=True)
    ]
    with session_scope(sessions) as s:
        out = intake.submit_many(
            session=s, workspace_id=ws, entity="contact", rows=rows, source="import", mode="off"
        )
    ids = list(records["id"])
    return {o.record_id: entity_of[ids[i]] for i, o in enumerate(out)}  # type: ignore[union-attr]


def new_job(sessions, ws: str, entity: str = "contact", **kw) -> str:
    with session_scope(sessions) as s:
        return jobs.create(session=s, workspace_id=ws, entity=entity, **kw).id


def job_row(sessions, job_id: str) -> DuplicateJob:
    with session_scope(sessions) as s:
        job = s.get(DuplicateJob, job_id)
        assert job is not None
        return job


def job_sets(sessions, job_id: str) -> list[DuplicateRecordSet]:
    with session_scope(sessions) as s:
        return list(
            s.scalars(select(DuplicateRecordSet).where(DuplicateRecordSet.job_id == job_id))
        )


def set_pairs(sessions, set_id: str) -> list[DuplicatePair]:
    with session_scope(sessions) as s:
        return list(s.scalars(select(DuplicatePair).where(DuplicatePair.set_id == set_id)))


def all_pairs(sessions, job_id: str) -> set[tuple[str, str]]:
    with session_scope(sessions) as s:
        rows = s.execute(
            select(DuplicatePair.primary_id, DuplicatePair.duplicate_id)
            .join(DuplicateRecordSet, DuplicateRecordSet.id == DuplicatePair.set_id)
            .where(DuplicateRecordSet.job_id == job_id)
        )
        return {(min(a, b), max(a, b)) for a, b in rows}


def test_job_finds_the_synthetic_duplicates(sessions, ws) -> None:
    truth = load_contacts(sessions, ws)
    job_id = new_job(sessions, ws, threshold=0.85, actor="key:test")
    seen: list[tuple[str, float]] = []
    assert jobs.run_job(sessions, job_id, on_progress=lambda st, p: seen.append((st, p))) == (
        "completed"
    )

    job = job_row(sessions, job_id)
    assert (job.status, job.stage, job.progress) == ("completed", "done", 1.0)
    assert job.records_scanned == 200
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at
    stages = [st for st, _ in seen]
    for stage in ("loading", "normalise", "block", "compare", "score", "cluster", "saving"):
        assert stage in stages
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and progress[0] >= 0 and progress[-1] <= 1

    found = job_sets(sessions, job_id)
    assert len(found) == job.sets_found > 10
    pair_total = 0
    true_pairs = 0
    with session_scope(sessions) as s:
        for item in found:
            assert (item.status, item.source) == ("open", "job")
            members = list(
                s.scalars(select(DuplicateSetMember).where(DuplicateSetMember.set_id == item.id))
            )
            pairs = set_pairs(sessions, item.id)
            assert item.size == len(members) >= 2
            assert sum(m.is_primary for m in members) == 1
            assert pairs and item.max_similarity == max(p.similarity for p in pairs)
            ids = {m.record_id for m in members}
            for p in pairs:
                assert {p.primary_id, p.duplicate_id} <= ids
                assert p.similarity >= 0.85 and p.reason and p.matched_fields
                true_pairs += truth[p.primary_id] == truth[p.duplicate_id]
            for m in members:  # a member's score is its best pair
                assert m.score == max(
                    p.similarity for p in pairs if m.record_id in (p.primary_id, p.duplicate_id)
                )
            pair_total += len(pairs)
        assert pair_total == job.pairs_found
        assert true_pairs / pair_total > 0.9
        entry = s.scalar(select(AuditEntry).where(AuditEntry.kind == "duplicate_job"))
        assert entry is not None and entry.entity == "contact" and entry.actor == "key:test"
        assert entry.details == {
            "job_id": job_id,
            "sets": job.sets_found,
            "pairs": job.pairs_found,
            "threshold": 0.85,
        }


def test_empty_entity_completes_with_no_sets(sessions, ws) -> None:
    job_id = new_job(sessions, ws, entity="deal")
    assert jobs.run_job(sessions, job_id) == "completed"
    job = job_row(sessions, job_id)
    assert (job.records_scanned, job.sets_found, job.pairs_found) == (0, 0, 0)


def test_cancel_a_running_job(sessions, ws) -> None:
    load_contacts(sessions, ws, n=120)
    job_id = new_job(sessions, ws)

    def hook(stage: str, _progress: float) -> None:
        if stage == "compare":
            job = job_row(sessions, job_id)
            assert job.status == "running" and job.stage == "compare" and job.progress >= 0.2
            with session_scope(sessions) as s:
                cancelled = jobs.cancel(session=s, workspace_id=ws, job_id=job_id)
                assert cancelled.status == "running" and cancelled.cancel_requested

    assert jobs.run_job(sessions, job_id, on_progress=hook) == "cancelled"
    job = job_row(sessions, job_id)
    assert job.status == "cancelled" and job.finished_at is not None
    assert job_sets(sessions, job_id) == []
    with session_scope(sessions) as s:
        # no duplicate_job entry (the rules' entries of the loaded records are not the job's)
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.kind == "duplicate_job")
            )
            == 0
        )


def test_cancel_a_queued_job_and_finished_ones(sessions, ws) -> None:
    job_id = new_job(sessions, ws)
    with pytest.raises(ConflictError, match="already queued"):
        new_job(sessions, ws)  # one active job per entity
    with session_scope(sessions) as s:
        assert jobs.cancel(session=s, workspace_id=ws, job_id=job_id).status == "cancelled"
    with session_scope(sessions) as s:  # again: no change, no error
        assert jobs.cancel(session=s, workspace_id=ws, job_id=job_id).status == "cancelled"
    assert jobs.run_job(sessions, job_id) == "cancelled"  # the runner does not start it
    assert job_row(sessions, job_id).started_at is None

    done = new_job(sessions, ws, entity="deal")
    assert jobs.run_job(sessions, done) == "completed"
    with session_scope(sessions) as s, pytest.raises(ConflictError, match="completed"):
        jobs.cancel(session=s, workspace_id=ws, job_id=done)


def test_a_dead_server_reads_failed_interrupted(sessions, ws) -> None:
    job_id = new_job(sessions, ws)
    with session_scope(sessions) as s:
        s.execute(
            update(DuplicateJob)
            .where(DuplicateJob.id == job_id)
            .values(status="running", started_at=utcnow(), heartbeat_at=utcnow())
        )
    assert jobs.status_of(job_row(sessions, job_id)) == ("running", None)
    later = utcnow() + timedelta(seconds=61)
    assert jobs.status_of(job_row(sessions, job_id), now=later) == ("failed", "interrupted")
    with session_scope(sessions) as s:
        s.execute(
            update(DuplicateJob)
            .where(DuplicateJob.id == job_id)
            .values(heartbeat_at=utcnow() - timedelta(minutes=2))
        )
    assert jobs.status_of(job_row(sessions, job_id)) == ("failed", "interrupted")
    with session_scope(sessions) as s, pytest.raises(ConflictError, match="failed"):
        jobs.cancel(session=s, workspace_id=ws, job_id=job_id)
    new_job(sessions, ws)  # the dead job does not block a new one
    # a queued job nobody picked up reads the same
    with session_scope(sessions) as s:
        queued = jobs.create(session=s, workspace_id=ws, entity="lead")
        queued.created_at = utcnow() - timedelta(minutes=5)
    assert jobs.status_of(job_row(sessions, queued.id)) == ("failed", "interrupted")


def test_failures_mark_the_job_failed_and_write_nothing(sessions, ws, monkeypatch) -> None:
    load_contacts(sessions, ws, n=30)

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(jobs, "scan", broken)
    job_id = new_job(sessions, ws)
    assert jobs.run_job(sessions, job_id) == "failed"
    job = job_row(sessions, job_id)
    assert (job.status, job.error, job.stage) == ("failed", "internal error", "failed")
    assert job_sets(sessions, job_id) == []

    def config(*_a, **_k):
        raise ConfigError("nothing to compare")

    monkeypatch.setattr(jobs, "scan", config)
    job_id = new_job(sessions, ws)
    assert jobs.run_job(sessions, job_id) == "failed"
    assert job_row(sessions, job_id).error == "nothing to compare"


def test_not_duplicate_drops_the_pair_and_a_rerun_keeps_it_out(sessions, ws) -> None:
    load_contacts(sessions, ws)
    first = new_job(sessions, ws)
    assert jobs.run_job(sessions, first) == "completed"
    found = job_sets(sessions, first)
    pair_set = next(s for s in found if s.size == 2)  # one pair: dismissed once marked
    big = max(found, key=lambda s: s.size)
    assert big.size >= 3
    (only,) = set_pairs(sessions, pair_set.id)
    a, b = sorted((only.primary_id, only.duplicate_id))
    target = set_pairs(sessions, big.id)[0]

    for _ in range(2):  # idempotent
        with session_scope(sessions) as s:
            item = sets.mark_not_duplicate(
                session=s,
                workspace_id=ws,
                set_id=pair_set.id,
                pairs=[[b, a]],
                actor="key:rev",
                request_id="req-1",
            )
            assert item.status == "dismissed" and item.resolved_at is not None
    with session_scope(sessions) as s:
        big_after = sets.mark_not_duplicate(
            session=s,
            workspace_id=ws,
            set_id=big.id,
            pairs=[[target.primary_id, target.duplicate_id]],
        )
        assert big_after.status == "open"
        marks = list(s.scalars(select(NotDuplicate)))
        assert {(m.record_a, m.record_b) for m in marks} >= {(a, b)}
        assert all(m.record_a < m.record_b for m in marks)
        assert len(marks) == 2
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.kind == "not_duplicate")))
        assert len(entries) == 2
        first_entry = next(e for e in entries if e.record_id == a)
        assert first_entry.matched_ids == [b] and first_entry.actor == "key:rev"
        assert first_entry.details["set_id"] == pair_set.id
    assert set_pairs(sessions, pair_set.id) == []
    assert target.id not in {p.id for p in set_pairs(sessions, big.id)}

    second = new_job(sessions, ws)
    assert jobs.run_job(sessions, second) == "completed"
    rerun = all_pairs(sessions, second)
    assert (a, b) not in rerun
    assert (
        min(target.primary_id, target.duplicate_id),
        max(target.primary_id, target.duplicate_id),
    ) not in rerun
    with session_scope(sessions) as s:  # the two records of the dismissed set share no set now
        together = s.scalar(
            select(func.count())
            .select_from(DuplicateSetMember)
            .join(DuplicateRecordSet, DuplicateRecordSet.id == DuplicateSetMember.set_id)
            .where(DuplicateRecordSet.job_id == second, DuplicateSetMember.record_id.in_([a, b]))
            .group_by(DuplicateSetMember.set_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        assert together in (None, 1)
        for item in s.scalars(
            select(DuplicateRecordSet).where(DuplicateRecordSet.job_id == second)
        ):
            members = list(
                s.scalars(select(DuplicateSetMember).where(DuplicateSetMember.set_id == item.id))
            )
            assert sum(m.is_primary for m in members) == 1 and len(members) >= 2
    # the second job superseded the first's open sets; the dismissed one stays dismissed
    statuses = {s.id: s.status for s in job_sets(sessions, first)}
    assert statuses.pop(pair_set.id) == "dismissed"
    assert set(statuses.values()) == {"superseded"}
    assert {s.status for s in job_sets(sessions, second)} == {"open"}


def test_not_duplicate_checks_its_input(sessions, ws) -> None:
    load_contacts(sessions, ws, n=120)
    job_id = new_job(sessions, ws)
    jobs.run_job(sessions, job_id)
    item = job_sets(sessions, job_id)[0]
    pair = set_pairs(sessions, item.id)[0]
    other_ws = create_other(sessions)
    outsider = next(iter(load_contacts(sessions, ws, n=5, seed=9)))  # in no set
    for bad, message in (
        ([], "name a pair"),
        ([[pair.primary_id]], "two different"),
        ([[pair.primary_id, pair.primary_id]], "two different"),
        ([[pair.primary_id, outsider]], "not a member"),
    ):
        with session_scope(sessions) as s, pytest.raises(ValidationError, match=message):
            sets.mark_not_duplicate(session=s, workspace_id=ws, set_id=item.id, pairs=bad)
    with session_scope(sessions) as s, pytest.raises(NotFoundError):
        sets.mark_not_duplicate(
            session=s,
            workspace_id=other_ws,
            set_id=item.id,
            pairs=[[pair.primary_id, pair.duplicate_id]],
        )
    with session_scope(sessions) as s:
        with pytest.raises(NotFoundError):
            sets.get_set(session=s, workspace_id=other_ws, set_id=item.id)
        with pytest.raises(NotFoundError):
            jobs.get(session=s, workspace_id=other_ws, job_id=job_id)
        assert s.scalar(select(func.count()).select_from(NotDuplicate)) == 0


def create_other(sessions) -> str:
    with session_scope(sessions) as s:
        return create_workspace(session=s, name="Other").id


def test_record_set_queue_pages_and_filters(sessions, ws) -> None:
    load_contacts(sessions, ws)
    job_id = new_job(sessions, ws)
    jobs.run_job(sessions, job_id)
    total = job_row(sessions, job_id).sets_found
    seen: list[DuplicateRecordSet] = []
    cursor = None
    with session_scope(sessions) as s:
        while True:
            page, cursor = sets.list_sets(session=s, workspace_id=ws, limit=7, cursor=cursor)
            assert len(page) <= 7
            seen.extend(page)
            if cursor is None:
                break
        assert len(seen) == total == len({x.id for x in seen})
        keys = [(x.max_similarity, x.id) for x in seen]
        assert keys == sorted(keys, reverse=True)

        members = sets.members_of(session=s, set_ids=[seen[0].id])[seen[0].id]
        assert members[0].is_primary and len(members) == seen[0].size

        cut = seen[len(seen) // 2].max_similarity
        high, _ = sets.list_sets(session=s, workspace_id=ws, min_similarity=cut, limit=200)
        assert high and all(x.max_similarity >= cut for x in high)
        assert len(high) == sum(x.max_similarity >= cut for x in seen)
        by_job, _ = sets.list_sets(session=s, workspace_id=ws, job_id=job_id, limit=200)
        assert len(by_job) == total
        assert sets.list_sets(session=s, workspace_id=ws, job_id="nope")[0] == []
        assert sets.list_sets(session=s, workspace_id=ws, entity="company")[0] == []
        assert len(sets.list_sets(session=s, workspace_id=ws, entity="contact", limit=200)[0]) == (
            total
        )
        assert sets.list_sets(session=s, workspace_id=ws, status="dismissed")[0] == []
        assert len(sets.list_sets(session=s, workspace_id=ws, status=None, limit=200)[0]) == total
        assert sets.list_sets(session=s, workspace_id=create_other(sessions))[0] == []
        for kwargs in (
            {"cursor": "garbage!"},
            {"status": "closed"},
            {"limit": 0},
            {"min_similarity": 2.0},
        ):
            with pytest.raises(ValidationError):
                sets.list_sets(session=s, workspace_id=ws, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            sets.list_sets(session=s, workspace_id=ws, entity="widget")

        detail = sets.get_set(session=s, workspace_id=ws, set_id=seen[0].id)
        assert set(detail.records) == {m.record_id for m in detail.members}
        sims = [p.similarity for p in detail.pairs]
        assert sims == sorted(sims, reverse=True) and detail.entity == "contact"


def test_job_listing_newest_first(sessions, ws) -> None:
    ids = []
    for entity in ("deal", "company", "lead", "contact"):
        ids.append(new_job(sessions, ws, entity=entity))
    with session_scope(sessions) as s:
        page, cursor = jobs.list_jobs(session=s, workspace_id=ws, limit=3)
        rest, end = jobs.list_jobs(session=s, workspace_id=ws, limit=3, cursor=cursor)
        assert [j.id for j in page + rest] == ids[::-1] and end is None
        only, _ = jobs.list_jobs(session=s, workspace_id=ws, entity="lead")
        assert [j.id for j in only] == [ids[2]]
        with pytest.raises(ValidationError):
            jobs.list_jobs(session=s, workspace_id=ws, cursor="nope")
        assert jobs.list_jobs(session=s, workspace_id=create_other(sessions))[0] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entity": "widget"}, "contact, lead, company, deal"),
        ({"entity": "contact", "method": "rule"}, "matching_rule_id: a matching rule"),
        (
            {"entity": "contact", "method": "rule", "matching_rule_id": "nope"},
            "no matching rule 'nope'",
        ),
        ({"entity": "contact", "method": "magic"}, "method"),
        ({"entity": "contact", "threshold": 1.5}, "threshold"),
        ({"entity": "contact", "matching_rule_id": "r1"}, "only with method rule"),
    ],
)
def test_create_checks_its_input(sessions, ws, kwargs, message) -> None:
    with session_scope(sessions) as s, pytest.raises(ValidationError, match=message):
        jobs.create(session=s, workspace_id=ws, **kwargs)


def test_a_merge_resolves_its_set_and_an_undo_reopens_it(sessions, ws) -> None:
    from dupeguard.services import merges

    load_contacts(sessions, ws, n=120, seed=3)
    job_id = new_job(sessions, ws, threshold=0.85)
    assert jobs.run_job(sessions, job_id) == "completed"
    target = job_sets(sessions, job_id)[0]
    with session_scope(sessions) as s:
        members = s.scalars(
            select(DuplicateSetMember).where(DuplicateSetMember.set_id == target.id)
        ).all()
        primary = next(m.record_id for m in members if m.is_primary)
        others = [m.record_id for m in members if not m.is_primary]
    with session_scope(sessions) as s:
        merge_id = merges.merge(
            session=s,
            workspace_id=ws,
            entity="contact",
            primary_id=primary,
            duplicate_ids=others,
        ).id
    with session_scope(sessions) as s:
        assert s.get(DuplicateRecordSet, target.id).status == "merged"
    with session_scope(sessions) as s:
        merges.undo(session=s, workspace_id=ws, merge_id=merge_id)
    with session_scope(sessions) as s:
        reopened = s.get(DuplicateRecordSet, target.id)
        assert reopened.status == "open" and reopened.resolved_at is None


def test_a_job_by_matching_rule_finds_what_the_rule_matches(sessions, ws) -> None:
    from dupeguard.services import rules

    truth = load_contacts(sessions, ws, n=300, seed=3)
    job_id = new_job(sessions, ws, method="rule", matching_rule_id="Standard contact matching rule")
    assert jobs.run_job(sessions, job_id) == "completed"
    job = job_row(sessions, job_id)
    assert job.method == "rule" and job.threshold is None and job.records_scanned == 300
    pairs = all_pairs(sessions, job_id)
    assert pairs and job.pairs_found == len(pairs)
    true_pairs = sum(truth[a] == truth[b] for a, b in pairs)
    assert true_pairs / len(pairs) > 0.9  # the standard rule is precise on synthetic contacts
    # every pair is one the rule itself matches, as the save-time check would
    with session_scope(sessions) as s:
        row = rules.get_matching_rule(
            session=s, workspace_id=ws, entity="contact", rule_id="Standard contact matching rule"
        )
        types, _ = rules.field_types(s, row.entity_id)
        from dupeguard.core.rules import compile_rule
        from dupeguard.store.tables import Record

        compiled = compile_rule(
            id=row.id,
            name=row.name,
            conditions=row.conditions,
            expression=row.expression,
            types=types,
        )
        data = {r.id: r.data for r in s.scalars(select(Record))}
    assert all(compiled.evaluate(data[a], data[b], "US")[0] for a, b in pairs)
    # a rerun keeps a "not a duplicate" mark
    first_set = job_sets(sessions, job_id)[0]
    pair = set_pairs(sessions, first_set.id)[0]
    a, b = pair.primary_id, pair.duplicate_id
    with session_scope(sessions) as s:
        sets.mark_not_duplicate(session=s, workspace_id=ws, set_id=first_set.id, pairs=[(a, b)])
    again = new_job(sessions, ws, method="rule", matching_rule_id="Standard contact matching rule")
    assert jobs.run_job(sessions, again) == "completed"
    assert (a, b) not in all_pairs(sessions, again) and (b, a) not in all_pairs(sessions, again)


def test_a_job_by_rule_refuses_cross_entity_and_inactive_rules(sessions, ws) -> None:
    from dupeguard.services import rules

    with session_scope(sessions) as s:
        rules.create_matching_rule(
            session=s,
            workspace_id=ws,
            entity="lead",
            body={"name": "vs contacts", "against": "contact", "conditions": [{"field": "email"}]},
        )
        rules.update_matching_rule(
            session=s,
            workspace_id=ws,
            entity="contact",
            rule_id="Standard contact matching rule",
            body={"active": False},
        )
    for entity, rule, message in (
        ("lead", "vs contacts", "another entity"),
        ("contact", "Standard contact matching rule", "inactive"),
    ):
        with session_scope(sessions) as s, pytest.raises(ValidationError, match=message):
            jobs.create(
                session=s, workspace_id=ws, entity=entity, method="rule", matching_rule_id=rule
            )
