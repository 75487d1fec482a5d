import Foundation
import FashionConfig
import FashionReports

/// Ctrl-C or a scheduler's SIGTERM in the middle of training: every run directory being
/// written gets `failed.txt` saying so before the process ends, so an interrupted run explains
/// itself (it never has metrics.json, the mark of a complete run, either way).
public enum Interruption {
    private static let lock = NSLock()
    /// Each directory being written, with the file whose presence marks it complete
    /// (metrics.json for a run, result.json for a comparison).
    nonisolated(unsafe) private static var active: [(directory: URL, completion: String)] = []
    /// Runs that got failed.txt: they must never get metrics.json as well.
    nonisolated(unsafe) private static var marked: [URL] = []
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// Called by the runner around the training of one run directory.
    /// `completion`: the file that marks the directory complete (result.json for a comparison).
    public static func begin(_ directory: URL, completion: String = "metrics.json") {
        lock.lock(); defer { lock.unlock() }
        guard !active.contains(where: { $0.directory == directory }) else { return }
        active.append((directory, completion))
    }

    /// Makes `directory` (mkdir with `mode`, less the umask) and begins tracking it in one step
    /// under the lock the signal handler takes, so a signal never finds it made but untracked
    /// (an empty directory without failed.txt). Returns 0, or mkdir's errno.
    public static func makeTrackedDirectory(_ directory: URL, completion: String = "metrics.json", mode: mode_t = 0o755) -> Int32 {
        lock.lock(); defer { lock.unlock() }
        guard mkdir(directory.path, mode) == 0 else { return errno }
        active.append((directory, completion))
        return 0
    }

    public static func end(_ directory: URL) {
        lock.lock(); defer { lock.unlock() }
        active.removeAll { $0.directory == directory }
        marked.removeAll { $0 == directory }
    }

    /// Writes a run's mark of completion (`write`: metrics.json) and ends its tracking in one
    /// step under the lock the signal handler takes, so an interruption finds the run either
    /// unfinished (failed.txt, and metrics.json never follows) or complete (left alone).
    public static func complete(_ directory: URL, _ write: () throws -> Void) throws {
        lock.lock(); defer { lock.unlock() }
        guard !marked.contains(directory) else { throw RunError.interrupted(directory.path) }
        try write()
        active.removeAll { $0.directory == directory }
    }

    /// The run directories being trained now.
    public static var activeDirectories: [URL] {
        lock.lock(); defer { lock.unlock() }
        return active.map(\.directory)
    }

    /// Writes `failed.txt` into every active run directory that has no metrics.json yet (one
    /// that just finished is complete); the directories it wrote to.
    @discardableResult
    public static func markActiveRuns(reason: String) -> [URL] {
        lock.lock(); defer { lock.unlock() }
        return markUnfinished(reason: reason)
    }

    /// markActiveRuns with the lock held.
    private static func markUnfinished(reason: String) -> [URL] {
        let unfinished = active.filter { !FileManager.default.fileExists(atPath: $0.directory.appendingPathComponent($0.completion).path) }
        for (dir, completion) in unfinished {
            let what = ["metrics.json": "run", "summary.json": "group"][completion] ?? "comparison"
            try? ResultFiles.write("interrupted: \(reason); the \(what) did not finish (no \(completion))\n",
                                   to: dir.appendingPathComponent("failed.txt"))
        }
        let directories = unfinished.map(\.directory)
        active.removeAll { directories.contains($0.directory) }
        marked += directories
        return directories
    }

    /// For the command line: on SIGINT, SIGTERM or SIGHUP (the terminal closed), and the other
    /// signals whose default is to end the process (SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU), mark
    /// the active runs, then exit with 128 + the signal's number, as a shell reports a process
    /// killed by it. Those ignored already (SIGHUP under `nohup`) stay ignored, SIGINT and
    /// SIGTERM aside. SIGPIPE is ignored: a closed standard output (`| head`) is a failed write,
    /// reported, not a silent end that leaves the run unmarked.
    public static func installSignalHandlers() {
        lock.lock(); defer { lock.unlock() }
        guard sources.isEmpty else { return }
        signal(SIGPIPE, SIG_IGN)
        let signals = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP"), (SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2"),
                       (SIGALRM, "SIGALRM"), (SIGXCPU, "SIGXCPU")]
        for (number, name) in signals {
            let previous = signal(number, SIG_IGN)
            // SIG_IGN is the handler address 1 (SIG_DFL, 0, imports as nil).
            if number != SIGINT, number != SIGTERM, let previous, unsafeBitCast(previous, to: Int.self) == 1 { continue }
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                // Both locks are kept until the process ends: no run completes (metrics.json)
                // and no temporary file starts after this point.
                lock.lock()
                let marked = markUnfinished(reason: "received \(name)")
                TemporaryFiles.removeAllAndHold()
                // write(2), whose failure (stderr a closed pipe, its reader gone first) is ignored;
                // FileHandle.write would trap on it.
                func say(_ text: String) { _ = text.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) } }
                for dir in marked { say("Interrupted (\(name)): \(dir.path) is incomplete; failed.txt says so\n") }
                if marked.isEmpty { say("Interrupted (\(name)); no run was being trained\n") }
                // No fflush(stdout): a reader that stopped reading (a pager, Ctrl-S) would
                // block it, and the process would never end.
                // _exit, not exit: atexit handlers (OpenBLAS' thread shutdown) could wait on
                // the GEMM the main thread is in.
                _exit(128 + number)
            }
            source.resume()
            sources.append(source)
        }
    }
}
