"""Does early stopping on noisy labels stop at the right epoch?

Early stopping scores each epoch on a held-out slice whose labels are as noisy as
the rest: the audit's fold models keep the epoch with the lowest loss, ``labtriage
train`` the latest within two standard errors of it (``TrainConfig.stop_tolerance``).
This script trains one model per (flip rate, learning-rate schedule) with early
stopping switched off and, after every epoch, records that noisy held-out loss next
to what it stands in for: accuracy and AUROC on a test split scored against the
clean labels. The epoch marked as picked is the one ``train``'s rule keeps. If clean
accuracy kept rising after it, early stopping would be stopping too soon.

Schedules: ``constant`` (the previous default) and ``cosine`` (shipped: the learning
rate decays to zero over the run; ``TrainConfig.schedule``). The model, the batch rule
(``--batch-size auto`` with the true rate as its hint) and the split are those of
``robustness.py``.

Merges its rows into ``bench/results/epochs.csv`` (replacing only the traces it reran) and
redraws ``docs/figures/epochs.png`` and the table between the epochs markers in
``docs/benchmarks.md`` from that file.
Usage: ``python bench/epochs.py`` (simulated 250,000 rows, rates 0.1, 0.2 and
0.45, 12 epochs; about 16 minutes on 2 CPU cores) or ``--quick`` (8,000 rows, 3
epochs); ``--schedules`` and ``--lr`` trace other settings beside the shipped ones.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from doc import command_line, in_order, markdown_table, merge_results, provenance, write_block
from quality import simulated
from robustness import split
from sklearn.metrics import roc_auc_score

from labtriage.model import LSTMClassifier, LSTMNet
from labtriage.noise import inject_label_noise
from labtriage.train import TrainConfig, noise_scaled_batch_size, predict_logits, train_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "epochs.csv"
FIGURE = ROOT / "docs" / "figures" / "epochs.png"
SCHEDULES = ("constant", "cosine")


def trace(
    codes, truth, rate: float, schedule: str, *, epochs: int, lr: float | None = None, seed: int = 0
) -> list[dict]:
    """One model trained ``epochs`` epochs without early stopping; a row per epoch.

    ``lr`` other than the shipped one is recorded in the schedule's label.
    """
    x_train, y_train, x_test, y_test = split(codes, truth)
    noisy, _ = inject_label_noise(y_train, rate, n_classes=2, seed=1)
    val = np.random.default_rng(seed + 1).random(len(noisy)) < 0.1
    batch = noise_scaled_batch_size(rate, n_classes=2, n_train=int((~val).sum()))
    shipped = LSTMClassifier().get_params()
    torch.manual_seed(seed)
    net = LSTMNet(
        2,
        max_length=codes.shape[1],
        embed_dim=shipped["embed_dim"],
        hidden_dim=shipped["hidden_dim"],
        dropout=shipped["dropout"],
    )
    net.generator = torch.Generator().manual_seed(seed + 1)
    config = TrainConfig(
        epochs=epochs, batch_size=batch, patience=epochs + 1, schedule=schedule, device="cpu"
    )
    if lr is not None:
        config.lr = lr
        schedule = f"{schedule}, lr {lr:g}"
    rows, t0 = [], time.perf_counter()

    def record(epoch: int, _: int, val_loss: float) -> None:
        logits = predict_logits(net, x_test, device=torch.device("cpu"))
        net.train()  # the loop sets train mode only at the start of the next epoch
        rows.append(
            {
                "injected": rate,
                "schedule": schedule,
                "batch_size": batch,
                "epoch": epoch,
                "noisy_val_loss": round(val_loss, 5),
                "clean_test_accuracy": round(float((logits.argmax(1) == y_test).mean()), 4),
                "clean_test_auroc": round(roc_auc_score(y_test, logits[:, 1] - logits[:, 0]), 4),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(rows[-1], flush=True)

    result = train_model(net, x_train, noisy, config=config, val_mask=val, on_epoch=record)
    for row in rows:
        row["picked_by_noisy_loss"] = row["epoch"] == result.best_epoch
    return rows


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, rate, schedule): the epoch the noisy loss picks against the best."""
    out = []
    keys = ["dataset", "injected", "schedule"]
    for (dataset, rate, schedule), rows in results.groupby(keys, sort=False):
        picked = rows[rows["picked_by_noisy_loss"]].iloc[0]
        best = rows.loc[rows["clean_test_auroc"].idxmax()]
        out.append(
            {
                "dataset": dataset,
                "injected": rate,
                "schedule": schedule,
                "batch": int(picked["batch_size"]),
                "epoch picked by noisy loss": int(picked["epoch"]),
                "picked: accuracy / AUROC": _pair(picked),
                "epoch with best clean AUROC": int(best["epoch"]),
                "best: accuracy / AUROC": _pair(best),
                "last epoch: accuracy / AUROC": _pair(rows.iloc[-1]),
            }
        )
    return pd.DataFrame(out)


