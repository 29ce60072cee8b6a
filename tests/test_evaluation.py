"""Tests for `alphanet eval` on saved predictions (tiny synthetic folders, hand-checkable scores)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from alphanet_tf.evaluation import EvalError, evaluate_folder, index_folder, main

H, W = 4, 5


def _save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode).save(path)


@pytest.fixture
def matting_dir(tmp_path):
    """Stems a and b have image, alpha, trimap and prediction; c has only an image, d only an alpha.

    gt is all 0. Prediction a is 255 at (0, 0) and (1, 2); prediction b equals gt.
    The trimap's unknown band (128) is column 2, which holds (1, 2) only.
    """
    gt = np.zeros((H, W), np.uint8)
    pred_a = gt.copy()
    pred_a[0, 0] = pred_a[1, 2] = 255
    trimap = np.zeros((H, W), np.uint8)
    trimap[:, 2] = 128
    rgb = np.full((H, W, 3), 90, np.uint8)
    _save(tmp_path / "images/a.png", rgb)
    _save(tmp_path / "images/b.jpg", rgb)
    _save(tmp_path / "images/c.png", rgb)
    _save(tmp_path / "alphas/a.png", np.stack([gt] * 3, -1))  # RGB alpha: one channel is read
    _save(tmp_path / "alphas/b.png", gt)
    _save(tmp_path / "alphas/d.png", gt)
    for stem in "ab":
        _save(tmp_path / f"trimaps/{stem}.png", trimap)
    _save(tmp_path / "preds/a.png", pred_a)
    _save(tmp_path / "preds/b.png", gt)
    return tmp_path


def _args(root, *extra):
    return ["--images", str(root / "images"), "--alphas", str(root / "alphas"),
            "--predictions", str(root / "preds"), *extra]


def test_whole_image_sad_by_hand(matting_dir):
    r = evaluate_folder(matting_dir / "images", matting_dir / "alphas",
                        predictions=matting_dir / "preds", progress=False)
    assert sorted(r["per_image"]) == ["a", "b"]  # c has no alpha, d has no image
    assert r["region"] == "whole" and r["failed"] == {}
    # a: two pixels off by 1 -> SAD 2 / 1000, MSE 2 / 20; b: perfect.
    assert r["per_image"]["a"]["sad"] == pytest.approx(0.002)
    assert r["per_image"]["a"]["mse"] == pytest.approx(0.1)
    assert r["per_image"]["b"]["sad"] == 0.0
    assert r["mean"]["sad"] == pytest.approx(0.001)
    # AlphaNet per-pixel form: SAD of a = 2 / 20 pixels, mean over a and b = 0.05
    assert r["per_pixel_mean"]["sad"] == pytest.approx(0.05)


def test_region_defaults_to_unknown_with_trimaps(matting_dir):
    r = evaluate_folder(matting_dir / "images", matting_dir / "alphas", trimaps=matting_dir / "trimaps",
                        predictions=matting_dir / "preds", progress=False)
    assert r["region"] == "unknown"
    # Only (1, 2) lies in the band of 4 pixels: SAD 1 / 1000, MSE 1 / 4.
    assert r["per_image"]["a"]["sad"] == pytest.approx(0.001)
    assert r["per_image"]["a"]["mse"] == pytest.approx(0.25)
    # The per-pixel form still covers the whole image.
    assert r["per_image"]["a"]["per_pixel"]["sad"] == pytest.approx(0.1)
    whole = evaluate_folder(matting_dir / "images", matting_dir / "alphas",
                            trimaps=matting_dir / "trimaps", predictions=matting_dir / "preds",
                            region="whole", progress=False)
    assert whole["per_image"]["a"]["sad"] == pytest.approx(0.002)


def test_cli_writes_json_and_table(matting_dir, capsys):
    out = matting_dir / "out/result.json"
    assert main(_args(matting_dir, "--trimaps", str(matting_dir / "trimaps"), "--json", str(out))) == 0
    result = json.loads(out.read_text())
    assert {"mean", "per_image", "region", "mode", "model", "per_pixel_mean"} <= result.keys()
    assert set(result["mean"]) == {"sad", "mse", "grad", "conn"}
    assert set(result["per_pixel_mean"]) == {"sad", "mse", "grad", "conn"}
    assert set(result["per_image"]) == {"a", "b"}
    assert result["mode"] == "auto" and result["model"] is None and result["region"] == "unknown"
    assert result["mean"]["sad"] == pytest.approx(0.0005)
    table = capsys.readouterr().out
    assert "mean" in table and "sad" in table and "\na " in table


def test_rgba_cutout_prediction_uses_alpha_channel(matting_dir):
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = 200  # colour would read as 0.78 everywhere
    rgba[0, 0, 3] = 255  # the matte: one opaque pixel
    _save(matting_dir / "preds/b.png", rgba, "RGBA")
    r = evaluate_folder(matting_dir / "images", matting_dir / "alphas",
                        predictions=matting_dir / "preds", progress=False)
    assert r["per_image"]["b"]["sad"] == pytest.approx(0.001)


def test_one_bad_image_is_reported_and_the_rest_scored(matting_dir, capsys):
    _save(matting_dir / "preds/a.png", np.zeros((H + 1, W), np.uint8))  # wrong size
    out = matting_dir / "r.json"
    assert main(_args(matting_dir, "--json", str(out))) == 1
    err = capsys.readouterr().err
    assert "a:" in err and "(5, 5)" in err and "(4, 5)" in err
    result = json.loads(out.read_text())
    assert list(result["per_image"]) == ["b"] and list(result["failed"]) == ["a"]


def test_missing_prediction_is_a_per_image_failure(matting_dir, capsys):
    (matting_dir / "preds/b.png").unlink()
    assert main(_args(matting_dir)) == 1
    assert "no prediction file for 'b'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- segmentation
@pytest.fixture
def seg_dir(tmp_path):
    """Penn-Fudan style: images X.png, masks X_mask.png with person labels 1, 2 (half resolution)."""
    _save(tmp_path / "images/p1.png", np.zeros((4, 4, 3), np.uint8))
    mask = np.array([[0, 1], [2, 0]], np.uint8)  # nearest x2 -> top-right and bottom-left quadrants
    _save(tmp_path / "masks/p1_mask.png", mask)
    prob = np.zeros((4, 4), np.uint8)
    prob[:2, :] = 255  # predicts the whole top half
    _save(tmp_path / "preds/p1.png", prob)
    return tmp_path


def test_segmentation_mask_suffix_resize_and_scores(seg_dir):
    r = evaluate_folder(seg_dir / "images", masks=seg_dir / "masks",
                        predictions=seg_dir / "preds", progress=False)
    assert r["task"] == "segmentation" and list(r["per_image"]) == ["p1"]
    s = r["per_image"]["p1"]
    # gt = top-right + bottom-left quadrants (8 px), prediction = top half (8 px), overlap 4 px.
    assert s["iou"] == pytest.approx(4 / 12)
    assert s["f_measure"] == pytest.approx(1.3 * 0.25 / (0.3 * 0.5 + 0.5))  # P = R = 1/2
    assert s["mae"] == pytest.approx(8 / 16)


def test_mask_suffix_rule(tmp_path):
    # The _mask suffix is dropped only for masks and never leaves an empty stem; non-images are skipped.
    for name in ("X_mask.png", "_mask.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(index_folder(tmp_path, "masks", "_mask")) == ["X", "_mask"]
    assert sorted(index_folder(tmp_path, "alphas")) == ["X_mask", "_mask"]


# ----------------------------------------------------------------------------- setup errors
def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    return err


def test_missing_folder_exit_2_names_path(matting_dir, capsys):
    missing = matting_dir / "nowhere"
    assert main(["--images", str(missing), "--alphas", str(matting_dir / "alphas")]) == 2
    assert str(missing) in _one_line_error(capsys)


def test_no_matching_stems_exit_2(matting_dir, capsys):
    _save(matting_dir / "other/zzz.png", np.zeros((H, W), np.uint8))
    argv = ["--images", str(matting_dir / "images"), "--alphas", str(matting_dir / "other"),
            "--predictions", str(matting_dir / "preds")]
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert "no matching stems" in err and str(matting_dir / "other") in err


@pytest.mark.parametrize("extra, message", [
    (["--mode", "trimap"], "--mode trimap needs --trimaps"),
    (["--region", "unknown"], "--region unknown needs --trimaps"),
])
def test_option_errors_exit_2(matting_dir, capsys, extra, message):
    assert main(_args(matting_dir, *extra)) == 2
    assert message in _one_line_error(capsys)


def test_duplicate_stems_are_an_error(matting_dir):
    _save(matting_dir / "preds/a.jpg", np.zeros((H, W), np.uint8))
    with pytest.raises(EvalError, match="two predictions files for stem 'a'"):
        evaluate_folder(matting_dir / "images", matting_dir / "alphas",
                        predictions=matting_dir / "preds", progress=False)


def test_argparse_errors_return_2(capsys):
    assert main(["--images", "x"]) == 2  # neither --alphas nor --masks
    assert "--alphas" in capsys.readouterr().err


def test_predictions_mode_does_not_import_tensorflow(matting_dir):
    code = (
        "import sys; from alphanet_tf.evaluation import main; "
        f"rc = main({_args(matting_dir)!r}); sys.exit(rc * 10 + ('tensorflow' in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_max_side_and_refine_reach_the_model(tmp_path, tiny_model_path):
    """`--max-side` sets the long side the network sees and `--no-refine` turns off the given-trimap
    refinement: both recorded in the JSON, and both change the matte."""
    from alphanet_tf.preprocess import DEFAULT_MAX_SIDE, TRIMAP_MAX_SIDE
    from tests.test_inference import photo

    rgb = photo(64, 96)
    _save(tmp_path / "images/p.png", rgb)
    _save(tmp_path / "alphas/p.png", (rgb[..., 0] > 128).astype(np.uint8) * 255)
    base = ["--images", str(tmp_path / "images"), "--alphas", str(tmp_path / "alphas"),
            "--model", str(tiny_model_path)]
    assert main([*base, "--json", str(tmp_path / "full.json")]) == 0
    assert main([*base, "--max-side", "32", "--json", str(tmp_path / "small.json")]) == 0
    full, small = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("full", "small"))
    assert small["max_side"] == 32 and full["max_side"] == DEFAULT_MAX_SIDE
    assert small["per_image"]["p"]["sad"] != full["per_image"]["p"]["sad"]
    # a given trimap: full detail by default
    _save(tmp_path / "trimaps/p.png", np.full((64, 96), 128, np.uint8))
    given = [*base, "--trimaps", str(tmp_path / "trimaps"), "--mode", "trimap"]
    assert main([*given, "--json", str(tmp_path / "given.json")]) == 0
    assert main([*given, "--no-refine", "--json", str(tmp_path / "raw.json")]) == 0
    given, raw = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("given", "raw"))
    assert given["max_side"] == TRIMAP_MAX_SIDE
    assert given["refine"] is True and raw["refine"] is False and full["refine"] is True  # automatic: hole filling
    assert given["per_image"]["p"]["sad"] != raw["per_image"]["p"]["sad"]
