import Foundation

/// Sigmoid + binary cross-entropy, on one-hot labels (model_4) or on values in [0, 1] (an
/// autoencoder reconstructing its input): per output max(z, 0) − z·t + log(1 + e^−|z|),
/// averaged over the outputs, then over the batch, as Keras; dL/dz = (sigmoid(z) − t) / (batch · outputs).
public struct BinaryCrossentropy: Loss {
    public static let names = ["binary_crossentropy"]
    public var outputActivation: Activation { .sigmoid }
    public var acceptsValueTargets: Bool { true }
    public init() {}

    public func evaluate(logits z: UnsafePointer<Float>, targets: LossTargets, batch: Int, classes: Int,
                         gradient: UnsafeMutablePointer<Float>?) -> (lossSum: Double, correct: Int) {
        var total = 0.0, correct = 0
        let scale = 1 / Float(batch * classes)
        for i in 0..<batch {
            let row = z + i * classes
            var sample = 0.0  // Double: an image has thousands of outputs
            switch targets {
            case let .labels(labels):
                let y = Int(labels[i])
                for j in 0..<classes {
                    let v = row[j], t: Float = j == y ? 1 : 0
                    sample += Double(max(v, 0) - v * t + log1p(exp(-abs(v))))
                    gradient?[i * classes + j] = (logistic(v) - t) * scale
                }
                if argmax(row, classes) == y { correct += 1 }
            case let .values(values):
                let target = values + i * classes
                for j in 0..<classes {
                    let v = row[j], t = target[j]
                    sample += Double(max(v, 0) - v * t + log1p(exp(-abs(v))))
                    gradient?[i * classes + j] = (logistic(v) - t) * scale
                }
            }
            total += sample / Double(classes)
        }
        return (total, correct)
    }
}
