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
