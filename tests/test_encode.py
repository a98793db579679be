import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtriage.encode import AMINO_ACIDS, encode_sequences, sequence_lengths

peptides = st.lists(st.text(alphabet=AMINO_ACIDS, min_size=1, max_size=15), min_size=1, max_size=30)


def test_codes_follow_the_alphabet():
    codes = encode_sequences(["ACY", "WV"])
    assert codes.tolist() == [[1, 2, 20], [19, 18, 0]]


def test_width_is_the_longest_sequence_never_truncated():
    codes = encode_sequences(["A" * 30, "C"])
    assert codes.shape == (2, 30)
    assert sequence_lengths(codes).tolist() == [30, 1]


def test_explicit_length_pads_and_rejects_shorter():
    assert encode_sequences(["AC"], length=5).shape == (1, 5)
    with pytest.raises(ValueError, match="shorter than the longest"):
        encode_sequences(["ACDE"], length=2)


@given(peptides)
def test_roundtrip(seqs):
    codes = encode_sequences(seqs)
    letters = np.array(["", *AMINO_ACIDS])
    back = ["".join(letters[row]) for row in codes]
    assert back == seqs
    assert sequence_lengths(codes).tolist() == [len(s) for s in seqs]
