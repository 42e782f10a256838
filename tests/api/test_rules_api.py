"""Matching rules and duplicate rules over HTTP (seed 002), on SQLite and PostgreSQL: rule CRUD
and its validation, blocked saves (409 ``duplicates_detected``) on every API save path, the
``allowSave`` override, alerts, deleted matches, cross-entity rules, the audit log and the
per-rule statistics."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

ADMIN = ("read", "write", "admin")
OVERRIDE = {"X-Duplicate-Rule-Header": "allowSave=true"}


# --- helpers -------------------------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error envelope's ``error``, after checking the status, the code and the shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"} and body["request_id"], body
    assert body["error"]["code"] == code, body
    return dict(body["error"])


def save(client: httpx.Client, w, data: dict, entity: str = "contact", **headers: str):
    return client.post(
        f"/v1/entities/{entity}/records",
        headers={**w.headers, **headers},
        json={"data": data, "dedup_mode": "off"},
    )


def saved(client: httpx.Client, w, data: dict, entity: str = "contact") -> str:
    return str(ok(save(client, w, data, entity), 201)["record_id"])


def rules_url(entity: str, kind: str = "matching", rule: str | None = None) -> str:
    url = f"/v1/entities/{entity}/{kind}-rules"
    return f"{url}/{rule}" if rule else url


def matching_rule(client: httpx.Client, w, entity: str = "contact", **body: Any) -> dict:
    body.setdefault("name", "Same email")
    body.setdefault("conditions", [{"field": "email", "method": "email"}])
    return dict(ok(client.post(rules_url(entity), headers=w.headers, json=body), 201))


def duplicate_rule(client: httpx.Client, w, entity: str = "contact", **body: Any) -> dict:
    body.setdefault("name", "Block duplicates")
    body.setdefault("action_on_create", "block")
    url = rules_url(entity, "duplicate")
    return dict(ok(client.post(url, headers=w.headers, json=body), 201))


def quiet_standard(client: httpx.Client, w, entity: str = "contact") -> None:
    """Turn off the entity's standard duplicate rule (allow with an alert), so only the
    test's own rules fire."""
    url = rules_url(entity, "duplicate", f"Standard {entity} duplicate rule")
    assert ok(client.patch(url, headers=w.headers, json={"active": False}))["active"] is False


def blocking_email_rule(client: httpx.Client, w, entity: str = "contact", **more: Any) -> dict:
    quiet_standard(client, w, entity)
    matching_rule(client, w, entity)
    return duplicate_rule(client, w, entity, matching_rules=["Same email"], **more)


def audit(client: httpx.Client, w, **params: Any) -> list[dict]:
    return list(ok(client.get("/v1/audit-log", headers=w.headers, params=params))["data"])


def stats(client: httpx.Client, w, rule_id: str, entity: str = "contact") -> dict:
    return dict(ok(client.get(rules_url(entity, "duplicate", rule_id), headers=w.headers))["stats"])


# --- rule CRUD -----------------------------------------------------------------------------


