"""Accuracy as a function of training size and label noise, fitted to sweep cells.

Two forms, compared on cells they did not see:

- **linear** (Simmering 2023, who fitted it to IMDB reviews):
  ``accuracy = b0 + b1 * n + b2 * eta``;
- **effective size** (DESIGN.md, "The advice"): a learning curve in the clean-label
  equivalent size, ``accuracy = a - b * n_eff ** -c`` with
  ``n_eff = n * (1 - eta * K / (K - 1)) ** gamma`` (``(1 - 2 eta) ** gamma`` for two
  classes), gamma fitted rather than assumed to be 2.

``n`` is a cell's training rows and ``eta`` its total label noise (the table's own
plus the injected, composed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FORMS = ("linear", "effective size")


@dataclass(frozen=True)
class CurveFit:
    """A fitted accuracy surface: its form, parameters and prediction function."""

    form: str
    params: dict[str, float]
    predict: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (n, eta) -> accuracy


def fit_linear(n: np.ndarray, eta: np.ndarray, accuracy: np.ndarray) -> CurveFit:
    """Least squares ``accuracy = b0 + b1 * n + b2 * eta``."""
    n, eta, accuracy = _arrays(n, eta, accuracy)
    design = np.column_stack([np.ones_like(n), n, eta])
    b, *_ = np.linalg.lstsq(design, accuracy, rcond=None)
    params = {"b0": float(b[0]), "b1": float(b[1]), "b2": float(b[2])}
    return CurveFit(
        "linear", params, lambda n, eta: b[0] + b[1] * np.asarray(n) + b[2] * np.asarray(eta)
    )


def fit_effective_size(
    n: np.ndarray, eta: np.ndarray, accuracy: np.ndarray, *, n_classes: int = 2
) -> CurveFit:
    """Least squares ``accuracy = a - b * n_eff ** -c``, ``n_eff = n * signal(eta) ** gamma``.

    Parameters
    ----------
    n, eta, accuracy : np.ndarray of shape (M,)
        Training rows, total noise rate and measured accuracy of M cells.
    n_classes : int, default 2
        K; the signal a label keeps is ``1 - eta * K / (K - 1)``.

    Returns
    -------
    CurveFit with params ``a`` (accuracy with unlimited clean data), ``b``, ``c``
    (the learning curve's exponent) and ``gamma``.
    """
    from scipy.optimize import least_squares

    n, eta, accuracy = _arrays(n, eta, accuracy)
    k = n_classes

    def model(theta, n, eta):
        a, log_b, c, gamma = theta
        signal = np.clip(1 - np.asarray(eta) * k / (k - 1), 1e-6, 1)
        log_n_eff = np.log(np.asarray(n, dtype=float)) + gamma * np.log(signal)
        return a - np.exp(log_b - c * log_n_eff)

    start = _start(n, eta, accuracy, k)
    fit = least_squares(
        lambda theta: model(theta, n, eta) - accuracy,
        start,
        bounds=([0.0, -20.0, 0.01, 0.0], [1.0, 20.0, 3.0, 8.0]),
    )
    theta = fit.x
    params = dict(zip(("a", "b", "c", "gamma"), map(float, theta), strict=True))
    params["b"] = float(np.exp(theta[1]))
    return CurveFit("effective size", params, lambda n, eta: model(theta, n, eta))


def compose_noise(eta, extra, n_classes: int = 2):
    """Total noise after extra flips ``extra`` on labels with noise ``eta`` (K classes)."""
    k = n_classes
    return eta + np.asarray(extra) - eta * np.asarray(extra) * k / (k - 1)


def holdout_errors(
    fitter: Callable[..., CurveFit],
    n: np.ndarray,
    eta: np.ndarray,
    accuracy: np.ndarray,
    groups: np.ndarray,
    **options,
) -> np.ndarray:
    """Absolute error on each cell of a fit that did not see its group.

    ``groups`` labels cells that are left out together (for example every repeat of
    one size and noise, or every cell of the largest size, to test extrapolation).
    """
    n, eta, accuracy = _arrays(n, eta, accuracy)
    groups = np.asarray(groups)
    errors = np.empty(len(n))
    for g in np.unique(groups):
        out = groups == g
        fit = fitter(n[~out], eta[~out], accuracy[~out], **options)
        errors[out] = np.abs(fit.predict(n[out], eta[out]) - accuracy[out])
    return errors


def _start(n, eta, accuracy, k) -> np.ndarray:
    # Start from gamma = 2, c = 0.5 and the ceiling just above the best cell.
    a = min(1.0, float(accuracy.max()) + 0.02)
    signal = np.clip(1 - eta * k / (k - 1), 1e-6, 1)
    gap = np.clip(a - accuracy, 1e-4, None)
    log_b = float(np.median(np.log(gap) + 0.5 * (np.log(n) + 2 * np.log(signal))))
    return np.array([a, log_b, 0.5, 2.0])


def _arrays(*values) -> tuple[np.ndarray, ...]:
    arrays = tuple(np.asarray(v, dtype=float) for v in values)
    if len({a.shape for a in arrays}) != 1:
        shapes = [a.shape for a in arrays]
        raise ValueError(f"n, eta and accuracy must have one shape, got {shapes}")
    return arrays
