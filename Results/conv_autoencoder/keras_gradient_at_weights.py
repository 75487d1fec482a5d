"""Does our autoencoder compute Keras' gradients at trained weights, where its reconstructions
have the dark spot (row 17, column 29)?

  python keras_gradient_at_weights.py WEIGHTS DIR          (Keras' side)
  fashionbench replay DIR/linear_adam.yaml --weights WEIGHTS --inputs DIR/batch.f32 \
      --steps 1 --save-at 1 --output DIR/fashionbench       (ours, from the repository root)
  python keras_gradient_at_weights.py WEIGHTS DIR --compare

Keras' side loads WEIGHTS (a run's weights.h5) into keras_models.py's autoencoder, writes its
reconstructions of 12 images (DIR/keras_reconstructions.png, and the positions with the
largest error), one batch of 32 slice images (DIR/batch.f32) and the mean-squared-error
gradient of every trainable weight on it in training mode, in float32 and in float64
(DIR/keras_gradient_float32.h5, _float64.h5: the second shows float32's own rounding). It also
writes DIR/linear_adam.yaml, the experiment with Adam at learning rate 1e4 and epsilon 10.
Adam's first step u is then lr·c·g / (c·|g| + ε) with c = sqrt(1 - β2) (Keras 3's bias
corrections cancel β1), so one step of `fashionbench replay` gives our gradient as
g = u·ε / (c·(lr - |u|)). The step is about 32 g: large against float32's spacing of the
weights even for the smallest gradients here (a dense bias element's is about 1e-8).
--compare prints, for every weight, how far our gradient and Keras' float32 one are from Keras'
float64 one, and for the decoder's dense kernel ours per image position."""
import csv, os, sys
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keras_replay import NAMES, PARAMS  # noqa: E402

D = "/work/shared/data/fashion-product-images-small"
LR, EPS, B2 = 1e4, 10.0, 0.999


def gradient_from_step(before, after):
    u = before.astype(np.float64) - after
    return u * EPS / (np.sqrt(1 - B2) * (LR - np.abs(u)))


def keras_side(weights, out):
    sys.path.insert(0, "/work/shared/peers")
    import keras
    import tensorflow as tf
    from keras_models import autoencoder
    from PIL import Image
    os.makedirs(out, exist_ok=True)
    f = h5py.File(weights)

    def model():
        m = autoencoder()
        for n, layer in zip(NAMES, [l for l in m.layers if l.weights]):
            ws = layer.get_weights()
            layer.set_weights([f[n][p][()].reshape(w.shape).astype(w.dtype) for p, w in zip(PARAMS[len(ws)], ws)])
        return m

    m = model()
    rows = [r for r in csv.DictReader(open(f"{D}/styles.csv")) if r["subCategory"] in ("Topwear", "Bottomwear", "Saree")]
    x = np.stack([keras.utils.img_to_array(keras.utils.load_img(f"{D}/images/{r['id']}.jpg", target_size=(60, 60)))
                  for r in rows[:32]]).astype(np.float32) / np.float32(255)
    x.tofile(f"{out}/batch.f32")
    y = m.predict(x[:12], verbose=0)
    error = ((y - x[:12]) ** 2).mean((0, 3))
    worst = [divmod(int(j), 60) for j in np.argsort(error.ravel())[::-1][:5]]
    print(f"Keras with these weights: reconstruction MSE {float(((y - x[:12]) ** 2).mean()):.5f}; "
          f"worst positions {worst}, error {error.max():.3f} against a median of {np.median(error):.4f}")
    grid = np.concatenate([np.concatenate(list(x[:12]), 1), np.concatenate(list(y), 1)], 0)
    Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8)).save(f"{out}/keras_reconstructions.png")
    for precision in ("float32", "float64"):
        keras.config.set_dtype_policy(precision)
        m, xs = model(), x.astype(precision)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(m(xs, training=True) - xs))
        print(f"Keras loss on the batch in {precision}: {float(loss):.8f}")
        # Stored by our names: the float64 model's layers get Keras' next free names.
        layers = [l for l in m.layers if l.weights]
        names = [f"{n}/{p}" for n, l in zip(NAMES, layers) for p in PARAMS[len(l.weights)][:len(l.trainable_weights)]]
        gradients = tape.gradient(loss, [w for l in layers for w in l.trainable_weights])
        with h5py.File(f"{out}/keras_gradient_{precision}.h5", "w") as o:
            for name, g in zip(names, gradients):
                o[name] = g.numpy().ravel()
    experiment = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../Experiments/conv_autoencoder.yaml")).read()
    old = "optimizer: {name: adam, learning_rate: 0.001}"
    assert old in experiment
    with open(f"{out}/linear_adam.yaml", "w") as o:
        o.write(experiment.replace(old, f"optimizer: {{name: adam, learning_rate: {LR:.1f}, epsilon: {EPS}}}"))


def compare(weights, out):
    k32, k = h5py.File(f"{out}/keras_gradient_float32.h5"), h5py.File(f"{out}/keras_gradient_float64.h5")
    w0, w1 = h5py.File(weights), h5py.File(f"{out}/fashionbench/weights_1.h5")
    print("relative difference of the gradient from Keras' in float64, ||g - g64|| / ||g64||: ours, Keras' float32")
    for layer in NAMES:
        for p in k[layer]:
            theirs = k[layer][p][()]
            ours = gradient_from_step(w0[layer][p][()].ravel(), w1[layer][p][()].ravel())
            print(f"  {layer}/{p}: {np.linalg.norm(ours - theirs) / np.linalg.norm(theirs):.1e}, "
                  f"{np.linalg.norm(k32[layer][p][()] - theirs) / np.linalg.norm(theirs):.1e} (|g64| {np.linalg.norm(theirs):.1e})")
    theirs = k["dense"]["kernel"][()].reshape(16, 60, 60, 64)
    ours = gradient_from_step(w0["dense"]["kernel"][()], w1["dense"]["kernel"][()]).reshape(16, 60, 60, 64)
    size = np.sqrt((theirs ** 2).sum((0, 3)))
    rel = np.sqrt(((ours - theirs) ** 2).sum((0, 3))) / size
    print(f"dense kernel per position: largest relative difference {rel.max():.1e} at {divmod(int(rel.argmax()), 60)}, "
          f"at (17, 29) {rel[17, 29]:.1e}; gradient size there {size[17, 29]:.1e} against a median of {np.median(size):.1e}")


if __name__ == "__main__":
    (compare if "--compare" in sys.argv else keras_side)(sys.argv[1], sys.argv[2])