def _pair(row) -> str:
    return f"{row['clean_test_accuracy']:.4f} / {row['clean_test_auroc']:.4f}"


def plot(results: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = list(dict.fromkeys(zip(results["dataset"], results["injected"], strict=True)))
    fig, axes = plt.subplots(2, len(panels), figsize=(4.5 * len(panels), 5.4), squeeze=False)
    for col, (dataset, rate) in enumerate(panels):
        panel = results[(results["dataset"] == dataset) & (results["injected"] == rate)]
        for schedule, rows in panel.groupby("schedule", sort=False):
            axes[0][col].plot(rows["epoch"], rows["noisy_val_loss"], marker="o", label=schedule)
            axes[1][col].plot(rows["epoch"], rows["clean_test_auroc"], marker="o", label=schedule)
            picked = rows[rows["picked_by_noisy_loss"]]
            axes[1][col].scatter(
                picked["epoch"],
                picked["clean_test_auroc"],
                s=120,
                c="none",
                edgecolors="black",
                zorder=3,
            )
        axes[0][col].set(
            title=f"{dataset}, {rate:.0%} flipped", ylabel="held-out loss (noisy labels)"
        )
        axes[1][col].set(xlabel="epoch", ylabel="clean-test AUROC")
        for ax in (axes[0][col], axes[1][col]):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].legend(frameon=False, fontsize=8)
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8,000 rows, rate 0.2, 3 epochs")
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--rates", default="0.1,0.2,0.45", help="comma-separated flip rates")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--schedules", default=",".join(SCHEDULES), help="constant,cosine")
    parser.add_argument("--lr", type=float, help="learning rate [default: the shipped one]")
    args = parser.parse_args()
    rows, rates, epochs = args.rows, [float(r) for r in args.rates.split(",")], args.epochs
    if args.quick:
        rows, rates, epochs = 8_000, [0.2], 3
    codes, truth, _, _ = simulated(rows)
    runs = [
        trace(codes, truth, rate, schedule, epochs=epochs, lr=args.lr)
        for rate in rates
        for schedule in args.schedules.split(",")
    ]
    new = pd.DataFrame([row for run in runs for row in run]).assign(
        dataset=f"simulated 12-mers, {rows // 1000}k",
        date=date.today().isoformat(),
        command=command_line("epochs.py", parser, args),
    )
    # Replaces only the traces it reran: a quick run keeps the full run's.
    render(merge_results(RESULTS, new, keys=["dataset", "injected", "schedule"]))


def render(results: pd.DataFrame) -> None:
    """The figure and the epochs block of docs/benchmarks.md, from every saved row."""
    results = in_order(results)
    plot(results)
    write_block(
        "epochs",
        "Early stopping on noisy labels",
        provenance(results)
        + "\n\nClean-test accuracy / AUROC:\n\n"
        + markdown_table(summary(results))
        + "\n\n![noisy held-out loss and clean-test AUROC by epoch](figures/epochs.png)",
    )


if __name__ == "__main__":
    main()
