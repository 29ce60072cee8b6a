"""`alphanet matte` end to end on a tiny random model: outputs, skipping, failures, exit codes, stdio."""

import io
import os
import signal
import sys

import numpy as np
import pytest
from PIL import Image

from alphanet_tf import cli, inference
from alphanet_tf.inference import Matter
from alphanet_tf.runtimes import load_runtime


@pytest.fixture(scope="session")
def tiny_runtime(tiny_model_path):
    return load_runtime(tiny_model_path, threads=1)


@pytest.fixture
def model(tiny_model_path, tiny_runtime, monkeypatch):
    """The --model argument; each CLI run reuses the loaded model instead of reloading it (speed)."""

    def cached(model, threads=None):
        return tiny_runtime if str(model) == str(tiny_model_path) else load_runtime(model, threads)

    monkeypatch.setattr(inference, "load_runtime", cached)
    return str(tiny_model_path)


def save(path, h=64, w=96, seed=0, fmt=None):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, format=fmt)
    return path


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    save(src / "a.jpg", seed=1)
    save(src / "b.png", 48, 80, seed=2)
    return src


def run(*argv):
    return cli.main([str(a) for a in argv])


def test_version_and_help(capsys):
    assert run("--version") == 0
    assert "alphanet 0.1.0" in capsys.readouterr().out
    assert run("matte", "--help") == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--overwrite" in text and "--trimap" in text
    assert run("matte") == 2  # usage error: no input, no -o


