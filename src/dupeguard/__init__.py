"""dupeguard: find, prevent and merge duplicate CRM records.

The library's public face::

    import dupeguard
    records = dupeguard.read_table("contacts.csv")
    fields = dupeguard.fields_for(records, entity="contact", id_column="id")
    result = dupeguard.scan(records, fields, entity="contact", threshold=0.85)
    result.pairs      # primary_id, duplicate_id, similarity, matched_fields, reason
    result.clusters   # record_id, cluster_id, is_primary
"""

from .core.errors import (
    ConfigError,
    DupeguardError,
    InputError,
    NotFoundError,
    ValidationError,
)
from .core.fields import FieldSpec, FieldType, Kind, match_key_ineligibility
from .engine.io import read_table, write_table
from .engine.scan import ScanResult, scan
from .engine.schema import fields_for

__version__ = "0.1.0"

__all__ = [
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
]
