"""CSV import as services, on both databases: seed 001's outcomes through a file, preview,
in-file repeats, malformed files, the report, failures, and a killed import resumed exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dupeguard.core.errors import ConflictError, NotFoundError, ValidationError
from dupeguard.services import entities, imports, intake
from dupeguard.services import records as rec
from dupeguard.services.import_csv import FileTooLarge, csv_line, inspect, iter_rows
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import Activity, Import, ImportRow, Record, RecordKey, utcnow


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        return create_workspace(session=s, name="Acme").id


def _keys(sessions, ws: str, *fields: str, entity: str = "lead") -> None:
    with session_scope(sessions) as s:
        entities.set_match_keys(session=s, workspace_id=ws, entity=entity, fields=list(fields))


def _record(sessions, ws: str, data: Mapping[str, str], entity: str = "lead") -> str:
    """A stored record (created directly: set the match keys afterwards to index it)."""
    with session_scope(sessions) as s:
        return rec.create_record(session=s, workspace_id=ws, entity=entity, data=dict(data)).id


def _upload(sessions, ws: str, text: str | bytes, entity: str = "lead") -> Import:
    content = text.encode() if isinstance(text, str) else text
    with session_scope(sessions) as s:
        return imports.upload(
            session=s, workspace_id=ws, entity=entity, filename="leads.csv", content=content
        )


def _mapped(
    sessions,
    ws: str,
    text: str,
    *,
    mode: str = "skip",
    mapping: Mapping[str, str | None] | None = None,
    entity: str = "lead",
) -> str:
    item = _upload(sessions, ws, text, entity)
    with session_scope(sessions) as s:
        imports.set_mapping(
            session=s,
            workspace_id=ws,
            import_id=item.id,
            mapping=dict(mapping if mapping is not None else item.mapping),
            dedup_mode=mode,
        )
    return item.id


def _run(sessions, ws: str, import_id: str, **kwargs) -> list[ImportRow]:
    with session_scope(sessions) as s:
        imports.start(session=s, workspace_id=ws, import_id=import_id)
    assert imports.run(sessions, import_id, **kwargs) == "completed"
    with session_scope(sessions) as s:
        rows, _ = imports.rows(session=s, workspace_id=ws, import_id=import_id, limit=1000)
        return rows


def _import(sessions, ws: str, text: str, **kwargs) -> list[ImportRow]:
    chunk = kwargs.pop("chunk_rows", imports.CHUNK_ROWS)
    return _run(sessions, ws, _mapped(sessions, ws, text, **kwargs), chunk_rows=chunk)


def _data(sessions, record_id: str) -> dict:
    with session_scope(sessions) as s:
        return dict(s.get(Record, record_id).data)


def _count(sessions, table) -> int:
    with session_scope(sessions) as s:
        return s.scalar(select(func.count()).select_from(table))


# --- seed 001 outcomes through an import --------------------------------------------------------


def test_update_mode_outcomes_and_protected_fields(sessions, ws: str) -> None:
    stored = _record(
        sessions, ws, {"email": "ann@x.com", "first_name": "Ann", "status": "new", "phone": "555"}
    )
    _keys(sessions, ws, "email")
    rows = _import(
        sessions,
        ws,
        "Email,First Name,Status\n"
        "ANN@x.com,Annie,won\n"  # one match: first_name changes; status never
        "bob@x.com,Bob,new\n"  # no match: created
        "ann@x.com,Annie,\n",  # nothing left to change: skipped
        mode="update",
    )
    assert [(r.row_number, r.decision) for r in rows] == [
        (1, "updated"),
        (2, "created"),
        (3, "skipped"),
    ]
    assert rows[0].record_id == stored and rows[0].changed_fields == ["first_name"]
    assert rows[0].matches == [stored] and rows[0].matched_by == "email"
    assert rows[2].record_id == stored and rows[2].changed_fields == []
    assert _data(sessions, stored) == {
        "email": "ann@x.com",
        "first_name": "Annie",
        "status": "new",
        "phone": "555",  # unmapped: untouched
    }
    assert _data(sessions, rows[1].record_id) == {
        "email": "bob@x.com",
        "first_name": "Bob",
        "status": "new",
    }
    with session_scope(sessions) as s:
        kinds = s.scalars(select(Activity.source).where(Activity.record_id == stored)).all()
        assert "import" in kinds


def test_skip_mode_keeps_the_existing_record(sessions, ws: str) -> None:
    stored = _record(sessions, ws, {"email": "ann@x.com", "first_name": "Ann"})
    _keys(sessions, ws, "email")
    rows = _import(sessions, ws, "email,first_name\nann@x.com,Changed\n")
    assert [(r.decision, r.record_id, r.matches) for r in rows] == [("skipped", stored, [stored])]
    assert _data(sessions, stored)["first_name"] == "Ann"


def test_conflict_does_not_fall_back_to_a_lower_key(sessions, ws: str) -> None:
    a = _record(sessions, ws, {"external_id": "X1", "email": "a@x.com"})
    b = _record(sessions, ws, {"external_id": "x1", "email": "b@x.com"})
    c = _record(sessions, ws, {"email": "c@x.com"})
    _keys(sessions, ws, "external_id", "email")
    before = _data(sessions, c)
    rows = _import(sessions, ws, "External ID,Email,First Name\nX1,c@x.com,Cy\n", mode="update")
    (row,) = rows
    assert row.decision == "conflict" and row.matched_by == "external_id"
    assert sorted(row.matches) == sorted([a, b]) and row.record_id is None
    assert _data(sessions, c) == before  # email would have matched c: not tried
    assert _count(sessions, Record) == 3


def test_falls_back_when_the_higher_key_is_empty_or_unmatched(sessions, ws: str) -> None:
    a = _record(sessions, ws, {"external_id": "X1", "email": "a@x.com"})
    c = _record(sessions, ws, {"email": "c@x.com"})
    _keys(sessions, ws, "external_id", "email")
    rows = _import(
        sessions,
        ws,
        "external_id,email\n,c@x.com\nX9,c@x.com\nX1,zzz@x.com\n",
    )
    assert [(r.decision, r.record_id, r.matched_by) for r in rows] == [
        ("skipped", c, "email"),  # higher key empty
        ("skipped", c, "email"),  # higher key matches nothing
        ("skipped", a, "external_id"),  # higher key wins over a non-matching email
    ]


def test_no_match_keys_means_every_row_is_created(sessions, ws: str) -> None:
    _record(sessions, ws, {"email": "a@x.com"})
    rows = _import(sessions, ws, "email\na@x.com\na@x.com\n")
    assert [r.decision for r in rows] == ["created", "created"]
    assert _count(sessions, Record) == 3


def test_mode_off_always_creates(sessions, ws: str) -> None:
    _record(sessions, ws, {"email": "a@x.com"})
    _keys(sessions, ws, "email")
    rows = _import(sessions, ws, "email\na@x.com\na@x.com\n", mode="off")
    assert [r.decision for r in rows] == ["created", "created"]
    assert _count(sessions, Record) == 3


@pytest.mark.parametrize("chunk_rows", [1000, 1])
def test_in_file_repeats_behave_as_sequential_imports(sessions, ws: str, chunk_rows: int) -> None:
    _keys(sessions, ws, "email")
    rows = _import(
        sessions,
        ws,
        "email,first_name\nann@x.com,Ann\nANN@x.com,Annie\nann@x.com,Annie\n",
        mode="update",
        chunk_rows=chunk_rows,
    )
    first = rows[0].record_id
    assert [(r.decision, r.record_id) for r in rows] == [
        ("created", first),
        ("updated", first),
        ("skipped", first),
    ]
    assert rows[1].changed_fields == ["first_name"]
    assert _count(sessions, Record) == 1
    rows = _import(sessions, ws, "email\nbo@x.com\nbo@x.com\n", chunk_rows=chunk_rows)
    assert [r.decision for r in rows] == ["created", "skipped"]
    assert rows[1].record_id == rows[0].record_id


def test_bad_values_are_row_errors_that_abort_nothing(sessions, ws: str) -> None:
    rows = _import(
        sessions,
        ws,
        "name,amount,close_date,notes\n"
        "Big,1200,2024-03-05,\n"
        "Bad,abc,,\n"
        "Worse,,not a date,\n"
        ",,,only an unmapped note\n"
        "Ok,$1.5M,,\n",
        entity="deal",
    )
    assert [r.decision for r in rows] == ["created", "error", "error", "error", "created"]
    assert "'abc' is not a number" in rows[1].error
    assert "not a date" in rows[2].error
    assert rows[3].error == "the row has no value in any mapped column"
    assert _data(sessions, rows[4].record_id)["amount"] == 1_500_000
    assert _count(sessions, Record) == 2


# --- preview ---------------------------------------------------------------------------------


def test_preview_writes_nothing_and_predicts_the_final_counts(sessions, ws: str) -> None:
    a = _record(sessions, ws, {"email": "a@x.com", "first_name": "A"})
    _record(sessions, ws, {"email": "dup@x.com"})
    _record(sessions, ws, {"email": "DUP@x.com"})
    _keys(sessions, ws, "email")
    iid = _mapped(
        sessions,
        ws,
        "email,first_name,date_of_birth\n"
        "a@x.com,Al,\n"  # updated
        "new@x.com,N,\n"  # created
        "new@x.com,N2,\n"  # updated against row 2
        "dup@x.com,D,\n"  # conflict
        "a@x.com,Al,\n"  # skipped (nothing changes any more)
        "a@x.com,Al,someday\n",  # error
        mode="update",
    )
    tables = (Record, RecordKey, Activity, ImportRow)
    before = [_count(sessions, t) for t in tables]
    result = imports.preview(sessions=sessions, workspace_id=ws, import_id=iid)
    assert [_count(sessions, t) for t in tables] == before
    expected = {"created": 1, "updated": 2, "skipped": 1, "conflict": 1, "blocked": 0, "error": 1}
    assert result.counts == expected
    assert [r.decision for r in result.rows] == [
        "updated",
        "created",
        "updated",
        "conflict",
        "skipped",
        "error",
    ]
    assert result.rows[0].record_id == a
    assert result.rows[1].record_id is None  # not created yet
    assert result.rows[2].matched_rows == [2] and result.rows[2].matches == []
    with session_scope(sessions) as s:
        item = imports.get(session=s, workspace_id=ws, import_id=iid)
        assert item.status == "previewed" and item.counts == expected
    page = imports.preview(
        sessions=sessions, workspace_id=ws, import_id=iid, decision="updated", limit=1
    )
    assert [r.row_number for r in page.rows] == [1] and page.next_cursor == "1"
    page = imports.preview(
        sessions=sessions, workspace_id=ws, import_id=iid, decision="updated", cursor="1"
    )
    assert [r.row_number for r in page.rows] == [3] and page.next_cursor is None

    rows = _run(sessions, ws, iid)
    assert [r.decision for r in rows] == [r.decision for r in result.rows]
    with session_scope(sessions) as s:
        item = imports.get(session=s, workspace_id=ws, import_id=iid)
        assert item.counts == expected == imports.counted(session=s, import_id=iid)
        assert item.status == "completed" and item.processed_rows == 6


def test_preview_and_start_need_a_mapping(sessions, ws: str) -> None:
    item = _upload(sessions, ws, "email\na@x.com\n")
    with pytest.raises(ConflictError, match="map the columns first"):
        imports.preview(sessions=sessions, workspace_id=ws, import_id=item.id)
    with session_scope(sessions) as s, pytest.raises(ConflictError, match="map the columns"):
        imports.start(session=s, workspace_id=ws, import_id=item.id)


# --- upload and mapping ----------------------------------------------------------------------


def test_upload_suggests_a_mapping(sessions, ws: str) -> None:
    with session_scope(sessions) as s:
        entities.create_field(
            session=s, workspace_id=ws, entity="lead", name="customer_no", type="text"
        )
        entities.create_field(
            session=s,
            workspace_id=ws,
            entity="lead",
            name="score",
            type="number",
            label="Lead Score",
        )
    item = _upload(
        sessions,
        ws,
        "\ufeffE-mail,First Name,Customer No,lead score,Zip Code,Mail,Whatever\n"
        "a@x.com,A,1,2,3,b@x.com,z\n",
    )
    assert item.columns[0] == "E-mail"  # the BOM is not part of the name
    assert item.mapping == {
        "E-mail": "email",
        "First Name": "first_name",
        "Customer No": "customer_no",
        "lead score": "score",
        "Zip Code": "zip",
    }  # "Mail" would be email too: a field is suggested once
    assert item.status == "uploaded" and item.row_count == 1 and item.filename == "leads.csv"


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("a;b;c\n1,5;2;3\n", ["a", "b", "c"]),
        ("a\tb\n1\t2\n", ["a", "b"]),
        ("a|b\n1|2\n", ["a", "b"]),
        ('name,notes\n"Smith, Jo","a;b|c"\n', ["name", "notes"]),
        ("email\r\na@x.com\r\n", ["email"]),
    ],
)
def test_delimiters_are_sniffed(text: str, columns: list[str]) -> None:
    parsed = inspect(text.encode())
    assert parsed.columns == columns and parsed.row_count == 1
    assert [len(cells) for _, cells in iter_rows(text.encode())] == [len(columns)]


def test_blank_lines_are_not_rows_and_quoted_newlines_are_kept() -> None:
    content = b'email,notes\n\na@x.com,"two\nlines"\n,\n\nb@x.com,x\n'
    assert inspect(content).row_count == 2
    assert list(iter_rows(content)) == [(1, ["a@x.com", "two\nlines"]), (2, ["b@x.com", "x"])]
    assert list(iter_rows(content, after=1)) == [(2, ["b@x.com", "x"])]


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (b"", "the file is empty", None),
        (b"\n \n", "the file is empty", None),
        (b"email,name\na@x.com,\xe9t\xe9\n", "is not UTF-8", 2),
        (b"\xff\xfee\x00m\x00", "UTF-16", None),
        (b"email,name\na@x.com,A\nb@x.com\n", "1 fields, but the header has 2", 3),
        (b"email,name\na@x.com,A,extra\n", "3 fields, but the header has 2", 2),
        (b"email,,phone\na,b,c\n", "column 2 has no name", 1),
        (b"Email,name,EMAIL\na,b,c\n", "'EMAIL' appears twice", 1),
        (b"a@x.com,Ann\nb@x.com,Bob\n", "looks like data", 1),
        (b"email,name\n", "no data rows", None),
        (b'email,name\na@x.com,"Ann\nb@x.com,Bob\n', "quoted field is never closed", 2),
        (b'email,name\n"a"b,c\n', "cannot be read", 2),
        (b"email,name\na@x.com,A\x00\n", "NUL", 2),
        (b",,,\n,,\n", "no header row", None),
    ],
)
def test_malformed_files_are_refused_and_nothing_is_stored(
    sessions, ws: str, content: bytes, message: str, line: int | None
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        _upload(sessions, ws, content)
    assert info.value.details.get("line") == line
    if line is not None:
        assert info.value.message.startswith(f"line {line}: ")
    assert _count(sessions, Import) == 0


def test_a_bom_is_fine_and_oversized_files_are_refused(sessions, ws: str) -> None:
    assert inspect("\ufeffemail\na@x.com\n".encode()).columns == ["email"]
    with pytest.raises(FileTooLarge) as info:
        inspect(b"email\na@x.com\n", max_bytes=10)
    assert info.value.code == "payload_too_large" and info.value.details == {"max_bytes": 10}
    with session_scope(sessions) as s, pytest.raises(FileTooLarge):
        imports.upload(
            session=s,
            workspace_id=ws,
            entity="lead",
            filename=None,
            content=b"e\n" * 9,
            max_bytes=8,
        )
    assert _count(sessions, Import) == 0


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\leads.csv", "leads.csv"),
        ("/tmp/a b.csv", "a b.csv"),
        ("..", "import.csv"),
        ("", "import.csv"),
        (None, "import.csv"),
        ("bad\x00\nname.csv", "badname.csv"),
    ],
)
def test_filenames_keep_the_base_name_only(name: str | None, clean: str) -> None:
    assert imports.clean_filename(name) == clean


def test_mapping_is_checked(sessions, ws: str) -> None:
    item = _upload(sessions, ws, "Email,Mail,Name\na@x.com,b@x.com,A\n")

    def set_(mapping, mode="skip"):
        with session_scope(sessions) as s:
            return imports.set_mapping(
                session=s, workspace_id=ws, import_id=item.id, mapping=mapping, dedup_mode=mode
            )

    with pytest.raises(ValidationError, match="no column 'Phone'"):
        set_({"Phone": "phone"})
    with pytest.raises(ValidationError, match="no field 'nope'"):
        set_({"Email": "nope"})
    with pytest.raises(ValidationError, match="both map to field 'email'"):
        set_({"Email": "email", "Mail": "email"})
    with pytest.raises(ValidationError, match="at least one column"):
        set_({"Email": None, "Mail": ""})
    with pytest.raises(ValidationError, match="dedup_mode"):
        set_({"Email": "email"}, mode="merge")
    done = set_({"Email": "email", "Mail": None, "Name": "full_name"}, mode="UPDATE")
    assert done.mapping == {"Email": "email", "Name": "full_name"}
    assert (done.status, done.dedup_mode) == ("mapped", "update")
    _run(sessions, ws, item.id)
    with pytest.raises(ConflictError, match="completed"):
        set_({"Email": "email"})


def test_imports_are_scoped_to_their_workspace(sessions, ws: str) -> None:
    iid = _mapped(sessions, ws, "email\na@x.com\n")
    with session_scope(sessions) as s:
        other = create_workspace(session=s, name="Other").id
    with session_scope(sessions) as s:
        with pytest.raises(NotFoundError):
            imports.get(session=s, workspace_id=other, import_id=iid)
        with pytest.raises(NotFoundError):
            imports.rows(session=s, workspace_id=other, import_id=iid)
        assert imports.list_imports(session=s, workspace_id=other) == ([], None)
    with session_scope(sessions) as s, pytest.raises(NotFoundError):
        imports.start(session=s, workspace_id=other, import_id=iid)
    with pytest.raises(NotFoundError):
        imports.preview(sessions=sessions, workspace_id=other, import_id=iid)


def test_list_imports_pages_newest_first(sessions, ws: str) -> None:
    ids = [_upload(sessions, ws, f"email\n{i}@x.com\n").id for i in range(3)]
    with session_scope(sessions) as s:
        page, cursor = imports.list_imports(session=s, workspace_id=ws, limit=2)
        rest, end = imports.list_imports(session=s, workspace_id=ws, limit=2, cursor=cursor)
    assert [i.id for i in page + rest] == ids[::-1] and end is None


# --- report ----------------------------------------------------------------------------------


def test_report_csv_lists_every_row_and_neutralises_formulas(sessions, ws: str) -> None:
    a = _record(sessions, ws, {"email": "dup@x.com"})
    b = _record(sessions, ws, {"email": "dup@x.com"})
    with session_scope(sessions) as s:
        entities.create_field(
            session=s, workspace_id=ws, entity="lead", name="score", type="number"
        )
    _keys(sessions, ws, "email")
    iid = _mapped(sessions, ws, "email,score\nnew@x.com,1\ndup@x.com,2\nx@x.com,=1+2\n")
    rows = _run(sessions, ws, iid)
    with session_scope(sessions) as s:  # a report cell a spreadsheet would run
        s.execute(
            update(ImportRow)
            .where(ImportRow.import_id == iid, ImportRow.row_number == 3)
            .values(error='=HYPERLINK("http://evil")')
        )
    lines = "".join(imports.report_lines(sessions, iid, page=2)).splitlines()
    assert lines[0] == ",".join(imports.REPORT_COLUMNS)
    assert lines[1] == f"1,created,{rows[0].record_id},,,,"
    assert lines[2].split(",")[:5] == ["2", "conflict", "", ";".join(rows[1].matches), "email"]
    assert set(rows[1].matches) == {a, b}
    assert lines[3] == '3,error,,,,,"\'=HYPERLINK(""http://evil"")"'
    assert len(lines) == 4
    assert csv_line(["-1", "+x", "@a", "\tb", "\rc", "ok", "a=b"]) == (
        "'-1,'+x,'@a,'\tb,\"'\rc\",ok,a=b\r\n"
    )


# --- running, failing, resuming --------------------------------------------------------------


def test_start_resume_and_status_rules(sessions, ws: str) -> None:
    iid = _mapped(sessions, ws, "email\na@x.com\nb@x.com\nc@x.com\n")
    with session_scope(sessions) as s:
        item = imports.start(session=s, workspace_id=ws, import_id=iid)
        assert imports.status_of(item) == "running"
        later = utcnow() + imports.STALE_AFTER + timedelta(seconds=1)
        assert imports.status_of(item, now=later) == "interrupted"
    with session_scope(sessions) as s, pytest.raises(ConflictError, match="running"):
        imports.start(session=s, workspace_id=ws, import_id=iid)
    with session_scope(sessions) as s, pytest.raises(ConflictError, match="running"):
        imports.resume(session=s, workspace_id=ws, import_id=iid)  # heartbeat is fresh
    assert imports.run(sessions, iid, chunk_rows=2) == "completed"
    with session_scope(sessions) as s, pytest.raises(ConflictError, match="completed"):
        imports.resume(session=s, workspace_id=ws, import_id=iid)
    with session_scope(sessions) as s, pytest.raises(ConflictError, match="completed"):
        imports.start(session=s, workspace_id=ws, import_id=iid)
    assert imports.run(sessions, iid) == "completed"  # nothing to do: no second apply
    assert _count(sessions, Record) == 3 and _count(sessions, ImportRow) == 3


def test_a_failed_chunk_writes_nothing_and_resume_finishes_exactly(
    sessions, ws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(sessions, ws, "email")
    text = "email\n" + "".join(f"u{i % 7}@x.com\n" for i in range(20))
    iid = _mapped(sessions, ws, text)
    real = intake.submit_many
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        out = real(**kwargs)  # writes the chunk's records, then the database "fails"
        if calls["n"] == 3:
            raise RuntimeError("connection lost")
        return out

    monkeypatch.setattr(intake, "submit_many", flaky)
    with session_scope(sessions) as s:
        imports.start(session=s, workspace_id=ws, import_id=iid)
    assert imports.run(sessions, iid, chunk_rows=3) == "failed"
    with session_scope(sessions) as s:
        item = imports.get(session=s, workspace_id=ws, import_id=iid)
        assert item.processed_rows == 6 and "after row 6" in (item.error or "")
        assert imports.status_of(item) == "failed"
    assert _count(sessions, Record) == 6 and _count(sessions, ImportRow) == 6
    with session_scope(sessions) as s:
        imports.resume(session=s, workspace_id=ws, import_id=iid)
    assert imports.run(sessions, iid, chunk_rows=3) == "completed"
    with session_scope(sessions) as s:
        item = imports.get(session=s, workspace_id=ws, import_id=iid)
        assert item.counts == {
            "created": 7,
            "updated": 0,
            "skipped": 13,
            "conflict": 0,
            "blocked": 0,
            "error": 0,
        }
        assert item.counts == imports.counted(session=s, import_id=iid) and item.error is None
    assert _count(sessions, Record) == 7 and _count(sessions, ImportRow) == 20


def test_two_runners_never_apply_a_row_twice(sessions, ws: str) -> None:
    _keys(sessions, ws, "email")
    iid = _mapped(sessions, ws, "email\n" + "".join(f"u{i}@x.com\n" for i in range(300)))
    with session_scope(sessions) as s:
        imports.start(session=s, workspace_id=ws, import_id=iid)
    threads = [
        threading.Thread(target=imports.run, args=(sessions, iid), kwargs={"chunk_rows": 10})
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with session_scope(sessions) as s:
        item = imports.get(session=s, workspace_id=ws, import_id=iid)
        assert item.status == "completed" and item.processed_rows == 300
        assert item.counts["created"] == 300 == imports.counted(session=s, import_id=iid)["created"]
    assert _count(sessions, Record) == 300 and _count(sessions, ImportRow) == 300


def test_run_in_background(sessions, ws: str) -> None:
    iid = _mapped(sessions, ws, "email\na@x.com\nb@x.com\n")
    with session_scope(sessions) as s:
        imports.start(session=s, workspace_id=ws, import_id=iid)
    imports.run_in_background(sessions, iid).join(30)
    with session_scope(sessions) as s:
        assert imports.get(session=s, workspace_id=ws, import_id=iid).status == "completed"


_RUNNER = textwrap.dedent(
    """
    import sys, time
    from dupeguard.services import imports, intake
    from dupeguard.store.session import make_engine, sessionmaker_for

    real = intake.submit_many

    def slow(**kwargs):
        out = real(**kwargs)
        time.sleep(0.03)  # inside the chunk's transaction: a kill lands mid-chunk
        return out

    intake.submit_many = slow
    sessions = sessionmaker_for(make_engine(sys.argv[1]))
    imports.run(sessions, sys.argv[2], chunk_rows=100)
    """
)


def test_a_killed_import_resumes_exactly(sessions, ws: str, db_url: str, tmp_path) -> None:
    total = 3000
    with session_scope(sessions) as s:
        entities.create_field(
            session=s, workspace_id=ws, entity="lead", name="score", type="number"
        )
    _keys(sessions, ws, "email")
    lines, expected, seen = ["email,score"], dict.fromkeys(imports.DECISIONS, 0), set()
    for i in range(total):
        email, bad = f"u{i % 2400}@x.com", i % 701 == 0
        lines.append(f"{email},{'abc' if bad else i}")
        decision = "error" if bad else "skipped" if email in seen else "created"
        seen |= {email} if decision == "created" else set()
        expected[decision] += 1
    iid = _mapped(sessions, ws, "\n".join(lines) + "\n")
    with session_scope(sessions) as s:
        imports.start(session=s, workspace_id=ws, import_id=iid)

    script = tmp_path / "runner.py"
    script.write_text(_RUNNER)
    child = subprocess.Popen([sys.executable, str(script), db_url, iid])
    deadline = time.monotonic() + 60
    try:
        while True:
            with session_scope(sessions) as s:
                done = s.scalar(select(Import.processed_rows).where(Import.id == iid))
            assert child.poll() is None, "the import finished before it could be killed"
            if done >= 300:
                break
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL

    with session_scope(sessions) as s:
        item = imports.get(session=s, workspace_id=ws, import_id=iid)
        done = item.processed_rows
        assert 300 <= done < total and done % 100 == 0  # whole chunks only
        stored = s.scalars(select(ImportRow).where(ImportRow.import_id == iid)).all()
        assert len(stored) == done and item.counts == imports.counted(session=s, import_id=iid)
        created = [r.record_id for r in stored if r.decision == "created"]
        records = set(s.scalars(select(Record.id)))
        assert len(records) == len(created) and records == set(created)
        assert {r.record_id for r in stored if r.decision == "skipped"} <= records
        assert item.status == "running"
        later = utcnow() + imports.STALE_AFTER + timedelta(seconds=1)
        assert imports.status_of(item, now=later) == "interrupted"
    with session_scope(sessions) as s:
        imports.resume(session=s, workspace_id=ws, import_id=iid, now=later)
    assert imports.run(sessions, iid, chunk_rows=500) == "completed"

    with session_scope(sessions) as s:
        item = imports.get(session=s, workspace_id=ws, import_id=iid)
        assert item.counts == expected == imports.counted(session=s, import_id=iid)
        assert item.processed_rows == total
        assert s.scalar(select(func.count()).select_from(ImportRow)) == total
        emails = s.scalars(select(Record.data["email"].as_string())).all()
        assert len(emails) == len(set(emails)) == expected["created"]  # nothing applied twice
