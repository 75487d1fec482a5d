import Foundation

/// A data problem: which file, what is wrong, how to get the data. description is ONE line: "<file>: <problem>. <remedy>"
///
/// One line so it reads well as the last line of a CLI run and in logs; the remedy is always
/// actionable (install / download / replace) because a bare "bad file" sends people searching.
public struct DataError: Error, CustomStringConvertible, LocalizedError {
    public let file: String
    public let problem: String
    public let remedy: String
    /// The key of the experiment's `data:` section whose value the data did not bear out
    /// ("classes[2]", "min_count", "label"), so the error can name its line; nil when the
    /// file itself is at fault.
    public var key: String?

    public init(file: String, problem: String, remedy: String, key: String? = nil) {
        self.file = file
        self.problem = problem
        self.remedy = remedy
        self.key = key
    }

    public var description: String {
        let line = "\(file): \(problem). \(remedy)"
        // Messages from zlib or Foundation could in principle contain line breaks; keep one line.
        return line.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var errorDescription: String? { description }

    /// How to obtain the data set when a file or the directory is missing.
    public static let installRemedy =
        "Install it with `sudo apt-get install dataset-fashion-mnist` (Debian), or download the four files from https://github.com/zalandoresearch/fashion-mnist into a directory and set FASHION_MNIST_DIR or data.path"

    /// What to do when a file exists but its content is wrong.
    public static let replaceRemedy =
        "Replace it with an intact copy: `sudo apt-get install --reinstall dataset-fashion-mnist` (Debian), or download it again from https://github.com/zalandoresearch/fashion-mnist"
}
