"""Is the similarity a calibrated probability? Reliability of `dupeguard.scan` on labelled data.

Scans a generated dataset with threshold 0 (every candidate pair scored), bins the pairs by
similarity and prints, per bin, how many pairs fall in it and which share of them are true
duplicates. A calibrated score has that share close to the bin's mean similarity.

Usage::

    python bench/calibration.py bench/data/contacts_100000_s1.parquet [--entity contact]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import polars as pl

import dupeguard

EDGES = (0.0, 0.1, 0.3, 0.5, 0.7, 0.85, 0.9, 0.95, 0.99, 0.999, 1.0001)


def reliability(records_path: Path, entity: str) -> pl.DataFrame:
    records = dupeguard.read_table(records_path)
    truth = pl.read_parquet(records_path.with_name(records_path.stem + ".truth.parquet"))
    fields = dupeguard.fields_for(records, entity=entity, id_column="id")
    pairs = dupeguard.scan(records, fields, entity=entity, threshold=0.0).pairs
    entity_of = truth.select(pl.col("id").cast(pl.String), "entity_id")
    labelled = (
        pairs.join(entity_of.rename({"id": "primary_id", "entity_id": "a"}), on="primary_id")
        .join(entity_of.rename({"id": "duplicate_id", "entity_id": "b"}), on="duplicate_id")
        .with_columns(same=pl.col("a") == pl.col("b"))
    )
    index = np.digitize(labelled["similarity"].to_numpy(), EDGES[1:-1])
    labels = [f"[{lo:g}, {hi:g})" for lo, hi in itertools.pairwise(EDGES)]
    return (
        labelled.with_columns(bin=pl.Series([labels[i] for i in index]), index=pl.Series(index))
        .group_by("index", "bin")
        .agg(
            pairs=pl.len(),
            mean_similarity=pl.col("similarity").mean(),
            share_duplicates=pl.col("same").mean(),
        )
        .sort("index")
        .with_columns(pl.col("mean_similarity", "share_duplicates").round(4))
        .select("bin", "pairs", "mean_similarity", "share_duplicates")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("--entity", default="contact")
    args = parser.parse_args(argv)
    table = reliability(args.records, args.entity)
    print("| similarity bin | pairs | mean similarity | share true duplicates |")
    print("|---|---:|---:|---:|")
    for row in table.iter_rows(named=True):
        print(f"| {row['bin']} | {row['pairs']:,} | {row['mean_similarity']:.4f} | "
              f"{row['share_duplicates']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
