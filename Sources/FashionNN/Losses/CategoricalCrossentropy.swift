import Foundation

/// Softmax + categorical cross-entropy on integer labels (Keras' sparse categorical CE):
/// loss_i = logsumexp(z_i) − z_i[y_i], dL/dz = (softmax(z) − onehot(y)) / batch.
public struct CategoricalCrossentropy: Loss {
    public static let names = ["categorical_crossentropy", "sparse_categorical_crossentropy"]
    public var outputActivation: Activation { .softmax }
    public var acceptsValueTargets: Bool { false }
    public init() {}

    public func evaluate(logits z: UnsafePointer<Float>, targets: LossTargets, batch: Int, classes: Int,
                         gradient: UnsafeMutablePointer<Float>?) -> (lossSum: Double, correct: Int) {
        guard case let .labels(labels) = targets else { preconditionFailure("categorical cross-entropy needs class labels") }
        var total = 0.0, correct = 0
        let scale = 1 / Float(batch)
        for i in 0..<batch {
            let row = z + i * classes, y = Int(labels[i])
            var m = -Float.infinity
            for j in 0..<classes { m = max(m, row[j]) }
            var s: Float = 0
            for j in 0..<classes { s += exp(row[j] - m) }
            total += Double(m + log(s) - row[y])
            if argmax(row, classes) == y { correct += 1 }
            if let g = gradient?.advanced(by: i * classes) {
                let inv = scale / s
                for j in 0..<classes { g[j] = exp(row[j] - m) * inv }
                g[y] -= scale
            }
        }
        return (total, correct)
    }
}
