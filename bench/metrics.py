"""Pairwise precision / recall / F1 of predicted duplicates against generated ground truth.

* ``pairwise_scores(pred_pairs, truth)``: predicted pairs (``id_l, id_r`` or
  ``primary_id, duplicate_id``) against ``truth`` (``id, entity_id``). True pairs are all
  unordered pairs of records sharing an ``entity_id``. Predicted pairs are order-insensitive
  and de-duplicated; self-pairs are ignored; ids missing from ``truth`` count as false
  positives.
* ``cluster_pairs(clusters)``: the pairs implied by clusters (``record_id, cluster_id``),
  to score clusters with ``pairwise_scores``. Clusters above ``max_cluster_size`` are
  skipped with a warning (a 10k-record cluster alone implies 50M pairs).
* ``cluster_scores(clusters, truth)``: the same numbers as
  ``pairwise_scores(cluster_pairs(clusters), truth)`` but computed from counts, so giant
  clusters cost nothing and are never skipped.
"""

from __future__ import annotations

import warnings

import polars as pl

_PAIR_COLUMN_SETS = (("id_l", "id_r"), ("primary_id", "duplicate_id"))


def _pair_columns(pred_pairs: pl.DataFrame) -> tuple[str, str]:
    for left, right in _PAIR_COLUMN_SETS:
        if left in pred_pairs.columns and right in pred_pairs.columns:
            return left, right
    raise ValueError(
        f"pred_pairs needs columns id_l,id_r or primary_id,duplicate_id; got {pred_pairs.columns}")


def _check_truth(truth: pl.DataFrame) -> pl.DataFrame:
    missing = {"id", "entity_id"} - set(truth.columns)
    if missing:
        raise ValueError(f"truth is missing columns {sorted(missing)}")
    return truth.select(pl.col("id").cast(pl.String), pl.col("entity_id"))


def _scores(tp: int, n_pred: int, true_pairs: int) -> dict[str, float | int]:
    fp, fn = n_pred - tp, true_pairs - tp
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "true_pairs": true_pairs}


def count_true_pairs(truth: pl.DataFrame) -> int:
    """Number of unordered record pairs that share an entity: sum of n*(n-1)/2."""
    sizes = _check_truth(truth).group_by("entity_id").len()["len"].cast(pl.Int64)
    return int((sizes * (sizes - 1) // 2).sum())


def normalise_pairs(pred_pairs: pl.DataFrame) -> pl.DataFrame:
    """Unique unordered pairs as ``id_l < id_r`` (strings); self-pairs dropped."""
    left, right = _pair_columns(pred_pairs)
    a, b = pl.col(left).cast(pl.String), pl.col(right).cast(pl.String)
    return (pred_pairs.lazy()
            .select(pl.min_horizontal(a, b).alias("id_l"), pl.max_horizontal(a, b).alias("id_r"))
            .filter(pl.col("id_l") != pl.col("id_r"))
            .unique()
            .collect())


def pairwise_scores(pred_pairs: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float | int]:
    """Precision, recall, F1, tp, fp, fn and true_pairs of ``pred_pairs`` against truth."""
    truth = _check_truth(truth)
    pairs = normalise_pairs(pred_pairs)
    ent = truth.lazy()
    tp = (pairs.lazy()
          .join(ent.rename({"id": "id_l", "entity_id": "e_l"}), on="id_l", how="inner")
          .join(ent.rename({"id": "id_r", "entity_id": "e_r"}), on="id_r", how="inner")
          .filter(pl.col("e_l") == pl.col("e_r"))
          .select(pl.len())
          .collect()
          .item())
    return _scores(int(tp), pairs.height, count_true_pairs(truth))


def _cluster_sizes(clusters: pl.DataFrame) -> pl.DataFrame:
    missing = {"record_id", "cluster_id"} - set(clusters.columns)
    if missing:
        raise ValueError(f"clusters is missing columns {sorted(missing)}")
    return (clusters.select(pl.col("record_id").cast(pl.String), "cluster_id").unique()
            .group_by("cluster_id").len())


def cluster_pairs(clusters: pl.DataFrame, max_cluster_size: int = 1000) -> pl.DataFrame:
    """All record pairs (``id_l < id_r``) implied by ``record_id, cluster_id``.

    Clusters larger than ``max_cluster_size`` are skipped with a ``RuntimeWarning`` naming
    them; use ``cluster_scores`` to score clusters of any size exactly.
    """
    sizes = _cluster_sizes(clusters)
    too_big = sizes.filter(pl.col("len") > max_cluster_size)
    if too_big.height:
        largest = too_big.select(pl.col("len").max()).item()
        warnings.warn(
            f"{too_big.height} cluster(s) exceed {max_cluster_size} members (largest "
            f"{largest:,}); their pairs are skipped",
            RuntimeWarning, stacklevel=2)
    keep = sizes.filter((pl.col("len") > 1) & (pl.col("len") <= max_cluster_size))
    members = (clusters.lazy()
               .select(pl.col("record_id").cast(pl.String), "cluster_id").unique()
               .join(keep.lazy().select("cluster_id"), on="cluster_id", how="semi"))
    return (members.join(members, on="cluster_id", suffix="_r")
            .filter(pl.col("record_id") < pl.col("record_id_r"))
            .select(pl.col("record_id").alias("id_l"), pl.col("record_id_r").alias("id_r"))
            .collect())


def cluster_scores(clusters: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float | int]:
    """Pairwise scores of clusters, computed from counts (no pair materialisation)."""
    truth = _check_truth(truth)
    members = clusters.select(pl.col("record_id").cast(pl.String).alias("id"),
                              "cluster_id").unique()
    sizes = _cluster_sizes(clusters)["len"].cast(pl.Int64)
    n_pred = int((sizes * (sizes - 1) // 2).sum())
    overlap = (members.join(truth, on="id", how="inner")
               .group_by("cluster_id", "entity_id").len()["len"].cast(pl.Int64))
    tp = int((overlap * (overlap - 1) // 2).sum())
    return _scores(tp, n_pred, count_true_pairs(truth))


def format_scores(scores: dict[str, float | int]) -> str:
    """One line: ``P=0.981 R=0.902 F1=0.940 (tp=…, fp=…, fn=…)``."""
    return (f"P={scores['precision']:.4f} R={scores['recall']:.4f} F1={scores['f1']:.4f} "
            f"(tp={scores['tp']:,} fp={scores['fp']:,} fn={scores['fn']:,} "
            f"true_pairs={scores['true_pairs']:,})")
