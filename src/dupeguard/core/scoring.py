"""The probabilistic scoring model (Fellegi–Sunter), estimated from the data itself.

For each comparison level the model holds ``m`` (how often true duplicates land on that level)
and ``u`` (how often distinct records among the candidates do). A pair's log-odds of being a
duplicate is the prior log-odds plus, per comparison, ``log2(m/u)`` of its level; a missing value
adds nothing. Agreement on a value is further adjusted by its term frequency: sharing a rare
surname counts more than sharing "Smith".

Estimation needs no labels: expectation–maximisation over the candidate pairs' level patterns
(there are few distinct patterns, so EM costs microseconds per iteration whatever the data size),
with weak Dirichlet priors so a tiny file still gets sensible weights. Reviewer feedback can be
added as labelled patterns (:func:`estimate` ``fixed``), which anchor the two classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["Model", "estimate", "pattern_counts", "prior_probabilities"]

_PRIOR_STRENGTH = 20.0  # pseudo-pairs behind the default m/u of every comparison
_MAX_TF_BITS = 8.0  # bound on the term-frequency adjustment of one comparison, in bits


def prior_probabilities(n_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Default m and u for a comparison with ``n_levels`` (level 0 = missing, last = else).

    Stronger levels are likelier for duplicates and rarer for distinct records.
    """
    if n_levels < 3:
        raise ConfigError("a comparison needs missing, at least one agreement level, and else")
    k = n_levels - 2
    agree = np.array([0.6**j for j in range(k)])
    m = np.concatenate([[0.0], 0.95 * agree / agree.sum(), [0.05]])
    u_agree = np.array([0.03 * 1.8**j for j in range(k)])
    u_agree = np.minimum(u_agree, 0.5 / k)
    u = np.concatenate([[0.0], u_agree, [1.0 - u_agree.sum()]])
    return m, u


