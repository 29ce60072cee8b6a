"""End-to-end tests of the on-device demo (issue 7), with no mocks: mobile_demo/matte.py on a real int8
.tflite run by LiteRT, and the browser page run by LiteRT.js in a real headless Chromium, whose alpha must
match the Python runner's.

The model is a small random AlphaNet exported once by the project's own exporter, so the tests neither
wait for nor depend on a trained model. Its segmentation logits are scaled on the sample images first: a
random net's logits are ~1e-6, which int8 rounds to one constant matte that would make the comparisons
trivially pass.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "mobile_demo"
WEB = DEMO / "web"
SAMPLES = REPO / "alphanet_tf" / "assets" / "samples"
PORTRAIT = SAMPLES / "portrait.jpg"  # 427 x 640: not square, so the letterbox padding is exercised
SIZE = 128

BUILD_AND_EXPORT = textwrap.dedent("""
    import glob, sys
    import cv2, keras, numpy as np
    from alphanet_tf.models import AlphaNet
    from export.cli import main

    keras.utils.set_random_seed(0)
    model = AlphaNet(weights=None, seg_size={size})
    seg = model.get_layer("segmentation_net")
    features = keras.Model(seg.input, seg.get_layer("logits").input)
    images = np.stack([cv2.resize(cv2.imread(p)[..., ::-1], ({size}, {size}), interpolation=cv2.INTER_AREA)
                       for p in sorted(glob.glob("{samples}/*.jpg"))]).astype("float32")
    f = np.asarray(features(images))
    w = np.random.default_rng(0).normal(size=f.shape[-1]).astype("float32")
    proj = f @ w
    scale = 3.0 / proj.std()  # logits of std 3 around 0: foreground, background and an unknown band
    seg.get_layer("logits").set_weights([(w * scale).reshape(1, 1, -1, 1),
                                         np.array([-np.median(proj) * scale], "float32")])
    model.save("{keras_path}")
    sys.exit(main(["--model", "{keras_path}", "--out", "{out}", "--formats", "tflite-int8-ptq",
                   "--size", "{size}", "--calibration-images", "{samples}", "--no-verify"]))
""")


@pytest.fixture(scope="module")
def tflite(tmp_path_factory) -> Path:
    """The int8 (uint8-input) .tflite of a small AlphaNet, made once for the whole file (~1 min)."""
    folder = tmp_path_factory.mktemp("tiny_alphanet")
    script = BUILD_AND_EXPORT.format(size=SIZE, samples=SAMPLES, keras_path=folder / "tiny.keras", out=folder)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "alphanet_int8_ptq.tflite"


@pytest.fixture(scope="module")
def lite_matter():
    """mobile_demo/lite_matter.py, the engine matte.py runs, loaded from its file."""
    spec = importlib.util.spec_from_file_location("lite_matter", DEMO / "lite_matter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def run_matte(*args, importtime=False):
    command = [sys.executable] + (["-X", "importtime"] if importtime else []) + [str(DEMO / "matte.py")]
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, timeout=300)


def imported_modules(importtime_stderr: str) -> set[str]:
    """Top-level module names from `python -X importtime` output."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in importtime_stderr.splitlines() if line.startswith("import time:") and "|" in line}


def test_image_gives_rgba_cutout_without_tensorflow(tflite, lite_matter, tmp_path):
    out = tmp_path / "cutout.png"
    done = run_matte("--model", tflite, "--input", PORTRAIT, "--output", out, "--threads", 1, importtime=True)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = imported_modules(done.stderr)
    assert "ai_edge_litert" in modules and "cv2" in modules
    assert not modules & {"tensorflow", "keras", "alphanet_tf"}, sorted(modules & {"tensorflow", "keras", "alphanet_tf"})

    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    rgb = read_rgb(PORTRAIT)
    assert rgba.shape == (*rgb.shape[:2], 4)
    np.testing.assert_array_equal(rgba[..., 2::-1], rgb)  # BGRA on disk: colour untouched
    expected = lite_matter.LiteMatter(tflite, threads=1).matte(rgb)
    assert np.abs(rgba[..., 3].astype(np.float32) - expected * 255).max() <= 1.0
    assert expected.std() > 0.05, "the test model's matte is constant: the comparison would prove nothing"
    assert not list(tmp_path.glob(".*")), "a temporary file was left behind"


