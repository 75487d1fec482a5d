import FashionConfig

/// Keras 3 EarlyStopping (`keras/src/callbacks/early_stopping.py`): after each epoch the
/// monitored value improves when it beats the best by min_delta (`MonitorComparison`, in
/// float32 as Keras); otherwise `wait` grows, and training stops once `wait ≥ patience` (never
/// after the first epoch). An improvement that does not also beat `baseline` leaves `wait`
/// growing. With `restore_best_weights` the best epoch's weights are put back when training
/// ends, stopped early or not (Keras 3.15's `on_train_end`).
public final class EarlyStopping: Callback {
    public struct Settings: Sendable {
        public var monitor: String
        public var minDelta: Double
        public var patience: Int
        public var mode: MonitorMode
        public var baseline: Double?
        public var restoreBestWeights: Bool
        public var startFromEpoch: Int

        public static let monitors = ["val_loss", "val_accuracy", "loss", "accuracy"]

        public init(monitor: String = "val_loss", minDelta: Double = 0, patience: Int = 0, mode: MonitorMode = .auto,
                    baseline: Double? = nil, restoreBestWeights: Bool = false, startFromEpoch: Int = 0) {
            self.monitor = monitor
            self.minDelta = minDelta
            self.patience = patience
            self.mode = mode
            self.baseline = baseline
            self.restoreBestWeights = restoreBestWeights
            self.startFromEpoch = startFromEpoch
        }

        public init(options o: Options) throws {
            self.init(monitor: try o.choice("monitor", Settings.monitors, default: "val_loss"),
                      minDelta: abs(try o.double("min_delta", default: 0)),  // Keras' MonitorCallback takes abs(min_delta)
                      patience: try o.int("patience", default: 0, min: 0, max: 1_000_000),
                      mode: MonitorMode(rawValue: try o.choice("mode", MonitorMode.allCases.map(\.rawValue), default: "auto"))!,
                      baseline: try o.optionalDouble("baseline"),
                      restoreBestWeights: try o.bool("restore_best_weights", default: false),
                      startFromEpoch: try o.int("start_from_epoch", default: 0, min: 0))
        }
    }

    public let settings: Settings
    /// The best monitored value so far; nil before the first (Keras' `best = None`).
    public private(set) var best: Double?
    public private(set) var bestEpoch: Int?
    public private(set) var stoppedEpoch: Int?
    private var wait = 0
    private var bestWeights: [[Float]]?
    private let comparison: MonitorComparison

    public init(_ settings: Settings) {
        self.settings = settings
        comparison = MonitorComparison(monitor: settings.monitor, mode: settings.mode, minDelta: settings.minDelta)
    }

    public func onTrainBegin(_ trainer: Trainer) {
        wait = 0
        stoppedEpoch = nil
        bestEpoch = nil
        bestWeights = nil
        best = nil
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], trainer: Trainer) {
        guard let current = logs[settings.monitor], epoch >= settings.startFromEpoch else { return }
        if settings.restoreBestWeights, bestWeights == nil {
            bestWeights = trainer.model.snapshot()
            bestEpoch = epoch
        }
        wait += 1
        if comparison.improves(current, over: best) {
            best = current
            bestEpoch = epoch
            if settings.restoreBestWeights { bestWeights = trainer.model.snapshot() }
            if comparison.improves(current, over: settings.baseline) { wait = 0 }
            return
        }
        if wait >= settings.patience, epoch > 0 {
            stoppedEpoch = epoch
            trainer.stopTraining = true
        }
    }

    public func onTrainEnd(_ trainer: Trainer) {
        if let e = stoppedEpoch { trainer.log("Epoch \(e + 1): early stopping") }
        if settings.restoreBestWeights, let w = bestWeights {
            trainer.model.restore(w)
            trainer.log("Restoring model weights from the end of the best epoch: \(bestEpoch.map { $0 + 1 } ?? 0).")
        }
    }
}
