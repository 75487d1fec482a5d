import Foundation
import Yams
import FashionConfig

/// The settings a run was made with, as `key.path → value`, for telling runs of one experiment
/// apart (`report`) and trials of one sweep version apart (`sweep --collect`). Read through
/// today's parser, so a key added since an old run (with its default) does not make it look
/// different, and an alias bomb is refused as in any experiment file.
public enum RunSettings {
    /// Keys that do not change what a run computes, or that differ by design between the runs
    /// of one experiment: where results go, the machine's threads, notes, and the seed.
    static let ignoredKeys: Set<String> = ["name", "description", "seed", "repeats", "training.threads", "training.parallelism"]
    static let ignoredPrefixes = ["output.", "reference."]

    /// A run directory's settings, from its experiment.yaml; throws saying why they cannot be read.
    static func of(runDirectory: URL) throws -> [String: String] {
        let url = runDirectory.appendingPathComponent("experiment.yaml")
        if let why = FileKind.notRegular(url.path) { throw HarnessError("\(url.path) \(why)") }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw HarnessError("\(url.path) cannot be read as UTF-8 text") }
        let experiment: Experiment
        do { experiment = try Experiment.parse(yaml: text, file: url.path) } catch {
            throw HarnessError("\(url.path) is not a readable experiment (\(error))")
        }
        return of(experiment, keepingSeed: false)
    }

    /// An experiment's settings (its resolved YAML, flattened), without the ignored keys; with
    /// `keepingSeed`, the seed stays (a sweep's trials share it, and a changed seed is a change).
    public static func of(_ e: Experiment, keepingSeed: Bool) -> [String: String] {
        guard let node = (try? Yams.compose(yaml: e.resolvedYAML)) ?? nil else { return [:] }
        var flat: [String: String] = [:]
        func walk(_ node: Node, _ path: String) {
            switch node {
            case .mapping(let m):
                for (k, v) in m { walk(v, path.isEmpty ? (k.string ?? "?") : "\(path).\(k.string ?? "?")") }
            case .sequence(let s):
                if s.isEmpty { flat[path] = "[]" }
                for (i, v) in s.enumerated() { walk(v, "\(path)[\(i)]") }
            default:
                flat[path] = node.string ?? ""
            }
        }
        walk(node, "")
        return flat.filter { key, _ in
            (keepingSeed && key == "seed") || (!ignoredKeys.contains(key) && !ignoredPrefixes.contains { key.hasPrefix($0) })
        }
    }

    /// A short fingerprint of settings (FNV-1a over the sorted `key=value` lines), the same on
    /// every machine and run.
    public static func fingerprint(_ settings: [String: String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for line in settings.sorted(by: { $0.key < $1.key }).map({ "\($0.key)=\($0.value)\n" }) {
            for byte in line.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        return String(format: "%016llx", hash)
    }
}
