"""Helpers shared by the reading tests (test_io.py, test_tables.py)."""

import gzip

import pytest


def write(tmp_path, name, content):
    """Write text or bytes to tmp_path/name (gzipped when the name ends in .gz)."""
    data = content.encode() if isinstance(content, str) else content
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def expect_error(reader, error, path, *parts, **options):
    """Call ``reader(path, **options)``, expect ``error``, and check its one-line message
    names the file and every one of ``parts``."""
    with pytest.raises(error) as info:
        reader(path, **options)
    message = str(info.value)
    assert "\n" not in message
    for part in (str(path), *parts):
        assert part in message, (part, message)
    return message
