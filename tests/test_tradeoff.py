"""Accuracy surfaces: known parameters are recovered, and hold-out errors tell the forms apart."""

import numpy as np
import pytest

from labtriage.tradeoff import fit_effective_size, fit_linear, holdout_errors


def grid(a=0.95, b=2.0, c=0.5, gamma=2.5, noise_sd=0.0, k=2, seed=0):
    """Cells of sizes x noise whose accuracy follows the effective-size curve exactly."""
    n, eta = np.meshgrid([2_000, 4_000, 8_000, 16_000], [0.05, 0.15, 0.25, 0.35])
    n, eta = n.ravel().astype(float), eta.ravel()
    signal = 1 - eta * k / (k - 1)
    acc = a - b * (n * signal**gamma) ** -c
    return n, eta, acc + np.random.default_rng(seed).normal(0, noise_sd, len(n))


def test_effective_size_recovers_its_parameters():
    n, eta, acc = grid()
    fit = fit_effective_size(n, eta, acc)
    assert fit.params["gamma"] == pytest.approx(2.5, abs=0.05)
    assert fit.params["c"] == pytest.approx(0.5, abs=0.02)
    assert fit.params["a"] == pytest.approx(0.95, abs=0.005)
    assert np.abs(fit.predict(n, eta) - acc).max() < 1e-4


def test_effective_size_uses_the_signal_of_k_classes():
    n, eta, acc = grid(k=3, gamma=1.5)
    assert fit_effective_size(n, eta, acc, n_classes=3).params["gamma"] == pytest.approx(
        1.5, abs=0.05
    )
    assert abs(fit_effective_size(n, eta, acc, n_classes=2).params["gamma"] - 1.5) > 0.1


def test_linear_is_exact_on_a_plane():
    n, eta, _ = grid()
    acc = 0.7 + 1e-5 * n - 0.4 * eta
    fit = fit_linear(n, eta, acc)
    assert fit.params == pytest.approx({"b0": 0.7, "b1": 1e-5, "b2": -0.4})


def test_holdout_prefers_the_form_that_made_the_data():
    n, eta, acc = grid(noise_sd=0.003)
    groups = np.arange(len(n))
    curve = holdout_errors(fit_effective_size, n, eta, acc, groups).mean()
    plane = holdout_errors(fit_linear, n, eta, acc, groups).mean()
    assert curve < 0.006 < plane


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="one shape"):
        fit_linear([1, 2], [0.1], [0.5, 0.6])
