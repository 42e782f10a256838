"""The public API is what `dupeguard.__all__` says, and every name in it exists."""

import dupeguard


def test_public_names() -> None:
    for name in dupeguard.__all__:
        assert hasattr(dupeguard, name), name
    assert set(dupeguard.__all__) == {
        "ConfigError",
        "DupeguardError",
        "FieldSpec",
        "FieldType",
        "InputError",
        "Kind",
        "NotFoundError",
        "ScanResult",
        "ValidationError",
        "__version__",
        "fields_for",
        "match_key_ineligibility",
        "read_table",
        "scan",
        "write_table",
    }


def test_library_scan_round_trip(tmp_path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "id,name,email\n1,Ann Lee,ann@x.com\n2,Anne Lee,ANN@x.com\n3,Bo Chan,bo@y.com\n"
    )
    records = dupeguard.read_table(path)
    result = dupeguard.scan(
        records, dupeguard.fields_for(records, entity="contact", id_column="id")
    )
    assert result.records == 3
    assert {"primary_id", "duplicate_id", "similarity", "matched_fields", "reason"} == set(
        result.pairs.columns
    )
