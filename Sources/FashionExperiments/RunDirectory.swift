import Foundation

/// `Results/<experiment>/<run-id>/`, claimed with an exclusive mkdir so two runs (even
/// started in the same second, in two processes) never share or reuse an id.
public enum RunDirectory {
    /// `completion`: track the directory for interruptions from the moment it exists
    /// (`Interruption.makeTrackedDirectory`), with this file as its mark of completion.
    public static func create(root: String, experiment: String, seed: UInt64, suffix: String = "", date: Date = Date(),
                              completion: String? = nil) throws -> (id: String, url: URL) {
        let parent = URL(fileURLWithPath: root).appendingPathComponent(experiment, isDirectory: true)
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stem = "\(formatter.string(from: date))-seed\(seed)" + (suffix.isEmpty ? "" : "-\(suffix)")
        for attempt in 1...10_000 {
            let id = attempt == 1 ? stem : "\(stem)-\(attempt)"
            let url = parent.appendingPathComponent(id, isDirectory: true)
            let failure = completion.map { Interruption.makeTrackedDirectory(url, completion: $0) } ?? (mkdir(url.path, 0o755) == 0 ? 0 : errno)
            if failure == 0 { return (id, url) }
            guard failure == EEXIST else {
                throw RunError.cannotCreate(url.path, String(cString: strerror(failure)))
            }
        }
        throw RunError.cannotCreate(parent.path, "no free run id")
    }
}

extension RunDirectory {
    /// Run ids (`YYYYMMDD-HHMMSS-seedS[-xN][-k]`), newest first: by time, then by the number
    /// `-k` added when the id was taken in the same second (`-10` after `-9`); names that are
    /// no run id last.
    public static func newestFirst(_ names: [String]) -> [String] {
        func key(_ name: String) -> (String, Int)? {
            let parts = name.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count >= 3, parts.count <= 5, parts[0].count == 8, parts[1].count == 6,
                  (parts[0] + parts[1]).allSatisfy({ $0.isASCII && $0.isNumber }), parts[2].hasPrefix("seed") else { return nil }
            var rest = parts.dropFirst(3)
            if let group = rest.first, group.hasPrefix("x") { rest = rest.dropFirst() }
            guard rest.count <= 1 else { return nil }
            guard let k = rest.first else { return ("\(parts[0])-\(parts[1])", 1) }
            return Int(k).map { ("\(parts[0])-\(parts[1])", $0) }
        }
        return names.sorted { a, b in
            switch (key(a), key(b)) {
            case let (x?, y?): return x != y ? x > y : a > b
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return a > b
            }
        }
    }

    /// Why `name` cannot name a directory of results (an experiment's or a sweep's), or nil.
    public static func nameProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.count <= 100, name.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }), !name.hasPrefix(".") else {
            return "must be 1–100 letters, digits, '_', '-' or '.', not starting with '.', got \"\(name.count > 60 ? String(name.prefix(60)) + "…" : name)\""
        }
        return nil
    }
}

public enum RunError: Error, CustomStringConvertible {
    case cannotCreate(String, String)
    /// A signal marked the run failed (failed.txt) before it could complete.
    case interrupted(String)
    public var description: String {
        switch self {
        case let .cannotCreate(path, why): return "cannot create run directory \(path): \(why)"
        case let .interrupted(path): return "\(path) was interrupted; failed.txt says so, and metrics.json is not written"
        }
    }
}

/// The commit the code was built from, for metrics.json; nil outside a git checkout.
enum GitInfo {
    static func commit() -> (hash: String?, dirty: Bool) {
        guard let hash = run(["rev-parse", "HEAD"]) else { return (nil, false) }
        let status = run(["status", "--porcelain", "--untracked-files=no"]) ?? ""
        return (hash, !status.isEmpty)
    }

    private static func run(_ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A file a command writes where the user says (`augment-preview --output`): it may replace
/// only an earlier file of its own kind outside any run's results, never a device, FIFO,
/// directory or a file of another format.
public enum OutputFile {
    /// Throws unless `path` is free or a regular file starting with `signature` whose
    /// directory holds no run (metrics.json, failed.txt or experiment.yaml).
    public static func checkReplaceable(_ path: String, signature: [UInt8], kind: String) throws {
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFREG else {
                throw HarnessError("\(path) exists and is not a regular file (a directory, device, FIFO or link); name a new \(kind) file")
            }
            let head = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: signature.count) } ?? Data()
            guard [UInt8](head) == signature else {
                throw HarnessError("\(path) exists and is not a \(kind) file; it is left as it is: name a new file")
            }
        } else if errno != ENOENT {
            throw HarnessError("\(path): \(String(cString: strerror(errno)))")
        }
        if let (directory, marker) = enclosingRun(of: path) {
            throw HarnessError("\(path) is in a run's directory (\(directory) holds \(marker)); a run's results are never replaced or added to: name a file elsewhere")
        }
    }

    /// The run directory (one holding metrics.json, failed.txt or experiment.yaml) that the
    /// path lies in, at any depth (a run's charts/ is inside the run), symbolic links resolved;
    /// with the file that marks it.
    static func enclosingRun(of path: String) -> (String, String)? {
        // The deepest directory of the path that exists, resolved by realpath.
        var directory = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
        while directory != "/", !FileManager.default.fileExists(atPath: directory) {
            directory = (directory as NSString).deletingLastPathComponent
        }
        guard let resolved = realpath(directory, nil) else { return nil }
        directory = String(cString: resolved)
        free(resolved)
        while true {
            if let marker = ["metrics.json", "failed.txt", "experiment.yaml"].first(where: {
                FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent($0))
            }) {
                return (directory, marker)
            }
            let parent = (directory as NSString).deletingLastPathComponent
            if parent == directory || parent.isEmpty { return nil }
            directory = parent
        }
    }
}
