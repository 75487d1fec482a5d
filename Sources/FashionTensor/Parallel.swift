import Dispatch
import Foundation

/// Splits `0..<count` into at most `workers` contiguous chunks and runs them concurrently.
/// Only called between BLAS calls, never during one, so our threads and OpenBLAS's do not
/// compete for the same cores. The split depends only on `count` and `workers`, so results
/// are the same for the same thread count.
public enum Parallel {
    /// The most chunks any loop is split into (sizes per-chunk scratch buffers).
    public static let maxChunks = 16
    nonisolated(unsafe) private static var defaultWorkers: Int = 1
    /// Per-thread override: a data-parallel replica runs its loops on its own thread only.
    private static let serialKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Threads a loop may use: the process setting, or 1 on a thread inside `serially`.
    public static var workers: Int {
        get { pthread_getspecific(serialKey) == nil ? defaultWorkers : 1 }
        set { defaultWorkers = max(1, newValue) }
    }

    /// Runs `body` with every loop on this thread kept on this thread.
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }

    @inline(__always)
    public static func chunks(_ count: Int, minimumChunk: Int = 1) -> Int {
        min(workers, maxChunks, max(1, count / max(1, minimumChunk)))
    }

    @inline(__always)
    public static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        forEachChunkIndexed(count, minimumChunk: minimumChunk) { _, range in body(range) }
    }

    /// As `forEachChunk`, also passing the chunk's index (for per-chunk partial sums).
    @inline(__always)
    public static func forEachChunkIndexed(_ count: Int, minimumChunk: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        let n = chunks(count, minimumChunk: minimumChunk)
        if n <= 1 { body(0, 0..<count); return }
        DispatchQueue.concurrentPerform(iterations: n) { c in
            let lo = count * c / n, hi = count * (c + 1) / n
            if lo < hi { body(c, lo..<hi) }
        }
    }
}
