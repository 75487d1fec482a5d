/// What a callback sees at the end of an epoch: the epoch's logs (loss, accuracy, val_loss,
/// val_accuracy) and the trainer it may stop or change.
public protocol Callback: AnyObject {
    func onTrainBegin(_ trainer: Trainer)
    func onEpochEnd(_ epoch: Int, logs: [String: Double], trainer: Trainer)
    func onTrainEnd(_ trainer: Trainer)
}

extension Callback {
    public func onTrainBegin(_ trainer: Trainer) {}
    public func onTrainEnd(_ trainer: Trainer) {}
}

/// Keras' `mode`: whether a smaller or a larger monitored value is better.
public enum MonitorMode: String, CaseIterable, Sendable {
    case auto, min, max

    /// `auto` means max for accuracies, min otherwise (as Keras).
    public func resolved(for monitor: String) -> MonitorMode {
        guard self == .auto else { return self }
        return monitor.hasSuffix("accuracy") || monitor.hasSuffix("acc") ? .max : .min
    }
}

/// Keras 3's `MonitorCallback._is_improvement`, shared by the three callbacks: `current`
/// improves on `reference` when `current + min_delta < reference` (mode min) or `current −
/// min_delta > reference` (mode max). Keras' `ops.less` / `ops.greater` turn both sides into
/// float32 tensors first, and its metrics are float32, so the logged value is rounded to
/// float32, min_delta applied in double, and the result and the reference rounded to float32
/// again before comparing. The rounding decides ties, which accuracies (k/n) reach at steps of
/// exactly min_delta. Nothing seen yet (Keras' `best = None`) is always beaten.
struct MonitorComparison: Sendable {
    let maximise: Bool
    let minDelta: Double

    init(monitor: String, mode: MonitorMode, minDelta: Double = 0) {
        maximise = mode.resolved(for: monitor) == .max
        self.minDelta = abs(minDelta)
    }

    func improves(_ current: Double, over reference: Double?) -> Bool {
        guard let reference else { return true }
        let shifted = Float(Double(Float(current)) + (maximise ? -minDelta : minDelta))
        return maximise ? shifted > Float(reference) : shifted < Float(reference)
    }
}
