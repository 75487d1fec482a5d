import CKernels
import FashionTensor
import FashionConfig

/// Keras Conv2D (NHWC, kernel laid out (kh, kw, in, out)) as im2col + one GEMM over the
/// whole batch: columns [batch·outH·outW, kh·kw·in] × kernel [kh·kw·in, filters] gives the
/// NHWC output directly. Backward reuses the column buffer for dLoss/dColumns.
public final class Conv2D: Layer {
    public static let typeName = "Conv2D"
    public var name: String
    public let filters: Int
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public var activation: Activation
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public private(set) var parameters: [Parameter] = []

    private var kernel: Parameter!
    private var bias: Parameter!
    private var window: Window2D!
    /// im2col rows; not allocated for a layer whose passes are all direct unless a GEMM path
    /// comes to need it (its activation changed after building).
    private var columns: OnDemandBuffer!
    private var output: FloatBuffer!
    private var inputGradient: FloatBuffer!
    private var scratch: FloatBuffer!
    /// Patches this small (a first layer's 2x2x1) skip BLAS for a fused direct loop.
    static let smallPatch = 16
    /// Layers with 32, 64 or 128 filters (or 1 to 4, see `fb_conv_direct_supported`) and relu
    /// or no activation run a direct convolution (`CKernels`): no im2col, bias and ReLU fused
    /// into the forward pass, the kernel gradient read straight from the image; 1.5–4× faster
    /// than im2col + GEMM, whose N = filters is too narrow for OpenBLAS's kernels. `same` padding copies the input into a
    /// zero-bordered buffer first.
    private var directShape = false
    /// With stride 1 and as many input channels as the direct kernels take as filters (32, 64,
    /// 128, or 1 to 4) the input gradient is direct too: the convolution of dy, zero-bordered, with
    /// the kernel flipped in space and its channel roles swapped. No column buffer and no
    /// scatter: the 80x80 CNN's second layer's backward went from 683 to 267 ms a batch, and
    /// its 705 MB column buffer is gone.
    private var directInputGradientShape = false
    /// dy with its zero border, the flipped kernel [kh, kw, filters, in], zero biases.
    private var paddedGradient: FloatBuffer?
    private var flippedKernel: FloatBuffer?
    private var zeroBias: FloatBuffer?
    private var gradientTop = 0, gradientLeft = 0
    /// A 2x2 kernel of stride 1 (model_4's) with input channels a multiple of 16 and filters a
    /// multiple of 64 runs Winograd (`fb_conv_winograd2`): F(3x3, 2x2), 16 multiply-adds per
    /// channel and filter for each 3x3 block of outputs instead of 36, or for small outputs
    /// F(2x2, 2x2), 9 for each 2x2 block instead of 16 (`fb_winograd2_tile` picks). So does its
    /// direct input gradient, a 2x2 convolution of stride 1 as well, when the roles of channels
    /// and filters fit, and its kernel gradient (`fb_conv_winograd2_weight_gradient`), which has
    /// the same form with dy's tiles as the kernel. Outputs differ from the direct sums by
    /// rounding. On the AVX-512 EPYC (Zen 4) F(3x3, 2x2) took model_4 from 262–279 to 289–300
    /// samples/s (`bench`, 20–30 steps).
    private var winogradForward = false
    private var winogradInputGradient = false
    /// The kernel gradient's transform takes the same shapes as the forward's.
    private var winogradWeightGradient: Bool { winogradForward }
    /// The transformed kernel (of the forward, or of the flipped one for the input gradient:
    /// each pass transforms it again), and each chunk's tiles (and, for the kernel gradient,
    /// its transformed sums).
    private var winogradKernel: FloatBuffer?
    private var winogradWork: FloatBuffer?
    private var winogradWorkCount = 0
    /// The output tiles' size (2 or 3) of the forward and kernel gradient (outH x outW), and of
    /// the input gradient (inH x inW).
    private var winogradTile: Int32 = 2, winogradInputGradientTile: Int32 = 2
    /// Set by the model when a MaxPooling2D follows this ReLU layer and `pooledBackwardPays` is
    /// false: the pooling's backward already applied ReLU's mask to dy (see
    /// `MaxPooling2D.masksReLU`), so this layer's backward only sums the bias gradient, without
    /// another pass over its output.
    public var gradientArrivesMasked = false
    /// The activation whose derivative this layer's backward still applies.
    private var backwardActivation: Activation { gradientArrivesMasked && activation == .relu ? .linear : activation }
    /// Set by the model (`takeBackward(of:)`) when a MaxPooling2D follows this relu or linear
    /// layer and `pooledBackwardPays`: the backward then starts from the pooled gradient. Each
    /// pooled value's gradient reaches only its window's maximum, so the kernel, bias and input
    /// gradients are sums over the pooled values (1/(pool area) of the dense multiply-adds), or,
    /// for a first layer, the dense kernel gradient with dy's rows rebuilt in L1; either way
    /// neither the pooling nor this layer writes the dense gradient at this layer's resolution
    /// in memory. The 80x80 CNN's second layer's backward went from 345 to 174 ms a batch, its
    /// first layer's and first pooling's from 157 + 86 to 97 (batch 500, `bench --profile`).
    public private(set) var pooling: MaxPooling2D?
    /// The pooled backward's and the pooled forward's workspace, sized by `pooledWorkCount`,
    /// which says what each form keeps in it.
    private var pooledWork: FloatBuffer?
    /// `same` padding on the direct path: the input with its zero border, and its size.
    private var padded: FloatBuffer?
    private var paddedH = 0, paddedW = 0
    /// Checked per pass: a model may hand the activation to its loss after building.
    private var direct: Bool { directShape && (activation == .relu || activation == .linear) }
    /// Whether this layer runs the direct kernel (after `build`, for its current activation).
    public var usesDirectKernel: Bool { direct }
    /// Whether the input gradient, too, is a direct convolution (after `build`).
    public var usesDirectInputGradient: Bool { direct && directInputGradientShape }
    /// Whether the forward, the input gradient and the kernel gradient (when this layer's own
    /// backward computes it, not a pooling's) run Winograd for 2x2 kernels (after `build`).
    public var usesWinograd: (forward: Bool, inputGradient: Bool, weightGradient: Bool) {
        (direct && winogradForward, direct && winogradInputGradient, direct && winogradWeightGradient && pooling == nil)
    }
    private var input: UnsafeMutablePointer<Float>?
    private var patch = 0

