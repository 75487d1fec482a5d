import CKernels
import FashionTensor
import FashionConfig

/// Keras Conv2DTranspose (NHWC, kernel laid out (kh, kw, OUT, IN) as Keras stores it).
///
/// A transposed convolution is the input-gradient of a Conv2D with the same kernel, strides
/// and padding whose input has this layer's output shape (TensorFlow's conv2d_backprop_input),
/// so it reuses that Conv2D's window (`window`: from the output image to the input image) and
/// runs Conv2D's backward in reverse roles:
/// - forward: columns = x·Wᵀ ([batch·inH·inW, IN] × [IN, kh·kw·OUT], one GEMM), then
///   `Im2Col.scatter` adds each column's patch into the output; then bias and activation;
/// - backward: columns = `Im2Col.gather` of dy, dx = columns·W (one GEMM) and
///   dW = columnsᵀ·x (one GEMM).
///
/// Output size as Keras: valid → in·s + max(k − s, 0) (= (in − 1)·s + k when k ≥ s; a stride
/// larger than the kernel leaves the last s − k pixels to the bias alone), same → in·s. The
/// `same` padding before is that Conv2D's: max(k − s, 0) / 2, the odd pixel after.
public final class Conv2DTranspose: Layer {
    public static let typeName = "Conv2DTranspose"
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
    /// The forward Conv2D's window: its input is this layer's output, its output this input.
    private var window: Window2D!
    /// [batch·inH·inW, kh·kw·filters]: the forward's patches, then the backward's gathered dy.
    /// The GEMM paths' column buffer; not allocated for a layer whose passes are all direct
    /// unless a GEMM path comes to need it (its activation changed after building).
    private var columns: OnDemandBuffer!
    private var output: FloatBuffer!
    private var inputGradient: FloatBuffer!
    private var scratch: FloatBuffer!
    private var input: UnsafeMutablePointer<Float>?
    private var inChannels = 0, patch = 0

    /// Stride 1, `same` padding and an odd kernel make this layer a Conv2D with `same` padding
    /// and the kernel flipped in space with its channel roles swapped, so the direct kernels of
    /// `CKernels` run it (32, 64 or 128 filters, or 1 to 4) without the column buffer's
    /// scatter: the forward reads a zero-bordered copy of the input, the kernel gradient comes
    /// from that copy and dy, and the input gradient (for as many input channels) is a direct
    /// convolution of zero-bordered dy with the kernel as stored.
    private var directShape = false, directInputGradient = false
    private var direct: Bool { directShape && (activation == .relu || activation == .linear) }
    /// Whether this layer runs the direct kernels (after `build`, for its current activation).
    public var usesDirectKernel: Bool { direct }
    /// A 3x3 kernel with input channels a multiple of 16 and filters a multiple of 64 (the
    /// autoencoder's 64 → 64) runs the forward by Winograd's F(2x2, 3x3) (`fb_conv_winograd3`),
    /// 16 multiply-adds per channel and filter for each 2x2 block of outputs instead of 36; so
    /// does the direct input gradient when the roles fit (64 → 64 and 64 → 32). Outputs differ
    /// from the direct sums by rounding.
    private var winogradForward = false, winogradInputGradient = false
    /// The transformed kernel (of the flipped one for the forward, of the stored one for the
    /// input gradient: each pass transforms it again) and each chunk's tiles.
    private var winogradKernel: FloatBuffer?
    private var winogradWork: FloatBuffer?
    private var winogradWorkCount = 0
    /// Whether the forward and the input gradient run Winograd's F(2x2, 3x3) (after `build`).
    public var usesWinograd: (forward: Bool, inputGradient: Bool) { (direct && winogradForward, direct && winogradInputGradient) }
    /// The flipped kernel [kh, kw, in, filters] and its gradient; the zero-bordered input and
    /// dy; zero biases for dx.
    private var flipped: FloatBuffer!
    private var flippedGradient: FloatBuffer!
    private var paddedInput: FloatBuffer!
    private var paddedGradient: FloatBuffer?
    private var zeroBias: FloatBuffer?
    private var borderTop = 0, borderLeft = 0

