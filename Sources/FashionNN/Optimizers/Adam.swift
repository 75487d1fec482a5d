import Foundation
import FashionTensor
import FashionConfig
import CKernels

/// Adam, exactly as Keras 3 (`keras/src/optimizers/adam.py`), defaults lr 1e-3, β1 0.9,
/// β2 0.999, ε 1e-7; t counts steps from 1:
///   α = lr · √(1 − β2^t) / (1 − β1^t)
///   m ← m + (g − m)(1 − β1)
///   v ← v + (g² − v)(1 − β2)
///   w ← w − α · m / (√v + ε)
public final class Adam: Optimizer {
    public static let typeName = "adam"
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    private var parameters: [Parameter] = []
    private var m: [FloatBuffer] = [], v: [FloatBuffer] = []
    private var t = 0

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public convenience init(options o: Options) throws {
        self.init(learningRate: try o.float("learning_rate", default: 1e-3, min: 0, minExclusive: true),
                  beta1: try o.float("beta_1", default: 0.9, min: 0, max: 1, maxExclusive: true),
                  beta2: try o.float("beta_2", default: 0.999, min: 0, max: 1, maxExclusive: true),
                  epsilon: try o.float("epsilon", default: 1e-7, min: 0, minExclusive: true))
    }

    public func attach(_ parameters: [Parameter]) {
        self.parameters = parameters.filter(\.trainable)
        m = self.parameters.map { FloatBuffer(count: $0.count) }
        v = self.parameters.map { FloatBuffer(count: $0.count) }
        t = 0
    }

    public func step() {
        t += 1
        // Keras computes the powers in float32 from the step count.
        let b1t = pow(beta1, Float(t)), b2t = pow(beta2, Float(t))
        let alpha = learningRate * (1 - b2t).squareRoot() / (1 - b1t)
        let oneMinusB1 = 1 - beta1, oneMinusB2 = 1 - beta2, eps = epsilon
        for (k, p) in parameters.enumerated() {
            let w = p.value.pointer, g = p.gradient.pointer, m = m[k].pointer, v = v[k].pointer
            // m[i] += (g[i] - m[i]) * oneMinusB1 ; v[i] += (g[i] * g[i] - v[i]) * oneMinusB2
            // w[i] -= m[i] * alpha / (v[i].squareRoot() + eps)   (in C, vectorised, same order)
            Parallel.forEachChunk(p.count, minimumChunk: 65_536) { range in
                let o = range.lowerBound
                fb_adam_update(w + o, m + o, v + o, g + o, range.count, alpha, oneMinusB1, oneMinusB2, eps)
            }
        }
    }
}