def test_standard_rules_are_listed_and_kept(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    for entity in ("contact", "lead", "company"):
        (matching,) = ok(client.get(rules_url(entity), headers=w.headers))
        assert matching["standard"] is True and matching["active"] is True
        assert matching["entity"] == entity and matching["against"] is None
        assert matching["name"] == f"Standard {entity} matching rule"
        (dup,) = ok(client.get(rules_url(entity, "duplicate"), headers=w.headers))
        assert dup["standard"] is True and dup["matching_rules"] == [matching["id"]]
        assert (dup["action_on_create"], dup["action_on_edit"]) == ("allow", "allow")
        assert dup["stats"] == dict.fromkeys(
            ("hits", "alerts", "blocks", "overrides", "merges", "not_duplicates"), 0
        )
    assert ok(client.get(rules_url("deal"), headers=w.headers)) == []
    (person,) = ok(client.get(rules_url("contact"), headers=w.headers))
    assert person["expression"] == "1 OR (2 AND 3 AND (4 OR 5 OR 6))"
    assert person["conditions"][0] == {
        "field": "email",
        "method": "email",
        "threshold": 1.0,
        "blank": "no_match",
    }

    name = "Standard contact duplicate rule"
    for url in (rules_url("contact", rule=person["id"]), rules_url("contact", "duplicate", name)):
        refused = error(client.delete(url, headers=w.headers), 409, "conflict")
        assert "deactivate" in refused["message"]
    off = ok(
        client.patch(
            rules_url("contact", rule=person["id"]), headers=w.headers, json={"active": False}
        )
    )
    assert off["active"] is False and off["standard"] is True and off["version"] == 2
    dup = ok(
        client.patch(
            rules_url("contact", "duplicate", name),
            headers=w.headers,
            json={"active": False, "report": True},
        )
    )
    assert (dup["active"], dup["report"], dup["standard"]) == (False, True, True)
    assert len(ok(client.get(rules_url("contact", "duplicate"), headers=w.headers))) == 1


def test_matching_rule_crud(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    made = matching_rule(
        client,
        w,
        name="Email or name and phone",
        description="people",
        conditions=[
            {"field": "email", "method": "email"},
            {"field": "first_name", "method": "nickname", "threshold": 0.85},
            {"field": "last_name", "method": "fuzzy_name", "threshold": 0.9, "blank": "match"},
            {"field": "phone", "method": "phone"},
        ],
        expression="1 or (2 and 3 and 4)",
    )
    assert made["entity"] == "contact" and made["against"] is None
    assert made["expression"] == "1 or (2 and 3 and 4)"  # as sent
    assert made["conditions"][0] == {
        "field": "email",
        "method": "email",
        "threshold": 1.0,  # the method's default
        "blank": "no_match",
    }
    assert made["conditions"][2]["blank"] == "match"
    assert (made["standard"], made["active"], made["version"]) == (False, True, 1)
    assert made["created_at"].endswith("Z") or made["created_at"].endswith("+00:00")

    by_id = ok(client.get(rules_url("contact", rule=made["id"]), headers=w.headers))
    by_name = ok(client.get(rules_url("contact", rule=made["name"]), headers=w.headers))
    assert by_id == by_name == made
    names = [r["name"] for r in ok(client.get(rules_url("contact"), headers=w.headers))]
    assert names == ["Standard contact matching rule", "Email or name and phone"]

    changed = ok(
        client.patch(
            rules_url("contact", rule=made["id"]),
            headers=w.headers,
            json={"conditions": [{"field": "phone", "method": "phone"}], "description": None},
        )
    )
    assert changed["expression"] == "1" and changed["description"] == ""
    assert changed["version"] == 2 and changed["name"] == made["name"]
    renamed = ok(
        client.patch(
            rules_url("contact", rule=made["name"]), headers=w.headers, json={"name": "Phone"}
        )
    )
    assert renamed["name"] == "Phone" and renamed["conditions"] == changed["conditions"]

    dup = duplicate_rule(client, w, name="Uses phone", matching_rules=["Phone"])
    assert dup["matching_rules"] == [made["id"]]
    in_use = error(
        client.delete(rules_url("contact", rule="Phone"), headers=w.headers), 409, "conflict"
    )
    assert in_use["details"]["duplicate_rules"] == ["Uses phone"]
    url = rules_url("contact", "duplicate", dup["id"])
    assert ok(client.delete(url, headers=w.headers), 204) is None
    error(client.get(url, headers=w.headers), 404, "not_found")
    assert ok(client.delete(rules_url("contact", rule="Phone"), headers=w.headers), 204) is None
    error(client.get(rules_url("contact", rule=made["id"]), headers=w.headers), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "status", "code", "field", "says"),
    [
        (
            {"conditions": [{"field": "email", "method": "nickname"}]},
            400,
            "validation_error",
            "conditions[0]",
            "compares",
        ),
        (
            {"conditions": [{"field": "date_of_birth", "method": "phone"}]},
            400,
            "validation_error",
            "conditions[0]",
            "not date",
        ),
        (
            {"conditions": [{"field": "shoe_size"}]},
            400,
            "validation_error",
            "conditions[0]",
            "no field 'shoe_size'",
        ),
        (
            {"conditions": [{"field": "email", "method": "soundex"}]},
            400,
            "validation_error",
            "conditions[0]",
            "method: one of",
        ),
        (
            {"conditions": [{"field": "email"}, {"field": "phone"}], "expression": "1 AND (2"},
            400,
            "validation_error",
            "expression",
            "parenthesis",
        ),
        (
            {"conditions": [{"field": "email"}, {"field": "phone"}], "expression": "1 OR 3"},
            400,
            "validation_error",
            "expression",
            "no condition 3",
        ),
        (
            {"conditions": [{"field": "email"}, {"field": "phone"}], "expression": "1"},
            400,
            "validation_error",
            "expression",
            "condition 2 is not used",
        ),
        (
            {"conditions": [{"field": "email"}], "expression": "1 XOR 1"},
            400,
            "validation_error",
            "expression",
            "unexpected",
        ),
        (
            {
                "conditions": [
                    {"field": "email", "method": "email"},
                    {"field": "first_name", "method": "nickname"},
                ],
                "expression": "1 OR 2",
            },
            400,
            "validation_error",
            "expression",
            "nickname",
        ),
        (
            {"conditions": [{"field": "email", "threshold": 1.5}]},
            400,
            "validation_error",
            "conditions[0]",
            "threshold",
        ),
        (
            {"conditions": [{"field": "email", "threshold": 0}]},
            400,
            "validation_error",
            "conditions[0]",
            "threshold",
        ),
        (
            {"conditions": [{"field": "email", "threshold": "high"}]},
            400,
            "validation_error",
            "conditions[0].threshold",
            "number",
        ),
        (
            {"conditions": [{"field": "email", "blank": "sometimes"}]},
            400,
            "validation_error",
            "conditions[0].blank",
            "no_match",
        ),
        (
            {"conditions": [{"field": "email", "weight": 2}]},
            400,
            "validation_error",
            "conditions[0].weight",
            "not permitted",
        ),
        ({"conditions": []}, 400, "validation_error", "conditions", "at least one"),
        (
            {"conditions": [{"field": "email"}] * 11},
            400,
            "validation_error",
            "conditions",
            "at most 10",
        ),
        ({"name": "  "}, 400, "validation_error", "name", "non-empty"),
        ({"name": "Standard contact matching rule"}, 409, "conflict", "name", "exists"),
        ({"colour": "red"}, 400, "validation_error", "colour", "not permitted"),
        ({"active": "yes"}, 400, "validation_error", "active", "boolean"),
    ],
)
def test_matching_rule_validation(
    client: httpx.Client, workspace, body: dict, status: int, code: str, field: str, says: str
) -> None:
    w = workspace(scopes=ADMIN)
    sent = {"name": "Rule", "conditions": [{"field": "email", "method": "email"}], **body}
    got = error(client.post(rules_url("contact"), headers=w.headers, json=sent), status, code)
    assert got["details"]["field"] == field, got
    assert says in got["message"], got
    # the same body as a change of an existing rule answers alike (name clashes aside)
    if field != "name":
        url = rules_url("contact", rule="Standard contact matching rule")
        sent.pop("name")
        again = error(client.patch(url, headers=w.headers, json=sent), status, code)
        assert again["details"]["field"] == field, again
    assert len(ok(client.get(rules_url("contact"), headers=w.headers))) == 1


def test_rule_endpoints_check_scope_and_workspace(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    writer = workspace(workspace_id=w.workspace_id, scopes=("read", "write"))
    other = workspace(name="Other", scopes=ADMIN)
    made = matching_rule(client, w)
    body = {"name": "X", "conditions": [{"field": "email"}]}
    for url, sent in ((rules_url("contact"), body), (rules_url("contact", "duplicate"), {})):
        refused = client.post(url, headers=writer.headers, json=sent)
        error(refused, 403, "insufficient_permissions")
    patched = client.patch(rules_url("contact", rule=made["id"]), headers=writer.headers, json={})
    error(patched, 403, "insufficient_permissions")
    assert ok(client.get(rules_url("contact", rule=made["id"]), headers=writer.headers))
    error(
        client.get(rules_url("contact", rule=made["id"]), headers=other.headers), 404, "not_found"
    )
    error(client.get(rules_url("vendor"), headers=w.headers), 404, "not_found")
    error(
        client.get(rules_url("contact", "duplicate", "nope"), headers=w.headers), 404, "not_found"
    )
    unknown = client.post(
        rules_url("contact", "duplicate"),
        headers=w.headers,
        json={"name": "D", "matching_rules": [str(uuid.uuid4())]},
    )
    assert error(unknown, 400, "validation_error")["details"]["field"] == "matching_rules"
    foreign = client.post(
        rules_url("contact", "duplicate"),
        headers=other.headers,
        json={"name": "D", "matching_rules": [made["id"]]},
    )
    assert error(foreign, 400, "validation_error")["details"]["field"] == "matching_rules"
    bad_action = client.post(
        rules_url("contact", "duplicate"),
        headers=w.headers,
        json={"name": "D", "matching_rules": [made["id"]], "action_on_create": "warn"},
    )
    assert error(bad_action, 400, "validation_error")["details"]["field"] == "action_on_create"
    too_many = client.post(
        rules_url("contact", "duplicate"),
        headers=w.headers,
        json={"name": "D", "matching_rules": ["a", "b", "c", "d"]},
    )
    assert "at most 3" in error(too_many, 400, "validation_error")["message"]
    assert error(
        client.delete(rules_url("contact", rule="nope"), headers=w.headers), 404, "not_found"
    )


def test_matching_methods(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=("read",))
    methods = {m["name"]: m for m in ok(client.get("/v1/matching-methods", headers=w.headers))}
    assert set(methods) == {
        "exact",
        "fuzzy_name",
        "phonetic",
        "nickname",
        "initials",
        "fuzzy_company",
        "email",
        "domain",
        "phone",
        "fuzzy_text",
    }
    assert methods["nickname"]["blockable"] is False and methods["email"]["blockable"] is True
    assert "email" in methods["email"]["field_types"]
    assert "date" not in methods["phone"]["field_types"]
    assert 0 < methods["fuzzy_name"]["default_threshold"] <= 1


# --- blocked saves, overrides, alerts ------------------------------------------------------


def test_block_override_alert_and_rule_change(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    rule = blocking_email_rule(client, w)
    assert (rule["action_on_create"], rule["action_on_edit"]) == ("block", "allow")
    first = ok(save(client, w, {"first_name": "Jane", "email": "jane@acme.com"}), 201)
    assert first["duplicates"] == []
    jane = first["record_id"]

    blocked = error(save(client, w, {"email": " JANE@Acme.com "}), 409, "duplicates_detected")
    (match,) = blocked["details"]["matches"]
    assert match == {
        "record_id": jane,
        "entity": "contact",
        "rule": "Block duplicates",
        "rule_id": rule["id"],
        "matched_fields": ["email"],
        "similarity": 1.0,
    }
    assert blocked["details"]["rules"] == ["Block duplicates"]
    assert jane in blocked["message"] and "allowSave=true" in blocked["message"]
    listed = ok(client.get("/v1/entities/contact/records", headers=w.headers))["data"]
    assert [r["id"] for r in listed] == [jane]  # nothing saved

    assert (
        save(
            client, w, {"email": "jane@acme.com"}, **{"X-Duplicate-Rule-Header": "allowSave=false"}
        ).status_code
        == 409
    )
    for bad in ("allowSave=yes", "allowSave", "save=true", "allowSave=true; x=1", ""):
        got = save(client, w, {"email": "jane@acme.com"}, **{"X-Duplicate-Rule-Header": bad})
        refused = error(got, 400, "validation_error")
        assert refused["details"]["field"] == "X-Duplicate-Rule-Header", bad
        assert "allowSave=true" in refused["message"]

    forced = ok(save(client, w, {"email": "jane@acme.com"}, **OVERRIDE), 201)
    assert forced["decision"] == "created"
    assert [(d["record_id"], d["rule_id"], d["deleted"]) for d in forced["duplicates"]] == [
        (jane, rule["id"], False)
    ]
    loose = ok(
        save(
            client, w, {"email": "jane@acme.com"}, **{"X-Duplicate-Rule-Header": "ALLOWSAVE = True"}
        ),
        201,
    )
    assert {d["record_id"] for d in loose["duplicates"]} == {jane, forced["record_id"]}

    overrides = audit(client, w, kind="duplicate_override")
    assert [e["record_id"] for e in overrides] == [loose["record_id"], forced["record_id"]]
    entry = overrides[1]
    assert entry["override"] is True and entry["action"] == "block"
    assert entry["rule_id"] == rule["id"] and entry["rule_name"] == "Block duplicates"
    assert entry["matched_ids"] == [jane] and entry["entity"] == "contact"
    assert entry["source"] == "api" and entry["actor"].startswith("key:")
    assert entry["details"]["inbound"] == {"email": "jane@acme.com"}
    blocks = audit(client, w, kind="duplicate_blocked")
    assert len(blocks) == 2 and all(e["record_id"] is None for e in blocks)
    assert all(e["override"] is False and e["matched_ids"] == [jane] for e in blocks)

    # a changed rule applies to the very next call
    url = rules_url("contact", "duplicate", rule["id"])
    changed = ok(client.patch(url, headers=w.headers, json={"action_on_create": "allow"}))
    assert changed["action_on_create"] == "allow" and changed["version"] == 2
    allowed = ok(save(client, w, {"email": "jane@acme.com"}), 201)
    assert len(allowed["duplicates"]) == 3
    assert allowed["duplicates"][0]["rule"] == "Block duplicates"
    (alert,) = audit(client, w, kind="duplicate_alert")
    assert alert["action"] == "allow" and alert["override"] is False
    assert alert["record_id"] == allowed["record_id"]
    assert len(audit(client, w, rule_id=rule["id"])) == 5
    assert audit(client, w, rule_id=str(uuid.uuid4())) == []

    assert stats(client, w, rule["id"]) == {
        "hits": 5,
        "alerts": 1,
        "blocks": 2,
        "overrides": 2,
        "merges": 0,
        "not_duplicates": 0,
    }
    off = ok(client.patch(url, headers=w.headers, json={"active": False}))
    assert off["stats"]["hits"] == 5
    assert ok(save(client, w, {"email": "jane@acme.com"}), 201)["duplicates"] == []
    assert audit(client, w, kind="duplicate_job") == []


def test_override_with_idempotency_key(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    blocking_email_rule(client, w)
    saved(client, w, {"email": "jane@acme.com"})
    key = {"Idempotency-Key": str(uuid.uuid4())}
    data = {"email": "jane@acme.com"}
    error(save(client, w, data, **key), 409, "duplicates_detected")  # not stored: retry works
    made = save(client, w, data, **key, **OVERRIDE)
    assert made.status_code == 201, made.text
    replay = save(client, w, data, **key, **OVERRIDE)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == made.json()
    without = save(client, w, data, **key)  # the override is part of the request
    error(without, 409, "idempotency_conflict")
    assert len(audit(client, w, kind="duplicate_override")) == 1


def test_standard_rule_alerts_by_default(client: httpx.Client, workspace) -> None:
    w = workspace()
    jane = saved(client, w, {"first_name": "Jane", "last_name": "Doe", "email": "jane@acme.com"})
    bob = ok(save(client, w, {"first_name": "Bob", "email": "bob@acme.com"}), 201)
    assert bob["duplicates"] == []
    again = ok(save(client, w, {"first_name": "Janet", "email": "Jane@acme.com"}), 201)
    (match,) = again["duplicates"]
    assert match["record_id"] == jane and match["rule"] == "Standard contact duplicate rule"
    assert match["matched_fields"] == ["email", "first_name"]  # every condition that held
    by_name = ok(
        save(client, w, {"first_name": "Jane", "last_name": "Doe", "phone": "+1 415 555 0100"}), 201
    )
    assert by_name["duplicates"] == []  # name alone is not enough: phone/company/street too
    (alert,) = audit(client, w, kind="duplicate_alert")
    assert alert["record_id"] == again["record_id"] and alert["matched_ids"] == [jane]
    assert alert["rule_name"] == "Standard contact duplicate rule"


def test_bulk_mixed_outcomes(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    ok(
        client.put(
            "/v1/entities/contact/match-keys", headers=w.headers, json={"fields": ["external_id"]}
        )
    )
    rule = blocking_email_rule(client, w)
    jane = saved(client, w, {"email": "jane@acme.com", "external_id": "J1"})
    rows = [
        {"data": {"email": "new@acme.com", "external_id": "N1"}},  # created
        {"data": {"email": "JANE@acme.com", "external_id": "N2"}},  # blocked by stored
        {"data": {"email": "other@acme.com", "external_id": "J1"}},  # skipped (match key)
        {"data": "not an object"},  # a bad row
        {"data": {"email": "new@acme.com", "external_id": "N3"}},  # blocked by row 0
        {"data": {"email": "last@acme.com", "shoe_size": 44}},  # bad value
        {"data": {"email": "last@acme.com"}},  # created
    ]
    results = ok(
        client.post("/v1/entities/contact/records/bulk", headers=w.headers, json={"records": rows})
    )["results"]
    assert [r["index"] for r in results] == list(range(len(rows)))
    assert [r["status"] for r in results] == [
        "created",
        "error",
        "skipped",
        "error",
        "error",
        "error",
        "created",
    ]
    assert [r["error"]["code"] if r["error"] else None for r in results] == [
        None,
        "duplicates_detected",
        None,
        "validation_error",
        "duplicates_detected",
        "validation_error",
        None,
    ]
    (stored_match,) = results[1]["error"]["details"]["matches"]
    assert stored_match["record_id"] == jane and stored_match["matched_fields"] == ["email"]
    assert stored_match["rule_id"] == rule["id"] and stored_match["entity"] == "contact"
    assert "allowSave" in results[1]["error"]["message"]
    (batch_match,) = results[4]["error"]["details"]["matches"]
    assert batch_match["record_id"] == results[0]["record_id"]
    assert results[2]["record_id"] == jane and results[2]["matched_by"] == "external_id"
    assert all(r["duplicates"] == [] for r in results)
    assert results[1]["record_id"] is None and results[4]["record_id"] is None

    records = ok(client.get("/v1/entities/contact/records", headers=w.headers))["data"]
    assert len(records) == 3  # jane, row 0, row 6: the blocked rows were not saved
    assert len(audit(client, w, kind="duplicate_blocked")) == 2  # kept despite the errors

    forced = ok(
        client.post(
            "/v1/entities/contact/records/bulk",
            headers={**w.headers, **OVERRIDE},
            json={"records": [rows[1], rows[4]]},
        )
    )["results"]
    assert [r["status"] for r in forced] == ["created", "created"]
    assert [d["record_id"] for d in forced[0]["duplicates"]] == [jane]
    assert [d["record_id"] for d in forced[1]["duplicates"]] == [results[0]["record_id"]]
    assert stats(client, w, rule["id"])["overrides"] == 2
    assert stats(client, w, rule["id"])["blocks"] == 2
    bad = client.post(
        "/v1/entities/contact/records/bulk",
        headers={**w.headers, "X-Duplicate-Rule-Header": "allowSave=maybe"},
        json={"records": [rows[0]]},
    )
    error(bad, 400, "validation_error")


def test_upsert_and_edit_blocked(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    rule = blocking_email_rule(client, w, action_on_edit="block")
    jane = saved(client, w, {"email": "jane@acme.com", "external_id": "J1"})
    bob = saved(client, w, {"email": "bob@acme.com", "first_name": "Bob"})

    url = "/v1/entities/contact/records/by/external_id/X1"
    blocked = error(
        client.put(url, headers=w.headers, json={"data": {"email": "jane@acme.com"}}),
        409,
        "duplicates_detected",
    )
    assert [m["record_id"] for m in blocked["details"]["matches"]] == [jane]
    listed = ok(client.get("/v1/entities/contact/records", headers=w.headers))["data"]
    assert len(listed) == 2  # nothing inserted
    inserted = ok(
        client.put(
            url, headers={**w.headers, **OVERRIDE}, json={"data": {"email": "jane@acme.com"}}
        ),
        201,
    )
    assert inserted["decision"] == "created" and inserted["matched_by"] == "external_id"
    assert [d["record_id"] for d in inserted["duplicates"]] == [jane]
    x1 = inserted["record_id"]
    fine = ok(
        client.put(
            "/v1/entities/contact/records/by/external_id/X2",
            headers=w.headers,
            json={"data": {"email": "x2@acme.com"}},
        ),
        201,
    )
    assert fine["duplicates"] == []
    # an upsert that updates is an edit
    moved = client.put(
        "/v1/entities/contact/records/by/external_id/X2",
        headers=w.headers,
        json={"data": {"email": "bob@acme.com"}},
    )
    assert [
        m["record_id"] for m in error(moved, 409, "duplicates_detected")["details"]["matches"]
    ] == [bob]

    patch = f"/v1/entities/contact/records/{bob}"
    refused = error(
        client.patch(patch, headers=w.headers, json={"data": {"email": "jane@acme.com"}}),
        409,
        "duplicates_detected",
    )
    assert {m["record_id"] for m in refused["details"]["matches"]} == {jane, x1}
    assert bob not in {m["record_id"] for m in refused["details"]["matches"]}
    unchanged = ok(client.get(patch, headers=w.headers))
    assert unchanged["data"]["email"] == "bob@acme.com" and "duplicates" not in unchanged
    quiet = ok(client.patch(patch, headers=w.headers, json={"data": {"first_name": "Robert"}}))
    assert quiet["duplicates"] == [] and quiet["data"]["first_name"] == "Robert"
    forced = ok(
        client.patch(
            patch, headers={**w.headers, **OVERRIDE}, json={"data": {"email": "jane@acme.com"}}
        )
    )
    assert forced["data"]["email"] == "jane@acme.com"
    assert {d["record_id"] for d in forced["duplicates"]} == {jane, x1}
    (edit_override,) = [
        e for e in audit(client, w, kind="duplicate_override") if e["record_id"] == bob
    ]
    assert edit_override["override"] is True

    ok(
        client.patch(
            rules_url("contact", "duplicate", rule["id"]),
            headers=w.headers,
            json={"action_on_edit": "allow"},
        )
    )
    alerted = ok(
        client.patch(
            f"/v1/entities/contact/records/{x1}",
            headers=w.headers,
            json={"data": {"first_name": "J"}},
        )
    )
    assert {d["record_id"] for d in alerted["duplicates"]} == {jane, bob}
    assert stats(client, w, rule["id"]) == {
        "hits": 6,
        "alerts": 1,
        "blocks": 3,
        "overrides": 2,
        "merges": 0,
        "not_duplicates": 0,
    }


def test_deleted_matches(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    rule = blocking_email_rule(client, w)
    gone = saved(client, w, {"email": "jane@acme.com"})
    ok(client.delete(f"/v1/entities/contact/records/{gone}", headers=w.headers))

    passed = ok(save(client, w, {"email": "jane@acme.com"}), 201)  # deleted: no block
    (mention,) = passed["duplicates"]
    assert mention["record_id"] == gone and mention["deleted"] is True
    assert mention["rule_id"] == rule["id"] and mention["matched_fields"] == ["email"]
    live = passed["record_id"]
    blocked = error(save(client, w, {"email": "jane@acme.com"}), 409, "duplicates_detected")
    assert [m["record_id"] for m in blocked["details"]["matches"]] == [live]
    assert [m["record_id"] for m in blocked["details"]["deleted_matches"]] == [gone]
    assert blocked["details"]["deleted_matches"][0]["deleted"] is True

    ok(client.delete(f"/v1/entities/contact/records/{live}", headers=w.headers))
    url = rules_url("contact", "duplicate", rule["id"])
    assert ok(client.patch(url, headers=w.headers, json={"include_deleted": True}))[
        "include_deleted"
    ]
    counted = error(save(client, w, {"email": "jane@acme.com"}), 409, "duplicates_detected")
    matches = counted["details"]["matches"]
    assert {m["record_id"] for m in matches} == {gone, live}
    assert all(m["deleted"] is True for m in matches)
    assert "deleted_matches" not in counted["details"]

    ok(client.post(f"/v1/entities/contact/records/{gone}/restore", headers=w.headers))
    ok(client.patch(url, headers=w.headers, json={"include_deleted": False}))
    restored = error(save(client, w, {"email": "jane@acme.com"}), 409, "duplicates_detected")
    assert [m["record_id"] for m in restored["details"]["matches"]] == [gone]
    assert "deleted" not in restored["details"]["matches"][0]


def test_cross_entity_rule(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    before = saved(client, w, {"email": "jane@acme.com", "first_name": "Jane"})
    quiet_standard(client, w, "lead")
    made = matching_rule(client, w, "lead", name="Lead vs contact", against="contact")
    assert made["entity"] == "lead" and made["against"] == "contact"
    listed = ok(client.get(rules_url("lead", rule="Lead vs contact"), headers=w.headers))
    assert listed["against"] == "contact"
    rule = duplicate_rule(
        client, w, "lead", name="No leads for contacts", matching_rules=["Lead vs contact"]
    )
    after = saved(client, w, {"email": "bob@acme.com"})

    for email, contact_id in (("Jane@Acme.com", before), ("bob@acme.com", after)):
        blocked = error(save(client, w, {"email": email}, "lead"), 409, "duplicates_detected")
        (match,) = blocked["details"]["matches"]
        assert match["entity"] == "contact" and match["record_id"] == contact_id
        assert match["rule"] == "No leads for contacts" and match["rule_id"] == rule["id"]
    fresh = ok(save(client, w, {"email": "new@acme.com"}, "lead"), 201)
    assert fresh["duplicates"] == []
    # the lead's own records are not searched by a rule against contacts
    assert ok(save(client, w, {"email": "new@acme.com"}, "lead"), 201)["duplicates"] == []
    (entry,) = audit(client, w, kind="duplicate_blocked", entity="lead")[:1]
    assert entry["matched_ids"] == [after] and entry["rule_id"] == rule["id"]
    assert stats(client, w, rule["id"], "lead")["blocks"] == 2

    bad = client.post(
        rules_url("lead"),
        headers=w.headers,
        json={
            "name": "No such field there",
            "against": "company",
            "conditions": [{"field": "first_name", "method": "fuzzy_name"}],
        },
    )
    assert "target entity" in error(bad, 400, "validation_error")["message"]
    # switching the target off again: the lead compares with leads
    back = ok(
        client.patch(rules_url("lead", rule=made["id"]), headers=w.headers, json={"against": None})
    )
    assert back["against"] is None
    same_lead = error(
        save(client, w, {"email": "new@acme.com"}, "lead"), 409, "duplicates_detected"
    )
    assert {m["entity"] for m in same_lead["details"]["matches"]} == {"lead"}


def test_report_files_a_record_set(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    quiet_standard(client, w)
    matching_rule(client, w)
    duplicate_rule(
        client,
        w,
        name="Report",
        matching_rules=["Same email"],
        action_on_create="allow",
        report=True,
    )
    jane = saved(client, w, {"email": "jane@acme.com"})
    again = saved(client, w, {"email": "jane@acme.com"})
    sets = ok(client.get("/v1/duplicate-record-sets", headers=w.headers))["data"]
    (found,) = sets
    assert found["source"] == "rule" and found["entity"] == "contact"
    assert {m["record_id"] for m in found["members"]} == {jane, again}


def test_openapi_documents_rules(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/entities/{entity}/matching-rules",
        "/v1/entities/{entity}/matching-rules/{rule}",
        "/v1/entities/{entity}/duplicate-rules",
        "/v1/entities/{entity}/duplicate-rules/{rule}",
        "/v1/matching-methods",
    ):
        assert path in paths, path
    saves = [
        ("/v1/entities/{entity}/records", "post"),
        ("/v1/entities/{entity}/records/by/{field}/{value}", "put"),
        ("/v1/entities/{entity}/records/{record_id}", "patch"),
        ("/v1/entities/{entity}/records/bulk", "post"),
    ]
    for path, method in saves:
        operation = paths[path][method]
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert "X-Duplicate-Rule-Header" in headers, (path, method)
        if not path.endswith("/bulk"):
            assert "duplicates_detected" in operation["responses"]["409"]["description"]
    upsert = paths["/v1/entities/{entity}/records/by/{field}/{value}"]["put"]["responses"]["409"]
    assert "`conflict`" in upsert["description"]  # both 409s are documented
