"""Matching rules and duplicate rules on the intake service (seed 002), both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dupeguard.core.errors import ConflictError, DuplicatesDetected, ValidationError
from dupeguard.services import imports, intake, rules
from dupeguard.services.intake import Inbound, RowError
from dupeguard.services.records import delete_record
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import (
    AuditEntry,
    DuplicatePair,
    DuplicateRecordSet,
    DuplicateSetMember,
    Entity,
    Record,
    RecordKey,
)

JANE = {"first_name": "Jane", "last_name": "Doe", "email": "jane@acme.com", "phone": "415 555 0100"}


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        return create_workspace(session=s, name="rules").id


def submit(sessions, ws, data, *, entity="contact", mode="skip", source="api", allow=False):
    with session_scope(sessions) as s:
        return intake.submit(
            session=s,
            workspace_id=ws,
            entity=entity,
            inbound=Inbound(data),
            source=source,
            mode=mode,
            allow_save=allow,
        )


def many(sessions, ws, rows, *, entity="contact", mode="skip"):
    with session_scope(sessions) as s:
        return intake.submit_many(
            session=s,
            workspace_id=ws,
            entity=entity,
            rows=[Inbound(r) for r in rows],
            source="import",
            mode=mode,
        )


def matching(sessions, ws, body, entity="contact"):
    with session_scope(sessions) as s:
        return rules.create_matching_rule(session=s, workspace_id=ws, entity=entity, body=body).id


def duplicate(sessions, ws, body, entity="contact"):
    with session_scope(sessions) as s:
        return rules.create_duplicate_rule(session=s, workspace_id=ws, entity=entity, body=body).id


def standard_off(sessions, ws, entity="contact"):
    with session_scope(sessions) as s:
        for d in rules.list_duplicate_rules(session=s, workspace_id=ws, entity=entity):
            rules.update_duplicate_rule(
                session=s, workspace_id=ws, entity=entity, rule_id=d.id, body={"active": False}
            )


def block_on_email(sessions, ws, **more):
    standard_off(sessions, ws)
    rule = matching(
        sessions, ws, {"name": "Same email", "conditions": [{"field": "email", "method": "email"}]}
    )
    body = {
        "name": "Block duplicate contacts",
        "matching_rules": ["Same email"],
        "action_on_create": "block",
        "action_on_edit": "block",
        **more,
    }
    return rule, duplicate(sessions, ws, body)


def audit(sessions, ws, kind=None):
    with session_scope(sessions) as s:
        query = select(AuditEntry).where(AuditEntry.workspace_id == ws)
        if kind:
            query = query.where(AuditEntry.kind == kind)
        return list(s.scalars(query.order_by(AuditEntry.created_at)))


# --- standard rules ------------------------------------------------------------------------


def test_standard_rules_exist_and_allow_with_an_alert(sessions, ws) -> None:
    with session_scope(sessions) as s:
        for entity in ("contact", "lead", "company"):
            (m,) = rules.list_matching_rules(session=s, workspace_id=ws, entity=entity)
            (d,) = rules.list_duplicate_rules(session=s, workspace_id=ws, entity=entity)
            assert m.standard and d.standard and d.matching_rule_ids == [m.id]
            assert (d.action_on_create, d.action_on_edit) == ("allow", "allow")
        assert rules.list_matching_rules(session=s, workspace_id=ws, entity="deal") == []
    first = submit(sessions, ws, JANE)
    assert first.decision == "created" and first.duplicates == []
    # "Bob" is a nickname of "Robert", Smyth sounds like Smith, same phone: the name + phone rule
    submit(sessions, ws, {"first_name": "Robert", "last_name": "Smith", "phone": "4155550199"})
    again = submit(
        sessions, ws, {"first_name": "Bob", "last_name": "Smyth", "phone": "(415) 555-0199"}
    )
    assert again.decision == "created"
    (alert,) = again.duplicates
    assert alert["entity"] == "contact" and alert["rule"] == "Standard contact duplicate rule"
    assert set(alert["matched_fields"]) == {"first_name", "last_name", "phone"}
    assert 0.85 < alert["similarity"] <= 1.0
    (entry,) = audit(sessions, ws, "duplicate_alert")
    assert entry.record_id == again.record_id and entry.matched_ids == [alert["record_id"]]
    assert entry.action == "allow" and entry.source == "api" and not entry.override


def test_standard_rules_cannot_be_deleted_only_deactivated(sessions, ws) -> None:
    with session_scope(sessions) as s:
        (d,) = rules.list_duplicate_rules(session=s, workspace_id=ws, entity="contact")
        with pytest.raises(ConflictError, match="deactivate"):
            rules.delete_duplicate_rule(session=s, workspace_id=ws, entity="contact", rule_id=d.id)
    standard_off(sessions, ws)
    submit(sessions, ws, JANE)
    assert submit(sessions, ws, {**JANE, "email": "j.doe@acme.com"}).duplicates == []


def test_ensure_standard_rules_is_idempotent(sessions, ws) -> None:
    with session_scope(sessions) as s:
        assert rules.ensure_standard_rules(s) == 0
        assert len(rules.list_matching_rules(session=s, workspace_id=ws, entity="lead")) == 1


# --- matching rules: validation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "conditions": []}, "at least one condition"),
        ({"name": "x", "conditions": [{"field": "nope"}]}, "no field 'nope'"),
        ({"name": "x", "conditions": [{"field": "email", "method": "phonetic"}]}, "not email"),
        ({"name": "x", "conditions": [{"field": "email", "method": "soundex"}]}, "method: one of"),
        ({"name": "x", "conditions": [{"field": "email", "threshold": 1.5}]}, "threshold"),
        ({"name": "x", "conditions": [{"field": "email", "blank": "maybe"}]}, "blank: one of"),
        (
            {"name": "x", "conditions": [{"field": "email"}], "expression": "1 AND 2"},
            "no condition 2",
        ),
        (
            {
                "name": "x",
                "conditions": [{"field": "email"}, {"field": "phone"}],
                "expression": "1",
            },
            "condition 2 is not used",
        ),
        ({"name": "x", "conditions": [{"field": "email"}], "expression": "(1"}, "not closed"),
        ({"name": "x", "conditions": [{"field": "email"}], "expression": "1; drop"}, "unexpected"),
        (
            {"name": "x", "conditions": [{"field": "first_name", "method": "nickname"}]},
            "can only compare",
        ),
        ({"conditions": [{"field": "email"}]}, "name"),
        ({"name": "x", "conditions": [{"field": "email"}], "against": "deal"}, "target entity"),
    ],
)
def test_bad_matching_rules_are_refused_with_the_reason(sessions, ws, body, message) -> None:
    with session_scope(sessions) as s, pytest.raises(ValidationError, match=message):
        rules.create_matching_rule(session=s, workspace_id=ws, entity="contact", body=body)


def test_duplicate_rule_validation(sessions, ws) -> None:
    with session_scope(sessions) as s:
        for body, message in [
            ({"name": "d", "matching_rules": ["missing"]}, "no matching rule 'missing'"),
            ({"name": "d", "matching_rules": []}, "matching_rules"),
            (
                {
                    "name": "d",
                    "matching_rules": ["Standard contact matching rule"],
                    "action_on_create": "delete",
                },
                "action_on_create: one of block, allow",
            ),
            (
                {
                    "name": "d",
                    "matching_rules": ["Standard contact matching rule"],
                    "report": "yes",
                },
                "report: true or false",
            ),
        ]:
            with pytest.raises(ValidationError, match=message):
                rules.create_duplicate_rule(session=s, workspace_id=ws, entity="contact", body=body)
    with session_scope(sessions) as s, pytest.raises(ConflictError, match="exists already"):
        rules.create_duplicate_rule(
            session=s,
            workspace_id=ws,
            entity="contact",
            body={
                "name": "Standard contact duplicate rule",
                "matching_rules": ["Standard contact matching rule"],
            },
        )


# --- block, allow, override ----------------------------------------------------------------


def test_block_names_the_record_rule_fields_and_similarity(sessions, ws) -> None:
    _, rule_id = block_on_email(sessions, ws)
    first = submit(sessions, ws, JANE)
    with pytest.raises(DuplicatesDetected) as caught:
        submit(sessions, ws, {"email": " JANE@acme.com", "first_name": "J"})
    (match,) = caught.value.details["matches"]
    assert match == {
        "record_id": first.record_id,
        "entity": "contact",
        "rule": "Block duplicate contacts",
        "rule_id": rule_id,
        "matched_fields": ["email"],
        "similarity": 1.0,
    }
    assert "Block duplicate contacts" in caught.value.message
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 1
    (entry,) = audit(sessions, ws, "duplicate_blocked")  # kept although the save was refused
    assert entry.record_id is None and entry.matched_ids == [first.record_id]
    assert entry.rule_id == rule_id and entry.details["inbound"]["first_name"] == "J"


def test_allow_save_overrides_for_one_call_and_is_audited(sessions, ws) -> None:
    block_on_email(sessions, ws)
    first = submit(sessions, ws, JANE)
    saved = submit(sessions, ws, JANE, allow=True)
    assert saved.decision == "created" and saved.duplicates[0]["record_id"] == first.record_id
    (entry,) = audit(sessions, ws, "duplicate_override")
    assert entry.override and entry.record_id == saved.record_id and entry.action == "block"
    with pytest.raises(DuplicatesDetected):
        submit(sessions, ws, JANE)


def test_a_rule_change_applies_on_the_next_call(sessions, ws) -> None:
    _, rule_id = block_on_email(sessions, ws)
    submit(sessions, ws, JANE)
    with pytest.raises(DuplicatesDetected):
        submit(sessions, ws, JANE)
    with session_scope(sessions) as s:
        rules.update_duplicate_rule(
            session=s,
            workspace_id=ws,
            entity="contact",
            rule_id=rule_id,
            body={"action_on_create": "allow"},
        )
    assert submit(sessions, ws, JANE).duplicates
    with session_scope(sessions) as s:
        rules.update_duplicate_rule(
            session=s, workspace_id=ws, entity="contact", rule_id=rule_id, body={"active": False}
        )
    assert submit(sessions, ws, JANE).duplicates == []


def test_matching_rule_change_reindexes_stored_records(sessions, ws) -> None:
    rule_id, _ = block_on_email(sessions, ws)
    stored = submit(sessions, ws, JANE)

    def indexed() -> tuple[set[str], set[str]]:
        with session_scope(sessions) as s:
            entity = s.scalar(
                select(Entity).where(Entity.workspace_id == ws, Entity.name == "contact")
            )
            keys = set(
                s.scalars(select(RecordKey.key).where(RecordKey.record_id == stored.record_id))
            )
            return set(entity.block_keys), keys

    before, _ = indexed()
    with session_scope(sessions) as s:
        rules.update_matching_rule(
            session=s,
            workspace_id=ws,
            entity="contact",
            rule_id=rule_id,
            body={"conditions": [{"field": "phone", "method": "phone"}]},
        )
    after, keys = indexed()
    (added,) = after - before  # the phone key, backfilled for the stored record
    assert added in keys and keys <= after
    # the stored record is found by its phone now, not by its e-mail
    assert submit(sessions, ws, {**JANE, "email": "other@x.com"}, allow=True).duplicates
    assert submit(sessions, ws, {"email": "jane@acme.com", "last_name": "Z"}).duplicates == []


def test_edit_checks_action_on_edit(sessions, ws) -> None:
    block_on_email(sessions, ws)
    first = submit(sessions, ws, JANE)
    # an edit that keeps the record's own e-mail never matches the record itself
    with session_scope(sessions) as s:
        intake.edit(
            session=s,
            workspace_id=ws,
            entity="contact",
            record_id=first.record_id,
            data={"city": "Oslo"},
        )
    other = submit(sessions, ws, {"email": "john@acme.com", "last_name": "Roe"})
    with session_scope(sessions) as s, pytest.raises(DuplicatesDetected):
        intake.edit(
            session=s,
            workspace_id=ws,
            entity="contact",
            record_id=other.record_id,
            data={"email": "jane@ACME.com"},
        )
    with session_scope(sessions) as s:
        _record, alerts = intake.edit(
            session=s,
            workspace_id=ws,
            entity="contact",
            record_id=other.record_id,
            data={"email": "jane@ACME.com"},
            allow_save=True,
        )
        assert alerts[0]["record_id"] == first.record_id


def test_update_mode_checks_the_updated_record(sessions, ws) -> None:
    with session_scope(sessions) as s:
        from dupeguard.services.entities import set_match_keys

        set_match_keys(session=s, workspace_id=ws, entity="contact", fields=["external_id"])
    block_on_email(sessions, ws)
    submit(sessions, ws, JANE)
    mine = submit(sessions, ws, {"external_id": "X1", "email": "x1@acme.com"})
    with pytest.raises(DuplicatesDetected):
        submit(sessions, ws, {"external_id": "X1", "email": "jane@acme.com"}, mode="update")
    same = submit(
        sessions, ws, {"external_id": "X1", "email": "x1@acme.com", "city": "Oslo"}, mode="update"
    )
    assert same.decision == "updated" and same.record_id == mine.record_id and same.duplicates == []


# --- batches -------------------------------------------------------------------------------


def test_bulk_rows_are_checked_in_order_and_one_block_aborts_nothing(sessions, ws) -> None:
    block_on_email(sessions, ws)
    stored = submit(sessions, ws, JANE)
    results = many(
        sessions,
        ws,
        [
            {"email": "new@acme.com"},
            {"email": "jane@acme.com"},  # stored record: blocked
            {"email": "NEW@acme.com"},  # row 0 of this batch: blocked
            {"email": "other@acme.com"},
        ],
    )
    assert [type(r).__name__ for r in results] == ["Outcome", "RowError", "RowError", "Outcome"]
    assert isinstance(results[1], RowError)
    assert results[1].error.details["matches"][0]["record_id"] == stored.record_id
    assert isinstance(results[2], RowError)
    assert results[2].error.details["matches"][0]["record_id"] == results[0].record_id
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 3
    assert len(audit(sessions, ws, "duplicate_blocked")) == 2


def test_import_rows_go_through_the_rules(sessions, ws) -> None:
    block_on_email(sessions, ws)
    submit(sessions, ws, JANE)
    content = b"email,first_name\njane@acme.com,Jane\nnew@acme.com,New\n"
    with session_scope(sessions) as s:
        item = imports.upload(
            session=s, workspace_id=ws, entity="contact", filename="c.csv", content=content
        )
        import_id = item.id
    with session_scope(sessions) as s:
        imports.set_mapping(
            session=s,
            workspace_id=ws,
            import_id=import_id,
            mapping={"email": "email", "first_name": "first_name"},
            dedup_mode="skip",
        )
    preview = imports.preview(sessions=sessions, workspace_id=ws, import_id=import_id)
    assert [r.decision for r in preview.rows] == ["blocked", "created"]
    assert preview.counts["blocked"] == 1 and preview.counts["created"] == 1
    assert "Block duplicate contacts" in (preview.rows[0].error or "")
    assert len(preview.rows[0].matches) == 1


def test_a_preview_checks_only_the_rules_that_block(sessions, ws, monkeypatch) -> None:
    """Alerts are not part of a preview: with only alerting rules (the standard ones) it does
    no rule work; a blocking rule is checked and can turn a row into ``blocked``."""
    from dupeguard.services import rule_check

    submit(sessions, ws, JANE)
    content = b"email,first_name\njane@acme.com,Jane\n"
    with session_scope(sessions) as s:
        import_id = imports.upload(
            session=s, workspace_id=ws, entity="contact", filename="c.csv", content=content
        ).id
    with session_scope(sessions) as s:
        imports.set_mapping(
            session=s,
            workspace_id=ws,
            import_id=import_id,
            mapping={"email": "email", "first_name": "first_name"},
            dedup_mode="off",
        )
    checked = []
    check = rule_check.Checker.check
    monkeypatch.setattr(
        rule_check.Checker, "check", lambda self, *a, **k: checked.append(1) or check(self, *a, **k)
    )
    preview = imports.preview(sessions=sessions, workspace_id=ws, import_id=import_id)
    assert [r.decision for r in preview.rows] == ["created"] and checked == []
    block_on_email(sessions, ws)
    preview = imports.preview(sessions=sessions, workspace_id=ws, import_id=import_id)
    assert [r.decision for r in preview.rows] == ["blocked"] and checked
    with pytest.raises(ValueError, match="for dry runs"), session_scope(sessions) as s:
        intake.submit_many(
            session=s,
            workspace_id=ws,
            entity="contact",
            rows=[Inbound(JANE)],
            source="import",
            decisions_only=True,
        )


# --- deleted records -----------------------------------------------------------------------


def test_deleted_matches_do_not_block_by_default_but_are_mentioned(sessions, ws) -> None:
    _, rule_id = block_on_email(sessions, ws)
    first = submit(sessions, ws, JANE)
    with session_scope(sessions) as s:
        delete_record(session=s, workspace_id=ws, entity="contact", record_id=first.record_id)
    saved = submit(sessions, ws, JANE)
    assert saved.decision == "created"
    assert saved.duplicates == [
        {
            "record_id": first.record_id,
            "entity": "contact",
            "rule": "Block duplicate contacts",
            "rule_id": rule_id,
            "matched_fields": ["email"],
            "similarity": 1.0,
            "deleted": True,
        }
    ]
    with session_scope(sessions) as s:
        rules.update_duplicate_rule(
            session=s,
            workspace_id=ws,
            entity="contact",
            rule_id=rule_id,
            body={"include_deleted": True},
        )
        delete_record(session=s, workspace_id=ws, entity="contact", record_id=saved.record_id)
    with pytest.raises(DuplicatesDetected) as caught:
        submit(sessions, ws, JANE)
    assert {m["record_id"] for m in caught.value.details["matches"]} == {
        first.record_id,
        saved.record_id,
    }
    assert all(m["deleted"] for m in caught.value.details["matches"])


# --- cross-entity, report, statistics -------------------------------------------------------


def test_a_lead_is_matched_against_contacts(sessions, ws) -> None:
    standard_off(sessions, ws, "lead")
    contact = submit(sessions, ws, JANE)
    matching(
        sessions,
        ws,
        {
            "name": "Lead vs contact",
            "against": "contact",
            "conditions": [
                {"field": "last_name", "method": "fuzzy_name"},
                {"field": "email", "method": "domain"},
            ],
        },
        entity="lead",
    )
    duplicate(
        sessions,
        ws,
        {
            "name": "No leads for contacts",
            "matching_rules": ["Lead vs contact"],
            "action_on_create": "block",
        },
        entity="lead",
    )
    with pytest.raises(DuplicatesDetected) as caught:
        submit(sessions, ws, {"last_name": "Do", "email": "jd@acme.com"}, entity="lead")
    (match,) = caught.value.details["matches"]
    assert match["entity"] == "contact" and match["record_id"] == contact.record_id
    assert set(match["matched_fields"]) == {"last_name", "email"}
    # a free-mail domain says nothing about the company
    submit(
        sessions, ws, {"last_name": "Doe", "email": "jane@gmail.com"}, entity="contact", allow=True
    )
    assert (
        submit(sessions, ws, {"last_name": "Doe", "email": "x@gmail.com"}, entity="lead").decision
        == "created"
    )


def test_report_files_sets_and_stats_count_every_outcome(sessions, ws) -> None:
    _, rule_id = block_on_email(sessions, ws, report=True)
    first = submit(sessions, ws, JANE)
    with pytest.raises(DuplicatesDetected):
        submit(sessions, ws, JANE)
    second = submit(sessions, ws, JANE, allow=True)
    third = submit(sessions, ws, JANE, allow=True)
    with session_scope(sessions) as s:
        (found,) = s.scalars(
            select(DuplicateRecordSet).where(DuplicateRecordSet.rule_id == rule_id)
        )
        assert found.source == "rule" and found.size == 3 and found.status == "open"
        members = set(
            s.scalars(
                select(DuplicateSetMember.record_id).where(DuplicateSetMember.set_id == found.id)
            )
        )
        assert members == {first.record_id, second.record_id, third.record_id}
        assert s.scalar(select(func.count()).select_from(DuplicatePair)) == 3  # 1 + 2 pairs
        stats = rules.rule_stats(s, ws, [rule_id])[rule_id]
    assert stats["blocks"] == 1 and stats["overrides"] == 2 and stats["hits"] == 3
    assert stats["alerts"] == 0
    # review outcomes of the reported set count for the rule too
    from dupeguard.services import merges, record_sets

    with session_scope(sessions) as s:
        record_sets.mark_not_duplicate(
            session=s, workspace_id=ws, set_id=found.id, pairs=[(first.record_id, third.record_id)]
        )
    with session_scope(sessions) as s:
        merges.merge(
            session=s,
            workspace_id=ws,
            entity="contact",
            primary_id=first.record_id,
            duplicate_ids=[second.record_id],
        )
    with session_scope(sessions) as s:
        stats = rules.rule_stats(s, ws, [rule_id])[rule_id]
    assert stats["not_duplicates"] == 1 and stats["merges"] == 1


def test_nothing_leaks_across_workspaces(sessions, ws) -> None:
    block_on_email(sessions, ws)
    with session_scope(sessions) as s:
        other = create_workspace(session=s, name="other").id
    submit(sessions, other, JANE)
    assert submit(sessions, ws, JANE).decision == "created"


def test_a_blocked_form_submission_saves_nothing_and_looks_the_same(sessions, ws) -> None:
    from dupeguard.services import forms
    from dupeguard.store.tables import FormSubmission

    block_on_email(sessions, ws)
    submit(sessions, ws, JANE)
    with session_scope(sessions) as s:
        form, token = forms.create_form(
            session=s,
            workspace_id=ws,
            entity="contact",
            name="Signup",
            fields=[{"name": "email", "field": "email", "required": True}],
            thank_you="Thanks!",
        )
        form_id = form.id
    with session_scope(sessions) as s:
        _, outcome, _ = forms.submit_public(
            session=s, token=token, form_id=form_id, values={"email": "Jane@Acme.com"}
        )
    assert outcome.decision == "blocked" and len(outcome.matches) == 1
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 1
        (logged,) = s.scalars(select(FormSubmission))
        assert logged.decision == "blocked" and logged.record_id is None
    assert audit(sessions, ws, "duplicate_blocked")[0].source == "form"


def test_big_batches_are_pre_checked_with_the_same_answers(sessions, ws, monkeypatch) -> None:
    """A batch of 64+ rows is checked in one vectorised pass; the outcomes must be those of
    the row-by-row check (the pass turned off)."""
    from dupeguard.services import rule_check
    from dupeguard.synthetic import generate_contacts

    records, _ = generate_contacts(300, seed=5)
    rows = [
        {k: v for k, v in r.items() if k not in ("id", "created_at") and v}
        for r in records.iter_rows(named=True)
    ]
    many(sessions, ws, rows[:150], mode="off")

    def batch() -> list:
        with session_scope(sessions) as s:
            out = intake.submit_many(
                session=s,
                workspace_id=ws,
                entity="contact",
                rows=[Inbound(r) for r in rows[150:]],
                source="import",
                mode="off",
                dry_run=True,
            )
        return [(o.decision, o.duplicates) for o in out]

    def shape(results: list) -> list:  # record ids differ between runs: compare the rest
        return [
            (decision, sorted((m["similarity"], tuple(m["matched_fields"])) for m in found))
            for decision, found in results
        ]

    from dupeguard.core.rules import MatchingRule as CompiledRule

    scalar = CompiledRule.evaluate
    calls = []

    def counted(self, a, b, region):  # type: ignore[no-untyped-def]
        calls.append(1)
        return scalar(self, a, b, region)

    monkeypatch.setattr(CompiledRule, "evaluate", counted)
    vectorised = batch()
    # every pair was answered by the pass: stored candidates and earlier rows of the batch
    assert calls == []
    monkeypatch.setattr(rule_check, "_VECTOR_AT", 10**9)
    assert shape(batch()) == shape(vectorised)
    assert calls  # the row-by-row check did evaluate pairs
    assert sum(bool(d) for _, d in vectorised) >= 20  # the rule did find duplicates
