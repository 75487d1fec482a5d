import Yams

/// Reads one YAML mapping of an experiment file with types, ranges and defaults checked, and
/// records every value it hands out (defaults included) so the run can write the resolved
/// experiment. Every error names the file, the line and the key path.
///
/// Call `finish()` after reading: keys nobody asked for are errors (a typo must not be ignored).
public final class Options {
    public let file: String
    public let path: String
    public let line: Int
    private let entries: [(key: String, value: Node, line: Int)]
    private var consumed: Set<String> = []
    /// The resolved mapping, in the order values were read.
    public private(set) var resolved: [(String, Node)] = []

    public init(file: String, path: String, node: Node) throws {
        self.file = file
        self.path = path
        self.line = node.mark?.line ?? 1
        guard case let .mapping(mapping) = node else {
            throw ConfigError(file: file, line: line, path: path, message: "must be a mapping of keys to values, got \(Options.describe(node))")
        }
        var seen: [String: Int] = [:]
        var entries: [(String, Node, Int)] = []
        for (keyNode, value) in mapping {
            let keyLine = keyNode.mark?.line ?? line
            guard case let .scalar(scalar) = keyNode else {
                throw ConfigError(file: file, line: keyLine, path: path, message: "has a key that is not a plain name")
            }
            let key = scalar.string
            if let first = seen[key] {
                throw ConfigError(file: file, line: keyLine, path: Options.join(path, key), message: "appears twice (first on line \(first))")
            }
            seen[key] = keyLine
            entries.append((key, value, keyLine))
        }
        self.entries = entries
    }

    /// Parses a whole document. YAML syntax errors keep libyaml's line.
    public static func document(yaml: String, file: String) throws -> Options {
        try Options(file: file, path: "", node: try compose(yaml: yaml, file: file))
    }

