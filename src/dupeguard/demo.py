"""`make run`: a demo scan of synthetic CRM contacts, printed as a short report.

The service (REST API and web UI) is not built yet; until it is, `make run` shows what the
matching core does on data with the messes real CRMs have.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import polars as pl

from .engine.io import write_table
from .engine.scan import scan
from .engine.schema import fields_for
from .synthetic import generate_contacts

DEMO_DIR = Path("demo")
RECORDS = 5_000


def main() -> int:
    DEMO_DIR.mkdir(exist_ok=True)
    source = DEMO_DIR / "contacts.csv"
    if not source.exists():
        records, _ = generate_contacts(RECORDS, seed=7)
        records.write_csv(source)
    records = pl.read_csv(source, infer_schema=False)
    started = time.perf_counter()
    result = scan(records, fields_for(records, entity="contact", id_column="id"))
    seconds = time.perf_counter() - started
    write_table(result.pairs, DEMO_DIR / "pairs.csv", "csv")
    write_table(result.clusters, DEMO_DIR / "clusters.csv", "csv")
    sets = result.clusters["cluster_id"].n_unique() if result.clusters.height else 0
    print(f"dupeguard demo: scanned {result.records:,} synthetic contacts in {seconds:.1f} s")
    print(f"  {result.matched_pairs:,} duplicate pairs in {sets:,} duplicate record sets\n")
    by_id = {row["id"]: row for row in records.iter_rows(named=True)}
    shown = result.pairs.filter(pl.col("similarity") < 0.999).head(3)
    for pair in (shown if shown.height else result.pairs.head(3)).iter_rows(named=True):
        print(f"  {pair['similarity']:.3f}  {pair['reason']}")
        for rid in (pair["primary_id"], pair["duplicate_id"]):
            row = by_id[rid]
            fields = ", ".join(
                str(row[c])
                for c in ("first_name", "last_name", "email", "phone", "company")
                if row.get(c)
            )
            print(f"         {rid}: {fields}")
        print()
    print(f"Input:    {source}")
    print(f"Pairs:    {DEMO_DIR / 'pairs.csv'}")
    print(f"Clusters: {DEMO_DIR / 'clusters.csv'}")
    print(
        "Try it on your own file: .venv/bin/dupeguard scan YOUR.csv --out pairs.csv "
        "--clusters clusters.csv"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