    public init(filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                activation: Activation = .linear, name: String = "conv2d") {
        self.filters = filters
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.activation = activation
        self.name = name
    }

    public convenience init(options o: Options) throws {
        self.init(filters: try o.positiveInt("filters", max: 1 << 16),
                  kernelSize: try o.intPair("kernel_size", max: 1 << 12),
                  strides: try o.intPair("strides", default: (1, 1), max: 1 << 12),
                  padding: Padding(rawValue: try o.choice("padding", Padding.names, default: "valid"))!,
                  activation: Activation(rawValue: try o.choice("activation", Activation.names, default: "linear"))!)
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard inputShape.count == 3 else {
            throw LayerShapeError("expects an image input (height, width, channels), got \(shapeText(inputShape))")
        }
        let w = Window2D(inH: inputShape[0], inW: inputShape[1], channels: inputShape[2],
                         kernel: kernelSize, strides: strides, padding: padding)
        guard w.outH > 0, w.outW > 0 else {
            throw LayerShapeError("kernel \(kernelSize.0)x\(kernelSize.1) with padding \(padding.rawValue) does not fit input \(shapeText(inputShape))")
        }
        let (batch, outArea, kernelArea) = (Double(maxBatch), Double(w.outH) * Double(w.outW), Double(w.kH) * Double(w.kW))
        try checkEstimate([batch, outArea, Double(filters)], [batch, outArea, kernelArea, Double(w.channels)],
                          [kernelArea, Double(w.channels), Double(filters)])
        self.inputShape = inputShape
        window = w
        outputShape = [w.outH, w.outW, filters]
        patch = w.kH * w.kW * w.channels
        let pixels = maxBatch * w.outH * w.outW
        directShape = patch <= Kernels.directMaxPatch && fb_conv_direct_supported(Int32(filters), Int32(w.kW), Int32(w.channels)) != 0
        // The rows and columns the windows cover, with the padding; valid padding reads inside the input.
        paddedH = (w.outH - 1) * w.sH + w.kH
        paddedW = (w.outW - 1) * w.sW + w.kW
        let needsBorder = directShape && padding == .same && (w.padTop > 0 || w.padLeft > 0 || paddedH > w.inH || paddedW > w.inW)
        let paddedCount = needsBorder ? maxBatch * paddedH * paddedW * w.channels : 0
        directInputGradientShape = directShape && w.sH == 1 && w.sW == 1
            && w.kH * w.kW * filters <= Kernels.directMaxPatch
            && fb_conv_direct_supported(Int32(w.channels), Int32(w.kW), Int32(filters)) != 0
        gradientTop = w.kH - 1 - w.padTop
        gradientLeft = w.kW - 1 - w.padLeft
        let gradientCount = directInputGradientShape ? maxBatch * (w.inH + w.kH - 1) * (w.inW + w.kW - 1) * filters : 0
        let twoByTwo = w.kH == 2 && w.kW == 2 && w.sH == 1 && w.sW == 1
        winogradForward = directShape && twoByTwo && fb_winograd2_supported(Int32(w.channels), Int32(filters)) != 0
        winogradInputGradient = directInputGradientShape && twoByTwo && fb_winograd2_supported(Int32(filters), Int32(w.channels)) != 0
        winogradTile = fb_winograd2_tile(Int32(w.outH), Int32(w.outW))
        winogradInputGradientTile = fb_winograd2_tile(Int32(w.inH), Int32(w.inW))
        let (channels, outW, inW) = (Int32(w.channels), Int32(w.outW), Int32(w.inW))
        winogradWorkCount = max(winogradForward ? Int(fb_winograd2_work_count(channels, Int32(filters), outW, winogradTile)) : 0,
                                winogradInputGradient
                                    ? Int(fb_winograd2_work_count(Int32(filters), channels, inW, winogradInputGradientTile)) : 0,
                                winogradWeightGradient
                                    ? Int(fb_winograd2_gradient_work_count(channels, Int32(filters), outW, winogradTile)) : 0)
        let transformsKernel = winogradForward || winogradInputGradient
        let transformedCount = 16 * w.channels * filters  // the larger of the two tiles' transforms
        let winogradCount = (transformsKernel ? transformedCount : 0) + Parallel.maxChunks * winogradWorkCount
        // The column buffer serves only the GEMM paths; a fully direct layer never needs it.
        let needsColumns = !(directInputGradientShape && (activation == .relu || activation == .linear))
        try reserve(patch * filters + filters, (needsColumns ? pixels * patch : 0) + pixels * 2 * filters + maxBatch * inputShape.reduce(1, *)
                    + paddedCount + gradientCount + 2 * patch * filters + winogradCount)
        winogradKernel = transformsKernel ? FloatBuffer(count: transformedCount) : nil
        winogradWork = winogradWorkCount > 0 ? FloatBuffer(count: Parallel.maxChunks * winogradWorkCount) : nil
        padded = needsBorder ? FloatBuffer(count: paddedCount) : nil  // zeroed: the border stays zero
        paddedGradient = directInputGradientShape ? FloatBuffer(count: gradientCount) : nil
        flippedKernel = directInputGradientShape ? FloatBuffer(count: patch * filters) : nil
        zeroBias = directInputGradientShape ? FloatBuffer(count: w.channels) : nil
        kernel = Parameter(name: "kernel", shape: [w.kH, w.kW, w.channels, filters])
        bias = Parameter(name: "bias", shape: [filters])
        parameters = [kernel, bias]
        columns = OnDemandBuffer(count: pixels * patch, allocateNow: needsColumns)
        output = FloatBuffer(count: pixels * filters)
        inputGradient = FloatBuffer(count: maxBatch * inputShape.reduce(1, *))
        scratch = FloatBuffer(count: Parallel.maxChunks * (patch * filters + filters))
    }

