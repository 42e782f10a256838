"""Synthetic CRM data with ground truth: the demo workspace and the benchmarks use it.

Contacts and companies with the messes real CRMs have (nicknames, typos, re-formatted phones,
e-mail variants, legal-suffix changes, missing fields, swapped names) and hard negatives
(namesakes, households, colleagues, same-named companies in other cities).
"""

from .generate import GENERATORS, generate_companies, generate_contacts, truth_path, write

__all__ = ["GENERATORS", "generate_companies", "generate_contacts", "truth_path", "write"]
