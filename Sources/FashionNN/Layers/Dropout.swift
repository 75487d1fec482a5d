import FashionTensor
import FashionConfig

/// Inverted dropout: in training each value is kept with probability 1 − rate and scaled by
/// 1 / (1 − rate); at inference it is the identity. Masks come from the layer's seeded
/// stream, one sub-stream per (step, sample), so they do not depend on how samples are split
/// over threads.
public final class Dropout: Layer {
    public static let typeName = "Dropout"
    public var name: String
    public let rate: Float
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public let parameters: [Parameter] = []

    private var output: FloatBuffer!
    /// 16 random bits per value: kept when ≥ rate·65536 (the rate is resolved to 1/65536).
    private var bits: UnsafeMutablePointer<UInt16>?
    private var seed: UInt64 = 0
    private var step: UInt64 = 0
    private var threshold: UInt16 = 0

    public init(rate: Float, name: String = "dropout") {
        self.rate = rate
        self.name = name
    }

    deinit { bits?.deallocate() }

    public convenience init(options o: Options) throws {
        self.init(rate: try o.float("rate", min: 0, max: 1, maxExclusive: true))
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        self.inputShape = inputShape
        outputShape = inputShape
        let n = maxBatch * inputShape.reduce(1, *)
        try reserve(0, n + n / 2 + 4)
        output = FloatBuffer(count: n)
        bits?.deallocate()
        // Rounded up to whole 64-bit words per sample, which the generator fills.
        let perSample = (inputShape.reduce(1, *) + 3) / 4 * 4
        bits = .allocate(capacity: maxBatch * perSample)
        threshold = UInt16(min(65535, (Double(rate) * 65536).rounded()))
    }

    /// The dropout stream is seeded with the weights' stream: one seed fixes both.
    public func initialize(using g: inout SeededGenerator) {
        seed = g.next()
        step = 0
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        guard training, rate > 0 else { return x }
        let size = inputShape.reduce(1, *), words = (size + 3) / 4
        let scale = 1 / (1 - rate), y = output.pointer, bits = bits!, threshold = threshold
        let stepSeed = seed &+ step &* 0x9E37_79B9_7F4A_7C15
        step += 1
        Parallel.forEachChunk(batch) { samples in
            for n in samples {
                var g = SeededGenerator(seed: stepSeed ^ (UInt64(n) &* 0xD1B5_4A32_D192_ED03))
                let b = bits + n * words * 4
                let raw = UnsafeMutableRawPointer(b)
                for w in 0..<words { raw.storeBytes(of: g.next(), toByteOffset: w * 8, as: UInt64.self) }
                let xs = x + n * size, ys = y + n * size
                for i in 0..<size { let v = xs[i]; ys[i] = b[i] >= threshold ? v * scale : 0 }
            }
        }
        return y
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        guard needsInputGradient else { return nil }
        guard rate > 0 else { return dy }
        let size = inputShape.reduce(1, *), words = (size + 3) / 4
        let scale = 1 / (1 - rate), bits = bits!, threshold = threshold
        Parallel.forEachChunk(batch) { samples in
            for n in samples {
                let b = bits + n * words * 4, g = dy + n * size
                for i in 0..<size { let v = g[i]; g[i] = b[i] >= threshold ? v * scale : 0 }
            }
        }
        return dy
    }

    public var summaryDetail: String { "rate \(rate)" }
}