    public func initialize(using g: inout SeededGenerator) {
        let area = window.kH * window.kW
        glorotUniform(kernel, fanIn: area * window.channels, fanOut: area * filters, using: &g)
        bias.value.zero()
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        input = x
        let rows = batch * window.outH * window.outW
        if direct {
            let w = window!, relu: Int32 = activation == .relu ? 1 : 0
            let (source, height, width) = directSource(batch: batch)
            if let pool = pooling, pool.poolsInConvolution {
                forwardPooled(source, height: height, width: width, pool: pool, batch: batch)
                return output.pointer  // not written: the pooling returns its own output
            }
            if winogradForward, let u = winogradKernel?.pointer, let work = winogradWork?.pointer {
                let tile = winogradTile, workCount = winogradWorkCount
                fb_winograd2_kernel(kernel.value.pointer, u, Int32(w.channels), Int32(filters), tile)
                Parallel.forEachChunkIndexed(batch) { chunk, samples in
                    _ = fb_conv_winograd2(source, u, bias.value.pointer, output.pointer, samples.lowerBound, samples.count,
                                          Int32(height), Int32(width), Int32(w.channels), Int32(w.outH), Int32(w.outW),
                                          Int32(filters), relu, work + chunk * workCount, tile)
                }
                return output.pointer
            }
            Parallel.forEachChunk(batch) { samples in
                _ = fb_conv_direct_forward(source, kernel.value.pointer, bias.value.pointer, output.pointer,
                                           samples.lowerBound, samples.count, Int32(height), Int32(width), Int32(w.channels),
                                           Int32(w.outH), Int32(w.outW), Int32(filters), Int32(w.kH), Int32(w.kW),
                                           Int32(w.sH), Int32(w.sW), relu)
            }
            return output.pointer
        }
        let columns = self.columns.buffer
        Im2Col.gather(x, into: columns.pointer, batch: batch, window: window)
        if patch <= Conv2D.smallPatch {
            Kernels.smallGemmBiasActivate(columns.pointer, kernel.value.pointer, bias: bias.value.pointer, into: output.pointer,
                                          rows: rows, k: patch, n: filters, activation: activation)
        } else {
            BLAS.gemm(m: rows, n: filters, k: patch, a: columns.pointer, b: kernel.value.pointer, c: output.pointer)
            Kernels.addBiasAndActivate(output.pointer, bias: bias.value.pointer, rows: rows, width: filters, activation: activation)
        }
        return output.pointer
    }

