import FashionTensor

/// Loops shared by the GEMM-based layers: what happens right after and right before a GEMM.
enum Kernels {
    /// y[r, :] += bias, then the activation, in one pass over the GEMM's output.
    static func addBiasAndActivate(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int, activation: Activation) {
        Parallel.forEachChunk(rows, minimumChunk: max(1, 16_384 / max(width, 1))) { range in
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

    /// dy ← dy · f'(y) in place, then db = Σ_rows dy.
    static func activationBackwardAndBiasGradient(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>,
                                                  rows: Int, width: Int, activation: Activation, biasGradient db: UnsafeMutablePointer<Float>) {
        Parallel.forEachChunk(rows, minimumChunk: max(1, 16_384 / max(width, 1))) { range in
            activation.backward(output: y + range.lowerBound * width, gradient: dy + range.lowerBound * width,
                                count: range.count * width, width: width)
        }
        db.update(repeating: 0, count: width)
        for r in 0..<rows {
            let row = dy + r * width
            for j in 0..<width { db[j] += row[j] }
        }
    }
}
