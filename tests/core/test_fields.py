from __future__ import annotations

import pytest

from dupeguard.core.errors import ConfigError
from dupeguard.core.fields import (
    FieldType,
    Kind,
    infer_type,
    match_key_ineligibility,
    resolve_fields,
)


def test_standard_headers_map_themselves() -> None:
    columns = [
        "id",
        "E-mail",
        "First Name",
        "surname",
        "Zip",
        "Phone Number",
        "Company Name",
        "favourite colour",
    ]
    specs = resolve_fields(
        columns, "contact", id_column="id", infer={"favourite colour": FieldType.SINGLE_SELECT}
    )
    by_column = {s.column: (s.name, s.kind) for s in specs}
    assert by_column["E-mail"] == ("email", Kind.EMAIL)
    assert by_column["First Name"] == ("first_name", Kind.FIRST_NAME)
    assert by_column["surname"] == ("last_name", Kind.LAST_NAME)
    assert by_column["Zip"] == ("zip", Kind.ZIP)
    assert by_column["Phone Number"] == ("phone", Kind.PHONE)
    assert by_column["Company Name"] == ("company", Kind.COMPANY)
    assert by_column["favourite colour"] == ("favourite colour", Kind.CATEGORY)


def test_name_means_different_things_per_entity() -> None:
    contact = resolve_fields(["id", "name"], "contact", id_column="id")
    company = resolve_fields(["id", "name"], "company", id_column="id")
    assert contact[0].kind is Kind.FULL_NAME
    assert company[0].kind is Kind.COMPANY


def test_map_and_field_override() -> None:
    specs = resolve_fields(
        ["id", "given_name", "soc_sec_id", "notes", "skip me"],
        "contact",
        id_column="id",
        maps={"soc_sec_id": "external_id", "skip me": "ignore"},
        types={"notes": "long_text"},
    )
    names = {s.column: (s.name, s.type) for s in specs}
    assert names["given_name"][0] == "first_name"
    assert names["soc_sec_id"][0] == "external_id"
    assert names["notes"] == ("notes", FieldType.LONG_TEXT)
    assert "skip me" not in names


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"types": {"notes": "colour"}}, "unknown field type"),
        ({"maps": {"missing": "email"}}, "not in the input"),
    ],
)
def test_bad_options_are_clear(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_fields(["id", "notes"], "contact", id_column="id", **kwargs)


def test_unknown_entity() -> None:
    with pytest.raises(ConfigError, match="unknown entity"):
        resolve_fields(["id"], "planet", id_column="id")


def test_match_key_eligibility_follows_seed_001() -> None:
    for t in (
        FieldType.TEXT,
        FieldType.LONG_TEXT,
        FieldType.NUMBER,
        FieldType.DATE,
        FieldType.SINGLE_SELECT,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
    ):
        assert match_key_ineligibility(t) is None
    for t in (FieldType.MULTI_SELECT, FieldType.LOCATION, FieldType.BOOLEAN, FieldType.FILE):
        assert match_key_ineligibility(t)
    assert "encrypted" in (match_key_ineligibility(FieldType.EMAIL, encrypted=True) or "")


def test_type_inference() -> None:
    assert infer_type(["a@b.com", "c@d.org"]) is FieldType.EMAIL
    assert infer_type(["2024-01-02", "2023-12-31"]) is FieldType.DATE
    assert infer_type(["12.5", "1,200", "-3"]) is FieldType.NUMBER
    assert infer_type(["(555) 123-4567", "+1 555 765 4321"]) is FieldType.PHONE
    assert infer_type(["https://acme.com", "www.globex.com"]) is FieldType.URL
    assert infer_type(["gold", "silver"] * 10) is FieldType.SINGLE_SELECT
    assert infer_type(["Some words", "other words"]) is FieldType.TEXT
    assert infer_type([None, ""]) is FieldType.TEXT
