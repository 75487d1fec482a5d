import Foundation

/// Sigmoid + binary cross-entropy against one-hot labels (model_4): per output
/// max(z, 0) − z·t + log(1 + e^−|z|), averaged over the outputs, then over the batch, as
/// Keras; dL/dz = (sigmoid(z) − t) / (batch · classes).
public struct BinaryCrossentropy: Loss {
    public static let names = ["binary_crossentropy"]
    public var outputActivation: Activation { .sigmoid }
    public init() {}

    public func evaluate(logits z: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int,
                         gradient: UnsafeMutablePointer<Float>?) -> (lossSum: Double, correct: Int) {
        var total = 0.0, correct = 0
        let scale = 1 / Float(batch * classes)
        for i in 0..<batch {
            let row = z + i * classes, y = Int(labels[i])
            var sample: Float = 0
            for j in 0..<classes {
                let v = row[j], t: Float = j == y ? 1 : 0
                sample += max(v, 0) - v * t + log1p(exp(-abs(v)))
                gradient?[i * classes + j] = (logistic(v) - t) * scale
            }
            total += Double(sample / Float(classes))
            if argmax(row, classes) == y { correct += 1 }
        }
        return (total, correct)
    }
}
