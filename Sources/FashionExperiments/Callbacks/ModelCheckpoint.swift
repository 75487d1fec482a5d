import Foundation
import FashionConfig

/// Keras 3 ModelCheckpoint for weights (`keras/src/callbacks/model_checkpoint.py`), writing
/// `weights.h5` in the run directory: with `save_best_only` only when the monitored value
/// beats the best so far (`MonitorComparison` with no min_delta, in float32 as Keras; `auto`
/// is max for accuracies), and with `initial_value_threshold` nothing until a value beats it;
/// otherwise after every epoch. The file is replaced atomically.
public final class ModelCheckpoint: Callback {
    public struct Settings: Sendable {
        public var monitor = "val_loss"
        public var mode = MonitorMode.auto
        public var saveBestOnly = true
        public var initialValueThreshold: Double?

        public init() {}

        public init(options o: Options) throws {
            monitor = try o.choice("monitor", EarlyStopping.Settings.monitors, default: "val_loss")
            mode = MonitorMode(rawValue: try o.choice("mode", MonitorMode.allCases.map(\.rawValue), default: "auto"))!
            saveBestOnly = try o.bool("save_best_only", default: true)
            initialValueThreshold = try o.optionalDouble("initial_value_threshold")
        }
    }

    public let settings: Settings
    public let file: URL
    private let comparison: MonitorComparison
    /// The best monitored value saved so far, or the initial threshold; nil before either.
    public private(set) var best: Double?
    public private(set) var savedEpoch: Int?
    /// Why a save failed: training stops there and the run fails (as Keras' callback raises),
    /// rather than end with weights.h5 older than the best it reports.
    public private(set) var saveFailure: String?

    public init(_ settings: Settings, directory: URL) {
        self.settings = settings
        file = directory.appendingPathComponent("weights.h5")
        comparison = MonitorComparison(monitor: settings.monitor, mode: settings.mode)
        best = settings.initialValueThreshold
    }

    public func onTrainBegin(_ trainer: Trainer) {
        best = settings.initialValueThreshold
        savedEpoch = nil
        saveFailure = nil
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], trainer: Trainer) {
        if settings.saveBestOnly {
            guard let current = logs[settings.monitor], comparison.improves(current, over: best) else { return }
            trainer.log(String(format: "Epoch %d: %@ improved to %.5f, saving weights to %@", epoch + 1, settings.monitor, current, file.path))
            best = current
        }
        do {
            try ModelWeights.save(trainer.model, to: file, attributes: ["epoch": String(epoch + 1), "monitor": settings.monitor,
                                                                      "value": logs[settings.monitor].map { "\($0)" } ?? ""])
            savedEpoch = epoch
        } catch {
            saveFailure = "ModelCheckpoint could not save epoch \(epoch + 1)'s weights to \(file.path): \(error)"
            trainer.stopTraining = true
        }
    }
}
