/// A mistake in an experiment file, located by file, line and key path, e.g.
/// `Experiments/x.yaml:12: model.layers[3].filters must be a positive integer, got -4`.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int
    public let path: String
    public let message: String

    public init(file: String, line: Int, path: String, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    public var description: String {
        let subject = path.isEmpty ? "" : "\(path) "
        return "\(file):\(line): \(subject)\(message)".replacingOccurrences(of: "\n", with: " ")
    }
}
