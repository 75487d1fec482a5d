import FashionConfig

/// Keras Reshape to a fixed per-sample shape. A row-major NHWC buffer means the same values in
/// the same order under any shape of the same size, so forward and backward pass it through
/// (as Flatten does).
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
        self.init(targetShape: try o.intList("target_shape", count: 1...3, min: 1, max: 1 << 24))
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard !targetShape.isEmpty, targetShape.allSatisfy({ $0 > 0 }) else {
            throw LayerShapeError("target_shape must be positive sizes, got \(shapeText(targetShape))")
        }
        let have = inputShape.reduce(1, *)
        // Multiplied with overflow checks: three sizes up to 2^24 each can exceed Int.
        var want = 1, overflow = false
        for d in targetShape where !overflow { (want, overflow) = want.multipliedReportingOverflow(by: d) }
        guard !overflow, have == want else {
            throw LayerShapeError("cannot reshape input \(shapeText(inputShape)) (\(have) values) to target_shape \(shapeText(targetShape)) (\(overflow ? "too many" : String(want)) values)")
        }
        self.inputShape = inputShape
        outputShape = targetShape
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> { x }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        needsInputGradient ? dy : nil
    }

    public var summaryDetail: String { "to \(shapeText(targetShape))" }
}
