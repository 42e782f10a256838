"""The Fellegi–Sunter model: EM recovers known parameters; weights and probabilities behave."""

from __future__ import annotations

import numpy as np
import pytest

from dupeguard.core.errors import ConfigError
from dupeguard.core.scoring import Model, estimate, pattern_counts, prior_probabilities


def simulate(n: int, lam: float, m: list[list[float]], u: list[list[float]], seed: int = 0):
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < lam
    gammas = np.zeros((n, len(m)), dtype=np.int8)
    for j, (mj, uj) in enumerate(zip(m, u, strict=True)):
        levels = np.arange(len(mj))
        gammas[is_match, j] = rng.choice(levels, size=is_match.sum(), p=mj)
        gammas[~is_match, j] = rng.choice(levels, size=(~is_match).sum(), p=uj)
    return gammas, is_match


def test_em_recovers_parameters_without_labels() -> None:
    m = [[0.05, 0.8, 0.1, 0.05], [0.1, 0.85, 0.05], [0.0, 0.7, 0.2, 0.1]]
    u = [[0.05, 0.01, 0.04, 0.9], [0.1, 0.02, 0.88], [0.0, 0.05, 0.15, 0.8]]
    gammas, truth = simulate(200_000, 0.2, m, u)
    pats, counts, inverse = pattern_counts(gammas, [4, 3, 4])
    model, posterior = estimate(["a", "b", "c"], [4, 3, 4], pats, counts, distinct_classes=1)
    assert model.converged
    assert model.prior == pytest.approx(0.2, abs=0.01)
    # level 0 is "missing" and excluded from m/u, so compare the renormalised agreement levels
    for j, (mj, uj) in enumerate(zip(m, u, strict=True)):
        expect_m = np.array(mj[1:]) / sum(mj[1:])
        expect_u = np.array(uj[1:]) / sum(uj[1:])
        assert model.m[j][1:] == pytest.approx(expect_m, abs=0.02)
        assert model.u[0][j][1:] == pytest.approx(expect_u, abs=0.02)
    predicted = posterior[inverse] > 0.5
    assert (predicted == truth).mean() > 0.95


def test_distinct_classes_capture_households_and_namesakes() -> None:
    """Two kinds of look-alikes that a single distinct class cannot describe together."""
    # comparisons: name (4 levels: missing, exact, last-only, else), email (3), address (3)
    duplicates = [[0, 0.8, 0.15, 0.05], [0.2, 0.7, 0.1], [0.2, 0.7, 0.1]]
    households = [[0, 0.01, 0.9, 0.09], [0.2, 0.01, 0.79], [0.1, 0.89, 0.01]]
    namesakes = [[0, 0.95, 0.01, 0.04], [0.2, 0.01, 0.79], [0.1, 0.01, 0.89]]
    rng = np.random.default_rng(1)
    parts, truth = [], []
    for probs, n, label in (
        (duplicates, 30_000, 1),
        (households, 30_000, 0),
        (namesakes, 30_000, 0),
    ):
        block = np.column_stack([rng.choice(len(p), size=n, p=p) for p in probs])
        parts.append(block)
        truth += [label] * n
    gammas = np.vstack(parts).astype(np.int8)
    pats, counts, inverse = pattern_counts(gammas, [4, 3, 3])
    _, post_one = estimate(
        ["name", "email", "address"], [4, 3, 3], pats, counts, distinct_classes=1
    )
    # random record pairs almost never agree; the e-mail address is personal (never shared)
    random = [
        np.array([0, 0.001, 0.01, 0.989]),
        np.array([0, 0.0001, 0.9999]),
        np.array([0, 0.001, 0.999]),
    ]
    mix, post_mix = estimate(
        ["name", "email", "address"],
        [4, 3, 3],
        pats,
        counts,
        random_levels=random,
        personal=[False, True, False],
    )
    truth_arr = np.array(truth)
    accuracy_one = ((post_one[inverse] > 0.5) == truth_arr).mean()
    accuracy_mix = ((post_mix[inverse] > 0.5) == truth_arr).mean()
    assert accuracy_mix > 0.92  # the Bayes-optimal accuracy of this set-up is 0.9475
    assert accuracy_mix >= accuracy_one

    def log_loss(post: np.ndarray) -> float:
        p = np.clip(post[inverse], 1e-9, 1 - 1e-9)
        return float(-(truth_arr * np.log(p) + (1 - truth_arr) * np.log(1 - p)).mean())

    # the mixture's probabilities are the better calibrated ones
    assert log_loss(post_mix) < log_loss(post_one)
    assert mix.prior == pytest.approx(1 / 3, abs=0.05)


def test_missing_adds_no_evidence() -> None:
    model = Model(
        ("a",),
        (4,),
        [np.array([0, 0.7, 0.2, 0.1])],
        [[np.array([0, 0.01, 0.09, 0.9])]],
        weights_by_class=np.array([0.1, 0.9]),
    )
    gammas = np.array([[0], [1], [3]], dtype=np.int8)
    weights = model.weights(gammas)
    assert weights[0, 0] == 0
    assert weights[1, 0] > 0 > weights[2, 0]
    p = model.probability(model.log_odds(gammas))
    assert p[0] == pytest.approx(0.1)
    assert p[1] > p[0] > p[2]
    # with one distinct class the log-odds are exactly the prior plus the weights
    assert model.log_odds(gammas) == pytest.approx(np.log2(0.1 / 0.9) + weights[:, 0])


def test_term_frequency_rewards_rare_values_and_is_bounded() -> None:
    model = Model(
        ("a",),
        (3,),
        [np.array([0, 0.9, 0.1])],
        [[np.array([0, 0.1, 0.9])]],
        weights_by_class=np.array([0.1, 0.9]),
        tf_ref={"a:1": 0.001},
    )
    adj = model.tf_adjustment("a", 1, np.array([0.001, 0.01, 0.00001, 1e-12]))
    assert adj[0] == pytest.approx(0.0)
    assert adj[1] < 0 < adj[2]
    assert adj[3] == pytest.approx(2.0)  # clipped: rarity moves a weight by at most 2 bits
    assert model.tf_adjustment("a", 2, np.array([0.5])).tolist() == [0.0]


def test_model_round_trips_through_a_dict() -> None:
    m, u = prior_probabilities(5)
    model = Model(
        ("x",),
        (5,),
        [m],
        [[u], [u]],
        weights_by_class=np.array([0.3, 0.4, 0.3]),
        tf_ref={"x:1": 0.01},
        iterations=3,
    )
    again = Model.from_dict(model.to_dict())
    assert again.to_dict() == model.to_dict()


def test_tiny_inputs_fall_back_on_priors() -> None:
    gammas = np.array([[1, 1], [2, 2]], dtype=np.int8)
    pats, counts, _ = pattern_counts(gammas, [4, 4])
    model, _ = estimate(["a", "b"], [4, 4], pats, counts)
    w = model.level_weights()
    assert w[0][1] > w[0][2] > w[0][3]  # strongest level weighs most


def test_invalid_models_are_refused() -> None:
    with pytest.raises(ConfigError):
        Model(("a",), (3,), [np.ones(3)], [[np.ones(3)]], weights_by_class=np.array([1.0]))
    with pytest.raises(ConfigError):
        prior_probabilities(2)
    with pytest.raises(ConfigError):
        estimate(["a"], [3, 3], np.zeros((1, 2)), np.ones(1))
