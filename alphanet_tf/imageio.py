"""Image decoding and encoding, with every check of bad input in one place.

Everything that reads a user's file goes through here, so a bad input fails the same way everywhere: one
`ImageError(path, reason)` whose message is a single line naming the file. Sizes are checked from the header
before any pixel is decoded, so a huge (or hostile) image is refused without using its memory.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageColor, ImageOps, UnidentifiedImageError

from alphanet_tf import trimap as trimap_levels

#: Smallest side accepted: below it there is nothing to matte and the network's padding dominates.
MIN_SIDE = 8
#: Default pixel limit (width x height) checked against the header: 64 MP, about 8000 x 8000.
DEFAULT_MAX_PIXELS = 64_000_000
#: File name endings read in folder mode.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


class ImageError(ValueError):
    """A file that cannot be used as an image; `str()` is one line naming the file."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")


@dataclass(frozen=True)
class ImageInfo:
    """What decoding found out, for messages: the caller warns once when `dropped_alpha` is set."""

    format: str | None
    mode: str
    width: int
    height: int
    dropped_alpha: bool = False
    exif_transposed: bool = False


def _name(source, name):
    if name is not None:
        return str(name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(source)


def _open_checked(source, name=None, max_pixels=DEFAULT_MAX_PIXELS, min_side=MIN_SIDE):
    """Opens (header only), checks the size, decodes and applies the EXIF orientation.

    PIL's own decompression-bomb check runs inside `Image.open`; its warning is silenced and its error
    translated so that our limit and message are the ones a user sees.
    """
    label = _name(source, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError(label, "empty input (0 bytes)")
        fp = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        if not path.exists():
            raise ImageError(label, "file not found")
        if path.is_dir():
            raise ImageError(label, "is a directory, not an image file")
        if path.stat().st_size == 0:
            raise ImageError(label, "empty file (0 bytes)")
        fp = path
    if max_pixels and Image.MAX_IMAGE_PIXELS and 2 * Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels  # the caller allowed more than PIL would open; our check governs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Image.DecompressionBombError as e:
        found = re.search(r"\((\d+) pixels\)", str(e))
        pixels = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        limit = f"limit {max_pixels:,}" if max_pixels else "beyond the decoder's limit"
        raise ImageError(label, f"image too large ({pixels}, {limit})") from None
    except UnidentifiedImageError:
        raise ImageError(label, "not an image, or a format that cannot be read") from None
    except OSError as e:
        raise ImageError(label, f"cannot open: {e}") from None

    with im:  # closes the file however this ends; a loaded image keeps its pixels
        width, height = im.size
        if max_pixels and width * height > max_pixels:
            pixels = f"{width}x{height} = {width * height:,} pixels"
            raise ImageError(label, f"image too large ({pixels}, limit {max_pixels:,})")
        if min(width, height) < min_side:
            raise ImageError(label, f"image too small ({width}x{height}, at least {min_side} px per side)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            truncated = "truncat" in str(e).lower()
            raise ImageError(label, "truncated or corrupt image data" if truncated else f"cannot decode: {e}") from None
    transposed = False
    try:
        orientation = im.getexif().get(0x0112, 1)
        if orientation not in (None, 1):
            im = ImageOps.exif_transpose(im)
            transposed = True
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        pass
    return im, label, transposed


def _uint8_channels(im: Image.Image) -> np.ndarray:
    """Pixel data as uint8 HxWxC (C = 1, 2, 3 or 4), scaling 16-bit and float data instead of clipping."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        arr = np.asarray(im)
    elif mode.startswith("I;16") or mode == "I":
        raw = np.asarray(im).astype(np.float64)
        top = 65535.0 if raw.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        arr = np.clip(np.rint(raw * (255.0 / top)), 0, 255).astype(np.uint8)
    elif mode == "F":
        raw = np.asarray(im).astype(np.float64)
        top = 1.0 if raw.max(initial=0) <= 1.0 else 255.0
        arr = np.clip(np.rint(raw * (255.0 / top)), 0, 255).astype(np.uint8)
    elif mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        arr = np.asarray(im.convert("RGBA"))
    else:  # 1, P, CMYK, YCbCr, LAB, HSV, ...
        arr = np.asarray(im.convert("RGB"))
    if arr.ndim == 2:
        arr = arr[..., None]
    return np.ascontiguousarray(arr)


def read_image(source, *, max_pixels=DEFAULT_MAX_PIXELS, min_side=MIN_SIDE, name=None):
    """Decodes an image file (path or bytes) to RGB uint8 HxWx3 and an `ImageInfo`.

    An existing alpha channel is dropped (the net predicts its own); `info.dropped_alpha` says whether it
    held any transparency. Raises `ImageError` for every kind of bad input.
    """
    im, label, transposed = _open_checked(source, name, max_pixels, min_side)
    try:
        arr, dropped = pil_to_rgb(im)
    except (OSError, ValueError) as e:
        raise ImageError(label, f"cannot convert {im.mode} pixels: {e}") from None
    info = ImageInfo(im.format, im.mode, arr.shape[1], arr.shape[0], dropped, transposed)
    return arr, info


def pil_to_rgb(im: Image.Image):
    """A decoded PIL image of any mode -> (uint8 RGB HxWx3, whether a non-opaque alpha was dropped)."""
    arr = _uint8_channels(im)
    dropped = False
    if arr.shape[2] in (2, 4):
        dropped = bool((arr[..., -1] < 255).any())
        arr = arr[..., :-1]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr), dropped


def read_grey(source, *, max_pixels=DEFAULT_MAX_PIXELS, name=None) -> np.ndarray:
    """Decodes a single-channel map (trimap, alpha) to float32 HxW in [0, 1]."""
    im, label, _ = _open_checked(source, name, max_pixels, min_side=1)
    arr = _uint8_channels(im)
    if arr.shape[2] in (2, 4):
        arr = arr[..., :-1]
    if arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)[..., None]
    return arr[..., 0].astype(np.float32) / 255.0


def _fit_map(values: np.ndarray, size, label) -> np.ndarray:
    """Nearest-neighbour resize of a map to `size` (h, w) when the aspect ratios agree within 1 %."""
    h, w = size
    mh, mw = values.shape[:2]
    if (mh, mw) == (h, w):
        return values
    if abs(mw / mh - w / h) > 0.01 * (w / h):
        raise ImageError(label, f"trimap is {mw}x{mh} but the image is {w}x{h} (different aspect ratio)")
    return cv2.resize(values, (w, h), interpolation=cv2.INTER_NEAREST)


def read_trimap(source, size=None, *, name=None) -> np.ndarray:
    """Reads a trimap (black background, grey unknown, white foreground) as float32 HxW in {0, 0.5, 1}.

    With `size` (h, w) it is resized (nearest) to the image it belongs to, or refused if its shape differs.
    """
    values = read_grey(source, name=name)
    if size is not None:
        values = _fit_map(values, size, _name(source, name))
    return trimap_levels.quantize(values)


def cover(image: np.ndarray, size) -> np.ndarray:
    """Resizes (keeping the aspect) and centre-crops `image` so it exactly covers `size` (h, w)."""
    h, w = size
    ih, iw = image.shape[:2]
    scale = max(h / ih, w / iw)
    nh, nw = max(h, round(ih * scale)), max(w, round(iw * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    top, left = (nh - h) // 2, (nw - w) // 2
    return np.ascontiguousarray(resized[top : top + h, left : left + w])


def read_background(spec, size=None) -> np.ndarray:
    """A background for composites: a colour ('#RRGGBB', '#RGB' or a CSS name) or an image path.

    Returns uint8 RGB (3,) for a colour or HxWx3 for an image; with `size` (h, w) always HxWx3, an image
    resized to cover that size.
    """
    spec_s = "" if isinstance(spec, np.ndarray) else str(spec)
    if isinstance(spec, np.ndarray):
        bg = spec.astype(np.uint8)
    elif spec_s.startswith("#") or not Path(spec_s).exists():
        try:
            bg = np.array(ImageColor.getrgb(spec_s)[:3], np.uint8)
        except ValueError:
            reason = "not a colour ('#RRGGBB') nor an existing image file"
            raise ImageError(spec_s, reason) from None
    else:
        bg, _ = read_image(spec_s)
    if size is None:
        return bg
    if bg.ndim == 1:
        return np.broadcast_to(bg, (*size, 3)).copy()
    return cover(bg, size)


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Float data in [0, 1] to uint8 (rounded); uint8 passes through."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    return np.clip(np.rint(np.asarray(array, np.float32) * 255.0), 0, 255).astype(np.uint8)


def encode_png(array: np.ndarray, compress_level: int = 3) -> bytes:
    """PNG bytes of a grey (HxW), RGB or RGBA array (uint8, or float in [0, 1]).

    OpenCV's encoder at level 3: at 10 MP RGBA it takes 1.2 s against PIL's 3.5 s at its default level 6,
    for files about 15 % larger, and it releases the GIL (so --jobs overlaps encoding with the model).
    """
    arr = to_uint8(np.asarray(array))
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"cannot write an array of shape {arr.shape} as PNG")
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR if arr.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr), [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
    if not ok:
        raise ValueError(f"PNG encoding failed for an array of shape {arr.shape}")
    return buf.tobytes()


def write_bytes_atomic(path, data: bytes) -> None:
    """Writes through a temp file in the same folder and `os.replace`: readers never see half a file,
    and an existing file stays untouched when anything fails."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_png_atomic(path, array: np.ndarray) -> None:
    """Encodes `array` as PNG (before touching the disk) and writes it atomically to `path`."""
    write_bytes_atomic(path, encode_png(array))


def list_images(folder, recursive: bool = False) -> list[Path]:
    """Image files in `folder` (by extension, sorted), skipping hidden files such as our temp files."""
    folder = Path(folder)
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(
        p
        for p in pattern
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )
