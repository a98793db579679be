"""What an audit or a noise estimate prints on the terminal: rich tables and a summary.

Progress bars are ``report.FoldProgressBars``; everything here renders results
already computed, so ``--quiet`` (which silences progress) leaves the result.
"""

from __future__ import annotations

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from labtriage.report import short_sequence


def noise_table(estimate: dict) -> Table:
    """The noise estimate, its interval, flip rates and the replicate estimate."""
    table = Table(title="Label noise", show_header=False, title_justify="left")
    lo, hi = estimate["interval"]
    table.add_row(
        "noise rate",
        f"{estimate['noise_rate']:.3f}  [{lo:.3f}, {hi:.3f}] ({estimate['level']:.0%} interval)",
    )
    for name, rate in estimate["flip_rates"].items():
        table.add_row(f"flip {name}", f"{rate:.3f}")
    table.add_row(
        "method",
        f"{estimate['method']} on {estimate['n_rows']:,} rows, "
        f"{estimate['n_repeats']} CV repeat(s)",
    )
    refit = estimate.get("refits")
    if refit:
        rlo, rhi = refit["rows_interval"]
        table.add_row(
            "refits",
            f"{refit['n']} resamples retrained: the estimate moves by {refit['sd']:.3f} (sd) "
            f"with the rows trained on; the bootstrap over rows alone gave [{rlo:.3f}, {rhi:.3f}]",
        )
    cj = estimate.get("confident_joint")
    if cj:
        table.add_row(
            "confident joint",
            f"{cj['noise_rate']:.3f}  [{cj['interval'][0]:.3f}, {cj['interval'][1]:.3f}] "
            "(counts the model's own errors too: high where the model is weak)",
        )
    rep = estimate.get("replicates")
    if not rep:
        table.add_row("replicates", "none: no sequence is measured twice")
        return table
    table.add_row(
        "replicates",
        f"{rep['noise_rate']:.3f}  [{rep['interval'][0]:.3f}, {rep['interval'][1]:.3f}] "
        f"from {rep['n_groups']:,} repeated sequences, each counted once "
        f"({rep['disagreement']:.1%} of a sequence's pairs disagree on average)",
    )
    table.add_row(
        "evidence",
        f"{rep['n_pairs']:,} pairs; the most measured sequence supplies "
        f"{rep['pair_share_top1']:.0%} of them, the 5 most measured {rep['pair_share_top5']:.0%}",
    )
    for ctl in rep.get("controls", []):
        table.add_row("control", f"{short_sequence(ctl['sequence'])} x{ctl['n_rows']:,}: left out")
    return table


SMALL_TABLE = 10_000  # rows below which the interval misses the model's own spread


def estimate_notes(estimate: dict) -> list[str]:
    """Where the noise estimate is known to mislead (docs/benchmarks.md, the battery)."""
    k = round((1 + (1 + 4 * len(estimate["flip_rates"])) ** 0.5) / 2)
    chance = 1 - 1 / k
    notes = []
    if estimate["noise_rate"] >= 0.9 * chance:
        notes.append(
            f"the estimate sits near the chance level of {chance:.2f}: labels this noisy leave "
            "the model no pure top to read, and on known-truth tables at 45 % flips it read "
            "0.02 high on average, its interval covering the truth in 55 %: read it as 'close "
            "to chance', not as a rate"
        )
    if estimate["n_rows"] < SMALL_TABLE and not estimate.get("refits"):
        notes.append(
            f"on fewer than {SMALL_TABLE:,} rows the interval leaves out how the model moves "
            "with the rows it is trained on; labtriage estimate-noise ASSAY "
            "--calibrate-refits 8 measures that too (about nine times as long)"
        )
    return notes


