import CBLAS
import Dispatch

/// The few BLAS calls the engine uses, row-major, float32.
public enum BLAS {
    /// C = alpha * op(A) * op(B) + beta * C, with op(A) M×K and op(B) K×N, all row-major.
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        if let recorder = gemmRecorder {
            recorder(GemmCall(transA: transA, transB: transB, m: m, n: n, k: k, accumulates: beta != 0))
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda ?? (transA ? m : k)),
            b, Int32(ldb ?? (transB ? k : n)),
            beta, c, Int32(ldc ?? n))
    }

    /// One GEMM's shape, as `gemm` was called.
    public struct GemmCall: Equatable, Sendable {
        public var transA: Bool, transB: Bool, m: Int, n: Int, k: Int, accumulates: Bool
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        public init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, accumulates: Bool) {
            (self.transA, self.transB, self.m, self.n, self.k, self.accumulates) = (transA, transB, m, n, k, accumulates)
        }
    }

    /// Sees every `gemm` call while set (the profiler learns each layer's shapes); nil in training.
    nonisolated(unsafe) public static var gemmRecorder: ((GemmCall) -> Void)?

    /// Seconds `call` takes on its own, on zero-filled scratch of the right size: the time this
    /// BLAS needs for the shape, with nothing around it (the median of `repeats` runs after one
    /// warm-up). Scratch is at least as large as the call's A, B and C.
    public static func time(_ call: GemmCall, scratch a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                            _ c: UnsafeMutablePointer<Float>, repeats: Int = 3) -> Double {
        func once() -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            gemm(transA: call.transA, transB: call.transB, m: call.m, n: call.n, k: call.k, a: a, b: b,
                 beta: call.accumulates ? 1 : 0, c: c)
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        _ = once()
        let runs = (0..<max(1, repeats)).map { _ in once() }.sorted()
        return runs[runs.count / 2]
    }

    /// OpenBLAS's worker-thread count. The engine sets it once, before training, and runs no
    /// threads of its own while a GEMM is in flight.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    public static var processors: Int { Int(openblas_get_num_procs()) }
}
