"""Callbacks beyond Keras' own: a learning-curve plot written when training ends."""

import csv
from pathlib import Path

import keras


class LearningCurvePlot(keras.callbacks.Callback):
    """Plots every loss column of the CSV log against the epoch to `learning_curve.png` at the end."""

    def __init__(self, csv_path, png_path):
        super().__init__()
        self.csv_path = Path(csv_path)
        self.png_path = Path(png_path)

    def on_train_end(self, logs=None):
        write_learning_curve(self.csv_path, self.png_path)


def write_learning_curve(csv_path, png_path):
    """Writes the plot; returns False (and writes nothing) when there is no log yet."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        return False
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in rows[0]:
        if "loss" in key:
            ax.plot(epochs, [float(r[key]) for r in rows], label=key, marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return True
