import Foundation

/// Files being written under a temporary name before they are renamed into place. An
/// interruption (Ctrl-C, SIGTERM) removes them, so it leaves no half-written file behind,
/// not even under a hidden name.
public enum TemporaryFiles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []

    public static func register(_ path: String) {
        lock.withLock { _ = paths.insert(path) }
    }

    /// Once the file was renamed into place or deleted.
    public static func unregister(_ path: String) {
        lock.withLock { _ = paths.remove(path) }
    }

    /// For the signal handler: deletes every file still being written.
    public static func removeAll() {
        lock.withLock {
            for path in paths { unlink(path) }
            paths.removeAll()
        }
    }
}
