"""model_4 step by step against Keras 3 from the same weights, dropout off on both sides
(our dropout draws from our own generator, so masks cannot match another engine's).

  python keras_replay.py DIR [STEPS] [SAVE_AT]     (defaults 100 and 1,20,100)

writes DIR/batches.f32 and labels.i32 (the first STEPS x 96 training images after the 6,000
validation images, /255), init.h5 (Keras' seeded initial weights in FashionBench's layout),
keras_loss.csv and keras_weights_<step>.h5 after `train_on_batch` steps (RMSprop 1e-4, binary
cross-entropy on one-hot labels). Then, from the repository root,

  fashionbench replay Results/model_4/model_4_without_dropout.yaml --weights DIR/init.h5 \
      --inputs DIR/batches.f32 --labels DIR/labels.i32 --steps STEPS --save-at SAVE_AT \
      --output DIR/fashionbench

and `python keras_replay.py DIR --compare` prints both losses and every weight's relative
difference (replay_vs_keras.txt: 50 steps, 2026-11-30)."""
import csv, os, sys
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import h5py
NAMES = ["conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "dense", "dense_1", "dense_2"]

def compare(out):
    ours = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(open(f"{out}/fashionbench/loss.csv"))}
    theirs = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(open(f"{out}/keras_loss.csv"))}
    print("step  keras loss    fashionbench  rel diff")
    for s in sorted(theirs):
        if s in ours and (s <= 5 or s % 10 == 0):
            print(f"{s:4d}  {theirs[s]:.8f}  {ours[s]:.8f}  {abs(ours[s] - theirs[s]) / theirs[s]:.1e}")
    for f in sorted((f for f in os.listdir(f"{out}/fashionbench") if f.startswith("weights_")), key=lambda f: int(f[8:-3])):
        step = f[8:-3]
        a, b = h5py.File(f"{out}/keras_weights_{step}.h5"), h5py.File(f"{out}/fashionbench/{f}")
        print(f"after step {step}: ||ours - keras|| / ||keras||")
        for g in NAMES:
            print("  " + g + ": " + ", ".join(f"{p} {np.linalg.norm(b[g][p][()].ravel() - a[g][p][()].ravel()) / max(np.linalg.norm(a[g][p][()]), 1e-30):.1e}" for p in a[g]))

def run(out, steps, save_at):
    sys.path.insert(0, "/work/shared/peers")
    import keras
    from keras import layers
    import keras_models as km
    os.makedirs(out)
    keras.utils.set_random_seed(1)
    xtr, ytr, _, _ = km.load_fmnist()
    x, y = xtr[6000:6000 + 96 * steps], ytr[6000:6000 + 96 * steps].astype(np.int32)
    x.astype(np.float32).tofile(f"{out}/batches.f32"); y.tofile(f"{out}/labels.i32")
    m = km.model_4()
    for l in m.layers:
        if isinstance(l, layers.Dropout): l.rate = 0.0
    def save(path):
        with h5py.File(path, "w") as f:
            for n, layer in zip(NAMES, [l for l in m.layers if l.weights]):
                for p, w in zip(["kernel", "bias"], layer.get_weights()):
                    f[f"{n}/{p}"] = w.astype(np.float32).ravel()
                    f[f"{n}/{p}"].attrs["shape"] = ",".join(map(str, w.shape))
    save(f"{out}/init.h5")
    m.compile(optimizer=keras.optimizers.RMSprop(1e-4), loss="binary_crossentropy")
    yh = keras.utils.to_categorical(y, 10)
    rows = []
    for s in range(1, steps + 1):
        sl = slice((s - 1) * 96, s * 96)
        rows.append((s, float(m.train_on_batch(x[sl], yh[sl]))))
        if s in save_at: save(f"{out}/keras_weights_{s}.h5")
    with open(f"{out}/keras_loss.csv", "w") as f:
        f.write("step,loss\n" + "".join(f"{s},{l!r}\n" for s, l in rows))

if __name__ == "__main__":
    if "--compare" in sys.argv: compare(sys.argv[1])
    else: run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100, {int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "1,20,100").split(",")})
