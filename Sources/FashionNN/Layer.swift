import FashionTensor

/// Trainable (or non-trainable) weights of a layer and the gradient the last backward pass
/// wrote for them (overwritten, not accumulated, each step).
public final class Parameter {
    public let name: String
    public let shape: [Int]
    /// Shared between the replicas of a data-parallel model (see `Sequential`).
    public internal(set) var value: FloatBuffer
    /// Shared between replicas only for a joint layer's kernel, which one call fills for all.
    public internal(set) var gradient: FloatBuffer
    public let trainable: Bool

    public init(name: String, shape: [Int], trainable: Bool = true) {
        self.name = name
        self.shape = shape
        self.trainable = trainable
        let count = shape.reduce(1, *)
        value = FloatBuffer(count: count)
        gradient = FloatBuffer(count: trainable ? count : 0)
    }

    public var count: Int { value.count }
}

/// A shape mistake found while building a model: which layer and which shapes.
public struct ShapeError: Error, CustomStringConvertible {
    public let layerIndex: Int
    public let layer: String
    public let message: String
    public var description: String { "layer \(layerIndex) (\(layer)): \(message)" }
}

/// One layer: forward and backward over a whole batch in NHWC float32. `build` checks the
/// input shape and allocates every buffer the layer needs for up to `maxBatch` samples, so a
/// training step allocates nothing.
///
/// `forward` returns the layer's output (its own buffer, or the input itself for layers that
/// do not change the data). `backward` receives dLoss/dOutput, writes the parameters'
/// gradients and, when asked, returns dLoss/dInput; it may overwrite the gradient it was given.
public protocol Layer: AnyObject {
    /// The Keras class name used in experiment files ("Conv2D").
    static var typeName: String { get }
    var name: String { get set }
    var inputShape: [Int] { get }
    var outputShape: [Int] { get }
    var parameters: [Parameter] { get }

    /// Checks `inputShape` (per sample, without the batch axis) and allocates.
    func build(inputShape: [Int], maxBatch: Int) throws
    /// Glorot-uniform kernels and zero biases, from the given generator.
    func initialize(using generator: inout SeededGenerator)

    func forward(_ input: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float>
    func backward(_ outputGradient: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>?

    /// Multiply–adds ×2 for one sample's forward pass (for GFLOP/s reporting).
    var forwardFlopsPerSample: Int { get }
    /// Extra settings for the model summary ("64 filters 2x2 same relu").
    var summaryDetail: String { get }
}

/// Why a layer cannot take its input shape; the model adds which layer it is.
public struct LayerShapeError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

extension Layer {
    public var typeName: String { Self.typeName }
    public func initialize(using generator: inout SeededGenerator) {}
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
    public var forwardFlopsPerSample: Int { 0 }
    public var summaryDetail: String { "" }
}

/// Checks a layer's buffers (parameters counted three times: value, gradient and up to two
/// optimizer slots are close enough) against the machine's memory before allocating them.
func reserve(_ parameters: Int, _ activations: Int) throws {
    if let problem = MemoryPlan.reserve(floats: 4 * parameters + activations) { throw LayerShapeError(problem) }
}

/// Refuses a layer whose sizes, multiplied in Double, are too large to count in Int: called
/// before the exact counts are computed, which `-Ounchecked` lets wrap around for absurd
/// shapes (a wrapped count would pass `reserve` and then fail to allocate). `reserve`, with
/// the exact counts, decides whether a model fits.
func checkEstimate(_ factors: [Double]...) throws {
    let floats = factors.reduce(0) { $0 + $1.reduce(1, *) }
    if let problem = MemoryPlan.check(estimatedFloats: floats) { throw LayerShapeError(problem) }
}

public func shapeText(_ shape: [Int]) -> String { "(" + shape.map(String.init).joined(separator: ", ") + ")" }

/// Glorot (Xavier) uniform: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), as Keras.
func glorotUniform(_ p: Parameter, fanIn: Int, fanOut: Int, using g: inout SeededGenerator) {
    let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
    let w = p.value.pointer
    for i in 0..<p.count { w[i] = (g.nextUnitFloat() * 2 - 1) * limit }
}
