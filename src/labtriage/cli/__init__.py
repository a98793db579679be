"""The ``labtriage`` command line: one module per command, the shared options in ``common``.

The only package that imports typer. Each command parses its options, calls one
function of the pipeline and renders the result. Heavy libraries (torch, cleanlab,
scikit-learn) are imported inside the commands so ``labtriage --help`` answers at
once. Bad data (``LabtriageError``) exits 1 and bad usage (``ValueError``) exits 2,
each as one line on stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

from typing import Annotated

import typer

from labtriage import __version__
from labtriage.cli.advise import advise
from labtriage.cli.audit import audit
from labtriage.cli.common import App, demo_path
from labtriage.cli.noise import estimate_noise_cmd
from labtriage.cli.predict import predict
from labtriage.cli.simulate import simulate
from labtriage.cli.sweep import sweep
from labtriage.cli.train import train

__all__ = ["app", "demo_path"]

app = App(
    help="Find the mislabeled rows of a wet-lab assay table, estimate its label noise, "
    "and train a model to keep.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"labtriage {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            metavar="",
            show_default=False,
            help="Show the version.",
        ),
    ] = False,
) -> None:
    """Audit assay labels, estimate their noise, and train and use a model."""


app.command()(audit)
app.command("estimate-noise")(estimate_noise_cmd)
app.command()(train)
app.command()(predict)
app.command()(sweep)
app.command()(advise)
app.command()(simulate)
