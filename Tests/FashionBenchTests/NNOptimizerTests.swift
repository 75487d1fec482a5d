import Foundation
import Testing
import FashionNN
import FashionTensor
import CKernels

// Adam and RMSprop against values computed here, in Double, from the Keras 3 update rules
// (keras/src/optimizers/adam.py and rmsprop.py), independently of the implementation:
//   Adam:    m ← β1·m + (1 − β1)·g ; v ← β2·v + (1 − β2)·g²
//            w ← w − lr·√(1 − β2^t)/(1 − β1^t) · m / (√v + ε)     (ε outside the root, on √v)
//   RMSprop: v ← ρ·v + (1 − ρ)·g² ; w ← w − lr·g / √(v + ε)       (ε inside the root)
// The cases with a large ε tell those placements apart.

struct NNAdamCase: Sendable, CustomTestStringConvertible {
    var learningRate = 1e-3, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7
    var testDescription: String { "Adam(lr \(learningRate), β1 \(beta1), β2 \(beta2), ε \(epsilon))" }
}

struct NNRMSpropCase: Sendable, CustomTestStringConvertible {
    var learningRate = 1e-3, rho = 0.9, epsilon = 1e-7
    var testDescription: String { "RMSprop(lr \(learningRate), ρ \(rho), ε \(epsilon))" }
}

@Suite("NN optimizers vs hand-computed updates")
struct NNOptimizerTests {
    static let start: [Float] = [0.5, -0.25, 0.125, 1.0, -0.75, 0.3]
    /// Three steps of gradients: mixed signs and sizes, one always zero, one changing sign.
    static let gradients: [[Float]] = [
        [0.1, -0.02, 0.0, 0.5, -0.003, 0.04],
        [0.05, 0.03, 0.0, -0.25, -0.004, -0.06],
        [-0.2, 0.01, 0.0, 0.125, 0.002, 0.05],
    ]

    /// Runs `optimizer` on a parameter for the three steps, returning the weights after each.
    static func run(_ optimizer: Optimizer) -> [[Float]] {
        let p = Parameter(name: "w", shape: [2, 3])
        NNSupport.set(p, start)
        optimizer.attach([p])
        return gradients.map { g in
            for (i, v) in g.enumerated() { p.gradient.pointer[i] = v }
            optimizer.step()
            return p.value.array
        }
    }

    static func expectClose(_ actual: [[Float]], _ expected: [[Double]], _ what: String) {
        for (t, (a, e)) in zip(actual, expected).enumerated() {
            for i in a.indices {
                #expect(abs(Double(a[i]) - e[i]) <= 1e-6 * abs(e[i]) + 2e-7,
                        "\(what) step \(t + 1), weight \(i): \(a[i]) vs hand-computed \(e[i])")
            }
        }
    }

    static let adamCases: [NNAdamCase] = [
        NNAdamCase(),
        NNAdamCase(learningRate: 0.01),
        NNAdamCase(learningRate: 0.05, beta1: 0.8, beta2: 0.99, epsilon: 1e-2),
        NNAdamCase(learningRate: 0.002, beta1: 0.5, beta2: 0.9, epsilon: 0.05),
    ]

    @Test(arguments: adamCases)
    func adam(_ c: NNAdamCase) {
        var w = Self.start.map(Double.init)
        var m = [Double](repeating: 0, count: w.count), v = m
        var expected: [[Double]] = []
        for (step, g32) in Self.gradients.enumerated() {
            let t = Double(step + 1)
            let g = g32.map(Double.init)
            for i in w.indices {
                m[i] = c.beta1 * m[i] + (1 - c.beta1) * g[i]
                v[i] = c.beta2 * v[i] + (1 - c.beta2) * g[i] * g[i]
                let alpha = c.learningRate * (1 - pow(c.beta2, t)).squareRoot() / (1 - pow(c.beta1, t))
                w[i] -= alpha * m[i] / (v[i].squareRoot() + c.epsilon)
            }
            expected.append(w)
        }
        let adam = Adam(learningRate: Float(c.learningRate), beta1: Float(c.beta1), beta2: Float(c.beta2), epsilon: Float(c.epsilon))
        let actual = Self.run(adam)
        Self.expectClose(actual, expected, c.testDescription)
        // A zero gradient never moves its weight.
        #expect(actual.allSatisfy { $0[2] == Self.start[2] })
    }

    /// Adam's first step moves every weight with a non-zero gradient by almost exactly lr,
    /// against the gradient's sign (when ε is small against |g|·√(1 − β2)).
    @Test func adamFirstStepIsLearningRateSized() {
        let lr: Float = 0.01
        let after = Self.run(Adam(learningRate: lr))[0]
        for i in Self.start.indices where Self.gradients[0][i] != 0 {
            let moved = after[i] - Self.start[i]
            let g = Self.gradients[0][i]
            #expect(abs(abs(moved) - lr) < 2e-3 * lr, "weight \(i) moved \(moved)")
            #expect((moved < 0) == (g > 0))
        }
    }

    static let rmspropCases: [NNRMSpropCase] = [
        NNRMSpropCase(),
        NNRMSpropCase(learningRate: 1e-4),
        NNRMSpropCase(learningRate: 0.01, rho: 0.8, epsilon: 1e-2),
        NNRMSpropCase(learningRate: 0.003, rho: 0.5, epsilon: 0.1),
    ]

    @Test(arguments: rmspropCases)
    func rmsprop(_ c: NNRMSpropCase) {
        var w = Self.start.map(Double.init)
        var v = [Double](repeating: 0, count: w.count)
        var expected: [[Double]] = []
        for g32 in Self.gradients {
            for i in w.indices {
                let g = Double(g32[i])
                v[i] = c.rho * v[i] + (1 - c.rho) * g * g
                w[i] -= c.learningRate * g / (v[i] + c.epsilon).squareRoot()
            }
            expected.append(w)
        }
        let rms = RMSprop(learningRate: Float(c.learningRate), rho: Float(c.rho), epsilon: Float(c.epsilon))
        let actual = Self.run(rms)
        Self.expectClose(actual, expected, c.testDescription)
        #expect(actual.allSatisfy { $0[2] == Self.start[2] })
    }

    /// Keras 3's defaults: Adam(1e-3, 0.9, 0.999, 1e-7), RMSprop(1e-3, ρ 0.9, ε 1e-7).
    @Test func defaults() {
        let adam = Adam()
        #expect(adam.learningRate == 1e-3 && adam.beta1 == 0.9 && adam.beta2 == 0.999 && adam.epsilon == 1e-7)
        let rms = RMSprop()
        #expect(rms.learningRate == 1e-3 && rms.rho == 0.9 && rms.epsilon == 1e-7)
    }

    /// Non-trainable parameters are left alone; re-attaching resets the optimizer's state (and
    /// Adam's step count), so the same three steps give the same weights again.
    @Test(arguments: [false, true])
    func attachSkipsFrozenAndResets(_ useAdam: Bool) {
        let optimizer: Optimizer = useAdam ? Adam(learningRate: 0.01) : RMSprop(learningRate: 0.01)
        let frozen = Parameter(name: "moving_mean", shape: [3], trainable: false)
        NNSupport.set(frozen, [1, 2, 3])
        let p = Parameter(name: "w", shape: [2])
        NNSupport.set(p, [0.5, -0.5])
        optimizer.attach([frozen, p])
        func threeSteps() -> [Float] {
            for g: [Float] in [[0.1, -0.2], [0.3, 0.1], [-0.1, 0.2]] {
                p.gradient.pointer[0] = g[0]
                p.gradient.pointer[1] = g[1]
                optimizer.step()
            }
            return p.value.array
        }
        let first = threeSteps()
        #expect(frozen.value.array == [1, 2, 3])
        #expect(first != [0.5, -0.5])
        NNSupport.set(p, [0.5, -0.5])
        optimizer.attach([frozen, p])
        #expect(threeSteps() == first)
    }
}

