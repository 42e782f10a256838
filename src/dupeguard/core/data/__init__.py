"""Packaged reference data for the normalisers (read with importlib.resources)."""