    /// The forward under a pooling of tiles that takes its backward: for each row of windows,
    /// the convolution of just those rows into a band (in L1), pooled from there into the
    /// pooling's output and window positions, so this layer's own output is never written;
    /// or, where `winogradPays`, Winograd's tiles, pooled in registers.
    private func forwardPooled(_ source: UnsafePointer<Float>, height: Int, width: Int, pool: MaxPooling2D, batch: Int) {
        let w = window!, p = pool.poolingWindow, relu: Int32 = activation == .relu ? 1 : 0
        if winogradPays(for: pool) {
            // The kernel transformed once a step, then each chunk's samples tile by tile.
            let transformed = pooledWork!.pointer, work = transformed + 16 * w.channels * filters
            let workSize = Int(fb_winograd_work_count(Int32(w.channels), Int32(p.outW)))
            fb_winograd_kernel(kernel.value.pointer, transformed, Int32(w.channels), Int32(filters))
            let pooled = pool.pooledOutput, positions = pool.maximumPositions, pooledSize = p.outH * p.outW * filters
            Parallel.forEachChunkIndexed(batch) { chunk, samples in
                for n in samples {
                    fb_conv_winograd_pooled(source + n * height * width * w.channels, transformed, bias.value.pointer,
                                            pooled + n * pooledSize, positions + n * pooledSize, Int32(width), Int32(w.channels),
                                            Int32(filters), Int32(p.outH), Int32(p.outW), relu, work + chunk * workSize)
                }
            }
            return
        }
        let bandRows = (p.kH - 1) * w.sH + w.kH, bandSize = p.kH * w.outW * filters
        let bands = pooledWork!.pointer, pooled = pool.pooledOutput, positions = pool.maximumPositions
        Parallel.forEachChunkIndexed(batch) { chunk, samples in
            let band = bands + chunk * bandSize
            for n in samples {
                for ph in 0..<p.outH {
                    let top = source + ((n * height + ph * p.kH * w.sH) * width) * w.channels
                    _ = fb_conv_direct_forward(top, kernel.value.pointer, bias.value.pointer, band, 0, 1, Int32(bandRows), Int32(width),
                                               Int32(w.channels), Int32(p.kH), Int32(w.outW), Int32(filters), Int32(w.kH), Int32(w.kW),
                                               Int32(w.sH), Int32(w.sW), relu)
                    let o = (n * p.outH + ph) * p.outW * filters
                    fb_maxpool_forward(band, pooled + o, positions + o, 0, 1, Int32(p.kH), Int32(w.outW), Int32(filters),
                                       1, Int32(p.outW), Int32(p.kH), Int32(p.kW), Int32(p.sH), Int32(p.sW), 0, 0, 1)
                }
            }
        }
    }

