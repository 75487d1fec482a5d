import FashionConfig

/// Keras 3 ReduceLROnPlateau (`keras/src/callbacks/reduce_lr_on_plateau.py`): after each
/// epoch, an improvement beats the best by min_delta (`MonitorComparison`, in float32 as
/// Keras; `auto` is max for accuracies). During the cooldown the counter runs down and `wait`
/// stays 0; otherwise `wait` grows, and once it reaches `patience` the learning rate becomes
/// max(lr · factor, min_lr) (only if lr > min_lr), the cooldown starts and `wait` resets.
public final class ReduceLROnPlateau: Callback {
    public struct Settings: Sendable {
        public var monitor = "val_loss"
        public var factor = 0.1
        public var patience = 10
        public var mode = MonitorMode.auto
        public var minDelta = 1e-4
        public var cooldown = 0
        public var minLR = 0.0

        public init() {}

        public init(options o: Options) throws {
            monitor = try o.choice("monitor", EarlyStopping.Settings.monitors, default: "val_loss")
            factor = try o.double("factor", default: 0.1, min: 0, max: 1, minExclusive: true, maxExclusive: true)
            patience = try o.int("patience", default: 10, min: 0, max: 1_000_000)
            mode = MonitorMode(rawValue: try o.choice("mode", MonitorMode.allCases.map(\.rawValue), default: "auto"))!
            minDelta = abs(try o.double("min_delta", default: 1e-4))  // Keras' MonitorCallback takes abs(min_delta)
            cooldown = try o.int("cooldown", default: 0, min: 0, max: 1_000_000)
            minLR = try o.double("min_lr", default: 0, min: 0)
        }
    }

    public let settings: Settings
    private let comparison: MonitorComparison
    private var best: Double?
    private var wait = 0
    private var cooldownCounter = 0
    /// (epoch, new learning rate) for every reduction, 0-based epochs.
    public private(set) var reductions: [(Int, Double)] = []

    public init(_ settings: Settings) {
        self.settings = settings
        comparison = MonitorComparison(monitor: settings.monitor, mode: settings.mode, minDelta: settings.minDelta)
        reset()
    }

    private func reset() {
        best = nil
        wait = 0
        cooldownCounter = 0
        reductions = []
    }

    public func onTrainBegin(_ trainer: Trainer) { reset() }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], trainer: Trainer) {
        guard let current = logs[settings.monitor] else { return }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            wait = 0
        }
        if comparison.improves(current, over: best) {
            best = current
            wait = 0
        } else if cooldownCounter == 0 {
            wait += 1
            if wait >= settings.patience {
                let old = Double(trainer.optimizer.learningRate)
                if old > Double(Float(settings.minLR)) {
                    let new = max(old * settings.factor, settings.minLR)
                    trainer.optimizer.learningRate = Float(new)
                    reductions.append((epoch, new))
                    trainer.log("Epoch \(epoch + 1): ReduceLROnPlateau reducing learning rate to \(Float(new)).")
                    cooldownCounter = settings.cooldown
                    wait = 0
                }
            }
        }
    }
}