/// In the serialized kernel suite: it caps the instruction set, which is global.
extension NNDirectKernelTests {
@Suite struct OptimizerKernels {
    /// The vectorised C updates give exactly the bits of the plain float32 loops of the
    /// equations above, on every instruction set and across chunk boundaries and tails.
    @Test(arguments: [2, 1, 0])
    func vectorisedUpdatesMatchThePlainLoops(level: Int) {
        let n = 1_000_003
        var g = SeededGenerator(seed: 7, stream: "optimizer-\(level)")
        func random(_ scale: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &g) } }
        let start = random(1), steps = [random(0.5), random(0.01), random(3)]
        let inForce = fb_kernels_cap_level(Int32(level))
        defer { _ = fb_kernels_cap_level(2) }
        #expect(inForce <= Int32(level))
        do {
            // RMSprop, lr 1e-3, ρ 0.9, ε 1e-7
            let p = Parameter(name: "w", shape: [n])
            NNSupport.set(p, start)
            let rms = RMSprop(learningRate: 1e-3)
            rms.attach([p])
            var w = start, v = [Float](repeating: 0, count: n)
            let (lr, rho, oneMinusRho, eps): (Float, Float, Float, Float) = (1e-3, 0.9, 1 - 0.9, 1e-7)
            for grad in steps {
                NNSupport.set(p, grad, gradient: true)
                rms.step()
                for i in 0..<n {
                    v[i] = rho * v[i] + oneMinusRho * grad[i] * grad[i]
                    w[i] -= lr * grad[i] / (v[i] + eps).squareRoot()
                }
            }
            #expect(p.value.array == w, "RMSprop at level \(level)")

            // Adam, lr 1e-3, β1 0.9, β2 0.999, ε 1e-7
            let q = Parameter(name: "w", shape: [n])
            NNSupport.set(q, start)
            let adam = Adam(learningRate: 1e-3)
            adam.attach([q])
            var wa = start, m = [Float](repeating: 0, count: n), va = m
            for (t, grad) in steps.enumerated() {
                NNSupport.set(q, grad, gradient: true)
                adam.step()
                let b1t = pow(Float(0.9), Float(t + 1)), b2t = pow(Float(0.999), Float(t + 1))
                let alpha = Float(1e-3) * (1 - b2t).squareRoot() / (1 - b1t)
                for i in 0..<n {
                    m[i] += (grad[i] - m[i]) * (1 - 0.9)
                    va[i] += (grad[i] * grad[i] - va[i]) * (1 - 0.999)
                    wa[i] -= m[i] * alpha / (va[i].squareRoot() + eps)
                }
            }
            #expect(q.value.array == wa, "Adam at level \(level)")
        }
    }
}
}
