"""Per-fold results on disk: what lets an interrupted audit resume where it stopped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from labtriage import __version__


class FoldCache:
    """Per-fold probabilities on disk, so an interrupted run resumes where it stopped.

    Entries are keyed by a hash of everything that determines them (data, folds,
    model parameters, seed); a changed input or option starts afresh.
    """

    def __init__(self, directory: Path, key: dict):
        self.directory = Path(directory)
        self.key = hashlib.sha256(
            json.dumps(key, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]

    @classmethod
    def for_data(cls, directory: Path, sequences, labels: np.ndarray, options: dict) -> FoldCache:
        """A cache keyed by the sequences, labels, run options and labtriage version."""
        digest = hashlib.sha256("\n".join(sequences).encode())
        digest.update(np.asarray(labels).tobytes())
        key = {"data": digest.hexdigest(), "config": options, "version": __version__}
        return cls(directory, key)

    def path(self, name: str, fold: int) -> Path:
        return self.directory / f"{self.key}-{name}-fold{fold}.npy"

    def load(self, name: str, fold: int) -> np.ndarray | None:
        p = self.path(name, fold)
        return np.load(p) if p.exists() else None

    def save(self, name: str, fold: int, probs: np.ndarray) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path(name, fold).with_suffix(".tmp.npy")
        np.save(tmp, probs)
        tmp.replace(self.path(name, fold))

    def clear(self) -> None:
        for p in self.directory.glob(f"{self.key}-*.npy"):
            p.unlink()
        if self.directory.exists() and not any(self.directory.iterdir()):
            self.directory.rmdir()
