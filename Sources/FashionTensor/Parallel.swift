import Dispatch

/// Splits `0..<count` into at most `workers` contiguous chunks and runs them concurrently.
/// Only called between BLAS calls, never during one, so our threads and OpenBLAS's do not
/// compete for the same cores.
public enum Parallel {
    nonisolated(unsafe) public static var workers: Int = 1

    @inline(__always)
    public static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(workers, max(1, count / max(1, minimumChunk)))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}