    public init(filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                activation: Activation = .linear, name: String = "conv2d_transpose") {
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

    /// Keras' deconv_output_length for one axis (no output_padding, no dilation).
    public static func outputLength(input: Int, kernel: Int, stride: Int, padding: Padding) -> Int {
        switch padding {
        case .valid: return input * stride + max(kernel - stride, 0)
        case .same: return input * stride
        }
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard inputShape.count == 3 else {
            throw LayerShapeError("expects an image input (height, width, channels), got \(shapeText(inputShape))")
        }
        let (kH, kW) = kernelSize, (sH, sW) = strides
        let outH = Conv2DTranspose.outputLength(input: inputShape[0], kernel: kH, stride: sH, padding: padding)
        let outW = Conv2DTranspose.outputLength(input: inputShape[1], kernel: kW, stride: sW, padding: padding)
        let (area, overflow) = outH.multipliedReportingOverflow(by: outW)
        guard !overflow, area <= 1 << 30 else {
            throw LayerShapeError("output \(outH)x\(outW) is too large")
        }
        let (batch, kernelArea, filterCount) = (Double(maxBatch), Double(kH) * Double(kW), Double(filters))
        try checkEstimate([batch, Double(area), filterCount], [batch, Double(inputShape[0]), Double(inputShape[1]), kernelArea, filterCount],
                          [kernelArea, filterCount, Double(inputShape[2])])
        let w = Window2D(inH: outH, inW: outW, channels: filters, kernel: kernelSize, strides: strides, padding: padding)
        // Keras' output lengths are exactly the ones whose forward Conv2D maps back to our input.
        precondition(w.outH == inputShape[0] && w.outW == inputShape[1], "transposed window does not map back to the input")
        self.inputShape = inputShape
        window = w
        inChannels = inputShape[2]
        outputShape = [outH, outW, filters]
        patch = kH * kW * filters
        let inPixels = maxBatch * inputShape[0] * inputShape[1]
        let outValues = maxBatch * outH * outW * filters
        directShape = sH == 1 && sW == 1 && padding == .same && kH % 2 == 1 && kW % 2 == 1
            && kH * kW * inChannels <= Kernels.directMaxPatch && fb_conv_direct_supported(Int32(filters), Int32(kW), Int32(inChannels)) != 0
        directInputGradient = directShape && patch <= Kernels.directMaxPatch
            && fb_conv_direct_supported(Int32(inChannels), Int32(kW), Int32(filters)) != 0
        borderTop = (kH - 1) / 2
        borderLeft = (kW - 1) / 2
        let paddedPixels = maxBatch * (inputShape[0] + kH - 1) * (inputShape[1] + kW - 1)
        let directValues = directShape
            ? patch * inChannels * (Parallel.maxChunks + 2) + paddedPixels * (inChannels + (directInputGradient ? filters : 0)) + inChannels
            : 0
        let threeByThree = kH == 3 && kW == 3
        winogradForward = directShape && threeByThree && fb_winograd2_supported(Int32(inChannels), Int32(filters)) != 0
        winogradInputGradient = directInputGradient && threeByThree && fb_winograd2_supported(Int32(filters), Int32(inChannels)) != 0
        let width = Int32(inputShape[1])
        winogradWorkCount = max(winogradForward ? Int(fb_winograd3_work_count(Int32(inChannels), Int32(filters), width)) : 0,
                                winogradInputGradient ? Int(fb_winograd3_work_count(Int32(filters), Int32(inChannels), width)) : 0)
        let winogradValues = winogradWorkCount > 0 ? 16 * inChannels * filters + Parallel.maxChunks * winogradWorkCount : 0
        let fullyDirect = directInputGradient && (activation == .relu || activation == .linear)
        try reserve(patch * inChannels + filters,
                    inPixels * ((fullyDirect ? 0 : patch) + inChannels) + outValues + Parallel.maxChunks * filters + directValues
                        + winogradValues)
        kernel = Parameter(name: "kernel", shape: [kH, kW, filters, inChannels])
        bias = Parameter(name: "bias", shape: [filters])
        parameters = [kernel, bias]
        columns = OnDemandBuffer(count: inPixels * patch, allocateNow: !fullyDirect)
        output = FloatBuffer(count: outValues)
        inputGradient = FloatBuffer(count: inPixels * inChannels)
        scratch = FloatBuffer(count: Parallel.maxChunks * max(filters, directShape ? patch * inChannels : 0))
        if directShape {
            flipped = FloatBuffer(count: patch * inChannels)
            flippedGradient = FloatBuffer(count: patch * inChannels)
            paddedInput = FloatBuffer(count: paddedPixels * inChannels)  // zeroed: the border stays zero
            paddedGradient = directInputGradient ? FloatBuffer(count: paddedPixels * filters) : nil
            zeroBias = directInputGradient ? FloatBuffer(count: inChannels) : nil
        }
        winogradKernel = winogradWorkCount > 0 ? FloatBuffer(count: 16 * inChannels * filters) : nil
        winogradWork = winogradWorkCount > 0 ? FloatBuffer(count: Parallel.maxChunks * winogradWorkCount) : nil
    }

    /// Winograd's F(2x2, 3x3) over the zero-bordered `source` (`from` channels) into `output`
    /// (`to` channels, same height and width): the forward, or the input gradient with the roles
    /// swapped. `kernel` is [3, 3, from, to]; each pass transforms it again.
    private func winograd3(_ source: UnsafeMutablePointer<Float>, kernel: UnsafePointer<Float>, from cin: Int, to cout: Int,
                           bias: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, relu: Int32, batch: Int) {
        guard let u = winogradKernel?.pointer, let work = winogradWork?.pointer else { return }
        let (h, w) = (inputShape[0], inputShape[1]), (kH, kW) = (window.kH, window.kW), workCount = winogradWorkCount
        fb_winograd_kernel(kernel, u, Int32(cin), Int32(cout))
        Parallel.forEachChunkIndexed(batch) { chunk, samples in
            _ = fb_conv_winograd3(source, u, bias, output, samples.lowerBound, samples.count, Int32(h + kH - 1), Int32(w + kW - 1),
                                  Int32(cin), Int32(h), Int32(w), Int32(cout), relu, work + chunk * workCount)
        }
    }

    /// Copies `batch` images of `channels` into the interior of `padded` (its border stays zero).
    private func fillInterior(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>, batch: Int, channels: Int) {
        let h = inputShape[0], w = inputShape[1]
        Kernels.copyIntoBorder(x, into: padded, batch: batch, height: h, width: w, channels: channels,
                               paddedHeight: h + window.kH - 1, paddedWidth: w + window.kW - 1, top: borderTop, left: borderLeft)
    }

    private func directForward(_ x: UnsafeMutablePointer<Float>, batch: Int) {
        let (h, w) = (inputShape[0], inputShape[1]), (kH, kW) = (window.kH, window.kW)
        fillInterior(x, into: paddedInput.pointer, batch: batch, channels: inChannels)
        // W'[a, b, i, o] = W[kh − 1 − a, kw − 1 − b, o, i]: the Conv2D kernel this layer equals.
        Kernels.flipAndSwapChannels(kernel.value.pointer, into: flipped.pointer, kH: kH, kW: kW, rows: filters, columns: inChannels)
        let source = paddedInput.pointer, relu: Int32 = activation == .relu ? 1 : 0
        if winogradForward {
            winograd3(source, kernel: flipped.pointer, from: inChannels, to: filters, bias: bias.value.pointer,
                      into: output.pointer, relu: relu, batch: batch)
            return
        }
        Parallel.forEachChunk(batch) { samples in
            _ = fb_conv_direct_forward(source, flipped.pointer, bias.value.pointer, output.pointer, samples.lowerBound, samples.count,
                                       Int32(h + kH - 1), Int32(w + kW - 1), Int32(inChannels), Int32(h), Int32(w),
                                       Int32(filters), Int32(kH), Int32(kW), 1, 1, relu)
        }
    }

    /// dW' from the bordered input and dy (summed per chunk of samples), unflipped into dW;
    /// then dx, directly or by the GEMM path.
    private func directBackward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        let (h, w) = (inputShape[0], inputShape[1]), (kH, kW) = (window.kH, window.kW)
        let (f, c) = (filters, inChannels)
        let source = paddedInput.pointer, flippedGradient = flippedGradient.pointer
        Kernels.sumOverChunks(batch, size: patch * c, partials: scratch.pointer, into: flippedGradient) { samples, slice in
            _ = fb_conv_direct_weight_gradient(source, dy, slice, samples.lowerBound, samples.count, Int32(h + kH - 1), Int32(w + kW - 1),
                                               Int32(c), Int32(h), Int32(w), Int32(f), Int32(kH), Int32(kW), 1, 1)
        }
        Kernels.flipAndSwapChannels(flippedGradient, into: kernel.gradient.pointer, kH: kH, kW: kW, rows: c, columns: f)
        guard needsInputGradient else { return nil }
        if let paddedGradient, let zeroBias {
            fillInterior(dy, into: paddedGradient.pointer, batch: batch, channels: f)
            let source = paddedGradient.pointer
            if winogradInputGradient {
                // The stored kernel [kh, kw, filters, in] is this convolution's, from f channels to c.
                winograd3(source, kernel: kernel.value.pointer, from: f, to: c, bias: zeroBias.pointer,
                          into: inputGradient.pointer, relu: 0, batch: batch)
                return inputGradient.pointer
            }
            Parallel.forEachChunk(batch) { samples in
                _ = fb_conv_direct_forward(source, kernel.value.pointer, zeroBias.pointer, inputGradient.pointer,
                                           samples.lowerBound, samples.count, Int32(h + kH - 1), Int32(w + kW - 1), Int32(f),
                                           Int32(h), Int32(w), Int32(c), Int32(kH), Int32(kW), 1, 1, 0)
            }
        } else {
            let columns = self.columns.buffer
            Im2Col.gather(dy, into: columns.pointer, batch: batch, window: window)
            BLAS.gemm(m: batch * h * w, n: c, k: patch, a: columns.pointer, b: kernel.value.pointer, c: inputGradient.pointer)
        }
        return inputGradient.pointer
    }

