"""Trainer speed: the shipped loop against skorch and against the hardware limit.

Measured side by side in one run, on the same data, module and device:

- **shipped**: ``train.train_model`` (resident tensors, index-sliced batches), at
  the batch ``--batch-size auto`` picks for 20 % noise and at skorch's default 128;
  one model with every thread, and as the audit trains its folds: as many models at
  once as ``train.parallel_plan`` picks, threads shared out (throughput summed);
- **skorch**: the same ``LSTMNet`` under ``skorch.NeuralNetClassifier`` with its
  default training loop (DataLoader, batch 128, 20 % validation split), one model,
  and the same number of models at once for a like-for-like comparison;
- **limit**: a float32 matrix multiply's FLOP/s measured with torch on the device,
  divided by the model's FLOPs per training sequence (forward + backward taken as
  3x the forward matrix work; embeddings and element-wise work not counted, so the
  limit is generous to the hardware).

Every trainer sees the same 20 % held-out slice evaluated once per epoch and is
scored in training sequences per second of wall time; each figure is the median of
``--repeats`` runs. Then ``labtriage audit`` wall time and peak memory at
``--audit-sizes`` (simulated 12-mers, 20 % flips).

Merges its rows into ``bench/results/speed_trainer.csv`` (replacing only the same
options on the same device) and ``bench/results/speed_audit.csv`` (the same sizes on
the same device), then rewrites the speed block of ``docs/benchmarks.md`` from both.
Usage: ``python bench/speed.py [--rows 50000] [--epochs 3] [--repeats 3]
[--audit-sizes 10000,50000] [--device cpu]``; ``--profile`` prints where one
epoch of the shipped loop spends its time instead.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from doc import markdown_table, merge_results, write_block

from labtriage.encode import encode_sequences
from labtriage.model import LSTMNet
from labtriage.simulate import simulate_assay
from labtriage.train import (
    TrainConfig,
    noise_scaled_batch_size,
    parallel_plan,
    resolve_device,
    torch_threads,
    train_model,
)

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = {"embed_dim": 32, "hidden_dim": 48, "dropout": 0.3}  # as LSTMClassifier's defaults


def matmul_flops(device: torch.device, *, n: int = 2048, repeats: int = 10) -> float:
    """Median FLOP/s of an n x n float32 matrix multiply on ``device``."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


def training_flops_per_sequence(
    length: int, *, embed_dim: int, hidden_dim: int, n_classes: int = 2
) -> float:
    """Matrix FLOPs to train on one sequence: 3x the forward pass (forward + backward)."""
    gates = 4 * hidden_dim
    lstm = 2 * length * 2 * gates * (embed_dim + hidden_dim)  # 2 directions, input + recurrent
    head = 2 * (4 * hidden_dim) * hidden_dim + 2 * hidden_dim * n_classes
    return 3.0 * (lstm + head)


