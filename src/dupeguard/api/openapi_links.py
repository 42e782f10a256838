"""OpenAPI links: which response feeds which operation's path parameters.

Links let clients (and stateful API fuzzers such as Schemathesis) chain calls: the ``id`` a
``POST /v1/forms`` answers is the ``form_id`` of ``GET/PATCH/DELETE /v1/forms/{form_id}``.
:func:`add_links` writes them into the generated schema; every other path parameter of a
target is copied from the source request's path (``{entity}`` stays the same entity).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LINKS", "Chain", "add_links"]

_PARAM = re.compile(r"{([^}]+)}")


@dataclass(frozen=True)
class Chain:
    """``source`` (method, path) answers an object whose ``pointer`` (a JSON pointer into the
    response body) is the ``param`` of each target (method, path)."""

    source: tuple[str, str]
    pointer: str
    param: str
    targets: Sequence[tuple[str, str]]
    extra: Mapping[str, str] = field(default_factory=dict)


_ENTITY = "/v1/entities/{entity}"
_RECORD = f"{_ENTITY}/records/{{record_id}}"

LINKS: tuple[Chain, ...] = (
    Chain(
        ("post", "/v1/entities"),
        "/name",
        "entity",
        [
            ("get", f"{_ENTITY}/fields"),
            ("get", f"{_ENTITY}/match-keys"),
            ("get", f"{_ENTITY}/matching-rules"),
            ("get", f"{_ENTITY}/duplicate-rules"),
            ("get", f"{_ENTITY}/records"),
            ("post", f"{_ENTITY}/records"),
        ],
    ),
    Chain(
        ("post", f"{_ENTITY}/fields"),
        "/name",
        "field",
        [("patch", f"{_ENTITY}/fields/{{field}}")],
    ),
    Chain(
        ("post", f"{_ENTITY}/records"),
        "/record_id",
        "record_id",
        [
            ("get", _RECORD),
            ("patch", _RECORD),
            ("delete", _RECORD),
            ("get", f"{_RECORD}/activity"),
            ("post", f"{_RECORD}/restore"),
            ("get", f"{_RECORD}/links"),
            ("post", f"{_RECORD}/links"),
        ],
    ),
    Chain(
        ("post", f"{_ENTITY}/matching-rules"),
        "/id",
        "rule",
        [
            ("get", f"{_ENTITY}/matching-rules/{{rule}}"),
            ("patch", f"{_ENTITY}/matching-rules/{{rule}}"),
            ("delete", f"{_ENTITY}/matching-rules/{{rule}}"),
        ],
    ),
    Chain(
        ("post", f"{_ENTITY}/duplicate-rules"),
        "/id",
        "rule",
        [
            ("get", f"{_ENTITY}/duplicate-rules/{{rule}}"),
            ("patch", f"{_ENTITY}/duplicate-rules/{{rule}}"),
            ("delete", f"{_ENTITY}/duplicate-rules/{{rule}}"),
        ],
    ),
    Chain(
        ("post", "/v1/forms"),
        "/id",
        "form_id",
        [
            ("get", "/v1/forms/{form_id}"),
            ("patch", "/v1/forms/{form_id}"),
            ("delete", "/v1/forms/{form_id}"),
            ("post", "/v1/forms/{form_id}/rotate-token"),
            ("get", "/v1/forms/{form_id}/submissions"),
        ],
    ),
    Chain(
        ("post", "/v1/forms"),
        "/id",
        "form_id",
        [("post", "/v1/forms/{form_id}/submissions")],
        extra={"header.X-Form-Token": "$response.body#/token"},
    ),
    Chain(
        ("post", "/v1/webhooks"),
        "/id",
        "webhook_id",
        [
            ("delete", "/v1/webhooks/{webhook_id}"),
            ("get", "/v1/webhooks/{webhook_id}/deliveries"),
        ],
    ),
    Chain(
        ("post", "/v1/imports"),
        "/id",
        "import_id",
        [
            ("get", "/v1/imports/{import_id}"),
            ("put", "/v1/imports/{import_id}/mapping"),
            ("post", "/v1/imports/{import_id}/preview"),
            ("post", "/v1/imports/{import_id}/start"),
            ("post", "/v1/imports/{import_id}/resume"),
            ("get", "/v1/imports/{import_id}/rows"),
            ("get", "/v1/imports/{import_id}/report.csv"),
        ],
    ),
    Chain(
        ("post", "/v1/duplicate-jobs"),
        "/id",
        "job_id",
        [
            ("get", "/v1/duplicate-jobs/{job_id}"),
            ("post", "/v1/duplicate-jobs/{job_id}/cancel"),
        ],
    ),
    Chain(
        ("post", f"{_ENTITY}/merges"),
        "/id",
        "merge_id",
        [("get", "/v1/merges/{merge_id}"), ("post", "/v1/merges/{merge_id}/undo")],
    ),
    Chain(
        ("post", f"{_RECORD}/links"),
        "/id",
        "link_id",
        [("delete", "/v1/links/{link_id}")],
    ),
)
"""The create → read/edit/delete chains of the API."""


def add_links(schema: dict[str, Any], chains: Sequence[Chain] = LINKS) -> dict[str, Any]:
    """Write ``chains`` into ``schema`` as OpenAPI links on the sources' 2xx responses
    (idempotent). A chain whose source or target is not in the schema is skipped."""
    paths = schema.get("paths", {})
    for chain in chains:
        method, path = chain.source
        source = paths.get(path, {}).get(method)
        if source is None:
            continue
        source_params = set(_PARAM.findall(path))
        for target_method, target_path in chain.targets:
            target = paths.get(target_path, {}).get(target_method)
            if target is None or "operationId" not in target:
                continue
            parameters: dict[str, str] = {}
            for name in _PARAM.findall(target_path):
                if name == chain.param:
                    parameters[name] = f"$response.body#{chain.pointer}"
                elif name in source_params:
                    parameters[name] = f"$request.path.{name}"
            parameters.update(chain.extra)
            link = {"operationId": target["operationId"], "parameters": parameters}
            name = _link_name(target_method, target_path)
            for status, response in source.get("responses", {}).items():
                if str(status).startswith("2"):
                    response.setdefault("links", {})[name] = link
    return schema


def _link_name(method: str, path: str) -> str:
    words = [p for p in re.split(r"[^A-Za-z0-9]+", _PARAM.sub("", path)) if p and p != "v1"]
    return method.capitalize() + "".join(w.capitalize() for w in words)
