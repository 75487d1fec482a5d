import FashionTensor
import FashionConfig

/// Keras Activation as a layer of its own (softmax acts on the last axis).
public final class ActivationLayer: Layer {
    public static let typeName = "Activation"
    public var name: String
    public var activation: Activation
    public private(set) var inputShape: [Int] = []
    public private(set) var outputShape: [Int] = []
    public let parameters: [Parameter] = []
    private var output: FloatBuffer!

    public init(_ activation: Activation, name: String = "activation") {
        self.activation = activation
        self.name = name
    }

    public convenience init(options o: Options) throws {
        self.init(Activation(rawValue: try o.choice("activation", Activation.names))!)
    }

    public func build(inputShape: [Int], maxBatch: Int) throws {
        guard !inputShape.isEmpty else { throw LayerShapeError("needs an input with at least one axis") }
        self.inputShape = inputShape
        outputShape = inputShape
        try reserve(0, maxBatch * inputShape.reduce(1, *))
        output = FloatBuffer(count: maxBatch * inputShape.reduce(1, *))
    }

    public func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        if activation == .linear { return x }
        let n = batch * inputShape.reduce(1, *)
        output.pointer.update(from: x, count: n)
        activation.apply(output.pointer, count: n, width: inputShape.last!)
        return output.pointer
    }

    public func backward(_ dy: UnsafeMutablePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        guard needsInputGradient else { return nil }
        activation.backward(output: output.pointer, gradient: dy, count: batch * inputShape.reduce(1, *), width: inputShape.last!)
        return dy
    }

    public var summaryDetail: String { activation.rawValue }
}