    /// The document's node tree (for patching before reading). YAML errors keep their line.
    public static func compose(yaml: String, file: String) throws -> Node {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            if case let .duplicatedKeysInMapping(duplicates, context) = error, let key = duplicates.sorted().first {
                throw Options.duplicateKeyError(key, first: context.mark, yaml: yaml, file: file)
            }
            throw ConfigError(file: file, line: Options.line(of: error), path: "", message: "is not valid YAML: \(Options.summary(of: error))")
        } catch {
            throw ConfigError(file: file, line: 1, path: "", message: "is not valid YAML: \(error)")
        }
        guard let node else {
            throw ConfigError(file: file, line: 1, path: "", message: "is empty; an experiment needs at least `model:`")
        }
        try checkExpandedSize(node, file: file)
        return try mergingKeys(node, file: file, path: "")
    }

    /// YAML 1.1's merge key, as PyYAML and Keras users' configs use it: `<<: *defaults` (or a
    /// list of such mappings) puts their pairs into this mapping; its own keys win, and of
    /// the merged mappings the earlier one. The expanded size is checked first, and merging
    /// only copies what that walk counted.
    static func mergingKeys(_ node: Node, file: String, path: String) throws -> Node {
        switch node {
        case let .mapping(m):
            var own: [(Node, Node)] = []
            var merged: [(Node, Node)] = []
            var mergedKeys: Set<String> = []
            for (key, value) in m {
                guard case let .scalar(k) = key, k.string == "<<", k.style == .plain else {
                    own.append((key, try mergingKeys(value, file: file, path: join(path, key.string ?? "?"))))
                    continue
                }
                let sources: [Node]
                switch value {
                case .mapping: sources = [value]
                case let .sequence(q): sources = Array(q)
                default: sources = []
                }
                func refuse(_ got: Node) -> ConfigError {
                    ConfigError(file: file, line: key.mark?.line ?? 1, path: join(path, "<<"),
                                message: "(a merge key) takes a mapping or a list of mappings, such as *defaults, got \(describe(got))")
                }
                if sources.isEmpty { throw refuse(value) }
                for source in sources {
                    guard case let .mapping(pairs) = try mergingKeys(source, file: file, path: path) else { throw refuse(source) }
                    for (k2, v2) in pairs where mergedKeys.insert(k2.string ?? "").inserted { merged.append((k2, v2)) }
                }
            }
            let ownKeys = Set(own.compactMap { $0.0.string })
            return .mapping(Node.Mapping(own + merged.filter { !ownKeys.contains($0.0.string ?? "") }, m.tag, m.style, m.mark))
        case let .sequence(q):
            return .sequence(Node.Sequence(try q.enumerated().map { try mergingKeys($1, file: file, path: "\(path)[\($0)]") }, q.tag, q.style, q.mark))
        default:
            return node
        }
    }

    /// Most values a document may hold once its aliases are expanded. An experiment or sweep
    /// file has hundreds; a few lines of aliases of aliases ("billion laughs") expand to
    /// billions, which copying, patching or printing the tree would try to build.
    public static let maximumExpandedValues = 100_000

    /// Throws, at the line where the count passes the limit, if `node` expands to more than
    /// `maximumExpandedValues` values (a walk that stops there, so it is cheap either way).
    public static func checkExpandedSize(_ node: Node, file: String, path: String = "") throws {
        var count = 0
        var stack = [node]
        while let n = stack.popLast() {
            count += 1
            if count > maximumExpandedValues {
                throw ConfigError(file: file, line: n.mark?.line ?? 1, path: path,
                                  message: "holds more than \(maximumExpandedValues) values (counting every alias as the values it stands for); an experiment or sweep file holds a few hundred (aliases of aliases can make a few lines into billions)")
            }
            switch n {
            case let .mapping(m): for (k, v) in m { stack.append(k); stack.append(v) }
            case let .sequence(q): stack.append(contentsOf: q)
            default: break
            }
        }
    }

    // MARK: - Errors

    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: entry(key)?.line ?? line, path: Options.join(path, key), message: message)
    }

    /// The error for a required key that is absent. When the mapping holds an unread key that
    /// looks like a misspelling of it (`modle:`, `unit:`), the error is the typo's, at its line.
    public func missing(_ key: String, _ message: String) -> ConfigError {
        guard let typo = entries.first(where: { !consumed.contains($0.key) && Options.looksLikeMisspelling($0.key, of: key) }) else {
            return error(key, message)
        }
        return ConfigError(file: file, line: typo.line, path: Options.join(path, typo.key),
                           message: "is not a known key; did you mean \(key)? (\(Options.join(path, key)) \(message))")
    }

    /// Differs from `word` by case, or by at most two insertions, deletions, substitutions or
    /// swaps of neighbours (one for words of up to four letters).
    static func looksLikeMisspelling(_ candidate: String, of word: String) -> Bool {
        let a = Array(candidate.lowercased()), b = Array(word.lowercased())
        guard candidate != word, !a.isEmpty, !b.isEmpty, abs(a.count - b.count) <= 2 else { return false }
        // Optimal string alignment distance, row by row (`before` is the row above `previous`).
        var before = [Int](repeating: 0, count: b.count + 1), previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { current[j] = min(current[j], before[j - 2] + 1) }
            }
            (before, previous) = (previous, current)
        }
        return previous[b.count] <= (b.count <= 4 ? 1 : 2)
    }

    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, path: path, message: message)
    }

    public func error(atLine line: Int, path: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: line, path: path, message: message)
    }

    // MARK: - Presence

    public var keys: [String] { entries.map(\.key) }
    public func has(_ key: String) -> Bool { entry(key).map { !Options.isNull($0.value) } ?? false }
    public func lineOf(_ key: String) -> Int { entry(key)?.line ?? line }

    private func entry(_ key: String) -> (key: String, value: Node, line: Int)? {
        entries.first { $0.key == key }
    }

    private func take(_ key: String) -> (value: Node, line: Int)? {
        consumed.insert(key)
        guard let e = entry(key), !Options.isNull(e.value) else { return nil }
        return (e.value, e.line)
    }

    /// Marks keys as known without reading them (e.g. free-form documentation keys).
    public func accept(_ key: String) -> Node? {
        consumed.insert(key)
        guard let e = entry(key) else { return nil }
        record(key, e.value)
        return e.value
    }

    public func record(_ key: String, _ node: Node) {
        if let i = resolved.firstIndex(where: { $0.0 == key }) { resolved[i].1 = node } else { resolved.append((key, node)) }
    }

    /// Throws for the first key that was never read, listing the keys this mapping accepts.
    public func finish(allowed: [String]? = nil) throws {
        for e in entries where !consumed.contains(e.key) {
            let known = (allowed ?? Array(consumed)).sorted()
            let guess = known.first { Options.looksLikeMisspelling(e.key, of: $0) }.map { "; did you mean \($0)?" } ?? ""
            let hint = known.isEmpty ? "" : " (known keys: \(known.joined(separator: ", ")))"
            throw ConfigError(file: file, line: e.line, path: Options.join(path, e.key), message: "is not a known key\(guess)\(hint)")
        }
    }

    public var resolvedNode: Node {
        .mapping(Node.Mapping(resolved.map { (Node($0.0), $0.1) }))
    }

    // MARK: - Typed values

    public func int(_ key: String, default fallback: Int? = nil, min: Int? = nil, max: Int? = nil) throws -> Int {
        guard let v = try optionalInt(key, min: min, max: max) else {
            guard let fallback else { throw missing(key, "is required (an integer\(Options.rangeText(min, max)))") }
            record(key, Node(String(fallback), Tag(.int)))
            return fallback
        }
        return v
    }

    public func optionalInt(_ key: String, min: Int? = nil, max: Int? = nil) throws -> Int? {
        guard let (node, line) = take(key) else { return nil }
        let value = try integer(node, line: line, path: Options.join(path, key), min: min, max: max)
        record(key, Node(String(value), Tag(.int)))
        return value
    }

    public func positiveInt(_ key: String, default fallback: Int? = nil, max: Int? = nil) throws -> Int {
        try int(key, default: fallback, min: 1, max: max)
    }

    func integer(_ node: Node, line: Int, path: String, min: Int?, max: Int?) throws -> Int {
        let what = Options.integerWord(min, max)
        guard case let .scalar(s) = node, node.tagName == .int, let v = Int(s.string.replacingOccurrences(of: "_", with: ""), radix: 10) ?? node.int else {
            let tooLarge = node.tagName == .int ? " up to \(max ?? Int.max) (64-bit)" : ""
            throw ConfigError(file: file, line: line, path: path, message: "must be \(what)\(tooLarge), got \(Options.describe(node))")
        }
        if let min, v < min { throw ConfigError(file: file, line: line, path: path, message: "must be \(what), got \(v)") }
        if let max, v > max { throw ConfigError(file: file, line: line, path: path, message: "must be at most \(max), got \(v)") }
        return v
    }

    /// A number (integer or float literal), finite, within the given bounds.
    public func double(_ key: String, default fallback: Double? = nil, min: Double? = nil, max: Double? = nil,
                       minExclusive: Bool = false, maxExclusive: Bool = false) throws -> Double {
        guard let v = try optionalDouble(key, min: min, max: max, minExclusive: minExclusive, maxExclusive: maxExclusive) else {
            guard let fallback else { throw missing(key, "is required (a number)") }
            record(key, Node(Options.format(fallback), Tag(.float)))
            return fallback
        }
        return v
    }

    public func optionalDouble(_ key: String, min: Double? = nil, max: Double? = nil,
                               minExclusive: Bool = false, maxExclusive: Bool = false) throws -> Double? {
        guard let (node, line) = take(key) else { return nil }
        let p = Options.join(path, key)
        let what = Options.numberWord(min, max, minExclusive, maxExclusive)
        guard let v = Options.number(node) else {
            throw ConfigError(file: file, line: line, path: p, message: "must be \(what), got \(Options.describe(node))")
        }
        let below = min.map { minExclusive ? v <= $0 : v < $0 } ?? false
        let above = max.map { maxExclusive ? v >= $0 : v > $0 } ?? false
        if !v.isFinite || below || above {
            throw ConfigError(file: file, line: line, path: p, message: "must be \(what), got \(Options.format(v))")
        }
        record(key, Node(Options.format(v), Tag(.float)))
        return v
    }

    /// A number the engine keeps in float32: within the bounds after rounding to float32 too,
    /// so a value that float32 turns into inf or onto an excluded bound (learning_rate 1e-300
    /// becomes 0, rho 0.999999999 becomes 1) is an error at its key, not a silent change of the
    /// experiment. Rounding to a value the bounds allow (beta_1 1e-50 to 0) is no change that
    /// matters.
    public func float(_ key: String, default fallback: Double? = nil, min: Double? = nil, max: Double? = nil,
                      minExclusive: Bool = false, maxExclusive: Bool = false) throws -> Float {
        Float(try float32Double(key, default: fallback, min: min, max: max, minExclusive: minExclusive, maxExclusive: maxExclusive))
    }

    /// `float`'s check, returning the value as written: for a number used in float32 whose
    /// double is kept too (rescale, which other checks compare in double).
    public func float32Double(_ key: String, default fallback: Double? = nil, min: Double? = nil, max: Double? = nil,
                              minExclusive: Bool = false, maxExclusive: Bool = false) throws -> Double {
        let line = lineOf(key)
        let v = try double(key, default: fallback, min: min, max: max,
                           minExclusive: minExclusive, maxExclusive: maxExclusive)
        let f = Float(v), stored = Double(f)
        let below = min.map { minExclusive ? stored <= $0 : stored < $0 } ?? false
        let above = max.map { maxExclusive ? stored >= $0 : stored > $0 } ?? false
        guard !f.isFinite || below || above else { return v }
        let what = Options.numberWord(min, max, minExclusive, maxExclusive)
        throw ConfigError(file: file, line: line, path: Options.join(path, key),
                          message: "is \(Options.format(v)), which float32 stores as \(f); it must be \(what) in float32 (magnitudes from 1.4e-45 to 3.4e38)")
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let (node, line) = take(key) else {
            record(key, Node(fallback ? "true" : "false", Tag(.bool)))
            return fallback
        }
        guard node.tagName == .bool, let v = node.bool else {
            throw ConfigError(file: file, line: line, path: Options.join(path, key), message: "must be true or false, got \(Options.describe(node))")
        }
        record(key, Node(v ? "true" : "false", Tag(.bool)))
        return v
    }

    public func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let v = try optionalString(key) else {
            guard let fallback else { throw missing(key, "is required (a string)") }
            record(key, Node(fallback))
            return fallback
        }
        return v
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let (node, line) = take(key) else { return nil }
        guard case let .scalar(s) = node, node.tagName == .str else {
            throw ConfigError(file: file, line: line, path: Options.join(path, key), message: "must be a string, got \(Options.describe(node))")
        }
        record(key, Node(s.string))
        return s.string
    }

    /// One of a fixed set of words.
    public func choice(_ key: String, _ choices: [String], default fallback: String? = nil) throws -> String {
        guard let (node, line) = take(key) else {
            guard let fallback else { throw missing(key, "is required (one of \(choices.joined(separator: ", ")))") }
            record(key, Node(fallback))
            return fallback
        }
        guard case let .scalar(s) = node, choices.contains(s.string) else {
            throw ConfigError(file: file, line: line, path: Options.join(path, key),
                              message: "must be one of \(choices.joined(separator: ", ")), got \(Options.describe(node))")
        }
        record(key, Node(s.string))
        return s.string
    }

    /// An integer or a list of two integers, as Keras accepts for kernel_size, strides, pool_size.
    public func intPair(_ key: String, default fallback: (Int, Int)? = nil, min: Int = 1, max: Int? = nil) throws -> (Int, Int) {
        guard let (node, line) = take(key) else {
            guard let fallback else { throw missing(key, "is required (an integer or a list of two integers)") }
            record(key, Options.pairNode(fallback))
            return fallback
        }
        let p = Options.join(path, key)
        let pair: (Int, Int)
        if case let .sequence(seq) = node {
            guard seq.count == 2 else {
                throw ConfigError(file: file, line: line, path: p, message: "must be an integer or a list of two integers, got a list of \(seq.count)")
            }
            pair = (try integer(seq[0], line: seq[0].mark?.line ?? line, path: p + "[0]", min: min, max: max),
                    try integer(seq[1], line: seq[1].mark?.line ?? line, path: p + "[1]", min: min, max: max))
        } else {
            let v = try integer(node, line: line, path: p, min: min, max: max)
            pair = (v, v)
        }
        record(key, Options.pairNode(pair))
        return pair
    }

    /// A list of positive integers (an input shape, for example).
    public func intList(_ key: String, count: ClosedRange<Int>, min: Int = 1, max: Int? = nil) throws -> [Int] {
        guard let (node, line) = take(key) else { throw missing(key, "is required (a list of integers)") }
        let p = Options.join(path, key)
        guard case let .sequence(seq) = node, count.contains(seq.count) else {
            throw ConfigError(file: file, line: line, path: p,
                              message: "must be a list of \(count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "\(count.lowerBound) to \(count.upperBound)") integers, got \(Options.describe(node))")
        }
        let values = try seq.enumerated().map { i, n in
            try integer(n, line: n.mark?.line ?? line, path: "\(p)[\(i)]", min: min, max: max)
        }
        record(key, .sequence(Node.Sequence(values.map { Node(String($0), Tag(.int)) }, Tag(.seq), .flow)))
        return values
    }

    /// A nested mapping, or nil when absent.
    public func child(_ key: String) throws -> Options? {
        guard let (node, _) = take(key) else { return nil }
        return try Options(file: file, path: Options.join(path, key), node: node)
    }

    /// A list of mappings (model.layers, callbacks …), each with its index in the path.
    public func list(_ key: String) throws -> [Options]? {
        guard let (node, line) = take(key) else { return nil }
        let p = Options.join(path, key)
        guard case let .sequence(seq) = node else {
            throw ConfigError(file: file, line: line, path: p, message: "must be a list, got \(Options.describe(node))")
        }
        return try seq.enumerated().map { i, n in try Options(file: file, path: "\(p)[\(i)]", node: n) }
    }

    /// The raw node (for values with several accepted forms); recorded as given.
    public func raw(_ key: String) -> (node: Node, line: Int, path: String)? {
        guard let (node, line) = take(key) else { return nil }
        return (node, line, Options.join(path, key))
    }

    // MARK: - Helpers

    public static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public static func number(_ node: Node) -> Double? {
        guard case .scalar = node else { return nil }
        switch node.tagName {
        case .int: return node.int.map(Double.init)
        case .float: return node.float
        default: return nil
        }
    }

    static func isNull(_ node: Node) -> Bool { node.tagName == .null }

    public static func describe(_ node: Node) -> String {
        switch node {
        case let .scalar(s):
            let text = s.string.count > 40 ? String(s.string.prefix(40)) + "…" : s.string
            switch node.tagName {
            case .str: return "the string \"\(text)\""
            case .null: return "nothing (null)"
            case .bool: return "the boolean \(text)"
            case .int: return text
            // An explicit tag that made the value something else ("!!float 10", "!custom 2") is named.
            case .float: return Int(text) != nil ? "\(text) (tagged !!float)" : text
            default: return "\(text) (tagged \(node.tag))"
            }
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    public static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(format: "%.1f", v) }
        return "\(v)"
    }

    static func pairNode(_ p: (Int, Int)) -> Node {
        p.0 == p.1 ? Node(String(p.0), Tag(.int))
            : .sequence(Node.Sequence([Node(String(p.0), Tag(.int)), Node(String(p.1), Tag(.int))], Tag(.seq), .flow))
    }

    /// What an integer must be, by its lower bound; an upper bound is named only when
    /// exceeded ("must be at most 65536").
    static func integerWord(_ min: Int?, _ max: Int?) -> String {
        switch min {
        case 1?: return "a positive integer"
        case 0?: return "a non-negative integer"
        default: return "an integer\(rangeText(min, nil))"
        }
    }

    static func rangeText(_ min: Int?, _ max: Int?) -> String {
        switch (min, max) {
        case let (lo?, hi?): return " from \(lo) to \(hi)"
        case let (lo?, nil): return " ≥ \(lo)"
        case let (nil, hi?): return " ≤ \(hi)"
        default: return ""
        }
    }

    static func numberWord(_ min: Double?, _ max: Double?, _ minEx: Bool, _ maxEx: Bool) -> String {
        let lo = min.map { "\(minEx ? ">" : "≥") \(format($0))" }
        let hi = max.map { "\(maxEx ? "<" : "≤") \(format($0))" }
        let parts = [lo, hi].compactMap { $0 }
        return parts.isEmpty ? "a finite number" : "a number \(parts.joined(separator: " and "))"
    }

    /// Yams refuses a mapping with a repeated key before there is a tree to name its path,
    /// and says only where the key first appears. This finds the repeat (`repeatOf`),
    /// renames it in a copy of the text so the document composes, and takes the path of the
    /// renamed key from the tree: "model.layers[2].units appears twice (first on line 9)".
    static func duplicateKeyError(_ key: String, first: Mark, yaml: String, file: String) -> ConfigError {
        // Split on the scalar: "\r\n" is one Character, which splitting on "\n" would not see.
        let lines = yaml.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0) }
        let firstLine = first.line
        guard firstLine >= 1, firstLine <= lines.count else {
            return ConfigError(file: file, line: max(firstLine, 1), path: key, message: "appears twice in one mapping")
        }
        guard let second = repeatOf(key, first: first, in: lines) else {
            return ConfigError(file: file, line: firstLine, path: key, message: "appears twice in one mapping")
        }
        // Every repeat is renamed until the document composes (Yams reports a nested
        // mapping's before an earlier one of its parent); the first in the file is reported.
        var repeats = [(key: key, first: firstLine, second: second, marker: "fashionbench-repeated-key-0")]
        var renamed = rename(lines, at: second, to: repeats[0].marker)
        var tree: Node?
        for attempt in 1...16 {
            do {
                tree = try Yams.compose(yaml: String(String.UnicodeScalarView(renamed.joined(separator: ["\n"]))))
                break
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                guard let other = duplicates.sorted().first, let repeated = repeatOf(other, first: context.mark, in: renamed) else { break }
                repeats.append((other, context.mark.line, repeated, "fashionbench-repeated-key-\(attempt)"))
                renamed = rename(renamed, at: repeated, to: repeats[attempt].marker)
            } catch {
                break
            }
        }
        let earliest = tree == nil ? repeats[0] : repeats.min { $0.second.line < $1.second.line }!
        // The walk for the path is bounded like any document (aliases of aliases are refused).
        if let tree, (try? checkExpandedSize(tree, file: file)) != nil, let parent = path(of: earliest.marker, in: tree) {
            return ConfigError(file: file, line: earliest.second.line, path: join(parent, earliest.key), message: "appears twice (first on line \(earliest.first))")
        }
        return ConfigError(file: file, line: second.line, path: key, message: "appears twice in one mapping (first on line \(firstLine))")
    }

    /// `lines` with the key at `place` renamed.
    static func rename(_ lines: [[Unicode.Scalar]], at place: (line: Int, column: Int, length: Int), to name: String) -> [[Unicode.Scalar]] {
        var renamed = lines
        renamed[place.line - 1].replaceSubrange(place.column..<(place.column + place.length), with: Array(name.unicodeScalars))
        return renamed
    }

    /// Where `key`, which Yams found first at `first`, appears again in the same mapping: the
    /// next `key:` at the same column in block style, anywhere after it in flow style.
    static func repeatOf(_ key: String, first: Mark, in lines: [[Unicode.Scalar]]) -> (line: Int, column: Int, length: Int)? {
        let firstLine = first.line
        guard firstLine >= 1, firstLine <= lines.count else { return nil }
        let column = first.column - 1
        let firstText = lines[firstLine - 1]
        // A flow mapping's key follows "{" or "," (perhaps on an earlier line); a block
        // mapping's starts its line (after "- ").
        var previous: Unicode.Scalar?
        var l = firstLine - 1, c = min(column, firstText.count)
        while previous == nil, l >= 0 {
            previous = lines[l].prefix(c).last { $0 != " " && $0 != "\t" && $0 != "\r" }
            l -= 1
            if l >= 0 { c = lines[l].count }
        }
        let flow = previous == "{" || previous == ","
        let token = Array(key.unicodeScalars)

        /// Where `key` (plain or quoted) followed by ":" starts at `c` on `text`, its length.
        func keyLength(at c: Int, in text: [Unicode.Scalar]) -> Int? {
            for (open, close) in [("", ""), ("\"", "\""), ("'", "'")] {
                let candidate = Array(open.unicodeScalars) + token + Array(close.unicodeScalars)
                guard c + candidate.count <= text.count, Array(text[c..<(c + candidate.count)]) == candidate else { continue }
                if c > 0, !" \t{,-?".unicodeScalars.contains(text[c - 1]) { continue }
                var end = c + candidate.count
                while end < text.count, text[end] == " " || text[end] == "\t" { end += 1 }
                if end < text.count, text[end] == ":" { return candidate.count }
            }
            return nil
        }
        for l in (firstLine - 1)..<lines.count {
            let text = lines[l]
            let start = l == firstLine - 1 ? column + 1 : 0
            guard start < text.count else { continue }
            for c in start..<text.count where flow || c == column {
                if let length = keyLength(at: c, in: text) { return (l + 1, c, length) }
            }
        }
        return nil
    }

    /// The path of the mapping that holds the key `name` ("" for the document), or nil.
    static func path(of name: String, in node: Node, at path: String = "") -> String? {
        switch node {
        case let .mapping(mapping):
            for (k, v) in mapping {
                if k.string == name { return path }
                if let found = Options.path(of: name, in: v, at: join(path, k.string ?? "?")) { return found }
            }
        case let .sequence(sequence):
            for (i, v) in sequence.enumerated() {
                if let found = Options.path(of: name, in: v, at: "\(path)[\(i)]") { return found }
            }
        default:
            break
        }
        return nil
    }

    static func line(of error: YamlError) -> Int {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _):
            return mark.line
        case let .duplicatedKeysInMapping(_, context):
            return context.mark.line
        case let .reader(_, offset?, _, yaml):
            // libyaml's reader counts characters (a NUL, a control character): the line is
            // one more than the line breaks before it.
            return yaml.prefix(offset).reduce(1) { $1.isNewline ? $0 + 1 : $0 }
        default:
            return 1
        }
    }

    static func summary(of error: YamlError) -> String {
        switch error {
        case let .scanner(context, problem, _, _), let .parser(context, problem, _, _), let .composer(context, problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
        case let .duplicatedKeysInMapping(duplicates, _):
            return "duplicate key \(duplicates.joined(separator: ", "))"
        case let .reader(problem, _, value, _):
            return "\(problem) (character U+\(String(format: "%04X", value)))"
        default:
            return "\(error)".split(separator: "\n").first.map(String.init) ?? "syntax error"
        }
    }
}

extension Node {
    /// The resolved YAML tag (int, float, str, bool, null …) of this node.
    public var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }
}
