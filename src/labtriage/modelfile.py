"""The files of a saved model: ``model.json`` and ``weights.pt``, checked when read.

Nothing in them is executed on load. The weights are a plain state dict read with
``torch.load(weights_only=True)`` (tensors and containers only, never arbitrary
objects) after their SHA-256 is checked against ``model.json``; ``model.json`` is
plain JSON with a format version, refused when it is not this one.
``LSTMClassifier.save`` and ``LSTMClassifier.load`` (``model.py``) are built on this.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from labtriage import __version__
from labtriage.encode import AMINO_ACIDS
from labtriage.exceptions import ModelFileError
from labtriage.train import TrainResult

# The on-disk format; a model written in another version is refused, never guessed at.
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"
_RESERVED = ("format_version", "written_by", "estimator")
_REQUIRED = ("params", "classes", "max_length", "alphabet", "weights_sha256")


def write_model_files(
    directory: str | os.PathLike, state_dict: dict, estimator: dict, metadata: dict
) -> None:
    """Write ``weights.pt`` and ``model.json`` into ``directory`` (created if needed).

    Parameters
    ----------
    directory : str or path-like
    state_dict : dict
        The network's ``state_dict()``.
    estimator : dict
        ``params``, ``classes``, ``max_length`` and ``train_result`` of the estimator;
        the alphabet and the weights' checksum are added here.
    metadata : dict
        JSON-serialisable, written at the top level of ``model.json``.
    """
    clash = set(_RESERVED) & set(metadata)
    if clash:
        raise ValueError(f"metadata must not use the reserved keys {sorted(clash)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    torch.save(state_dict, weights)
    estimator = {**estimator, "alphabet": AMINO_ACIDS, "weights_sha256": _sha256(weights)}
    head = {"format_version": FORMAT_VERSION, "written_by": f"labtriage {__version__}"}
    doc = {**head, "estimator": estimator, **metadata}
    (directory / MODEL_FILE).write_text(dump_json(doc), encoding="utf-8")


def read_model_json(directory: str | os.PathLike) -> dict:
    """The checked ``model.json`` of a saved model: readable, this format version, complete.

    Raises
    ------
    ModelFileError
        Missing, not JSON, another ``format_version``, or a malformed ``estimator``.
    """
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        raise ModelFileError(
            f"no {MODEL_FILE} in {directory}: not a saved labtriage model "
            "(write one with labtriage train or LSTMClassifier.save)"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(
            f"{path} is not valid JSON ({err}): the file is corrupted; restore it or retrain"
        ) from None
    version = doc.get("format_version") if isinstance(doc, dict) else None
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}; labtriage {__version__} reads "
            f"version {FORMAT_VERSION}: load it with the labtriage that wrote it, or retrain"
        )
    _check_estimator(doc.get("estimator"), path)
    return doc


def load_weights(module: nn.Module, directory: str | os.PathLike, sha256: str) -> None:
    """Load ``weights.pt`` into ``module`` after checking it against ``model.json``'s checksum.

    Raises
    ------
    ModelFileError
        The file is missing, its checksum differs, or it does not fit ``module``.
    """
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelFileError(f"no {WEIGHTS_FILE} in {directory}: restore it or retrain the model")
    if _sha256(path) != sha256:
        raise ModelFileError(
            f"{path} does not match the checksum in {MODEL_FILE}: "
            "the file is corrupted or was replaced; restore it or retrain"
        )
    try:
        module.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
    except (pickle.UnpicklingError, RuntimeError, EOFError, TypeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelFileError(
            f"{path} does not load into the network {MODEL_FILE} describes ({first}): "
            "restore both files or retrain"
        ) from None


def restore_train_result(saved: dict) -> TrainResult:
    """The training summary as saved; nulls (no held-out slice) come back as NaN."""
    known = {f.name for f in dataclasses.fields(TrainResult)}

    def nan(v):
        return [nan(x) for x in v] if isinstance(v, list) else math.nan if v is None else v

    return TrainResult(**{k: nan(v) for k, v in saved.items() if k in known})


def dump_json(doc: dict) -> str:
    """Strict, indented JSON: NaN as null, numpy scalars and arrays as plain values."""
    return json.dumps(_nan_to_none(doc), indent=2, allow_nan=False, default=_plain) + "\n"


def _check_estimator(est, path: Path) -> None:
    est = est if isinstance(est, dict) else {}
    missing = [k for k in _REQUIRED if k not in est]
    if missing:
        raise ModelFileError(f"{path} lacks estimator.{missing[0]}: restore it or retrain")
    shapes = [type(est[k]) for k in ("params", "classes", "max_length", "alphabet")]
    well_formed = (
        shapes == [dict, list, int, str]
        and est["alphabet"] == AMINO_ACIDS
        and len(est["classes"]) >= 2
        and est["max_length"] >= 1
    )
    if not well_formed:
        raise ModelFileError(
            f"{path} does not describe a model this labtriage can rebuild (params, two or "
            f"more classes, a maximum length, alphabet {AMINO_ACIDS}): restore it or retrain"
        )


def _plain(obj):
    if isinstance(obj, np.ndarray | np.generic):
        return _nan_to_none(obj.tolist())
    raise TypeError(f"cannot write a {type(obj).__name__} to {MODEL_FILE}: {obj!r}")


def _nan_to_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
