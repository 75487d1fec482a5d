import FashionTensor
import FashionConfig

/// Inverted dropout: in training each value is kept with probability 1 − rate and scaled by
/// 1 / (1 − rate); at inference it is the identity. The mask comes from the layer's own
/// seeded generator, so a seed gives the same masks every run.
public final class Dropout: Layer {
    public static let typeName = "Dropout"
    public var name: String
    public let rate: Float
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public let parameters: [Parameter] = []

    private var output: FloatBuffer!
    private var mask: FloatBuffer!
    private var generator = SeededGenerator(seed: 0)

    public init(rate: Float, name: String = "dropout") {
        self.rate = rate
        self.name = name
    }

    public convenience init(options o: Options) throws {
        self.init(rate: Float(try o.double("rate", min: 0, max: 1, maxExclusive: true)))
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        self.inputShape = inputShape
        outputShape = inputShape
        let n = maxBatch * inputShape.reduce(1, *)
        try reserve(0, 2 * n)
        output = FloatBuffer(count: n)
        mask = FloatBuffer(count: n)
    }

    /// The dropout stream is seeded with the weights' stream: one seed fixes both.
    public func initialize(using g: inout SeededGenerator) {
        generator = SeededGenerator(seed: g.next())
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        guard training, rate > 0 else { return x }
        let n = batch * inputShape.reduce(1, *)
        let scale = 1 / (1 - rate), m = mask.pointer, y = output.pointer
        for i in 0..<n { m[i] = generator.nextUnitFloat() >= rate ? scale : 0 }
        for i in 0..<n { y[i] = x[i] * m[i] }
        return y
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        guard needsInputGradient else { return nil }
        guard rate > 0 else { return dy }
        let n = batch * inputShape.reduce(1, *), m = mask.pointer
        for i in 0..<n { dy[i] *= m[i] }
        return dy
    }

    public var summaryDetail: String { "rate \(rate)" }
}
