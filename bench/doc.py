"""Benchmark results: merged into bench/results/*.csv, written into docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

import pandas as pd

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def markdown_table(frame: pd.DataFrame) -> str:
    """A plain Markdown table; missing values shown as an en dash."""
    shown = frame.astype(object).where(frame.notna(), "–")
    lines = ["| " + " | ".join(map(str, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines)


def write_block(name: str, heading: str, text: str) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``.

    The first time, a section titled ``heading`` holding the markers is appended.
    """
    doc = DOC.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start in doc:
        doc = doc[: doc.index(start) + len(start)] + "\n" + text + "\n" + doc[doc.index(end) :]
    else:
        doc += f"\n## {heading}\n\n{start}\n{text}\n{end}\n"
    DOC.write_text(doc)


def command_line(script: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The command that reproduces a run: ``script`` with the options not left at default."""
    changed = [
        f"--{k.replace('_', '-')} {shlex.quote(str(v))}"
        for k, v in vars(args).items()
        if v != parser.get_default(k)
    ]
    return "`" + " ".join([f"python bench/{script}", *changed]).replace(" True", "") + "`"


def merge_results(path: Path, new: pd.DataFrame, *, keys: list[str]) -> pd.DataFrame:
    """Write ``new`` into the CSV at ``path``, replacing only the earlier rows it reruns.

    An earlier row is replaced when its values in ``keys`` (say dataset and flip
    rate) match a new row's, so a quick run or a partial grid never wipes the rest.
    The file is replaced atomically: a stopped run leaves the previous one intact.
    """
    if path.exists():
        old = pd.read_csv(path)
        rerun = pd.MultiIndex.from_frame(old[keys]).isin(pd.MultiIndex.from_frame(new[keys]))
        new = pd.concat([old[~rerun], new], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    new.to_csv(partial, index=False)
    os.replace(partial, path)
    return new


def provenance(results: pd.DataFrame) -> str:
    """One line per dataset: when its rows were measured and the commands that ran."""
    lines = []
    for dataset, rows in results.groupby("dataset", sort=False):
        dates = sorted(set(rows["date"]))
        when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
        lines.append(f"- {dataset}: run on {when}, " + "; ".join(dict.fromkeys(rows["command"])))
    return "\n".join(lines)


def in_order(results: pd.DataFrame) -> pd.DataFrame:
    """Rows by dataset, in the order datasets first appear, then by flip rate."""
    order = {name: i for i, name in enumerate(dict.fromkeys(results["dataset"]))}
    return results.sort_values(
        ["dataset", "injected"],
        key=lambda col: col.map(order) if col.name == "dataset" else col,
        kind="stable",
    ).reset_index(drop=True)
