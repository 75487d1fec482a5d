"""Keras 3 trains model_4 from FashionBench's initial weights for a seed: does the seed's
starting point, rather than the engine, decide where a 15-epoch run ends?

Keras' model is `keras_models.py`'s model_4, trained exactly as keras_epochs.py trains it
(validation = the first 6,000 training images, batch 96, RMSprop 1e-4, binary cross-entropy on
one-hot labels, shuffled every epoch, test accuracy after every epoch as one JSON line), but its
weights are first replaced by FashionBench's for the seed. Keras' shuffles and dropout masks
stay its own (unseeded). FashionBench's initial weights, as weights.h5: a run whose learning
rate is too small to move a float32 weight (the update is about 3e-30), e.g.

  fashionbench run Experiments/model_4.yaml --epochs 1 --limit 96 \
      --set training.optimizer.learning_rate=1e-30 --results /tmp/init0
  python keras_from_ours.py /tmp/init0/model_4/<run>/weights.h5 [EPOCHS] > keras_from_seed0.jsonl

The biases, moved by about 3e-30 from their zeros, are set back to zero."""
import sys, time, json
import h5py, numpy as np
sys.path.insert(0, "/work/shared/peers")
import keras, keras_models as km

NAMES = ["conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "dense", "dense_1", "dense_2"]
path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
build, opt, loss, bs = km.SPECS["model_4"]
m = build(); m.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
with h5py.File(path) as f:
    for name, layer in zip(NAMES, [l for l in m.layers if l.weights]):
        kernel = f[f"{name}/kernel"][...]
        assert kernel.shape == tuple(layer.kernel.shape), (name, kernel.shape, layer.kernel.shape)
        layer.set_weights([kernel, np.zeros(layer.bias.shape, np.float32)])
xtr, ytr, xte, yte = km.load_fmnist()
xval, yval, xtr, ytr = xtr[:6000], ytr[:6000], xtr[6000:], ytr[6000:]
ytr, yval, yte = (keras.utils.to_categorical(y, 10) for y in (ytr, yval, yte))
l0, a0 = m.evaluate(xte, yte, verbose=0, batch_size=500)
print(json.dumps({"epoch": 0, "test_loss": l0, "test_accuracy": a0, "weights": path, "t": time.time()}), flush=True)


class Test(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        l, a = self.model.evaluate(xte, yte, verbose=0, batch_size=500)
        print(json.dumps({"epoch": epoch + 1, "test_loss": l, "test_accuracy": a,
                          **{k: float(v) for k, v in logs.items()}, "t": time.time()}), flush=True)


m.fit(xtr, ytr, batch_size=bs, epochs=epochs, validation_data=(xval, yval), verbose=0, callbacks=[Test()])
