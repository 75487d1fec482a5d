import CKernels
import FashionTensor

/// Loops shared by the GEMM-based layers: what happens right after and right before a GEMM.
enum Kernels {
    /// The direct convolution kernels keep one offset per patch value on the stack of the
    /// calling (possibly Dispatch worker) thread: larger patches take the GEMM path.
    static let directMaxPatch = 4096

    static func rowsPerChunk(_ width: Int) -> Int { max(1, 16_384 / max(width, 1)) }

    /// y[r, :] += bias, then the activation, in one pass over the GEMM's output.
    static func addBiasAndActivate(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int, activation: Activation) {
        Parallel.forEachChunk(rows, minimumChunk: rowsPerChunk(width)) { range in
            for r in range {
                let row = y + r * width
                switch activation {
                case .relu:
                    for j in 0..<width { let v = row[j] + bias[j]; row[j] = v > 0 ? v : 0 }
                default:
                    for j in 0..<width { row[j] += bias[j] }
                    activation.apply(row, count: width, width: width)
                }
            }
        }
    }

    /// dy ← dy · f'(y) in place, and db = Σ_rows dy, in one pass: each chunk sums its rows
    /// into its own slice of `scratch` (Parallel.maxChunks × width), then the slices are added
    /// in chunk order.
    static func activationBackwardAndBiasGradient(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>,
                                                  rows: Int, width: Int, activation: Activation,
                                                  biasGradient db: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        sumOverChunks(rows, minimumChunk: rowsPerChunk(width), size: width, partials: scratch, into: db) { range, partial in
            // In C, vectorised: the same loops in Swift stay scalar (their pointers might alias).
            if activation == .relu {
                fb_relu_backward_bias(y + range.lowerBound * width, dy + range.lowerBound * width, range.count, width, partial)
                return
            }
            if activation == .linear {
                fb_add_rows(dy + range.lowerBound * width, range.count, width, partial)
                return
            }
            for r in range {
                let g = dy + r * width, out = y + r * width
                activation.backward(output: out, gradient: g, count: width, width: width)
                for j in 0..<width { partial[j] += g[j] }
            }
        }
    }

    /// Σ over `count` items (rows, samples) of per-item sums of `size` values: `body` adds its
    /// range of items into a zeroed slice of `partials` (Parallel.maxChunks × size), one slice
    /// per chunk; the slices are then added in chunk order into `out` (the same split for the
    /// same thread count, so the same result).
    static func sumOverChunks(_ count: Int, minimumChunk: Int = 1, size: Int, partials: UnsafeMutablePointer<Float>,
                              into out: UnsafeMutablePointer<Float>, _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        sumOverChunksIndexed(count, minimumChunk: minimumChunk, size: size, partials: partials, into: out) { _, range, slice in
            body(range, slice)
        }
    }

