"""The one exception family labtriage raises for bad data.

``cli`` turns :class:`LabtriageError` into exit code 1 and ``ValueError``
(bad arguments) into exit code 2, each as one readable line on stderr.
"""


class LabtriageError(Exception):
    """Bad data: the message names the file, row or column and says how to fix it."""


class InputFileError(LabtriageError):
    """The assay file cannot be read (format, encoding, emptiness)."""


class ColumnError(LabtriageError):
    """A needed column is missing, duplicated or ambiguous."""


class SequenceError(LabtriageError):
    """Sequences are empty or hold characters outside the accepted alphabet."""


class LabelError(LabtriageError):
    """Labels or fitness values cannot give at least two usable classes."""


class ModelFileError(LabtriageError):
    """A saved model cannot be loaded: a file is missing, corrupted or from another version."""


class OutputExistsError(ValueError):
    """An output would overwrite an existing file and ``--force`` was not given."""
