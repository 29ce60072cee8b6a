"""Assembles trained stages into the AlphaNet that ships (no optimizer state, inference seg size).

    python -m training.assemble --alphanet runs/end2end/best.keras --out alphanet_tf/assets/alphanet_default.keras
    python -m training.assemble --segmentation runs/segmentation/best.keras --matting runs/matting/best.keras --out M.keras
    python -m training.assemble --segmentation default --matting runs/matting_noatt/best.keras --out M.keras
    python -m training.assemble --trimap-net runs/matting_v4/best.keras --out alphanet_tf/assets/alphanet_trimap.npz

`--segmentation` and `--matting` take a stage checkpoint, or a whole AlphaNet (`default`: the shipped one),
whose stage of that name is used: e.g. a new matting net behind the shipped segmentation net (an ablation).

End-to-end training runs the segmentation net on the crop size; the shipped model uses `--seg-size` (320).
`--trimap-net` packs a matting net for given trimaps with its guided filter (`GivenTrimapMattingNet`; int8
weights, `alphanet_tf.packed_weights`): beside the default model it replaces the automatic pipeline's matting
net whenever a trimap is given.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


ED_SETTINGS = {"trimap_rate": "rate", "max_radius": "max_radius", "clean_radius": "clean_radius", "unsure": "unsure"}


def assemble(out, alphanet=None, segmentation=None, matting=None, seg_size=320, **ed_settings):
    """Composes an AlphaNet and saves it to `out`; `ed_settings` (keys of `ED_SETTINGS`, None: keep) override
    the ED layer's settings, which otherwise come from `alphanet` (or the layer's defaults)."""
    import keras

    import alphanet_tf.layers  # noqa: F401  (registers the custom layers)
    from alphanet_tf.models import AlphaNet
    from training.stages import load_stage

    settings = {}
    if alphanet:
        source = keras.saving.load_model(alphanet, compile=False)
        segmentation_net, matting_net = source.get_layer("segmentation_net"), source.get_layer("matting_net")
        ed = source.get_layer("ed_trimap")
        settings = {key: getattr(ed, attribute) for key, attribute in ED_SETTINGS.items()}
    else:
        segmentation_net = load_stage(segmentation, "segmentation_net")
        matting_net = load_stage(matting, "matting_net")
    settings.update({key: value for key, value in ed_settings.items() if value is not None})
    model = AlphaNet(segmentation_net, matting_net, seg_size=seg_size, **settings)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, out)
    return model


def pack_trimap_net(matting, out, guided_radius=4, guided_epsilon=1e-5):
    from alphanet_tf.models import GivenTrimapMattingNet
    from alphanet_tf.packed_weights import pack
    from training.stages import load_stage

    return pack(GivenTrimapMattingNet(load_stage(matting, "matting_net"), guided_radius, guided_epsilon), out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alphanet", help="an AlphaNet checkpoint (e.g. the end2end run's best.keras)")
    parser.add_argument("--segmentation", help="a SegmentationNet checkpoint, or an AlphaNet (or 'default') to take it from")
    parser.add_argument("--matting", help="a MattingNet checkpoint, or an AlphaNet (or 'default') to take it from")
    parser.add_argument("--trimap-net", help="a MattingNet checkpoint to pack (int8 .npz) as the given-trimap net")
    parser.add_argument("--guided-radius", type=int, default=4, help="--trimap-net: guided filter radius (0: none)")
    parser.add_argument("--guided-epsilon", type=float, default=1e-5, help="--trimap-net: guided filter epsilon")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seg-size", type=int, default=320)
    parser.add_argument("--trimap-rate", type=float)
    parser.add_argument("--max-radius", type=int)
    parser.add_argument("--clean-radius", type=int,
                        help="close (fill holes in) the thresholded mask by this many pixels")
    parser.add_argument("--unsure", type=float,
                        help="also unknown where the segmentation's probability is within (U, 1 - U)")
    args = parser.parse_args(argv)
    if args.trimap_net:
        if args.alphanet or args.segmentation or args.matting:
            parser.error("--trimap-net packs one matting net: give it alone with --out")
        pack_trimap_net(args.trimap_net, args.out, args.guided_radius, args.guided_epsilon)
    elif not args.alphanet and not (args.segmentation and args.matting):
        parser.error("give --alphanet, or both --segmentation and --matting (or --trimap-net)")
    else:
        assemble(args.out, args.alphanet, args.segmentation, args.matting, args.seg_size,
                 **{key: getattr(args, key) for key in ED_SETTINGS})
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
