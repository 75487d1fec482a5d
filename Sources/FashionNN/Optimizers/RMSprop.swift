import Foundation
import FashionTensor
import FashionConfig
import CKernels

/// RMSprop, exactly as Keras 3 (`keras/src/optimizers/rmsprop.py`, momentum 0, not
/// centered), defaults lr 1e-3, ρ 0.9, ε 1e-7 — note ε inside the square root:
///   v ← ρ·v + (1 − ρ)·g²
///   w ← w − lr · g / √(v + ε)
public final class RMSprop: Optimizer {
    public static let typeName = "rmsprop"
    public var learningRate: Float
    public let rho: Float, epsilon: Float
    private var parameters: [Parameter] = []
    private var velocity: [FloatBuffer] = []

    public init(learningRate: Float = 1e-3, rho: Float = 0.9, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.rho = rho
        self.epsilon = epsilon
    }

    public convenience init(options o: Options) throws {
        self.init(learningRate: try o.float("learning_rate", default: 1e-3, min: 0, minExclusive: true),
                  rho: try o.float("rho", default: 0.9, min: 0, max: 1, maxExclusive: true),
                  epsilon: try o.float("epsilon", default: 1e-7, min: 0, minExclusive: true))
    }

    public func attach(_ parameters: [Parameter]) {
        self.parameters = parameters.filter(\.trainable)
        velocity = self.parameters.map { FloatBuffer(count: $0.count) }
    }

    public func step() {
        let rho = rho, oneMinusRho = 1 - rho, lr = learningRate, eps = epsilon
        for (k, p) in parameters.enumerated() {
            let w = p.value.pointer, g = p.gradient.pointer, v = velocity[k].pointer
            // v[i] = rho * v[i] + oneMinusRho * g[i] * g[i] ; w[i] -= lr * g[i] / (v[i] + eps).squareRoot()
            // (in C, vectorised, the same operations in the same order).
            Parallel.forEachChunk(p.count, minimumChunk: 65_536) { range in
                fb_rmsprop_update(w + range.lowerBound, v + range.lowerBound, g + range.lowerBound, range.count,
                                  lr, rho, oneMinusRho, eps)
            }
        }
    }
}