    /// Keras' fans for a kernel stored (kh, kw, OUT, IN): fan_in = kh·kw·OUT (shape[-2]),
    /// fan_out = kh·kw·IN (shape[-1]).
    public func initialize(using g: inout SeededGenerator) {
        let area = window.kH * window.kW
        glorotUniform(kernel, fanIn: area * filters, fanOut: area * inChannels, using: &g)
        bias.value.zero()
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        input = x
        if direct {
            directForward(x, batch: batch)
            return output.pointer
        }
        let rows = batch * window.outH * window.outW
        // columns[pixel, (kh, kw, o)] = Σ_i x[pixel, i]·W[(kh, kw, o), i]
        let columns = self.columns.buffer
        BLAS.gemm(transB: true, m: rows, n: patch, k: inChannels, a: x, b: kernel.value.pointer, c: columns.pointer)
        Im2Col.scatter(columns.pointer, into: output.pointer, batch: batch, window: window)
        Kernels.addBiasAndActivate(output.pointer, bias: bias.value.pointer, rows: batch * window.inH * window.inW,
                                   width: filters, activation: activation)
        return output.pointer
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        let rows = batch * window.outH * window.outW
        Kernels.activationBackwardAndBiasGradient(output: output.pointer, gradient: dy, rows: batch * window.inH * window.inW,
                                                  width: filters, activation: activation,
                                                  biasGradient: bias.gradient.pointer, scratch: scratch.pointer)
        if direct { return directBackward(dy, batch: batch, needsInputGradient: needsInputGradient) }
        let columns = self.columns.buffer
        Im2Col.gather(dy, into: columns.pointer, batch: batch, window: window)
        // dW[(kh, kw, o), i] = Σ_pixels columns[pixel, (kh, kw, o)]·x[pixel, i]
        BLAS.gemm(transA: true, m: patch, n: inChannels, k: rows, a: columns.pointer, b: input!, c: kernel.gradient.pointer)
        guard needsInputGradient else { return nil }
        // dx[pixel, i] = Σ columns[pixel, (kh, kw, o)]·W[(kh, kw, o), i]
        BLAS.gemm(m: rows, n: inChannels, k: patch, a: columns.pointer, b: kernel.value.pointer, c: inputGradient.pointer)
        return inputGradient.pointer
    }

    public var forwardFlopsPerSample: Int { 2 * window.outH * window.outW * inChannels * patch }
    public var summaryDetail: String {
        "\(filters) filters \(kernelSize.0)x\(kernelSize.1)" + (strides == (1, 1) ? "" : " /\(strides.0)x\(strides.1)")
            + " \(padding.rawValue)" + (activation == .linear ? "" : " \(activation.rawValue)")
    }
}

extension Conv2DTranspose: ActivatedLayer {}
