import CKernels

/// The widest vector instructions the hand-written kernels (direct convolutions, pooling,
/// element-wise loops) may use. Capping it lets one host time the code paths another host
/// would take, e.g. an AVX2-only machine's, beside a peer capped the same way.
public enum InstructionSet: Int, CaseIterable, Sendable {
    case sse = 0, avx2 = 1, avx512 = 2

    public var name: String { switch self { case .sse: "sse"; case .avx2: "avx2"; case .avx512: "avx512" } }

    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = found
    }

    /// Caps the kernels at `limit` (or lifts a cap with `.avx512`); returns what this CPU will now use.
    @discardableResult
    public static func cap(at limit: InstructionSet) -> InstructionSet {
        InstructionSet(rawValue: Int(fb_kernels_cap_level(Int32(limit.rawValue)))) ?? .sse
    }

    /// What the kernels use now: the CPU's best, under the cap.
    public static var current: InstructionSet { InstructionSet(rawValue: Int(fb_kernels_level())) ?? .sse }
}
