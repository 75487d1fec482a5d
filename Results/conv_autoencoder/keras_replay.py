"""Step-by-step check of FashionBench's autoencoder against Keras 3 from the same weights.

  python keras_replay.py DIR [STEPS] [SAVE_AT]     (defaults 100 and 1,20,100)

Writes into DIR (created): batches.f32 (the first 640 slice images, 60x60 nearest, /255),
init.h5 (Keras' seeded initial weights, in FashionBench's layout: <layer>/<parameter>),
keras_loss.csv and keras_weights_<step>.h5 after `train_on_batch` steps on the batches in
order (Adam 1e-3, mse: the experiment's settings). Then run, from the repository root,

  fashionbench replay Experiments/conv_autoencoder.yaml --weights DIR/init.h5 \
      --inputs DIR/batches.f32 --steps STEPS --save-at SAVE_AT --output DIR/fashionbench

and `python keras_replay.py DIR --compare` prints both losses and every weight's relative
difference. (The conv and transposed-conv biases feeding a BatchNormalization have a true
gradient of zero; Adam turns the rounding noise in theirs into lr-sized steps in both engines,
so those biases wander apart without changing any output.)"""
import csv, os, sys
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import h5py

D = "/work/shared/data/fashion-product-images-small"
NAMES = ["conv2d", "batch_normalization", "latent_space", "dense", "conv2d_transpose", "batch_normalization_1",
         "conv2d_transpose_1", "batch_normalization_2", "conv2d_transpose_2", "batch_normalization_3", "conv2d_transpose_3"]
PARAMS = {2: ["kernel", "bias"], 4: ["gamma", "beta", "moving_mean", "moving_variance"]}


def compare(out):
    ours = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(open(f"{out}/fashionbench/loss.csv"))}
    theirs = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(open(f"{out}/keras_loss.csv"))}
    print("step  keras loss    fashionbench  rel diff")
    for s in sorted(theirs):
        if s in ours and (s <= 5 or s % 10 == 0):
            print(f"{s:4d}  {theirs[s]:.8f}  {ours[s]:.8f}  {abs(ours[s] - theirs[s]) / theirs[s]:.1e}")
    saved = [f for f in os.listdir(f"{out}/fashionbench") if f.startswith("weights_")]
    for f in sorted(saved, key=lambda f: int(f[len("weights_"):-3])):
        step = f[len("weights_"):-3]
        a, b = h5py.File(f"{out}/keras_weights_{step}.h5"), h5py.File(f"{out}/fashionbench/{f}")
        print(f"after step {step}: relative difference ||ours - keras|| / ||keras||")
        for g in NAMES:
            print("  " + g + ": " + ", ".join(
                f"{p} {np.linalg.norm(b[g][p][()].ravel() - a[g][p][()].ravel()) / max(np.linalg.norm(a[g][p][()]), 1e-30):.1e}" for p in a[g]))


def run(out, steps, save_at):
    sys.path.insert(0, "/work/shared/peers")
    import keras
    from keras_models import autoencoder
    os.makedirs(out)
    keras.utils.set_random_seed(1)
    ids = [r["id"] for r in csv.DictReader(open(f"{D}/styles.csv")) if os.path.exists(f"{D}/images/{r['id']}.jpg")][:32 * 20]
    x = np.stack([keras.utils.img_to_array(keras.utils.load_img(f"{D}/images/{i}.jpg", target_size=(60, 60))) for i in ids])
    x = x.astype(np.float32) / np.float32(255)
    x.tofile(f"{out}/batches.f32")
    m = autoencoder()

    def save(path):
        with h5py.File(path, "w") as f:
            for n, layer in zip(NAMES, [l for l in m.layers if l.weights]):
                ws = layer.get_weights()
                for p, w in zip(PARAMS[len(ws)], ws):
                    f[f"{n}/{p}"] = w.astype(np.float32).ravel()
                    f[f"{n}/{p}"].attrs["shape"] = ",".join(map(str, w.shape))

    save(f"{out}/init.h5")
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    rows, nb = [], len(x) // 32
    for s in range(1, steps + 1):
        b = x[((s - 1) % nb) * 32:((s - 1) % nb + 1) * 32]
        rows.append((s, float(m.train_on_batch(b, b))))
        if s in save_at: save(f"{out}/keras_weights_{s}.h5")
    with open(f"{out}/keras_loss.csv", "w") as f:
        f.write("step,loss\n" + "".join(f"{s},{l!r}\n" for s, l in rows))


if __name__ == "__main__":
    if "--compare" in sys.argv:
        compare(sys.argv[1])
    else:
        steps = int(sys.argv[2]) if len(sys.argv) > 2 else 100
        save_at = {int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "1,20,100").split(",")}
        run(sys.argv[1], steps, save_at)
