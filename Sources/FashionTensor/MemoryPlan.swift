import Foundation

/// Refuses, before anything is allocated, a model whose buffers would not fit in this
/// machine's memory (a typo like `units: 10000000` must be an error, not an OOM kill).
public enum MemoryPlan {
    nonisolated(unsafe) private static var planned = 0

    /// The share of physical memory a model's buffers may take.
    public static var limitBytes: Int { Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.75) }

    /// Set while building a model's replicas, which add to the same plan.
    nonisolated(unsafe) public static var keepCounting = false

    /// Starts counting for a new model.
    public static func reset() { planned = 0 }

    /// Adds `floats` to the model's plan; returns a message when the total would be too much.
    public static func reserve(floats: Int) -> String? {
        let (sum, overflow) = planned.addingReportingOverflow(floats.multipliedReportingOverflow(by: 4).partialValue)
        if overflow || floats < 0 || floats > Int.max / 8 || sum > limitBytes {
            return String(format: "needs %.1f GiB of buffers (model total so far %.1f GiB), more than the %.1f GiB this machine allows",
                          Double(floats) * 4 / 1_073_741_824, Double(planned) / 1_073_741_824, Double(limitBytes) / 1_073_741_824)
        }
        planned = sum
        return nil
    }
}