@dataclass
class Model:
    """Estimated parameters: one *duplicate* class and one or more *distinct* classes.

    Distinct records among candidates are not one homogeneous group: household members share an
    address and a phone but not a first name; namesakes share a name and nothing else. Modelling
    them as separate latent classes (a mixture of independence models) captures that dependence,
    which a single distinct class cannot, and keeps the probability honest.
    """

    names: tuple[str, ...]
    n_levels: tuple[int, ...]
    m: list[np.ndarray]  # duplicate class: per comparison, probability of each level
    u: list[list[np.ndarray]]  # distinct classes: per class, per comparison
    weights_by_class: np.ndarray  # mixing proportions; index 0 is the duplicate class
    tf_ref: dict[str, float] = field(default_factory=dict)  # "comparison:level" -> reference tf
    iterations: int = 0
    converged: bool = False

    def __post_init__(self) -> None:
        self.weights_by_class = np.asarray(self.weights_by_class, dtype=np.float64)
        if len(self.weights_by_class) != len(self.u) + 1:
            raise ConfigError("need one mixing proportion per class (duplicate class first)")
        if not 0.0 < self.prior < 1.0:
            raise ConfigError(f"prior must be in (0, 1), got {self.prior}")
        if len(self.m) != len(self.names) or any(len(u) != len(self.names) for u in self.u):
            raise ConfigError("m and u need one array per comparison")

    @property
    def prior(self) -> float:
        """Probability that a candidate pair is a duplicate."""
        return float(self.weights_by_class[0] / self.weights_by_class.sum())

    def _log_class(self, probs: list[np.ndarray], gammas: np.ndarray) -> np.ndarray:
        out = np.zeros(len(gammas))
        for j, p in enumerate(probs):
            level = gammas[:, j]
            out += np.where(level == 0, 0.0, np.log2(np.maximum(p[level], 1e-300)))
        return out

    def log_odds(self, gammas: np.ndarray) -> np.ndarray:
        """log2 odds of being a duplicate from the levels alone (before term frequency)."""
        pi = self.weights_by_class / self.weights_by_class.sum()
        duplicate = math.log2(pi[0]) + self._log_class(self.m, gammas)
        distinct = np.stack(
            [math.log2(pi[k + 1]) + self._log_class(u, gammas) for k, u in enumerate(self.u)]
        )
        top = distinct.max(axis=0)
        distinct_total = top + np.log2(np.exp2(distinct - top).sum(axis=0))
        return duplicate - distinct_total

    # -- per-comparison weights (explanations and term frequency) ---------------------------

    def distinct_marginal(self) -> list[np.ndarray]:
        """Each comparison's level probabilities over all distinct classes together."""
        pi = self.weights_by_class[1:] / self.weights_by_class[1:].sum()
        return [
            sum(pi[k] * self.u[k][j] for k in range(len(self.u))) for j in range(len(self.names))
        ]

    def level_weights(self) -> list[np.ndarray]:
        """log2(m/u) per level of each comparison (u over all distinct classes); 0 if missing."""
        out = []
        for m, u in zip(self.m, self.distinct_marginal(), strict=True):
            w = np.log2(np.maximum(m, 1e-12)) - np.log2(np.maximum(u, 1e-12))
            w[0] = 0.0
            out.append(w)
        return out

    def weights(self, gammas: np.ndarray) -> np.ndarray:
        """Per pair and comparison, the level's weight in bits (n × k)."""
        table = self.level_weights()
        out = np.empty(gammas.shape, dtype=np.float64)
        for j, w in enumerate(table):
            out[:, j] = w[gammas[:, j]]
        return out

    def tf_adjustment(self, comparison: str, level: int, tf: np.ndarray) -> np.ndarray:
        """Bits to add for pairs agreeing on values of term frequency ``tf`` at that level."""
        ref = self.tf_ref.get(f"{comparison}:{level}")
        if ref is None:
            return np.zeros(len(tf))
        with np.errstate(divide="ignore", invalid="ignore"):
            bits = np.log2(ref) - np.log2(tf)
        bits = np.nan_to_num(bits, nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(bits, -_MAX_TF_BITS, _MAX_TF_BITS)

    @staticmethod
    def probability(log_odds: np.ndarray) -> np.ndarray:
        """Match probability from log2 odds."""
        return 1.0 / (1.0 + np.exp2(-np.clip(log_odds, -60, 60)))

    # -- serialisation (broadcast to workers, stored with a job) ----------------------------

    def to_dict(self) -> dict[str, object]:
        return {
            "names": list(self.names),
            "n_levels": list(self.n_levels),
            "m": [a.tolist() for a in self.m],
            "u": [[a.tolist() for a in cls] for cls in self.u],
            "weights_by_class": self.weights_by_class.tolist(),
            "tf_ref": dict(self.tf_ref),
            "iterations": self.iterations,
            "converged": self.converged,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        return cls(
            names=tuple(data["names"]),
            n_levels=tuple(int(n) for n in data["n_levels"]),
            m=[np.asarray(a, dtype=np.float64) for a in data["m"]],
            u=[[np.asarray(a, dtype=np.float64) for a in c] for c in data["u"]],
            weights_by_class=np.asarray(data["weights_by_class"], dtype=np.float64),
            tf_ref={str(k): float(v) for k, v in data.get("tf_ref", {}).items()},
            iterations=int(data.get("iterations", 0)),
            converged=bool(data.get("converged", False)),
        )


def pattern_counts(
    gammas: np.ndarray, n_levels: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct level patterns, how many pairs have each, and each pair's pattern index.

    The patterns and counts are EM's sufficient statistics: a distributed engine aggregates
    them (a group-by on the levels) instead of collecting pairs.
    """
    key = np.zeros(len(gammas), dtype=np.int64)
    for j, n in enumerate(n_levels):
        key = key * n + gammas[:, j].astype(np.int64)
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    pats = np.empty((len(uniq), len(n_levels)), dtype=np.int64)
    rest = uniq.copy()
    for j in range(len(n_levels) - 1, -1, -1):
        rest, pats[:, j] = np.divmod(rest, n_levels[j])
    return pats, counts.astype(np.float64), inverse.reshape(-1)


def estimate(
    names: Sequence[str],
    n_levels: Sequence[int],
    patterns: np.ndarray,
    counts: np.ndarray,
    *,
    identity: int = 0,
    distinct_classes: int = 3,
    fixed: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 1e-7,
) -> tuple[Model, np.ndarray]:
    """Estimate the mixture by EM over level patterns and their counts.

    The classes start from a deterministic split of the patterns: *duplicate* where the identity
    comparison (a person's name, a company's name) agrees and something else agrees too;
    *distinct* classes where only the identity agrees (namesakes), where everything but the
    identity agrees (households, colleagues), and the rest. ``fixed`` (one per pattern:
    1 duplicate, 0 distinct, -1 unknown) pins reviewed pairs. Returns the model and each
    pattern's posterior duplicate probability (before term-frequency adjustment).
    """
    if patterns.ndim != 2 or patterns.shape[1] != len(n_levels) or len(names) != len(n_levels):
        raise ConfigError("patterns must be (patterns × comparisons) and match the comparisons")
    if len(counts) != len(patterns):
        raise ConfigError("counts must give one count per pattern")
    if not 0 <= identity < len(n_levels):
        raise ConfigError("identity must index a comparison")
    k_distinct = max(1, distinct_classes)
    class_priors = _class_priors(n_levels, identity, k_distinct)
    pats = patterns.astype(np.int64)
    fixed = np.full(len(pats), -1) if fixed is None else np.asarray(fixed)
    total = float(counts.sum())
    m = [a.copy() for a in class_priors[0]]
    u = [[a.copy() for a in cls] for cls in class_priors[1:]]
    pi = np.full(k_distinct + 1, 1.0 / (k_distinct + 1))
    resp = _responsibilities(pats, m, u, pi)
    iterations, converged = 0, False
    for iterations in range(1, max_iter + 1):  # noqa: B007
        resp = np.where(fixed[:, None] == 1, np.eye(k_distinct + 1)[0], resp)
        if (fixed == 0).any():
            distinct_only = resp.copy()
            distinct_only[:, 0] = 0.0
            distinct_only /= np.maximum(distinct_only.sum(axis=1, keepdims=True), 1e-300)
            resp = np.where(fixed[:, None] == 0, distinct_only, resp)
        weighted = resp * counts[:, None]
        new_pi = (weighted.sum(axis=0) + 1.0) / (total + k_distinct + 1)
        new_m = _m_step(pats, weighted[:, 0], n_levels, class_priors[0])
        new_u = [
            _m_step(pats, weighted[:, k + 1], n_levels, class_priors[k + 1])
            for k in range(k_distinct)
        ]
        delta = max(
            float(np.abs(new_pi - pi).max()),
            *(float(np.abs(a - b).max()) for a, b in zip(new_m, m, strict=True)),
            *(
                float(np.abs(a - b).max())
                for cls_new, cls_old in zip(new_u, u, strict=True)
                for a, b in zip(cls_new, cls_old, strict=True)
            ),
        )
        m, u, pi = new_m, new_u, new_pi
        resp = _responsibilities(pats, m, u, pi)
        if delta < tol:
            converged = True
            break
    model = Model(tuple(names), tuple(n_levels), m, u, pi, {}, iterations, converged)
    posterior = np.where(fixed >= 0, fixed, resp[:, 0]) if len(pats) else np.zeros(0)
    return model, posterior


def _m_step(
    pats: np.ndarray, weight: np.ndarray, n_levels: Sequence[int], prior: list[np.ndarray]
) -> list[np.ndarray]:
    out = []
    for j, n in enumerate(n_levels):
        counts = np.bincount(pats[:, j], weights=weight, minlength=n).astype(np.float64)
        counts[0] = 0.0
        smoothed = counts + _PRIOR_STRENGTH * prior[j]
        out.append(smoothed / smoothed.sum())
    return out


def _responsibilities(
    pats: np.ndarray, m: list[np.ndarray], u: list[list[np.ndarray]], pi: np.ndarray
) -> np.ndarray:
    logs = np.zeros((len(pats), len(u) + 1))
    for c, probs in enumerate([m, *u]):
        logs[:, c] = math.log(pi[c])
        for j, p in enumerate(probs):
            level = pats[:, j]
            logs[:, c] += np.where(level == 0, 0.0, np.log(np.maximum(p[level], 1e-300)))
    logs -= logs.max(axis=1, keepdims=True)
    resp = np.exp(logs)
    return resp / resp.sum(axis=1, keepdims=True)


def _class_priors(
    n_levels: Sequence[int], identity: int, k_distinct: int
) -> list[list[np.ndarray]]:
    """Prior level probabilities of every class (duplicates first), per comparison.

    They start EM and act as Dirichlet priors (worth ``_PRIOR_STRENGTH`` pairs), so a tiny file
    still gets sensible answers. Duplicates agree on the identity comparison (not just on its
    weakest level, such as "same last name only") and mostly agree elsewhere. Namesakes agree on
    the identity only; households and colleagues agree on everything but the identity; the
    rest agree on little.
    """
    agree = [_profile(n, agree=True) for n in n_levels]
    disagree = [_profile(n, agree=False) for n in n_levels]
    identity_dup = _identity_profile(n_levels[identity], strong=True)
    identity_weak = _identity_profile(n_levels[identity], strong=False)

    def with_identity(base: list[np.ndarray], ident: np.ndarray) -> list[np.ndarray]:
        out = [a.copy() for a in base]
        out[identity] = ident
        return out

    duplicate = with_identity(agree, identity_dup)
    namesakes = with_identity(disagree, agree[identity])
    households = with_identity(agree, identity_weak)
    rest = with_identity(disagree, disagree[identity])
    distinct = [namesakes, households, rest] if k_distinct >= 3 else [rest]
    while len(distinct) < k_distinct:
        distinct.append(rest)
    return [duplicate, *distinct[:k_distinct]]


def _profile(n_levels: int, *, agree: bool) -> np.ndarray:
    m, u = prior_probabilities(n_levels)
    return m if agree else u


def _identity_profile(n_levels: int, *, strong: bool) -> np.ndarray:
    """The identity comparison: strong agreement, or only its weakest agreement level / else."""
    k = n_levels - 2
    out = np.zeros(n_levels)
    if k == 1:
        out[1:] = [0.95, 0.05] if strong else [0.1, 0.9]
        return out
    decay = np.array([0.6**j for j in range(k - 1)])
    if strong:
        out[1:k] = 0.95 * decay / decay.sum()
        out[k], out[k + 1] = 0.03, 0.02
    else:
        out[1:k] = 0.05 * decay / decay.sum()
        out[k], out[k + 1] = 0.5, 0.45
    return out
