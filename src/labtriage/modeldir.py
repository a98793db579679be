"""A fitted model on disk: the directory ``labtriage train`` writes and ``predict`` reads.

::

    MODEL_DIR/
      weights.pt     the network's state dict, tensors only (torch.load weights_only=True)
      model.json     format version; the estimator (parameters, classes, maximum length,
                     alphabet, training summary, weights checksum); the table and label
                     rule it was trained on; the noise estimate, batch and schedule used;
                     held-out quality; configuration, library versions, date
      MODEL_CARD.md  for people: what it was trained on, how good it is, where not to trust it

The directory is written under a temporary sibling name and renamed into place, so
a crash never leaves a half-written model under MODEL_DIR.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

from labtriage import __version__
from labtriage.decision import decision_text
from labtriage.exceptions import ModelFileError
from labtriage.fit import FitResult
from labtriage.io import Assay
from labtriage.model import LSTMClassifier
from labtriage.modelfile import MODEL_FILE, WEIGHTS_FILE, read_model_json
from labtriage.report import check_outputs_free, library_versions
from labtriage.train import MIN_STEPS_PER_EPOCH, STOP_SLICE_ROWS

CARD_FILE = "MODEL_CARD.md"
_CROSS_ENTROPY = "ce"  # the loss whose probabilities are calibrated to the given labels
MODEL_DIR_FILES = (WEIGHTS_FILE, MODEL_FILE, CARD_FILE)
NOISE_METHOD = "confident joint of the one-hot logistic baseline, out of sample"
SUMMARY_KEYS = ("data", "label_rule", "noise_estimate", "training", "prune", "held_out", "decision")


def write_model_dir(
    directory: str | os.PathLike,
    fit_result: FitResult,
    assay: Assay,
    config: dict,
    *,
    force: bool = False,
) -> dict:
    """Write ``weights.pt``, ``model.json`` and ``MODEL_CARD.md`` into ``directory``.

    Parameters
    ----------
    directory : str or path-like
        Must not exist unless ``force`` (then it is replaced whole).
    fit_result : FitResult
        From ``fit.fit_assay`` on ``assay``.
    assay : Assay
        The table the model was fitted on.
    config : dict
        The options the model was trained with (recorded as given).

    Returns
    -------
    dict
        The contents of ``model.json``.
    """
    directory = Path(directory)
    check_outputs_free([directory], force=force)
    metadata = model_metadata(fit_result, assay, config)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir()
    try:
        fit_result.model.save(tmp, metadata=metadata)
        doc = read_model_json(tmp)
        (tmp / CARD_FILE).write_text(render_card(doc), encoding="utf-8")
        _move_into_place(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return doc


def read_model_dir(directory: str | os.PathLike) -> tuple[LSTMClassifier, dict]:
    """The fitted model in ``directory`` and the contents of its ``model.json``.

    Raises
    ------
    ModelFileError
        Not a directory, or a file in it missing, corrupted or of another format version.
    """
    if not Path(directory).is_dir():
        raise ModelFileError(f"{directory} is not a model directory: give what train --out wrote")
    return LSTMClassifier.load(directory), read_model_json(directory)


def model_metadata(fit_result: FitResult, assay: Assay, config: dict) -> dict:
    """What ``model.json`` says beside the estimator: data, label rule, training, quality."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": _data_record(assay),
        "label_rule": {
            "sequence_col": assay.sequence_col,
            "translated_from_dna": assay.translated,
            "label_col": assay.label_col,
            "fitness_col": assay.fitness_col,
            "threshold_spec": assay.threshold_spec,
            "threshold": assay.threshold,
            "positive": assay.positive,
        },
        "noise_estimate": {
            "noise_rate": fit_result.noise_rate,
            "method": NOISE_METHOD,
            "folds": fit_result.n_folds,
            "baseline": fit_result.baseline,
        },
        "training": _training_record(fit_result.model),
        # Prune and retrain: how it was decided, and the rows (0-based) the audit
        # flagged and the fit left out.
        "prune": fit_result.prune,
        "pruned_rows": None
        if fit_result.pruned_rows is None
        else [int(r) for r in assay.row[fit_result.pruned_rows]],
        "held_out": fit_result.held_out,
        "decision": fit_result.decision,
        "config": config,
        "versions": library_versions(),
        "timings": fit_result.timings,
    }


def model_summary(doc: dict, directory: str | os.PathLike) -> dict:
    """The parts of ``model.json`` a person or a script reads first (``train --json``)."""
    return {
        "model_dir": str(directory),
        "classes": doc["estimator"]["classes"],
        "max_length": doc["estimator"]["max_length"],
        **{key: doc.get(key) for key in SUMMARY_KEYS},
    }


