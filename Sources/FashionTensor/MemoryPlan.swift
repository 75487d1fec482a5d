import Foundation

/// Refuses, before anything is allocated, a model whose buffers would not fit in this
/// machine's memory (a typo like `units: 10000000` must be an error, not an OOM kill).
public enum MemoryPlan {
    nonisolated(unsafe) private static var planned = 0

    /// The share of memory a model's buffers may take: 75% of the least of physical memory,
    /// the container's limit (cgroup v2 or v1) and the process's address-space and data limits
    /// (`ulimit -v`, `-d`), any of which would otherwise end the run in an allocation failure
    /// or the OOM killer.
    public static let limitBytes: Int = {
        let cgroups = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"].map {
            try? String(contentsOfFile: $0, encoding: .utf8)
        }
        let limits = [RLIMIT_AS, RLIMIT_DATA].compactMap { resource -> rlim_t? in
            var limit = rlimit()
            return getrlimit(__rlimit_resource_t(resource.rawValue), &limit) == 0 ? limit.rlim_cur : nil
        }
        return limit(physical: ProcessInfo.processInfo.physicalMemory, cgroupFiles: cgroups, processLimits: limits)
    }()

    /// 75% of the least of `physical`, the cgroup files' byte counts ("max", v2's no limit, is
    /// no number; v1's "unlimited" is a number near 2^63) and the process limits (rlim_t.max:
    /// unlimited).
    static func limit(physical: UInt64, cgroupFiles: [String?], processLimits: [rlim_t]) -> Int {
        var available = Double(physical)
        for case let text? in cgroupFiles {
            if let bytes = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes > 0 { available = min(available, bytes) }
        }
        for limit in processLimits where limit != rlim_t.max { available = min(available, Double(limit)) }
        return Int(available * 0.75)
    }

    /// Set while building a model's replicas, which add to the same plan.
    nonisolated(unsafe) public static var keepCounting = false

    /// Starts counting for a new model.
    public static func reset() { planned = 0 }

    /// How a refusal ends: what the plan allows here.
    private static var allowed: String {
        String(format: "more than the %.1f GiB allowed here (three quarters of the memory this process may use)", Double(limitBytes) / 1_073_741_824)
    }

    /// Sizes beyond which a layer's counts, computed in Int, could wrap around (the release
    /// build does not trap on overflow): 2^56 floats, millions of times any machine's memory.
    public static let countableFloats = Double(1 << 56)

    /// A message when `floats`, an estimate in floating point of a layer's largest buffers made
    /// before its exact counts are computed in Int, is too large to count; nil otherwise (the
    /// exact count is then reserved as usual, and decides whether the model fits).
    public static func check(estimatedFloats floats: Double) -> String? {
        if floats.isFinite, floats <= countableFloats { return nil }
        return String(format: "needs about %.3g GiB of buffers, ", floats * 4 / 1_073_741_824) + allowed
    }

    /// Adds `floats` to the model's plan; returns a message when the total would be too much.
    public static func reserve(floats: Int) -> String? {
        let (sum, overflow) = planned.addingReportingOverflow(floats.multipliedReportingOverflow(by: 4).partialValue)
        if overflow || floats < 0 || floats > Int.max / 8 || sum > limitBytes {
            return String(format: "needs %.1f GiB of buffers (model total so far %.1f GiB), ", Double(floats) * 4 / 1_073_741_824, Double(planned) / 1_073_741_824)
                + allowed
        }
        planned = sum
        return nil
    }
}
