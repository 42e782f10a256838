"""Rules: per entity, the matching rules and duplicate rules with each duplicate rule's
statistics; admins create and edit them through the rules service (services/rules.py).

Statistics (hits, alerts, blocks, overrides, merges, "not a duplicate" marks) are kept per
duplicate rule in the audit log (``rules.rule_stats``: one group-by over its rule index); a
matching rule shows the duplicate rules that use it.

Forms post every key, so an edit sends the whole rule; the service validates it and its
message is shown beside the form with what the user typed kept. Members see the rules; the
form pages and every POST are for admins (403 page).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from sqlalchemy.orm import Session

from ...api.deps import SessionDep, region_of
from ...core.errors import ConflictError, NotFoundError, ValidationError
from ...core.rule_methods import METHODS
from ...core.rules import BLANK, MAX_CONDITIONS
from ...services import rules as svc
from ...services.entities import list_entities
from ...store.tables import DuplicateRule, Entity, MatchingRule
from ..auth import AdminDep, ViewerDep
from ..pages import flash, page_router, render, run_once

router = page_router()

EntityName = Annotated[str, Path(max_length=64)]
RuleId = Annotated[str, Path(max_length=64)]
#: empty condition rows offered under the rule's own (a row without a field is ignored)
SPARE_ROWS = 2
BLANK_LABELS = {"no_match": "A blank value never matches", "match": "Two blanks match"}


def _entity(session: Session, workspace_id: str, name: str) -> tuple[Entity, list[Entity]]:
    entities = list_entities(session=session, workspace_id=workspace_id)
    for entity in entities:
        if entity.name == name:
            return entity, entities
    raise NotFoundError(f"no entity {name!r}")


@router.get("/rules")
def rules_list(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    entity: Annotated[str, Query(max_length=64)] = "contact",
) -> Response:
    entities = list_entities(session=session, workspace_id=viewer.workspace_id)
    if entity not in {e.name for e in entities}:
        entity = entities[0].name if entities else "contact"
    matching: list[MatchingRule] = []
    duplicate: list[DuplicateRule] = []
    if entities:
        matching = svc.list_matching_rules(
            session=session, workspace_id=viewer.workspace_id, entity=entity
        )
        duplicate = svc.list_duplicate_rules(
            session=session, workspace_id=viewer.workspace_id, entity=entity
        )
    names = {e.id: e.name for e in entities}
    stats = svc.rule_stats(session, viewer.workspace_id, [d.id for d in duplicate])
    used_by = {m.id: [d.name for d in duplicate if m.id in d.matching_rule_ids] for m in matching}
    matching_names = {m.id: m.name for m in matching}
    return render(
        request,
        "rules/list.html",
        {
            "entities": entities,
            "entity": entity,
            "matching": matching,
            "duplicate": duplicate,
            "stats": stats,
            "used_by": used_by,
            "matching_names": matching_names,
            "entity_names": names,
            "blank_labels": BLANK_LABELS,
        },
    )


# --- matching rules ------------------------------------------------------------------------


def _condition_rows(form: Mapping[str, Any]) -> list[dict[str, str]]:
    """The condition rows a matching-rule form sent, as typed (strings)."""
    rows = []
    for i in range(MAX_CONDITIONS + SPARE_ROWS):
        if f"cond-{i}-field" not in form:
            break
        rows.append(
            {
                key: str(form.get(f"cond-{i}-{key}", "")).strip()
                for key in ("field", "method", "threshold", "blank")
            }
        )
    return rows


def _matching_body(form: Mapping[str, Any]) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    for row in _condition_rows(form):
        if not row["field"]:
            continue
        condition: dict[str, Any] = {"field": row["field"], "method": row["method"]}
        if row["threshold"]:
            try:
                condition["threshold"] = float(row["threshold"])
            except ValueError:
                condition["threshold"] = row["threshold"]  # the service says what is wrong
        if row["blank"]:
            condition["blank"] = row["blank"]
        conditions.append(condition)
    expression = str(form.get("expression", "")).strip()
    against = str(form.get("against", "")).strip()
    return {
        "name": str(form.get("name", "")),
        "description": str(form.get("description", "")),
        "conditions": conditions,
        "expression": expression or None,
        "against": against or None,
        "active": form.get("active") == "on",
    }


def _matching_values(rule: MatchingRule | None, entity_names: Mapping[str, str]) -> dict[str, Any]:
    if rule is None:
        return {
            "name": "",
            "description": "",
            "expression": "",
            "against": "",
            "active": True,
            "rows": [],
        }
    return {
        "name": rule.name,
        "description": rule.description or "",
        "expression": rule.expression,
        "against": entity_names.get(rule.against_entity_id or "", ""),
        "active": rule.active,
        "rows": [
            {
                "field": c["field"],
                "method": c["method"],
                "threshold": f"{c['threshold']:g}",
                "blank": c.get("blank", "no_match"),
            }
            for c in rule.conditions
        ],
    }


def _matching_form(
    request: Request,
    session: Session,
    viewer: Any,
    entity: str,
    rule: MatchingRule | None,
    values: dict[str, Any],
    error: Any = None,
    status_code: int = 200,
) -> Response:
    target, entities = _entity(session, viewer.workspace_id, entity)
    fields = sorted(svc.field_types(session, target.id)[0].items())
    rows = list(values["rows"])
    rows += [{"field": "", "method": "", "threshold": "", "blank": "no_match"}] * SPARE_ROWS
    return render(
        request,
        "rules/matching_form.html",
        {
            "entity": entity,
            "rule": rule,
            "values": values,
            "rows": rows[: MAX_CONDITIONS + SPARE_ROWS],
            "fields": fields,
            "methods": list(METHODS.values()),
            "blanks": [(b, BLANK_LABELS.get(b, b)) for b in BLANK],
            "others": [e.name for e in entities if e.name != entity],
            "error": error,
            "error_field": (error.details.get("field") if error is not None else None),
        },
        status_code=status_code,
    )


def _rule_or_404(session: Session, table: Any, workspace_id: str, entity: str, rule_id: str) -> Any:
    getter = svc.get_matching_rule if table is MatchingRule else svc.get_duplicate_rule
    rule = getter(session=session, workspace_id=workspace_id, entity=entity, rule_id=rule_id)
    if rule.id != rule_id:  # the service also finds by name; pages use ids only
        raise NotFoundError("no such rule")
    return rule


@router.get("/rules/{entity}/matching/new")
def new_matching(
    request: Request, viewer: AdminDep, session: SessionDep, entity: EntityName
) -> Response:
    return _matching_form(request, session, viewer, entity, None, _matching_values(None, {}))


@router.get("/rules/{entity}/matching/{rule_id}")
def edit_matching(
    request: Request, viewer: AdminDep, session: SessionDep, entity: EntityName, rule_id: RuleId
) -> Response:
    rule = _rule_or_404(session, MatchingRule, viewer.workspace_id, entity, rule_id)
    names = {e.id: e.name for e in list_entities(session=session, workspace_id=viewer.workspace_id)}
    return _matching_form(request, session, viewer, entity, rule, _matching_values(rule, names))


def _save_matching(
    request: Request,
    viewer: Any,
    session: Session,
    entity: str,
    rule: MatchingRule | None,
) -> Response:
    form = request.state.form
    body = _matching_body(form)
    region = region_of(request)

    def work(write: Session) -> str:
        if rule is None:
            svc.create_matching_rule(
                session=write,
                workspace_id=viewer.workspace_id,
                entity=entity,
                body=body,
                region=region,
            )
        else:
            svc.update_matching_rule(
                session=write,
                workspace_id=viewer.workspace_id,
                entity=entity,
                rule_id=rule.id,
                body=body,
                region=region,
            )
        flash(request, f"Matching rule {body['name'].strip()!r} saved.", "success")
        return f"/rules?entity={entity}"

    try:
        response = run_once(request, viewer, work)
    except (ValidationError, ConflictError) as exc:
        values = {
            "name": body["name"],
            "description": body["description"],
            "expression": str(form.get("expression", "")),
            "against": body["against"] or "",
            "active": body["active"],
            "rows": [r for r in _condition_rows(form) if r["field"]],
        }
        return _matching_form(request, session, viewer, entity, rule, values, exc, 400)
    return response


@router.post("/rules/{entity}/matching/new")
def create_matching(
    request: Request, viewer: AdminDep, session: SessionDep, entity: EntityName
) -> Response:
    _entity(session, viewer.workspace_id, entity)
    return _save_matching(request, viewer, session, entity, None)


@router.post("/rules/{entity}/matching/{rule_id}")
def update_matching(
    request: Request, viewer: AdminDep, session: SessionDep, entity: EntityName, rule_id: RuleId
) -> Response:
    rule = _rule_or_404(session, MatchingRule, viewer.workspace_id, entity, rule_id)
    return _save_matching(request, viewer, session, entity, rule)


# --- duplicate rules -----------------------------------------------------------------------


def _duplicate_body(form: Any) -> dict[str, Any]:
    return {
        "name": str(form.get("name", "")),
        "description": str(form.get("description", "")),
        "matching_rules": [str(v) for v in form.getlist("matching_rules")],
        "action_on_create": str(form.get("action_on_create", "")),
        "action_on_edit": str(form.get("action_on_edit", "")),
        "report": form.get("report") == "on",
        "include_deleted": form.get("include_deleted") == "on",
        "active": form.get("active") == "on",
    }


def _duplicate_values(rule: DuplicateRule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "name": "",
            "description": "",
            "matching_rules": [],
            "action_on_create": "allow",
            "action_on_edit": "allow",
            "report": False,
            "include_deleted": False,
            "active": True,
        }
    return {
        "name": rule.name,
        "description": rule.description or "",
        "matching_rules": list(rule.matching_rule_ids),
        "action_on_create": rule.action_on_create,
        "action_on_edit": rule.action_on_edit,
        "report": rule.report,
        "include_deleted": rule.include_deleted,
        "active": rule.active,
    }


def _duplicate_form(
    request: Request,
    session: Session,
    viewer: Any,
    entity: str,
    rule: DuplicateRule | None,
    values: dict[str, Any],
    error: Any = None,
    status_code: int = 200,
) -> Response:
    _entity(session, viewer.workspace_id, entity)
    matching = svc.list_matching_rules(
        session=session, workspace_id=viewer.workspace_id, entity=entity
    )
    return render(
        request,
        "rules/duplicate_form.html",
        {
            "entity": entity,
            "rule": rule,
            "values": values,
            "matching": matching,
            "actions": svc.ACTIONS,
            "max_matching": svc.MAX_MATCHING_PER_DUPLICATE,
            "error": error,
            "error_field": (error.details.get("field") if error is not None else None),
        },
        status_code=status_code,
    )


@router.get("/rules/{entity}/duplicate/new")
def new_duplicate(
    request: Request, viewer: AdminDep, session: SessionDep, entity: EntityName
) -> Response:
    return _duplicate_form(request, session, viewer, entity, None, _duplicate_values(None))


@router.get("/rules/{entity}/duplicate/{rule_id}")
def edit_duplicate(
    request: Request, viewer: AdminDep, session: SessionDep, entity: EntityName, rule_id: RuleId
) -> Response:
    rule = _rule_or_404(session, DuplicateRule, viewer.workspace_id, entity, rule_id)
    return _duplicate_form(request, session, viewer, entity, rule, _duplicate_values(rule))


def _save_duplicate(
    request: Request, viewer: Any, session: Session, entity: str, rule: DuplicateRule | None
) -> Response:
    body = _duplicate_body(request.state.form)

    def work(write: Session) -> str:
        if rule is None:
            svc.create_duplicate_rule(
                session=write, workspace_id=viewer.workspace_id, entity=entity, body=body
            )
        else:
            svc.update_duplicate_rule(
                session=write,
                workspace_id=viewer.workspace_id,
                entity=entity,
                rule_id=rule.id,
                body=body,
            )
        flash(request, f"Duplicate rule {body['name'].strip()!r} saved.", "success")
        return f"/rules?entity={entity}"

    try:
        response = run_once(request, viewer, work)
    except (ValidationError, ConflictError) as exc:
        return _duplicate_form(request, session, viewer, entity, rule, body, exc, 400)
    return response


@router.post("/rules/{entity}/duplicate/new")
def create_duplicate(
    request: Request, viewer: AdminDep, session: SessionDep, entity: EntityName
) -> Response:
    _entity(session, viewer.workspace_id, entity)
    return _save_duplicate(request, viewer, session, entity, None)


@router.post("/rules/{entity}/duplicate/{rule_id}")
def update_duplicate(
    request: Request, viewer: AdminDep, session: SessionDep, entity: EntityName, rule_id: RuleId
) -> Response:
    rule = _rule_or_404(session, DuplicateRule, viewer.workspace_id, entity, rule_id)
    return _save_duplicate(request, viewer, session, entity, rule)
