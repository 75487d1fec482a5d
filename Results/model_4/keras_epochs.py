"""model_4 in Keras 3 exactly as ../shared/peers/keras_models.py builds and compiles it, trained
like Experiments/model_4.yaml with --epochs 15 did until the twentieth session (pixels / 255, validation = the first 6,000 training images,
batch 96, RMSprop 1e-4, binary cross-entropy on one-hot labels, shuffled every epoch), printing
the test accuracy after every epoch as one JSON line (keras_epochs.jsonl: 2026-11-29, Keras
3.15.1, TensorFlow 2.21 CPU, on the host of the committed run).

  python keras_epochs.py [EPOCHS] > keras_epochs.jsonl

With a second argument `raw`, the pixels stay 0..255 as the paper's notebook trained model_4
and as Experiments/model_4.yaml now does (`data.rescale: 1`); keras_epochs_raw.jsonl:

  python keras_epochs.py 15 raw > keras_epochs_raw.jsonl"""
import sys, time, json
sys.path.insert(0, "/work/shared/peers")
import keras, keras_models as km

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
build, opt, loss, bs = km.SPECS["model_4"]
m = build(); m.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
xtr, ytr, xte, yte = km.load_fmnist()
if len(sys.argv) > 2 and sys.argv[2] == "raw":
    # load_fmnist divides by 255; undo it exactly (uint8 / 255 * 255 rounds back in float32).
    xtr, xte = (x * 255 for x in (xtr, xte))
xval, yval, xtr, ytr = xtr[:6000], ytr[:6000], xtr[6000:], ytr[6000:]
ytr, yval, yte = (keras.utils.to_categorical(y, 10) for y in (ytr, yval, yte))


class Test(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        l, a = self.model.evaluate(xte, yte, verbose=0, batch_size=500)
        print(json.dumps({"epoch": epoch + 1, "test_loss": l, "test_accuracy": a,
                          **{k: float(v) for k, v in logs.items()}, "t": time.time()}), flush=True)


m.fit(xtr, ytr, batch_size=bs, epochs=epochs, validation_data=(xval, yval), verbose=0, callbacks=[Test()])