def test_folder_mode_writes_rgba_and_a_summary(model, folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("matte", folder, "-o", out, "--model", model, "--jobs", "2") == 0
    assert sorted(os.listdir(out)) == ["a.png", "b.png"]
    im = Image.open(out / "b.png")
    assert im.mode == "RGBA" and im.size == (80, 48)
    assert "done 2, skipped 0, failed 0" in capsys.readouterr().err


def test_output_all_uses_suffixes(model, folder, tmp_path):
    out = tmp_path / "out"
    assert run("matte", folder / "a.jpg", "-o", out, "--model", model, "--output", "all",
               "--background", "#00ff00", "--no-fg-estimation") == 0
    assert sorted(os.listdir(out)) == ["a_alpha.png", "a_composite.png", "a_rgba.png", "a_trimap.png"]
    assert Image.open(out / "a_alpha.png").mode == "L"
    assert Image.open(out / "a_composite.png").mode == "RGB"
    assert set(np.unique(np.asarray(Image.open(out / "a_trimap.png")))) <= {0, 128, 255}


def test_existing_outputs_are_skipped_unless_overwrite(model, folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("matte", folder, "-o", out, "--model", model, "--output", "alpha") == 0
    (out / "a.png").write_bytes(b"sentinel")
    capsys.readouterr()
    assert run("matte", folder, "-o", out, "--model", model, "--output", "alpha") == 0
    err = capsys.readouterr().err
    assert "skipped 2" in err and "use --overwrite" in err
    assert (out / "a.png").read_bytes() == b"sentinel"
    assert run("matte", folder, "-o", out, "--model", model, "--output", "alpha", "--overwrite") == 0
    assert Image.open(out / "a.png").size == (96, 64)


def test_a_bad_file_fails_alone_and_sets_the_exit_code(model, folder, tmp_path, capsys):
    (folder / "broken.jpg").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    assert run("matte", folder, tmp_path / "missing.jpg", "-o", out, "--model", model) == 1
    assert sorted(os.listdir(out)) == ["a.png", "b.png"]
    err = capsys.readouterr().err
    assert "done 2, skipped 0, failed 3" in err
    assert "broken.jpg: not an image" in err and "empty.png: empty file" in err
    assert "missing.jpg: file not found" in err


def test_folder_without_images(model, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    assert run("matte", tmp_path / "empty", "-o", tmp_path / "out", "--model", model) == 1
    assert "no images found" in capsys.readouterr().err


def test_recursive_keeps_subfolders(model, folder, tmp_path):
    (folder / "sub").mkdir()
    save(folder / "sub" / "c.webp", fmt="WEBP")
    out = tmp_path / "out"
    assert run("matte", folder, "-o", out, "--model", model) == 0
    assert not (out / "sub").exists()
    assert run("matte", folder, "-r", "-o", out, "--model", model) == 0
    assert (out / "sub" / "c.png").exists()


def test_output_folder_inside_the_input_folder_is_not_read_back(model, folder):
    out = folder / "out"
    assert run("matte", folder, "-r", "-o", out, "--model", model) == 0
    assert run("matte", folder, "-r", "-o", out, "--model", model, "--overwrite") == 0
    assert sorted(os.listdir(out)) == ["a.png", "b.png"]


def test_output_equal_to_input_is_refused(model, folder, capsys):
    before = (folder / "b.png").read_bytes()
    assert run("matte", folder, "-o", folder, "--model", model, "--overwrite") == 1
    assert (folder / "b.png").read_bytes() == before
    assert "would overwrite an input" in capsys.readouterr().err
    assert (folder / "a.png").exists()  # a.jpg -> a.png is a different file: written


def test_max_pixels_refuses_big_inputs(model, folder, tmp_path, capsys):
    assert run("matte", folder, "-o", tmp_path / "out", "--model", model, "--max-pixels", "3000") == 1
    err = capsys.readouterr().err
    assert "failed 2" in err and "too large" in err


def test_given_trimaps_matched_by_stem(model, folder, tmp_path):
    trimaps = tmp_path / "trimaps"
    trimaps.mkdir()
    t = np.zeros((64, 96), np.uint8)
    t[:, 32:] = 128
    t[:, 64:] = 255
    Image.fromarray(t).save(trimaps / "a.png")
    out = tmp_path / "out"
    assert run("matte", folder / "a.jpg", "-o", out, "--model", model, "--output", "alpha",
               "--trimap", trimaps) == 0
    alpha = np.asarray(Image.open(out / "a.png"))
    assert (alpha[:, :32] == 0).all() and (alpha[:, 64:] == 255).all()
    assert run("matte", folder / "a.jpg", "-o", tmp_path / "raw", "--model", model, "--output", "alpha",
               "--trimap", trimaps, "--no-refine") == 0
    raw = Matter(model, refine=False).matte(folder / "a.jpg", trimaps / "a.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "raw" / "a.png")), np.rint(raw * 255))
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "raw" / "a.png")), alpha)
    assert run("matte", folder, "-o", tmp_path / "out2", "--model", model, "--trimap", trimaps) == 1


class _Stdio(io.TextIOWrapper):
    """A text stream over bytes, like sys.stdin/sys.stdout, with `.buffer`."""


def test_stdin_to_stdout(model, tmp_path, monkeypatch):
    data = save(tmp_path / "p.jpg", 40, 70).read_bytes()
    monkeypatch.setattr(sys, "stdin", _Stdio(io.BytesIO(data)))
    stdout = _Stdio(io.BytesIO())
    monkeypatch.setattr(sys, "stdout", stdout)
    assert run("matte", "-", "-o", "-", "--model", model) == 0
    stdout.flush()
    im = Image.open(io.BytesIO(stdout.buffer.getvalue()))
    assert im.format == "PNG" and im.mode == "RGBA" and im.size == (70, 40)


def test_stdout_needs_one_input_and_one_output(model, folder, capsys):
    assert run("matte", folder, "-o", "-", "--model", model) == 2
    assert "exactly one input" in capsys.readouterr().err


def test_missing_model_is_a_one_line_error(tmp_path, folder, capsys):
    assert run("matte", folder, "-o", tmp_path / "out", "--model", tmp_path / "nope.keras") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.keras: model not found" in err


def test_bad_background_is_refused_before_work(model, folder, tmp_path, capsys):
    assert run("matte", folder, "-o", tmp_path / "out", "--model", model, "--output", "composite",
               "--background", "not-a-colour") == 2
    assert "not a colour" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_after_the_current_image(model, folder, tmp_path, monkeypatch, capsys):
    save(folder / "c.png", seed=3)
    original = cli._Worker.__call__

    def interrupting(self, job):
        result = original(self, job)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives while the first image is being written
        return result

    monkeypatch.setattr(cli._Worker, "__call__", interrupting)
    # Whatever handler was installed before (SIG_IGN under nohup or a background shell) comes back after.
    before = signal.getsignal(signal.SIGINT)
    out = tmp_path / "out"
    assert run("matte", folder, "-o", out, "--model", model) == 130
    assert os.listdir(out) == ["a.png"]
    assert "done 1, skipped 0, failed 0 (interrupted)" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before


def test_dispatch_to_a_missing_module(monkeypatch, capsys):
    monkeypatch.setitem(cli.DISPATCH, "export", "export.no_such_module_here")
    assert run("export", "--help") == 2
    assert "not available" in capsys.readouterr().err


def test_dispatch_passes_the_rest_of_argv(monkeypatch):
    import types

    seen = {}
    fake = types.ModuleType("fake_alphanet_sub")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 3
    monkeypatch.setitem(sys.modules, "fake_alphanet_sub", fake)
    monkeypatch.setitem(cli.DISPATCH, "train", "fake_alphanet_sub")
    assert run("train", "--config", "x.yaml") == 3
    assert seen["argv"] == ["--config", "x.yaml"]


def test_verify_export_is_a_subcommand(capsys):
    assert run("verify-export", "--help") == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: alphanet verify-export") and "--artifacts" in out
