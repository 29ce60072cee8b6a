"""Contact sheet of `make demo`: one row per sample, photo | trimap | alpha | cut-out over a checkerboard.

    make demo && python -m benchmarks.demo_sheet out/ docs/images/samples_contact_sheet.jpg

Reads the photos from `alphanet_tf/assets/samples/` (or `--photos FILE|DIR ...`, in that order) and
`STEM_trimap.png`, `STEM_alpha.png` and `STEM_rgba.png` from the demo's output folder (`--output all`).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "alphanet_tf" / "assets" / "samples"


def checkerboard(h, w, cell=16):
    yy, xx = np.mgrid[:h, :w]
    return np.where(((yy // cell) + (xx // cell)) % 2 == 0, 235, 190).astype(np.float32)[..., None].repeat(3, -1)


def row(photo_path, out_dir, height):
    stem = photo_path.stem
    photo = Image.open(photo_path).convert("RGB")
    w = round(photo.width * height / photo.height)

    def load(suffix, mode):
        path = out_dir / f"{stem}_{suffix}.png"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (run `make demo`, which writes --output all)")
        return np.asarray(Image.open(path).convert(mode).resize((w, height), Image.BILINEAR), np.float32)

    rgba = load("rgba", "RGBA")
    a = rgba[..., 3:] / 255.0
    cutout = rgba[..., :3] * a + checkerboard(height, w) * (1 - a)
    tiles = [np.asarray(photo.resize((w, height), Image.BILINEAR), np.float32),
             load("trimap", "RGB"), load("alpha", "RGB"), cutout]
    gap = np.full((height, 4, 3), 255, np.float32)
    return np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path, help="the folder `make demo` wrote")
    parser.add_argument("sheet", type=Path, help="output image (.jpg or .png)")
    parser.add_argument("--height", type=int, default=220, help="row height in pixels")
    parser.add_argument("--photos", type=Path, nargs="+", default=[SAMPLES], metavar="PATH",
                        help="the photos that were matted: files or folders (default: the bundled samples)")
    args = parser.parse_args(argv)
    photos = [p for path in args.photos for p in (sorted(path.iterdir()) if path.is_dir() else [path])
              if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    try:
        rows = [row(p, args.out_dir, args.height) for p in photos]
    except FileNotFoundError as error:
        print(f"demo_sheet: {error}", file=sys.stderr)
        return 2
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows).clip(0, 255).astype(np.uint8)).save(args.sheet, quality=88)
    print(f"wrote {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
