import Foundation
import FashionConfig

/// Keras 3 ModelCheckpoint for weights (`keras/src/callbacks/model_checkpoint.py`), writing
/// `weights.h5` in the run directory: with `save_best_only` only when the monitored value
/// beats the best so far (`current < best` in mode min, `>` in mode max; `auto` is max for
/// names containing "acc"), otherwise after every epoch. The file is replaced atomically.
public final class ModelCheckpoint: Callback {
    public struct Settings: Sendable {
        public var monitor = "val_loss"
        public var mode = MonitorMode.auto
        public var saveBestOnly = true

        public init() {}

        public init(options o: Options) throws {
            monitor = try o.choice("monitor", EarlyStopping.Settings.monitors, default: "val_loss")
            mode = MonitorMode(rawValue: try o.choice("mode", MonitorMode.allCases.map(\.rawValue), default: "auto"))!
            saveBestOnly = try o.bool("save_best_only", default: true)
        }
    }

    public let settings: Settings
    public let file: URL
    private let maximise: Bool
    public private(set) var best: Double
    public private(set) var savedEpoch: Int?

    public init(_ settings: Settings, directory: URL) {
        self.settings = settings
        file = directory.appendingPathComponent("weights.h5")
        maximise = settings.mode == .max || (settings.mode == .auto && settings.monitor.contains("acc"))
        best = maximise ? -.infinity : .infinity
    }

    public func onTrainBegin(_ trainer: Trainer) {
        best = maximise ? -.infinity : .infinity
        savedEpoch = nil
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], trainer: Trainer) {
        if settings.saveBestOnly {
            guard let current = logs[settings.monitor], maximise ? current > best : current < best else { return }
            best = current
            trainer.log(String(format: "Epoch %d: %@ improved to %.5f, saving weights to %@", epoch + 1, settings.monitor, current, file.path))
        }
        do {
            try ModelWeights.save(trainer.model, to: file, attributes: ["epoch": String(epoch + 1), "monitor": settings.monitor,
                                                                      "value": logs[settings.monitor].map { "\($0)" } ?? ""])
            savedEpoch = epoch
        } catch {
            trainer.log("warning: could not save \(file.path): \(error)")
        }
    }
}
