"""``labtriage simulate``: a synthetic assay with known true labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labtriage.cli.common import Debug, Force, Quiet, errors, gzip_bytes, make_console


def simulate(
    out: Annotated[
        Path,
        typer.Argument(
            help="CSV to write: sequence, label, true_label, flipped (and plate, well, "
            "bad_plate with --plates)."
        ),
    ],
    n: Annotated[int, typer.Option(help="Rows.")] = 50_000,
    length: Annotated[int, typer.Option(help="Peptide length.")] = 12,
    noise: Annotated[float, typer.Option(help="Fraction of labels flipped.")] = 0.2,
    epistasis: Annotated[
        str,
        typer.Option(
            help="mild (mostly additive), strong, or the share of the fitness variance that "
            "is pairwise, in [0, 1)."
        ),
    ] = "mild",
    plates: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            show_default=False,
            help="Spread the rows at random over N plates (adds plate and well columns).",
        ),
    ] = None,
    bad_plates: Annotated[
        int, typer.Option(metavar="K", help="Plates whose labels flip at --bad-noise.")
    ] = 0,
    bad_noise: Annotated[
        float, typer.Option(help="Fraction of labels flipped on the bad plates.")
    ] = 0.4,
    seed: Annotated[
        int, typer.Option(help="Seed for the landscape, the sequences and which labels flip.")
    ] = 0,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Write a synthetic peptide assay with known true labels and injected flips."""
    with errors(debug):
        from labtriage.report import check_outputs_free, write_atomic
        from labtriage.simulate import simulate_assay

        check_outputs_free([out], force=force)
        table = simulate_assay(
            n,
            length=length,
            noise=noise,
            seed=seed,
            epistasis=epistasis,
            plates=plates,
            bad_plates=bad_plates,
            bad_noise=bad_noise,
        )
        text = table.to_csv(index=False)
        write_atomic(out, gzip_bytes(text) if out.suffix == ".gz" else text)
        console = make_console(quiet)
        console.print(
            f"wrote {len(table):,} rows to {out} ({int(table['flipped'].sum()):,} labels flipped)"
        )
        if plates is not None:
            bad = sorted(table.loc[table["bad_plate"], "plate"].unique())
            where = (
                f"at {bad_noise:.0%} on {', '.join(bad)}, at {noise:.0%} on the others"
                if bad
                else f"at {noise:.0%} on each"
            )
            console.print(f"{plates} plates; labels flipped {where}", highlight=False)
