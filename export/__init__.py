"""Deployment artifacts for AlphaNet: SavedModel for TF Serving, TFLite fp32 / fp16 / int8, and their checks.

    alphanet export --model default --out dist/          # or: python -m export ...
    alphanet verify-export --model default --artifacts dist/

Modules: `savedmodel` (serving graph and TF Serving config), `tflite` (converters, op checks, metadata),
`calibration` (representative images for int8), `verify` (every artifact against the float Keras model),
`cli` (the command). The library never imports this package; it imports the library.
"""
