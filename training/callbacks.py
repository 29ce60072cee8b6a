"""Callbacks beyond Keras' own: the best model saved apart from the trained view, a learning-curve plot."""

import csv
import math
import os
from pathlib import Path

import keras


def loss_view(model, loss_names):
    """`model` itself, or a functional view of it with only the outputs in `loss_names` (same weights).

    Keras 3 wants a target for every output of a dict-output model, even one without a loss (AlphaNet's
    trimap, and its segmentation when only the matting loss flows back): train the view instead.
    """
    if set(model.output_names) <= set(loss_names):
        return model
    image = keras.Input(shape=model.input_shape[1:], name="image")
    outputs = model(image)
    return keras.Model(image, {k: outputs[k] for k in loss_names}, name=f"{model.name}_training_view")


class SaveBestModel(keras.callbacks.Callback):
    """Saves `model` (not necessarily the one being fit: the full model behind a `loss_view`) to `path`
    whenever `monitor` improves; written to a temporary file and renamed, so a kill never leaves half a file.
    A resumed run starts from the best value of the run's CSV log (`log_path`) when `path` exists, so its
    first epoch does not replace a better `best.keras` of the epochs before the kill.
    """

    def __init__(self, model, path, monitor="val_loss", log_path=None):
        super().__init__()
        self.to_save, self.path, self.monitor = model, Path(path), monitor
        self.best = best_logged(log_path, monitor) if log_path and self.path.is_file() else math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not value < self.best:
            return
        self.best = float(value)
        # Saved into a side folder under the final name, then renamed: also moves files a model's `save`
        # writes beside the main one (HAttGAN's `<stem>_discriminator.keras`) under their right names.
        tmp_dir = self.path.parent / f".{self.path.stem}.saving"
        tmp_dir.mkdir(exist_ok=True)
        self.to_save.save(tmp_dir / self.path.name)
        for file in tmp_dir.iterdir():
            os.replace(file, self.path.parent / file.name)
        tmp_dir.rmdir()


def best_logged(csv_path, column) -> float:
    """The lowest value of `column` in a CSV log (inf when the file or the column is missing)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        return math.inf
    with csv_path.open(newline="") as f:
        values = [float(row[column]) for row in csv.DictReader(f) if row.get(column) not in (None, "")]
    return min(values, default=math.inf)


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
        if "loss" in key:  # CSVLogger writes "NA" for a metric an epoch did not log (a resumed run)
            points = [(e, float(r[key])) for e, r in zip(epochs, rows) if r.get(key) not in (None, "", "NA")]
            if points:
                ax.plot(*zip(*points), label=key, marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return True
