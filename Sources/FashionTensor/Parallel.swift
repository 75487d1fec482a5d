import Dispatch

/// Splits `0..<count` into at most `workers` contiguous chunks and runs them concurrently.
/// Only called between BLAS calls, never during one, so our threads and OpenBLAS's do not
/// compete for the same cores. The split depends only on `count` and `workers`, so results
/// are the same for the same thread count.
public enum Parallel {
    /// The most chunks any loop is split into (sizes per-chunk scratch buffers).
    public static let maxChunks = 16
    nonisolated(unsafe) public static var workers: Int = 1

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