def _data_record(assay: Assay) -> dict:
    lengths = [len(s) for s in assay.sequences]
    return {
        "path": str(Path(assay.path).resolve()),
        "sha256": hashlib.sha256(Path(assay.path).read_bytes()).hexdigest(),
        "n_input_rows": len(assay.frame),
        "n_rows": assay.n_rows,
        "n_dropped": len(assay.dropped_rows),
        "n_distinct_sequences": int(assay.groups.max()) + 1,
        "class_counts": {
            str(c): int((assay.labels == k).sum()) for k, c in enumerate(assay.classes)
        },
        "min_length": min(lengths),
        "max_length": max(lengths),
    }


def _training_record(model: LSTMClassifier) -> dict:
    result, params = model.train_result_, model.get_params()
    return {
        "batch_size": result.batch_size,
        "batch_size_option": params["batch_size"],
        "learning_rate": result.lr,
        "schedule": params["schedule"],
        "loss": params["loss"],
        "epochs_option": params["epochs"],
        "max_epochs": model.max_epochs(len(model.val_mask_)),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stop_tolerance": params["stop_tolerance"],
        "stop_slice_rows": STOP_SLICE_ROWS,  # its standard errors: of at least this many rows
        "device": result.device,
        "n_train_rows": int((~model.val_mask_).sum()),
        "n_held_out_rows": int(model.val_mask_.sum()),
    }


def _move_into_place(tmp: Path, directory: Path) -> None:
    """Rename ``tmp`` to ``directory``, replacing what is there (``force`` was checked)."""
    if not (directory.exists() or directory.is_symlink()):
        os.replace(tmp, directory)
        return
    old = tmp.with_name(tmp.name[: -len(".tmp")] + ".old")
    os.replace(directory, old)
    os.replace(tmp, directory)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    else:
        old.unlink()


def render_card(doc: dict) -> str:
    """``MODEL_CARD.md``: what the model was trained on, how good it is, where not to trust it."""
    return "\n".join(
        [
            f"# labtriage model card\n\nWritten {doc['created']} by labtriage {__version__}.\n",
            *_card_data(doc),
            *_card_quality(doc),
            *_card_training(doc),
            *_card_limits(doc),
        ]
    )


def _card_data(doc: dict) -> list[str]:
    d, rule = doc["data"], doc["label_rule"]
    dropped = f"; {d['n_dropped']:,} invalid rows dropped" if d["n_dropped"] else ""
    counts = ", ".join(f"`{c}` {n:,} rows" for c, n in d["class_counts"].items())
    dna = ", DNA translated to protein" if rule["translated_from_dna"] else ""
    return [
        "## Trained on\n",
        f"- file: `{d['path']}` (SHA-256 `{d['sha256'][:16]}…`)",
        f"- rows: {d['n_rows']:,} of {d['n_input_rows']:,}{dropped}; "
        f"{d['n_distinct_sequences']:,} distinct sequences, {lengths_text(d)}",
        f"- classes: {counts}",
        f"- labels: {label_rule_text(rule)}",
        f"- sequences: column `{rule['sequence_col']}`{dna}\n",
    ]


def lengths_text(data: dict) -> str:
    """The sequence lengths trained on, in words."""
    low, high = data["min_length"], data["max_length"]
    return f"length {low}" if low == high else f"lengths {low} to {high}"