def by_table(nb: dict, *, n: int = 12, where: str | None = None) -> Table:
    """Noise per value of one ``--by`` column: flagged values first, then the noisiest."""
    groups = sorted(nb["groups"], key=lambda g: (not g["flagged"], -g["noise_rate"]))
    shown = groups[:n]
    more = f"; all in {where}" if where and len(groups) > n else ""
    binned = f", {len(groups)} quantile bins" if nb["bins"] else ""
    table = Table(
        title=f"Label noise by {nb['column']}{binned}, confident joint "
        f"(table: {nb['noise_rate']:.3f} on this scale; "
        f"{len(shown)} of {len(groups):,} values{more})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for col in (str(nb["column"]), "rows", "noise", f"{nb['level']:.0%} interval", "elsewhere"):
        table.add_column(col, justify="left" if col == str(nb["column"]) else "right")
    table.add_column("flagged (q)", justify="left")
    for g in shown:
        lo, hi = g["interval"]
        if not g["tested"]:
            verdict = f"not tested (< {nb['min_rows']} rows)"
        else:
            verdict = ("[bold red]yes[/]" if g["flagged"] else "no") + f" ({g['q_value']:.2g})"
        table.add_row(
            short_sequence(g["value"], 24),
            f"{g['n_rows']:,}",
            f"{g['noise_rate']:.3f}",
            f"[{lo:.3f}, {hi:.3f}]",
            f"{g['rest_noise_rate']:.3f}",
            verdict,
        )
    return table


def models_table(metrics: dict, weight: float, yardstick: dict | None = None) -> Table:
    """Out-of-sample log-loss, accuracy and recall per class (against the given labels),
    beside the majority-class yardstick."""
    yardstick = yardstick or {}
    classes = list(next(iter(metrics.values())).get("recall", {}))
    table = Table(title="Models, out of sample (vs the given labels)", title_justify="left")
    for col in ("model", "log-loss", "accuracy", *(f"recall {c}" for c in classes)):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in metrics.items():
        label = f"blend ({weight:.2f} LSTM)" if name == "blend" else name
        recall = (f"{m['recall'][c]:.3f}" for c in classes)
        table.add_row(label, f"{m['log_loss']:.4f}", f"{m['accuracy']:.3f}", *recall)
    if yardstick:
        major = yardstick["majority_class"]
        table.add_row(
            f"majority ({major} everywhere)",
            f"{yardstick['prior_log_loss']:.4f}",
            f"{yardstick['majority_accuracy']:.3f}",
            *("1.000" if c == major else "0.000" for c in classes),
            style="dim",
        )
    return table


# Console headers: short, so ten lines fit an 80-column terminal.
_HEADERS = {"sheet_row": "sheet row", "record_id": "record", "suggested_label": "suggested"}
_HEADERS |= {"n_measured": "n"}


def worklist_table(worklist: pd.DataFrame, *, n: int = 10) -> Table:
    """The ``n`` most suspect lines of the worklist, in the columns a reader checks first."""
    table = Table(
        title=f"Most suspect labels (first {min(n, len(worklist))} of {len(worklist):,})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    finder = next((c for c in ("sheet_row", "record_id") if c in worklist), "row")
    cols = ["rank", "tier", finder, "sequence", "label", "suggested_label", "quality"]
    cols += [c for c in ("fitness", "n_measured") if c in worklist]
    # Under --sort the file is in picking order; the summary stays in suspicion order.
    lines = [[_shown(v) for v in rec] for rec in worklist.sort_values("rank").head(n)[cols].values]
    for k, col in enumerate(cols):
        left = col in ("tier", "sequence", "record_id")
        width = max((len(line[k]) for line in lines), default=1)
        table.add_column(
            _HEADERS.get(col, col),
            justify="left" if left else "right",
            min_width=None if left else width,  # numbers are never cut or folded
            no_wrap=left,
        )
    for line in lines:
        table.add_row(*line)
    return table


def _shown(value) -> str:
    if isinstance(value, str):  # long sequences: both ends, where variants often differ
        return value if len(value) <= 18 else f"{value[:8]}…{value[-9:]}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_audit(console: Console, report: dict, worklist: pd.DataFrame) -> None:
    """Summary of an audit on the console."""
    from rich.markup import escape

    c = report["counts"]
    console.print(
        f"[bold]{c['n_rows']:,}[/] rows ({c['n_sequences']:,} distinct sequences), "
        f"{c['n_classes']} classes; [bold red]{c['n_issues']:,}[/] rows flagged as likely "
        f"mislabeled ({c['n_issues'] / max(c['n_rows'], 1):.1%}); worklist: "
        f"{c['n_worklist']:,} {c['worklist_unit']}"
    )
    for note in report["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")
    models = models_table(report["models"], report["blend"]["lstm_weight"], report["yardstick"])
    console.print(models)
    console.print(noise_table(report["noise"]))
    for nb in report["noise"].get("by") or ():
        console.print(by_table(nb, where=_by_path(report, nb["column"])))
    if len(worklist):
        console.print(worklist_table(worklist))
    for name, path in report["outputs"].items():
        console.print(f"{name:<12} {path}", highlight=False, soft_wrap=True)


def _by_path(report: dict, column: str) -> str | None:
    from labtriage.groups import by_file

    return report["outputs"].get(by_file(column))
