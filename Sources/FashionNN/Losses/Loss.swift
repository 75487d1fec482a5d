import FashionTensor
import FashionConfig

/// A classification loss on integer labels, fused with the output activation it belongs to
/// (softmax for categorical cross-entropy, sigmoid for binary cross-entropy): it takes the
/// last layer's pre-activation values (logits), which is both exact and numerically stable,
/// and is what Keras 3 does when a softmax/sigmoid output meets these losses.
public protocol Loss {
    static var names: [String] { get }
    /// The output activation this loss absorbs.
    var outputActivation: Activation { get }
    /// Sum over the batch of each sample's loss, and the number of samples whose largest
    /// output is the true class. Writes dMeanLoss/dLogits into `gradient` when given.
    func evaluate(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int,
                  gradient: UnsafeMutablePointer<Float>?) -> (lossSum: Double, correct: Int)
}

public enum Losses {
    /// Maps the name in an experiment file to a loss.
    public static func make(_ name: String) -> Loss? {
        if CategoricalCrossentropy.names.contains(name) { return CategoricalCrossentropy() }
        if BinaryCrossentropy.names.contains(name) { return BinaryCrossentropy() }
        return nil
    }

    public static var names: [String] { CategoricalCrossentropy.names + BinaryCrossentropy.names }
}

@inline(__always) func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
    var best = 0
    for j in 1..<max(n, 1) where p[j] > p[best] { best = j }
    return best
}
