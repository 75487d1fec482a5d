import Foundation

/// A mistake in an experiment file, located by file, line and key path, e.g.
/// `Experiments/x.yaml:12: model.layers[3].filters must be a positive integer, got -4`.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int
    public let path: String
    public let message: String
    /// Where the offending value was written when it is not in `file`: a sweep file's line
    /// ("sweeps/lr.yaml:7") or a command-line option ("--set training.batch_size=0").
    public let origin: String?

    public init(file: String, line: Int, path: String, message: String, origin: String? = nil) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
        self.origin = origin
    }

    public var description: String {
        let subject = path.isEmpty ? "" : "\(path) "
        let text = origin.map { "\($0): \(subject)\(message) (applied to \(file))" } ?? "\(file)\(line > 0 ? ":\(line)" : ""): \(subject)\(message)"
        // One line, whatever a file's values hold: newlines, NULs and other control characters print as spaces.
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }
}

/// Why a file operation failed, in the system's words: Foundation's errors often carry only a
/// domain and code ("NSCocoaErrorDomain error 512") when the path runs through a file or a
/// directory stands where a file should.
public enum FileProblem {
    public static func reason(_ error: Error, path: String?) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if path == "" { return "the path is empty" }
        if let path = path.map({ ($0 as NSString).standardizingPath }), !path.isEmpty {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                return "is a directory"
            }
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & S_IFMT != S_IFREG { return "is not a regular file (a FIFO, device or socket)" }
            // The deepest part of the path that exists: a file there means the rest cannot be made.
            var ancestor = parent(of: path)
            while !ancestor.isEmpty, ancestor != "/", !FileManager.default.fileExists(atPath: ancestor) {
                ancestor = parent(of: ancestor)
            }
            if !ancestor.isEmpty, FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory), !isDirectory.boolValue {
                return "\(ancestor) is a file, not a directory"
            }
            // Only for a path still to be made: a file that exists failed for another reason.
            if !ancestor.isEmpty, !FileManager.default.fileExists(atPath: path), access(ancestor, W_OK) != 0 {
                return "no permission to write in \(ancestor)"
            }
            // A loop of symbolic links, a name too long, …: the system's words.
            if stat(path, &status) != 0, errno != ENOENT { return String(cString: strerror(errno)) }
        }
        // Foundation's words for a missing file are "The operation could not be completed. The file doesn't exist."
        let words = ns.localizedDescription
        let preamble = "The operation could not be completed. "
        return words.hasPrefix(preamble) && words.count > preamble.count ? String(words.dropFirst(preamble.count)) : words
    }

    /// The path up to its last "/" ("" for a bare name): NSString's deletingLastPathComponent
    /// traps on some one-character paths ("x", "-").
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
