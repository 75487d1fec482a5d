import FashionTensor
import FashionConfig

/// Updates trainable parameters from the gradients of the last backward pass.
public protocol Optimizer: AnyObject {
    static var typeName: String { get }
    var learningRate: Float { get set }
    /// Allocates the optimizer's slots (moments, velocities) once.
    func attach(_ parameters: [Parameter])
    /// One update of every attached parameter.
    func step()
}

public enum Optimizers {
    public static let names = ["adam", "rmsprop"]

    /// Reads `training.optimizer` (name plus the optimizer's own keys) into an optimizer. The
    /// name defaults to adam, as a missing `optimizer:` does, so `optimizer: {learning_rate: …}`
    /// and `--set training.optimizer.learning_rate=…` tune the default optimizer.
    public static func make(_ o: Options) throws -> Optimizer {
        switch try o.choice("name", names, default: "adam") {
        case "adam": return try Adam(options: o)
        default: return try RMSprop(options: o)
        }
    }
}
