"""On-device matting demo: an exported AlphaNet .tflite on LiteRT, numpy and OpenCV only (no TensorFlow).

    python mobile_demo/matte.py --model dist/alphanet_int8_ptq.tflite --input photo.jpg --output cutout.png
    python mobile_demo/matte.py --model dist/alphanet_int8_ptq.tflite --input call.mp4 --output out.mp4 --show-fps
    python mobile_demo/matte.py --model dist/alphanet_int8_ptq.tflite --camera 0 --output cam.mp4 --frames 300

Images give an RGBA PNG cut-out, or a composite with --background; videos and cameras give an mp4 composite
(default background: blur, the video-call effect) with the alpha smoothed over time. Exit codes: 0 done,
1 a file could not be read or written, 2 bad arguments. Outputs appear only when complete (temp + rename).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lite_matter import DemoError, LiteMatter  # noqa: E402

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
PROG = "matte.py"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="MODEL.tflite", help="exported by `alphanet export`")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="IMAGE|VIDEO", help="a photo or a video file")
    source.add_argument("--camera", type=int, metavar="N", help="camera index (OpenCV), instead of --input")
    parser.add_argument("--output", required=True, metavar="PATH", help=".png for a cut-out, .mp4 for video")
    parser.add_argument("--background", metavar="COLOR|IMAGE|blur",
                        help="'#RRGGBB', an image (resized to cover) or 'blur'; images default to an RGBA "
                             "cut-out, videos to blur")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                        help="CPU threads for LiteRT and OpenCV (default: up to 4)")
    parser.add_argument("--smoothing", type=float, default=0.5, metavar="0..1",
                        help="video: weight of the previous alpha in the moving average (0 = off, default 0.5)")
    parser.add_argument("--show-fps", action="store_true", help="video: draw the frame rate on each frame")
    parser.add_argument("--frames", type=int, default=0, metavar="N", help="video: stop after N frames (0 = all)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.smoothing < 1.0:
        parser.error(f"--smoothing {args.smoothing} is not in [0, 1)")
    if args.threads < 1:
        parser.error(f"--threads {args.threads} must be at least 1")
    return args


@contextmanager
def atomic_output(path: Path):
    """A temporary path beside `path` (same suffix, so OpenCV picks the format), renamed on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result should not be
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def parse_color(text: str):
    """'#RRGGBB' -> (r, g, b), or None if it is not a colour."""
    t = text.lstrip("#")
    if text.startswith("#") and len(t) == 6:
        try:
            return tuple(int(t[i:i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            pass
    return None


def load_background(spec: str | None):
    """None, 'blur', an (r, g, b) colour or an RGB image array; DemoError names a bad one."""
    if spec is None or spec == "blur":
        return spec
    color = parse_color(spec)
    if color is not None:
        return color
    if not Path(spec).is_file():
        raise DemoError(f"{spec}: --background is not '#RRGGBB', 'blur' or an existing image file")
    image = cv2.imread(spec, cv2.IMREAD_COLOR)
    if image is None:
        raise DemoError(f"{spec}: not a readable image (--background)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def cover(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """Resizes to cover h x w (aspect kept), centre-cropped."""
    scale = max(h / image.shape[0], w / image.shape[1])
    rh, rw = max(h, round(image.shape[0] * scale)), max(w, round(image.shape[1] * scale))
    image = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (rh - h) // 2, (rw - w) // 2
    return image[top:top + h, left:left + w]


def blurred_background(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The frame's own background, blurred without the person bleeding into it (blur weighted by 1 - alpha).
    Computed at a quarter of the resolution: it is blurred anyway, and it costs 4 ms instead of 60."""
    h, w = alpha.shape
    small = (max(1, w // 4), max(1, h // 4))
    colour = cv2.resize(rgb.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    weight = cv2.resize(1.0 - alpha, small, interpolation=cv2.INTER_AREA)
    sigma = max(small) / 60
    blurred = cv2.GaussianBlur(colour * weight[..., None], (0, 0), sigma)
    norm = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    plain = cv2.GaussianBlur(colour, (0, 0), sigma)
    background = np.where(norm > 1e-3, blurred / np.maximum(norm, 1e-3), plain)
    return cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)


def composite(rgb: np.ndarray, alpha: np.ndarray, background) -> np.ndarray:
    """uint8 RGB over the background (colour, image array or 'blur')."""
    h, w = alpha.shape
    if isinstance(background, str):
        bg = blurred_background(rgb, alpha)
    elif isinstance(background, tuple):
        bg = np.empty((h, w, 3), np.float32)
        bg[:] = background
    else:
        bg = cover(background, h, w).astype(np.float32)
    a = alpha[..., None]
    return np.clip(rgb * a + bg * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DemoError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def run_image(matter: LiteMatter, args) -> None:
    rgb = read_image(Path(args.input))
    background = load_background(args.background)
    out = Path(args.output)
    if background is None and out.suffix.lower() != ".png":
        raise DemoError(f"{out}: an RGBA cut-out needs a .png output (or give --background)")
    start = time.perf_counter()
    alpha = matter.matte(rgb)
    elapsed = time.perf_counter() - start
    if background is None:
        result = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
        result[..., 3] = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    else:
        result = cv2.cvtColor(composite(rgb, alpha, background), cv2.COLOR_RGB2BGR)
    with atomic_output(out) as tmp:
        if not cv2.imwrite(tmp, result):
            raise DemoError(f"{out}: cannot write an image with suffix {out.suffix!r}")
    h, w = alpha.shape
    print(f"{out}: {w}x{h}, matted in {elapsed * 1000:.0f} ms ({args.threads} threads)")


def draw_fps(bgr: np.ndarray, fps: float) -> None:
    text = f"{fps:.1f} FPS"
    for color, thickness in (((0, 0, 0), 4), ((255, 255, 255), 1)):
        cv2.putText(bgr, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, color, thickness, cv2.LINE_AA)


def report_progress(name: str, done: int, total: int, shown: float) -> float:
    """'frame i/N' on stderr at most twice a second (in place on a terminal); returns when it last printed."""
    now = time.perf_counter()
    if now - shown < 0.5 and done != total:
        return shown
    end = "\r" if sys.stderr.isatty() else "\n"
    print(f"{name}: frame {done}" + (f"/{total}" if total else ""), end=end, file=sys.stderr, flush=True)
    return now


def open_capture(args):
    """(capture, name for messages, frames per second, frame count or 0)."""
    name = f"camera {args.camera}" if args.camera is not None else args.input
    cap = cv2.VideoCapture(args.camera if args.camera is not None else args.input)
    if not cap.isOpened():
        raise DemoError(f"{name}: cannot open as a video (OpenCV cannot decode it)")
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if args.camera is None else 0
    return cap, name, fps if 0 < fps < 240 else 30.0, max(count, 0)


def run_video(matter: LiteMatter, args) -> None:
    background = load_background(args.background or "blur")
    cap, name, fps_in, count = open_capture(args)
    ok, frame = cap.read()
    if not ok:
        raise DemoError(f"{name}: no frame could be decoded")
    h, w = frame.shape[:2]
    total = min(count, args.frames) if args.frames and count else (args.frames or count)
    out = Path(args.output)
    ema = None
    done, infer_seconds, rate, shown = 0, 0.0, None, 0.0
    with atomic_output(out) as tmp:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps_in, (w, h))
        if not writer.isOpened():
            raise DemoError(f"{out}: cannot write an mp4v video with suffix {out.suffix!r} (use .mp4)")
        start = last = time.perf_counter()
        try:
            while ok:
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                t = time.perf_counter()
                alpha = matter.matte(rgb)
                infer_seconds += time.perf_counter() - t
                ema = alpha if ema is None else args.smoothing * ema + (1.0 - args.smoothing) * alpha
                bgr = cv2.cvtColor(composite(rgb, ema, background), cv2.COLOR_RGB2BGR)
                now = time.perf_counter()
                instant = 1.0 / max(now - last, 1e-6)
                rate, last = instant if rate is None else 0.9 * rate + 0.1 * instant, now
                if args.show_fps:
                    draw_fps(bgr, rate)
                writer.write(bgr)
                done += 1
                shown = report_progress(name, done, total, shown)
                if args.frames and done >= args.frames:
                    break
                ok, frame = cap.read()
        except KeyboardInterrupt:  # Ctrl-C on a camera: keep what was recorded
            pass
        finally:
            writer.release()
            cap.release()
            if sys.stderr.isatty():
                print(file=sys.stderr)
    seconds = time.perf_counter() - start
    print(f"{out}: {done} frames {w}x{h}, {done / seconds:.2f} FPS overall, "
          f"{infer_seconds / done * 1000:.1f} ms/frame matting ({args.threads} threads)")


def main(argv=None) -> int:
    args = parse_args(argv)
    cv2.setNumThreads(args.threads)
    try:
        if args.input is not None and not Path(args.input).is_file():
            raise DemoError(f"{args.input}: no such file")
        if not Path(args.model).is_file():
            raise DemoError(f"{args.model}: no such model file")
        matter = LiteMatter(args.model, threads=args.threads)
        if args.camera is None and Path(args.input).suffix.lower() in IMAGE_SUFFIXES:
            run_image(matter, args)
        else:
            run_video(matter, args)
    except DemoError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
