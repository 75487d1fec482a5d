import FashionConfig

/// Keras Reshape to a fixed per-sample shape. A row-major NHWC buffer means the same values in
/// the same order under any shape of the same size, so forward and backward pass it through
/// (as Flatten does). One size may be -1, as in Keras: whatever the others leave.
public final class Reshape: Layer {
    public static let typeName = "Reshape"
    public var name: String
    public let targetShape: [Int]
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public let parameters: [Parameter] = []

    public init(targetShape: [Int], name: String = "reshape") {
        self.targetShape = targetShape
        self.name = name
    }

    public convenience init(options o: Options) throws {
        let target = try o.intList("target_shape", count: 1...3, min: -1, max: 1 << 24)
        guard !target.contains(0), target.count(where: { $0 == -1 }) <= 1 else {
            throw o.error("target_shape", "must be positive sizes, one of which may be -1 (the size the others leave), got \(shapeText(target))")
        }
        self.init(targetShape: target)
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard !targetShape.isEmpty, targetShape.allSatisfy({ $0 > 0 || $0 == -1 }), targetShape.count(where: { $0 == -1 }) <= 1 else {
            throw LayerShapeError("target_shape must be positive sizes, one of which may be -1, got \(shapeText(targetShape))")
        }
        let have = inputShape.reduce(1, *)
        // Multiplied with overflow checks: three sizes up to 2^24 each can exceed Int.
        var want = 1, overflow = false
        for d in targetShape where d != -1 && !overflow { (want, overflow) = want.multipliedReportingOverflow(by: d) }
        let inferred = targetShape.contains(-1)
        guard !overflow, inferred ? have % want == 0 : have == want else {
            let wanted = overflow ? "too many" : inferred ? "a multiple of \(want)" : String(want)
            throw LayerShapeError("cannot reshape input \(shapeText(inputShape)) (\(have) values) to target_shape \(shapeText(targetShape)) (\(wanted) values)")
        }
        self.inputShape = inputShape
        outputShape = targetShape.map { $0 == -1 ? have / want : $0 }
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> { x }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        needsInputGradient ? dy : nil
    }

    public var summaryDetail: String { "to \(shapeText(targetShape))" }
}
