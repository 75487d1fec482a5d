import CKernels
import FashionTensor
import FashionConfig

/// Keras LeakyReLU: y = x for x > 0, negative_slope·x otherwise. The slope must be ≥ 0, as
/// Keras requires, so y > 0 exactly when x > 0 and backward can read the sign from the output.
public final class LeakyReLU: Layer {
    public static let typeName = "LeakyReLU"
    /// Keras 3.15's `LeakyReLU` layer default (`negative_slope=0.3`), which the papers' code and
    /// the Keras peer get from `layers.LeakyReLU()`. (seed-models.md says 0.2, the default of the
    /// `leaky_relu` function, not of the layer.)
    public static let defaultNegativeSlope: Float = 0.3
    public var name: String
    public let negativeSlope: Float
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public let parameters: [Parameter] = []
    private var output: OnDemandBuffer!
    private var size = 0
    /// Set by `Sequential` when the next layer, a BatchNormalization, applies this activation
    /// as it reads its input and this activation's backward to its dx: then this layer hands
    /// its input and the gradient on untouched, saving a pass over each, and frees its output.
    public var passesThrough = false {
        didSet { if passesThrough { output?.release() } }
    }

    public init(negativeSlope: Float = LeakyReLU.defaultNegativeSlope, name: String = "leaky_re_lu") {
        precondition(negativeSlope >= 0, "LeakyReLU negative_slope must be >= 0")
        self.negativeSlope = negativeSlope
        self.name = name
    }

    public convenience init(options o: Options) throws {
        // Keras 3 still takes `alpha`, the name before 3.0, for negative_slope (with a warning).
        // A key written `null` means its default, as everywhere: both are read either way.
        if o.has("alpha") {
            if o.has("negative_slope") { throw o.error("alpha", "is Keras' old name for negative_slope; give one of the two, not both") }
            _ = try o.optionalDouble("negative_slope")
            self.init(negativeSlope: try o.float("alpha", min: 0))
            return
        }
        _ = try o.optionalDouble("alpha")
        self.init(negativeSlope: try o.float("negative_slope", default: Double(LeakyReLU.defaultNegativeSlope), min: 0))
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard !inputShape.isEmpty else { throw LayerShapeError("needs an input with at least one axis") }
        self.inputShape = inputShape
        outputShape = inputShape
        size = inputShape.reduce(1, *)
        try reserve(0, maxBatch * size)
        output = OnDemandBuffer(count: maxBatch * size, allocateNow: !passesThrough)
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        if passesThrough { return x }
        let y = output.buffer.pointer, a = negativeSlope
        Parallel.forEachChunk(batch * size, minimumChunk: 16_384) { range in
            fb_leaky_relu_forward(x + range.lowerBound, y + range.lowerBound, range.count, a)  // y = x > 0 ? x : x·a
        }
        return y
    }

    /// dx = dy for x > 0, negative_slope·dy otherwise (TensorFlow's LeakyReluGrad: slope at 0),
    /// written over dy.
    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        guard needsInputGradient else { return nil }
        if passesThrough { return dy }
        let y = output.buffer.pointer, a = negativeSlope
        Parallel.forEachChunk(batch * size, minimumChunk: 16_384) { range in
            fb_leaky_relu_backward(y + range.lowerBound, dy + range.lowerBound, range.count, a)  // dy = y > 0 ? dy : dy·a
        }
        return dy
    }

    public var summaryDetail: String { "negative_slope \(negativeSlope)" }
}
