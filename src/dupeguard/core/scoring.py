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
_MAX_TF_BITS = 2.0  # rarity moves a comparison by at most a factor of 4 (see bench calibration)


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
    random_levels: Sequence[np.ndarray] | None = None,
    personal: Sequence[bool] | None = None,
    distinct_classes: int = 4,
    fixed: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 1e-7,
) -> tuple[Model, np.ndarray]:
    """Estimate the mixture by EM over level patterns and their counts.

    Classes: *duplicates* (free), and distinct records of three kinds, each anchored to the
    level distribution of random record pairs (``random_levels``, per comparison) where it
    must look random, so that no distinct class can absorb true duplicates:

    - namesakes: the identity comparison (a person's or company's name) is free, ``personal``
      comparisons (what one person does not share: an e-mail address, a date of birth, an
      identifier) look random, the rest is free (namesakes may live in one town);
    - households and colleagues, and neighbours: the identity does not agree strongly (its
      strong levels are as rare as between random records) and nor do personal comparisons;
      what people share (address, phone, company) is free — two classes, one
      starting from "the shared fields agree", one from "little agrees" (the same postal code);
    - the rest: everything looks random.

    ``fixed`` (one per pattern: 1 duplicate, 0 distinct, -1 unknown) pins reviewed pairs.
    Returns the model and each pattern's posterior duplicate probability (before
    term-frequency adjustment).
    """
    if patterns.ndim != 2 or patterns.shape[1] != len(n_levels) or len(names) != len(n_levels):
        raise ConfigError("patterns must be (patterns × comparisons) and match the comparisons")
    if len(counts) != len(patterns):
        raise ConfigError("counts must give one count per pattern")
    if not 0 <= identity < len(n_levels):
        raise ConfigError("identity must index a comparison")
    if random_levels is not None and len(random_levels) != len(n_levels):
        raise ConfigError("random_levels needs one array per comparison")
    personal = list(personal) if personal is not None else [False] * len(n_levels)
    if len(personal) != len(n_levels):
        raise ConfigError("personal needs one flag per comparison")
    classes = _classes(n_levels, identity, random_levels, personal, max(1, distinct_classes))
    pats = patterns.astype(np.int64)
    fixed = np.full(len(pats), -1) if fixed is None else np.asarray(fixed)
    total = float(counts.sum())
    params = [[a.copy() for a in c.start] for c in classes]
    pi = np.full(len(classes), 1.0 / len(classes))
    resp = _responsibilities(pats, params, pi)
    iterations, converged = 0, False
    for iterations in range(1, max_iter + 1):  # noqa: B007
        resp = _pin(resp, fixed)
        weighted = resp * counts[:, None]
        new_pi = (weighted.sum(axis=0) + 1.0) / (total + len(classes))
        new_params = [_m_step(pats, weighted[:, c], n_levels, cls) for c, cls in enumerate(classes)]
        delta = max(
            float(np.abs(new_pi - pi).max()),
            *(
                float(np.abs(a - b).max())
                for new, old in zip(new_params, params, strict=True)
                for a, b in zip(new, old, strict=True)
            ),
        )
        params, pi = new_params, new_pi
        resp = _responsibilities(pats, params, pi)
        if delta < tol:
            converged = True
            break
    model = Model(
        tuple(names), tuple(n_levels), params[0], params[1:], pi, {}, iterations, converged
    )
    posterior = _pin(resp, fixed)[:, 0] if len(pats) else np.zeros(0)
    return model, posterior


@dataclass
class _Class:
    """A latent class: its starting level probabilities (also its Dirichlet prior) and which
    comparisons it keeps fixed at those starting values."""

    start: list[np.ndarray]
    frozen: list[bool]
    # per comparison, levels whose probability stays at its start value while the others
    # share the rest according to the data (the identity's strong levels for look-alikes)
    pinned: dict[int, np.ndarray] = field(default_factory=dict)