    /// Makes this layer's backward start from `pool`'s gradient (see `pooling`), or, with nil,
    /// from its own again. Only a relu or linear layer, before a pooling that is not 1x1. Its
    /// workspace joins the model's memory plan (this runs while the model is being built).
    public func takeBackward(of pool: MaxPooling2D?) throws {
        pooling?.leavesBackwardToConvolution = false
        pooling?.poolsInConvolution = false
        guard let pool else { pooling = nil; pooledWork = nil; return }
        precondition(activation == .relu || activation == .linear, "\(name): the pooled backward needs relu or no activation")
        precondition(!pool.isIdentityPool && pool.inputShape == outputShape, "\(name): \(pool.name) does not pool this layer's output")
        pool.leavesBackwardToConvolution = true
        pool.poolsInConvolution = direct && pool.windowsTile
        let work = pooledWorkCount(for: pool)
        try reserve(0, work)
        pool.masksReLU = false
        gradientArrivesMasked = false
        pooling = pool
        pooledWork = FloatBuffer(count: work)
    }

    /// Whether a backward from `pool`'s gradient beats the dense one. Two forms:
    /// - Sums over pooled values (`fb_conv_pooled_backward`), 1/(window area) of the dense
    ///   multiply-adds. The thresholds, windows of at least 4 values and rows of at least 32,
    ///   were set when every value added its kH rows of kW·cin values into memory (a load, a
    ///   multiply-add and a store each, about three times the dense cost per multiply-add for
    ///   rows of whole vectors, several times more for short rows such as a first layer's
    ///   3x3x3). Rows of a multiple of 16 values inside the image are now summed in registers,
    ///   which may pay for more pairs; the thresholds have not been measured again.
    /// - For a direct layer that needs no input gradient (a first layer) under a pooling of
    ///   tiles: the dense kernel gradient, its dy rebuilt one row at a time in L1 from the pooled
    ///   gradient (`fb_conv_direct_weight_gradient_pooled`), the same multiply-adds as the dense
    ///   backward without the pooling's dense gradient in memory.
    public func pooledBackwardPays(for pool: MaxPooling2D, needsInputGradient: Bool) -> Bool {
        guard (activation == .relu || activation == .linear) && !pool.isIdentityPool else { return false }
        if !needsInputGradient && rebuildsPooledRows(for: pool) { return true }
        return pool.poolSize.0 * pool.poolSize.1 >= 4 && window.kW * window.channels >= 32
    }

    private func rebuildsPooledRows(for pool: MaxPooling2D) -> Bool {
        direct && [32, 64, 128].contains(filters) && pool.windowsTile
    }

    /// The pooled backward's kernel gradient per chunk (transposed, see
    /// `fb_conv_pooled_backward`) and bias gradient.
    private var pooledGradientCount: Int { patch * filters + filters }
    /// The transposed kernel, the summed gradients (the chunks' own are in `scratch`) and each
    /// chunk's sorting space; or, rebuilding dy's rows, a row per chunk; or, pooling in the
    /// forward, a band of pool-height rows per chunk, or the transformed kernel and each
    /// chunk's Winograd tiles.
    private func pooledWorkCount(for pool: MaxPooling2D) -> Int {
        let sums = patch * filters + pooledGradientCount + Parallel.maxChunks * pooledSortCount(for: pool)
        let bands = Parallel.maxChunks * pool.poolSize.0 * window.outW * filters
        let winograd = 16 * window.channels * filters
            + Parallel.maxChunks * Int(fb_winograd_work_count(Int32(window.channels), Int32(pool.poolingWindow.outW)))
        return max(sums, bands, winogradPays(for: pool) ? winograd : 0)
    }

    /// Whether the forward that pools in the convolution runs Winograd's F(2x2, 3x3)
    /// (`fb_conv_winograd_pooled`): 16 multiply-adds per channel and filter for a 2x2 pooling
    /// window's four outputs instead of 36. In a microbenchmark it ran 1.5 times as fast as
    /// the direct kernels for the 80x80 CNN's second layer, 1.1-1.3 times for its third. For
    /// 3x3 kernels of stride 1 under 2x2 pools of tiles, input channels a multiple of 16 and
    /// filters of 32. Its outputs differ from the direct convolution's by rounding (about 1e-6
    /// relative).
    func winogradPays(for pool: MaxPooling2D) -> Bool {
        direct && pool.windowsTile && pool.poolSize == (2, 2) && window.kH == 3 && window.kW == 3 && window.sH == 1 && window.sW == 1
            && window.channels % 16 == 0 && filters % 32 == 0
    }