def batch_text(training: dict) -> str:
    """The batch size and the rule that set it, in words."""
    if training["batch_size_option"] != "auto":
        return f"{training['batch_size']:,} (as given)"
    capped = training["batch_size"] == max(1, training["n_train_rows"] // MIN_STEPS_PER_EPOCH)
    rule = f", capped at {MIN_STEPS_PER_EPOCH} steps an epoch" if capped else ""
    return f"{training['batch_size']:,} (grown with the noise{rule})"


def epochs_text(training: dict) -> str:
    """Epochs run, of what budget, and the one kept, in words."""
    budget = f"at most {training['max_epochs']}"
    if training.get("epochs_option") == "auto":
        budget += ", set by the table's size"
    return f"{training['epochs_run']} run ({budget}), kept {training['best_epoch']}"


def label_rule_text(rule: dict) -> str:
    """How the classes were made, in words."""
    if rule["fitness_col"] is None:
        return f"column `{rule['label_col']}` as given"
    return (
        f"column `{rule['fitness_col']}` cut at {rule['threshold_spec']} "
        f"(= {rule['threshold']:g}): class 1 strictly {rule['positive']} it, class 0 the rest"
    )


def _card_quality(doc: dict) -> list[str]:
    h, noise = doc["held_out"], doc["noise_estimate"]
    if h is None:
        return ["## Quality\n", "Unmeasured: under 10 distinct sequences, no held-out slice.\n"]
    base = noise["baseline"]
    recall = ", ".join(f"`{c}` {r:.3f}" for c, r in h["recall"].items() if r is not None)
    return [
        "## Quality, out of sample\n",
        f"On its held-out slice ({h['n_rows']:,} rows: 10 % of the distinct sequences, "
        "never trained on), against the given labels:\n",
        "| | accuracy | log-loss |",
        "|---|---:|---:|",
        f"| this model | {h['accuracy']:.3f} | {h['log_loss']:.4f} |",
        f"| always `{h['majority_class']}` (majority class) | {h['majority_accuracy']:.3f} | |",
        f"| one-hot logistic baseline, {noise['folds']}-fold on all rows | "
        f"{base['accuracy']:.3f} | {base['log_loss']:.4f} |\n",
        f"Recall per class: {recall}.\n",
        f"The given labels are themselves noisy (an estimated {noise['noise_rate']:.1%} are "
        "wrong), so accuracy against the true labels is higher for symmetric noise. A "
        "model barely above the majority class has learned little.\n",
    ]


def _card_training(doc: dict) -> list[str]:
    t, noise, config = doc["training"], doc["noise_estimate"], doc.get("config", {})
    return [
        "## Training\n",
        f"- noise estimate used: {noise['noise_rate']:.3f} ({noise['method']}, "
        f"{noise['folds']} folds)",
        f"- batch size {batch_text(t)}, learning rate {t['learning_rate']:g}, "
        f"{t['schedule']} schedule, loss {t['loss']}",
        f"- epochs: {epochs_text(t)} (the latest within noise of the lowest held-out loss)",
        f"- {t['n_train_rows']:,} rows trained on, {t['n_held_out_rows']:,} held out; device "
        f"{t['device']}, seed {config.get('seed')}",
        f"- predicted_label: {decision_text(doc.get('decision') or {})}",
        f"- pruning: {prune_text(doc)}\n",
    ]


def prune_text(doc: dict) -> str:
    """Whether the fit left out the rows the audit flagged, and why, in words."""
    rule, rows = doc.get("prune") or {}, doc.get("pruned_rows")
    if not rule:  # model directories from before the record
        return "none" if rows is None else f"{len(rows):,} rows the audit flagged, left out"
    read = f"noise read at the top of the baseline's rankings {rule['noise_read_at_top']:.3f}"
    if rule["pruned"]:
        why = "asked" if rule["asked"] is True else f"{read} >= {rule['auto_threshold']:g}"
        n = len(rows)
        return f"{n:,} row{'' if n == 1 else 's'} the audit flagged, left out ({why})"
    if rule["asked"] is False:
        return "none (--no-prune)"
    return f"none ({read} < {rule['auto_threshold']:g})"


def _card_limits(doc: dict) -> list[str]:
    d, noise, h = doc["data"], doc["noise_estimate"], doc["held_out"]
    lines = [
        "## Where not to trust it\n",
        f"- Sequences far from the training library. It learned from "
        f"{d['n_distinct_sequences']:,} distinct sequences: variants many mutations away "
        "from all of them, other scaffolds, or residues never seen at a position are "
        "extrapolation, however confident the prediction.",
        f"- Lengths other than those seen ({lengths_text(d)}). Shorter "
        "sequences are padded and scored, but lengths never seen in training are untested; "
        f"longer than {doc['estimator']['max_length']} are refused.",
        f"- The noise estimate ({noise['noise_rate']:.3f}) comes from a linear baseline "
        f"(accuracy {noise['baseline']['accuracy']:.3f} against the given labels). A weak "
        "model's own errors count as label noise, so the estimate can be inflated, and "
        "with it the batch size.",
        _probabilities_caveat(doc["training"]["loss"], pruned=doc.get("pruned_rows") is not None),
    ]
    if h is not None and h["n_rows"] < 500:
        lines.append(
            f"- The held-out slice is small ({h['n_rows']:,} rows): its figures are rough."
        )
    return [*lines, ""]


def _probabilities_caveat(loss: str, *, pruned: bool = False) -> str:
    if loss == _CROSS_ENTROPY and pruned:
        return (
            "- Probabilities follow the labels of the rows kept after pruning: cleaner than "
            "the table's, so they lean towards how likely the label is true, but the flips "
            "the audit missed are still in them, and the held-out figures, measured on kept "
            "rows, read high."
        )
    if loss == _CROSS_ENTROPY:
        return (
            "- Probabilities follow the given labels, noise included: they say how likely a "
            "measurement is to give each label, not how likely the label is true."
        )
    return (
        f"- Trained with the {loss!r} loss, its probabilities are not calibrated to the "
        "given labels: read them as a ranking, not as frequencies."
    )
