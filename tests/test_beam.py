"""The Beam pipeline end to end on the DirectRunner with the tiny random AlphaNet: outputs, manifest rows for
bad inputs, parity with `alphanet matte`, and a second run that skips everything."""

import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("apache_beam")

from alphanet_tf import beam as ab  # noqa: E402
from alphanet_tf.imageio import read_image  # noqa: E402
from alphanet_tf.inference import predict  # noqa: E402
from alphanet_tf.preprocess import prepare, restore  # noqa: E402
from alphanet_tf.runtimes import load_runtime  # noqa: E402
from tests.test_inference import photo  # noqa: E402

SIZES = [(64, 96), (50, 70), (120, 80), (33, 200), (96, 96), (40, 41)]
BAD = {"empty.jpg": "empty file (0 bytes)", "text.jpg": "not an image", "trunc.jpg": "truncated"}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six good JPEGs of different sizes (one in a subfolder), an empty file, text named .jpg, a cut JPEG."""
    src = tmp_path_factory.mktemp("beam") / "photos"
    (src / "sub").mkdir(parents=True)
    for i, (h, w) in enumerate(SIZES):
        Image.fromarray(photo(h, w, seed=i)).save(src / ("sub" if i == 5 else "") / f"img{i}.jpg", quality=95)
    (src / "empty.jpg").write_bytes(b"")
    (src / "text.jpg").write_text("hello, not a jpeg")
    whole = (src / "img0.jpg").read_bytes()
    (src / "trunc.jpg").write_bytes(whole[: len(whole) // 2])
    return src


def run(src, out, model, *extra):
    return ab.main(["--input", f"{src}/**", "--input", f"{src}/missing.jpg", "--output", str(out),
                    "--model", str(model), "--max-batch", "4", "--threads", "1", *map(str, extra)])


def manifest(out):
    rows = [json.loads(line) for line in (out / ab.MANIFEST).read_text().splitlines()]
    return {r["input"].rsplit("/", 1)[-1]: r for r in rows}


@pytest.fixture(scope="module")
def first_run(photos, tiny_model_path):
    out = photos.parent / "out"
    code = run(photos, out, tiny_model_path)
    return code, out, manifest(out)


def test_outputs_are_rgba_pngs_at_input_size(first_run, photos):
    code, out, _ = first_run
    assert code == 1  # some inputs failed: the exit code says so, the pipeline did not fail
    for i, (h, w) in enumerate(SIZES):
        im = Image.open(out / ("sub" if i == 5 else "") / f"img{i}.png")
        assert im.format == "PNG" and im.mode == "RGBA" and im.size == (w, h)
    assert not [p for p in out.rglob(".*")]  # no temp files left


def test_manifest_has_one_row_per_input(first_run, photos):
    _, out, rows = first_run
    assert sorted(rows) == sorted([f"img{i}.jpg" for i in range(6)] + [*BAD, "missing.jpg"])
    for i in range(6):
        r = rows[f"img{i}.jpg"]
        assert r["status"] == "done" and r["error"] is None and r["seconds"] > 0
        assert r["output"].endswith(("sub/" if i == 5 else "") + f"img{i}.png")
    for name, reason in {**BAD, "missing.jpg": "file not found"}.items():
        r = rows[name]
        assert r["status"] == "failed" and r["output"] is None
        assert r["error"].startswith(f"{photos}/{name}: ") and reason in r["error"], r


def test_second_run_skips_everything(first_run, photos, tiny_model_path):
    _, out, _ = first_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert run(photos, out, tiny_model_path) == 1
    rows = manifest(out)
    assert {n for n, r in rows.items() if r["status"] == "skipped"} == {f"img{i}.jpg" for i in range(6)}
    assert {n for n, r in rows.items() if r["status"] == "failed"} == {*BAD, "missing.jpg"}
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before


def test_split_mode_mattes_equal_the_cli(photos, tiny_model_path):
    out = photos.parent / "alpha"
    assert run(photos, out, tiny_model_path, "--output-kind", "alpha", "--mixed-sizes", "split") == 1
    raw = photos.parent / "raw"
    assert run(photos, raw, tiny_model_path, "--output-kind", "alpha", "--mixed-sizes", "split", "--no-refine") == 1
    runtime = load_runtime(tiny_model_path, threads=1)
    for i in (0, 3):
        image = read_image(photos / f"img{i}.jpg")[0]
        for folder, refine in ((out, True), (raw, False)):  # refine: the CLI's hole filling
            alpha = np.asarray(Image.open(folder / f"img{i}.png"), np.float32) / 255
            np.testing.assert_allclose(alpha, predict(runtime, image, refine=refine), atol=1 / 255 + 1e-6)


def test_pad_batch_is_prepare_for_one_size_and_crops_back():
    images = [photo(50, 70, seed=1), photo(120, 80, seed=2)]
    x, geoms = ab.pad_batch(images[:1])
    np.testing.assert_array_equal(x[0], prepare(images[0])[0])
    x, geoms = ab.pad_batch(images)
    assert x.shape == (2, 128, 96, 3)
    for image, xi, g in zip(images, x, geoms):
        np.testing.assert_array_equal(restore(xi[..., 0], g), image[..., 0].astype(np.float32))


def test_output_names_follow_the_pattern_base():
    assert ab.pattern_base("photos/**") == "photos/"
    assert ab.pattern_base("gs://b/cat/*/x?.jpg") == "gs://b/cat/"
    assert ab.pattern_base("photos/a.jpg") == "photos/"
    assert ab.output_path("photos/sub/a.b.jpg", "photos/", "out/") == "out/sub/a.b.png"
