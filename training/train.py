"""Runs one training stage with checkpoints, resumable after a kill (BackupAndRestore), and logs.

Outputs in `--out`: `best.keras` (best validation loss), `final.keras`, `backup/` (resume state, removed
when the run completes), `log.csv`, `tensorboard/`, `learning_curve.png`, `config.yaml`.
"""

import json
import time
from pathlib import Path

import keras
import tensorflow as tf
import yaml

from training.callbacks import LearningCurvePlot, SaveBestModel, loss_view
from training.stages import BUILDERS, _schedule, datasets


def strategy_for_devices():
    """MirroredStrategy over all GPUs when there is more than one, else the default (CPU or one GPU)."""
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def resume_point(backup_dir):
    """(epoch, step) of the last backup that BackupAndRestore will resume from, or None."""
    metadata = Path(backup_dir) / "training_metadata.json"
    if not metadata.is_file():
        return None
    state = json.loads(metadata.read_text())
    return int(state.get("epoch", 0)), int(state.get("batch", -1) or 0)


def run(config, out, verbose="auto"):
    """Trains `config["stage"]` into the folder `out`; returns the Keras History."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    strategy = strategy_for_devices()
    # The data pipeline batches globally; the strategy splits each batch over its replicas.
    train, val = datasets(config)
    with strategy.scope():
        # a stage returns (model, loss, metrics) and, when it trains a view of the model, that view
        model, loss, metrics, *view = BUILDERS[config["stage"]](config)
        loss, loss_weights = loss if isinstance(loss, tuple) else (loss, None)
        trainer = view[0] if view else loss_view(model, loss) if isinstance(loss, dict) else model
        trainer.compile(optimizer=keras.optimizers.Adam(_schedule(config)), loss=loss, loss_weights=loss_weights,
                        metrics=metrics, jit_compile=False)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out / "backup"), save_freq=config["backup_every_steps"],
                                         delete_checkpoint=True, double_checkpoint=True),  # a kill mid-write keeps the previous backup
        SaveBestModel(model, out / "best.keras", monitor="val_loss", log_path=out / "log.csv"),
        keras.callbacks.CSVLogger(str(out / "log.csv"), append=True),
        keras.callbacks.TensorBoard(str(out / "tensorboard"), update_freq="epoch", write_graph=False),
        keras.callbacks.TerminateOnNaN(),
        LearningCurvePlot(out / "log.csv", out / "learning_curve.png"),
    ]
    resumed = resume_point(out / "backup")
    if resumed:
        print(f"resuming {config['stage']} from epoch {resumed[0] + 1}, step {resumed[1] + 1} ({out / 'backup'})",
              flush=True)
    start = time.time()
    history = trainer.fit(train, validation_data=val, epochs=config["epochs"],
                          steps_per_epoch=config["steps_per_epoch"], callbacks=callbacks, verbose=verbose)
    model.save(out / "final.keras")
    summary = {"stage": config["stage"], "wall_seconds": round(time.time() - start, 1),
               "epochs": config["epochs"], "steps": config["epochs"] * config["steps_per_epoch"],
               "final": {k: float(v[-1]) for k, v in history.history.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return history
