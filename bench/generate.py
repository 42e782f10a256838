"""Command line for the synthetic CRM data generator (``dupeguard.synthetic``).

Usage::

    python bench/generate.py --kind contacts --n 100000 --seed 1 \
        --out bench/data/contacts_100k.parquet

writes the records and ``<stem>.truth.parquet`` (``id, entity_id``) beside them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dupeguard.synthetic import GENERATORS, generate_companies, generate_contacts, write

__all__ = ["generate_companies", "generate_contacts", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Synthetic CRM data with ground truth.")
    parser.add_argument("--kind", choices=sorted(GENERATORS), default="contacts")
    parser.add_argument("--n", type=int, required=True, help="number of output records")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="output .parquet or .csv path")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be positive")
    if Path(args.out).suffix.lower() not in (".csv", ".parquet"):
        parser.error("--out must end in .csv or .parquet")
    t0 = time.perf_counter()
    records, truth = GENERATORS[args.kind](args.n, args.seed)
    t1 = time.perf_counter()
    tpath = write(records, truth, args.out)
    n_ent = truth["entity_id"].n_unique()
    print(
        f"{args.kind}: {records.height:,} records, {n_ent:,} entities, generated in "
        f"{t1 - t0:.1f}s, written in {time.perf_counter() - t1:.1f}s -> {args.out}, {tpath}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
