import CKernels
import Dispatch
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
    /// 16 units over a long input (`narrow`: an autoencoder's latent code) or 16 inputs to many
    /// units (`wide`: its decoder's first layer) run C kernels that read each operand once;
    /// OpenBLAS runs these shapes at a third of memory speed. Other shapes: BLAS.
    enum Shape { case general, narrow, wide }
    private(set) var shape = Shape.general
    /// Per-chunk sums of the 16-wide result the narrow forward and the wide input gradient split
    /// over threads, and the wide input gradient's per-chunk workspace (rows × 256 floats).
    private var narrowPartials: FloatBuffer?, wideWork: FloatBuffer?
    static let narrowWidth = 16, narrowMinimumLength = 1024, narrowChunk = 4096

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
        let rows = Double(maxBatch) * inputShape.dropLast().reduce(1) { $0 * Double($1) }
        try checkEstimate([Double(last), Double(units)], [2, rows, Double(units)], [rows, Double(last)])
        self.inputShape = inputShape
        inDim = last
        rowsPerSample = inputShape.dropLast().reduce(1, *)
        outputShape = Array(inputShape.dropLast()) + [units]
        shape = units == Dense.narrowWidth && inDim >= Dense.narrowMinimumLength ? .narrow
            : inDim == Dense.narrowWidth && units >= Dense.narrowMinimumLength ? .wide : .general
        let partials = shape == .general ? 0 : Parallel.maxChunks * maxBatch * rowsPerSample * Dense.narrowWidth
        let work = shape == .wide ? Parallel.maxChunks * maxBatch * rowsPerSample * 256 : 0
        try reserve(inDim * units + units, 2 * maxBatch * rowsPerSample * units + maxBatch * rowsPerSample * inDim + partials + work)
        kernel = Parameter(name: "kernel", shape: [inDim, units])
        bias = Parameter(name: "bias", shape: [units])
        parameters = [kernel, bias]
        output = FloatBuffer(count: maxBatch * rowsPerSample * units)
        inputGradient = FloatBuffer(count: maxBatch * rowsPerSample * inDim)
        scratch = FloatBuffer(count: Parallel.maxChunks * units)
        narrowPartials = partials > 0 ? FloatBuffer(count: partials) : nil
        wideWork = work > 0 ? FloatBuffer(count: work) : nil
    }

    public func initialize(using g: inout SeededGenerator) {
        glorotUniform(kernel, fanIn: inDim, fanOut: units, using: &g)
        bias.value.zero()
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        input = x
        let rows = batch * rowsPerSample
        let w = kernel.value.pointer, y = output.pointer, (n, k) = (units, inDim)
        switch shape {
        case .general:
            BLAS.gemm(m: rows, n: n, k: k, a: x, b: w, c: y)
        case .narrow:
            Kernels.sumOverChunks(k, minimumChunk: Dense.narrowChunk, size: rows * n, partials: narrowPartials!.pointer, into: y) { r, slice in
                fb_narrow_forward(x, w, slice, rows, k, r.lowerBound, r.upperBound)
            }
        case .wide:
            let b = bias.value.pointer, activation = activation
            Parallel.forEachChunk(n, minimumChunk: Dense.narrowChunk) { r in
                fb_wide_forward(x, w, b, y, rows, n, r.lowerBound, r.upperBound)  // bias included
            }
            if activation != .linear {
                Parallel.forEachChunk(rows, minimumChunk: Kernels.rowsPerChunk(n)) { r in
                    activation.apply(y + r.lowerBound * n, count: r.count * n, width: n)
                }
            }
            return y
        }
        Kernels.addBiasAndActivate(y, bias: bias.value.pointer, rows: rows, width: n, activation: activation)
        return y
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        let rows = batch * rowsPerSample
        Kernels.activationBackwardAndBiasGradient(output: output.pointer, gradient: dy, rows: rows, width: units,
                                                  activation: activation, biasGradient: bias.gradient.pointer, scratch: scratch.pointer)
        // dW = xᵀ·dy ; dx = dy·Wᵀ
        let x = input!, w = kernel.value.pointer, dw = kernel.gradient.pointer, dx = inputGradient.pointer, (n, k) = (units, inDim)
        switch shape {
        case .general:
            BLAS.gemm(transA: true, m: k, n: n, k: rows, a: x, b: dy, c: dw)
            guard needsInputGradient else { return nil }
            BLAS.gemm(transB: true, m: rows, n: k, k: n, a: dy, b: w, c: dx)
        case .narrow:
            Parallel.forEachChunk(k, minimumChunk: Dense.narrowChunk) { r in
                fb_narrow_weight_gradient(x, dy, dw, rows, k, r.lowerBound, r.upperBound)
            }
            guard needsInputGradient else { return nil }
            Parallel.forEachChunk(k, minimumChunk: Dense.narrowChunk) { r in
                fb_narrow_input_gradient(dy, w, dx, rows, k, r.lowerBound, r.upperBound)
            }
        case .wide:
            Parallel.forEachChunk(n, minimumChunk: Dense.narrowChunk) { r in
                fb_wide_weight_gradient(x, dy, dw, rows, n, r.lowerBound, r.upperBound)
            }
            guard needsInputGradient else { return nil }
            let partials = narrowPartials!.pointer, work = wideWork!.pointer
            Kernels.sumOverChunksIndexed(n, minimumChunk: Dense.narrowChunk, size: rows * k, partials: partials, into: dx) { chunk, r, slice in
                fb_wide_input_gradient(dy, w, slice, rows, n, r.lowerBound, r.upperBound, work + chunk * rows * 256)
            }
        }
        return dx
    }

    // MARK: - One GEMM over every replica's shard

    /// Kernels at least this large run once over the whole batch in a data-parallel model
    /// (`Sequential`): model_4's 93,312 × 512 (191 MB) would otherwise be streamed from memory
    /// by each replica in each of its three GEMMs, at a smaller M, and its gradient added
    /// across replicas afterwards.
    static let jointMinimumWeights = 1 << 22
    public var runsJointly: Bool { shape == .general && inDim * units >= Dense.jointMinimumWeights }
    /// The whole batch's input (the shards' rows in order) and output gradient, unweighted
    /// for the input gradient and weighted by shard size for the kernel's.
    private var jointInput: FloatBuffer?, jointGradient: FloatBuffer?, jointWeightedGradient: FloatBuffer?
    private var maxRows = 0

    /// Called on the replica that holds the whole-batch buffers (built for the whole batch).
    func prepareJoint(maxBatch: Int) throws {
        maxRows = maxBatch * rowsPerSample
        try reserve(0, maxRows * (inDim + 2 * units))
        jointInput = FloatBuffer(count: maxRows * inDim)
        jointGradient = FloatBuffer(count: maxRows * units)
        jointWeightedGradient = FloatBuffer(count: maxRows * units)
    }

    /// Forward of every shard at once: `layers[0]` (prepared, built for the whole batch)
    /// gathers the shards' inputs, multiplies them by the shared kernel (each core its columns,
    /// so the kernel is read once), and returns each shard's rows of its output.
    static func jointForward(_ layers: [Dense], inputs: [UnsafeMutablePointer<Float>], batches: [Int]) -> [UnsafeMutablePointer<Float>] {
        let main = layers[0], (n, k) = (main.units, main.inDim)
        let rows = batches.map { $0 * main.rowsPerSample }, offsets = rows.prefixSums
        let total = offsets.last!, x = main.jointInput!.pointer, y = main.output.pointer
        precondition(total <= main.maxRows, "batch of \(total) rows exceeds the joint layer's \(main.maxRows)")
        DispatchQueue.concurrentPerform(iterations: layers.count) { r in
            (x + offsets[r] * k).update(from: inputs[r], count: rows[r] * k)
        }
        // Each core one GEMM on its columns of the kernel (single-threaded BLAS, as in the
        // replicas; OpenBLAS's own threads would spin on after it, beside the replicas' work).
        let w = main.kernel.value.pointer
        Parallel.forEachChunk(n, minimumChunk: 64) { columns in
            BLAS.gemm(m: total, n: columns.count, k: k, a: x, b: w + columns.lowerBound, ldb: n, c: y + columns.lowerBound, ldc: n)
        }
        Kernels.addBiasAndActivate(y, bias: main.bias.value.pointer, rows: total, width: n, activation: main.activation)
        return offsets.dropLast().map { y + $0 * n }
    }

    /// Backward of every shard at once, after `jointForward`: each shard's activation and bias
    /// gradients in its own layer (added across replicas as usual), then the kernel's gradient
    /// for the whole batch straight into `layers[0]`'s (each shard's rows weighted by its share
    /// of the batch, as the replicas' gradients are added) and the input gradient, the kernel
    /// read once. Returns each shard's rows of the input gradient.
    static func jointBackward(_ layers: [Dense], gradients: [UnsafeMutablePointer<Float>], batches: [Int],
                              needsInputGradient: Bool) -> [UnsafeMutablePointer<Float>]? {
        let main = layers[0], (n, k) = (main.units, main.inDim)
        let rows = batches.map { $0 * main.rowsPerSample }, offsets = rows.prefixSums
        let total = offsets.last!, batch = batches.reduce(0, +)
        let y = main.output.pointer, dy = main.jointGradient!.pointer, weighted = main.jointWeightedGradient!.pointer
        DispatchQueue.concurrentPerform(iterations: layers.count) { r in
            Parallel.serially {
                let layer = layers[r], g = gradients[r], at = offsets[r] * n
                Kernels.activationBackwardAndBiasGradient(output: y + at, gradient: g, rows: rows[r], width: n, activation: main.activation,
                                                          biasGradient: layer.bias.gradient.pointer, scratch: layer.scratch.pointer)
                (dy + at).update(from: g, count: rows[r] * n)
                let share = Float(batches[r]) / Float(batch)
                for i in 0..<rows[r] * n { weighted[at + i] = g[i] * share }
            }
        }
        // Each core the kernel gradient's rows and the input gradient's columns of its part of
        // the inputs.
        let dx = main.inputGradient.pointer, x = main.jointInput!.pointer, w = main.kernel.value.pointer, dw = main.kernel.gradient.pointer
        Parallel.forEachChunk(k, minimumChunk: 1024) { inputs in
            let first = inputs.lowerBound
            BLAS.gemm(transA: true, m: inputs.count, n: n, k: total, a: x + first, lda: k, b: weighted, c: dw + first * n)
            if needsInputGradient {
                BLAS.gemm(transB: true, m: total, n: inputs.count, k: n, a: dy, b: w + first * n, ldb: n, c: dx + first, ldc: k)
            }
        }
        return needsInputGradient ? offsets.dropLast().map { dx + $0 * k } : nil
    }

    public var forwardFlopsPerSample: Int { 2 * rowsPerSample * inDim * units }
    public var summaryDetail: String { activation == .linear ? "" : activation.rawValue }
}

private extension Array where Element == Int {
    /// [0, a, a + b, …]: where each item's rows start, then the total.
    var prefixSums: [Int] { reduce(into: [0]) { $0.append($0.last! + $1) } }
}
