import Foundation
import FashionTensor

/// Element-wise activations, applied in place to a layer's output (fused into the loop after
/// its GEMM) and differentiated from that saved output.
public enum Activation: String, CaseIterable, Sendable {
    case linear, relu, sigmoid, softmax, tanh, elu

    public static let names = allCases.map(\.rawValue)

    /// Applies to `count` values laid out as rows of `width` (softmax works per row).
    public func apply(_ y: UnsafeMutablePointer<Float>, count: Int, width: Int) {
        switch self {
        case .linear: return
        case .relu: for i in 0..<count { let v = y[i]; y[i] = v > 0 ? v : 0 }  // both values loaded first: a select, not a branch
        case .sigmoid: for i in 0..<count { y[i] = logistic(y[i]) }
        case .tanh: for i in 0..<count { y[i] = Foundation.tanh(y[i]) }
        case .elu: for i in 0..<count where y[i] < 0 { y[i] = expm1(y[i]) }
        case .softmax:
            for row in stride(from: 0, to: count, by: width) { softmaxRow(y + row, width) }
        }
    }

    /// dy ← dy · f'(x), given the activation's output y = f(x).
    public func backward(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, count: Int, width: Int) {
        switch self {
        case .linear: return
        case .relu: for i in 0..<count { let g = dy[i], v = y[i]; dy[i] = v > 0 ? g : 0 }
        case .sigmoid: for i in 0..<count { dy[i] *= y[i] * (1 - y[i]) }
        case .tanh: for i in 0..<count { dy[i] *= 1 - y[i] * y[i] }
        case .elu: for i in 0..<count where y[i] < 0 { dy[i] *= y[i] + 1 }
        case .softmax:
            // dx = y ⊙ (dy − Σ dy·y) per row.
            for row in stride(from: 0, to: count, by: width) {
                var dot: Float = 0
                for j in 0..<width { dot += dy[row + j] * y[row + j] }
                for j in 0..<width { dy[row + j] = y[row + j] * (dy[row + j] - dot) }
            }
        }
    }
}

@inline(__always) func logistic(_ x: Float) -> Float {
    x >= 0 ? 1 / (1 + exp(-x)) : { let e = exp(x); return e / (1 + e) }()
}

@inline(__always) func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    var m = -Float.infinity
    for j in 0..<n { m = max(m, p[j]) }
    var s: Float = 0
    for j in 0..<n { let e = exp(p[j] - m); p[j] = e; s += e }
    let inv = 1 / s
    for j in 0..<n { p[j] *= inv }
}
