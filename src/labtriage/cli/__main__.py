"""``python -m labtriage.cli``: the same as the ``labtriage`` command."""

from labtriage.cli import app

app()
