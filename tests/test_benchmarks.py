"""benchmarks/: tables with hand-checked numbers, cache restarts, the sha256 pin, one real peer, the speed
worker. Fast (no TensorFlow model is loaded); peer tests skip when ../shared/peers is unavailable."""

import json
import shutil
import stat
import time

import numpy as np
import pytest
from PIL import Image

from benchmarks import run as bench_run
from benchmarks.flops import onnx_profile_cost
from benchmarks.methods import Method
from benchmarks.peers import files as peer_files
from benchmarks.speed import time_calls

SELFIE = "selfie_segmentation.tflite"


# ----------------------------------------------------------------------------------- synthetic sets
class RedChannel(Method):
    """Automatic fake: its alpha is the image's red channel, so each test image says what it predicts."""

    name = "red channel"
    calls = 0

    def predict(self, image, trimap=None):
        RedChannel.calls += 1
        return image[..., 0].astype(np.float32) / 255.0


class HalfTrimap(Method):
    """Trimap-based fake: 0.5 everywhere (stored as 128/255 in the PNG cache)."""

    name = "half"
    kind = "trimap"
    tasks = ("matting",)

    def predict(self, image, trimap=None):
        assert trimap is not None
        return np.full(image.shape[:2], 0.5, np.float32)


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


@pytest.fixture
def sets(tmp_path):
    """Matting: 2 images 10x10, gt = left 5 columns, red = 0 (predicts 0), trimap unknown at columns 4-5.
    People: 2 images 10x10, mask = left 5 columns (value 1, Penn-Fudan style X_mask.png), red = left 3."""
    gt = np.zeros((10, 10), np.uint8)
    gt[:, :5] = 255
    trimap = np.zeros((10, 10), np.uint8)
    trimap[:, :4] = 255
    trimap[:, 4:6] = 128
    red3 = np.zeros((10, 10, 3), np.uint8)
    red3[:, :3, 0] = 255
    for stem in ("a", "b"):
        _png(tmp_path / "m/images" / f"{stem}.png", np.zeros((10, 10, 3)))
        _png(tmp_path / "m/alphas" / f"{stem}.png", gt)
        _png(tmp_path / "m/trimaps" / f"{stem}.png", trimap)
        _png(tmp_path / "p/images" / f"{stem}.png", red3)
        _png(tmp_path / "p/masks" / f"{stem}_mask.png", gt // 255)
    return tmp_path


def _argv(root, out, *extra):
    return ["--images", str(root / "m/images"), "--alphas", str(root / "m/alphas"), "--trimaps",
            str(root / "m/trimaps"), "--masks-images", str(root / "p/images"), "--masks", str(root / "p/masks"),
            "--out", str(out), "--stages", "predict", "report", "--no-progress", *extra]


def test_tables_hand_checked(sets, tmp_path):
    out = tmp_path / "out"
    assert bench_run.main(_argv(sets, out), methods=[RedChannel(), HalfTrimap()]) == 0
    results = json.loads((out / "results.json").read_text())

    t1 = results["table1"]["m"]["rows"]["red-channel"]
    # 50 of 100 pixels wrong by 1: SAD 50/1000, MSE 50/100; per pixel 0.5
    assert t1["mean"]["sad"] == pytest.approx(0.05)
    assert t1["mean"]["mse"] == pytest.approx(0.5)
    assert t1["per_pixel_mean"]["sad"] == pytest.approx(0.5)
    assert t1["count"] == 2

    t2 = results["table2"]["m"]
    assert t2["unknown_fraction"] == pytest.approx(0.2)
    half = t2["rows"]["half"]["mean"]
    # 20 unknown pixels, each off by 128/255 or 127/255: SAD = 20 * 0.5 / 1000, MSE ~ 0.25
    assert half["sad"] == pytest.approx(0.01)
    assert half["mse"] == pytest.approx(0.25, abs=1e-4)
    assert "red-channel" not in t2["rows"]  # automatic without a given-trimap mode

    seg = results["segmentation"]["p"]["rows"]["red-channel"]["mean"]
    # predicted 30 of the 50 mask pixels, nothing outside: IoU 0.6, F(0.3) = 1.3*0.6/(0.3+0.6), MAE 20/100
    assert seg["iou"] == pytest.approx(0.6)
    assert seg["f_measure"] == pytest.approx(1.3 * 0.6 / 0.9)
    assert seg["mae"] == pytest.approx(0.2)
    assert "half" not in results["segmentation"]["p"]["rows"]

    md = (out / "report.md").read_text()
    assert "| red channel | 0.05 | 0.5 |" in md
    assert "| half | 0.01 | 0.25 |" in md
    assert "| red channel | alpha | 0.6 | 0.8667 | 0.2 | 2 |" in md
    assert "unknown band 20.0 %" in md
    assert (out / "contact_sheet.png").is_file()


def test_cache_restart_skips_and_fingerprint_invalidates(sets, tmp_path):
    out = tmp_path / "out"
    RedChannel.calls = 0
    assert bench_run.main(_argv(sets, out), methods=[RedChannel()]) == 0
    assert RedChannel.calls == 4  # 2 matting + 2 people images
    cached = out / "cache" / "m" / "auto" / "red-channel" / "a.png"
    assert cached.is_file()
    assert bench_run.main(_argv(sets, out), methods=[RedChannel()]) == 0
    assert RedChannel.calls == 4  # second run: everything from the cache

    class Retrained(RedChannel):
        def fingerprint(self):
            return "v2"

    assert bench_run.main(_argv(sets, out), methods=[Retrained()]) == 0
    assert RedChannel.calls == 8  # new weights: stale predictions dropped and recomputed


def test_quick_mode_subsets_to_two_images(sets, tmp_path):
    for stem in ("c", "d"):
        shutil.copy(sets / "m/images/a.png", sets / f"m/images/{stem}.png")
        shutil.copy(sets / "m/alphas/a.png", sets / f"m/alphas/{stem}.png")
        shutil.copy(sets / "m/trimaps/a.png", sets / f"m/trimaps/{stem}.png")
    out = tmp_path / "out"
    assert bench_run.main(_argv(sets, out, "--quick"), methods=[RedChannel()]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["table1"]["m"]["images"] == 2
    assert sorted(p.name for p in (out / "data" / "m" / "images").iterdir()) == ["a.png", "b.png"]
    assert "Smoke run" in (out / "report.md").read_text()


def test_missing_folder_is_one_line_error(tmp_path, capsys):
    code = bench_run.main(["--images", str(tmp_path / "nope"), "--alphas", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and str(tmp_path / "nope") in err


def test_unknown_method_is_rejected(sets, tmp_path, capsys):
    code = bench_run.main(_argv(sets, tmp_path / "o", "--methods", "nonexistent"))
    assert code == 2
    assert "nonexistent" in capsys.readouterr().err


def test_onnx_profile_cost_hand_checked(tmp_path):
    node = {"cat": "Node", "name": "conv_kernel_time", "args": {
        "op_name": "Conv", "input_type_shape": [{"float": [1, 3, 8, 8]}, {"float": [4, 3, 3, 3]}, {"float": [4]}],
        "output_type_shape": [{"float": [1, 4, 8, 8]}]}}
    fence = {**node, "name": "conv_fence_before"}
    (tmp_path / "p.json").write_text(json.dumps([node, fence]))
    cost = onnx_profile_cost(tmp_path / "p.json")
    assert cost["gflops"] == pytest.approx(2 * 4 * 8 * 8 * 27 / 1e9)  # 2 x outputs x (3 x 3 x 3) MACs
    assert cost["params"] == 4 * 27 + 4


def test_time_calls_stops_on_budget():
    result = time_calls(lambda: time.sleep(0.02), repeats=50, budget_s=0.01)
    assert result["runs"] == 3 and result["median_ms"] >= 20


# ----------------------------------------------------------------------------------- real peers
@pytest.fixture(scope="module")
def selfie_file():
    try:
        return peer_files.peer_file(SELFIE)
    except peer_files.PeerFileError as e:
        pytest.skip(f"peer models unavailable ({e})")


def test_selfie_peer_predicts_alpha(selfie_file):
    from benchmarks.peers import Selfie

    image = np.zeros((90, 120, 3), np.uint8)
    image[20:80, 40:80] = (200, 160, 140)
    method = Selfie()
    method.load(threads=1)
    alpha = method.predict(image)
    assert alpha.shape == (90, 120) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() <= alpha.max() <= 1.0


def test_sha256_mismatch_is_a_clear_error(selfie_file, tmp_path, monkeypatch):
    corrupt = tmp_path / SELFIE
    shutil.copy(selfie_file, corrupt)
    corrupt.chmod(corrupt.stat().st_mode | stat.S_IWUSR)
    data = bytearray(corrupt.read_bytes())
    data[1000] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    monkeypatch.setenv("ALPHANET_PEERS", str(tmp_path))
    with pytest.raises(peer_files.PeerFileError, match="sha256 mismatch") as e:
        peer_files.peer_file(SELFIE)
    assert str(corrupt) in str(e.value)


def test_missing_peer_runs_fetch_and_reports_its_failure(selfie_file, tmp_path, monkeypatch):
    fetch = tmp_path / "fetch.sh"
    fetch.write_text("echo 'no network here' >&2; exit 3\n")
    monkeypatch.setenv("ALPHANET_PEERS", str(tmp_path / "empty"))
    monkeypatch.setenv("ALPHANET_FETCH", str(fetch))
    with pytest.raises(peer_files.PeerFileError, match="peer file missing.*no network here"):
        peer_files.peer_file(SELFIE)


def test_speed_worker_times_a_peer_and_caches(selfie_file, tmp_path, monkeypatch):
    from benchmarks import speed
    from benchmarks.peers import Selfie

    image = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    result = speed.run_speed([Selfie()], image, None, tmp_path, threads=(1,), repeats=2, budget_s=0.0,
                             scaling=["selfie"], scaling_sides=(256,), progress=False)["selfie"]["1"]
    assert "error" not in result, result
    assert set(result["latency"]["auto"]) == {"512", "native"}
    assert result["latency"]["auto"]["native"]["size"] == [300, 400]
    assert result["scaling"]["256"]["size"] == [192, 256]
    assert result["cost"]["auto"]["gflops"] > 0 and result["peak_rss_mb"] > 0

    def no_worker(*a, **k):
        raise AssertionError("cached result not reused")

    monkeypatch.setattr(speed, "run_worker", no_worker)
    again = speed.run_speed([Selfie()], image, None, tmp_path, threads=(1,), repeats=2, budget_s=0.0,
                            scaling=["selfie"], scaling_sides=(256,), progress=False)
    assert again["selfie"]["1"]["latency"] == result["latency"]


def test_validation_preset_links_the_validation_stems(tmp_path):
    from training.data.paths import DataNotFoundError

    try:
        args = bench_run.parse_args(["--validation", "--quick", "--out", str(tmp_path)])
        sets = bench_run.resolve_datasets(args)
    except DataNotFoundError as e:
        pytest.skip(f"shared data unavailable ({e})")
    by_name = {d.name: d for d in sets}
    from training.data.paths import data_root
    from training.data.splits import get_splits
    root = data_root(args.data_root)
    optional = {name for name in ("ccp", "davis") if (root / name / "masks").is_dir()}
    assert set(by_name) == {"alphamatting", "humanseg290", "pennfudan"} | optional
    splits = get_splits(root)
    for name in optional:  # the first two validation stems; DAVIS: frames of the held-out sequences
        assert set(by_name[name].stems) <= set(splits[name]["val"])
    assert by_name["alphamatting"].stems == ("GT02", "GT05")
    assert by_name["alphamatting"].trimaps is not None
    assert all(len(d.stems) == 2 and (d.images / next(iter(d.image_files().values())).name).is_symlink()
               for d in sets)


def test_demo_sheet_rows_are_photo_trimap_alpha_cutout(tmp_path, capsys):
    from benchmarks import demo_sheet

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir(), out.mkdir()
    Image.fromarray(np.full((20, 40, 3), 200, np.uint8)).save(photos / "a.png")
    Image.fromarray(np.full((20, 40), 128, np.uint8)).save(out / "a_trimap.png")
    Image.fromarray(np.full((20, 40), 255, np.uint8)).save(out / "a_alpha.png")
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 255  # opaque red: the cut-out tile is exactly red
    Image.fromarray(rgba).save(out / "a_rgba.png")
    sheet = tmp_path / "sheet.png"
    assert demo_sheet.main([str(out), str(sheet), "--photos", str(photos), "--height", "20"]) == 0
    tiles = np.asarray(Image.open(sheet))
    assert tiles.shape == (24, 4 * 40 + 3 * 4, 3)  # 4 tiles, 3 gaps of 4 px; a 4 px gap below the row
    np.testing.assert_array_equal(tiles[0, 0], [200, 200, 200])
    np.testing.assert_array_equal(tiles[0, 44], [128, 128, 128])
    np.testing.assert_array_equal(tiles[0, 88], [255, 255, 255])
    np.testing.assert_array_equal(tiles[0, 132], [255, 0, 0])
    (out / "a_alpha.png").unlink()
    assert demo_sheet.main([str(out), str(sheet), "--photos", str(photos)]) == 2
    assert "a_alpha.png: missing" in capsys.readouterr().err


def test_refine_weight_sweep_matches_the_shipped_paths(tmp_path, tiny_model_path):
    """Weight 0 scores like `alphanet eval --no-refine`, `PRIOR_WEIGHT` like the default given-trimap mode."""
    from alphanet_tf.evaluation import evaluate_folder
    from alphanet_tf.inference import Matter
    from alphanet_tf.laplacian_refinement import PRIOR_WEIGHT
    from benchmarks.refine_weight_sweep import sweep
    from tests.test_inference import photo

    rgb = photo(64, 96)
    trimap = np.zeros((64, 96), np.uint8)
    trimap[8:56, 16:80], trimap[20:44, 36:60] = 128, 255
    for sub, array in (("images", rgb), ("alphas", (rgb[..., 0] > 128).astype(np.uint8) * 255),
                       ("trimaps", trimap)):
        (tmp_path / sub).mkdir()
        Image.fromarray(array).save(tmp_path / sub / "p.png")
    scores = sweep(tmp_path, [0, PRIOR_WEIGHT], str(tiny_model_path))

    def scored(refine):
        return evaluate_folder(tmp_path / "images", tmp_path / "alphas", trimaps=tmp_path / "trimaps",
                               mode="trimap", matter=Matter(str(tiny_model_path), refine=refine),
                               progress=False)["mean"]

    assert scores[0] == pytest.approx(scored(False))
    assert scores[PRIOR_WEIGHT] == pytest.approx(scored(True))
    assert scores[0]["sad"] != pytest.approx(scores[PRIOR_WEIGHT]["sad"])


def test_validation_table_mean_rank_weighs_every_set_the_same():
    from benchmarks.validation_table import format_rows, mean_ranks
    rows = {"a": {"humanseg290": 0.9, "davis": 0.5, "alphamatting": 30.0},   # best, worst, best
            "b": {"humanseg290": 0.8, "davis": 0.7, "alphamatting": 30.0},   # worst, best, tie
            "c": {"humanseg290": 0.85, "davis": 0.6, "alphamatting": 40.0}}  # middle, middle, worst
    ranks = mean_ranks(rows)
    assert ranks == {"a": (1 + 3 + 1.5) / 3, "b": (3 + 1 + 1.5) / 3, "c": (2 + 2 + 3) / 3}
    table = format_rows(rows)
    assert "| humanseg290 IoU | davis IoU | alphamatting SAD | mean rank |" in table
    assert "| a | 0.900 | 0.500 | 30.00 | 1.83 |" in table