    /// Ints a chunk of `fb_conv_pooled_backward` sorts a band's values in (after the sums).
    private func pooledSortCount(for pool: MaxPooling2D) -> Int {
        fb_conv_pooled_work_count(Int32(filters), Int32(pool.poolingWindow.outW))
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        if let pooling { return pooledBackward(dy, pool: pooling, batch: batch, needsInputGradient: needsInputGradient) }
        let rows = batch * window.outH * window.outW
        if direct {
            Kernels.activationBackwardAndBiasGradient(output: output.pointer, gradient: dy, rows: rows, width: filters,
                                                      activation: backwardActivation, biasGradient: bias.gradient.pointer, scratch: scratch.pointer)
            directWeightGradient(dy, batch: batch)
        } else if patch <= Conv2D.smallPatch {
            Kernels.smallGemmBackward(columns.buffer.pointer, output: output.pointer, gradient: dy, rows: rows, k: patch, n: filters,
                                      activation: activation, weightGradient: kernel.gradient.pointer,
                                      biasGradient: bias.gradient.pointer, scratch: scratch.pointer)
        } else {
            Kernels.activationBackwardAndBiasGradient(output: output.pointer, gradient: dy, rows: rows, width: filters,
                                                      activation: backwardActivation, biasGradient: bias.gradient.pointer, scratch: scratch.pointer)
            // dKernel = columnsᵀ·dy
            BLAS.gemm(transA: true, m: patch, n: filters, k: rows, a: columns.buffer.pointer, b: dy, c: kernel.gradient.pointer)
        }
        guard needsInputGradient else { return nil }
        if direct && directInputGradientShape {
            directInputGradient(dy, batch: batch)
            return inputGradient.pointer
        }
        // dColumns = dy·kernelᵀ (into the column buffer, no longer needed), then scatter-add.
        let columns = self.columns.buffer
        BLAS.gemm(transB: true, m: rows, n: patch, k: filters, a: dy, b: kernel.value.pointer, c: columns.pointer)
        Im2Col.scatter(columns.pointer, into: inputGradient.pointer, batch: batch, window: window)
        return inputGradient.pointer
    }

    /// The backward from the pooled gradient `dy` (see `pooling`), in C over chunks of samples.
    private func pooledBackward(_ dy: UnsafeMutablePointer<Float>, pool: MaxPooling2D, batch: Int,
                                needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        if !needsInputGradient && rebuildsPooledRows(for: pool) {
            pooledRowsBackward(dy, pool: pool, batch: batch)
            return nil
        }
        let w = window!, p = pool.poolingWindow, x = input!, size = pooledGradientCount
        let transposedKernel = pooledWork!.pointer, totals = transposedKernel + patch * filters
        let sorting = UnsafeMutableRawPointer(totals + size).assumingMemoryBound(to: Int32.self), sortCount = pooledSortCount(for: pool)
        if needsInputGradient { Kernels.transpose(kernel.value.pointer, rows: patch, columns: filters, into: transposedKernel) }
        let dx = needsInputGradient ? inputGradient.pointer : nil
        let pooled = pool.pooledOutput, positions = pool.maximumPositions, relu: Int32 = activation == .relu ? 1 : 0
        Kernels.sumOverChunksIndexed(batch, size: size, partials: scratch.pointer, into: totals) { chunk, samples, slice in
            fb_conv_pooled_backward(x, transposedKernel, dy, pooled, positions, slice, slice + size - filters, dx,
                                    samples.lowerBound, samples.count, Int32(w.inH), Int32(w.inW), Int32(w.channels),
                                    Int32(filters), Int32(w.kH), Int32(w.kW), Int32(w.sH), Int32(w.sW),
                                    Int32(w.padTop), Int32(w.padLeft), Int32(p.outH), Int32(p.outW), Int32(p.kH), Int32(p.kW),
                                    Int32(p.sH), Int32(p.sW), Int32(p.padTop), Int32(p.padLeft), relu, sorting + chunk * sortCount)
        }
        Kernels.transpose(totals, rows: filters, columns: patch, into: kernel.gradient.pointer)
        bias.gradient.pointer.update(from: totals + size - filters, count: filters)
        return dx
    }

