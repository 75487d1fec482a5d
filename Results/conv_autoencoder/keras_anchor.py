"""Keras anchor for seed 002's autoencoder on the shared slice: same 6 classes (first rule wins),
undersampled to 460 per class (seeded), 60x60 nearest, 80/20 random split, 20 epochs, batch 32,
Adam, mse, validation 20% of the training part. Prints JSON and writes /tmp/keras_ae.png."""
import csv, json, os, sys, time
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, "/work/shared/peers")
import keras
from keras_models import autoencoder
from PIL import Image
D = "/work/shared/data/fashion-product-images-small"
def cls(r):
    if r["articleType"] in ("Kurtas", "Kurtis"): return 0
    if r["subCategory"] == "Saree": return 1
    if r["subCategory"] == "Bottomwear": return 2
    if r["subCategory"] == "Topwear": return 3
    if r["subCategory"] == "Loungewear and Nightwear": return 4
    if r["subCategory"] == "Dress": return 5
    return None
rows = [(r["id"], cls(r)) for r in csv.DictReader(open(f"{D}/styles.csv")) if cls(r) is not None]
rng = np.random.default_rng(0)
keep = []
for c in range(6):
    m = [r for r in rows if r[1] == c]; rng.shuffle(m); keep += m[:460]
x = np.stack([keras.utils.img_to_array(keras.utils.load_img(f"{D}/images/{i}.jpg", target_size=(60, 60))) for i, _ in keep]) / 255
idx = rng.permutation(len(x)); cut = int(0.8 * len(x)); tr, te = idx[:cut], idx[cut:]
m = autoencoder(); m.compile(optimizer="adam", loss="mse")
t = time.perf_counter()
h = m.fit(x[tr], x[tr], batch_size=32, epochs=int(os.environ.get("EPOCHS", 20)), validation_split=0.2, verbose=2)
mse = m.evaluate(x[te], x[te], verbose=0)
out = m.predict(x[te][:12], verbose=0)
grid = np.concatenate([np.concatenate(list(x[te][:12]), 1), np.concatenate(list(out), 1)], 0)
Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8)).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save("/tmp/keras_ae.png")
print(json.dumps({"images": len(x), "train": len(tr), "test": len(te), "test_mse": mse, "train_s": time.perf_counter() - t}))
