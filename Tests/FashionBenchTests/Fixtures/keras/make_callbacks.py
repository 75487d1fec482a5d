"""Writes callbacks.json: Keras 3's own EarlyStopping, ReduceLROnPlateau and ModelCheckpoint
driven epoch by epoch with generated logs, recording what each decided: the learning rate
after every epoch, the epoch training stopped at, whose weights were restored at the end and
which epochs were saved. The logs are float32 values (as Keras' metrics are), with ties,
plateaus and steps of exactly min_delta on accuracy grids (k/n), where the comparison's
float32 rounding decides.
Run with Keras 3 installed: python make_callbacks.py > callbacks.json"""
import json, os, sys, tempfile
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, keras

rng = np.random.default_rng(2026)
model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="binary_crossentropy", metrics=["accuracy"])
model.evaluate(np.zeros((2, 1), np.float32), np.zeros((2, 1), np.float32), verbose=0)  # builds the metrics 'auto' reads
monitors = ["val_loss", "val_accuracy", "loss", "accuracy"]


def sequence(monitor, epochs):
    """Monitored values: accuracies on a k/n grid, losses drifting down with plateaus; both repeat values."""
    if monitor.endswith("accuracy"):
        n = int(rng.choice([200, 1000, 6000]))
        k = int(rng.integers(n // 2, n))
        values = []
        for _ in range(epochs):
            r = rng.random()
            k = min(n, max(0, k + (0 if r < 0.3 else int(rng.choice([-1, 1, 6, -6, 10, 2])) if r < 0.7 else int(rng.integers(-n // 50, n // 40)))))
            values.append(k / n)
    else:
        v = float(rng.uniform(0.05, 1.5))
        values = []
        for _ in range(epochs):
            r = rng.random()
            if r < 0.25:
                pass
            elif r < 0.45:
                v += float(rng.choice([-1, 1])) * float(rng.choice([1e-4, 1e-3, 1e-2]))
            else:
                v *= float(rng.uniform(0.9, 1.05))
            values.append(v)
    return [float(np.float32(x)) for x in values]


def logs_for(monitor, values, e):
    logs = {m: float(np.float32(rng.uniform(0, 1))) for m in monitors}
    logs[monitor] = values[e]
    return logs


def min_delta(monitor):
    if monitor.endswith("accuracy"):
        return float(rng.choice([0, 0.001, 0.005, 0.01, 1 / 6000, 1e-4, -0.001]))
    return float(rng.choice([0, 1e-4, 1e-3, 0.01, -1e-3, 1e-9]))


def mode(monitor):
    return str(rng.choice(["auto", "auto", "min" if "loss" in monitor else "max"]))


def drive(callback, values, monitor, marks_weights):
    """Runs `callback` through the epochs; the kernel holds the epoch number so restored weights name their epoch."""
    model.stop_training = False
    model.optimizer.learning_rate.assign(0.001)
    callback.set_model(model)
    callback.on_train_begin()
    lrs, stopped = [], None
    for e in range(len(values)):
        if marks_weights:
            model.layers[0].kernel.assign(np.full((1, 1), e, np.float32))
        callback.on_epoch_begin(e)
        callback.on_epoch_end(e, logs_for(monitor, values, e))
        lrs.append(float(np.float32(model.optimizer.learning_rate.numpy())))
        if model.stop_training:
            stopped = e
            break
    if marks_weights:
        model.layers[0].kernel.assign(np.full((1, 1), -1, np.float32))
    callback.on_train_end()
    return lrs, stopped, float(model.layers[0].kernel.numpy()[0, 0])


cases = []
for i in range(240):
    monitor = str(rng.choice(monitors))
    epochs = int(rng.integers(1, 25))
    values = sequence(monitor, epochs)
    kind = ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"][i % 3]
    settings = {"monitor": monitor, "mode": mode(monitor)}
    if kind == "EarlyStopping":
        settings.update(min_delta=min_delta(monitor), patience=int(rng.integers(0, 6)),
                        restore_best_weights=bool(rng.random() < 0.7), start_from_epoch=int(rng.choice([0, 0, 1, 3])))
        if rng.random() < 0.3:
            settings["baseline"] = float(values[int(rng.integers(0, epochs))] + rng.choice([0, 0.001, -0.001, 0.02, -0.02]))
        callback = keras.callbacks.EarlyStopping(**settings)
        lrs, stopped, weights = drive(callback, values, monitor, True)
        cases.append({"callback": kind, "settings": settings, "values": values, "stopped_epoch": stopped,
                      "restored_epoch": None if weights < 0 else int(weights)})
    elif kind == "ReduceLROnPlateau":
        settings.update(min_delta=min_delta(monitor), patience=int(rng.integers(0, 5)), cooldown=int(rng.integers(0, 4)),
                        factor=float(rng.choice([0.1, 0.5, 0.2, 1 / 3, 0.9])),
                        min_lr=float(rng.choice([0, 0, 1e-5, 2e-4, 0.0005, 0.001])))
        callback = keras.callbacks.ReduceLROnPlateau(**settings)
        lrs, _, _ = drive(callback, values, monitor, False)
        cases.append({"callback": kind, "settings": settings, "values": values, "learning_rates": lrs})
    else:
        settings["save_best_only"] = bool(rng.random() < 0.8)
        if rng.random() < 0.4:
            settings["initial_value_threshold"] = float(values[int(rng.integers(0, epochs))] + rng.choice([0, 0.001, -0.001, 0.05, -0.05]))
        saved = []
        with tempfile.TemporaryDirectory() as d:
            callback = keras.callbacks.ModelCheckpoint(os.path.join(d, "w.weights.h5"), save_weights_only=True, **settings)
            epoch_now = [0]
            original = model.save_weights
            model.save_weights = lambda *a, **k: saved.append(epoch_now[0])
            try:
                callback.set_model(model)
                callback.on_train_begin()
                for e in range(epochs):
                    epoch_now[0] = e
                    callback.on_epoch_begin(e)
                    callback.on_epoch_end(e, logs_for(monitor, values, e))
            finally:
                model.save_weights = original
        cases.append({"callback": kind, "settings": settings, "values": values, "saved_epochs": saved})

json.dump({"about": "Keras " + keras.__version__ + " callbacks driven by generated float32 logs (make_callbacks.py); "
                    "epochs are 0-based, the initial learning rate is 0.001",
           "cases": cases}, sys.stdout, indent=0)
