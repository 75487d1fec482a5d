import Yams

/// Sets values deep inside a YAML tree by key path — `training.optimizer.learning_rate`,
/// `model.layers[8].rate` — as sweeps and overrides do. Missing mappings on the way are
/// created; list indices must exist.
public enum NodePatch {
    public enum Component: Equatable, Sendable {
        case key(String)
        case index(Int)
    }

    /// Splits `a.b[2].c` into components; nil for a malformed path.
    public static func components(_ path: String) -> [Component]? {
        var out: [Component] = []
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            var rest = Substring(part)
            guard let name = rest.split(separator: "[", maxSplits: 1, omittingEmptySubsequences: false).first, !name.isEmpty else { return nil }
            out.append(.key(String(name)))
            rest = rest.dropFirst(name.count)
            while !rest.isEmpty {
                guard rest.first == "[", let close = rest.firstIndex(of: "]"),
                      let i = Int(rest[rest.index(after: rest.startIndex)..<close]), i >= 0 else { return nil }
                out.append(.index(i))
                rest = rest[rest.index(after: close)...]
            }
        }
        return out.isEmpty ? nil : out
    }

    /// Reads a command-line assignment `key.path=value`, the value as YAML (`0.001`, `null`,
    /// `[1, 2]`, `{a: 1}`), as `fashionbench run --set` takes it.
    public static func assignment(_ text: String) throws -> (path: String, value: Node) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw PatchError(path: text, message: "needs the form key.path=value")
        }
        let path = String(text[..<eq]), value = String(text[text.index(after: eq)...])
        guard components(path) != nil else {
            throw PatchError(path: path, message: "is not a key path like training.batch_size or model.layers[2].rate")
        }
        let node: Node
        do {
            node = try Yams.compose(yaml: value) ?? Node("null", Tag(.null))
        } catch {
            throw PatchError(path: path, message: "has a value that is not YAML (\"\(value)\"): \(error)")
        }
        do {
            try Options.checkExpandedSize(node, file: "--set")
        } catch {
            throw PatchError(path: path, message: "has a value that expands to more than \(Options.maximumExpandedValues) values")
        }
        // Merge keys (`<<: {…}`) as in a file.
        do {
            return (path, try Options.mergingKeys(node, file: "--set", path: path))
        } catch let c as ConfigError {
            throw PatchError(path: c.path.isEmpty ? path : c.path, message: c.message)
        }
    }

    /// A copy of `root` with `path` set to `value`; the error text says what is missing.
    public static func set(_ root: Node, path: String, to value: Node) throws -> Node {
        guard let parts = components(path) else { throw PatchError(path: path, message: "is not a key path like training.optimizer.learning_rate or model.layers[2].rate") }
        return try set(root, parts[...], to: value, path: path)
    }

    /// Whether `root` has a value at `path` (every key and index on the way exists).
    public static func contains(_ root: Node, path: String) -> Bool {
        guard let parts = components(path) else { return false }
        var node = root
        for part in parts {
            switch (part, node) {
            case let (.key(key), .mapping(m)):
                guard let next = m.first(where: { $0.key.string == key })?.value else { return false }
                node = next
            case let (.index(i), .sequence(seq)):
                guard i < seq.count else { return false }
                node = seq[i]
            default:
                return false
            }
        }
        return true
    }

    private static func set(_ node: Node, _ parts: ArraySlice<Component>, to value: Node, path: String) throws -> Node {
        guard let first = parts.first else { return value }
        let rest = parts.dropFirst()
        switch first {
        case let .key(key):
            var pairs: [(Node, Node)] = []
            // The patched mapping keeps its line, so errors about it still point into the file.
            var mark: Mark? = node.mark
            if case let .mapping(m) = node { pairs = Array(m); mark = m.mark } else if node.tagName != .null {
                throw PatchError(path: path, message: "goes through \(key), but its parent is not a mapping")
            }
            if let i = pairs.firstIndex(where: { $0.0.string == key }) {
                pairs[i].1 = try set(pairs[i].1, rest, to: value, path: path)
            } else {
                pairs.append((Node(key), try set(Node("", Tag(.null)), rest, to: value, path: path)))
            }
            return .mapping(Node.Mapping(pairs, .implicit, .any, mark))
        case let .index(i):
            guard case let .sequence(seq) = node else { throw PatchError(path: path, message: "indexes [\(i)] into something that is not a list") }
            var items = Array(seq)
            guard i < items.count else { throw PatchError(path: path, message: "indexes [\(i)] but the list has \(items.count) entries") }
            items[i] = try set(items[i], rest, to: value, path: path)
            return .sequence(Node.Sequence(items, .implicit, .any, seq.mark))
        }
    }
}

public struct PatchError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "\(path) \(message)" }
}
