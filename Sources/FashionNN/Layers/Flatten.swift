import FashionConfig

/// Keras Flatten: the NHWC buffer is already flat, so forward and backward pass it through.
public final class Flatten: Layer {
    public static let typeName = "Flatten"
    public var name: String
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public let parameters: [Parameter] = []

    public init(name: String = "flatten") { self.name = name }

    public convenience init(options o: Options) throws { self.init() }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        self.inputShape = inputShape
        outputShape = [inputShape.reduce(1, *)]
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> { x }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        needsInputGradient ? dy : nil
    }
}
