import Foundation

/// Files being written under a temporary name before they are renamed into place. An
/// interruption (Ctrl-C, SIGTERM) removes them and lets no new one start, so it leaves no
/// half-written file behind, not even under a hidden name.
public enum TemporaryFiles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []

    /// Runs `create` (which makes the file at `path`) under the lock and records the path. The
    /// signal handler takes the lock for good, so a file is either recorded before it (and
    /// removed) or never created.
    public static func create<T>(_ path: String, _ create: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        let result = try create()
        paths.insert(path)
        return result
    }

    /// Once the file was renamed into place or deleted.
    public static func unregister(_ path: String) {
        lock.withLock { _ = paths.remove(path) }
    }

    /// For the signal handler, just before the process ends: deletes every file (or scratch
    /// directory) still being written and keeps the lock, so the threads still running start
    /// no other.
    public static func removeAllAndHold() {
        lock.lock()
        for path in paths where unlink(path) != 0 { try? FileManager.default.removeItem(atPath: path) }
        paths.removeAll()
    }

    /// A fresh hidden name beside `url` for the file that will replace it: `.<name>.tmp-<pid>-<random>`.
    public static func path(beside url: URL) -> String {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UUID().uuidString.prefix(8))").path
    }

    /// Deletes the temporary files beside `url` (`path(beside:)`) of processes that no longer
    /// run: a process killed outright (SIGKILL, the out-of-memory killer) could not remove its
    /// own, which for a cache of decoded images is a large file.
    public static func removeLeftovers(beside url: URL) {
        let directory = url.deletingLastPathComponent().path
        let prefix = ".\(url.lastPathComponent).tmp-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink((directory as NSString).appendingPathComponent(name)) }
        }
    }

    /// `data` written to a temporary file beside `url`, then renamed over it: a reader, a
    /// crash or an interruption never sees half a file under the final name.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = path(beside: url)
        func failure(_ code: Int32, _ path: String) -> CocoaError {
            CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(code))])
        }
        let fd = create(temporary) { open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        defer { unregister(temporary) }
        guard fd >= 0 else { throw failure(errno, url.path) }
        var problem: Int32 = 0
        data.withUnsafeBytes { bytes in
            var written = 0
            while written < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { problem = errno; return }
                written += n
            }
        }
        // On disk before it takes the name: after a power loss the name holds the old file or
        // the whole new one, never an empty one.
        if problem == 0 && fsync(fd) != 0 { problem = errno }
        if close(fd) != 0 && problem == 0 { problem = errno }
        if problem == 0 && rename(temporary, url.path) != 0 { problem = errno }
        if problem != 0 {
            unlink(temporary)
            throw failure(problem, url.path)
        }
    }
}
