"""dupeguard: find, prevent and merge duplicate CRM records."""

__version__ = "0.1.0"
