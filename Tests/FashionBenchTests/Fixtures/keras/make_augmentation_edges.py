"""Writes augmentation_edges.json: Keras 3's ImageDataGenerator.apply_transform on a
non-square two-channel image with a non-zero cval, where the shared fixture (8x8x1, cval 0)
does not reach: exact quarter turns and integer shifts put sample points exactly on the
image border, where scipy's `constant` and `wrap` modes jump, plus random continuous cases.
Run with Keras 3 and scipy installed: python make_augmentation_edges.py > augmentation_edges.json"""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, scipy, keras
from keras.src.legacy.preprocessing.image import ImageDataGenerator

h, w, c, cval = 5, 7, 2, -7.0
image = ((np.arange(h * w * c) * 3) % 71 + 0.5).astype(np.float32).reshape(h, w, c)
rng = np.random.default_rng(2026)
cases = []
for mode in ["constant", "wrap", "reflect", "nearest"]:
    for theta in [90, -90, 180, 270]:
        for tx, ty in [(0, 0), (1, -2), (-3, 2)]:
            cases.append((mode, {"theta": theta, "tx": tx, "ty": ty}))
    for _ in range(6):
        p = {"theta": float(rng.uniform(-180, 180)), "tx": float(rng.uniform(-3, 3)), "ty": float(rng.uniform(-3, 3)),
             "shear": float(rng.uniform(-40, 40)), "zx": float(rng.uniform(0.7, 1.3)), "zy": float(rng.uniform(0.7, 1.3)),
             "flip_horizontal": bool(rng.random() < 0.5), "flip_vertical": bool(rng.random() < 0.5)}
        cases.append((mode, p))
out = []
for mode, p in cases:
    gen = ImageDataGenerator(fill_mode=mode, cval=cval)
    y = gen.apply_transform(image.copy(), p)
    out.append({"params": p, "fill_mode": mode, "output": {"shape": list(y.shape), "data": [float(v) for v in y.ravel()]}})
json.dump({"about": "Keras ImageDataGenerator.apply_transform on a 5x7x2 image ((3 i mod 71) + 0.5, row-major "
                    "HWC), cval -7; quarter turns and integer shifts land on the border",
           "generated_by": f"make_augmentation_edges.py, keras {keras.__version__}, scipy {scipy.__version__}, numpy {np.__version__}",
           "cval": cval, "input": {"shape": [h, w, c], "data": [float(v) for v in image.ravel()]}, "cases": out},
          sys.stdout, indent=None)
