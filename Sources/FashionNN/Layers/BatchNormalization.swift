import CKernels
import Foundation
import FashionTensor
import FashionConfig

/// Keras BatchNormalization over the last axis (the channels of NHWC, the features of a
/// vector): y = gamma·(x − mean)/sqrt(var + epsilon) + beta per channel.
///
/// Training uses the batch's statistics over every other axis (biased variance) and moves the
/// non-trainable moving statistics as Keras 3 does, with the same biased variance:
/// moving = moving·momentum + batch·(1 − momentum). Inference uses the moving statistics.
///
/// The statistics are of the whole batch this layer sees, so a data-parallel replica would
/// normalise by its shard's statistics (and the replicas would race on the shared moving
/// statistics): RunPlan keeps models with this layer on one replica.
public final class BatchNormalization: Layer {
    public static let typeName = "BatchNormalization"
    public var name: String
    public let momentum: Float
    public let epsilon: Float
    public let center: Bool
    public let scale: Bool
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public private(set) var parameters: [Parameter] = []

    /// nil when `scale` (gamma) or `center` (beta) is off: Keras then creates no weight.
    private var gamma: Parameter?
    private var beta: Parameter?
    private var movingMean: Parameter!
    private var movingVariance: Parameter!
    private var output: FloatBuffer!
    /// Per channel, from the last forward pass: the mean and 1/sqrt(var + epsilon) it used.
    private var usedMean: FloatBuffer!
    private var usedInverseStd: FloatBuffer!
    /// Per-chunk partial sums (Parallel.maxChunks × 2 × channels), then their totals (2 ×
    /// channels), in Double so a sum over a whole batch of images loses nothing to rounding.
    private var partials: UnsafeMutablePointer<Double>?
    private var totals: UnsafeMutablePointer<Double> { partials! + Parallel.maxChunks * 2 * channels }
    /// Per-channel coefficients of the element-wise passes (3 × channels).
    private var coefficients: FloatBuffer!
    private var input: UnsafeMutablePointer<Float>?
    private var lastTraining = false
    private var channels = 0, rowsPerSample = 1
    /// The negative slope of a LeakyReLU just before this layer whose output this layer computes
    /// as it reads the input (and whose backward it applies to dx), so that layer writes
    /// nothing (`LeakyReLU.passesThrough`); 1 for none. Set by `Sequential`.
    public var absorbedLeakySlope: Float = 1

    public init(momentum: Float = 0.99, epsilon: Float = 1e-3, center: Bool = true, scale: Bool = true,
                name: String = "batch_normalization") {
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.name = name
    }

    deinit { partials?.deallocate() }

    public convenience init(options o: Options) throws {
        self.init(momentum: try o.float("momentum", default: 0.99, min: 0, max: 1),
                  epsilon: try o.float("epsilon", default: 1e-3, min: 0, minExclusive: true),
                  center: try o.bool("center", default: true),
                  scale: try o.bool("scale", default: true))
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard let last = inputShape.last, last > 0 else { throw LayerShapeError("needs an input with at least one axis, got \(shapeText(inputShape))") }
        self.inputShape = inputShape
        outputShape = inputShape
        channels = last
        rowsPerSample = inputShape.dropLast().reduce(1, *)
        try reserve(4 * channels, maxBatch * rowsPerSample * channels + 5 * channels + (Parallel.maxChunks + 1) * 4 * channels)
        gamma = scale ? Parameter(name: "gamma", shape: [channels]) : nil
        beta = center ? Parameter(name: "beta", shape: [channels]) : nil
        movingMean = Parameter(name: "moving_mean", shape: [channels], trainable: false)
        movingVariance = Parameter(name: "moving_variance", shape: [channels], trainable: false)
        // Keras' order of weights: gamma, beta, moving_mean, moving_variance.
        parameters = [gamma, beta].compactMap { $0 } + [movingMean, movingVariance]
        output = FloatBuffer(count: maxBatch * rowsPerSample * channels)
        usedMean = FloatBuffer(count: channels)
        usedInverseStd = FloatBuffer(count: channels)
        coefficients = FloatBuffer(count: 3 * channels)
        partials?.deallocate()
        partials = .allocate(capacity: (Parallel.maxChunks + 1) * 2 * channels)
    }

    /// Keras' initializers: gamma ones, beta zeros, moving mean zeros, moving variance ones.
    public func initialize(using g: inout SeededGenerator) {
        gamma?.value.pointer.update(repeating: 1, count: channels)
        beta?.value.zero()
        movingMean.value.zero()
        movingVariance.value.pointer.update(repeating: 1, count: channels)
    }

    // The loops over rows run in C (`fb_bn_*`): the same operations in the same order,
    // vectorised over channels, which the Swift loops were not (their pointers might alias).