    /// The kernel gradient of a direct first layer from the pooled gradient `dy`, whose rows
    /// at this layer's resolution are rebuilt one at a time (see `pooledBackwardPays`).
    private func pooledRowsBackward(_ dy: UnsafeMutablePointer<Float>, pool: MaxPooling2D, batch: Int) {
        let w = window!, p = pool.poolingWindow, pooled = pool.pooledOutput, positions = pool.maximumPositions
        // ReLU's mask (pooled output > 0) and the bias gradient, on the pooled values.
        Kernels.activationBackwardAndBiasGradient(output: pooled, gradient: dy, rows: batch * p.outH * p.outW, width: filters,
                                                  activation: activation, biasGradient: bias.gradient.pointer, scratch: scratch.pointer)
        let (x, height, width) = directSource(batch: batch, fill: false)
        let rows = pooledWork!.pointer, rowSize = w.outW * filters
        Kernels.sumOverChunksIndexed(batch, size: patch * filters, partials: scratch.pointer, into: kernel.gradient.pointer) { chunk, samples, slice in
            let row = rows + chunk * rowSize
            _ = fb_conv_direct_weight_gradient_pooled(x, dy, pooled, positions, row, slice, samples.lowerBound, samples.count,
                                                      Int32(height), Int32(width), Int32(w.channels), Int32(w.outH), Int32(w.outW),
                                                      Int32(w.kH), Int32(w.kW), Int32(w.sH), Int32(w.sW), Int32(p.outH), Int32(p.outW),
                                                      Int32(p.kH), Int32(p.kW), 0, Int32(filters))
        }
    }

    /// The image the direct kernels read, and its height and width: the input itself, or (for
    /// `same` padding) the padded copy, whose interior the forward pass fills.
    private func directSource(batch: Int, fill: Bool = true) -> (UnsafePointer<Float>, Int, Int) {
        let w = window!, x = input!
        guard let padded else { return (UnsafePointer(x), w.inH, w.inW) }
        if fill {
            Kernels.copyIntoBorder(x, into: padded.pointer, batch: batch, height: w.inH, width: w.inW, channels: w.channels,
                                   paddedHeight: paddedH, paddedWidth: paddedW, top: w.padTop, left: w.padLeft)
        }
        return (UnsafePointer(padded.pointer), paddedH, paddedW)
    }

    /// dx[ih, iw, c] = Σ dy[ih − kh + padTop, iw − kw + padLeft, f] · W[kh, kw, c, f]: a valid
    /// convolution of dy, bordered with kH − 1 − padTop rows on top (kW − 1 − padLeft columns
    /// on the left) so that it yields inH × inW pixels, with W'[a, b, f, c] = W[kH−1−a, kW−1−b, c, f].
    private func directInputGradient(_ dy: UnsafeMutablePointer<Float>, batch: Int) {
        guard let paddedGradient, let flippedKernel, let zeroBias else {
            preconditionFailure("\(name): built without the direct input gradient's buffers")
        }
        let w = window!, (kH, kW, c, f) = (w.kH, w.kW, w.channels, filters)
        let height = w.inH + kH - 1, width = w.inW + kW - 1
        let flipped = flippedKernel.pointer
        Kernels.flipAndSwapChannels(kernel.value.pointer, into: flipped, kH: kH, kW: kW, rows: c, columns: f)
        Kernels.copyIntoBorder(dy, into: paddedGradient.pointer, batch: batch, height: w.outH, width: w.outW, channels: f,
                               paddedHeight: height, paddedWidth: width, top: gradientTop, left: gradientLeft)
        let source = paddedGradient.pointer, dx = inputGradient.pointer
        if winogradInputGradient, let u = winogradKernel?.pointer, let work = winogradWork?.pointer {
            let tile = winogradInputGradientTile, workCount = winogradWorkCount
            fb_winograd2_kernel(flipped, u, Int32(f), Int32(c), tile)
            Parallel.forEachChunkIndexed(batch) { chunk, samples in
                _ = fb_conv_winograd2(source, u, zeroBias.pointer, dx, samples.lowerBound, samples.count, Int32(height), Int32(width),
                                      Int32(f), Int32(w.inH), Int32(w.inW), Int32(c), 0, work + chunk * workCount, tile)
            }
            return
        }
        Parallel.forEachChunk(batch) { samples in
            _ = fb_conv_direct_forward(source, flipped, zeroBias.pointer, dx, samples.lowerBound, samples.count,
                                       Int32(height), Int32(width), Int32(f), Int32(w.inH), Int32(w.inW), Int32(c),
                                       Int32(kH), Int32(kW), 1, 1, 0)
        }
    }