def test_image_composites(tflite, tmp_path):
    rgb = read_rgb(PORTRAIT)
    cut = tmp_path / "cut.png"
    assert run_matte("--model", tflite, "--input", PORTRAIT, "--output", cut).returncode == 0
    alpha = cv2.imread(str(cut), cv2.IMREAD_UNCHANGED)[..., 3:].astype(np.float32) / 255

    green = tmp_path / "green.png"
    done = run_matte("--model", tflite, "--input", PORTRAIT, "--output", green, "--background", "#00ff00")
    assert done.returncode == 0, done.stderr[-2000:]
    expected = rgb * alpha + np.array([0, 255, 0], np.float32) * (1 - alpha)
    assert np.abs(read_rgb(green) - expected).max() <= 1.5  # the PNG's alpha is rounded to 1/255

    for background in ("blur", str(SAMPLES / "coffee.jpg")):
        out = tmp_path / "over.jpg"
        done = run_matte("--model", tflite, "--input", PORTRAIT, "--output", out, "--background", background)
        assert done.returncode == 0, done.stderr[-2000:]
        assert cv2.imread(str(out)).shape == rgb.shape


def make_video(path: Path, frames=10, size=(160, 120)) -> None:
    """A short mp4v clip of a sample image panning sideways."""
    image = cv2.resize(cv2.imread(str(SAMPLES / "astronaut.jpg")), (size[0] + 4 * frames, size[1]))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(frames):
        writer.write(np.ascontiguousarray(image[:, 4 * i:4 * i + size[0]]))
    writer.release()


def test_video_composite_with_smoothing_and_fps(tflite, tmp_path):
    clip, out = tmp_path / "clip.mp4", tmp_path / "out" / "matted.mp4"
    make_video(clip)
    done = run_matte("--model", tflite, "--input", clip, "--output", out, "--smoothing", 0.6, "--show-fps",
                     "--threads", 2)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FPS" in done.stdout and "10 frames" in done.stdout
    assert "frame 10/10" in done.stderr
    capture = cv2.VideoCapture(str(out))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    assert len(frames) == 10 and frames[0].shape == (120, 160, 3)


@pytest.mark.parametrize("case", ["missing image", "corrupt image", "corrupt video", "bad model"])
def test_bad_input_gives_one_line_error(tflite, tmp_path, case):
    bad = tmp_path / {"missing image": "nope.jpg", "corrupt image": "broken.jpg", "corrupt video": "broken.mp4",
                      "bad model": "broken.tflite"}[case]
    if case != "missing image":
        bad.write_text("not what the suffix says\n")
    model, source = (bad, PORTRAIT) if case == "bad model" else (tflite, bad)
    out = tmp_path / ("out.png" if source.suffix == ".jpg" else "out.mp4")
    done = run_matte("--model", model, "--input", source, "--output", out)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("matte.py:")]
    assert len(errors) == 1 and str(bad) in errors[0], done.stderr
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_bad_arguments_exit_2(tflite, tmp_path):
    done = run_matte("--model", tflite, "--input", PORTRAIT, "--output", tmp_path / "x.png", "--smoothing", 1.5)
    assert done.returncode == 2 and "--smoothing" in done.stderr


# --- the browser page ---------------------------------------------------------------------------------

def ensure_chromium() -> str:
    """/usr/bin/chromium, installing Debian's package if needed; skips where it cannot be installed."""
    chromium = "/usr/bin/chromium"
    if os.path.exists(chromium):
        return chromium
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("chromium is missing and cannot be installed here (needs apt-get as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            pytest.skip(f"chromium could not be installed ({' '.join(command)}: {done.stderr.strip()[-300:]})")
    return chromium


def ensure_node_modules() -> None:
    """`npm ci` from the committed lockfile when node_modules is missing (a fresh clone)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not found: the page test needs Node.js 20+")
    if (WEB / "node_modules" / "@litertjs" / "core").is_dir() and (WEB / "node_modules" / "playwright-core").is_dir():
        return
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"npm ci failed: {done.stderr[-2000:]}"


def test_page_matches_python_runner(tflite, lite_matter, tmp_path):
    chromium = ensure_chromium()
    ensure_node_modules()
    done = subprocess.run(["node", "test/page_test.mjs", "--model", str(tflite), "--image", str(PORTRAIT),
                           "--out", str(tmp_path), "--chromium", chromium],
                          cwd=WEB, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    rgb = read_rgb(PORTRAIT)
    assert (result["height"], result["width"]) == rgb.shape[:2]
    assert result["inferenceMs"] > 0
    page_alpha = np.fromfile(tmp_path / "alpha.f32", "<f4").reshape(rgb.shape[:2])
    python_alpha = lite_matter.LiteMatter(tflite, threads=1).matte(rgb)
    assert python_alpha.std() > 0.05, "the test model's matte is constant: the comparison would prove nothing"
    assert np.abs(page_alpha - python_alpha).mean() < 2 / 255

    screenshot = tmp_path / "page.png"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cv2.imread(str(screenshot)).shape[0] > rgb.shape[0]  # the page shows the image at full size
