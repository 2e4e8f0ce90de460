#!/usr/bin/python3
"""Plots for ternserve-train (run with Debian's /usr/bin/python3 and python3-matplotlib).

  plot_training.py curve  RUN.curve.csv  OUT.png   accuracy and loss per epoch
  plot_training.py pareto RUN.search.csv OUT.png   test accuracy vs MACs: every evaluated sub-net in grey,
                                                   the Pareto front outlined, the chosen set highlighted
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def curve(rows, out):
    epochs = [int(r["epoch"]) for r in rows]
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(10, 4))
    acc.plot(epochs, [100 * float(r["val_acc_largest"]) for r in rows], "o-", label="largest sub-net")
    acc.plot(epochs, [100 * float(r["val_acc_smallest"]) for r in rows], "s-", label="smallest sub-net")
    acc.set(xlabel="epoch", ylabel="validation accuracy (%)", title="Validation accuracy (own BN statistics)")
    acc.grid(alpha=0.3)
    acc.legend()
    loss.plot(epochs, [float(r["train_loss"]) for r in rows], "o-", color="tab:red")
    loss.set(xlabel="epoch", ylabel="cross-entropy (label smoothing 0.1)", title="Training loss, largest sub-net")
    loss.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def pareto(rows, out):
    fig, ax = plt.subplots(figsize=(7, 5))
    macs = [int(r["macs"]) / 1e6 for r in rows]
    test = [100 * float(r["test_accuracy"]) for r in rows]
    ax.scatter(macs, test, s=12, color="0.7", label=f"evaluated ({len(rows)})")
    front = sorted((m, t) for m, t, r in zip(macs, test, rows) if r["pareto"] == "1")
    ax.plot([m for m, _ in front], [t for _, t in front], "-", color="tab:blue", lw=1, label="Pareto front (val)")
    chosen = [(m, t) for m, t, r in zip(macs, test, rows) if r["chosen"] == "1"]
    ax.scatter([m for m, _ in chosen], [t for _, t in chosen], s=40, color="tab:orange", edgecolor="k", zorder=3,
               label=f"in the bundle ({len(chosen)})")
    ax.set_xscale("log")
    ax.set(xlabel="MACs per image (millions, log scale)", ylabel="test accuracy (%)",
           title="Sub-nets: accuracy vs cost")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("curve", "pareto"):
        sys.exit(__doc__)
    {"curve": curve, "pareto": pareto}[sys.argv[1]](read(sys.argv[2]), sys.argv[3])
