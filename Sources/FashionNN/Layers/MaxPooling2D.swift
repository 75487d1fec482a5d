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

    public init(poolSize: (Int, Int), strides: (Int, Int)? = nil, padding: Padding = .valid, name: String = "max_pooling2d") {
        self.poolSize = poolSize
        self.strides = strides ?? poolSize
        self.padding = padding
        self.name = name
    }

    deinit { argmax?.deallocate() }

    static let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)

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
        let w = window!, c = w.channels
        let inSize = w.inH * w.inW * c, outSize = w.outH * w.outW * c
        let y = output.pointer, arg = argmax!
        Parallel.forEachChunk(batch) { samples in
            for n in samples {
                let image = x + n * inSize
                for oh in 0..<w.outH {
                    let h0 = oh * w.sH - w.padTop
                    let hLo = max(h0, 0), hHi = min(h0 + w.kH, w.inH)
                    for ow in 0..<w.outW {
                        let w0 = ow * w.sW - w.padLeft
                        let wLo = max(w0, 0), wHi = min(w0 + w.kW, w.inW)
                        let o = n * outSize + (oh * w.outW + ow) * c
                        let first = (hLo * w.inW + wLo) * c
                        // Eight channels at a time (contiguous in NHWC) with the maximum in
                        // registers, then the rest one by one; selects, not branches, since the
                        // comparisons are unpredictable. Strict > keeps the first maximum in
                        // window order, as TensorFlow.
                        var ch = 0
                        while ch + 8 <= c {
                            var best = UnsafeRawPointer(image + first + ch).loadUnaligned(as: SIMD8<Float>.self)
                            var index = SIMD8<Int32>(repeating: Int32(first + ch)) &+ MaxPooling2D.lanes
                            for ih in hLo..<hHi {
                                for iw in wLo..<wHi {
                                    let i = (ih * w.inW + iw) * c + ch
                                    let v = UnsafeRawPointer(image + i).loadUnaligned(as: SIMD8<Float>.self)
                                    let better = v .> best
                                    best.replace(with: v, where: better)
                                    index.replace(with: SIMD8<Int32>(repeating: Int32(i)) &+ MaxPooling2D.lanes, where: better)
                                }
                            }
                            UnsafeMutableRawPointer(y + o + ch).storeBytes(of: best, as: SIMD8<Float>.self)
                            UnsafeMutableRawPointer(arg + o + ch).storeBytes(of: index, as: SIMD8<Int32>.self)
                            ch += 8
                        }
                        while ch < c {
                            var best = image[first + ch]
                            var bestIndex = first + ch
                            for ih in hLo..<hHi {
                                for iw in wLo..<wHi {
                                    let i = (ih * w.inW + iw) * c + ch
                                    let v = image[i]
                                    let better = v > best
                                    best = better ? v : best
                                    bestIndex = better ? i : bestIndex
                                }
                            }
                            y[o + ch] = best
                            arg[o + ch] = Int32(bestIndex)
                            ch += 1
                        }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        guard needsInputGradient else { return nil }
        if isIdentity { return dy }
        let inSize = inputShape.reduce(1, *), outSize = outputShape.reduce(1, *)
        let dx = inputGradient.pointer, arg = argmax!
        let w = window!, c = w.channels
        // Windows that tile the input without overlap or padding (pool 2 stride 2, valid):
        // every input cell belongs to at most one window, so each is written once, without
        // first zeroing the whole gradient.
        let tiles = padding == .valid && strides == poolSize
        Parallel.forEachChunk(batch) { samples in
            for n in samples {
                let image = dx + n * inSize
                if tiles {
                    let coveredH = w.outH * w.kH, coveredW = w.outW * w.kW
                    if coveredH < w.inH || coveredW < w.inW { image.update(repeating: 0, count: inSize) }
                    for oh in 0..<w.outH {
                        for ow in 0..<w.outW {
                            let o = n * outSize + (oh * w.outW + ow) * c
                            for ih in oh * w.kH..<(oh + 1) * w.kH {
                                for iw in ow * w.kW..<(ow + 1) * w.kW {
                                    let p = (ih * w.inW + iw) * c
                                    for ch in 0..<c {
                                        let g = dy[o + ch], hit = arg[o + ch] == Int32(p + ch)
                                        image[p + ch] = hit ? g : 0
                                    }
                                }
                            }
                        }
                    }
                } else {
                    image.update(repeating: 0, count: inSize)
                    for o in n * outSize..<(n + 1) * outSize { image[Int(arg[o])] += dy[o] }
                }
            }
        }
        return dx
    }

    public var summaryDetail: String {
        "pool \(poolSize.0)x\(poolSize.1)" + (strides == poolSize ? "" : " /\(strides.0)x\(strides.1)") + " \(padding.rawValue)"
    }
}
