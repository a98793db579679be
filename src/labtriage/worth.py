"""What a flip found at the top of a worklist and fixed is worth on this table.

The accuracy surface prices a fixed label as one random flip fewer. The sweep's
relabel cells (``sweep_relabel``) set back the injected flips found at the top of
a worklist and train again, with the trainer the lab will use: :func:`relabel_worth`
is the accuracy they gained over what the surface predicts for the true labels they
gave back, pooled over the cells and clipped to [0, 2]. ``advise`` counts the flips
re-measuring finds between that worth and one by default (:func:`found_flip_price`).
"""

from __future__ import annotations

import numpy as np

from labtriage.tradeoff import CurveFit, compose_noise

FOUND_FLIPS = ("between", "measured", "whole")  # what a flip found and fixed counts as


def relabel_worth(fit: CurveFit, fixes, noise_rate: float, n_classes: int = 2) -> float | None:
    """What a flip found at the top of the worklist and fixed is worth, in random flips.

    The relabel cells' accuracy gain over the gain the surface predicts for the true
    labels they restored (``relabel_net``), pooled over the cells and clipped to
    [0, 2]. None without relabel cells, or where the surface predicts no gain.
    """
    if len(fixes) == 0:
        return None
    n = fixes["n_train"].to_numpy(float)
    before = compose_noise(noise_rate, fixes["extra_noise"].to_numpy(float), n_classes)
    after = before - fixes["relabel_net"].to_numpy(float) / n
    predicted = float(np.sum(fit.predict(n, after) - fit.predict(n, before)))
    realized = float(np.sum(fixes["accuracy"].to_numpy(float)
                            - fixes["accuracy_before"].to_numpy(float)))  # fmt: skip
    return float(np.clip(realized / predicted, 0.0, 2.0)) if predicted > 1e-4 else None


def check_found_flips(found_flips: str) -> None:
    """ValueError unless ``found_flips`` is one of :data:`FOUND_FLIPS`."""
    if found_flips not in FOUND_FLIPS:
        raise ValueError(
            f"--found-flips must be one of {', '.join(FOUND_FLIPS)}, got {found_flips!r}"
        )


def found_flip_price(worth: float | None, found_flips: str, draw: float | None = None) -> float:
    """What one flip found at the top of the worklist and fixed counts as, in random flips.

    ``worth`` is the relabel cells' reading (None: unmeasured, counted whole). With
    ``"between"``, ``draw`` in [0, 1] places it between that reading and one (None:
    the middle).
    """
    if worth is None or found_flips == "whole":
        return 1.0
    if found_flips == "measured":
        return worth
    return worth + (0.5 if draw is None else draw) * (1.0 - worth)


def worth_record(
    worth: float | None, interval: list[float], fixes, *, found_flips: str, price: float
) -> dict | None:
    """``advice.json``'s ``relabel_worth``: the cells' reading and what the plan counted."""
    if worth is None:
        return None
    return {
        "value": round(worth, 3),
        "interval": interval,
        "cells": len(fixes),
        "flips_restored": int(fixes["n_relabeled"].astype(float).sum()),
        "found_flips": found_flips,
        "priced_at": round(price, 3),
    }


def worth_notes(fixes, worth, *, found_flips: str, price: float) -> list[str]:
    """What the advice says of the worth: unmeasured, or how the plan counted it."""
    if worth is not None and worth < 0.8 and found_flips != "measured":
        counted = (
            "counts it as one, so it is likely too high"
            if found_flips == "whole"
            else f"counts it at {price:.2f}, between the two, and its interval spans both"
        )
        return [
            f"the sweep's relabel cells put a flip found at the top of the worklist at "
            f"{worth:.2f} of a random one, a reading that can itself be far too low; the gain "
            f"predicted for re-measuring {counted} (--found-flips measured or whole prices "
            "it at either end; docs/how-it-works.md, 'Where it misleads')"
        ]
    if len(fixes) == 0:
        return [
            "the sweep has no relabel cells (a sweep made before them, or --no-relabel-cells): "
            "a label fixed from the worklist is priced as one random flip fewer, which "
            "overprices re-measuring where the model has learned through its flips; rerun "
            "the sweep into the same folder to add them"
        ]
    if worth is None:
        return [
            "the relabel cells gained where the surface predicts no gain: a fixed label is "
            "priced as one random flip fewer"
        ]
    return []
