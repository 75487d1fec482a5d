import CKernels
import FashionTensor
import FashionConfig

/// Keras MaxPooling2D. Strides default to the pool size; `same` padding ignores the padded
/// cells. Backward routes each gradient to the first maximum of its window (as TensorFlow).
/// A 1x1 pool with stride 1 (model_4) is the identity and costs nothing.
public final class MaxPooling2D: Layer {
    public static let typeName = "MaxPooling2D"
    public var name: String
    public let poolSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public let parameters: [Parameter] = []

    private var window: Window2D!
    private var output: FloatBuffer!
    private var argmax: UnsafeMutablePointer<Int32>?
    private var inputGradient: FloatBuffer!
    private var isIdentity = false
    /// Set by the model when this layer pools the output of a ReLU layer (Conv2D): the
    /// gradient sent back is then already multiplied by ReLU's derivative. Every input cell
    /// that receives a gradient is the maximum of its window, which is this layer's output,
    /// so the mask is (output > 0), read from the small pooled output instead of a separate
    /// pass over the layer's large output. The values are the same as the two passes give.
    public var masksReLU = false
    /// Set by the model when this layer pools a Conv2D's output: the convolution's backward
    /// reads this layer's gradient, output and the window positions of its maxima
    /// (`Conv2D.pooling`), so this layer's backward passes dy through and the dense gradient
    /// at the convolution's resolution is never written.
    public var leavesBackwardToConvolution = false
    /// Set with `leavesBackwardToConvolution` when the convolution (direct, under tiles) also
    /// computes this layer's output and window positions in its forward: this layer's forward
    /// then only returns them.
    public internal(set) var poolsInConvolution = false
    /// Windows that tile the input without overlap or padding (pool 2 stride 2, valid): every
    /// input cell belongs to at most one window.
    public var windowsTile: Bool { padding == .valid && strides == poolSize }
    /// A 1x1 pool passes dy through untouched: it cannot apply a mask, nor hand anything over.
    public var isIdentityPool: Bool { isIdentity }
    /// For the convolution that takes over the backward: this layer's geometry, its output
    /// and, per value, its maximum's row << 16 | column within the window.
    var poolingWindow: Window2D { window }
    var pooledOutput: UnsafeMutablePointer<Float> { output.pointer }
    var maximumPositions: UnsafeMutablePointer<Int32> { argmax! }

    public init(poolSize: (Int, Int), strides: (Int, Int)? = nil, padding: Padding = .valid, name: String = "max_pooling2d") {
        self.poolSize = poolSize
        self.strides = strides ?? poolSize
        self.padding = padding
        self.name = name
    }

    deinit { argmax?.deallocate() }

    public convenience init(options o: Options) throws {
        let pool = try o.intPair("pool_size", default: (2, 2), max: 1 << 12)
        let strides = try o.intPair("strides", default: pool, max: 1 << 12)
        self.init(poolSize: pool, strides: strides,
                  padding: Padding(rawValue: try o.choice("padding", Padding.names, default: "valid"))!)
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard inputShape.count == 3 else {
            throw LayerShapeError("expects an image input (height, width, channels), got \(shapeText(inputShape))")
        }
        let w = Window2D(inH: inputShape[0], inW: inputShape[1], channels: inputShape[2],
                         kernel: poolSize, strides: strides, padding: padding)
        guard w.outH > 0, w.outW > 0 else {
            throw LayerShapeError("pool \(poolSize.0)x\(poolSize.1) with padding \(padding.rawValue) does not fit input \(shapeText(inputShape))")
        }
        self.inputShape = inputShape
        window = w
        outputShape = [w.outH, w.outW, w.channels]
        isIdentity = poolSize == (1, 1) && strides == (1, 1)
        if !isIdentity {
            let n = maxBatch * outputShape.reduce(1, *)
            try reserve(0, 2 * n + maxBatch * inputShape.reduce(1, *))
            output = FloatBuffer(count: n)
            argmax?.deallocate()
            argmax = .allocate(capacity: n)
            inputGradient = FloatBuffer(count: maxBatch * inputShape.reduce(1, *))
        }
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        if isIdentity { return x }
        if poolsInConvolution { return output.pointer }
        let w = window!, y = output.pointer, arg = argmax!
        // In C, for the widest vectors this CPU has (Swift's SIMD types compile to SSE here).
        Parallel.forEachChunk(batch) { samples in
            fb_maxpool_forward(x, y, arg, samples.lowerBound, samples.count, Int32(w.inH), Int32(w.inW), Int32(w.channels),
                               Int32(w.outH), Int32(w.outW), Int32(w.kH), Int32(w.kW), Int32(w.sH), Int32(w.sW),
                               Int32(w.padTop), Int32(w.padLeft), leavesBackwardToConvolution ? 1 : 0)
        }
        return y
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        guard needsInputGradient else { return nil }
        if isIdentity || leavesBackwardToConvolution { return dy }
        let inSize = inputShape.reduce(1, *), outSize = outputShape.reduce(1, *)
        let dx = inputGradient.pointer, arg = argmax!, y = output.pointer, masks = masksReLU
        let w = window!, c = w.channels
        // Windows that tile the input: each covered cell is written once (in C, vectorised);
        // only the rows and columns no window covers are zeroed. Other windows may share
        // cells: zero, then add.
        if windowsTile {
            Parallel.forEachChunk(batch) { samples in
                fb_maxpool_backward_tiles(dy, y, arg, dx, samples.lowerBound, samples.count, Int32(w.inH), Int32(w.inW), Int32(c),
                                          Int32(w.outH), Int32(w.outW), Int32(w.kH), Int32(w.kW), masks ? 1 : 0)
            }
            return dx
        }
        Parallel.forEachChunk(batch) { samples in
            for n in samples {
                let image = dx + n * inSize
                image.update(repeating: 0, count: inSize)
                for o in n * outSize..<(n + 1) * outSize where !masks || y[o] > 0 { image[Int(arg[o])] += dy[o] }
            }
        }
        return dx
    }

    public var summaryDetail: String {
        "pool \(poolSize.0)x\(poolSize.1)" + (strides == poolSize ? "" : " /\(strides.0)x\(strides.1)") + " \(padding.rawValue)"
    }
}
