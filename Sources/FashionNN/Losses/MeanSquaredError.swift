/// Mean squared error on the outputs as they are (the last layer keeps its own activation):
/// per sample mean_j (y_j − t_j)², then the mean over the batch, as Keras' "mse";
/// dL/dy = 2(y − t) / (batch · outputs). With integer labels the targets are one-hot.
public struct MeanSquaredError: Loss {
    public static let names = ["mean_squared_error", "mse"]
    public var outputActivation: Activation { .linear }
    public var acceptsValueTargets: Bool { true }
    public init() {}

    public func evaluate(logits y: UnsafePointer<Float>, targets: LossTargets, batch: Int, classes: Int,
                         gradient: UnsafeMutablePointer<Float>?) -> (lossSum: Double, correct: Int) {
        var total = 0.0, correct = 0
        let scale = 2 / Float(batch * classes)
        for i in 0..<batch {
            let row = y + i * classes
            var sample = 0.0  // Double: an image has thousands of outputs
            switch targets {
            case let .labels(labels):
                let label = Int(labels[i])
                for j in 0..<classes {
                    let d = row[j] - (j == label ? 1 : 0)
                    sample += Double(d * d)
                    gradient?[i * classes + j] = d * scale
                }
                if argmax(row, classes) == label { correct += 1 }
            case let .values(values):
                let target = values + i * classes
                for j in 0..<classes {
                    let d = row[j] - target[j]
                    sample += Double(d * d)
                    gradient?[i * classes + j] = d * scale
                }
            }
            total += sample / Double(classes)
        }
        return (total, correct)
    }
}
