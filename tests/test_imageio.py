"""Decoding every supported format, refusing every kind of bad input with one clear line, atomic writes."""

import io
import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from alphanet_tf import imageio
from alphanet_tf.imageio import (
    ImageError,
    list_images,
    read_background,
    read_image,
    read_trimap,
    write_png_atomic,
)

H, W = 24, 40


def quadrants():
    """RGB test card: four flat colours, so lossy formats can be checked by the mean of each quadrant."""
    img = np.zeros((H, W, 3), np.uint8)
    img[: H // 2, : W // 2] = (220, 30, 30)
    img[: H // 2, W // 2 :] = (30, 200, 40)
    img[H // 2 :, : W // 2] = (20, 40, 210)
    img[H // 2 :, W // 2 :] = (240, 240, 240)
    return img


def quadrant_means(img):
    return np.array([q.reshape(-1, 3).mean(0) for q in (
        img[: H // 2, : W // 2], img[: H // 2, W // 2 :], img[H // 2 :, : W // 2], img[H // 2 :, W // 2 :])])


def assert_one_line_naming(err, path):
    text = str(err.value)
    assert "\n" not in text
    assert str(path) in text


@pytest.mark.parametrize(
    "name, mode, fmt, tol",
    [
        ("a.jpg", "RGB", "JPEG", 12),
        ("a.png", "RGB", "PNG", 0),
        ("a.webp", "RGB", "WEBP", 12),
        ("a.bmp", "RGB", "BMP", 0),
        ("a.tif", "RGB", "TIFF", 0),
        ("palette.png", "P", "PNG", 20),
        ("rgba.png", "RGBA", "PNG", 0),
        ("cmyk.jpg", "CMYK", "JPEG", 14),
        ("cmyk.tif", "CMYK", "TIFF", 2),
    ],
)
def test_colour_formats_decode_to_rgb_uint8(tmp_path, name, mode, fmt, tol):
    card = quadrants()
    path = tmp_path / name
    im = Image.fromarray(card)
    im = im.convert(mode) if mode != "P" else im.quantize(8)
    im.save(path, format=fmt)
    rgb, info = read_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
    assert info.format == fmt and info.mode == im.mode
    assert np.abs(quadrant_means(rgb) - quadrant_means(card)).max() <= tol + 0.5


@pytest.mark.parametrize("mode", ["L", "LA", "1"])
def test_grey_formats_become_three_equal_channels(tmp_path, mode):
    grey = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    path = tmp_path / f"grey_{mode}.png"
    Image.fromarray(grey).convert(mode).save(path)
    rgb, _ = read_image(path)
    assert rgb.shape == (H, W, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    if mode != "1":
        np.testing.assert_array_equal(rgb[..., 0], grey)


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 64, 257 * 128, 65535]] * 8, np.uint16).repeat(2, axis=1)
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
    rgb, _ = read_image(path)
    np.testing.assert_array_equal(rgb[0, ::2, 0], [0, 64, 128, 255])


def test_16_bit_rgb_png(tmp_path):
    card16 = quadrants().astype(np.uint16) * 257
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), card16[..., ::-1])  # OpenCV writes 48-bit PNGs (BGR)
    rgb, _ = read_image(path)
    np.testing.assert_array_equal(rgb, quadrants())


def test_alpha_is_dropped_and_reported(tmp_path):
    rgba = np.dstack([quadrants(), np.full((H, W), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba).save(tmp_path / "transparent.png")
    Image.fromarray(rgba[..., [0, 3]]).convert("LA").save(tmp_path / "la.png")
    pal = Image.fromarray(quadrants()).quantize(4)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal_t.png", transparency=0)

    rgb, info = read_image(tmp_path / "transparent.png")
    np.testing.assert_array_equal(rgb, quadrants())
    assert info.dropped_alpha
    assert not read_image(tmp_path / "opaque.png")[1].dropped_alpha
    assert read_image(tmp_path / "la.png")[1].dropped_alpha
    assert read_image(tmp_path / "pal_t.png")[1].dropped_alpha


def test_exif_orientation_is_applied(tmp_path):
    raw = np.zeros((40, 80, 3), np.uint8)
    raw[:8, :8] = (255, 0, 0)  # marker at the stored top-left
    im = Image.fromarray(raw)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    im.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    rgb, info = read_image(tmp_path / "rotated.jpg")
    assert rgb.shape == (80, 40, 3) and info.exif_transposed
    assert rgb[2, -3, 0] > 200 and rgb[2, 2, 0] < 40  # the marker moved to the top-right


def test_bytes_input(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(quadrants()).save(buf, format="PNG")
    rgb, _ = read_image(buf.getvalue(), name="<stdin>")
    np.testing.assert_array_equal(rgb, quadrants())
    with pytest.raises(ImageError, match="<stdin>: empty"):
        read_image(b"", name="<stdin>")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file") as err:
        read_image(path)
    assert_one_line_naming(err, path)


def test_truncated_jpeg(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated") as err:
        read_image(path)
    assert_one_line_naming(err, path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 10)
    with pytest.raises(ImageError, match="not an image") as err:
        read_image(path)
    assert_one_line_naming(err, path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="directory"):
        read_image(tmp_path)


def test_tiny_image_refused(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(path)
    with pytest.raises(ImageError, match="too small") as err:
        read_image(path)
    assert_one_line_naming(err, path)


@pytest.fixture
def no_decoding(monkeypatch):
    """Makes any pixel decoding fail loudly, to prove a refusal came from the header alone."""

    def forbidden(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)


def test_huge_image_refused_from_header_before_decoding(tmp_path, no_decoding):
    path = tmp_path / "huge.png"  # 9000 x 9000 = 81 MP: below PIL's bomb error, above our default
    Image.new("1", (9000, 9000)).save(path)
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageError, match="too large") as err:
        read_image(path)
    assert_one_line_naming(err, path)
    assert "9000x9000" in str(err.value)


def test_decompression_bomb_gets_our_message_not_pils(tmp_path, no_decoding):
    path = tmp_path / "bomb.png"  # 20000 x 20000 = 400 MP: PIL itself refuses to open it
    Image.new("1", (20000, 20000)).save(path)
    with pytest.raises(ImageError, match="too large") as err:
        read_image(path)
    assert_one_line_naming(err, path)
    assert "400,000,000" in str(err.value) and "DOS" not in str(err.value)


def test_pixel_limit_is_configurable(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(quadrants()).save(path)
    with pytest.raises(ImageError, match="limit 500"):
        read_image(path, max_pixels=500)
    assert read_image(path, max_pixels=H * W)[0].shape == (H, W, 3)


def test_read_trimap_levels_and_resize(tmp_path):
    tri = np.zeros((H, W), np.uint8)
    tri[:, W // 3 :] = 128
    tri[:, 2 * W // 3 :] = 255
    tri[0, 0] = 20  # JPEG-like noise near black stays background
    Image.fromarray(tri).save(tmp_path / "t.png")
    t = read_trimap(tmp_path / "t.png")
    assert t.dtype == np.float32 and set(np.unique(t)) == {0.0, 0.5, 1.0}
    assert t[0, 0] == 0 and t[0, -1] == 1 and t[0, W // 2] == 0.5
    assert read_trimap(tmp_path / "t.png", size=(2 * H, 2 * W)).shape == (2 * H, 2 * W)
    with pytest.raises(ImageError, match="aspect"):
        read_trimap(tmp_path / "t.png", size=(H, 3 * W))


def test_read_background_colour_and_image(tmp_path):
    np.testing.assert_array_equal(read_background("#ff8000"), [255, 128, 0])
    np.testing.assert_array_equal(read_background("#0f0", size=(3, 4))[2, 3], [0, 255, 0])
    Image.fromarray(quadrants()).save(tmp_path / "bg.png")
    bg = read_background(tmp_path / "bg.png", size=(100, 50))  # taller than the 24x40 card: cover + crop
    assert bg.shape == (100, 50, 3) and bg.dtype == np.uint8
    with pytest.raises(ImageError, match="not a colour"):
        read_background("no-such-colour-or-file")


def test_write_png_atomic_round_trip_leaves_no_temp(tmp_path):
    target = tmp_path / "out.png"
    rgba = np.dstack([quadrants(), np.arange(H * W, dtype=np.uint8).reshape(H, W)])
    write_png_atomic(target, rgba)
    np.testing.assert_array_equal(np.asarray(Image.open(target)), rgba)
    write_png_atomic(target, np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W))  # float alpha
    with Image.open(target) as im:
        assert im.mode == "L"
    assert os.listdir(tmp_path) == ["out.png"]


def test_write_png_atomic_failure_keeps_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    write_png_atomic(target, quadrants())
    before = target.read_bytes()
    with pytest.raises(ValueError):  # bad shape: fails while encoding, before touching the disk
        write_png_atomic(target, np.zeros((4, 4, 2), np.uint8))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(imageio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_png_atomic(target, np.zeros((H, W), np.uint8))
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]


def test_list_images(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.jpg", "a.PNG", "sub/c.webp", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.PNG", "b.jpg"]
    assert [p.name for p in list_images(tmp_path, recursive=True)] == ["a.PNG", "b.jpg", "c.webp"]
    assert list_images(tmp_path / "sub" / "..", recursive=False)[0].name == "a.PNG"
