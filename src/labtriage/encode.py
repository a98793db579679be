"""Amino-acid alphabet and the integer encoding the models read.

Sequences become a padded ``int64`` array of shape (N, L) where 0 is padding and
1..20 are the standard amino acids, so a row's length is its count of non-zero
entries. Nothing is ever truncated: L is the longest sequence.
"""

from collections.abc import Sequence

import numpy as np

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
PAD = 0
_CODE = np.zeros(256, dtype=np.int64)
_CODE[np.frombuffer(AMINO_ACIDS.encode(), dtype=np.uint8)] = np.arange(1, 21)


def encode_sequences(sequences: Sequence[str], *, length: int | None = None) -> np.ndarray:
    """Encode amino-acid sequences as a padded integer array.

    Parameters
    ----------
    sequences : sequence of str, length N
        Upper-case sequences over :data:`AMINO_ACIDS` (validated upstream by ``io``).
    length : int, optional
        Width L of the output; default the longest sequence. Must be at least that.

    Returns
    -------
    np.ndarray of shape (N, L), dtype int64
        Codes 1..20 left-aligned, 0 after each sequence's end.
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    width = int(lengths.max(initial=0)) if length is None else length
    if lengths.size and width < lengths.max():
        raise ValueError(f"length={width} is shorter than the longest sequence ({lengths.max()})")
    out = np.zeros((len(sequences), width), dtype=np.int64)
    if len(set(lengths.tolist())) == 1 and width == lengths[0]:
        # Equal lengths: one vectorised lookup over the concatenated bytes.
        flat = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)
        out[:] = _CODE[flat].reshape(len(sequences), width)
        return out
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = _CODE[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
    return out


def sequence_lengths(codes: np.ndarray) -> np.ndarray:
    """Lengths of encoded sequences: the count of non-padding codes per row, shape (N,)."""
    return (np.asarray(codes) != PAD).sum(axis=1)
