import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training.config import DEFAULTS, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_config_defaults_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\nlearning_rate: 0.01\n")
    config = load_config("matting", path, {"batch_size": 2, "size": None})
    assert config["epochs"] == 3 and config["learning_rate"] == 0.01 and config["batch_size"] == 2
    assert config["size"] == DEFAULTS["matting"]["size"] and config["stage"] == "matting"
    assert load_config("matting", "matting.yaml")["attention"] is True  # found in training/configs


def test_config_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("epochz: 3\n")
    with pytest.raises(ValueError, match="epochz"):
        load_config("matting", tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config("matting", tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="unknown stage"):
        load_config("teleport")


def _train(out, config):
    command = [sys.executable, "-m", "training", "matting", "--config", str(config), "--out", str(out),
               "--threads", "1"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_killed_run_resumes_mid_epoch(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text("size: 64\nbatch_size: 2\nepochs: 2\nsteps_per_epoch: 8\nval_size: 2\n"
                      "backup_every_steps: 2\n")
    out = tmp_path / "run"
    metadata = out / "backup" / "training_metadata.json"
    first = _train(out, config)
    deadline = time.time() + 300
    while time.time() < deadline and first.poll() is None:
        if metadata.is_file() and json.loads(metadata.read_text()).get("batch", -1) >= 3:
            break
        time.sleep(0.2)
    assert first.poll() is None, first.stdout.read()
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = json.loads(metadata.read_text())
    assert killed_at["epoch"] == 0 and killed_at["batch"] >= 3  # mid-epoch

    second = _train(out, config)
    output, _ = second.communicate(timeout=600)
    assert second.returncode == 0, output
    assert f"resuming matting from epoch 1, step {killed_at['batch'] + 1}" in output
    assert (out / "final.keras").is_file() and (out / "best.keras").is_file()
    assert not (out / "backup").exists()  # removed once the run completed
    rows = (out / "log.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1"]
    assert (out / "learning_curve.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 16


def test_end2end_stage_trains_only_the_matting_loss_and_saves_a_full_alphanet(tiny_model_path, tmp_path):
    """Keras 3 wants a target per output: the stage trains a view without the trimap/segmentation outputs,
    and best.keras / final.keras are still the whole AlphaNet (what `training.assemble --alphanet` reads)."""
    import keras
    import numpy as np

    import alphanet_tf.layers  # noqa: F401
    from training.train import run

    tiny = keras.saving.load_model(tiny_model_path, compile=False)
    for name in ("segmentation_net", "matting_net"):
        tiny.get_layer(name).save(tmp_path / f"{name}.keras")
    config = load_config("end2end", None, {
        "segmentation": str(tmp_path / "segmentation_net.keras"), "matting": str(tmp_path / "matting_net.keras"),
        "size": 64, "seg_size": 64, "batch_size": 2, "epochs": 1, "steps_per_epoch": 2, "val_size": 2})
    assert config["segmentation_loss_weight"] == 0  # the paper: only the matting loss flows back
    history = run(config, tmp_path / "run", verbose=0)
    assert np.isfinite(history.history["val_loss"][0])
    for file in ("best.keras", "final.keras"):
        model = keras.saving.load_model(tmp_path / "run" / file, compile=False)
        assert set(model.output_names) == {"alpha", "trimap", "segmentation"}
    final = keras.saving.load_model(tmp_path / "run" / "final.keras", compile=False)
    changed = lambda net: any(not np.array_equal(a, b) for a, b in zip(  # noqa: E731
        final.get_layer(net).get_weights(), tiny.get_layer(net).get_weights()))
    assert changed("matting_net") and not changed("segmentation_net")


def test_end2end_with_given_trimaps_trains_both_losses_and_saves_the_alphanet(tiny_model_path, tmp_path):
    """given_trimap_weight > 0: the matting net also learns from the samples' own trimaps (band loss). Both
    stages may come from a whole AlphaNet (its sub-models of those names)."""
    import keras

    import alphanet_tf.layers  # noqa: F401
    from training.train import run

    config = load_config("end2end", None, {
        "segmentation": str(tiny_model_path), "matting": str(tiny_model_path),
        "size": 64, "seg_size": 64, "batch_size": 2, "epochs": 1, "steps_per_epoch": 2, "val_size": 2,
        "given_trimap_weight": 0.5})
    history = run(config, tmp_path / "run", verbose=0).history
    for key in ("val_alpha_loss", "val_given_alpha_loss", "val_given_alpha_alpha_mae"):
        assert np.isfinite(history[key][0]), key
    np.testing.assert_allclose(history["val_loss"][0],
                               history["val_alpha_loss"][0] + 0.5 * history["val_given_alpha_loss"][0], rtol=1e-4)
    model = keras.saving.load_model(tmp_path / "run" / "best.keras", compile=False)
    assert set(model.output_names) == {"alpha", "trimap", "segmentation"}  # the AlphaNet, not the view


def test_matting_stage_band_loss_gets_the_trimap_with_the_target():
    from training.stages import datasets

    config = load_config("matting", None, {"size": 64, "batch_size": 2, "val_size": 2, "loss_region": "unknown",
                                           "people_weight": 0.0})
    inputs, target = next(iter(datasets(config)[1]))
    assert target.shape == (2, 64, 64, 8)
    assert np.array_equal(target[..., 7].numpy(), inputs["trimap"][..., 0].numpy())


def test_init_starts_a_stage_from_an_earlier_run_and_rejects_a_mismatched_checkpoint(tiny_model_path, tmp_path):
    """`init:` continues training from a checkpoint (how the shipped segmentation net was trained longer)."""
    import keras
    import numpy as np

    from training.stages import build_matting, build_segmentation

    tiny = keras.saving.load_model(tiny_model_path, compile=False)
    first, _, _ = build_segmentation(load_config("segmentation"))
    first.set_weights([w + 0.5 for w in first.get_weights()])  # distinct from the ImageNet start
    first.save(tmp_path / "seg.keras")
    model, _, _ = build_segmentation(load_config("segmentation", None, {"init": str(tmp_path / "seg.keras")}))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), first.get_weights()))
    # a whole AlphaNet as `init`: its sub-model of the stage's name
    from alphanet_tf.models import AlphaNet
    AlphaNet(first, tiny.get_layer("matting_net"), seg_size=64).save(tmp_path / "alphanet.keras")
    model, _, _ = build_segmentation(load_config("segmentation", None, {"init": str(tmp_path / "alphanet.keras")}))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), first.get_weights()))
    tiny.get_layer("segmentation_net").save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="other.keras: weights do not fit"):
        build_matting(load_config("matting", None, {"init": str(tmp_path / "other.keras")}))


