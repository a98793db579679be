"""What ``--by`` tells people: one sentence per flagged value, the audit's figures, and
the "Where the noise sits" section of ``report.html``.

The numbers come from ``noise_by``; the figures are drawn by ``figures_by``; the
console table is ``console.by_table``.
"""

from __future__ import annotations

import html
import re

from labtriage.html_report import figures_html, grid_table, section

# Columns naming something a lab can run again: a flagged value of one is worth redoing.
_RERUNNABLE = re.compile(r"plate|batch|run|day|date|gate|sort|operator|lane|chip|lot|well", re.I)


def by_notes(by: list[dict] | None) -> list[str]:
    """One sentence per flagged value of a ``--by`` column, noisiest first."""
    notes = []
    for nb in by or ():
        flagged = sorted((g for g in nb["groups"] if g["flagged"]), key=lambda g: -g["noise_rate"])
        for g in flagged:
            lo, hi = g["interval"]
            pct = ".1%" if max(hi, g["rest_noise_rate"]) < 0.1 else ".0%"
            advice = (
                "consider re-running it"
                if _RERUNNABLE.search(str(nb["column"])) and not nb["bins"]
                else "its labels are less reliable than the rest's"
            )
            notes.append(
                f"{nb['column']} {g['value']} ({g['n_rows']:,} rows): noise "
                f"{g['noise_rate']:{pct}} [{lo:{pct}}, {hi:{pct}}] against "
                f"{g['rest_noise_rate']:{pct}} elsewhere: {advice}"
            )
    return notes


def audit_by_figures(result, data) -> dict[str, str]:
    """The figures of each ``--by`` column of an audit (``figures_by``), title -> PNG."""
    from labtriage.figures_by import by_figures, well_column

    if not result.noise.by:
        return {}
    rows = data.frame.iloc[data.row]
    wells = well_column(rows)
    return by_figures(
        result.noise.by,
        values={g.column: g.values for g in result.groupings},
        wells=None if wells is None else rows[wells].astype(str).to_numpy(),
        is_issue=result.scores["is_issue"].to_numpy(dtype=bool),
    )


BY_LINES = 30


def by_section(by: list[dict] | None, figures: dict[str, str]) -> str:
    """Noise per value of each --by column: what was tested, the values, the figures."""
    from labtriage.groups import by_file

    if not by:
        return ""
    parts = []
    for nb in by:
        groups = sorted(nb["groups"], key=lambda g: (not g["flagged"], -g["noise_rate"]))
        tested = sum(g["tested"] for g in groups)
        first = f"The first {BY_LINES}, flagged first; " if len(groups) > BY_LINES else ""
        binned = f" in {len(groups)} equal-count bins" if nb["bins"] else ""
        parts.append(
            f"<h3><code>{html.escape(nb['column'])}</code>{binned}: "
            f"{nb['n_flagged']} of {len(groups):,} values flagged</h3>"
            f"<p>Each value's noise rate comes from the table's confident joint restricted to "
            f"its rows (table: {nb['noise_rate']:.3f} on this scale, which counts the "
            f"model's own errors too: compare values with each other, not with the "
            f"table's noise rate above). {tested:,} values with at least "
            f"{nb['min_rows']} rows were tested against the rest ({html.escape(nb['test'])}); "
            f"flagged: false discovery rate at most {nb['alpha']:.0%}. "
            f"{first}every value is in <code>{html.escape(by_file(nb['column']))}</code>.</p>"
        )
        head = [nb["column"], "rows", "noise rate", "interval", "elsewhere", "q", "flagged"]
        rows = [
            [
                g["value"],
                f"{g['n_rows']:,}",
                f"{g['noise_rate']:.3f}",
                f"[{g['interval'][0]:.3f}, {g['interval'][1]:.3f}]",
                f"{g['rest_noise_rate']:.3f}",
                "" if g["q_value"] is None else f"{g['q_value']:.2g}",
                "yes" if g["flagged"] else ("no" if g["tested"] else "not tested"),
            ]
            for g in groups[:BY_LINES]
        ]
        parts.append(grid_table(head, rows, numeric=head[1:6]))
    parts.append(figures_html(figures))
    return section("Where the noise sits", "".join(parts), "by")