    /// dKernel = Σ patch ⊗ dy straight from the input image (no columns), summed per chunk of
    /// samples in `scratch`.
    private func directWeightGradient(_ dy: UnsafePointer<Float>, batch: Int) {
        let w = window!
        let (x, height, width) = directSource(batch: batch, fill: false)
        if winogradWeightGradient, let work = winogradWork?.pointer {
            let tile = winogradTile, workCount = winogradWorkCount
            Kernels.sumOverChunksIndexed(batch, size: patch * filters, partials: scratch.pointer, into: kernel.gradient.pointer) { chunk, samples, slice in
                _ = fb_conv_winograd2_weight_gradient(x, dy, slice, samples.lowerBound, samples.count, Int32(height), Int32(width),
                                                      Int32(w.channels), Int32(w.outH), Int32(w.outW), Int32(filters),
                                                      work + chunk * workCount, tile)
            }
            return
        }
        Kernels.sumOverChunks(batch, size: patch * filters, partials: scratch.pointer, into: kernel.gradient.pointer) { samples, slice in
            _ = fb_conv_direct_weight_gradient(x, dy, slice, samples.lowerBound, samples.count, Int32(height), Int32(width),
                                               Int32(w.channels), Int32(w.outH), Int32(w.outW), Int32(filters),
                                               Int32(w.kH), Int32(w.kW), Int32(w.sH), Int32(w.sW))
        }
    }

    public var forwardFlopsPerSample: Int { 2 * window.outH * window.outW * patch * filters }
    public var summaryDetail: String {
        "\(filters) filters \(kernelSize.0)x\(kernelSize.1)" + (strides == (1, 1) ? "" : " /\(strides.0)x\(strides.1)")
            + " \(padding.rawValue)" + (activation == .linear ? "" : " \(activation.rawValue)")
    }
}

/// Unfolding image patches into GEMM rows and folding their gradients back.
enum Im2Col {
    static func gather(_ x: UnsafePointer<Float>, into col: UnsafeMutablePointer<Float>, batch: Int, window w: Window2D) {
        let c = w.channels, patch = w.kH * w.kW * c
        let imageSize = w.inH * w.inW * c
        Parallel.forEachChunk(batch) { samples in
            for n in samples {
                let image = x + n * imageSize
                var row = col + n * w.outH * w.outW * patch
                for oh in 0..<w.outH {
                    for ow in 0..<w.outW {
                        var dst = row
                        for kh in 0..<w.kH {
                            let ih = oh * w.sH + kh - w.padTop
                            let rowInside = ih >= 0 && ih < w.inH
                            for kw in 0..<w.kW {
                                let iw = ow * w.sW + kw - w.padLeft
                                if rowInside && iw >= 0 && iw < w.inW {
                                    let src = image + (ih * w.inW + iw) * c
                                    if c == 1 { dst[0] = src[0] } else { dst.update(from: src, count: c) }
                                } else {
                                    dst.update(repeating: 0, count: c)
                                }
                                dst += c
                            }
                        }
                        row += patch
                    }
                }
            }
        }
    }

    static func scatter(_ col: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, batch: Int, window w: Window2D) {
        let c = w.channels, patch = w.kH * w.kW * c
        let imageSize = w.inH * w.inW * c
        Parallel.forEachChunk(batch) { samples in
            for n in samples {
                let image = dx + n * imageSize
                image.update(repeating: 0, count: imageSize)
                var row = col + n * w.outH * w.outW * patch
                for oh in 0..<w.outH {
                    for ow in 0..<w.outW {
                        var src = row
                        for kh in 0..<w.kH {
                            let ih = oh * w.sH + kh - w.padTop
                            let rowInside = ih >= 0 && ih < w.inH
                            for kw in 0..<w.kW {
                                let iw = ow * w.sW + kw - w.padLeft
                                if rowInside && iw >= 0 && iw < w.inW {
                                    let dst = image + (ih * w.inW + iw) * c
                                    for j in 0..<c { dst[j] += src[j] }
                                }
                                src += c
                            }
                        }
                        row += patch
                    }
                }
            }
        }
    }
}