    /// As `sumOverChunks`, also passing the chunk's index (for a per-chunk workspace).
    static func sumOverChunksIndexed(_ count: Int, minimumChunk: Int = 1, size: Int, partials: UnsafeMutablePointer<Float>,
                                     into out: UnsafeMutablePointer<Float>,
                                     _ body: (Int, Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let chunks = Parallel.chunks(count, minimumChunk: minimumChunk)
        Parallel.forEachChunkIndexed(count, minimumChunk: minimumChunk) { c, range in
            let slice = partials + c * size
            slice.update(repeating: 0, count: size)
            body(c, range, slice)
        }
        out.update(from: partials, count: size)
        for c in 1..<max(chunks, 1) {
            let slice = partials + c * size
            for i in 0..<size { out[i] += slice[i] }
        }
    }

    /// out[c, r] = a[r, c] for a row-major rows × columns matrix.
    static func transpose(_ a: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = a[r * columns + c] } }
    }

    /// out[a, b, j, i] = w[kH − 1 − a, kW − 1 − b, i, j] for a kernel laid out [kH, kW, rows,
    /// columns]: flipped in space, its two channel axes swapped. A Conv2D's input gradient and a
    /// stride-1 transposed convolution are convolutions with this kernel; applied twice it gives
    /// the kernel back (how a transposed convolution unflips its kernel gradient).
    static func flipAndSwapChannels(_ w: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                    kH: Int, kW: Int, rows: Int, columns: Int) {
        for a in 0..<kH { for b in 0..<kW { for i in 0..<rows { for j in 0..<columns {
            out[((a * kW + b) * columns + j) * rows + i] = w[(((kH - 1 - a) * kW + (kW - 1 - b)) * rows + i) * columns + j]
        } } } }
    }

    /// Copies `batch` images (height × width × channels) into the interior of zero-bordered
    /// ones (paddedHeight × paddedWidth × channels) at row `top`, column `left`, leaving the
    /// border as it is (zero). Rows and columns past the padded size, which no window reads
    /// (a stride that skips the input's last pixels), are left out.
    static func copyIntoBorder(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>, batch: Int,
                               height: Int, width: Int, channels c: Int, paddedHeight: Int, paddedWidth: Int,
                               top: Int, left: Int) {
        let rows = min(height, paddedHeight - top), values = min(width, paddedWidth - left) * c
        Parallel.forEachChunk(batch) { samples in
            for n in samples {
                for r in 0..<rows {
                    (padded + ((n * paddedHeight + top + r) * paddedWidth + left) * c)
                        .update(from: x + (n * height + r) * width * c, count: values)
                }
            }
        }
    }

    /// out = a·w + bias, then the activation, for a small inner dimension k (a first
    /// convolution's 2x2x1 patches): one pass over the output instead of a GEMM that would
    /// be bound by writing it, plus a second pass for bias and activation.
    static func smallGemmBiasActivate(_ a: UnsafePointer<Float>, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                      into out: UnsafeMutablePointer<Float>, rows: Int, k: Int, n: Int, activation: Activation) {
        Parallel.forEachChunk(rows, minimumChunk: rowsPerChunk(n)) { range in
            for r in range {
                let row = out + r * n, x = a + r * k
                for j in 0..<n { row[j] = bias[j] }
                for kk in 0..<k {
                    let v = x[kk], wr = w + kk * n
                    for j in 0..<n { row[j] += v * wr[j] }
                }
                if activation == .relu {
                    for j in 0..<n { let v = row[j]; row[j] = v > 0 ? v : 0 }
                } else {
                    activation.apply(row, count: n, width: n)
                }
            }
        }
    }

    /// The backward of `smallGemmBiasActivate` for the weights: dy ← dy·f'(y), dw = aᵀ·dy,
    /// db = Σ dy, in one pass with per-chunk partial sums (scratch: maxChunks × (k·n + n)).
    static func smallGemmBackward(_ a: UnsafePointer<Float>, output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>,
                                  rows: Int, k: Int, n: Int, activation: Activation,
                                  weightGradient dw: UnsafeMutablePointer<Float>, biasGradient db: UnsafeMutablePointer<Float>,
                                  scratch: UnsafeMutablePointer<Float>) {
        let minimum = rowsPerChunk(n)
        let chunks = Parallel.chunks(rows, minimumChunk: minimum)
        let slice = k * n + n
        Parallel.forEachChunkIndexed(rows, minimumChunk: minimum) { c, range in
            let pw = scratch + c * slice, pb = pw + k * n
            pw.update(repeating: 0, count: slice)
            for r in range {
                let g = dy + r * n, out = y + r * n, x = a + r * k
                if activation == .relu {
                    for j in 0..<n { let v = g[j], o = out[j]; g[j] = o > 0 ? v : 0 }
                } else {
                    activation.backward(output: out, gradient: g, count: n, width: n)
                }
                for j in 0..<n { pb[j] += g[j] }
                for kk in 0..<k {
                    let v = x[kk], wr = pw + kk * n
                    for j in 0..<n { wr[j] += v * g[j] }
                }
            }
        }
        dw.update(from: scratch, count: k * n)
        db.update(from: scratch + k * n, count: n)
        for c in 1..<max(chunks, 1) {
            let pw = scratch + c * slice
            for i in 0..<(k * n) { dw[i] += pw[i] }
            for j in 0..<n { db[j] += pw[k * n + j] }
        }
    }
}
