"""Write benchmark tables into docs/benchmarks.md, between named markers."""

from __future__ import annotations

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