def _classes(
    n_levels: Sequence[int],
    identity: int,
    random_levels: Sequence[np.ndarray] | None,
    personal: Sequence[bool],
    k_distinct: int,
) -> list[_Class]:
    k = len(n_levels)
    agree = [prior_probabilities(n)[0] for n in n_levels]
    randomish = (
        [_smooth(r) for r in random_levels]
        if random_levels is not None
        else [prior_probabilities(n)[1] for n in n_levels]
    )
    frozen = [True] * k

    def mixed(
        identity_value: np.ndarray, identity_frozen: bool, rest: list[np.ndarray], rest_frozen: bool
    ) -> _Class:
        start = [a.copy() for a in rest]
        start[identity] = identity_value
        flags = [rest_frozen] * k
        flags[identity] = identity_frozen
        return _Class(start, flags)

    duplicate = mixed(_identity_profile(n_levels[identity], strong=True), False, agree, False)
    rest = _Class([a.copy() for a in randomish], list(frozen))
    if k_distinct < 4:  # the classic two-class model: one free distinct class
        return [
            duplicate,
            *(_Class([a.copy() for a in randomish], [False] * k) for _ in range(k_distinct)),
        ]
    namesakes = mixed(agree[identity], False, randomish, False)
    weak = _weak_identity(randomish[identity])
    households = mixed(weak, True, agree, False)
    neighbours = mixed(weak, True, randomish, False)
    strong = np.zeros(n_levels[identity], dtype=bool)
    strong[1 : max(n_levels[identity] - 2, 2)] = True
    for cls in (households, neighbours):
        cls.frozen[identity] = False
        cls.pinned[identity] = strong
    for cls in (namesakes, households, neighbours):
        for j, is_personal in enumerate(personal):
            if is_personal and j != identity:
                cls.start[j], cls.frozen[j] = randomish[j].copy(), True
    return [duplicate, namesakes, households, neighbours, rest][: k_distinct + 1]


def _smooth(levels: np.ndarray) -> np.ndarray:
    out = np.asarray(levels, dtype=np.float64).copy()
    out[0] = 0.0
    out[1:] += 1e-4
    return out / out.sum()


def _weak_identity(random_identity: np.ndarray) -> np.ndarray:
    """The identity of two different people at one address: strong agreement no likelier than
    between random records; the weakest agreement level (e.g. same surname only) common."""
    out = random_identity.copy()
    n = len(out)
    if n > 3:
        out[n - 2] = max(out[n - 2], 0.5)
    return out / out.sum()


def _pin(resp: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    if not (fixed >= 0).any():
        return resp
    out = resp.copy()
    out[fixed == 1] = np.eye(resp.shape[1])[0]
    distinct = out[fixed == 0]
    distinct[:, 0] = 0.0
    distinct /= np.maximum(distinct.sum(axis=1, keepdims=True), 1e-300)
    out[fixed == 0] = distinct
    return out


def _m_step(
    pats: np.ndarray, weight: np.ndarray, n_levels: Sequence[int], cls: _Class
) -> list[np.ndarray]:
    out = []
    for j, n in enumerate(n_levels):
        if cls.frozen[j]:
            out.append(cls.start[j])
            continue
        counts = np.bincount(pats[:, j], weights=weight, minlength=n).astype(np.float64)
        counts[0] = 0.0
        smoothed = counts + _PRIOR_STRENGTH * cls.start[j]
        probs = smoothed / smoothed.sum()
        pinned = cls.pinned.get(j)
        if pinned is not None:
            free = ~pinned
            free[0] = False
            rest = 1.0 - cls.start[j][pinned].sum()
            probs = np.where(pinned, cls.start[j], 0.0)
            probs[free] = rest * smoothed[free] / max(smoothed[free].sum(), 1e-300)
        out.append(probs)
    return out


def _responsibilities(
    pats: np.ndarray, params: list[list[np.ndarray]], pi: np.ndarray
) -> np.ndarray:
    logs = np.zeros((len(pats), len(params)))
    for c, probs in enumerate(params):
        logs[:, c] = math.log(pi[c])
        for j, p in enumerate(probs):
            level = pats[:, j]
            logs[:, c] += np.where(level == 0, 0.0, np.log(np.maximum(p[level], 1e-300)))
    logs -= logs.max(axis=1, keepdims=True)
    resp = np.exp(logs)
    return resp / resp.sum(axis=1, keepdims=True)


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