    /// Two sums per channel over `rows` rows of `channels` values: `body` adds its range of
    /// rows into (s, q); each chunk has its own slice, and the slices are added in chunk order
    /// (the same split for the same thread count, so the same result). Returns the totals:
    /// [Σs for each channel, then Σq for each channel].
    private func channelSums(rows: Int,
                             _ body: (Range<Int>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void)
        -> UnsafeMutablePointer<Double> {
        let c = channels, partials = partials!, totals = totals
        let minimum = Kernels.rowsPerChunk(c)
        let chunks = Parallel.chunks(rows, minimumChunk: minimum)
        Parallel.forEachChunkIndexed(rows, minimumChunk: minimum) { k, range in
            let s = partials + k * 2 * c
            s.update(repeating: 0, count: 2 * c)
            body(range, s, s + c)
        }
        totals.update(from: partials, count: 2 * c)
        for k in 1..<max(chunks, 1) {
            let s = partials + k * 2 * c
            for j in 0..<(2 * c) { totals[j] += s[j] }
        }
        return totals
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        input = x
        lastTraining = training
        let c = channels, rows = batch * rowsPerSample, slope = absorbedLeakySlope
        let mean = usedMean.pointer, inverseStd = usedInverseStd.pointer
        if training {
            // Σx and Σx² per channel in one pass; var = E[x²] − E[x]², the biased variance
            // tf.nn.moments computes (it centres first), safe from cancellation here because
            // the sums are in Double.
            let sum = channelSums(rows: rows) { range, s, q in
                fb_bn_sums(x + range.lowerBound * c, range.count, c, s, q, slope)  // s += x, q += x², in Double
            }
            let mm = movingMean.value.pointer, mv = movingVariance.value.pointer
            for j in 0..<c {
                let m = sum[j] / Double(rows)
                let v = max(sum[c + j] / Double(rows) - m * m, 0)
                mean[j] = Float(m)
                inverseStd[j] = Float(1 / (v + Double(epsilon)).squareRoot())
                // In float32, in Keras' order of operations.
                mm[j] = mm[j] * momentum + Float(m) * (1 - momentum)
                mv[j] = mv[j] * momentum + Float(v) * (1 - momentum)
            }
        } else {
            let mm = movingMean.value.pointer, mv = movingVariance.value.pointer
            for j in 0..<c {
                mean[j] = mm[j]
                inverseStd[j] = 1 / (mv[j] + epsilon).squareRoot()
            }
        }
        // y = x·k + (beta − mean·k) with k = gamma/sqrt(var + eps), as tf.nn.batch_normalization.
        let k = coefficients.pointer, b = k + c
        for j in 0..<c {
            k[j] = inverseStd[j] * (gamma?.value.pointer[j] ?? 1)
            b[j] = (beta?.value.pointer[j] ?? 0) - mean[j] * k[j]
        }
        let y = output.pointer
        Parallel.forEachChunk(rows, minimumChunk: Kernels.rowsPerChunk(c)) { range in
            fb_bn_apply(x + range.lowerBound * c, y + range.lowerBound * c, range.count, c, k, b, slope)  // y = x·k + b
        }
        return y
    }

    /// With x̂ = (x − mean)·inverseStd, N rows, Σ over the rows of a channel:
    /// dbeta = Σdy, dgamma = Σdy·x̂, and in training (mean and variance depend on x)
    /// dx = gamma·inverseStd·(dy − Σdy/N − x̂·Σ(dy·x̂)/N); in inference dx = gamma·inverseStd·dy.
    /// dx is written over dy.
    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        let c = channels, rows = batch * rowsPerSample, slope = absorbedLeakySlope
        let x = input!, mean = usedMean.pointer, inverseStd = usedInverseStd.pointer
        let sum = channelSums(rows: rows) { range, s, q in
            // s += dy, q += dy·x̂ (x̂ in Float, the product in Double)
            fb_bn_gradient_sums(dy + range.lowerBound * c, x + range.lowerBound * c, mean, inverseStd, range.count, c, s, q, slope)
        }
        if let beta { for j in 0..<c { beta.gradient.pointer[j] = Float(sum[j]) } }
        if let gamma { for j in 0..<c { gamma.gradient.pointer[j] = Float(sum[c + j]) } }
        guard needsInputGradient else { return nil }

        // dx = a·(dy − m − (x − mean)·h) per channel; m = h = 0 in inference.
        let a = coefficients.pointer, m = a + c, h = a + 2 * c
        for j in 0..<c {
            a[j] = inverseStd[j] * (gamma?.value.pointer[j] ?? 1)
            m[j] = lastTraining ? Float(sum[j] / Double(rows)) : 0
            h[j] = lastTraining ? Float(sum[c + j] / Double(rows)) * inverseStd[j] : 0
        }
        Parallel.forEachChunk(rows, minimumChunk: Kernels.rowsPerChunk(c)) { range in
            fb_bn_input_gradient(dy + range.lowerBound * c, x + range.lowerBound * c, range.count, c, a, m, mean, h, slope)
        }
        return dy
    }

    public var summaryDetail: String {
        "momentum \(momentum) epsilon \(epsilon)" + (center ? "" : " no center") + (scale ? "" : " no scale")
    }
}
