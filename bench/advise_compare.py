"""The replay's three countings of a found flip, side by side over its result files.

Reads what ``advise.py`` wrote (advise*.csv, advise_priced*.csv, advise_whole*.csv)
and counts, per counting and per set of scenario-draws, the choices in the decisive
scenarios, the amounts within target and inside their 90 % intervals, and the
accuracy the lab would have lost against the better pure option. No training.

    python bench/advise_compare.py      # prints the table, writes docs/benchmarks.md
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from advise import inside, within
from doc import markdown_table, write_block

RESULTS = Path(__file__).resolve().parent / "results"
# The draws and sizes the countings were chosen on, and the draw held out from that choice.
SETS = {"design: draws 0 and 1, 20,000 rows": ("", "_draw1", "_rows20000"),
        "held out: draw 2": ("_draw2",)}  # fmt: skip
COUNTINGS = {"between (default)": "advise", "whole": "advise_whole", "measured": "advise_priced"}


def lost(table: pd.DataFrame) -> pd.Series:
    """Realized gain of the better pure option less that of the option the advice took.

    A ``mix`` counts at the mean of the two pure options (its split was not carried
    out); ``indeterminate`` at the option its point predictions favour.
    """
    relabel, collect = table["real gain relabel"], table["real gain collect"]
    point = relabel.where(table["pred gain relabel"] >= table["pred gain collect"], collect)
    taken = {"relabel": relabel, "collect": collect, "mix": (relabel + collect) / 2}
    got = point.copy()
    for rec, gain in taken.items():
        got = got.mask(table["recommendation"] == rec, gain)
    return pd.concat([relabel, collect], axis=1).max(axis=1) - got


def tally(table: pd.DataFrame) -> dict:
    """One row of the comparison."""
    calls = table.loc[table["decisive"].astype(bool), "verdict"].value_counts()
    row = {"decisive: right / wrong / indeterminate": (
        f"{calls.get('right', 0)} / {calls.get('wrong', 0)} / {calls.get('undecided', 0)}"
        f" of {int(calls.sum())}")}  # fmt: skip
    for option, name in (("relabel", "re-measuring"), ("collect", "new rows")):
        ok = within(table[f"pred gain {option}"], table[f"real gain {option}"])
        row[f"{name} within target"] = int(ok.sum())
        row[f"{name} inside its 90 % interval"] = int(inside(table, option).sum())
    row["accuracy lost a scenario"] = f"{lost(table).mean():.4f}"
    return row


def comparison(results: Path = RESULTS) -> pd.DataFrame:
    rows = []
    for label, tags in SETS.items():
        for counting, stem in COUNTINGS.items():
            files = [results / f"{stem}{t}.csv" for t in tags]
            found = [pd.read_csv(f) for f in files if f.exists()]
            if found:
                table = pd.concat(found, ignore_index=True)
                rows.append({"scenario-draws": f"{label} ({len(table)})",
                             "counting": counting, **tally(table)})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    text = markdown_table(comparison())
    print(text)
    write_block("advise-countings", "Replay: the countings compared", text)


if __name__ == "__main__":
    main()