def test_assemble_takes_a_stage_from_a_whole_alphanet(tiny_model_path, tmp_path):
    """`training.assemble --segmentation ALPHANET --matting NET`: an ablation behind a shipped segmentation net."""
    import keras
    import numpy as np

    import alphanet_tf.layers  # noqa: F401
    from training.assemble import main

    tiny = keras.saving.load_model(tiny_model_path, compile=False)
    tiny.get_layer("matting_net").save(tmp_path / "matting_net.keras")
    out = tmp_path / "assembled.keras"
    assert main(["--segmentation", str(tiny_model_path), "--matting", str(tmp_path / "matting_net.keras"),
                 "--seg-size", "64", "--out", str(out)]) == 0
    assembled = keras.saving.load_model(out, compile=False)
    for name in ("segmentation_net", "matting_net"):
        for a, b in zip(assembled.get_layer(name).get_weights(), tiny.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    # ED settings: carried over from --alphanet, each flag overriding one of them
    ed = tiny.get_layer("ed_trimap")
    assert main(["--alphanet", str(tiny_model_path), "--seg-size", "64", "--unsure", "0.15", "--trimap-rate", "0.025",
                 "--out", str(out)]) == 0
    reassembled = keras.saving.load_model(out, compile=False).get_layer("ed_trimap")
    assert (reassembled.rate, reassembled.unsure) == (0.025, 0.15)
    assert (reassembled.max_radius, reassembled.clean_radius) == (ed.max_radius, ed.clean_radius)
    # the given-trimap net, packed from the AlphaNet's matting net
    packed = tmp_path / "trimap_net.npz"
    assert main(["--trimap-net", str(tiny_model_path), "--out", str(packed)]) == 0
    from alphanet_tf.packed_weights import unpack
    net = unpack(packed)
    assert net.name == "trimap_matting_net" and net.get_layer("guided_filter").radius == 4
    assert net.get_layer("matting_net").count_params() == tiny.get_layer("matting_net").count_params()
    with pytest.raises(SystemExit):
        main(["--trimap-net", str(tiny_model_path), "--matting", str(tiny_model_path), "--out", str(packed)])


def test_matting_net_grows_a_refinement_head_from_a_checkpoint_without_one(tmp_path):
    """`init_by_name` copies a net without the head into one with it; the head's last convolution starts at
    zero, so the grown net computes exactly what the checkpoint did."""
    import numpy as np

    from alphanet_tf.models import MattingNet
    from training.stages import build_matting

    base = MattingNet(weights=None)
    base.set_weights([w + 0.01 for w in base.get_weights()])  # distinct from a fresh net
    base.save(tmp_path / "base.keras")
    grown_config = {"init": str(tmp_path / "base.keras"), "refine_filters": [8, 8]}
    with pytest.raises(ValueError, match="base.keras: weights do not fit"):
        build_matting(load_config("matting", None, grown_config))
    model, _, _ = build_matting(load_config("matting", None, {**grown_config, "init_by_name": True}))
    names = {layer.name for layer in model.layers}
    assert {"refine_0_conv", "refine_1_conv", "refine_delta"} <= names
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(0, 255, (1, 64, 64, 3)).astype("float32"),
              rng.choice([0.0, 0.5, 1.0], (1, 64, 64, 1)).astype("float32")]
    np.testing.assert_allclose(model(inputs), base(inputs), atol=1e-6)


def test_resumed_run_keeps_the_better_best_model_of_before_the_kill(tmp_path):
    """SaveBestModel after a resume starts from the log's best val_loss: a worse first epoch saves nothing."""
    import keras

    from training.callbacks import SaveBestModel, best_logged

    (tmp_path / "log.csv").write_text("epoch,loss,val_loss\n0,1.0,0.50\n1,0.9,0.40\n2,0.8,0.45\n")
    assert best_logged(tmp_path / "log.csv", "val_loss") == 0.40
    assert best_logged(tmp_path / "missing.csv", "val_loss") == float("inf")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best = tmp_path / "best.keras"
    best.write_bytes(b"the better model of epoch 1")
    saver = SaveBestModel(model, best, log_path=tmp_path / "log.csv")
    saver.on_epoch_end(3, {"val_loss": 0.42})
    assert best.read_bytes() == b"the better model of epoch 1"
    saver.on_epoch_end(4, {"val_loss": 0.39})
    assert keras.saving.load_model(best).count_params() == 3 and saver.best == 0.39
    fresh = SaveBestModel(model, tmp_path / "none.keras", log_path=tmp_path / "log.csv")
    assert fresh.best == float("inf")  # no best.keras yet: the log of another run says nothing
