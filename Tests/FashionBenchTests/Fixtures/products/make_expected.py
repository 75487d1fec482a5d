"""Writes the expected pixels of the JPEG fixtures as PIL 13 (Keras' image loader) decodes and
resizes them: <id>.rgb (decoded, RGB, row-major), <id>_80x80_nearest.rgb and
<id>_60x60_bilinear.rgb. The .jpg files are three images of the shared product-image slice
(RGB 60x80, greyscale 60x80, RGB 53x80). Run: python3 make_expected.py (needs pillow)."""
from PIL import Image
for i in ("10000", "12994", "28092"):
    im = Image.open(f"{i}.jpg").convert("RGB")
    open(f"{i}.rgb", "wb").write(im.tobytes())
    open(f"{i}_80x80_nearest.rgb", "wb").write(im.resize((80, 80), Image.NEAREST).tobytes())
    open(f"{i}_60x60_bilinear.rgb", "wb").write(im.resize((60, 60), Image.BILINEAR).tobytes())
