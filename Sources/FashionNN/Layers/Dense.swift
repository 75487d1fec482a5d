import FashionTensor
import FashionConfig

/// Keras Dense: y = f(x·W + b), W laid out (in, out). On inputs of rank > 1 it acts on the
/// last axis, as Keras does.
public final class Dense: Layer {
    public static let typeName = "Dense"
    public var name: String
    public let units: Int
    public var activation: Activation
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public private(set) var parameters: [Parameter] = []

    private var kernel: Parameter!
    private var bias: Parameter!
    private var output: FloatBuffer!
    private var inputGradient: FloatBuffer!
    private var scratch: FloatBuffer!
    private var input: UnsafeMutablePointer<Float>?
    private var inDim = 0, rowsPerSample = 1

    public init(units: Int, activation: Activation = .linear, name: String = "dense") {
        self.units = units
        self.activation = activation
        self.name = name
    }

    public convenience init(options o: Options) throws {
        self.init(units: try o.positiveInt("units", max: 1 << 24),
                  activation: try Activation(rawValue: o.choice("activation", Activation.names, default: "linear"))!)
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard let last = inputShape.last, last > 0 else { throw LayerShapeError("needs an input with at least one axis, got \(shapeText(inputShape))") }
        self.inputShape = inputShape
        inDim = last
        rowsPerSample = inputShape.dropLast().reduce(1, *)
        outputShape = Array(inputShape.dropLast()) + [units]
        try reserve(inDim * units + units, 2 * maxBatch * rowsPerSample * units + maxBatch * rowsPerSample * inDim)
        kernel = Parameter(name: "kernel", shape: [inDim, units])
        bias = Parameter(name: "bias", shape: [units])
        parameters = [kernel, bias]
        output = FloatBuffer(count: maxBatch * rowsPerSample * units)
        inputGradient = FloatBuffer(count: maxBatch * rowsPerSample * inDim)
        scratch = FloatBuffer(count: Parallel.maxChunks * units)
    }

    public func initialize(using g: inout SeededGenerator) {
        glorotUniform(kernel, fanIn: inDim, fanOut: units, using: &g)
        bias.value.zero()
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        input = x
        let rows = batch * rowsPerSample
        BLAS.gemm(m: rows, n: units, k: inDim, a: x, b: kernel.value.pointer, c: output.pointer)
        Kernels.addBiasAndActivate(output.pointer, bias: bias.value.pointer, rows: rows, width: units, activation: activation)
        return output.pointer
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        let rows = batch * rowsPerSample
        Kernels.activationBackwardAndBiasGradient(output: output.pointer, gradient: dy, rows: rows, width: units,
                                                  activation: activation, biasGradient: bias.gradient.pointer, scratch: scratch.pointer)
        // dW = xᵀ·dy ; dx = dy·Wᵀ
        BLAS.gemm(transA: true, m: inDim, n: units, k: rows, a: input!, b: dy, c: kernel.gradient.pointer)
        guard needsInputGradient else { return nil }
        BLAS.gemm(transB: true, m: rows, n: inDim, k: units, a: dy, b: kernel.value.pointer, c: inputGradient.pointer)
        return inputGradient.pointer
    }

    public var forwardFlopsPerSample: Int { 2 * rowsPerSample * inDim * units }
    public var summaryDetail: String { activation == .linear ? "" : activation.rawValue }
}
