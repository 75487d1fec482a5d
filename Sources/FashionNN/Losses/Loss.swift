import FashionTensor
import FashionConfig

/// What a loss compares the model's outputs with: integer class labels (one per sample) or
/// dense values of the output's shape (an autoencoder's inputs).
public enum LossTargets {
    case labels(UnsafePointer<Int32>)
    case values(UnsafePointer<Float>)

    /// The targets of the samples from `first` on, `width` outputs per sample.
    public func from(sample first: Int, width: Int) -> LossTargets {
        switch self {
        case let .labels(l): return .labels(l + first)
        case let .values(v): return .values(v + first * width)
        }
    }
}

/// A loss, fused with the output activation it belongs to where there is one (softmax for
/// categorical cross-entropy, sigmoid for binary cross-entropy): it then takes the last
/// layer's pre-activation values (logits), which is both exact and numerically stable, and is
/// what Keras 3 does when a softmax/sigmoid output meets these losses. A loss without one
/// (mean squared error) takes the outputs as they are.
public protocol Loss {
    static var names: [String] { get }
    /// The output activation this loss absorbs (`linear`: none).
    var outputActivation: Activation { get }
    /// Whether dense value targets (reconstruction) are meaningful for this loss.
    var acceptsValueTargets: Bool { get }
    /// Sum over the batch of each sample's loss (the mean over its outputs), and the number of
    /// samples whose largest output is the true class (0 for value targets). Writes
    /// dMeanLoss/dLogits into `gradient` when given.
    func evaluate(logits: UnsafePointer<Float>, targets: LossTargets, batch: Int, classes: Int,
                  gradient: UnsafeMutablePointer<Float>?) -> (lossSum: Double, correct: Int)
}

extension Loss {
    /// Classification on integer labels.
    public func evaluate(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int,
                         gradient: UnsafeMutablePointer<Float>?) -> (lossSum: Double, correct: Int) {
        evaluate(logits: logits, targets: .labels(labels), batch: batch, classes: classes, gradient: gradient)
    }
}

public enum Losses {
    static let all: [(names: [String], make: () -> Loss)] = [
        (CategoricalCrossentropy.names, { CategoricalCrossentropy() }),
        (BinaryCrossentropy.names, { BinaryCrossentropy() }),
        (MeanSquaredError.names, { MeanSquaredError() }),
    ]

    /// Maps the name in an experiment file to a loss.
    public static func make(_ name: String) -> Loss? {
        all.first { $0.names.contains(name) }?.make()
    }

    public static var names: [String] { all.flatMap(\.names) }
}

@inline(__always) func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
    var best = 0
    for j in 1..<max(n, 1) where p[j] > p[best] { best = j }
    return best
}
