"""The audit as one self-contained HTML page: everything report.json says, for people.

No external resource (fonts, scripts, styles, images are inline), so the page
works offline and can be mailed. Laid out for a laptop screen: the worklist
wraps instead of running off the page, sequences are monospace and left-aligned.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from labtriage.worklist import TIERS

WORKLIST_LINES = 50
_MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace"
CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;"
    "max-width:78em;margin:1.5em auto;padding:0 1.2em;color:#222;line-height:1.45}"
    "h1{font-size:1.5em;overflow-wrap:anywhere}h2{margin-top:1.6em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:.4em 0}"
    "td,th{padding:3px 8px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}"
    f".seq{{font-family:{_MONO};text-align:left;word-break:break-all}}"
    f"code{{font-family:{_MONO}}}"
    ".wrap{overflow-x:auto}table.worklist{width:100%;font-size:.82em}"
    "table.worklist td,table.worklist th{padding:2px 4px}"
    "table.worklist td{overflow-wrap:anywhere}table.worklist td.num{white-space:nowrap}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(24em,1fr));gap:0 2em}"
    ".figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(32em,1fr));gap:1em}"
    ".figs img{max-width:100%;height:auto}figure{margin:0}"
    "figcaption{font-weight:600;margin:.6em 0 .2em}"
    ".tier{white-space:nowrap;padding:0 .4em;border-radius:.3em}"
    ".t0{background:#f8d0d0}.t1{background:#fbe3c0}.t2{background:#e4e4e4}"
    ".note{background:#fff7d6;padding:.4em .8em;margin:.3em 0;list-style:none}"
)


def render_html(
    report: dict,
    figures: dict[str, str],
    worklist: pd.DataFrame,
    *,
    by_html: str = "",
) -> str:
    """The page: summary, input, noise, where it sits (``--by``, ``by_report.by_section``),
    models, notes, figures, worklist, run details."""
    path = html.escape(report["input"]["path"])
    body = "".join(
        [
            f"<h1>labtriage audit of <code>{path}</code></h1>",
            _summary(report),
            _notes(report["notes"]),
            "<div class='grid'>",
            section("Input", _input_table(report), "input"),
            section("Label noise", _noise_table(report["noise"]), "noise"),
            "</div>",
            by_html,
            section("Models, out of sample", _models(report), "models"),
            section("Figures", figures_html(figures), "figures"),
            section(
                _worklist_title(report, worklist),
                _tiers(report) + _worklist(worklist),
                "worklist",
            ),
            section("How it ran", _run_details(report), "run"),
        ]
    )
    head = f"<meta charset='utf-8'><title>labtriage audit</title><style>{CSS}</style>"
    head += "<meta name='viewport' content='width=device-width,initial-scale=1'>"
    return f"<!doctype html><html lang='en'><head>{head}</head><body>{body}</body></html>\n"


def _summary(report: dict) -> str:
    c, n = report["counts"], report["noise"]
    lo, hi = n["interval"]
    return (
        f"<p><b>{c['n_rows']:,}</b> rows ({c.get('n_sequences', c['n_rows']):,} distinct "
        f"sequences), {c['n_classes']} classes; <b>{c['n_issues']:,}</b> rows flagged as "
        f"likely mislabeled ({c['n_issues'] / max(c['n_rows'], 1):.1%}); the worklist has "
        f"<b>{c['n_worklist']:,}</b> {_unit(report)}.</p>"
        f"<p>Estimated noise rate <b>{n['noise_rate']:.3f}</b> ({n['level']:.0%} interval "
        f"{lo:.3f} to {hi:.3f}). A weak model inflates this estimate: read it beside the "
        "models' quality and the majority-class yardstick below.</p>"
    )


def _unit(report: dict) -> str:
    return "rows" if report["config"].get("per_row") else "sequences"


def _notes(notes: list[str]) -> str:
    items = "".join(f"<li class='note'>{html.escape(x)}</li>" for x in notes)
    return f"<ul style='padding:0'>{items}</ul>" if notes else ""


def section(title: str, content: str, anchor: str | None = None) -> str:
    name = f" id='{anchor}'" if anchor else ""
    return f"<section{name}><h2>{html.escape(title)}</h2>{content}</section>"


def _input_table(report: dict) -> str:
    i, c = report["input"], report["counts"]
    rows = [("file", f"<code>{html.escape(i['path'])}</code>")]
    if i.get("sheet") is not None:
        rows.append(("sheet", _text(i["sheet"])))
    rows.append(("sequence column", _column(i["sequence_col"], i, "sequence")))
    if i.get("fitness_col") is not None:
        rule = f"{i['positive']} {i['threshold']:.4g}"
        spec = i["threshold_spec"]
        rule += "" if spec == f"{i['threshold']:g}" or spec == str(i["threshold"]) else f" ({spec})"
        rows += [("fitness column", _column(i["fitness_col"], i, "fitness"))]
        rows += [("positive class", f"fitness {html.escape(rule)}")]
    else:
        rows.append(("label column", _column(i["label_col"], i, "label")))
    if i.get("translated_from_dna"):
        rows.append(("DNA", "translated to protein before training"))
    rows += [
        ("rows read", f"{c['n_input_rows']:,} ({c['n_dropped']:,} dropped)"),
        ("rows scored", f"{c['n_rows']:,} ({c.get('n_sequences', c['n_rows']):,} sequences)"),
    ]
    rows += [(f"class {k}", f"{v:,} rows") for k, v in c["class_counts"].items()]
    rows += [
        ("repeated sequences", f"{c['n_replicate_groups']:,}"),
        ("with conflicting labels", f"{c['n_conflicting_groups']:,}"),
    ]
    return _pairs(rows)


def _column(name, record: dict, role: str) -> str:
    found = " (found by name)" if role in record.get("found_by_name", ()) else ""
    return f"<code>{html.escape(str(name))}</code>{found}"


def _noise_table(n: dict) -> str:
    lo, hi = n["interval"]
    rows = [
        (
            "noise rate",
            f"<b>{n['noise_rate']:.3f}</b> [{lo:.3f}, {hi:.3f}] ({n['level']:.0%} interval)",
        )
    ]
    rows += [(f"flip {k}", f"{v:.3f}") for k, v in n["flip_rates"].items()]
    rows.append(
        (
            "method",
            f"{n['method']} on {n['n_rows']:,} rows, {n['n_repeats']} cross-validation repeat(s)",
        )
    )
    cj = n.get("confident_joint")
    if cj:
        clo, chi = cj["interval"]
        rows.append(
            (
                "confident joint",
                f"{cj['noise_rate']:.3f} [{clo:.3f}, {chi:.3f}]: also counts the model's own "
                "errors as wrong labels, so it reads high where the model is weak",
            )
        )
    rep = n.get("replicates")
    if not rep:
        return _pairs([*rows, ("replicates", "none: no sequence is measured twice")])
    rlo, rhi = rep["interval"]
    rows += [
        ("replicate estimate", f"<b>{rep['noise_rate']:.3f}</b> [{rlo:.3f}, {rhi:.3f}]"),
        (
            "from",
            f"{rep['n_groups']:,} repeated sequences, {rep['n_pairs']:,} pairs; "
            f"each sequence counts once ({rep['weighting']})",
        ),
        ("pairs that disagree", f"{rep['disagreement']:.1%} of a sequence's pairs, on average"),
        (
            "evidence",
            f"the most measured sequence supplies {rep['pair_share_top1']:.0%} of the "
            f"pairs, the five most measured {rep['pair_share_top5']:.0%}",
        ),
    ]
    for ctl in rep.get("controls", []):
        counts = ", ".join(f"{v:,} × {k}" for k, v in ctl["label_counts"].items())
        rows.append(
            (
                "control, left out",
                f"<span class='seq'>{_text(ctl['sequence'])}</span> "
                f"measured {ctl['n_rows']:,} times ({counts})",
            )
        )
    return _pairs(rows)


def _models(report: dict) -> str:
    yard = report.get("yardstick") or {}
    classes = list(next(iter(report["models"].values())).get("recall", {}))
    head = ["model", "log-loss", "accuracy", *(f"recall {c}" for c in classes)]
    rows = []
    for name, m in report["models"].items():
        label = f"blend ({report['blend']['lstm_weight']:.2f} LSTM)" if name == "blend" else name
        recall = [m["recall"][c] for c in classes]
        rows.append(
            [label, f"{m['log_loss']:.4f}", f"{m['accuracy']:.3f}", *(f"{r:.3f}" for r in recall)]
        )
    if yard:
        major = yard["majority_class"]
        rows.append(
            [
                f"majority class ('{major}' everywhere)",
                f"{yard['prior_log_loss']:.4f}",
                f"{yard['majority_accuracy']:.3f}",
                *("1.000" if c == major else "0.000" for c in classes),
            ]
        )
    table = grid_table(head, rows, numeric=set(head[1:]))
    blend = report["blend"]["lstm_weight"]
    return table + (
        f"<p>The scores come from the blend {blend:.2f} × LSTM + {1 - blend:.2f} × baseline, "
        "the weight with the lowest out-of-sample log-loss. Against the given labels, which "
        "are noisy. The majority-class row predicts the most common class everywhere (its "
        "log-loss: predicting the class frequencies): a model is only worth what it adds to it."
        "</p>"
    )


def figures_html(figures: dict[str, str | None]) -> str:
    """Titled base64 PNGs as a grid of figures; a None figure is left out."""
    items = "".join(
        f"<figure><figcaption>{html.escape(t)}</figcaption>"
        f"<img alt='{html.escape(t)}' src='data:image/png;base64,{b}'></figure>"
        for t, b in figures.items()
        if b is not None
    )
    return f"<div class='figs'>{items}</div>"


def _worklist_title(report: dict, worklist: pd.DataFrame) -> str:
    shown = min(len(worklist), WORKLIST_LINES)
    return f"Worklist (first {shown} of {len(worklist):,} {_unit(report)}; all in worklist.csv)"


def _tiers(report: dict) -> str:
    record = report.get("worklist") or {}
    counts = ", ".join(f"{n:,} {t}" for t, n in record.get("tiers", {}).items())
    near = record.get("near_threshold")
    cut = report["input"].get("threshold")
    if near and near["rule"] == "replicate scatter":
        rule = (
            f" Near the threshold ({cut:.4g}): within {near['sd']:.3g}, one standard deviation "
            f"of the repeated sequences' fitness ({near['degrees_of_freedom']:,} degrees of "
            "freedom), so that a re-measurement could fall on either side."
        )
    elif near:
        rule = (
            f" Near the threshold ({cut:.4g}): among the {near['share']:.0%} of the "
            "measurements on its side closest to it (too few repeats to measure the scatter)."
        )
    else:
        rule = ""
    return (
        f"<p>Tiers: {counts}. likely wrong: the model gives the label under 10 %; possibly "
        f"wrong: under 40 %; ambiguous: the model barely disagrees, or the fitness lies near "
        f"the threshold: re-measure to be sure, not to correct.{html.escape(rule)}</p>"
    )


def _worklist(worklist: pd.DataFrame) -> str:
    top = worklist.head(WORKLIST_LINES)
    numeric = {c for c in top.columns if pd.api.types.is_numeric_dtype(top[c])}
    mono = {c for c in top.columns if c == "sequence" or _looks_like_sequences(top[c])}
    # A sequence stays on one line up to 36 residues (AAV2's longest); longer ones wrap.
    widths = {c: min(36, int(top[c].astype(str).str.len().max())) for c in mono if len(top)}
    rows = [
        [_cell(c, v) for c, v in zip(top.columns, rec, strict=True)]
        for rec in top.itertuples(index=False)
    ]
    table = grid_table(
        list(top.columns), rows, numeric=numeric, mono=mono, css="worklist", raw=True, widths=widths
    )
    return f"<div class='wrap'>{table}</div>"


def _cell(column: str, value) -> str:
    if column == "tier" and value in TIERS:
        return f"<span class='tier t{TIERS.index(value)}'>{html.escape(value)}</span>"
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (bool, np.bool_)):  # as in worklist.csv
        return "true" if value else "false"
    return _text(value)


def _looks_like_sequences(values: pd.Series) -> bool:
    text = values.dropna().astype(str)
    return len(text) > 0 and bool(text.str.fullmatch(r"[A-Z*\-]{6,}").all())


def _run_details(report: dict) -> str:
    training = report["training"]
    folds = training["folds"]
    keys = list(next(iter(folds.values()), {}))
    fold_rows = [[str(int(f) + 1), *(_text(v) for v in rec.values())] for f, rec in folds.items()]
    parts = [
        f"<p>First noise estimate (baseline, sets the LSTM's batch): "
        f"{training['first_noise_estimate']:.3f}</p>",
        "<h3>LSTM training per fold</h3>",
        grid_table(
            ["fold", *keys],
            fold_rows,
            numeric={"fold", "batch_size", "learning_rate", "best_epoch", "epochs_run"},
            raw=True,
        ),
        "<div class='grid'>",
        f"<div><h3>Configuration</h3>{_pairs(_flat(report['config']))}</div>",
        f"<div><h3>Timings</h3>{_pairs([(k, f'{v:.1f} s') for k, v in report['timings'].items()])}"
        "</div>",
        f"<div><h3>Versions</h3>{_pairs(_flat(report['versions']))}</div>",
        f"<div><h3>Outputs</h3>{_pairs(_flat(report['outputs']))}</div>",
        "</div>",
    ]
    return "".join(parts)


def _flat(record: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in record.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", _text(value)))
    return rows


def _pairs(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def grid_table(head, rows, *, numeric=(), mono=(), css="", raw=False, widths=None) -> str:
    """A table with a header row; numeric columns right-aligned, sequences monospace.

    ``widths`` gives a column a minimum width in characters; header names may wrap
    after an underscore, so long names do not widen their column.
    """
    widths = widths or {}

    def cls(column):
        names = ["num" if column in numeric else "", "seq" if column in mono else ""]
        return f" class='{' '.join(n for n in names if n)}'" if any(names) else ""

    def header(column):
        width = f" style='min-width:{widths[column]}ch'" if column in widths else ""
        name = html.escape(str(column)).replace("_", "_<wbr>")
        return f"<th{cls(column)}{width}>{name}</th>"

    th = "".join(header(c) for c in head)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{cls(c)}>{v if raw else html.escape(str(v))}</td>"
            for c, v in zip(head, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table class='{css}'><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _text(value) -> str:
    text = html.escape(str(value))
    # Let long ';'-joined lists of rows wrap after each separator.
    return re.sub(r"; ", "; <wbr>", text)