def throughput(train: Callable[[], int], jobs: int = 1) -> float:
    """Training sequences per second of ``jobs`` runs of ``train`` at once, in threads.

    ``train`` returns how many sequences it trained on; with ``jobs > 1`` torch's
    threads are shared out as the audit does (``train.parallel_plan``).
    """
    threads = max(1, torch.get_num_threads() // jobs)
    with torch_threads(threads):
        t0 = time.perf_counter()
        if jobs == 1:
            n = train()
        else:
            with ThreadPoolExecutor(jobs) as pool:
                n = sum(pool.map(lambda _: train(), range(jobs)))
        return n / (time.perf_counter() - t0)


def train_shipped(codes, labels, val, *, batch: int, epochs: int, device) -> int:
    """Train with the shipped loop; returns the training sequences seen."""
    net = LSTMNet(2, max_length=codes.shape[1], **MODEL)
    net.generator = torch.Generator(device=device).manual_seed(0)
    config = TrainConfig(epochs=epochs, batch_size=batch, patience=epochs + 1, device=str(device))
    train_model(net, codes, labels, config=config, val_mask=val)
    return int((~val).sum()) * epochs


def lstm_layer_only(rows: int, length: int, *, batch: int, device) -> int:
    """Forward and backward of the bare LSTM layer over ``rows`` random inputs.

    No embedding, head, optimizer or data handling: the ceiling any loop around
    this module can reach with the kernel torch uses on ``device``.
    """
    lstm = torch.nn.LSTM(
        MODEL["embed_dim"], MODEL["hidden_dim"], batch_first=True, bidirectional=True
    ).to(device)
    x = torch.randn(batch, length, MODEL["embed_dim"], device=device, requires_grad=True)
    for _ in range(max(1, rows // batch)):
        out, (h, _) = lstm(x)
        (out.sum() + h.sum()).backward()
    _sync(device)
    return max(1, rows // batch) * batch


def train_skorch(codes, labels, *, epochs: int, device) -> int:
    """Train with skorch's default loop and the same module; returns sequences seen."""
    from skorch import NeuralNetClassifier
    from skorch.dataset import ValidSplit

    torch.manual_seed(0)
    net = NeuralNetClassifier(
        LSTMNet,
        module__n_classes=2,
        module__max_length=codes.shape[1],
        **{f"module__{k}": v for k, v in MODEL.items()},
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        max_epochs=epochs,
        train_split=ValidSplit(5),  # skorch's default: 20 % held out, scored each epoch
        device=str(device),
        verbose=0,
    )
    net.fit(codes, labels)
    return round(0.8 * len(labels)) * epochs


def profile_epoch(rows: int, device: torch.device, *, top: int = 12) -> str:
    """Self time by operator for one epoch of the shipped loop (after a warm-up epoch)."""
    from torch.profiler import ProfilerActivity, profile

    codes = np.random.default_rng(0).integers(1, 21, size=(rows, 12))
    labels = np.random.default_rng(1).integers(0, 2, size=rows)
    net = LSTMNet(2, max_length=12, **MODEL)
    batch = noise_scaled_batch_size(0.2, n_classes=2, n_train=rows)
    config = TrainConfig(epochs=1, batch_size=batch, device=str(device))
    no_val = np.zeros(rows, dtype=bool)
    train_model(net, codes, labels, config=config, val_mask=no_val)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_model(net, codes, labels, config=config, val_mask=no_val)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def trainer_rows(rows: int, epochs: int, repeats: int, device: torch.device) -> pd.DataFrame:
    table = simulate_assay(rows, noise=0.2, seed=0)
    codes = encode_sequences(table["sequence"].tolist())
    labels = table["label"].to_numpy()
    val = np.random.default_rng(0).random(rows) < 0.2
    auto = noise_scaled_batch_size(0.2, n_classes=2, n_train=int((~val).sum()))
    jobs, _ = parallel_plan(device, n_models=5)  # as a 5-fold audit trains its folds

    def shipped(batch: int) -> Callable[[], int]:
        return lambda: train_shipped(codes, labels, val, batch=batch, epochs=epochs, device=device)

    def skorch() -> int:
        return train_skorch(codes, labels, epochs=epochs, device=device)

    runs = {
        f"shipped, batch {auto} (auto at 20 % noise), 1 model": (shipped(auto), 1),
        "shipped, batch 128, 1 model": (shipped(128), 1),
        "skorch defaults, batch 128, 1 model": (skorch, 1),
    }
    n_train = int((~val).sum()) * epochs

    def kernel() -> int:
        return lstm_layer_only(n_train, codes.shape[1], batch=auto, device=device)

    runs[f"ceiling: bare LSTM layer forward + backward, batch {auto}, 1 model"] = (kernel, 1)
    if jobs > 1:
        runs[f"shipped, batch {auto}, {jobs} models at once (as the audit's folds)"] = (
            shipped(auto),
            jobs,
        )
        runs[f"skorch defaults, batch 128, {jobs} models at once"] = (skorch, jobs)
        runs[f"ceiling: bare LSTM layer, batch {auto}, {jobs} models at once"] = (kernel, jobs)
    # Warm-up: the first training in a process pays for oneDNN's kernel set-up.
    train_shipped(codes[:2000], labels[:2000], val[:2000], batch=auto, epochs=1, device=device)
    speeds = {}
    for name, (run, n_jobs) in runs.items():
        speeds[name] = statistics.median(throughput(run, n_jobs) for _ in range(repeats))
        print(f"{name}: {speeds[name]:,.0f} seq/s", flush=True)
    flops = matmul_flops(device)
    per_seq = training_flops_per_sequence(
        codes.shape[1], **{k: MODEL[k] for k in ("embed_dim", "hidden_dim")}
    )
    limit = flops / per_seq
    skorch_speed = speeds["skorch defaults, batch 128, 1 model"]
    out = pd.DataFrame(
        {
            "trainer": [*speeds, "hardware limit (matmul FLOP/s / model FLOPs)"],
            "train_seq_per_s": [round(v) for v in speeds.values()] + [round(limit)],
            "vs_skorch": [round(v / skorch_speed, 2) for v in speeds.values()]
            + [round(limit / skorch_speed, 2)],
            "fraction_of_limit": [round(v / limit, 3) for v in speeds.values()] + [1.0],
        }
    )
    out.attrs.update(matmul_gflops=flops / 1e9, model_mflop=per_seq / 1e6)
    print(
        f"matmul {flops / 1e9:.1f} GFLOP/s; model {per_seq / 1e6:.2f} MFLOP per training sequence"
    )
    return out


def audit_rows(sizes: list[int], work: Path) -> pd.DataFrame:
    from acceptance import run_cli

    rows = []
    for n in sizes:
        table = work / f"sim{n}.csv"
        run_cli("simulate", str(table), "--n", str(n), "--noise", "0.2", "--quiet")
        wall, peak = run_cli("audit", str(table), "--out", str(work / f"a{n}"), "--quiet")
        rows.append({"rows": n, "wall_s": round(wall, 1), "peak_rss_mib": peak and round(peak)})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--audit-sizes", default="10000,50000")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--profile", action="store_true", help="only profile one epoch, then stop")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.profile:
        print(profile_epoch(min(args.rows, 20_000), device))
        return
    stamp = {
        "date": date.today().isoformat(),
        "device": _describe(device),
        "threads": torch.get_num_threads(),
    }
    setup = f"--rows {args.rows} --epochs {args.epochs} --repeats {args.repeats}"
    trainer = trainer_rows(args.rows, args.epochs, args.repeats, device)
    trainer = trainer.assign(**stamp, **trainer.attrs, setup=setup)
    # A run replaces only its own setup on its own device: a quick run or a GPU run
    # keeps the full CPU figures.
    merge_results(RESULTS / "speed_trainer.csv", trainer, keys=["setup", "device"])
    if args.audit_sizes:
        sizes = [int(s) for s in args.audit_sizes.split(",")]
        with tempfile.TemporaryDirectory() as tmp:
            audits = audit_rows(sizes, Path(tmp)).assign(**stamp)
        merge_results(RESULTS / "speed_audit.csv", audits, keys=["rows", "device"])
    print(trainer.to_string(index=False))
    write_doc()


def write_doc() -> None:
    """Write the speed block of docs/benchmarks.md from every row of the results CSVs."""
    trainer = pd.read_csv(RESULTS / "speed_trainer.csv")
    parts = []
    for (setup, device), rows in trainer.groupby(["setup", "device"], sort=False):
        first = rows.iloc[0]
        parts.append(
            f"Run on {first['date']}, {device}, {first['threads']} torch threads: "
            f"`python bench/speed.py {setup}`; matmul {first['matmul_gflops']:.1f} GFLOP/s, "
            f"model {first['model_mflop']:.2f} MFLOP per training sequence.\n\n"
            + markdown_table(rows[["trainer", "train_seq_per_s", "vs_skorch", "fraction_of_limit"]])
        )
    if (RESULTS / "speed_audit.csv").exists():
        runs = pd.read_csv(RESULTS / "speed_audit.csv").sort_values(["device", "rows"])
        parts.append(
            "`labtriage audit` with default options on simulated 12-mers, 20 % flips "
            "(`--audit-sizes`):\n\n"
            + markdown_table(runs[["rows", "wall_s", "peak_rss_mib", "device", "date"]])
        )
    write_block("speed", "Trainer speed", "\n\n".join(parts))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU {platform.machine()}"


if __name__ == "__main__":
    main()
