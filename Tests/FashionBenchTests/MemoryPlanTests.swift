import Foundation
import Testing
@testable import FashionTensor

/// The share of memory a model's buffers may take comes from the tightest of the machine's
/// memory, a container's cgroup limit and the process's rlimits, so a model that fits the
/// machine but not a `ulimit -v` or a container is refused with a message, not killed.
struct MemoryPlanTests {
    let gib: UInt64 = 1 << 30

    @Test func theTightestLimitDecides() {
        let unlimited = rlim_t.max
        // Nothing but physical memory.
        #expect(MemoryPlan.limit(physical: 24 * gib, cgroupFiles: [nil, nil], processLimits: [unlimited, unlimited]) == Int(18 * gib))
        // cgroup v2's "max" and v1's "unlimited" (2^63 rounded down to a page) change nothing.
        #expect(MemoryPlan.limit(physical: 24 * gib, cgroupFiles: ["max\n", "9223372036854771712\n"], processLimits: []) == Int(18 * gib))
        // A container of 8 GiB.
        #expect(MemoryPlan.limit(physical: 24 * gib, cgroupFiles: ["8589934592\n", nil], processLimits: [unlimited]) == Int(6 * gib))
        // ulimit -v 4 GiB, below the container's limit.
        #expect(MemoryPlan.limit(physical: 24 * gib, cgroupFiles: ["8589934592\n", nil], processLimits: [rlim_t(4 * gib), unlimited]) == Int(3 * gib))
        // Unreadable or nonsense files are ignored.
        #expect(MemoryPlan.limit(physical: 4 * gib, cgroupFiles: ["", "garbage", "0"], processLimits: []) == Int(3 * gib))
    }

    @Test func thisProcessIsWithinItsLimit() {
        #expect(MemoryPlan.limitBytes > 0 && MemoryPlan.limitBytes <= Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.75))
    }
}
