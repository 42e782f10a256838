"""Forms and their public submissions through intake (seed 001), on both databases."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import func, select

from dupeguard.core.errors import InvalidKey, NotFoundError, ValidationError
from dupeguard.services import forms
from dupeguard.services.entities import set_match_keys
from dupeguard.services.intake import Inbound, Outcome, submit
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import Activity, Form, FormSubmission, Record

INPUTS = [
    {"name": "email", "field": "email", "required": True},
    {"name": "first", "field": "first_name", "label": "First name"},
    {"name": "lead_status", "field": "status"},
]


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        workspace_id = create_workspace(session=s, name="Acme").id
        set_match_keys(session=s, workspace_id=workspace_id, entity="lead", fields=["email"])
        return workspace_id


def _form(sessions, ws: str, mode: str = "skip", inputs: list[Any] = INPUTS) -> tuple[str, str]:
    with session_scope(sessions) as s:
        form, token = forms.create_form(
            session=s,
            workspace_id=ws,
            entity="lead",
            name="Newsletter",
            fields=inputs,
            dedup_mode=mode,
            thank_you="Thanks!",
        )
        return form.id, token


def _submit(sessions, token: str | None, form_id: str, values: dict[str, Any]) -> Outcome:
    with session_scope(sessions) as s:
        _, outcome, _ = forms.submit_public(session=s, token=token, form_id=form_id, values=values)
        return outcome


def _count(sessions, table: Any) -> int:
    with session_scope(sessions) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def _data(sessions, record_id: str | None) -> dict[str, Any]:
    with session_scope(sessions) as s:
        record = s.get(Record, record_id)
        assert record is not None
        return dict(record.data)


def test_create_stores_only_the_token_hash(sessions, ws: str) -> None:
    form_id, token = _form(sessions, ws)
    assert token.startswith("wbf_") and len(token) == 4 + 32
    with session_scope(sessions) as s:
        form = s.get(Form, form_id)
        assert form is not None
        assert form.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert form.token_prefix == token[:12]
        assert token not in str([getattr(form, c.key) for c in Form.__table__.columns])
        assert form.fields[1] == {
            "name": "first",
            "field": "first_name",
            "label": "First name",
            "required": False,
        }
        assert form.fields[0]["label"] and form.dedup_mode == "skip"


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ([], "fields"),
        ([{"name": "x", "field": "nope"}], "fields[0].field"),
        ([{"field": "email"}, {"field": "email", "name": "e2"}], "fields[1].field"),
        ([{"field": "email"}, {"name": "email", "field": "phone"}], "fields[1].name"),
        ([{"name": "token", "field": "email"}], "fields[0].name"),
        ([{"name": "1bad", "field": "email"}], "fields[0].name"),
        ([{"field": "email", "required": "yes"}], "fields[0].required"),
        ([{"field": "email", "colour": "red"}], "fields[0]"),
    ],
)
def test_bad_definitions_are_refused(sessions, ws: str, inputs: list[Any], field: str) -> None:
    with session_scope(sessions) as s, pytest.raises(ValidationError) as caught:
        forms.create_form(session=s, workspace_id=ws, entity="lead", name="F", fields=inputs)
    assert caught.value.details["field"] == field


def test_bad_mode_name_and_entity(sessions, ws: str) -> None:
    with session_scope(sessions) as s:
        with pytest.raises(ValidationError):
            forms.create_form(
                session=s, workspace_id=ws, entity="lead", name="F", fields=INPUTS, dedup_mode="x"
            )
        with pytest.raises(ValidationError):
            forms.create_form(session=s, workspace_id=ws, entity="lead", name=" ", fields=INPUTS)
        with pytest.raises(NotFoundError):
            forms.create_form(session=s, workspace_id=ws, entity="nope", name="F", fields=INPUTS)


def test_skip_keeps_the_existing_record(sessions, ws: str) -> None:
    form_id, token = _form(sessions, ws, "skip")
    first = _submit(sessions, token, form_id, {"email": "jane@acme.com", "first": "Jane"})
    assert first.decision == "created"
    second = _submit(sessions, token, form_id, {"email": " JANE@acme.com ", "first": "Janet"})
    assert second.decision == "skipped" and second.record_id == first.record_id
    assert second.matched_by == "email" and second.matches == [first.record_id]
    assert _data(sessions, first.record_id) == {"email": "jane@acme.com", "first_name": "Jane"}
    assert _count(sessions, Record) == 1
    with session_scope(sessions) as s:
        logged = s.scalars(select(FormSubmission).order_by(FormSubmission.created_at)).all()
        assert [r.decision for r in logged] == ["created", "skipped"]
        assert {r.record_id for r in logged} == {first.record_id}


def test_update_writes_mapped_fields_only(sessions, ws: str) -> None:
    with session_scope(sessions) as s:
        existing = submit(
            session=s,
            workspace_id=ws,
            entity="lead",
            inbound=Inbound(
                {"email": "jane@acme.com", "first_name": "Jane", "company": "Acme", "status": "new"}
            ),
            source="api",
        )
    form_id, token = _form(sessions, ws, "update")
    outcome = _submit(
        sessions,
        token,
        form_id,
        {"email": "jane@acme.com", "first": "Janet", "lead_status": "won"},
    )
    assert outcome.decision == "updated" and outcome.record_id == existing.record_id
    assert outcome.changed_fields == ["first_name"]
    assert _data(sessions, existing.record_id) == {
        "email": "jane@acme.com",
        "first_name": "Janet",
        "company": "Acme",  # unmapped: untouched
        "status": "new",  # protected on update
    }
    with session_scope(sessions) as s:
        activity = s.scalars(
            select(Activity).where(
                Activity.record_id == existing.record_id, Activity.kind == "updated"
            )
        ).one()
        assert activity.source == "form"
        assert activity.changes == {"first_name": {"old": "Jane", "new": "Janet"}}
    again = _submit(sessions, token, form_id, {"email": "jane@acme.com", "first": "Janet"})
    assert again.decision == "skipped" and again.changed_fields == []


def test_off_always_creates(sessions, ws: str) -> None:
    form_id, token = _form(sessions, ws, "off")
    ids = {_submit(sessions, token, form_id, {"email": "jane@acme.com"}).record_id for _ in "ab"}
    assert len(ids) == 2 and _count(sessions, Record) == 2


def test_conflict_writes_nothing_but_is_recorded(sessions, ws: str) -> None:
    with session_scope(sessions) as s:  # two stored records, then email becomes the key
        set_match_keys(session=s, workspace_id=ws, entity="lead", fields=[])
    off_id, off_token = _form(sessions, ws, "off")
    stored = [
        str(_submit(sessions, off_token, off_id, {"email": "jo@x.com"}).record_id) for _ in "ab"
    ]
    with session_scope(sessions) as s:
        set_match_keys(session=s, workspace_id=ws, entity="lead", fields=["email"])
    form_id, token = _form(sessions, ws, "update")
    outcome = _submit(sessions, token, form_id, {"email": "jo@x.com", "first": "Jo"})
    assert outcome.decision == "conflict" and outcome.record_id is None
    assert sorted(outcome.matches) == sorted(stored) and outcome.matched_by == "email"
    assert _count(sessions, Record) == 2
    assert all("first_name" not in _data(sessions, rid) for rid in stored)
    with session_scope(sessions) as s:
        (logged,) = s.scalars(select(FormSubmission).where(FormSubmission.form_id == form_id))
        assert logged.decision == "conflict" and sorted(logged.matches) == sorted(stored)
        assert logged.record_id is None and logged.matched_by == "email"


def test_no_match_keys_always_creates(sessions) -> None:
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="No keys").id
    form_id, token = _form(sessions, ws, "skip")
    decisions = [_submit(sessions, token, form_id, {"email": "a@b.com"}).decision for _ in "ab"]
    assert decisions == ["created", "created"]


def test_tokens_and_inactive_forms(sessions, ws: str) -> None:
    form_id, token = _form(sessions, ws)
    other_id, other_token = _form(sessions, ws)
    values = {"email": "jane@acme.com"}
    for bad in (None, "", "wbk_" + token[4:], "wbf_!!"):  # missing or malformed
        with pytest.raises(InvalidKey):
            _submit(sessions, bad, form_id, values)
    for wrong in (token + "x", other_token):  # well-formed, wrong: as if no such form
        with pytest.raises(NotFoundError):
            _submit(sessions, wrong, form_id, values)
    with pytest.raises(NotFoundError):
        _submit(sessions, token, "00000000-0000-0000-0000-000000000000", values)
    assert _count(sessions, Record) == 0 and _count(sessions, FormSubmission) == 0

    with session_scope(sessions) as s:
        _, new_token = forms.rotate_token(session=s, workspace_id=ws, form_id=form_id)
    with pytest.raises(NotFoundError):
        _submit(sessions, token, form_id, values)
    assert _submit(sessions, new_token, form_id, values).decision == "created"

    with session_scope(sessions) as s:
        forms.update_form(session=s, workspace_id=ws, form_id=other_id, active=False)
    with pytest.raises(NotFoundError):
        _submit(sessions, other_token, other_id, values)


def test_inputs_are_checked(sessions, ws: str) -> None:
    inputs = [*INPUTS, {"name": "born", "field": "date_of_birth"}]
    form_id, token = _form(sessions, ws, inputs=inputs)
    cases = [
        ({"first": "Jane"}, "email"),  # required, missing
        ({"email": "  ", "first": "Jane"}, "email"),  # required, blank
        ({"email": "a@b.com", "shoe_size": "9"}, "shoe_size"),  # unknown input
        ({"email": "a@b.com", "born": "not a date"}, "born"),  # bad value names the input
    ]
    for values, field in cases:
        with pytest.raises(ValidationError) as caught:
            _submit(sessions, token, form_id, values)
        assert caught.value.details["field"] == field
        assert caught.value.message.startswith(f"{field}: ")
    assert _count(sessions, Record) == 0 and _count(sessions, FormSubmission) == 0
    created = _submit(sessions, token, form_id, {"email": "a@b.com", "first": "", "born": ""})
    assert _data(sessions, created.record_id) == {"email": "a@b.com"}


def test_update_list_delete_and_submissions_page(sessions, ws: str) -> None:
    form_id, token = _form(sessions, ws, "off")
    for i in range(5):
        _submit(sessions, token, form_id, {"email": f"u{i}@x.com"})
    with session_scope(sessions) as s:
        form = forms.update_form(
            session=s,
            workspace_id=ws,
            form_id=form_id,
            name="Renamed",
            fields=[{"field": "email"}],
            dedup_mode="update",
            thank_you="Merci",
        )
        assert (form.name, form.dedup_mode, form.thank_you) == ("Renamed", "update", "Merci")
        assert form.fields == [
            {"name": "email", "field": "email", "label": "Email", "required": False}
        ]
        assert [f.id for f in forms.list_forms(session=s, workspace_id=ws)] == [form_id]
        seen: list[str] = []
        cursor = None
        while True:
            page, cursor = forms.list_submissions(
                session=s, workspace_id=ws, form_id=form_id, limit=2, cursor=cursor
            )
            seen += [r.id for r in page]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 5
    with session_scope(sessions) as s:
        other = create_workspace(session=s, name="Other").id
        with pytest.raises(NotFoundError):
            forms.get_form(session=s, workspace_id=other, form_id=form_id)
        forms.delete_form(session=s, workspace_id=ws, form_id=form_id)
    with session_scope(sessions) as s:
        with pytest.raises(NotFoundError):
            forms.get_form(session=s, workspace_id=ws, form_id=form_id)
        assert s.scalar(select(func.count()).select_from(FormSubmission)) == 0
        assert s.scalar(select(func.count()).select_from(Record)) == 5
