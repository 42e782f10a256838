"""The web UI's record browser: a text search reads a bounded window, on both databases."""

from __future__ import annotations

import pytest

from dupeguard.services.browse import browse_records
from dupeguard.services.intake import Inbound, submit_many
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope

PEOPLE = [
    {"first_name": "Ann", "last_name": "Smith", "city": "Boston"},
    {"first_name": "Jürgen", "last_name": "Müller", "city": "Köln"},
    {"first_name": "Pat", "last_name": "O'Brien", "city": "50%_off Town"},
    {"first_name": "Li", "last_name": "Smithers", "city": "50%x Town"},
    {"first_name": "Bo", "last_name": "Firstly", "city": "Back\\slash"},
]


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as session:
        workspace_id = create_workspace(session=session, name="w").id
    with session_scope(sessions) as session:
        submit_many(
            session=session,
            workspace_id=workspace_id,
            entity="contact",
            rows=[Inbound(p) for p in PEOPLE],
            source="api",
            mode="off",
        )
    return workspace_id


def names(sessions, ws: str, query: str, **kw) -> list[str]:
    with session_scope(sessions) as session:
        found = browse_records(
            session=session, workspace_id=ws, entity="contact", query=query, **kw
        )
        return sorted(r.data["last_name"] for r in found.records)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("smith", ["Smith", "Smithers"]),
        ("SMITH", ["Smith", "Smithers"]),
        ("müller", ["Müller"]),  # not ASCII: checked in Python only
        ("köln", ["Müller"]),
        ("o'brien", ["O'Brien"]),
        ("50%_", ["O'Brien"]),  # LIKE wildcards are literal
        ("50%", ["O'Brien", "Smithers"]),
        ("back\\slash", ["Firstly"]),
        ("first", ["Firstly"]),  # field names (first_name) are not values
        ("nobody", []),
    ],
)
def test_text_search_finds_values_only(sessions, ws: str, query: str, expected: list[str]) -> None:
    assert names(sessions, ws, query) == expected


def test_text_search_pages_through_the_window(sessions, ws: str) -> None:
    with session_scope(sessions) as session:
        first = browse_records(
            session=session, workspace_id=ws, entity="contact", query="town", scan_budget=2
        )
        assert not first.exhaustive and first.next_cursor and first.scanned == 2
        seen = [r.data["last_name"] for r in first.records]
        cursor = first.next_cursor
        while cursor:
            more = browse_records(
                session=session,
                workspace_id=ws,
                entity="contact",
                query="town",
                scan_budget=2,
                cursor=cursor,
            )
            seen += [r.data["last_name"] for r in more.records]
            cursor = more.next_cursor
        assert sorted(seen) == ["O'Brien", "Smithers"]
        one = browse_records(
            session=session, workspace_id=ws, entity="contact", query="smith", limit=1
        )
        assert len(one.records) == 1 and one.next_cursor  # stopped at the limit: more to read
